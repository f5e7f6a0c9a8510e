/*
 * sqlite_int.h - what the SQLite backend's files share: the handle, the
 * functions each file registers in the backend's table (sqlite.c), and the
 * small statement helpers. sqlite.c opens, migrates and keeps tokens and
 * policies; sqlite_scans.c keeps scans and models; sqlite_gateway.c the
 * gateway's verdicts and decisions; sqlite_session.c the dashboard's
 * sessions, policy history and overview counts.
 */
#ifndef MG_SQLITE_INT_H
#define MG_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store_int.h"

/* One connection shared by every thread, serialised by `mu`: statements are
 * short and scans run outside the store. */
typedef struct sq_store {
    mg_store base; /* first: store.c reaches the backend through it */
    sqlite3 *db;
    pthread_mutex_t mu;
    char path[4096]; /* DIR/modelgate.db */
} sq_store;

static inline sq_store *sq_of(mg_store *st)
{
    return (sq_store *)st;
}

/* The time now as RFC 3339 UTC (milliseconds), computed by the database. */
#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
/* Runs SQL without parameters. */
int sq_exec(sqlite3 *db, const char *sql);
/* Binds the texts in order to ?1..?n (NULL binds SQL NULL) and runs the
 * statement once. */
int sq_run(sqlite3 *db, const char *sql, const char *const *args, int nargs);
/* Column i as text, "" when NULL. */
const char *sq_col(sqlite3_stmt *q, int i);
/* Column i as text, NULL when NULL. */
const char *sq_col_or_null(sqlite3_stmt *q, int i);

/* sqlite_scans.c */
int sq_scan_add(mg_store *base, const store_scan *scan);
int sq_scan_start(mg_store *base, const char *uuid, int *attempts);
int sq_queue_stats(mg_store *base, store_queue_info *out);
int sq_scan_put(mg_store *base, const store_scan *scan);
int sq_scan_get(mg_store *base, const char *uuid, store_scan_fn fn, void *ctx);
int sq_scan_unfinished(mg_store *base, store_scan_fn fn, void *ctx);
int sq_scan_requeue(mg_store *base);
int sq_scan_list(mg_store *base, const store_filter *f, store_scan_fn fn, void *ctx);
int sq_scan_last_allowed(mg_store *base, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                         void *ctx);
int sq_model_list(mg_store *base, const store_filter *f, store_model_fn fn, void *ctx);
int sq_model_get(mg_store *base, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                 void *ctx);
int sq_model_latest(mg_store *base, store_latest_fn fn, void *ctx);

/* sqlite_gateway.c */
int sq_verdict_find(mg_store *base, const char *model_uri, const char *rules_version, const char *policy_digest,
                    store_scan_fn fn, void *ctx);
int sq_decision_add_many(mg_store *base, const store_decision *d, size_t n);
int sq_decision_list(mg_store *base, const store_filter *f, store_decision_fn fn, void *ctx);

/* sqlite_session.c */
int sq_session_insert(mg_store *base, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out);
int sq_session_lookup(mg_store *base, const char *cookie_h, store_session *out);
int sq_session_delete(mg_store *base, const char *cookie_h);
int sq_session_prune(mg_store *base, long *deleted);
int sq_policy_list(mg_store *base, int before, int limit, store_policy_fn fn, void *ctx);
int sq_scan_counts(mg_store *base, const char *since, store_counts *out);
int sq_decision_counts(mg_store *base, const char *since, store_counts *out);
int sq_scan_blocked(mg_store *base, int limit, store_blocked_fn fn, void *ctx);

/* Listings build their WHERE from the filter's fields: appends one fixed
 * condition (" WHERE " first, " AND " after); the buffer is sized for all. */
void sq_add_where(char *sql, size_t n, const char *frag, int *nconds);
/* Binds v as text at i, or leaves the parameter NULL (its condition is
 * not in the query then). */
void sq_bind_or_skip(sqlite3_stmt *q, int i, const char *v);

#endif
