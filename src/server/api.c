/*
 * api.c - the REST API handlers (docs/rest.md): health, bearer-token
 * authentication with roles, and scans (create, get, list).
 *
 * A scan here is exactly the CLI's scan (cmd_scan.c): mg_scan_path,
 * mg_evaluate with the same model info, and the document of mg_report_json,
 * which is stored verbatim and served verbatim, so the CLI, the API and the
 * store can never disagree about a report.
 *
 * Local model URIs are the attack surface of this slice: a caller names a
 * path on the server. The path is resolved (realpath: `..` and symbolic
 * links followed) and must land inside one of the configured roots; the
 * resolved path, never the caller's text, is what gets scanned. A path that
 * does not exist gets the same answer as one outside the roots, so the API
 * is not an oracle for which files exist elsewhere on the machine.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/stamp.h"
#include "server.h"

static void respond(srv_response *resp, unsigned status, json_t *doc)
{
    resp->status = status;
    resp->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!resp->body) {
        resp->status = 500;
        resp->body = NULL;
    }
}

char *api_error_body(const char *message)
{
    json_t *doc = json_pack("{s:s}", "error", message);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static void fail(srv_response *resp, unsigned status, const char *message)
{
    resp->status = status;
    resp->body = api_error_body(message);
}

/* ---- authentication ---- */

/* The role of the request's bearer token; ROLE_NONE after answering 401
 * (or 500 when the store failed). */
static store_role authenticate(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    const char *h = req->authorization;
    store_role role = ROLE_NONE;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        /* tokens are STORE_TOKEN_LEN characters: anything longer is not one */
        int rc = strlen(tok) <= STORE_TOKEN_LEN ? store_token_lookup(ctx->store, tok, &role) : STORE_ENOTFOUND;
        if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
            fail(resp, 500, "token store unavailable");
            return ROLE_NONE;
        }
    }
    if (role == ROLE_NONE)
        fail(resp, 401, "missing or invalid bearer token (Authorization: Bearer <token>)");
    return role;
}

/* ---- model URIs ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The local path a model URI names, malloc'd: a plain path as is, or a
 * file:// URI (empty or "localhost" host) percent-decoded. NULL with
 * `why` set when the URI is not local or not well-formed. */
static char *uri_to_path(const char *uri, const char **why)
{
    if (strncmp(uri, "file://", 7) != 0) {
        if (strstr(uri, "://")) {
            *why = "unsupported model_uri scheme: this version scans local paths and file:// URIs only";
            return NULL;
        }
        char *p = strdup(uri);
        *why = p ? NULL : "out of memory";
        return p;
    }
    const char *p = uri + 7;
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/') {
        *why = "file:// URI must name an absolute local path (file:///path)";
        return NULL;
    }
    char *out = malloc(strlen(p) + 1), *o = out;
    for (; out && *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 && (hi | lo)) {
            *o++ = (char)(hi * 16 + lo); /* %00 is left as text: it would cut the path */
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    if (out)
        *o = 0;
    *why = out ? NULL : "out of memory";
    return out;
}

static int under_root(const srv_ctx *ctx, const char *real)
{
    for (size_t i = 0; i < ctx->nroots; i++) {
        const char *root = ctx->roots[i];
        size_t n = strlen(root);
        if (strcmp(root, "/") == 0)
            return 1;
        if (strncmp(real, root, n) == 0 && (real[n] == 0 || real[n] == '/'))
            return 1;
    }
    return 0;
}

/* The resolved path to scan (malloc'd), or NULL after answering. */
static char *resolve_model(const srv_ctx *ctx, const char *uri, srv_response *resp)
{
    const char *why = NULL;
    char *path = uri_to_path(uri, &why);
    if (!path) {
        fail(resp, strcmp(why, "out of memory") == 0 ? 500 : 400, why);
        return NULL;
    }
    char *real = realpath(path, NULL);
    free(path);
    if (!real || !under_root(ctx, real)) {
        fail(resp, 403, "model_uri is not an existing path under a configured --root");
        free(real);
        return NULL;
    }
    return real;
}

/* ---- scans ---- */

typedef struct scan_req {
    const char *model_uri, *license;
    int wait;
} scan_req;

/* Parses the POST body; answers 400 (and returns NULL) when it is wrong. */
static json_t *parse_scan_body(const srv_request *req, scan_req *sr, srv_response *resp)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        fail(resp, 400, msg);
        return NULL;
    }
    json_t *uri = json_object_get(doc, "model_uri"), *lic = json_object_get(doc, "license");
    const char *bad = !json_is_object(doc)                                ? "the body must be a JSON object"
                      : !json_is_string(uri) || !*json_string_value(uri)  ? "model_uri must be a non-empty string"
                      : lic && !json_is_string(lic) && !json_is_null(lic) ? "license must be a string"
                      : json_object_get(doc, "policy")                    ? "a per-scan policy is not supported yet"
                                                                          : NULL;
    if (bad) {
        fail(resp, 400, bad);
        json_decref(doc);
        return NULL;
    }
    sr->model_uri = json_string_value(uri);
    sr->license = json_string_value(lic);
    const char *w = req->arg(req, "wait");
    sr->wait = w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0);
    return doc;
}

static const char *field(const mg_evaluation *ev, const char *name)
{
    const char *v = mg_evaluation_field(ev, name);
    return v ? v : "";
}

/* Judges and stores one finished scan; answers 200 with the report or 202. */
static void judge_and_store(const srv_ctx *ctx, const mg_report *rep, mg_model_info *info, int wait, srv_response *resp)
{
    mg_evaluation *ev = NULL;
    char *doc = NULL;
    if (mg_evaluate(&ev, rep, ctx->policy, info) != MG_OK ||
        !(doc = mg_report_json(rep, ev, ctx->policy, ctx->engine, info, 0))) {
        fail(resp, 500, "out of memory");
        goto out;
    }
    store_scan row = {
        .uuid = info->uuid,
        .model_uri = info->model_uri,
        .model_uuid = field(ev, "model_uuid"),
        .namespace_ = field(ev, "namespace"),
        .model_name = field(ev, "model_name"),
        .eval_outcome = mg_evaluation_outcome(ev),
        .created_at = info->created_at,
        .report = doc,
    };
    if (store_scan_put(ctx->store, &row) != STORE_OK) {
        fail(resp, 500, "could not store the scan");
        goto out;
    }
    if (wait) {
        resp->status = 200;
        resp->body = doc;
        doc = NULL;
    } else {
        respond(resp, 202, json_pack("{s:s}", "uuid", info->uuid));
    }
out:
    free(doc);
    mg_evaluation_free(ev);
}

static void scan_create(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    scan_req sr;
    json_t *body = parse_scan_body(req, &sr, resp);
    if (!body)
        return;
    char *path = resolve_model(ctx, sr.model_uri, resp);
    mg_report *rep = NULL;
    if (!path)
        goto out;
    char uuid[37], created[40], updated[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    int rc = mg_scan_path(&rep, ctx->engine, path);
    if (rc != MG_OK) {
        fail(resp, 500, rc == MG_ENOMEM ? "out of memory" : "the scan could not run");
        goto out;
    }
    rfc3339_now(updated, sizeof updated);
    mg_model_info info = {
        .model_uri = sr.model_uri,
        .license = sr.license,
        .uuid = uuid,
        .created_at = created,
        .updated_at = updated,
    };
    judge_and_store(ctx, rep, &info, sr.wait, resp);
out:
    mg_report_free(rep);
    free(path);
    json_decref(body);
}

static int is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hexval(s[i]) < 0)
            return 0;
    }
    return s[36] == 0;
}

static void scan_get(const srv_ctx *ctx, const char *uuid, srv_response *resp)
{
    char *doc = NULL;
    int rc = is_uuid(uuid) ? store_scan_get(ctx->store, uuid, &doc) : STORE_ENOTFOUND;
    if (rc == STORE_OK) {
        resp->status = 200;
        resp->body = doc;
    } else {
        fail(resp, rc == STORE_ENOTFOUND ? 404 : 500, rc == STORE_ENOTFOUND ? "no such scan" : "store unavailable");
    }
}

static int list_row(void *arr, const store_scan *row)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "uuid", row->uuid, "model_uri", row->model_uri, "eval_outcome",
                          row->eval_outcome, "created_at", row->created_at);
    return o && json_array_append_new(arr, o) == 0 ? 0 : MG_ENOMEM;
}

static void scan_list(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    const char *l = req->arg(req, "limit");
    long limit = SRV_LIST_DEFAULT;
    if (l) {
        char *end;
        errno = 0;
        limit = strtol(l, &end, 10);
        if (errno || end == l || *end || limit < 1 || limit > SRV_LIST_MAX) {
            fail(resp, 400, "limit must be an integer from 1 to 1000");
            return;
        }
    }
    json_t *arr = json_array();
    if (!arr || store_scan_list(ctx->store, (int)limit, list_row, arr) != STORE_OK) {
        json_decref(arr);
        fail(resp, 500, "store unavailable");
        return;
    }
    respond(resp, 200, json_pack("{s:o}", "scans", arr));
}

/* ---- routing ---- */

#define SCANS "/api/v1/scans"

static void route_api(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    store_role role = authenticate(ctx, req, resp);
    if (role == ROLE_NONE)
        return;
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    const char *p = req->path;
    if (strcmp(p, SCANS) == 0 && post) {
        if (role < ROLE_SCANNER)
            fail(resp, 403, "this token's role cannot create scans (needs scanner or admin)");
        else
            scan_create(ctx, req, resp);
    } else if (strcmp(p, SCANS) == 0 && get) {
        scan_list(ctx, req, resp);
    } else if (strncmp(p, SCANS "/", sizeof SCANS) == 0 && get) {
        scan_get(ctx, p + sizeof SCANS, resp);
    } else if (strcmp(p, SCANS) == 0 || strncmp(p, SCANS "/", sizeof SCANS) == 0) {
        fail(resp, 405, "method not allowed");
    } else {
        fail(resp, 404, "no such endpoint");
    }
}

void api_handle(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    resp->status = 500;
    resp->body = NULL;
    if (strcmp(req->path, "/healthz") == 0) {
        if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
            respond(resp, 200, json_pack("{s:s}", "status", "ok"));
        else
            fail(resp, 405, "method not allowed");
    } else if (strncmp(req->path, "/api/v1/", 8) == 0) {
        route_api(ctx, req, resp);
    } else {
        fail(resp, 404, "no such endpoint");
    }
}
