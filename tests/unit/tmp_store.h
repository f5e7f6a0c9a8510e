/*
 * tmp_store.h - a real SQLite store in a fresh temporary directory for the
 * store's unit tests (test_store.c, test_session.c): opened with every
 * migration applied, and removed with its files when the test closes it.
 */
#ifndef MG_TMP_STORE_H
#define MG_TMP_STORE_H

#include "store/store.h"

typedef struct tmp_store {
    char dir[64];
    mg_store *st;
} tmp_store;

/* Opens a store in /tmp/mg-unit-<tag>-XXXXXX; STORE_OK, or the error (then
 * t->st is NULL). `tag` is a short constant. */
int tmp_store_open(tmp_store *t, const char *tag);

/* Closes the store and deletes its directory. */
void tmp_store_close(tmp_store *t);

#endif
