/*
 * api.h - what the service's files share inside src/server: response
 * helpers, who calls (bearer tokens in api.c, dashboard sessions in
 * session.c), the dashboard's files (assets.c), the handlers of each
 * resource (scans.c, models.c, policies.c, metrics.c, decisions.c,
 * overview.c), model URI checks (uri.c), accepted scans
 * (job.c) and their queue (pool.c), the policy set in force and the
 * counters.
 */
#ifndef MG_SERVER_API_H
#define MG_SERVER_API_H

#include <jansson.h>
#include <stdatomic.h>

#include "server.h"

/* ---- HTTP (http.c) ---- */

struct sockaddr_storage;
/* Fills `sa` from l->addr (an IPv4 or IPv6 literal) and l->port; returns
 * its length, 0 when the address is not a literal. Also the gateway's. */
unsigned http_make_addr(const srv_listen *l, struct sockaddr_storage *sa, int *v6);

/* ---- who calls (api.c, session.c) ---- */

/* The caller of a request that passed authentication. */
typedef struct srv_auth {
    store_role role;
    int session;     /* 1: a dashboard session cookie; 0: a bearer token (or no token needed) */
    char caller[32]; /* "token:" + the first 12 hex digits of the token's SHA-256; "" without a token */
    char csrf[65];   /* a session's CSRF token and expiry */
    char expires_at[40];
} srv_auth;

/* Authenticates by the session cookie (session.c) when the request has no
 * Authorization header: fills `auth`, or answers 401 (and clears a dead
 * cookie) and returns ROLE_NONE. */
store_role session_authenticate(const srv_ctx *ctx, const srv_request *req, srv_auth *auth, srv_response *resp);
/* A session's state-changing request (POST, PUT, PATCH, DELETE) must repeat
 * its CSRF token and come from the service's own origin: 0, or -1 after
 * answering 403. */
int session_check_request(const srv_request *req, const srv_auth *auth, srv_response *resp);
/* An Origin header, when present, names this service (http or https and the
 * Host header): 1, else 0. */
int session_origin_ok(const srv_request *req);
/* `author` of a stored policy: "token:<12 hex> (<role>)". */
void session_author(const srv_auth *auth, char out[64]);

/* ---- the dashboard's files (assets.c) ---- */

/* Answers GET / and GET /ui/<path> from the files compiled in from web/;
 * returns 0 when `path` is neither (the API answers it). */
int assets_handle(const srv_request *req, srv_response *resp);

/* ---- responses (api.c) ---- */

/* Answers `status` with doc (consumed; NULL: no body). */
void respond(srv_response *resp, unsigned status, json_t *doc);
/* Answers `status` with {"error": message}. */
void fail(srv_response *resp, unsigned status, const char *message);
/* The request body as JSON (duplicate keys refused); NULL after answering
 * 400 "invalid JSON at line L, column C: ...". */
json_t *parse_json_body(const srv_request *req, srv_response *resp);
/* A canonical lowercase or uppercase 8-4-4-4-12 uuid. */
int is_uuid(const char *s);

/* A handler: `param` is the path's {uuid} segment, or NULL. */
typedef void (*api_handler)(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);

void scans_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void scans_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void scans_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void models_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void models_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void policies_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void policies_put(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void threats_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void tokens_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void metrics_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void decisions_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void scans_report(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void policies_versions(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void session_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void session_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void session_delete(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);
void overview_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp);

/* ---- listings (page.c): ?limit and the opaque ?cursor ---- */

typedef struct page_req {
    int limit;
    char created_at[40]; /* from the cursor, "" when none */
    char uuid[37];
} page_req;

/* Reads ?limit and ?cursor; answers 400 and returns -1 when either is bad. */
int page_parse(const srv_request *req, page_req *pg, srv_response *resp);
/* Reads ?limit alone (1..SRV_LIST_MAX, default SRV_LIST_DEFAULT), for a
 * listing with a cursor of its own; -1 after answering 400. */
int page_limit(const srv_request *req, int *limit, srv_response *resp);
/* The cursor that continues after (created_at, uuid), as a JSON string. */
json_t *page_cursor(const char *created_at, const char *uuid);

/* One page of a keyset listing as its rows arrive from the store. */
typedef struct page_acc {
    json_t *arr;
    int limit, more;
    char last_created[40], last_uuid[37];
} page_acc;
/* Starts an empty page and sets f's keyset and limit: one row more than
 * the page holds, so the extra row says whether a next page exists. -1
 * when out of memory. */
int page_start(const page_req *pg, store_filter *f, page_acc *a);
/* A store row callback's first step: 1 when the page is full (the row is
 * the extra one: a next page exists; do not add it). */
int page_full(page_acc *a);
/* Appends o (consumed; NULL: out of memory) as the row at (created_at,
 * uuid): 0 or MG_ENOMEM, to return from the row callback. */
int page_add(page_acc *a, json_t *o, const char *created_at, const char *uuid);
/* Answers the page as {key: [...], "next_cursor": ...}, or 500 when the
 * store's walk failed (store_rc != STORE_OK); frees what it must. */
void page_respond(srv_response *resp, const char *key, page_acc *a, int store_rc);
/* ?since: an RFC 3339 time into the stored form (UTC, microseconds, in
 * out); -1 when it is not one (scans.c). */
int since_parse(const char *s, char out[40]);

/* ---- model URIs (uri.c) ---- */

/* Checks a model URI before a scan is accepted. A local path or file:// URI
 * is resolved (realpath) and must be under a root: *path gets the resolved
 * path (malloc'd). A remote URI (s3://, hf://, https://<hub host>/) is
 * checked for shape only: *path stays NULL. Returns 0, or the HTTP status
 * to answer (400 malformed/unsupported, 403 outside the roots, 500) with
 * `why` set. */
unsigned uri_check(const srv_ctx *ctx, const char *uri, char **path, const char **why);

/* ---- accepted scans (job.c) ---- */

struct srv_job {
    atomic_int refs;
    char uuid[37];
    char created_at[40];
    char *model_uri, *license, *labels; /* labels: JSON object text or NULL */
    char *path;                         /* resolved local path, NULL: remote or to resolve again */
    char *hub_token;     /* the gateway's caller token for this hub scan (never stored), NULL: the configured one */
    char queue_key[160]; /* rules version, policy digest, license + labels: what a duplicate shares (job_store) */
    /* the outcome, written by the worker before the pool marks it done */
    char *report; /* the stored report document, NULL when it could not be stored */
    int src_rc;   /* SRC_* of a remote source (SRC_OK otherwise) */
    char err[256];
    char outcome[16];    /* ALLOWED, BLOCKED or ERROR once stored */
    char model_uuid[37]; /* once stored */
    /* a re-evaluation (rescan.c): the model's verdict before it, "" for a
     * scan someone asked for */
    char prev_outcome[16];
    /* pool.c state, under the pool's lock */
    int done;
    int claimed;    /* a worker of this process holds the scan's lease (shared queue) */
    int background; /* queued by pool_push_background */
    void (*notify)(void *arg);
    void *notify_arg;
    double deadline;
    srv_job *next;          /* queue */
    srv_job *wprev, *wnext; /* requests waiting for a scan */
};

/* A new job with one reference; NULL when out of memory. */
srv_job *job_new(const char *uuid, const char *created_at, const char *model_uri, const char *license,
                 const char *labels, const char *path);
srv_job *job_ref(srv_job *job);
void job_unref(srv_job *job);
/* Stores a new job's scan as PENDING, with its queue key (the rules
 * version, the digest of the policy in force and the caller's license: a
 * duplicate in flight joins it only when all three match) and, when it
 * carries a gateway caller's token on a shared queue, this process as the
 * one to run it first. Returns the store's code. */
int job_store(const srv_ctx *ctx, srv_job *job);
/* Puts in force a policy another process stored (logged); see
 * policies_reload. */
void policy_refresh(const srv_ctx *ctx);
/* Runs a job's scan (local or remote), judges it with the policy in force
 * and stores the report; fills report/src_rc/err. */
void job_run(const srv_ctx *ctx, srv_job *job);
/* Stores an ERROR report saying `message` for a job that cannot run. */
int job_fail(const srv_ctx *ctx, srv_job *job, const char *message);

/* ---- re-evaluation (rescan.c) ---- */

/* Reports a re-evaluated model when its verdict changed (job->prev_outcome
 * to job->outcome; nothing otherwise): a line on stderr, the counter, and a
 * POST to the webhook when one is configured (errors logged, never fatal). */
void verdict_changed(const srv_ctx *ctx, const srv_job *job);

/* Queues a re-evaluation behind every user scan: workers take one only
 * when no user scan waits. Returns -1 (nothing queued) while as many
 * re-evaluations as there are workers already wait, or the pool stops:
 * the caller retries later, so re-evaluations trickle in and never fill
 * the queue user scans need. The pool takes a reference. */
int pool_push_background(srv_pool *p, srv_job *job);
/* 1 once pool_stop was called. */
int pool_stopping(srv_pool *p);

/* ---- the queue (pool.c) ---- */

/* Reserves a place in the queue: 0, or -1 when full (429), -2 when the
 * pool is stopping (503). A reservation is used by pool_add or returned
 * by pool_unreserve. */
int pool_reserve(srv_pool *p);
void pool_unreserve(srv_pool *p);
/* On a reserved place: stores the job's scan as PENDING (job_store) and
 * queues it; the pool takes a reference. On a store error the place is
 * given back and the store's code returned. */
int pool_add(srv_pool *p, srv_job *job);
/* Calls fn(arg) exactly once, from some thread (perhaps this one, at once):
 * when the job is done or after wait_s seconds, whichever comes first. */
void pool_wait(srv_pool *p, srv_job *job, unsigned wait_s, void (*fn)(void *), void *arg);
/* 1 when the job is done (its result fields are then final). */
int pool_job_done(srv_pool *p, srv_job *job);
/* The lease owner this pool's workers claim shared scans as; NULL when the
 * queue is not shared. */
const char *pool_owner(srv_pool *p);
/* Queue depth and capacity and this process's running scans, for
 * metrics; with q, also the store's own figures (store_queue_stats: the
 * oldest waiting scan, scans running anywhere), or these when the store
 * cannot say. A Retry-After estimate. */
void pool_stats(srv_pool *p, size_t *depth, size_t *capacity, size_t *running, store_queue_info *q);
unsigned pool_retry_after(srv_pool *p);

/* ---- the policy set in force (policies.c) ---- */

typedef struct policy_ref policy_ref;
/* A counted reference to the current set: it stays valid (and unchanged)
 * until released, even if an admin replaces the set meanwhile. */
const policy_ref *policies_acquire(srv_policies *ps);
void policies_release(srv_policies *ps, const policy_ref *ref);
const mg_policy *policy_of(const policy_ref *ref);
/* The set's stored version (0: the built-in defaults). */
int policy_version_of(const policy_ref *ref);

/* ---- rate limits (ratelimit.c) ---- */

/* Takes one request from the caller's bucket: 0 when it may go on, else
 * the seconds (rounded up) until it may. Always 0 without limits (rl NULL)
 * or without a caller (""). */
unsigned ratelimit_take(srv_ratelimit *rl, const char *caller);

/* ---- counters (metrics.c) ---- */

/* A request answered 429 by the rate limits (modelgate_rate_limited_total). */
void metrics_rate_limited(srv_metrics *m);
void metrics_scan(srv_metrics *m, const char *outcome, double seconds, uint64_t bytes_read);
void metrics_http(srv_metrics *m, unsigned status);

#endif
