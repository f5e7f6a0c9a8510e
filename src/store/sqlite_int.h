/*
 * sqlite_int.h - what the SQLite backend's files share: the handle and the
 * small statement helpers. sqlite.c opens, migrates and keeps tokens and
 * policies; sqlite_scans.c keeps scans and models; sqlite_gateway.c the
 * gateway's verdicts and decisions; sqlite_session.c the dashboard's
 * sessions, policy history and overview counts.
 */
#ifndef MG_SQLITE_INT_H
#define MG_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

/* One connection shared by every thread, serialised by `mu`: statements are
 * short and scans run outside the store. */
/* Tokens already seen, by hash. Every request presents a token, and a
 * lookup in SQLite would queue them all on `mu`; tokens are never changed or
 * deleted, so a hit stays right. Only hits are kept: a token another process
 * created is still found in the database. */
enum { TOKEN_CACHE = 64 };

typedef struct token_seen {
    char hash[65];
    store_role role;
} token_seen;

struct mg_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    pthread_rwlock_t seen_lock;
    token_seen seen[TOKEN_CACHE];
    size_t nseen; /* entries filled; past TOKEN_CACHE, new hits replace old ones in turn */
};

/* Lowercase hex of SHA-256(text) (tokens and session cookies are stored so). */
int sq_hash(const char *text, char hex[65]);
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

#endif
