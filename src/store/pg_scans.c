/*
 * pg_scans.c - scans and models in the PostgreSQL store: the statements of
 * sqlite_scans.c in PostgreSQL's dialect, with the same answers.
 *
 * A scan row is written PENDING when accepted, marked RUNNING with an
 * attempt count when a worker takes it, and completed (DONE, with the
 * report and the model's identity) in one transaction together with its
 * model; the model upsert is ON CONFLICT, so two processes finishing scans
 * of one model at once both succeed.
 *
 * Listings are keyset-paginated on (created_at, uuid), newest first; the
 * WHERE clause is assembled from fixed fragments (pg_sql) with every value
 * a parameter. Rows are read whole into the result before any callback
 * runs, so the connection is back in the pool while callers walk them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "util/banned.h"

static store_state state_parse(const char *s)
{
    return strcmp(s, "PENDING") == 0 ? SCAN_PENDING : strcmp(s, "RUNNING") == 0 ? SCAN_RUNNING : SCAN_DONE;
}

/* Row r of PG_SCAN_COLS (and the report at column 11 when asked). */
static void read_scan(const PGresult *res, int r, store_scan *row, int with_report)
{
    memset(row, 0, sizeof *row);
    row->uuid = pg_val(res, r, 0);
    row->model_uri = pg_val(res, r, 1);
    row->model_uuid = pg_val(res, r, 2);
    row->model_version_uuid = pg_val(res, r, 3);
    row->revision = pg_val(res, r, 4);
    row->namespace_ = "";
    row->model_name = "";
    row->eval_outcome = pg_val(res, r, 5);
    row->license = pg_val_or_null(res, r, 6);
    row->labels = pg_val_or_null(res, r, 7);
    row->created_at = pg_val(res, r, 8);
    row->state = state_parse(pg_val(res, r, 9));
    row->attempts = pg_int(res, r, 10);
    row->report = with_report && row->state == SCAN_DONE ? pg_val(res, r, 11) : NULL;
}

int pg_each_scan(const PGresult *res, int with_report, store_scan_fn fn, void *ctx)
{
    int rc = STORE_OK, n = PQntuples(res);
    for (int r = 0; r < n && rc == STORE_OK; r++) {
        store_scan row;
        read_scan(res, r, &row, with_report);
        rc = fn(ctx, &row);
    }
    return rc;
}

/* The first row (report included) to fn; STORE_ENOTFOUND without one.
 * Clears res. */
static int one_scan(int rc, PGresult *res, store_scan_fn fn, void *ctx)
{
    if (rc == STORE_OK && PQntuples(res) == 0)
        rc = STORE_ENOTFOUND;
    if (rc == STORE_OK) {
        store_scan row;
        read_scan(res, 0, &row, 1);
        rc = fn(ctx, &row);
    }
    PQclear(res);
    return rc;
}

/* A walk's result, clearing res. */
static int walk_scans(int rc, PGresult *res, int with_report, store_scan_fn fn, void *ctx)
{
    if (rc == STORE_OK)
        rc = pg_each_scan(res, with_report, fn, ctx);
    PQclear(res);
    return rc;
}

int pg_scan_add(mg_store *base, const store_scan *s)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", STORE_AFFINITY_S);
    const char *args[] = {s->uuid,     s->model_uri, s->created_at,
                          s->license,  s->labels,    s->queue_key ? s->queue_key : "",
                          s->affinity, secs,         s->join_waiting ? "t" : "f"};
    /* Nothing is added, and the caller joins the scan there
     * (pg_scan_joined), when under this key the same hub commit is queued or
     * running, or (join_waiting) any other model is queued and not yet
     * started: that scan reads the model after this request came, so its
     * verdict answers it. */
    return pg_fetch(pg_of(base),
                    "INSERT INTO scans (uuid, model_uuid, model_uri, eval_outcome, created_at, report, state,"
                    " license, labels, queue_key, affinity, affinity_until)"
                    " SELECT $1::text, '', $2::text, 'PENDING', $3::text, '', 'PENDING', $4::text, $5::text, $6::text,"
                    " $7::text, CASE WHEN $7::text IS NULL THEN NULL ELSE now() + make_interval(secs => $8::int) END"
                    " WHERE NOT $9::boolean OR NOT EXISTS (SELECT 1 FROM scans WHERE model_uri = $2::text"
                    " AND queue_key = $6::text AND state = 'PENDING')"
                    " ON CONFLICT (model_uri, queue_key) WHERE state <> 'DONE' AND model_uri LIKE 'hf://%@%'"
                    " DO NOTHING",
                    args, 9, NULL);
}

int pg_scan_joined(mg_store *base, const char *uuid, const char *model_uri, const char *queue_key, char out[37])
{
    const char *args[] = {uuid, model_uri, queue_key};
    PGresult *r;
    /* its own row, the common case, by its key; only when there is none the
     * scan it joined (one query with an OR would read every scan of the URI) */
    int rc = pg_fetch(pg_of(base), "SELECT uuid FROM scans WHERE uuid = $1", args, 1, &r);
    if (rc == STORE_OK && PQntuples(r) == 0) {
        PQclear(r);
        rc = pg_fetch(pg_of(base),
                      "SELECT uuid FROM scans WHERE model_uri = $2 AND queue_key = $3 AND uuid <> $1"
                      " ORDER BY state = 'PENDING' DESC, state = 'DONE', created_at DESC LIMIT 1",
                      args, 3, &r);
    }
    if (rc != STORE_OK)
        return rc;
    rc = PQntuples(r) == 1 ? STORE_OK : STORE_ENOTFOUND;
    if (rc == STORE_OK)
        snprintf(out, 37, "%s", pg_val(r, 0, 0));
    PQclear(r);
    return rc;
}

int pg_scan_start(mg_store *base, const char *uuid, int *attempts)
{
    const char *args[] = {uuid};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "UPDATE scans SET state = 'RUNNING', attempts = attempts + 1"
                      " WHERE uuid = $1 AND state <> 'DONE' RETURNING attempts",
                      args, 1, &r);
    if (rc != STORE_OK)
        return rc;
    rc = PQntuples(r) == 1 ? STORE_OK : PQntuples(r) == 0 ? STORE_ENOTFOUND : STORE_EDB;
    if (rc == STORE_OK)
        *attempts = pg_int(r, 0, 0);
    PQclear(r);
    return rc;
}

static int put_work(PGconn *c, void *arg)
{
    const store_scan *s = arg;
    int rc = STORE_OK;
    if (s->model_uuid && *s->model_uuid) {
        const char *model[] = {s->model_uuid, s->model_uri, s->namespace_, s->model_name, s->created_at};
        rc = pg_query(c,
                      "INSERT INTO models (uuid, model_uri, namespace, model_name, created_at, updated_at)"
                      " VALUES ($1, $2, $3, $4, $5, $5)"
                      " ON CONFLICT (uuid) DO UPDATE SET model_uri = excluded.model_uri,"
                      " updated_at = GREATEST(models.updated_at, excluded.updated_at)",
                      model, 5, NULL);
    }
    const char *scan[] = {s->uuid,   s->model_uuid, s->model_uri, s->eval_outcome,       s->created_at,
                          s->report, s->license,    s->labels,    s->model_version_uuid, s->revision};
    if (rc == STORE_OK)
        rc = pg_query(c,
                      "INSERT INTO scans (uuid, model_uuid, model_uri, eval_outcome, created_at, report, license,"
                      " labels, model_version_uuid, revision, state)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'DONE')"
                      " ON CONFLICT (uuid) DO UPDATE SET model_uuid = excluded.model_uuid,"
                      " eval_outcome = excluded.eval_outcome, report = excluded.report,"
                      " model_version_uuid = excluded.model_version_uuid, revision = excluded.revision,"
                      " state = 'DONE'",
                      scan, 10, NULL);
    return rc;
}

int pg_scan_put(mg_store *base, const store_scan *s)
{
    return pg_call(pg_of(base), put_work, (void *)s, 1);
}

int pg_scan_get(mg_store *base, const char *uuid, store_scan_fn fn, void *ctx)
{
    const char *args[] = {uuid};
    PGresult *r;
    int rc = pg_fetch(pg_of(base), "SELECT " PG_SCAN_COLS ", report FROM scans WHERE uuid = $1", args, 1, &r);
    return one_scan(rc, r, fn, ctx);
}

int pg_scan_unfinished(mg_store *base, store_scan_fn fn, void *ctx)
{
    PGresult *r;
    int rc = pg_fetch(pg_of(base), "SELECT " PG_SCAN_COLS " FROM scans WHERE state <> 'DONE' ORDER BY created_at, uuid",
                      NULL, 0, &r);
    return walk_scans(rc, r, 0, fn, ctx);
}

int pg_scan_requeue(mg_store *base)
{
    return pg_fetch(pg_of(base), "UPDATE scans SET state = 'PENDING' WHERE state = 'RUNNING'", NULL, 0, NULL);
}

int pg_scan_list(mg_store *base, const store_filter *f, store_scan_fn fn, void *ctx)
{
    pg_sql q;
    char lim[16];
    pg_sql_init(&q, "SELECT " PG_SCAN_COLS " FROM scans");
    if (f->model_uuid)
        pg_sql_cond(&q, "model_uuid = ?", &f->model_uuid, 1);
    if (f->ns && f->name) {
        const char *v[] = {f->ns, f->name};
        pg_sql_cond(&q, "model_uuid IN (SELECT uuid FROM models WHERE namespace = ? AND model_name = ?)", v, 2);
    }
    if (f->outcome)
        pg_sql_cond(&q, "eval_outcome = ?", &f->outcome, 1);
    if (f->since)
        pg_sql_cond(&q, "created_at >= ?", &f->since, 1);
    pg_sql_keyset(&q, f, lim);
    PGresult *r;
    int rc = pg_fetch_sql(pg_of(base), &q, &r);
    return walk_scans(rc, r, 0, fn, ctx);
}

/* ---- models ---- */

#define MODEL_COLS "uuid, model_uri, namespace, model_name, created_at, updated_at"

static int each_model(const PGresult *res, store_model_fn fn, void *ctx)
{
    int rc = STORE_OK, n = PQntuples(res);
    for (int r = 0; r < n && rc == STORE_OK; r++) {
        store_model m = {pg_val(res, r, 0), pg_val(res, r, 1), pg_val(res, r, 2),
                         pg_val(res, r, 3), pg_val(res, r, 4), pg_val(res, r, 5)};
        rc = fn(ctx, &m);
    }
    return rc;
}

int pg_model_list(mg_store *base, const store_filter *f, store_model_fn fn, void *ctx)
{
    pg_sql q;
    char lim[16];
    pg_sql_init(&q, "SELECT " MODEL_COLS " FROM models");
    pg_sql_keyset(&q, f, lim);
    PGresult *r;
    int rc = pg_fetch_sql(pg_of(base), &q, &r);
    if (rc == STORE_OK)
        rc = each_model(r, fn, ctx);
    PQclear(r);
    return rc;
}

typedef struct model_arg {
    const char *uuid, *max;
    PGresult *model, *versions;
} model_arg;

/* The model, then the newest finished scan of each of its versions. */
static int model_work(PGconn *c, void *arg)
{
    model_arg *m = arg;
    PQclear(m->model); /* from a first run, when this is the second */
    PQclear(m->versions);
    m->model = m->versions = NULL;
    const char *one[] = {m->uuid};
    int rc = pg_query(c, "SELECT " MODEL_COLS " FROM models WHERE uuid = $1", one, 1, &m->model);
    if (rc != STORE_OK || PQntuples(m->model) == 0)
        return rc;
    const char *two[] = {m->uuid, m->max};
    return pg_query(c,
                    "SELECT model_version_uuid, revision, uuid, eval_outcome, created_at FROM ("
                    " SELECT model_version_uuid, revision, uuid, eval_outcome, created_at,"
                    "  ROW_NUMBER() OVER (PARTITION BY model_version_uuid"
                    "   ORDER BY created_at DESC, uuid DESC) AS n"
                    " FROM scans WHERE model_uuid = $1 AND state = 'DONE' AND model_version_uuid <> '') v"
                    " WHERE n = 1 ORDER BY created_at DESC, uuid DESC LIMIT $2::bigint",
                    two, 2, &m->versions);
}

int pg_model_get(mg_store *base, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                 void *ctx)
{
    char lim[16];
    model_arg m = {uuid, pg_limit(max_versions, lim), NULL, NULL};
    int rc = pg_call(pg_of(base), model_work, &m, 0);
    if (rc == STORE_OK && PQntuples(m.model) == 0)
        rc = STORE_ENOTFOUND;
    if (rc == STORE_OK)
        rc = each_model(m.model, mfn, ctx);
    for (int r = 0; rc == STORE_OK && r < PQntuples(m.versions); r++) {
        store_version v = {pg_val(m.versions, r, 0), pg_val(m.versions, r, 1), pg_val(m.versions, r, 2),
                           pg_val(m.versions, r, 3), pg_val(m.versions, r, 4)};
        rc = vfn(ctx, &v);
    }
    PQclear(m.model);
    PQclear(m.versions);
    return rc;
}

int pg_scan_last_allowed(mg_store *base, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                         void *ctx)
{
    const char *args[] = {model_uuid, model_version_uuid};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT " PG_SCAN_COLS ", report FROM scans WHERE model_uuid = $1"
                      " AND ($2::text IS NULL OR model_version_uuid = $2::text) AND state = 'DONE'"
                      " AND eval_outcome = 'ALLOWED' ORDER BY created_at DESC, uuid DESC LIMIT 1",
                      args, 2, &r);
    return one_scan(rc, r, fn, ctx);
}

int pg_model_latest(mg_store *base, store_latest_fn fn, void *ctx)
{
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT model_uuid, model_uri, uuid, eval_outcome, license, labels,"
                      " doc ->> 'rules_version', doc ->> 'policy_digest' FROM ("
                      " SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.model_uuid"
                      "  ORDER BY s.created_at DESC, s.uuid DESC) AS n"
                      " FROM scans s JOIN models m ON m.uuid = s.model_uuid WHERE s.state = 'DONE') v"
                      " CROSS JOIN LATERAL (SELECT mg_json(v.report) AS doc) j"
                      " WHERE n = 1 ORDER BY created_at, uuid",
                      NULL, 0, &r);
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        store_latest row = {pg_val(r, i, 0),         pg_val(r, i, 1),         pg_val(r, i, 2), pg_val(r, i, 3),
                            pg_val_or_null(r, i, 4), pg_val_or_null(r, i, 5), pg_val(r, i, 6), pg_val(r, i, 7)};
        rc = fn(ctx, &row);
    }
    PQclear(r);
    return rc;
}
