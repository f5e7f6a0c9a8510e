/*
 * pg.c - the store on PostgreSQL, for many modelgate processes on one
 * database (`--store postgresql://...`). Same functions, same schema, same
 * answers as the SQLite store; only the engine differs.
 *
 * Schema: the numbered migrations of schema.c in their PostgreSQL dialect,
 * applied on open in one transaction that first takes a transaction-scoped
 * advisory lock (the constant below), so processes starting at once on a
 * fresh database queue up: the first migrates, the others find the work
 * done. Times are text (RFC 3339, as on SQLite) in columns that sort byte
 * by byte (COLLATE "C"), so pages and cursors are the same on both.
 *
 * Connections: a handle keeps up to PG_POOL of them, opened when first
 * needed, each used by one thread at a time. A connection found broken (the
 * server restarted, the network was cut) is reset once before use; work
 * that failed because its connection broke is run once more on the reset
 * connection (pg_call). When the server cannot be reached the call answers
 * STORE_EDB and the next call tries again.
 *
 * The URL is libpq's (postgresql://USER@HOST:PORT/DB?params): its password
 * is best kept out of it, in ~/.pgpass or PGPASSWORD, which libpq reads
 * itself. The URL's parameters override the defaults set here (a connect
 * timeout of 10 s, application_name "modelgate").
 *
 * This file connects and migrates and keeps tokens and policies; scans and
 * models are in pg_scans.c, the gateway's verdicts and decisions in
 * pg_gateway.c, the dashboard's reads in pg_session.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "util/banned.h"

/* pg_advisory_xact_lock key of the migrations: "modelgat" as a bigint */
#define MIGRATION_LOCK "7885631859322216820"

/* Notices ("relation already exists, skipping") are not for the operator. */
static void quiet(void *arg, const char *message) {}

/* The text of the connection's last error, on one line. */
static void conn_error(PGconn *c, const char *what, char *err, size_t errlen)
{
    const char *msg = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strcspn(msg, "\n");
    snprintf(err, errlen, "%s: %.*s", what, (int)(n < 300 ? n : 300), msg);
}

PGconn *pg_connect(const char *url)
{
    static const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {"10", "modelgate", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c)
        PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

int pg_query(PGconn *c, const char *sql, const char *const *args, int nargs, PGresult **res)
{
    if (res)
        *res = NULL;
    PGresult *r = PQexecParams(c, sql, nargs, NULL, args, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? STORE_OK : STORE_EDB;
    if (rc == STORE_OK && res)
        *res = r;
    else
        PQclear(r);
    return rc;
}

const char *pg_val(const PGresult *res, int r, int c)
{
    return PQgetvalue(res, r, c); /* "" for NULL */
}

const char *pg_val_or_null(const PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

/* ---- the pool ---- */

/* Takes a connection, opening one when none is idle and the pool is not
 * full, waiting otherwise. Its conn is NULL only when out of memory; one
 * that could not be made is there, broken, and pg_call resets it. */
static pg_slot *take(pg_store *st)
{
    pthread_mutex_lock(&st->mu);
    pg_slot *slot = NULL;
    while (!slot) {
        for (size_t i = 0; i < PG_POOL && !slot; i++)
            if (!st->slots[i].busy && st->slots[i].conn)
                slot = &st->slots[i];
        for (size_t i = 0; i < PG_POOL && !slot; i++)
            if (!st->slots[i].busy)
                slot = &st->slots[i];
        if (!slot)
            pthread_cond_wait(&st->idle, &st->mu);
    }
    slot->busy = 1;
    pthread_mutex_unlock(&st->mu);
    /* connecting may take a while: not under the lock (the slot is ours) */
    if (!slot->conn)
        slot->conn = pg_connect(st->url);
    return slot;
}

static void give_back(pg_store *st, pg_slot *slot)
{
    pthread_mutex_lock(&st->mu);
    slot->busy = 0;
    pthread_cond_signal(&st->idle);
    pthread_mutex_unlock(&st->mu);
}

/* One run of the work; *committing set when the COMMIT itself failed. */
static int attempt(PGconn *c, pg_work work, void *arg, int transact, int *committing)
{
    *committing = 0;
    if (PQstatus(c) != CONNECTION_OK)
        return STORE_EDB;
    int rc = transact ? pg_query(c, "BEGIN", NULL, 0, NULL) : STORE_OK;
    if (rc == STORE_OK)
        rc = work(c, arg);
    if (transact && rc == STORE_OK) {
        rc = pg_query(c, "COMMIT", NULL, 0, NULL);
        *committing = rc != STORE_OK;
    } else if (transact && PQstatus(c) == CONNECTION_OK) {
        pg_query(c, "ROLLBACK", NULL, 0, NULL);
    }
    return rc;
}

int pg_call(pg_store *st, pg_work work, void *arg, int transact)
{
    pg_slot *slot = take(st);
    PGconn *c = slot->conn;
    if (!c) {
        give_back(st, slot);
        return STORE_ENOMEM;
    }
    int reset = PQstatus(c) == CONNECTION_BAD, committing = 0;
    if (reset)
        PQreset(c);
    int rc = attempt(c, work, arg, transact, &committing);
    /* broke during the work: the server dropped what ran with the session */
    if (rc == STORE_EDB && !reset && !committing && PQstatus(c) == CONNECTION_BAD) {
        PQreset(c);
        rc = attempt(c, work, arg, transact, &committing);
    }
    give_back(st, slot);
    return rc;
}

int pg_int(const PGresult *res, int r, int c)
{
    long v = strtol(PQgetvalue(res, r, c), NULL, 10);
    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

typedef struct fetch_arg {
    const char *sql;
    const char *const *args;
    int nargs;
    PGresult **res;
} fetch_arg;

static int fetch_work(PGconn *c, void *arg)
{
    fetch_arg *f = arg;
    return pg_query(c, f->sql, f->args, f->nargs, f->res);
}

int pg_fetch(pg_store *st, const char *sql, const char *const *args, int nargs, PGresult **res)
{
    if (res)
        *res = NULL; /* also when no connection could be made and the work never ran */
    fetch_arg f = {sql, args, nargs, res};
    return pg_call(st, fetch_work, &f, 0);
}

/* ---- assembled statements ---- */

void pg_sql_init(pg_sql *q, const char *head)
{
    memset(q, 0, sizeof *q);
    pg_sql_add(q, head, NULL, 0);
}

static void put_text(pg_sql *q, size_t *len, const char *s, size_t n)
{
    if (n >= sizeof q->text - *len) {
        q->overflow = 1;
        return;
    }
    memcpy(q->text + *len, s, n);
    *len += n;
    q->text[*len] = 0;
}

void pg_sql_add(pg_sql *q, const char *frag, const char *const *vals, int n)
{
    size_t len = strlen(q->text);
    int used = 0;
    for (const char *p = frag; *p && !q->overflow;) {
        size_t run = strcspn(p, "?");
        put_text(q, &len, p, run);
        p += run;
        if (*p != '?')
            break;
        p++;
        if (used == n || q->nargs == PG_SQL_ARGS) {
            q->overflow = 1;
            break;
        }
        char num[16];
        int k = snprintf(num, sizeof num, "$%d", q->nargs + 1);
        put_text(q, &len, num, (size_t)k);
        q->args[q->nargs++] = vals[used++];
    }
    if (used != n)
        q->overflow = 1;
}

void pg_sql_cond(pg_sql *q, const char *frag, const char *const *vals, int n)
{
    pg_sql_add(q, q->nconds++ ? " AND " : " WHERE ", NULL, 0);
    pg_sql_add(q, frag, vals, n);
}

int pg_fetch_sql(pg_store *st, const pg_sql *q, PGresult **res)
{
    *res = NULL;
    return q->overflow ? STORE_EDB : pg_fetch(st, q->text, q->args, q->nargs, res);
}

const char *pg_limit(int limit, char buf[16])
{
    if (limit < 0)
        return NULL;
    snprintf(buf, 16, "%d", limit);
    return buf;
}

void pg_sql_keyset(pg_sql *q, const store_filter *f, char buf[16])
{
    if (f->after_created_at && f->after_uuid) {
        const char *v[] = {f->after_created_at, f->after_uuid};
        pg_sql_cond(q, "(created_at, uuid) < (?, ?)", v, 2);
    }
    const char *l = pg_limit(f->limit, buf);
    pg_sql_add(q, " ORDER BY created_at DESC, uuid DESC LIMIT ?::bigint", &l, 1);
}

/* ---- opening and migrating ---- */

static int current_version(PGconn *c, int *out)
{
    PGresult *r;
    int rc = pg_query(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, 0, &r);
    if (rc == STORE_OK) {
        *out = PQntuples(r) == 1 ? pg_int(r, 0, 0) : 0;
        PQclear(r);
    }
    return rc;
}

typedef struct migrate_arg {
    char *err;
    size_t errlen;
} migrate_arg;

/* Inside the transaction pg_call opened: waits for any other process
 * migrating, then applies what is missing. */
static int migrate_work(PGconn *c, void *arg)
{
    migrate_arg *m = arg;
    int version = 0;
    int rc = pg_query(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", NULL, 0, NULL);
    if (rc == STORE_OK)
        rc = pg_query(c, schema_bookkeeping, NULL, 0, NULL);
    if (rc == STORE_OK)
        rc = current_version(c, &version);
    if (rc == STORE_OK && version > schema_count) {
        snprintf(m->err, m->errlen, "database schema version %d is newer than this modelgate (%d)", version,
                 schema_count);
        return STORE_ESCHEMA;
    }
    /* schema_migrations[i] brings the schema from version i to i + 1 */
    for (int i = version > 0 ? version : 0; rc == STORE_OK && i < schema_count; i++) {
        /* several statements, no parameters: the simple query protocol */
        PGresult *r = PQexec(c, schema_migrations[i].postgres);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : STORE_EDB;
        PQclear(r);
        char v[16];
        snprintf(v, sizeof v, "%d", i + 1);
        const char *args[] = {v};
        if (rc == STORE_OK)
            rc = pg_query(c, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, " PG_NOW ")", args, 1,
                          NULL);
    }
    if (rc == STORE_EDB)
        conn_error(c, "migration failed", m->err, m->errlen);
    return rc;
}

static void describe_conn(pg_store *st, PGconn *c)
{
    const char *host = PQhost(c), *port = PQport(c), *db = PQdb(c), *user = PQuser(c);
    snprintf(st->where, sizeof st->where, "PostgreSQL database %s on %s:%s as %s", db ? db : "?", host ? host : "?",
             port ? port : "?", user ? user : "?");
}

static const store_ops pg_ops;

int pg_open(mg_store **out, const char *url, char *err, size_t errlen)
{
    *out = NULL;
    pg_store *st = calloc(1, sizeof *st);
    if (!st || !(st->url = strdup(url))) {
        free(st);
        return STORE_ENOMEM;
    }
    store_base_init(&st->base, &pg_ops);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->idle, NULL);
    int rc = STORE_EDB;
    PGconn *c = st->slots[0].conn = pg_connect(url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        conn_error(c, "cannot connect to PostgreSQL", err, errlen);
        goto fail;
    }
    describe_conn(st, c);
    migrate_arg m = {err, errlen};
    rc = pg_call(st, migrate_work, &m, 1);
    if (rc != STORE_OK) {
        if (rc != STORE_ESCHEMA && rc != STORE_EDB)
            snprintf(err, errlen, "migration failed (error %d)", rc);
        goto fail;
    }
    *out = &st->base;
    return STORE_OK;
fail:
    store_close(&st->base);
    return rc;
}

static void pg_close(mg_store *base)
{
    pg_store *st = pg_of(base);
    for (size_t i = 0; i < PG_POOL; i++)
        PQfinish(st->slots[i].conn);
    PQfinish(st->listen);
    pthread_cond_destroy(&st->idle);
    pthread_mutex_destroy(&st->mu);
    store_base_destroy(&st->base);
    free(st->url);
    free(st);
}

static int version_work(PGconn *c, void *arg)
{
    return current_version(c, arg);
}

static int pg_schema_version(mg_store *base, int *out)
{
    return pg_call(pg_of(base), version_work, out, 0);
}

static int pg_describe(mg_store *base, char *out, size_t n)
{
    snprintf(out, n, "%s", pg_of(base)->where);
    return STORE_OK;
}

/* ---- tokens ---- */

static int pg_token_count(mg_store *base, long *out)
{
    PGresult *r;
    int rc = pg_fetch(pg_of(base), "SELECT COUNT(*) FROM tokens", NULL, 0, &r);
    if (rc == STORE_OK) {
        *out = PQntuples(r) == 1 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        PQclear(r);
    }
    return rc;
}

static int pg_token_insert(mg_store *base, const char *hash, store_role role)
{
    const char *args[] = {hash, store_role_name(role)};
    return pg_fetch(pg_of(base), "INSERT INTO tokens (hash, role, created_at) VALUES ($1, $2, " PG_NOW ")", args, 2,
                    NULL);
}

static int pg_token_role(mg_store *base, const char *hash, store_role *role)
{
    const char *args[] = {hash};
    PGresult *r;
    int rc = pg_fetch(pg_of(base), "SELECT role FROM tokens WHERE hash = $1", args, 1, &r);
    if (rc == STORE_OK) {
        rc = PQntuples(r) > 0 ? STORE_OK : STORE_ENOTFOUND;
        if (rc == STORE_OK)
            *role = store_role_parse(pg_val(r, 0, 0));
        PQclear(r);
    }
    return rc;
}

/* ---- policies ---- */

typedef struct policy_arg {
    const char *const *args;
    PGresult *res;
} policy_arg;

/* Versions are numbered MAX + 1: the table lock makes two processes
 * storing at once take turns (readers are not blocked). */
static int policy_add_work(PGconn *c, void *arg)
{
    policy_arg *p = arg;
    PQclear(p->res); /* from a first run, when this is the second */
    p->res = NULL;
    int rc = pg_query(c, "LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE", NULL, 0, NULL);
    if (rc == STORE_OK)
        rc = pg_query(c,
                      "INSERT INTO policies (version, yaml, digest, created_at, author)"
                      " SELECT COALESCE(MAX(version), 0) + 1, $1, $2, " PG_NOW ", $3 FROM policies"
                      " RETURNING version, created_at",
                      p->args, 3, &p->res);
    return rc;
}

static int pg_policy_add(mg_store *base, const char *yaml, const char *digest, const char *author, int *version,
                         char created_at[40])
{
    const char *args[] = {yaml, digest, author};
    policy_arg p = {args, NULL};
    int rc = pg_call(pg_of(base), policy_add_work, &p, 1);
    if (rc == STORE_OK && PQntuples(p.res) == 1) {
        *version = pg_int(p.res, 0, 0);
        snprintf(created_at, 40, "%s", pg_val(p.res, 0, 1));
    } else if (rc == STORE_OK) {
        rc = STORE_EDB;
    }
    PQclear(p.res);
    return rc;
}

static int pg_policy_latest(mg_store *base, char **yaml, int *version, char created_at[40])
{
    *yaml = NULL;
    PGresult *r;
    int rc = pg_fetch(pg_of(base), "SELECT version, yaml, created_at FROM policies ORDER BY version DESC LIMIT 1", NULL,
                      0, &r);
    if (rc != STORE_OK)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_ENOTFOUND;
    if (rc == STORE_OK) {
        *version = pg_int(r, 0, 0);
        *yaml = strdup(pg_val(r, 0, 1));
        snprintf(created_at, 40, "%s", pg_val(r, 0, 2));
        rc = *yaml ? STORE_OK : STORE_ENOMEM;
    }
    PQclear(r);
    return rc;
}

static const store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .schema_version = pg_schema_version,
    .describe = pg_describe,
    .token_count = pg_token_count,
    .token_insert = pg_token_insert,
    .token_role = pg_token_role,
    .scan_add = pg_scan_add,
    .scan_start = pg_scan_start,
    .scan_put = pg_scan_put,
    .scan_get = pg_scan_get,
    .scan_unfinished = pg_scan_unfinished,
    .scan_requeue = pg_scan_requeue,
    .scan_list = pg_scan_list,
    .scan_last_allowed = pg_scan_last_allowed,
    .model_list = pg_model_list,
    .model_get = pg_model_get,
    .model_latest = pg_model_latest,
    .policy_add = pg_policy_add,
    .policy_latest = pg_policy_latest,
    .policy_list = pg_policy_list,
    .verdict_find = pg_verdict_find,
    .decision_add_many = pg_decision_add_many,
    .decision_list = pg_decision_list,
    .session_insert = pg_session_insert,
    .session_lookup = pg_session_lookup,
    .session_delete = pg_session_delete,
    .session_prune = pg_session_prune,
    .scan_counts = pg_scan_counts,
    .decision_counts = pg_decision_counts,
    .scan_blocked = pg_scan_blocked,
    .queue_claim = pg_queue_claim,
    .queue_renew = pg_queue_renew,
    .queue_notify = pg_queue_notify,
    .queue_wait = pg_queue_wait,
    .scan_joined = pg_scan_joined,
    .queue_stats = pg_queue_stats,
    .queue_done = pg_queue_done,
};
