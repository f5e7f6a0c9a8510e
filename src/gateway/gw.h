/*
 * gw.h - what the gateway's files share: request routes (route.c), calls
 * to the upstream hub (upstream.c), verdicts per repo commit (verdicts.c),
 * the content-addressed blob cache (blobs.c) and the HTTP front that ties
 * them together (gateway.c).
 */
#ifndef MG_GATEWAY_GW_H
#define MG_GATEWAY_GW_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/lex.h"
#include "../sources/net.h"
#include "gateway.h"

enum {
    GW_NAME_MAX = LEX_HUB_NAME_MAX,
    GW_REV_MAX = 255,      /* a branch, tag or sha */
    GW_PATH_MAX = 4096,    /* a file path in a repo */
    GW_TOKEN_MAX = 4096,   /* an Authorization header */
    GW_BODY_MAX = 1 << 20, /* a paths-info request body */
    GW_API_MAX = 32 << 20, /* an upstream API answer (tree pages of big repos are ~300 KB) */
    GW_WAIT_S = 120,       /* longest a request waits for a scan (clients retry after that) */
    GW_COMMIT_TTL_S = 300, /* a request by commit sha: how long its access check is reused */
    GW_MAX_HOPS = 3,       /* redirects followed to the LFS CDN */
};

/* ---- routes (route.c): pure functions of the request, fuzzed ---- */

typedef enum gw_kind {
    GW_NONE = 0,   /* not something the gateway serves: 404 */
    GW_HEALTH,     /* GET /healthz */
    GW_INFO,       /* GET /api/{type}s/{repo}[/revision/{rev}] */
    GW_TREE,       /* GET /api/{type}s/{repo}/tree/{rev}[/{path}] */
    GW_PATHS_INFO, /* POST /api/{type}s/{repo}/paths-info/{rev} */
    GW_XET,        /* /api/.../xet-read-token/...: refused, content goes through the gateway */
    GW_RESOLVE,    /* HEAD|GET /[{type}s/]{repo}/resolve/{rev}/{file} */
    GW_RAW,        /* GET /[{type}s/]{repo}/raw/{rev}/{file} */
} gw_kind;

typedef enum gw_type { GW_MODEL = 0, GW_DATASET = 1, GW_SPACE = 2 } gw_type;

typedef struct gw_route {
    gw_kind kind;
    gw_type type;
    char ns[GW_NAME_MAX + 1]; /* "" for a legacy one-segment id */
    char name[GW_NAME_MAX + 1];
    char repo[2 * GW_NAME_MAX + 2]; /* "ns/name" or "name" */
    char rev[GW_REV_MAX + 1];       /* decoded; "" when the request names none */
    char file[GW_PATH_MAX + 1];     /* decoded file path (resolve, raw) */
} gw_route;

/* Parses a request path as the client sent it (still percent-encoded).
 * Anything malformed (bad names, "..", control bytes) is GW_NONE. */
void gw_route_parse(const char *method, const char *path, gw_route *r);
const char *gw_type_name(gw_type t);   /* "model", "dataset", "space" */
const char *gw_type_api(gw_type t);    /* "models", "datasets", "spaces" */
const char *gw_type_prefix(gw_type t); /* "", "datasets/", "spaces/" */
/* 1 when s is 40 lowercase hex digits (a commit sha). */
int gw_is_commit(const char *s);

/* A Range header against a file of `size` bytes: 0 with [off, off+len) to
 * serve as 206; 1 to serve the whole file (no header, or one we do not
 * serve partially, such as several ranges); -1 unsatisfiable (416). */
int gw_range_parse(const char *hdr, uint64_t size, uint64_t *off, uint64_t *len);
/* Who asked, for the audit trail: "anonymous" or "token:" + 12 hex of the
 * SHA-256 of the bearer token (the token itself is never stored). */
void gw_caller_id(const char *authorization, char out[32]);
/* Percent-encodes s for a URL path (keep_slash: '/' stays); malloc'd. */
char *gw_pct(const char *s, int keep_slash);
/* A header value safe to send: printable ASCII, no CR/LF, at most max-1
 * bytes (longer text ends with "..."). */
void gw_header_text(const char *in, char *out, size_t max);

/* ---- upstream (upstream.c) ---- */

typedef struct gw_upstream {
    char *base; /* the hub endpoint without trailing '/' */
    long timeout_s;
} gw_upstream;

int up_init(gw_upstream *u, const char *endpoint, long timeout_s, char *err, size_t errlen);
void up_free(gw_upstream *u);
/* An API call (GET, or POST with a body of `ctype`) to base + path_query,
 * redirects not followed. `auth` is a whole header line or NULL. */
int up_api(const gw_upstream *u, const char *method, const char *path_query, const char *ctype, const char *body,
           size_t len, const char *auth, net_response *rs, char *err, size_t errlen);
/* HEAD of a file at `rev`, redirects not followed: its commit, size and
 * digests come from the headers (X-Repo-Commit, ETag, X-Linked-*). */
int up_head(const gw_upstream *u, const gw_route *r, const char *rev, const char *auth, net_response *rs, char *err,
            size_t errlen);
/* GET of a whole file at `commit` into fd, following the LFS redirect
 * (the token stays on the hub's origin); on_data sees every chunk. */
int up_fetch(const gw_upstream *u, gw_type type, const char *repo, const char *commit, const char *file,
             const char *auth, int fd, int (*on_data)(void *, const char *, size_t), void *arg,
             const volatile int *cancel, net_response *rs, char *err, size_t errlen);

/* ---- verdicts (verdicts.c) ---- */

typedef struct gw_verdicts gw_verdicts;

typedef struct gw_verdict {
    char outcome[16]; /* ALLOWED, BLOCKED, ERROR; "" when the wait ran out (scan still running) */
    char scan_uuid[37];
    char *report; /* the stored report document (malloc'd), NULL when none */
    char reason[512];
} gw_verdict;

int verdicts_new(gw_verdicts **out, const srv_ctx *ctx);
void verdicts_free(gw_verdicts *v);
/* The verdict on repo `r` at `commit` under the rules and policy in force:
 * from memory, else from the store, else from a scan (one per key however
 * many ask: the others wait for it). Waits at most wait_s seconds; a scan
 * goes on after that. `token` reads a private repo (never stored). */
void verdicts_get(gw_verdicts *v, const gw_route *r, const char *commit, const char *token, unsigned wait_s,
                  gw_verdict *out);
void verdict_clear(gw_verdict *out);
/* Puts in force a policy another process stored (checked every few
 * seconds at most; cheap otherwise). */
void verdicts_policy_check(gw_verdicts *v);

/* ---- the audit trail (audit.c) ---- */

typedef struct gw_audit gw_audit;
int audit_new(gw_audit **out, mg_store *st);
/* Queues a copy of d for the store (written within milliseconds); waits
 * only when thousands are already queued. */
void audit_add(gw_audit *a, const store_decision *d);
/* Writes what is queued, stops the writer, frees. NULL is fine. */
void audit_free(gw_audit *a);

/* ---- blob cache (blobs.c) ---- */

typedef struct gw_blobs gw_blobs;
typedef struct blob_fill blob_fill;

/* Where a blob's bytes come from when it is not on disk. */
typedef struct blob_origin {
    const gw_upstream *up;
    gw_type type;
    const char *repo, *commit, *file, *auth;
} blob_origin;

int blobs_new(gw_blobs **out, const char *dir, uint64_t max_bytes, char *err, size_t errlen);
/* Aborts running fills (their readers get an error); returns at once. */
void blobs_abort(gw_blobs *b);
/* Aborts running fills, waits for them, frees the cache. */
void blobs_free(gw_blobs *b);
/* Opens the blob whose digest is `key` ("sha256-<64 hex>" or "git-<40 hex>",
 * the latter the git blob id) and size `size`: a verified file on disk
 * (*fd, the caller closes it) or a fill in progress (*fill, joined or started;
 * blob_fill_release it). -1 with `err` when neither can be had. */
int blobs_open(gw_blobs *b, const char *key, uint64_t size, const blob_origin *o, int *fd, blob_fill **fill, char *err,
               size_t errlen);
/* Reads up to n bytes at pos of a fill, waiting for them to arrive (with
 * verified_only, for the whole fill to be verified): the count, 0 at the
 * end, -1 when the fill failed (download error or digest mismatch: the
 * client's transfer is aborted). The file's last byte is only ever handed
 * out once the digest matched. */
ssize_t blob_fill_read(blob_fill *f, uint64_t pos, char *buf, size_t n, int verified_only);
void blob_fill_release(blob_fill *f);
/* Counters for the benchmark and the logs. */
void blobs_stats(gw_blobs *b, uint64_t *bytes, size_t *count);

#endif
