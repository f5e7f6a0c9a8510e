/*
 * store.h - where the service keeps what must survive a restart: API tokens
 * (hashed), scans from the moment they are accepted (PENDING) to their full
 * report document (report.md), the models and versions they belong to,
 * every policy set an admin stored (and who stored it), and the dashboard's
 * sessions (hashed, like tokens).
 *
 * The interface is deliberately small and speaks only C strings and plain
 * records, so each backend implements the same functions in its own files
 * without touching the server: SQLite (sqlite*.c, the embedded default) and
 * PostgreSQL (pg*.c, for scale-out). store.c picks one by the location and
 * forwards every call to it. Both apply the same numbered migrations
 * (schema.c) on open.
 *
 * A store handle is shared by every HTTP and scan worker thread; every
 * function is safe to call concurrently. Functions return 0 or a negative
 * code. Row callbacks run while the store is held: they must not call back
 * into the store.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stddef.h>

#include "modelgate.h"

enum {
    STORE_OK = 0,
    STORE_ENOMEM = MG_ENOMEM,
    STORE_EIO = MG_EIO,    /* the data directory could not be created or opened */
    STORE_ENOTFOUND = -20, /* no such token, scan, model or policy */
    STORE_EDB = -21,       /* the database refused or is unreachable (corrupt, locked too long, full disk, down) */
    STORE_ESCHEMA = -22,   /* the database was written by a newer modelgate */
    STORE_ENOTSUP = -23,   /* the backend has no such feature (SQLite: the shared job queue) */
};

typedef struct mg_store mg_store;

/* Opens the store at `location` and applies every pending migration: a
 * libpq URL starting postgresql:// or postgres:// opens that PostgreSQL
 * database (which must exist); anything else is a directory, created if
 * needed, holding the SQLite file DIR/modelgate.db. On failure `err` says
 * why. */
int store_open(mg_store **out, const char *location, char *err, size_t errlen);
void store_close(mg_store *st);
/* The highest migration applied (for diagnostics and tests). */
int store_schema_version(mg_store *st, int *out);
/* Where the store is, for a log line, without any password: "SQLite
 * DIR/modelgate.db" or "PostgreSQL database DB on HOST:PORT as USER". */
int store_describe(mg_store *st, char *out, size_t n);

/* ---- tokens ---- */

/* Token roles, from most to least powerful. */
typedef enum store_role { ROLE_NONE = 0, ROLE_READER = 1, ROLE_SCANNER = 2, ROLE_ADMIN = 3 } store_role;
/* "admin", "scanner", "reader"; parse returns ROLE_NONE when unknown. */
const char *store_role_name(store_role role);
store_role store_role_parse(const char *name);

/* Number of tokens of any role (the service creates an admin token when 0). */
int store_token_count(mg_store *st, long *out);
/* Creates a random token of `role`; only its SHA-256 is stored. The token
 * text (NUL-terminated, "mg_" + 64 hex) is written to `out`. */
enum { STORE_TOKEN_LEN = 67 };
int store_token_create(mg_store *st, store_role role, char out[STORE_TOKEN_LEN + 1]);
/* The role of a presented token; STORE_ENOTFOUND when it is unknown. */
int store_token_lookup(mg_store *st, const char *token, store_role *role);

/* ---- scans ---- */

/* Where a scan is in its life: accepted and queued, taken by a worker, or
 * finished with a stored report. */
typedef enum store_state { SCAN_PENDING = 0, SCAN_RUNNING = 1, SCAN_DONE = 2 } store_state;

/* One scan as stored. Every field is borrowed for the duration of the call.
 * Until the scan is DONE, eval_outcome is "PENDING", the identity fields are
 * "" and report is NULL. */
typedef struct store_scan {
    const char *uuid;
    const char *model_uri;
    const char *model_uuid; /* "" until done */
    const char *model_version_uuid;
    const char *revision;
    const char *namespace_; /* identity of the model, for the models table */
    const char *model_name;
    const char *eval_outcome;
    const char *license;    /* as the caller gave it, or NULL */
    const char *labels;     /* the caller's labels as a JSON object text, or NULL */
    const char *created_at; /* RFC 3339 UTC with microseconds: sorts as text */
    const char *report;     /* the report document, exactly as mg_report_json wrote it */
    store_state state;
    int attempts; /* times a worker started it */
    /* store_scan_add only: */
    const char *queue_key; /* what an in-flight scan must share for a new one to join it (an index key: short) */
    const char *affinity;  /* the lease owner that should run it first (store_queue_claim), or NULL */
    int join_waiting;      /* add nothing when a scan of this URI and queue key waits (store_scan_joined) */
    /* store_queue_claim only: the newest stored policy version (0: none), so
     * that a worker knows without asking again whether its set is current */
    int policy_version;
} store_scan;

typedef int (*store_scan_fn)(void *ctx, const store_scan *row);

/* Records an accepted scan as PENDING (uuid, model_uri, license, labels,
 * created_at are used). */
int store_scan_add(mg_store *st, const store_scan *scan);
/* Marks a scan RUNNING and counts the attempt; `attempts` gets the count. */
int store_scan_start(mg_store *st, const char *uuid, int *attempts);
/* Stores a finished scan (completing its PENDING/RUNNING row, or creating
 * it) and creates or touches its model, in one transaction. */
int store_scan_put(mg_store *st, const store_scan *scan);
/* Calls `fn` once with scan `uuid`, report included; STORE_ENOTFOUND when
 * there is none. */
int store_scan_get(mg_store *st, const char *uuid, store_scan_fn fn, void *ctx);
/* Every scan that is not DONE, oldest first (reports are NULL). */
int store_scan_unfinished(mg_store *st, store_scan_fn fn, void *ctx);
/* Marks every RUNNING scan PENDING again (their worker died with the last
 * process); the attempt counts stay. */
int store_scan_requeue(mg_store *st);

/* ---- the shared job queue (PostgreSQL only; SQLite answers STORE_ENOTSUP
 * and the service queues scans in its own memory, pool.c) ---- */

/* 1 when scans are queued in the database, for every process on it. */
int store_has_queue(mg_store *st);
/* Claims the oldest scan that is PENDING, or RUNNING with a lease that
 * ran out (its worker died): marks it RUNNING, counts the attempt, and
 * leases it to `owner` for `lease_s` seconds; fn gets the row (no report).
 * A scan added with an affinity is left to that owner for
 * STORE_AFFINITY_S seconds (it holds what the scan needs and the store
 * does not keep: a gateway caller's hub token), then anyone takes it.
 * Concurrent claimers never get the same scan (FOR UPDATE SKIP LOCKED).
 * STORE_ENOTFOUND when nothing waits. */
enum { STORE_AFFINITY_S = 30 };
int store_queue_claim(mg_store *st, const char *owner, int lease_s, store_scan_fn fn, void *ctx);
/* Extends the lease of `owner` on scan `uuid` by `lease_s` seconds from
 * now; STORE_ENOTFOUND when the scan is done or the lease is no longer
 * owner's. */
int store_queue_renew(mg_store *st, const char *uuid, const char *owner, int lease_s);
/* The scan a just-added scan `uuid` became: store_scan_add adds nothing,
 * and joins the scan there, when under the same queue key a hub model at
 * that commit (hf://NS/NAME@SHA) is queued or running anywhere in the
 * cluster, or (join_waiting) any model URI is queued and not yet started. `out` gets `uuid` itself, or the uuid of the
 * scan it joined (or, when that one finished meanwhile, of the newest scan of model_uri under that key). */
int store_scan_joined(mg_store *st, const char *uuid, const char *model_uri, const char *queue_key, char out[37]);
/* The queue as the store sees it, for every process on it: scans waiting
 * for a worker, scans running, and the created_at of the oldest waiting
 * one ("" when none waits). */
typedef struct store_queue_info {
    long waiting, running;
    char oldest[40];
} store_queue_info;
int store_queue_stats(mg_store *st, store_queue_info *out);
/* Which of the scans `uuids` (n of them, each a uuid as this store makes
 * them) are DONE: fn(ctx, uuid) once for each, in no order. One statement
 * whatever n, so a process waiting for many scans run elsewhere asks once
 * per look, not once per scan. */
int store_queue_done(mg_store *st, const char *const *uuids, size_t n, int (*fn)(void *ctx, const char *uuid),
                     void *ctx);
/* Wakes the workers of every process (NOTIFY): a scan was queued. */
int store_queue_notify(mg_store *st);
/* Waits up to `ms` milliseconds for a store_queue_notify of any process
 * (LISTEN on a connection of its own); 0 woken or timed out, STORE_EDB when
 * the database cannot be reached (the caller polls on). Call it from one
 * thread at a time. */
int store_queue_wait(mg_store *st, int ms);

/* A page of a listing: newest first by (created_at, uuid). Every field is
 * optional (NULL: no condition). `after_*` is the keyset position of the
 * last row of the previous page; rows strictly older are returned. */
typedef struct store_filter {
    const char *model_uuid;       /* scans of this model */
    const char *ns, *name;        /* scans of models with this namespace/name */
    const char *outcome;          /* ALLOWED, BLOCKED, ERROR or PENDING */
    const char *since;            /* created_at >= since (normalised RFC 3339) */
    const char *after_created_at; /* keyset cursor */
    const char *after_uuid;
    int limit; /* rows at most */
} store_filter;

/* Scans matching `f`, newest first (reports are NULL in the rows). A
 * non-zero return from fn stops the walk and is returned. */
int store_scan_list(mg_store *st, const store_filter *f, store_scan_fn fn, void *ctx);

/* Calls `fn` once with the newest ALLOWED scan (report included) of model
 * `model_uuid`, of its version `model_version_uuid` when that is not NULL;
 * STORE_ENOTFOUND when there is none. */
int store_scan_last_allowed(mg_store *st, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                            void *ctx);

/* ---- models and their versions ---- */

typedef struct store_model {
    const char *uuid, *model_uri, *namespace_, *model_name, *created_at, *updated_at;
} store_model;

/* One version of a model (a revision or content digest) with its newest scan. */
typedef struct store_version {
    const char *model_version_uuid, *revision;
    const char *scan_uuid, *eval_outcome, *created_at;
} store_version;

typedef int (*store_model_fn)(void *ctx, const store_model *row);
typedef int (*store_version_fn)(void *ctx, const store_version *row);

/* Models newest first by (created_at, uuid); only the keyset and limit
 * fields of `f` are used. */
int store_model_list(mg_store *st, const store_filter *f, store_model_fn fn, void *ctx);
/* Model `uuid` (mfn once), then its versions newest first (vfn each, at
 * most `max_versions`); STORE_ENOTFOUND when there is no such model. */
int store_model_get(mg_store *st, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                    void *ctx);

/* The newest finished scan of a model, with what judged it (read from its
 * report): for re-evaluation after a rules or policy change. */
typedef struct store_latest {
    const char *model_uuid, *model_uri, *scan_uuid, *eval_outcome;
    const char *license, *labels;              /* as the caller gave them, or NULL */
    const char *rules_version, *policy_digest; /* "" when the report has none */
} store_latest;
typedef int (*store_latest_fn)(void *ctx, const store_latest *row);
/* Every model's newest finished scan, oldest model first. A non-zero
 * return from fn stops the walk and is returned. */
int store_model_latest(mg_store *st, store_latest_fn fn, void *ctx);

/* ---- policies ---- */

/* Stores a policy file as the next version; `version` gets its number and
 * `created_at` its time. `author` says who stored it ("token:<12 hex>
 * (admin)"), NULL: nobody known. */
int store_policy_add(mg_store *st, const char *yaml, const char *digest, const char *author, int *version,
                     char created_at[40]);
/* The newest stored policy (yaml malloc'd, caller frees; created_at gets
 * up to 39 characters); STORE_ENOTFOUND when none was ever stored. */
int store_policy_latest(mg_store *st, char **yaml, int *version, char created_at[40]);

/* ---- the gateway (src/gateway): cached verdicts and the audit trail ---- */

/* The newest finished scan of `model_uri` whose report was judged with
 * `rules_version` and `policy_digest` (read from the report): fn once,
 * report included; STORE_ENOTFOUND when there is none. The gateway's
 * verdict cache across restarts. */
int store_verdict_find(mg_store *st, const char *model_uri, const char *rules_version, const char *policy_digest,
                       store_scan_fn fn, void *ctx);

/* One gateway decision. NULL fields are stored as NULL. */
typedef struct store_decision {
    const char *uuid, *created_at; /* created_at RFC 3339 UTC with microseconds (as scans) */
    const char *caller;            /* "anonymous" or "token:<12 hex>" */
    const char *client_addr;       /* the peer address */
    const char *repo_type;         /* "model", "dataset", "space" */
    const char *repo;              /* "ns/name" */
    const char *revision;          /* as the client asked */
    const char *commit_sha;        /* 40-hex, or NULL when it could not be resolved */
    const char *path;              /* the file for a resolve, NULL for the revision API */
    const char *action;            /* "revision" or "resolve" (or "raw") */
    const char *outcome;           /* ALLOWED, BLOCKED, ERROR */
    const char *scan_uuid;         /* the report behind it, or NULL */
    const char *reason;            /* one line, NULL when allowed */
} store_decision;
typedef int (*store_decision_fn)(void *ctx, const store_decision *row);
int store_decision_add(mg_store *st, const store_decision *d);
/* n decisions in one transaction (all or none). */
int store_decision_add_many(mg_store *st, const store_decision *d, size_t n);
/* Decisions newest first by (created_at, uuid); uses f->outcome, f->ns + f->name (repo == "ns/name"), f->since,
 * the keyset cursor and f->limit. */
int store_decision_list(mg_store *st, const store_filter *f, store_decision_fn fn, void *ctx);

/* ---- the dashboard (sqlite_session.c, pg_session.c): sessions, policy history, overview ---- */

/* A session opened with a token: the token's role, the CSRF token every
 * state-changing request must repeat, who opened it ("token:" + the first 12
 * hex digits of the token's SHA-256, as the gateway names callers), and its
 * times (RFC 3339 UTC, milliseconds). */
typedef struct store_session {
    store_role role;
    char csrf[65];
    char caller[32];
    char created_at[40], expires_at[40];
} store_session;
enum { STORE_COOKIE_LEN = 64 };
/* Opens a session for a presented token, lasting `lifetime_s` seconds (0:
 * expired at once, for tests): a random cookie value (64 hex, written to
 * `cookie`) of which only the SHA-256 is stored, and a random CSRF token.
 * Prunes expired sessions. STORE_ENOTFOUND when the token is unknown. */
int store_session_create(mg_store *st, const char *token, long lifetime_s, char cookie[STORE_COOKIE_LEN + 1],
                         store_session *out);
/* The session of a cookie value; STORE_ENOTFOUND when there is none or it
 * has expired (an expired one is deleted). */
int store_session_lookup(mg_store *st, const char *cookie, store_session *out);
/* Ends a session at once (no such session is not an error). */
int store_session_delete(mg_store *st, const char *cookie);
/* Deletes every expired session; `deleted` (may be NULL) gets how many. */
int store_session_prune(mg_store *st, long *deleted);

/* One stored policy version; author is NULL for versions stored before
 * authors were recorded. */
typedef struct store_policy {
    int version;
    const char *digest, *created_at, *author, *yaml;
} store_policy;
typedef int (*store_policy_fn)(void *ctx, const store_policy *row);
/* Stored versions newest first, below `before` (0: from the newest), at
 * most `limit`. A non-zero return from fn stops the walk and is returned. */
int store_policy_list(mg_store *st, int before, int limit, store_policy_fn fn, void *ctx);

/* Rows by outcome. */
typedef struct store_counts {
    long allowed, blocked, error, pending;
} store_counts;
/* Scans created at or after `since` (stored form), by eval_outcome. */
int store_scan_counts(mg_store *st, const char *since, store_counts *out);
/* Gateway decisions created at or after `since`, by outcome. */
int store_decision_counts(mg_store *st, const char *since, store_counts *out);

/* A BLOCKED scan with its model's identity and the names of the policies it
 * violated (a JSON array text, read from the report). */
typedef struct store_blocked {
    const char *uuid, *model_uri, *namespace_, *model_name, *created_at, *policies;
} store_blocked;
typedef int (*store_blocked_fn)(void *ctx, const store_blocked *row);
/* The newest `limit` BLOCKED scans, newest first. */
int store_scan_blocked(mg_store *st, int limit, store_blocked_fn fn, void *ctx);

#endif
