/*
 * tmp_store.h - fresh, empty stores for the store's unit tests (test_store.c,
 * test_session.c), one per backend, so every check runs with the same
 * expectations on each: SQLite always (a new temporary directory), and
 * PostgreSQL too when MODELGATE_TEST_PG is the libpq URL of a database the
 * tests may write (a new schema per check, dropped after it;
 * tests/e2e/pg_suites.py sets it to a database of its own cluster).
 */
#ifndef MG_TMP_STORE_H
#define MG_TMP_STORE_H

#include "store/store.h"

typedef struct tmp_store {
    const char *backend; /* "sqlite" or "postgresql" */
    char location[2048]; /* what store_open is given */
    char dir[64];        /* sqlite: the temporary directory */
    char schema[64];     /* postgresql: the check's schema */
    mg_store *st;        /* open while the check runs */
} tmp_store;

typedef void (*tmp_store_check)(tmp_store *t);

/* Runs `check` once per backend on a fresh store, open in t->st (a store
 * that cannot be opened is a failure and the check does not run), then
 * closes and removes it. A failure says on which backend it happened. `tag`
 * (a short constant) names the temporary directory. */
void tmp_store_each(const char *tag, tmp_store_check check);

/* The same with the store not yet opened (t->st NULL): for checks of the
 * opening itself. */
void tmp_store_each_unopened(const char *tag, tmp_store_check check);

/* Closes the store and opens it again at the same location, as a restart
 * would; STORE_OK or the error (then t->st is NULL). */
int tmp_store_reopen(tmp_store *t);

/* Opens another handle on the same store (as another process would); the
 * caller closes it. */
int tmp_store_open_another(const tmp_store *t, mg_store **st);

/* Runs one SQL statement through a second connection to the same database:
 * the first column of the first row as a number, 0 when there is no row,
 * -1 on error. */
long tmp_store_sql(const tmp_store *t, const char *sql);

#endif
