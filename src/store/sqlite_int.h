/*
 * sqlite_int.h - what the SQLite backend's files share: the handle and the
 * small statement helpers. sqlite.c opens, migrates and keeps tokens and
 * policies; sqlite_scans.c keeps scans and models.
 */
#ifndef MG_SQLITE_INT_H
#define MG_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

/* One connection shared by every thread, serialised by `mu`: statements are
 * short and scans run outside the store. */
struct mg_store {
    sqlite3 *db;
    pthread_mutex_t mu;
};

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
