/*
 * tmp_store.c - the fresh stores the store's unit tests run against
 * (tmp_store.h): one implementation, so every test opens and removes them
 * the same way. PostgreSQL's are schemas of $MODELGATE_TEST_PG chosen with
 * libpq's options=-csearch_path=..., so the store creates and finds its
 * tables there without knowing it.
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "tmp_store.h"

static void quiet(void *arg, const char *message) {}

static long sql_sqlite(const char *dir, const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/modelgate.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long out = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        int s = sqlite3_step(q);
        out = s == SQLITE_ROW ? (long)sqlite3_column_int64(q, 0) : s == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

static long sql_pg(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    long out = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, quiet, NULL);
        PGresult *r = PQexec(c, sql);
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_TUPLES_OK)
            out = PQntuples(r) > 0 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        else if (s == PGRES_COMMAND_OK)
            out = 0;
        else
            fprintf(stderr, "    SQL on the side: %s", PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "    second connection: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return out;
}

long tmp_store_sql(const tmp_store *t, const char *sql)
{
    return strcmp(t->backend, "sqlite") == 0 ? sql_sqlite(t->dir, sql) : sql_pg(t->location, sql);
}

int tmp_store_open_another(const tmp_store *t, mg_store **st)
{
    char err[512] = "";
    int rc = store_open(st, t->location, err, sizeof err);
    if (rc != STORE_OK)
        fprintf(stderr, "    store_open (%s): %s\n", t->backend, err);
    return rc;
}

int tmp_store_reopen(tmp_store *t)
{
    store_close(t->st);
    t->st = NULL;
    return tmp_store_open_another(t, &t->st);
}

static void run(tmp_store *t, tmp_store_check check, int open)
{
    if (open)
        CHECK(tmp_store_open_another(t, &t->st) == STORE_OK);
    if (t->st || !open)
        check(t);
    store_close(t->st);
    t->st = NULL;
}

static void each_sqlite(const char *tag, tmp_store_check check, int open)
{
    tmp_store t = {.backend = "sqlite"};
    snprintf(t.dir, sizeof t.dir, "/tmp/mg-unit-%s-XXXXXX", tag);
    if (!mkdtemp(t.dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(t.location, sizeof t.location, "%s", t.dir);
    run(&t, check, open);
    static const char *const files[] = {"modelgate.db", "modelgate.db-wal", "modelgate.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", t.dir, files[i]);
        unlink(path);
    }
    rmdir(t.dir);
}

static void each_pg(const char *url, tmp_store_check check, int open)
{
    static int n;
    tmp_store t = {.backend = "postgresql"};
    snprintf(t.schema, sizeof t.schema, "mg_unit_%ld_%d", (long)getpid(), ++n);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", t.schema);
    if (sql_pg(url, sql) != 0) {
        CHECK(!"CREATE SCHEMA in $MODELGATE_TEST_PG");
        return;
    }
    int len = snprintf(t.location, sizeof t.location, "%s%soptions=-csearch_path%%3D%s", url,
                       strchr(url, '?') ? "&" : "?", t.schema);
    if (len > 0 && (size_t)len < sizeof t.location)
        run(&t, check, open);
    else
        CHECK(!"MODELGATE_TEST_PG is too long");
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", t.schema);
    sql_pg(url, sql);
}

static void each(const char *tag, tmp_store_check check, int open)
{
    int before = test_failed;
    test_failed = 0;
    each_sqlite(tag, check, open);
    if (test_failed)
        fprintf(stderr, "    ^ on sqlite\n");
    int failed = test_failed;
    const char *url = getenv("MODELGATE_TEST_PG");
    if (url && *url) {
        test_failed = 0;
        each_pg(url, check, open);
        if (test_failed)
            fprintf(stderr, "    ^ on postgresql\n");
        failed |= test_failed;
    }
    test_failed = before | failed;
}

void tmp_store_each(const char *tag, tmp_store_check check)
{
    each(tag, check, 1);
}

void tmp_store_each_unopened(const char *tag, tmp_store_check check)
{
    each(tag, check, 0);
}
