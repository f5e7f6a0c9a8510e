/*
 * gateway.c - the gateway's HTTP front (libmicrohttpd): routes a Hub
 * request, asks upstream what commit it is about, decides on that commit
 * (verdicts.c) and then proxies metadata or serves file bytes itself
 * (blobs.c). Protocol and client quirks: ../shared/design/hub-and-s3.md.
 *
 * One thread per connection, unlike the REST API's small thread pool: a
 * gateway request legitimately blocks, on the first scan of a repo (up to
 * GW_WAIT_S) or on bytes still arriving from upstream, and a blocked
 * request must not hold up the others. The daemon does not decode paths
 * (a revision `refs%2Fpr%2F1` must stay one segment, route.c) and passes
 * query strings upstream as the client wrote them.
 *
 * What a client can never get from the gateway: a URL to the CDN or to
 * Xet storage (Location and Link headers are rewritten or dropped, Xet
 * headers never copied), bytes of a commit that was not judged ALLOWED,
 * or bytes that do not match the digest upstream stated for them.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/stamp.h"
#include "../server/api.h"
#include "gw.h"
#include "util/banned.h"

enum {
    META_BUCKETS = 4096,
    META_MAX = 65536,
    READ_CHUNK = 1 << 20,     /* bytes per read of a blob (see file_body) */
    MAX_CONNECTIONS = 1024,   /* one thread each */
    THREAD_STACK = 512 << 10, /* plenty for a handler; 1024 threads stay within 512 MiB */
};

/* What upstream said about a file at a revision (its HEAD answer). */
typedef struct meta {
    char *key;
    double expires;
    char commit[41];
    uint64_t size;
    int lfs;
    char digest[80]; /* the blob key: sha256-<hex> or git-<hex>, "" when unusable */
    char etag[72];   /* the ETag we answer with (hex only) */
    struct meta *next;
} meta;

struct gw {
    gw_config cfg;
    const srv_ctx *ctx;
    gw_upstream up;
    gw_verdicts *verdicts;
    gw_blobs *blobs;
    gw_audit *audit;
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu; /* the meta cache */
    meta *buckets[META_BUCKETS];
    size_t nmeta;
    char self[128]; /* http://addr:port, when the request has no usable Host */
};

/* Per-connection state: a POST body being collected. */
typedef struct conn_state {
    char *body;
    size_t len;
    int too_large;
} conn_state;

/* One request as the handlers see it. */
typedef struct gw_req {
    gw *g;
    struct MHD_Connection *conn;
    const char *method, *path;
    gw_route route;
    char *query;                  /* raw "?k=v&..." or "" */
    char auth[GW_TOKEN_MAX + 32]; /* "Authorization: ..." or "" */
    const char *token;            /* the bearer token for scans, or NULL */
    char caller[32], client[64];
    const conn_state *cs;
} gw_req;

/* ---- responses ---- */

static enum MHD_Result queue(gw_req *q, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(q->conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static struct MHD_Response *text_response(const char *body, const char *ctype)
{
    size_t n = body ? strlen(body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (r && ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    return r;
}

/* A Hub-style error: {"error": msg} and X-Error-Message (HEAD has no body,
 * Python reads the header), plus X-Error-Code when given. */
static enum MHD_Result hub_error(gw_req *q, unsigned status, const char *code, const char *msg)
{
    json_t *doc = json_pack("{s:s}", "error", msg);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct MHD_Response *r = text_response(body, "application/json");
    free(body);
    char line[512];
    gw_header_text(msg, line, sizeof line);
    if (r) {
        MHD_add_response_header(r, "X-Error-Message", line);
        if (code)
            MHD_add_response_header(r, "X-Error-Code", code);
    }
    return queue(q, status, r);
}

/* ---- the audit trail ---- */

static void audit(gw_req *q, const char *action, const char *commit, const char *outcome, const char *scan_uuid,
                  const char *reason)
{
    char uuid[37], created[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    store_decision d = {
        .uuid = uuid,
        .created_at = created,
        .caller = q->caller,
        .client_addr = q->client,
        .repo_type = gw_type_name(q->route.type),
        .repo = q->route.repo,
        .revision = q->route.rev[0] ? q->route.rev : "main",
        .commit_sha = commit && *commit ? commit : NULL,
        .path = q->route.file[0] ? q->route.file : NULL, /* resolve and raw name a file */
        .action = action,
        .outcome = outcome,
        .scan_uuid = scan_uuid && *scan_uuid ? scan_uuid : NULL,
        .reason = reason && *reason ? reason : NULL,
    };
    audit_add(q->g->audit, &d);
}

static const char *action_of(const gw_req *q)
{
    switch (q->route.kind) {
    case GW_INFO:
        return "revision";
    case GW_RAW:
        return "raw";
    case GW_TREE:
        return "tree";
    case GW_PATHS_INFO:
        return "paths-info";
    default:
        return "resolve";
    }
}

/* 403 with the report: {"error": line, ...report...}, X-Error-Message and
 * X-Error-Code: GatedRepo (Python then shows the message itself). */
static enum MHD_Result refuse(gw_req *q, const char *commit, const gw_verdict *v)
{
    json_t *doc = v->report ? json_loads(v->report, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_object_set_new(doc, "error", json_string(v->reason));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct MHD_Response *r = text_response(body, "application/json");
    free(body);
    char line[512];
    gw_header_text(v->reason, line, sizeof line);
    if (r) {
        MHD_add_response_header(r, "X-Error-Message", line);
        MHD_add_response_header(r, "X-Error-Code", "GatedRepo");
    }
    audit(q, action_of(q), commit, v->outcome[0] ? v->outcome : "ERROR", v->scan_uuid, v->reason);
    fprintf(stderr, "modelgate: gateway: refused %s %s@%.12s for %s: %s\n", gw_type_name(q->route.type), q->route.repo,
            commit ? commit : "-", q->caller, line);
    return queue(q, 403, r);
}

/* ---- the decision ---- */

/* The policy's deny lists, before anything goes upstream. */
static int denied(gw_req *q, char *why, size_t n)
{
    const policy_ref *pol = policies_acquire(q->g->ctx->policies);
    char line[400];
    int d = mg_policy_denies(policy_of(pol), q->route.ns, q->route.name, line, sizeof line);
    policies_release(q->g->ctx->policies, pol);
    if (d)
        snprintf(why, n, "Blocked by modelgate: %s", line);
    return d;
}

/* Decides on the repo at `commit`: 1 to go on serving, or the request was
 * answered (403 refusal, 503 still scanning) and *rc holds the result. */
static int decide(gw_req *q, const char *commit, enum MHD_Result *rc)
{
    gw_verdict v;
    verdicts_get(q->g->verdicts, &q->route, commit, q->token, GW_WAIT_S, &v);
    int go = strcmp(v.outcome, "ALLOWED") == 0;
    if (!go && strcmp(v.outcome, "ERROR") == 0 && q->g->cfg.fail_open) {
        fprintf(stderr, "modelgate: gateway: FAIL-OPEN: serving %s@%.12s although its scan failed: %s\n", q->route.repo,
                commit, v.reason);
        audit(q, action_of(q), commit, "ERROR", v.scan_uuid, "served because of --fail-open");
        go = 1;
    } else if (go) {
        audit(q, action_of(q), commit, "ALLOWED", v.scan_uuid, NULL);
    } else if (!v.outcome[0]) { /* still scanning (or the queue is full): clients retry 5xx */
        *rc = hub_error(q, 503, NULL, v.reason);
    } else {
        *rc = refuse(q, commit, &v);
    }
    verdict_clear(&v);
    return go;
}

/* ---- passing upstream answers on ---- */

/* The base URL the client used to reach us (for rewritten links). */
static void self_base(gw_req *q, char *out, size_t n)
{
    const char *host = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Host");
    int ok = host && *host && strlen(host) < 200;
    for (const char *p = host; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-:[]", *p);
    if (ok)
        snprintf(out, n, "http://%s", host);
    else
        snprintf(out, n, "%s", q->g->self);
}

/* Copies the headers of an upstream answer a client may see. A Location
 * only when relative (a renamed repo; an absolute one would send the
 * client around the gateway); a Link only the next page, rewritten onto
 * the gateway. */
static void pass_headers(gw_req *q, struct MHD_Response *r, const net_response *rs)
{
    if (rs->content_type)
        MHD_add_response_header(r, "Content-Type", rs->content_type);
    if (rs->retry_after && strspn(rs->retry_after, "0123456789") == strlen(rs->retry_after))
        MHD_add_response_header(r, "Retry-After", rs->retry_after);
    if (rs->error_code)
        MHD_add_response_header(r, "X-Error-Code", rs->error_code);
    if (rs->error_message)
        MHD_add_response_header(r, "X-Error-Message", rs->error_message);
    if (rs->repo_commit && gw_is_commit(rs->repo_commit))
        MHD_add_response_header(r, "X-Repo-Commit", rs->repo_commit);
    if (rs->location && rs->location[0] == '/' && rs->location[1] != '/')
        MHD_add_response_header(r, "Location", rs->location);
    size_t bl = strlen(q->g->up.base);
    if (rs->link_next && strncmp(rs->link_next, q->g->up.base, bl) == 0 && rs->link_next[bl] == '/') {
        char base[256], *link = NULL;
        self_base(q, base, sizeof base);
        if (asprintf(&link, "<%s%s>; rel=\"next\"", base, rs->link_next + bl) >= 0)
            MHD_add_response_header(r, "Link", link);
        free(link);
    }
}

/* An upstream answer to the client as it came (after pass_headers). */
static enum MHD_Result pass(gw_req *q, const net_response *rs)
{
    if (net_is_redirect(rs->status) && !(rs->location && rs->location[0] == '/' && rs->location[1] != '/'))
        return hub_error(q, 502, NULL, "the upstream hub redirected to another host; the gateway does not follow");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(rs->body_len, rs->body ? rs->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (r)
        pass_headers(q, r, rs);
    return queue(q, (unsigned)rs->status, r);
}

/* Upstream's error answer to a HEAD (no body) as a Hub error: its status,
 * code, message and commit, and {"error": message} for GET clients. */
static enum MHD_Result pass_error(gw_req *q, const net_response *rs)
{
    char msg[512];
    gw_header_text(rs->error_message ? rs->error_message : "the upstream hub refused the request", msg, sizeof msg);
    json_t *doc = json_pack("{s:s}", "error", msg);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct MHD_Response *r = text_response(body, "application/json");
    free(body);
    if (r) {
        MHD_add_response_header(r, "X-Error-Message", msg);
        if (rs->error_code)
            MHD_add_response_header(r, "X-Error-Code", rs->error_code);
        if (rs->repo_commit && gw_is_commit(rs->repo_commit))
            MHD_add_response_header(r, "X-Repo-Commit", rs->repo_commit);
        if (rs->retry_after && strspn(rs->retry_after, "0123456789") == strlen(rs->retry_after))
            MHD_add_response_header(r, "Retry-After", rs->retry_after); /* Python waits as told */
    }
    unsigned status = rs->status >= 400 && rs->status < 600 ? (unsigned)rs->status : 502;
    return queue(q, status, r);
}

static enum MHD_Result upstream_down(gw_req *q, const char *err)
{
    fprintf(stderr, "modelgate: gateway: upstream: %s\n", err);
    return hub_error(q, 502, NULL, "modelgate gateway: the upstream hub could not be reached");
}

/* ---- metadata: tree, paths-info ---- */

static enum MHD_Result proxy_api(gw_req *q)
{
    char err[512], *pq = NULL;
    if (asprintf(&pq, "%s%s", q->path, q->query) < 0)
        return MHD_NO;
    const char *ctype = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Type");
    char ct[128];
    gw_header_text(ctype ? ctype : "application/json", ct, sizeof ct);
    int post = q->route.kind == GW_PATHS_INFO;
    net_response rs;
    int rc = up_api(&q->g->up, post ? "POST" : "GET", pq, post ? ct : NULL, post ? q->cs->body : NULL,
                    post ? q->cs->len : 0, q->auth[0] ? q->auth : NULL, &rs, err, sizeof err);
    free(pq);
    enum MHD_Result out = rc == SRC_OK ? pass(q, &rs) : upstream_down(q, err);
    net_response_free(&rs);
    return out;
}

/* ---- the revision API ---- */

/* The commit an info answer names ("sha"), or the one a second call with
 * expand=sha gives when the client's expand left it out. */
static int info_commit(gw_req *q, const net_response *rs, char commit[41], char *err, size_t errlen)
{
    json_t *doc = json_loadb(rs->body ? rs->body : "", rs->body_len, JSON_REJECT_DUPLICATES, NULL);
    const char *sha = json_string_value(json_object_get(doc, "sha"));
    int ok = sha && gw_is_commit(sha);
    if (ok)
        snprintf(commit, 41, "%s", sha);
    json_decref(doc);
    if (ok)
        return 0;
    char *rev = gw_pct(q->route.rev[0] ? q->route.rev : "main", 0), *pq = NULL;
    if (!rev || asprintf(&pq, "/api/%s/%s/revision/%s?expand=sha", gw_type_api(q->route.type), q->route.repo, rev) < 0)
        pq = NULL;
    free(rev);
    net_response r2;
    int rc = pq ? up_api(&q->g->up, "GET", pq, NULL, NULL, 0, q->auth[0] ? q->auth : NULL, &r2, err, errlen) : -1;
    free(pq);
    if (rc != SRC_OK)
        return -1;
    doc = r2.status == 200 ? json_loadb(r2.body ? r2.body : "", r2.body_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    sha = json_string_value(json_object_get(doc, "sha"));
    ok = sha && gw_is_commit(sha);
    if (ok)
        snprintf(commit, 41, "%s", sha);
    else
        snprintf(err, errlen, "the upstream hub named no commit for %s", q->route.repo);
    json_decref(doc);
    net_response_free(&r2);
    return ok ? 0 : -1;
}

static enum MHD_Result handle_info(gw_req *q)
{
    char err[512], commit[41], *pq = NULL;
    if (asprintf(&pq, "%s%s", q->path, q->query) < 0)
        return MHD_NO;
    net_response rs;
    int rc = up_api(&q->g->up, "GET", pq, NULL, NULL, 0, q->auth[0] ? q->auth : NULL, &rs, err, sizeof err);
    free(pq);
    enum MHD_Result out = MHD_NO;
    if (rc != SRC_OK) {
        audit(q, "revision", NULL, "ERROR", NULL, "the upstream hub could not be reached");
        out = upstream_down(q, err);
    } else if (rs.status != 200) {
        out = pass(q, &rs); /* 401/404 (private, missing) and renames: upstream's own answer */
    } else if (info_commit(q, &rs, commit, err, sizeof err) != 0) {
        audit(q, "revision", NULL, "ERROR", NULL, err);
        out = hub_error(q, 502, NULL, err);
    } else if (decide(q, commit, &out)) {
        out = pass(q, &rs);
    }
    net_response_free(&rs);
    return out;
}

/* ---- files: what upstream says about them ---- */

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int meta_lookup(gw *g, const char *key, meta *out)
{
    int found = 0;
    pthread_mutex_lock(&g->mu);
    for (meta *m = g->buckets[hash_str(key) % META_BUCKETS]; m && !found; m = m->next)
        if (strcmp(m->key, key) == 0 && mono_now() < m->expires) {
            *out = *m;
            out->key = NULL;
            out->next = NULL;
            found = 1;
        }
    pthread_mutex_unlock(&g->mu);
    return found;
}

static void meta_clear_locked(gw *g)
{
    for (size_t i = 0; i < META_BUCKETS; i++) {
        for (meta *m = g->buckets[i], *n; m; m = n) {
            n = m->next;
            free(m->key);
            free(m);
        }
        g->buckets[i] = NULL;
    }
    g->nmeta = 0;
}

static void meta_store(gw *g, const char *key, const meta *in, double ttl)
{
    if (ttl <= 0)
        return;
    meta *m = malloc(sizeof *m);
    if (!m || !(m->key = strdup(key))) {
        free(m);
        return;
    }
    char *k = m->key;
    *m = *in;
    m->key = k;
    m->expires = mono_now() + ttl;
    pthread_mutex_lock(&g->mu);
    if (g->nmeta >= META_MAX) /* rare and cheap to rebuild: start over rather than track age */
        meta_clear_locked(g);
    unsigned b = hash_str(key) % META_BUCKETS;
    m->next = g->buckets[b];
    g->buckets[b] = m;
    g->nmeta++;
    pthread_mutex_unlock(&g->mu);
}

/* A hex digest out of an ETag value: W/ and quotes removed. */
static int etag_hex(const char *v, char *out, size_t want)
{
    if (!v)
        return 0;
    if (strncmp(v, "W/", 2) == 0)
        v += 2;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        v++, n -= 2;
    if (n != want)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return 0;
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
}

/* The file's commit, size and digest from upstream's HEAD answer. */
static int meta_from(const net_response *rs, meta *m, char *err, size_t errlen)
{
    char hex[65];
    memset(m, 0, sizeof *m);
    if (!rs->repo_commit || !gw_is_commit(rs->repo_commit)) {
        snprintf(err, errlen, "the upstream hub named no commit for this file");
        return -1;
    }
    snprintf(m->commit, sizeof m->commit, "%s", rs->repo_commit);
    if (rs->linked_etag || net_is_redirect(rs->status)) { /* LFS: content addressed by sha256 */
        if (!etag_hex(rs->linked_etag, hex, 64)) {
            snprintf(err, errlen, "the upstream hub gave no sha256 for this LFS file");
            return -1;
        }
        m->lfs = 1;
        m->size = rs->linked_size;
        snprintf(m->digest, sizeof m->digest, "sha256-%s", hex);
        snprintf(m->etag, sizeof m->etag, "%s", hex);
        return 0;
    }
    if (rs->content_length < 0 || !etag_hex(rs->etag, hex, 40)) {
        snprintf(err, errlen, "the upstream hub gave no size or git blob id for this file");
        return -1;
    }
    m->size = (uint64_t)rs->content_length;
    snprintf(m->digest, sizeof m->digest, "git-%s", hex);
    snprintf(m->etag, sizeof m->etag, "%s", hex);
    return 0;
}

/* ---- files: serving the bytes ---- */

typedef struct fill_reader {
    blob_fill *fill;
    uint64_t off;
    int partial; /* a range that ends before the file does */
} fill_reader;

static ssize_t read_fill(void *cls, uint64_t pos, char *buf, size_t max)
{
    fill_reader *fr = cls;
    ssize_t n = blob_fill_read(fr->fill, fr->off + pos, buf, max, fr->partial);
    return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_fill(void *cls)
{
    fill_reader *fr = cls;
    blob_fill_release(fr->fill);
    free(fr);
}

/* A verified file from the blob cache. Read in READ_CHUNK blocks rather
 * than with libmicrohttpd's sendfile path: measured on loopback with a
 * 1 GiB file, its sendfile loop (a poll before every 2 MiB) delivered
 * 1.4-1.8 GB/s where 1 MiB preads delivered 2.9-3.4 GB/s. */
typedef struct file_reader {
    int fd;
    uint64_t off;
} file_reader;

static ssize_t read_file(void *cls, uint64_t pos, char *buf, size_t max)
{
    file_reader *fr = cls;
    ssize_t n = pread(fr->fd, buf, max, (off_t)(fr->off + pos));
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_file(void *cls)
{
    file_reader *fr = cls;
    close(fr->fd);
    free(fr);
}

static struct MHD_Response *file_body(int fd, uint64_t off, uint64_t len)
{
    file_reader *fr = malloc(sizeof *fr);
    struct MHD_Response *r = fr ? MHD_create_response_from_callback(len, READ_CHUNK, read_file, fr, free_file) : NULL;
    if (!r) {
        free(fr);
        close(fd);
        return NULL;
    }
    fr->fd = fd;
    fr->off = off;
    return r;
}

static ssize_t read_nothing(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_OF_STREAM; /* HEAD: never called for the body */
}

/* The body of a GET: the verified file on disk, or the fill in progress. */
static struct MHD_Response *body_of(gw_req *q, const meta *m, uint64_t off, uint64_t len)
{
    char err[256];
    int fd = -1;
    blob_fill *fill = NULL;
    blob_origin o = {&q->g->up, q->route.type, q->route.repo, m->commit, q->route.file, q->auth[0] ? q->auth : NULL};
    if (blobs_open(q->g->blobs, m->digest, m->size, &o, &fd, &fill, err, sizeof err) != 0) {
        fprintf(stderr, "modelgate: gateway: %s `%s`: %s\n", q->route.repo, q->route.file, err);
        return NULL;
    }
    if (fd >= 0)
        return file_body(fd, off, len);
    fill_reader *fr = malloc(sizeof *fr);
    struct MHD_Response *r = fr ? MHD_create_response_from_callback(len, READ_CHUNK, read_fill, fr, free_fill) : NULL;
    if (!r) {
        free(fr);
        blob_fill_release(fill);
        return NULL;
    }
    fr->fill = fill;
    fr->off = off;
    fr->partial = off + len < m->size;
    return r;
}

static enum MHD_Result serve(gw_req *q, const meta *m)
{
    uint64_t off = 0, len = m->size;
    const char *range = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Range");
    int pr = gw_range_parse(range, m->size, &off, &len);
    char v[128];
    if (pr < 0) {
        struct MHD_Response *r = text_response("", NULL);
        snprintf(v, sizeof v, "bytes */%" PRIu64, m->size);
        if (r)
            MHD_add_response_header(r, "Content-Range", v);
        return queue(q, 416, r);
    }
    int head = strcmp(q->method, "HEAD") == 0;
    struct MHD_Response *r =
        head ? MHD_create_response_from_callback(len, 1024, read_nothing, NULL, NULL) : body_of(q, m, off, len);
    if (!r)
        return hub_error(q, 502, NULL, "modelgate gateway: the file could not be fetched from upstream");
    snprintf(v, sizeof v, "\"%s\"", m->etag);
    MHD_add_response_header(r, "ETag", v);
    MHD_add_response_header(r, "X-Repo-Commit", m->commit);
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    if (m->lfs) {
        MHD_add_response_header(r, "X-Linked-Etag", v);
        snprintf(v, sizeof v, "%" PRIu64, m->size);
        MHD_add_response_header(r, "X-Linked-Size", v);
    }
    if (pr == 0) {
        snprintf(v, sizeof v, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, m->size);
        MHD_add_response_header(r, "Content-Range", v);
    }
    return queue(q, pr == 0 ? 206 : 200, r);
}

/* raw/ of an LFS file: its pointer text at the judged commit. */
static enum MHD_Result serve_raw(gw_req *q, const char *commit)
{
    char err[512], *pq = NULL, *file = gw_pct(q->route.file, 1);
    if (!file || asprintf(&pq, "/%s%s/raw/%s/%s", gw_type_prefix(q->route.type), q->route.repo, commit, file) < 0)
        pq = NULL;
    free(file);
    if (!pq)
        return MHD_NO;
    net_response rs;
    int rc = up_api(&q->g->up, "GET", pq, NULL, NULL, 0, q->auth[0] ? q->auth : NULL, &rs, err, sizeof err);
    free(pq);
    enum MHD_Result out = rc == SRC_OK ? pass(q, &rs) : upstream_down(q, err);
    net_response_free(&rs);
    return out;
}

/* The file's metadata: from the cache, else a HEAD upstream. Returns 1
 * with *m filled, or 0 when the request was answered (upstream's own
 * error or redirect, 502). */
static int file_meta(gw_req *q, meta *m, enum MHD_Result *out)
{
    char key[GW_PATH_MAX + GW_REV_MAX + 512], err[512];
    snprintf(key, sizeof key, "%s\n%s\n%s\n%s\n%s", q->caller, gw_type_name(q->route.type), q->route.repo, q->route.rev,
             q->route.file);
    if (meta_lookup(q->g, key, m))
        return 1;
    net_response rs;
    int rc = up_head(&q->g->up, &q->route, q->route.rev, q->auth[0] ? q->auth : NULL, &rs, err, sizeof err);
    int ok = 0;
    if (rc != SRC_OK) {
        audit(q, action_of(q), NULL, "ERROR", NULL, "the upstream hub could not be reached");
        *out = upstream_down(q, err);
    } else if (net_is_redirect(rs.status) && rs.location && rs.location[0] == '/' && rs.location[1] != '/') {
        *out = pass(q, &rs); /* a renamed repo: the client asks again under the new name */
    } else if (rs.status != 200 && !net_is_redirect(rs.status)) {
        *out = pass_error(q, &rs); /* upstream's 401/404/5xx, with a body a GET client can read */
    } else if (meta_from(&rs, m, err, sizeof err) != 0) {
        audit(q, action_of(q), NULL, "ERROR", NULL, err);
        *out = hub_error(q, 502, NULL, err);
    } else {
        unsigned ttl = gw_is_commit(q->route.rev) && q->g->cfg.revision_ttl < GW_COMMIT_TTL_S ? GW_COMMIT_TTL_S
                                                                                              : q->g->cfg.revision_ttl;
        meta_store(q->g, key, m, ttl);
        ok = 1;
    }
    net_response_free(&rs);
    return ok;
}

static enum MHD_Result handle_file(gw_req *q)
{
    meta m;
    enum MHD_Result out = MHD_NO;
    if (!file_meta(q, &m, &out) || !decide(q, m.commit, &out))
        return out;
    /* raw/ of an LFS file is its pointer text; of a git file, its bytes,
     * which go through the verified blob path like resolve/ */
    return q->route.kind == GW_RAW && m.lfs ? serve_raw(q, m.commit) : serve(q, &m);
}

/* ---- dispatch ---- */

static enum MHD_Result dispatch(gw_req *q)
{
    char why[512];
    switch (q->route.kind) {
    case GW_NONE:
        return hub_error(q, 404, NULL, "not served by the modelgate gateway");
    case GW_HEALTH:
        return queue(q, 200, text_response("{\"status\":\"ok\"}", "application/json"));
    case GW_XET:
        return hub_error(q, 404, NULL, "Xet storage is not served through the modelgate gateway");
    default:
        break;
    }
    verdicts_policy_check(q->g->verdicts);
    if (denied(q, why, sizeof why)) {
        gw_verdict v = {.outcome = "BLOCKED"};
        snprintf(v.reason, sizeof v.reason, "%s", why);
        return refuse(q, NULL, &v);
    }
    switch (q->route.kind) {
    case GW_TREE:
        return proxy_api(q);
    case GW_PATHS_INFO:
        return q->cs->too_large ? hub_error(q, 413, NULL, "the request body is too large") : proxy_api(q);
    case GW_INFO:
        return handle_info(q);
    default:
        return handle_file(q);
    }
}

/* ---- the daemon ---- */

typedef struct qbuf {
    char *s;
    size_t len;
    int bad;
} qbuf;

/* Rebuilds the query string as the client sent it (arguments arrive
 * undecoded: see keep_escaped). */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    qbuf *b = cls;
    size_t need = strlen(key) + (value ? strlen(value) + 1 : 0) + 2;
    if (b->bad || b->len + need > 16384) {
        b->bad = 1;
        return MHD_NO;
    }
    char *n = realloc(b->s, b->len + need + 1);
    if (!n) {
        b->bad = 1;
        return MHD_NO;
    }
    b->s = n;
    int w =
        snprintf(b->s + b->len, need + 1, "%c%s%s%s", b->len ? '&' : '?', key, value ? "=" : "", value ? value : "");
    b->len += w > 0 ? (size_t)w : 0;
    return MHD_YES;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *uri)
{
    return strlen(uri);
}

static int header_ok(const char *v, size_t max)
{
    size_t n = 0;
    for (; v[n]; n++)
        if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e)
            return 0;
    return n < max;
}

static void client_addr(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "-");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    conn_state *cs = *state;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs)))
            return MHD_NO;
        *state = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cs->too_large || cs->len + n > GW_BODY_MAX) {
            cs->too_large = 1;
            return MHD_YES;
        }
        char *b = realloc(cs->body, cs->len + n + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + cs->len, upload, n);
        cs->body = b;
        cs->len += n;
        b[cs->len] = 0;
        return MHD_YES;
    }
    gw_req q = {.g = cls, .conn = c, .method = method, .path = url, .cs = cs};
    qbuf qb = {NULL, 0, 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &qb);
    q.query = qb.s ? qb.s : "";
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    gw_route_parse(method, url, &q.route);
    gw_caller_id(auth, q.caller);
    client_addr(c, q.client, sizeof q.client);
    enum MHD_Result rc;
    if (qb.bad || (auth && !header_ok(auth, GW_TOKEN_MAX))) {
        rc = hub_error(&q, 400, NULL, "the request's query or Authorization header is not acceptable");
    } else {
        if (auth && *auth) {
            snprintf(q.auth, sizeof q.auth, "Authorization: %s", auth);
            q.token = strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        }
        rc = dispatch(&q);
    }
    free(qb.s);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
    conn_state *cs = *state;
    if (cs) {
        free(cs->body);
        free(cs);
        *state = NULL;
    }
}

static void gw_free(gw *g)
{
    audit_free(g->audit); /* after the daemon: no request adds to it any more */
    blobs_free(g->blobs);
    verdicts_free(g->verdicts);
    pthread_mutex_lock(&g->mu);
    meta_clear_locked(g);
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_destroy(&g->mu);
    up_free(&g->up);
    free(g);
}

int gw_start(gw **out, const gw_config *cfg, const srv_ctx *ctx, char *err, size_t errlen)
{
    *out = NULL;
    srv_listen l = {.addr = cfg->addr, .port = cfg->port};
    struct sockaddr_storage sa;
    int v6 = 0;
    if (!http_make_addr(&l, &sa, &v6)) {
        snprintf(err, errlen, "not an IP address: %s", cfg->addr);
        return MG_EINVAL;
    }
    gw *g = calloc(1, sizeof *g);
    if (!g)
        return MG_ENOMEM;
    g->cfg = *cfg;
    g->ctx = ctx;
    pthread_mutex_init(&g->mu, NULL);
    snprintf(g->self, sizeof g->self, v6 ? "http://[%s]:%u" : "http://%s:%u", cfg->addr, (unsigned)cfg->port);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/blobs", cfg->data_dir);
    long timeout = ctx->src && ctx->src->timeout_s ? ctx->src->timeout_s : 30;
    if (up_init(&g->up, ctx->src && ctx->src->hub_endpoint ? ctx->src->hub_endpoint : "https://huggingface.co", timeout,
                err, errlen) != 0 ||
        verdicts_new(&g->verdicts, ctx) != 0 || audit_new(&g->audit, ctx->store) != 0 ||
        blobs_new(&g->blobs, dir, cfg->blob_cache_size, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        gw_free(g);
        return MG_EIO;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    g->daemon =
        MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)SRV_MAX_HEADERS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_TIMEOUT_S,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_THREAD_STACK_SIZE,
                         (size_t)THREAD_STACK, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!g->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u (address in use or not available)", cfg->addr,
                 (unsigned)cfg->port);
        gw_free(g);
        return MG_EIO;
    }
    *out = g;
    return MG_OK;
}

void gw_quiesce(gw *g)
{
    if (!g)
        return;
    MHD_socket fd = MHD_quiesce_daemon(g->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    blobs_abort(g->blobs);
}

void gw_stop(gw *g)
{
    if (!g)
        return;
    MHD_stop_daemon(g->daemon);
    gw_free(g);
}
