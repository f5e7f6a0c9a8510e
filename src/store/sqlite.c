/*
 * sqlite.c - the embedded store: one SQLite file, DIR/modelgate.db, in WAL
 * mode so readers never wait for the writer and a killed process leaves
 * every committed scan intact.
 *
 * Schema changes are the numbered migrations of schema.c (shared with the
 * PostgreSQL backend), applied in order inside one transaction on open and
 * recorded in schema_migrations; a migration is never edited once released,
 * only followed by another.
 *
 * Tokens: store.c makes them and hashes them; the table holds only their
 * SHA-256, so a copy of the database does not grant access.
 *
 * Concurrency: one connection shared by the HTTP and scan worker threads,
 * serialised by a mutex (statements are short; scans run outside the store).
 * Another process (`modelgate token create` beside a running service) waits
 * up to busy_timeout for the write lock.
 *
 * This file opens and migrates the store, keeps tokens and policies, and
 * holds the backend's table of functions; scans and models are in
 * sqlite_scans.c, the gateway's verdict lookups and decisions in
 * sqlite_gateway.c, the dashboard's sessions and reads in sqlite_session.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_int.h"

/* Creates `dir` and its missing parents (mode 0700: the store holds token
 * hashes and reports). */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return -1;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    return 0;
}

int sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : STORE_EDB;
}

static int current_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    int rc = sqlite3_step(q) == SQLITE_ROW ? STORE_OK : STORE_EDB;
    *out = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc;
}

static int record_version(sqlite3 *db, int version)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, " NOW_SQL ")", -1, &q,
                           NULL) != SQLITE_OK)
        return STORE_EDB;
    sqlite3_bind_int(q, 1, version);
    int rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    sqlite3_finalize(q);
    return rc;
}

/* Applies the pending migrations in one write transaction, so two processes
 * opening a fresh store at once cannot both migrate it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int rc = sq_exec(db, "BEGIN IMMEDIATE");
    if (rc != STORE_OK)
        goto fail;
    rc = sq_exec(db, schema_bookkeeping);
    int version = 0;
    if (rc == STORE_OK)
        rc = current_version(db, &version);
    if (rc == STORE_OK && version > schema_count) {
        snprintf(err, errlen, "database schema version %d is newer than this modelgate (%d)", version, schema_count);
        sq_exec(db, "ROLLBACK");
        return STORE_ESCHEMA;
    }
    /* schema_migrations[i] brings the schema from version i to i + 1 */
    for (int i = version > 0 ? version : 0; rc == STORE_OK && i < schema_count; i++) {
        rc = sq_exec(db, schema_migrations[i].sqlite);
        if (rc == STORE_OK)
            rc = record_version(db, i + 1);
    }
    if (rc == STORE_OK)
        rc = sq_exec(db, "COMMIT");
    if (rc == STORE_OK)
        return STORE_OK;
fail:
    snprintf(err, errlen, "migration failed: %s", sqlite3_errmsg(db));
    sq_exec(db, "ROLLBACK");
    return STORE_EDB;
}

static int configure(sqlite3 *db)
{
    /* WAL: readers never block the writer; synchronous=FULL: a scan answered
     * 200 is on disk even if the machine loses power right after. */
    sqlite3_busy_timeout(db, 5000);
    return sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
}

static const store_ops sq_ops;

int sq_open(mg_store **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    char path[4096];
    if (make_dirs(dir) != 0 || (size_t)snprintf(path, sizeof path, "%s/modelgate.db", dir) >= sizeof path) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    sq_store *st = calloc(1, sizeof *st);
    if (!st)
        return STORE_ENOMEM;
    store_base_init(&st->base, &sq_ops);
    pthread_mutex_init(&st->mu, NULL);
    memcpy(st->path, path, sizeof path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    int rc = STORE_EDB;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    chmod(path, 0600);
    if (configure(st->db) != STORE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    rc = migrate(st->db, err, errlen);
    if (rc != STORE_OK)
        goto fail;
    *out = &st->base;
    return STORE_OK;
fail:
    store_close(&st->base);
    return rc;
}

static void sq_close(mg_store *base)
{
    sq_store *st = sq_of(base);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    store_base_destroy(&st->base);
    free(st);
}

static int sq_schema_version(mg_store *base, int *out)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    int rc = current_version(st->db, out);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int sq_describe(mg_store *base, char *out, size_t n)
{
    snprintf(out, n, "SQLite %s", sq_of(base)->path);
    return STORE_OK;
}

static int sq_token_count(mg_store *base, long *out)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT COUNT(*) FROM tokens", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) {
            *out = (long)sqlite3_column_int64(q, 0);
            rc = STORE_OK;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int sq_token_insert(mg_store *base, const char *hash, store_role role)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO tokens (hash, role, created_at) VALUES (?, ?, " NOW_SQL ")", -1, &q,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, store_role_name(role), -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int sq_token_role(mg_store *base, const char *hash, store_role *role)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT role FROM tokens WHERE hash = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(q);
        if (s == SQLITE_ROW)
            *role = store_role_parse((const char *)sqlite3_column_text(q, 0));
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_run(sqlite3 *db, const char *sql, const char *const *args, int nargs)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    for (int i = 0; i < nargs; i++) {
        if (args[i])
            sqlite3_bind_text(q, i + 1, args[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, i + 1);
    }
    int rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    sqlite3_finalize(q);
    return rc;
}

const char *sq_col(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? t : "";
}

const char *sq_col_or_null(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
}

/* ---- policies ---- */

static int sq_policy_add(mg_store *base, const char *yaml, const char *digest, const char *author, int *version,
                         char created_at[40])
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO policies (version, yaml, digest, created_at, author)"
                           " SELECT COALESCE(MAX(version), 0) + 1, ?1, ?2, " NOW_SQL ", ?3 FROM policies"
                           " RETURNING version, created_at",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, yaml, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, digest, -1, SQLITE_STATIC);
        if (author)
            sqlite3_bind_text(q, 3, author, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *version = sqlite3_column_int(q, 0);
            snprintf(created_at, 40, "%s", sq_col(q, 1));
            rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int sq_policy_latest(mg_store *base, char **yaml, int *version, char created_at[40])
{
    sq_store *st = sq_of(base);
    *yaml = NULL;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT version, yaml, created_at FROM policies ORDER BY version DESC LIMIT 1", -1,
                           &q, NULL) == SQLITE_OK) {
        int s = sqlite3_step(q);
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        if (rc == STORE_OK) {
            *version = sqlite3_column_int(q, 0);
            *yaml = strdup(sq_col(q, 1));
            snprintf(created_at, 40, "%s", sq_col(q, 2));
            rc = *yaml ? STORE_OK : STORE_ENOMEM;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static const store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .describe = sq_describe,
    .token_count = sq_token_count,
    .token_insert = sq_token_insert,
    .token_role = sq_token_role,
    .scan_add = sq_scan_add,
    .scan_start = sq_scan_start,
    .queue_stats = sq_queue_stats,
    .scan_put = sq_scan_put,
    .scan_get = sq_scan_get,
    .scan_unfinished = sq_scan_unfinished,
    .scan_requeue = sq_scan_requeue,
    .scan_list = sq_scan_list,
    .scan_last_allowed = sq_scan_last_allowed,
    .model_list = sq_model_list,
    .model_get = sq_model_get,
    .model_latest = sq_model_latest,
    .policy_add = sq_policy_add,
    .policy_latest = sq_policy_latest,
    .policy_list = sq_policy_list,
    .verdict_find = sq_verdict_find,
    .decision_add_many = sq_decision_add_many,
    .decision_list = sq_decision_list,
    .session_insert = sq_session_insert,
    .session_lookup = sq_session_lookup,
    .session_delete = sq_session_delete,
    .session_prune = sq_session_prune,
    .scan_counts = sq_scan_counts,
    .decision_counts = sq_decision_counts,
    .scan_blocked = sq_scan_blocked,
};
