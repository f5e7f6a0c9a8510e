/*
 * tmp_store.c - the temporary store the store's unit tests run against
 * (tmp_store.h): one implementation, so every test opens and removes it
 * the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmp_store.h"

int tmp_store_open(tmp_store *t, const char *tag)
{
    char err[256] = "";
    snprintf(t->dir, sizeof t->dir, "/tmp/mg-unit-%s-XXXXXX", tag);
    t->st = NULL;
    if (!mkdtemp(t->dir))
        return -1;
    int rc = store_open(&t->st, t->dir, err, sizeof err);
    if (rc != STORE_OK)
        fprintf(stderr, "    store_open: %s\n", err);
    return rc;
}

void tmp_store_close(tmp_store *t)
{
    static const char *const files[] = {"modelgate.db", "modelgate.db-wal", "modelgate.db-shm"};
    store_close(t->st);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", t->dir, files[i]);
        unlink(path);
    }
    rmdir(t->dir);
}
