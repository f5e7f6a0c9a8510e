/*
 * scans.c - /api/v1/scans: create (queue) a scan, read one (or download its
 * report), list them.
 *
 * A created scan is stored at once as PENDING and queued (pool.c); the
 * caller gets 202 with its uuid, or with ?wait=true the finished report
 * (the connection is parked meanwhile, see http.c). A scan that is not
 * finished reads as a small document with eval_outcome "PENDING"; a
 * finished one as its stored report, byte for byte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/stamp.h"
#include "api.h"

/* ---- create ---- */

typedef struct scan_req {
    const char *model_uri, *license;
    char *labels; /* compact JSON object text or NULL (malloc'd) */
    int wait;
    unsigned wait_s;
} scan_req;

/* NULL when labels is an object of bounded string values, else why not. */
static const char *labels_bad(json_t *labels)
{
    if (!json_is_object(labels))
        return "labels must be an object of strings";
    if (json_object_size(labels) > SRV_MAX_LABELS)
        return "at most 64 labels";
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        if (!*k || strlen(k) > SRV_MAX_LABEL_KEY || !json_is_string(v) || json_string_length(v) > SRV_MAX_LABEL_VALUE)
            return "labels must map names of 1-128 bytes to strings of at most 1024 bytes";
    }
    return NULL;
}

static const char *body_bad(json_t *doc)
{
    json_t *uri = json_object_get(doc, "model_uri"), *lic = json_object_get(doc, "license");
    json_t *labels = json_object_get(doc, "labels");
    return !json_is_object(doc)                                    ? "the body must be a JSON object"
           : !json_is_string(uri) || !*json_string_value(uri)      ? "model_uri must be a non-empty string"
           : lic && !json_is_string(lic) && !json_is_null(lic)     ? "license must be a string"
           : labels && !json_is_null(labels) && labels_bad(labels) ? labels_bad(labels)
           : json_object_get(doc, "policy")                        ? "a per-scan policy is not supported yet"
                                                                   : NULL;
}

/* ?wait=true|1 and ?timeout=SECONDS; -1 after answering 400. */
static int parse_wait(const srv_request *req, scan_req *sr, srv_response *resp)
{
    const char *w = req->arg(req, "wait"), *t = req->arg(req, "timeout");
    sr->wait = w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0);
    sr->wait_s = SRV_WAIT_DEFAULT_S;
    if (w && !sr->wait && strcmp(w, "false") != 0 && strcmp(w, "0") != 0) {
        fail(resp, 400, "wait must be true or false");
        return -1;
    }
    if (t) {
        char *end;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (errno || end == t || *end || v < 1 || v > SRV_WAIT_MAX_S) {
            fail(resp, 400, "timeout must be an integer number of seconds from 1 to 600");
            return -1;
        }
        sr->wait_s = (unsigned)v;
    }
    return 0;
}

/* Parses the POST body; answers 400 (and returns NULL) when it is wrong. */
static json_t *parse_scan_body(const srv_request *req, scan_req *sr, srv_response *resp)
{
    json_t *doc = parse_json_body(req, resp);
    if (!doc)
        return NULL;
    const char *bad = body_bad(doc);
    if (bad || parse_wait(req, sr, resp) != 0) {
        if (bad)
            fail(resp, 400, bad);
        json_decref(doc);
        return NULL;
    }
    json_t *labels = json_object_get(doc, "labels");
    sr->model_uri = json_string_value(json_object_get(doc, "model_uri"));
    sr->license = json_string_value(json_object_get(doc, "license"));
    sr->labels = json_is_object(labels) ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    return doc;
}

/* Stores the scan as PENDING and queues it; answers 429/503/500 itself. */
static srv_job *accept_scan(const srv_ctx *ctx, const scan_req *sr, const char *path, srv_response *resp)
{
    char uuid[37], created[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    srv_job *job = job_new(uuid, created, sr->model_uri, sr->license, sr->labels, path);
    int rc = job ? pool_reserve(ctx->pool) : 0;
    if (!job || rc != 0) {
        if (!job)
            fail(resp, 500, "out of memory");
        else if (rc == -1)
            fail(resp, 429, "the scan queue is full; retry later");
        else
            fail(resp, 503, "the service is stopping");
        resp->retry_after = rc == -1 ? pool_retry_after(ctx->pool) : 0;
        job_unref(job);
        return NULL;
    }
    if (pool_add(ctx->pool, job) != STORE_OK) {
        fail(resp, 500, "could not store the scan");
        job_unref(job);
        return NULL;
    }
    return job;
}

void scans_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    scan_req sr = {0};
    json_t *body = parse_scan_body(req, &sr, resp);
    if (!body)
        return;
    char *path = NULL;
    const char *why = NULL;
    unsigned st = uri_check(ctx, sr.model_uri, &path, &why);
    srv_job *job = st ? NULL : accept_scan(ctx, &sr, path, resp);
    if (st)
        fail(resp, st, why);
    else if (job && sr.wait) {
        resp->job = job; /* the reference goes to the HTTP layer, then api_answer_job */
        resp->wait_s = sr.wait_s;
        job = NULL;
    } else if (job) {
        respond(resp, 202, json_pack("{s:s, s:s}", "uuid", job->uuid, "status", "PENDING"));
    }
    job_unref(job);
    free(path);
    free(sr.labels);
    json_decref(body);
}

void api_answer_job(const srv_ctx *ctx, srv_job *job, srv_response *resp)
{
    memset(resp, 0, sizeof *resp);
    if (!pool_job_done(ctx->pool, job)) {
        respond(resp, 202, json_pack("{s:s, s:s}", "uuid", job->uuid, "status", "PENDING"));
    } else if (job->src_rc == SRC_EINVAL) {
        /* the source refused the URI itself: the caller's mistake, answered
         * as one (the scan is stored as ERROR all the same) */
        respond(resp, 400, json_pack("{s:s, s:s}", "error", job->err, "uuid", job->uuid));
    } else if (job->report) {
        resp->status = 200;
        resp->body = strdup(job->report);
        if (!resp->body)
            fail(resp, 500, "out of memory");
    } else {
        respond(resp, 500,
                json_pack("{s:s, s:s}", "error",
                          "the scan ran but could not be stored; it runs again "
                          "after a restart",
                          "uuid", job->uuid));
    }
    job_unref(job);
}

/* ---- read ---- */

static json_t *labels_json(const char *text)
{
    return text ? json_loads(text, 0, NULL) : NULL;
}

/* The document of a scan that is not finished. */
static json_t *pending_doc(const store_scan *row)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "uuid", row->uuid, "model_uri", row->model_uri,
                            "eval_outcome", "PENDING", "state", row->state == SCAN_RUNNING ? "RUNNING" : "QUEUED",
                            "created_at", row->created_at, "license", row->license);
    json_t *labels = labels_json(row->labels);
    if (doc && labels)
        json_object_set_new(doc, "labels", labels);
    else
        json_decref(labels);
    return doc;
}

static int get_row(void *arg, const store_scan *row)
{
    srv_response *resp = arg;
    if (row->state == SCAN_DONE) {
        resp->status = 200;
        resp->body = strdup(row->report);
    } else {
        respond(resp, 200, pending_doc(row));
    }
    return resp->body ? 0 : MG_ENOMEM;
}

void scans_get(const srv_ctx *ctx, const srv_request *req, const char *uuid, srv_response *resp)
{
    int rc = is_uuid(uuid) ? store_scan_get(ctx->store, uuid, get_row, resp) : STORE_ENOTFOUND;
    if (rc == STORE_ENOTFOUND)
        fail(resp, 404, "no such scan");
    else if (rc != STORE_OK)
        fail(resp, 500, "store unavailable");
}

/* ---- the report as a download ---- */

static int report_row(void *arg, const store_scan *row)
{
    srv_response *resp = arg;
    if (row->state != SCAN_DONE) {
        fail(resp, 409, "the scan is not finished: it has no report yet");
        return 0;
    }
    resp->status = 200;
    resp->body = strdup(row->report);
    /* the stored uuid: 36 characters of [0-9a-f-], safe inside the quotes */
    snprintf(resp->disposition, sizeof resp->disposition, "attachment; filename=\"modelgate-%s.json\"", row->uuid);
    return resp->body ? 0 : MG_ENOMEM;
}

/* GET /api/v1/scans/{uuid}/report.json: the stored report, byte for byte,
 * with a Content-Disposition that makes a browser save it. */
void scans_report(const srv_ctx *ctx, const srv_request *req, const char *uuid, srv_response *resp)
{
    int rc = is_uuid(uuid) ? store_scan_get(ctx->store, uuid, report_row, resp) : STORE_ENOTFOUND;
    if (rc != STORE_OK)
        resp->disposition[0] = 0;
    if (rc == STORE_ENOTFOUND)
        fail(resp, 404, "no such scan");
    else if (rc != STORE_OK)
        fail(resp, 500, "store unavailable");
}

/* ---- list ---- */

int since_parse(const char *s, char out[40])
{
    static const char shape[] = "dddd-dd-dd?dd:dd:dd";
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd'   ? s[i] < '0' || s[i] > '9'
            : shape[i] == '?' ? !strchr("Tt ", s[i]) || !s[i]
                              : s[i] != shape[i])
            return -1;
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6 ||
        n != 19)
        return -1;
    const char *p = s + n;
    long usec = 0, scale = 100000;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return -1;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            usec += scale * (*p - '0');
    }
    long off = 0;
    int oh, om, on = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1])
        off = 0;
    else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &on) == 2 && on == 5 && !p[6] &&
             oh < 24 && om < 60)
        off = (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    else
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm) - off;
    struct tm u;
    if (!gmtime_r(&t, &u))
        return -1;
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &u);
    snprintf(out, 40, "%s.%06ldZ", base, usec);
    return 0;
}

typedef struct list_filter {
    store_filter f;
    page_req pg;
    char since[40];
    char ns[257], name[257];
} list_filter;

/* ?model=UUID|NS/NAME, ?outcome=, ?since=; -1 after answering 400. */
static int parse_filters(const srv_request *req, list_filter *lf, srv_response *resp)
{
    const char *model = req->arg(req, "model"), *outcome = req->arg(req, "outcome"), *since = req->arg(req, "since");
    if (model && is_uuid(model)) {
        lf->f.model_uuid = model;
    } else if (model) {
        const char *slash = strchr(model, '/');
        size_t nl = slash ? (size_t)(slash - model) : 0;
        if (!slash || nl == 0 || nl >= sizeof lf->ns || !slash[1] || strlen(slash + 1) >= sizeof lf->name) {
            fail(resp, 400, "model must be a model uuid or NAMESPACE/NAME");
            return -1;
        }
        memcpy(lf->ns, model, nl);
        snprintf(lf->name, sizeof lf->name, "%s", slash + 1);
        lf->f.ns = lf->ns;
        lf->f.name = lf->name;
    }
    static const char *const outcomes[] = {"ALLOWED", "BLOCKED", "ERROR", "PENDING"};
    for (size_t i = 0; outcome && i < 4 && !lf->f.outcome; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            lf->f.outcome = outcomes[i];
    if (outcome && !lf->f.outcome) {
        fail(resp, 400, "outcome must be ALLOWED, BLOCKED, ERROR or PENDING");
        return -1;
    }
    if (since && since_parse(since, lf->since) != 0) {
        fail(resp, 400, "since must be an RFC 3339 time such as 2025-03-01T00:00:00Z");
        return -1;
    }
    lf->f.since = since ? lf->since : NULL;
    return 0;
}

static int list_row(void *arg, const store_scan *row)
{
    page_acc *a = arg;
    if (page_full(a))
        return 0;
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s}", "uuid", row->uuid, "model_uri", row->model_uri, "model_uuid",
                          *row->model_uuid ? row->model_uuid : NULL, "eval_outcome", row->eval_outcome, "created_at",
                          row->created_at);
    json_t *labels = labels_json(row->labels);
    if (o && labels)
        json_object_set_new(o, "labels", labels);
    else
        json_decref(labels);
    return page_add(a, o, row->created_at, row->uuid);
}

void scans_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    list_filter lf;
    memset(&lf, 0, sizeof lf);
    if (parse_filters(req, &lf, resp) != 0 || page_parse(req, &lf.pg, resp) != 0)
        return;
    page_acc a;
    int rc = page_start(&lf.pg, &lf.f, &a) == 0 ? store_scan_list(ctx->store, &lf.f, list_row, &a) : STORE_ENOMEM;
    page_respond(resp, "scans", &a, rc);
}
