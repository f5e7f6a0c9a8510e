/*
 * pg_int.h - what the PostgreSQL backend's files share: the handle with its
 * small pool of connections, the functions each file registers in the
 * backend's table (pg.c), and the statement helpers. pg.c connects,
 * migrates and keeps tokens and policies; pg_scans.c keeps scans and
 * models; pg_gateway.c the gateway's verdicts and decisions; pg_session.c
 * the dashboard's sessions, policy history and overview counts.
 *
 * Every value reaches the server as a parameter of PQexecParams ($1..$n,
 * text format), never as text in the SQL.
 */
#ifndef MG_PG_INT_H
#define MG_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "store_int.h"

/* Connections a handle opens at most. A caller takes one for the length of
 * its statements and gives it back before any row callback runs, so HTTP
 * threads wait on the server only while they talk to it. */
enum { PG_POOL = 4 };

typedef struct pg_slot {
    PGconn *conn; /* NULL until first needed */
    int busy;
} pg_slot;

typedef struct pg_store {
    mg_store base; /* first: store.c reaches the backend through it */
    pthread_mutex_t mu;
    pthread_cond_t idle; /* a slot was given back */
    pg_slot slots[PG_POOL];
    PGconn *listen; /* LISTENs for queued scans (pg_queue.c), used by one thread */
    char *url;
    char where[256]; /* store_describe's answer */
} pg_store;

static inline pg_store *pg_of(mg_store *st)
{
    return (pg_store *)st;
}

/* The time now as RFC 3339 UTC with milliseconds, like SQLite's (one
 * instant per statement, as SQLite's 'now'). */
#define PG_NOW "to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A new connection to `url` (NULL only when out of memory; check
 * PQstatus). */
PGconn *pg_connect(const char *url);

/* One statement with text parameters (NULL: SQL NULL). STORE_OK when it
 * ran; `res` (may be NULL) gets its rows, which the caller PQclears. */
int pg_query(PGconn *c, const char *sql, const char *const *args, int nargs, PGresult **res);

/* Work on one connection: several statements that belong together. It
 * returns a store code; STORE_EDB when a statement failed. */
typedef int (*pg_work)(PGconn *c, void *arg);

/* Runs `work` on a connection of the pool, inside BEGIN ... COMMIT when
 * `transact` (ROLLBACK when it fails). When it failed because the
 * connection broke (a restarted server, a cut network), the connection is
 * re-established once and the work runs again, unless what broke was the
 * COMMIT itself (it may have been applied). So `work` must be safe to run
 * twice from the start; a statement without a transaction that the server
 * ran just before the connection broke runs twice. STORE_EDB when no
 * connection can be made. */
int pg_call(pg_store *st, pg_work work, void *arg, int transact);

/* pg_query on a connection of the pool, with pg_call's reconnection. */
int pg_fetch(pg_store *st, const char *sql, const char *const *args, int nargs, PGresult **res);

/* A statement assembled from fixed fragments (values are always
 * parameters): each '?' of a fragment becomes the next $n. */
enum { PG_SQL_MAX = 1024, PG_SQL_ARGS = 16 };
typedef struct pg_sql {
    char text[PG_SQL_MAX];
    const char *args[PG_SQL_ARGS];
    int nargs, nconds;
    int overflow; /* a fragment did not fit: the statement must not run */
} pg_sql;
void pg_sql_init(pg_sql *q, const char *head);
/* Appends `frag` with its `n` values in order of its '?'s. */
void pg_sql_add(pg_sql *q, const char *frag, const char *const *vals, int n);
/* Appends " WHERE frag" or " AND frag". */
void pg_sql_cond(pg_sql *q, const char *frag, const char *const *vals, int n);
/* pg_fetch of an assembled statement; STORE_EDB when it did not fit. */
int pg_fetch_sql(pg_store *st, const pg_sql *q, PGresult **res);
/* A LIMIT parameter (in `buf`): as on SQLite, a negative limit is none. */
const char *pg_limit(int limit, char buf[16]);
/* The tail every keyset listing shares: rows strictly before f's cursor,
 * newest first by (created_at, uuid), at most f->limit (kept in `buf`,
 * which must live until the statement runs). */
void pg_sql_keyset(pg_sql *q, const store_filter *f, char buf[16]);

/* Row r, column c as text: "" when NULL / NULL when NULL; as an int. */
const char *pg_val(const PGresult *res, int r, int c);
const char *pg_val_or_null(const PGresult *res, int r, int c);
int pg_int(const PGresult *res, int r, int c);

/* pg_scans.c */
int pg_scan_add(mg_store *base, const store_scan *scan);
int pg_scan_start(mg_store *base, const char *uuid, int *attempts);
int pg_scan_joined(mg_store *base, const char *uuid, const char *model_uri, const char *queue_key, char out[37]);
int pg_scan_put(mg_store *base, const store_scan *scan);
int pg_scan_get(mg_store *base, const char *uuid, store_scan_fn fn, void *ctx);
int pg_scan_unfinished(mg_store *base, store_scan_fn fn, void *ctx);
int pg_scan_requeue(mg_store *base);
int pg_scan_list(mg_store *base, const store_filter *f, store_scan_fn fn, void *ctx);
int pg_scan_last_allowed(mg_store *base, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                         void *ctx);
int pg_model_list(mg_store *base, const store_filter *f, store_model_fn fn, void *ctx);
int pg_model_get(mg_store *base, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                 void *ctx);
int pg_model_latest(mg_store *base, store_latest_fn fn, void *ctx);
/* The columns every scan read selects (the report last, when wanted), and
 * the walk over such rows. */
#define PG_SCAN_COLS                                                                                                   \
    "uuid, model_uri, model_uuid, model_version_uuid, revision, eval_outcome, license, labels, created_at, state, "    \
    "attempts"
int pg_each_scan(const PGresult *res, int with_report, store_scan_fn fn, void *ctx);

/* pg_gateway.c */
int pg_verdict_find(mg_store *base, const char *model_uri, const char *rules_version, const char *policy_digest,
                    store_scan_fn fn, void *ctx);
int pg_decision_add_many(mg_store *base, const store_decision *d, size_t n);
int pg_decision_list(mg_store *base, const store_filter *f, store_decision_fn fn, void *ctx);

/* pg_session.c */
int pg_session_insert(mg_store *base, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out);
int pg_session_lookup(mg_store *base, const char *cookie_h, store_session *out);
int pg_session_delete(mg_store *base, const char *cookie_h);
int pg_session_prune(mg_store *base, long *deleted);
int pg_policy_list(mg_store *base, int before, int limit, store_policy_fn fn, void *ctx);
int pg_scan_counts(mg_store *base, const char *since, store_counts *out);
int pg_decision_counts(mg_store *base, const char *since, store_counts *out);
int pg_scan_blocked(mg_store *base, int limit, store_blocked_fn fn, void *ctx);

/* pg_queue.c */
int pg_queue_claim(mg_store *base, const char *owner, int lease_s, store_scan_fn fn, void *ctx);
int pg_queue_renew(mg_store *base, const char *uuid, const char *owner, int lease_s);
int pg_queue_notify(mg_store *base);
int pg_queue_stats(mg_store *base, store_queue_info *out);
int pg_queue_done(mg_store *base, const char *const *uuids, size_t n, int (*fn)(void *ctx, const char *uuid),
                  void *ctx);
int pg_queue_wait(mg_store *base, int ms);

#endif
