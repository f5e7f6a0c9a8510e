/*
 * server.h - the scanner service: an HTTP front (http.c, libmicrohttpd) that
 * turns requests into srv_request records, the REST API (api.c and one file
 * per resource) that answers them from the engine and the store, and the
 * scan worker pool with its bounded queue (pool.c, job.c).
 *
 * The split keeps HTTP mechanics (thread pool, size limits, connection
 * state, suspending a connection that waits for a scan) out of the handlers,
 * so the handlers can be tested and grown without touching libmicrohttpd,
 * and the library stays free of network and database code: everything here
 * lives in the command.
 */
#ifndef MG_SERVER_H
#define MG_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "modelgate.h"
#include "../sources/source.h"
#include "../store/store.h"

/* Defaults and limits of the service, in one place. */
enum {
    SRV_MAX_BODY = 1 << 20,     /* request body bytes: larger bodies get 413 */
    SRV_MAX_HEADERS = 64 << 10, /* per-connection memory for the request line and headers */
    SRV_TIMEOUT_S = 120,        /* idle connection timeout */
    SRV_LIST_DEFAULT = 50,      /* listings without ?limit */
    SRV_LIST_MAX = 1000,        /* largest ?limit accepted */
    SRV_WAIT_DEFAULT_S = 60,    /* ?wait=true without ?timeout: longest wait for the report */
    SRV_WAIT_MAX_S = 600,       /* largest ?timeout accepted */
    SRV_MAX_ATTEMPTS = 3,       /* a scan interrupted this often (crashes) is stored as ERROR */
    SRV_MAX_VERSIONS = 1000,    /* versions listed by GET /models/{uuid} */
    SRV_MAX_URI = 4096,         /* model_uri bytes */
    SRV_MAX_LABELS = 64,        /* labels per scan, key and value bytes below */
    SRV_MAX_LABEL_KEY = 128,
    SRV_MAX_LABEL_VALUE = 1024,
    SRV_WORKERS_MAX = 256,   /* --workers */
    SRV_QUEUE_MAX = 1000000, /* --queue */
    SRV_SESSION_S = 43200,   /* a dashboard session's life: 12 h (Max-Age of its cookie) */
};

typedef struct srv_policies srv_policies;   /* the current policy set (policies.c) */
typedef struct srv_pool srv_pool;           /* scan workers and their queue (pool.c) */
typedef struct srv_metrics srv_metrics;     /* counters for GET /metrics (metrics.c) */
typedef struct srv_job srv_job;             /* one accepted scan (job.c) */
typedef struct srv_ratelimit srv_ratelimit; /* per-token request budgets (ratelimit.c) */

/* What the handlers and workers need. The pointers outlive the server; the
 * engine is immutable and shared by every thread, the other objects lock
 * internally. */
typedef struct srv_ctx {
    mg_store *store;
    const mg_engine *engine;
    srv_policies *policies;
    srv_pool *pool;
    srv_metrics *metrics;
    char **roots; /* resolved (realpath) folders local scans may read */
    size_t nroots;
    const src_config *src;     /* remote sources: hub and S3 endpoints, credentials */
    const char *webhook_url;   /* POSTed when a re-evaluated verdict changes; NULL: none */
    struct srv_rescan *rescan; /* the re-evaluation thread; NULL offline */
    struct srv_watch *watch;   /* the watcher of changed models (watch.c); NULL when nothing is watched */
    srv_ratelimit *ratelimit;  /* per-token rate limits; NULL: none */
} srv_ctx;

/* One request as the handlers see it. `arg` looks up a query argument. */
typedef struct srv_request {
    const char *method;
    const char *path;          /* without the query string */
    const char *authorization; /* the header, or NULL */
    const char *cookie;        /* the Cookie header (a dashboard session), or NULL */
    const char *csrf_token;    /* the X-CSRF-Token header, or NULL */
    const char *origin;        /* the Origin header, or NULL */
    const char *host;          /* the Host header, or NULL */
    const char *body;          /* NUL-terminated, may be "" */
    size_t body_len;
    const char *(*arg)(const struct srv_request *req, const char *key);
    void *conn;                  /* for `arg` */
    const struct srv_auth *auth; /* who calls (api.h): set by api_handle before a handler runs */
} srv_request;

/* The answer: a status and a malloc'd body (NULL: no body). A handler that
 * waits for a scan sets `job` instead: the HTTP layer parks the connection
 * until the scan is done or `wait_s` seconds pass, then asks api_answer_job
 * for the answer. */
typedef struct srv_response {
    unsigned status;
    char *body;
    const unsigned char *static_body; /* instead of body: bytes that outlive the server (the dashboard's files) */
    size_t static_len;
    const char *content_type; /* NULL: application/json */
    unsigned retry_after;     /* seconds for a Retry-After header; 0: none */
    char set_cookie[160];     /* a Set-Cookie header value; "": none */
    char disposition[96];     /* a Content-Disposition header value; "": none */
    srv_job *job;             /* a reference the HTTP layer hands back to api_answer_job */
    unsigned wait_s;
} srv_response;

/* Answers one request; never fails (an internal error is a 500 response). */
void api_handle(const srv_ctx *ctx, const srv_request *req, srv_response *resp);
/* Answers a request that waited for `job` (finished or not) and drops the
 * job reference the response held. */
void api_answer_job(const srv_ctx *ctx, srv_job *job, srv_response *resp);
/* A {"error": message} body (malloc'd), or NULL when out of memory. */
char *api_error_body(const char *message);

/* ---- HTTP ---- */

typedef struct srv_http srv_http;
typedef struct srv_listen {
    const char *addr; /* IPv4 or IPv6 literal */
    uint16_t port;
    unsigned threads; /* HTTP worker threads */
} srv_listen;

/* Starts serving on a thread pool; returns at once. On failure `err` says why. */
int http_start(srv_http **out, const srv_listen *listen, const srv_ctx *ctx, char *err, size_t errlen);
/* Stops accepting new connections; requests in flight go on. */
void http_quiesce(srv_http *h);
/* Waits (a few seconds at most) for parked requests to be answered, closes
 * every connection, frees the server. */
void http_stop(srv_http *h);

/* ---- the scan pool ---- */

/* Starts `workers` scan threads over a queue of at most `capacity` waiting
 * scans. `ctx` is borrowed for the pool's life (ctx->pool is set by the
 * caller). On a store with a shared queue (store_has_queue: PostgreSQL) the
 * queue is the database's, the workers claim scans any process queued, and
 * `workers` may be 0 (serve --role api). */
int pool_new(srv_pool **out, const srv_ctx *ctx, unsigned workers, unsigned capacity);
/* Re-queues every scan the store holds as PENDING or RUNNING (a previous
 * process stopped or died before finishing them); a scan that was already
 * interrupted SRV_MAX_ATTEMPTS times, or that can no longer run, is stored as
 * ERROR. The counts go to `requeued` and `failed`. Nothing on a shared
 * queue: leases hand a dead worker's scans to another. */
int pool_recover(srv_pool *p, size_t *requeued, size_t *failed);
/* Stops taking scans, lets the running ones finish, answers every waiting
 * request (202) and joins the workers. Queued scans stay PENDING in the
 * store and run after the next start. */
void pool_stop(srv_pool *p);
void pool_free(srv_pool *p);

/* ---- policies and metrics ---- */

/* The service's policy set: the newest one stored, else the defaults.
 * Takes ownership of nothing; reads the store. */
int policies_new(srv_policies **out, mg_store *st, char *err, size_t errlen);
void policies_free(srv_policies *ps);
/* Puts the newest stored set in force when another process (a `serve`
 * next to a `modelgate gateway` on the same store) stored one: 1 when it
 * changed, 0 when not, -1 when the store could not be read. */
int policies_reload(srv_policies *ps);
/* Digest and version of the current set, for the start-up line. */
void policies_describe(srv_policies *ps, char *out, size_t n);

int metrics_new(srv_metrics **out);
void metrics_free(srv_metrics *m);
/* A stored model version's verdict changed (re-evaluation after a rules or
 * policy change): counted in modelgate_verdict_changes_total. */
void metrics_verdict_changed(srv_metrics *m);
/* The watcher queued a scan of a watched model (modelgate_watch_rescans_total). */
void metrics_watch_rescan(srv_metrics *m);

/* The per-token rate limits: `rate` requests per second with bursts of
 * `burst` (0: as many as `rate`). *out stays NULL when rate is 0 (no
 * limit); NULL is fine for ratelimit_free. */
int ratelimit_new(srv_ratelimit **out, unsigned rate, unsigned burst);
void ratelimit_free(srv_ratelimit *rl);

/* ---- re-evaluation after a rules or policy change (rescan.c) ---- */

typedef struct srv_rescan srv_rescan;
/* Starts the thread that re-scans, through the pool's background queue,
 * every model whose newest scan was judged with other rules or another
 * policy than those in force; it looks once at start and again after each
 * rescan_request. */
int rescan_start(srv_rescan **out, const srv_ctx *ctx);
/* The policy in force changed: look again. */
void rescan_request(srv_rescan *r);
/* Stops the thread (call before pool_stop) and frees it. */
void rescan_stop(srv_rescan *r);

/* ---- watched models (watch.c) ---- */

typedef struct srv_watch srv_watch;
/* Checks each of `uris` like a scan's model_uri, and only a local folder or
 * file under a root, or an s3:// prefix, may be watched; -1 with `err`
 * naming the first bad URI. *out stays NULL when n is 0. Nothing runs
 * before watch_start (NULL is fine). `ctx` and its pool are borrowed for
 * the watcher's life. */
int watch_new(srv_watch **out, const srv_ctx *ctx, char *const *uris, size_t n, unsigned interval_s, char *err,
              size_t errlen);
/* Starts the thread that lists every watched model each interval and
 * queues a scan of one whose listing changed, on the pool's background
 * queue (so a changed verdict is reported as re-evaluations are). */
int watch_start(srv_watch *w);
/* Stops the thread (call before pool_stop) and frees the watcher; NULL is
 * fine. A scan it queued stays PENDING in the store if not yet run. */
void watch_free(srv_watch *w);

/* `modelgate rescan`: the same re-evaluation, in this thread, without a
 * pool. `changed` is called for each model whose verdict changed. Returns 0
 * or a STORE_* error; `nscanned` gets the number of models re-scanned. */
typedef void (*rescan_changed_fn)(void *arg, const srv_job *job);
int rescan_offline(const srv_ctx *ctx, rescan_changed_fn changed, void *arg, size_t *nscanned);
/* The model URI, verdicts and scan of a re-evaluation, for printing. */
void rescan_describe(const srv_job *job, const char **model_uri, const char **prev, const char **cur);

#endif
