/*
 * sqlite_scans.c - scans and models in the SQLite store.
 *
 * A scan row is written when the scan is accepted (PENDING, no report), is
 * marked RUNNING with an attempt count when a worker takes it, and is
 * completed (DONE, with the report and the model's identity) in one
 * transaction together with its model. A process killed at any point leaves
 * either the previous state or the next one, never a half-written report:
 * the service re-runs what is not DONE when it starts again.
 *
 * Listings are keyset-paginated on (created_at, uuid), newest first, so a
 * page costs the same however deep it is and rows inserted meanwhile never
 * shift a page. The WHERE clause is assembled from fixed fragments (values
 * are always bound parameters, never text in the SQL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

#define SCAN_COLS                                                                                                      \
    "uuid, model_uri, model_uuid, model_version_uuid, revision, eval_outcome, license, labels, created_at, state, "    \
    "attempts"

static store_state state_parse(const char *s)
{
    return strcmp(s, "PENDING") == 0 ? SCAN_PENDING : strcmp(s, "RUNNING") == 0 ? SCAN_RUNNING : SCAN_DONE;
}

/* Reads the SCAN_COLS columns (and the report at index 11 when asked). */
static void read_scan(sqlite3_stmt *q, store_scan *row, int with_report)
{
    memset(row, 0, sizeof *row);
    row->uuid = sq_col(q, 0);
    row->model_uri = sq_col(q, 1);
    row->model_uuid = sq_col(q, 2);
    row->model_version_uuid = sq_col(q, 3);
    row->revision = sq_col(q, 4);
    row->namespace_ = "";
    row->model_name = "";
    row->eval_outcome = sq_col(q, 5);
    row->license = sq_col_or_null(q, 6);
    row->labels = sq_col_or_null(q, 7);
    row->created_at = sq_col(q, 8);
    row->state = state_parse(sq_col(q, 9));
    row->attempts = sqlite3_column_int(q, 10);
    row->report = with_report && row->state == SCAN_DONE ? sq_col(q, 11) : NULL;
}

/* Steps through q calling fn for each row; the walk's result. */
static int each_scan(sqlite3_stmt *q, int with_report, store_scan_fn fn, void *ctx)
{
    int rc = STORE_OK, s = SQLITE_DONE;
    while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
        store_scan row;
        read_scan(q, &row, with_report);
        rc = fn(ctx, &row);
    }
    if (rc == STORE_OK && s != SQLITE_DONE)
        rc = STORE_EDB;
    return rc;
}

int sq_scan_add(mg_store *base, const store_scan *s)
{
    sq_store *st = sq_of(base);
    const char *args[] = {s->uuid,    s->model_uri, s->created_at,
                          s->license, s->labels,    s->queue_key ? s->queue_key : ""};
    pthread_mutex_lock(&st->mu);
    int rc = sq_run(st->db,
                    "INSERT INTO scans (uuid, model_uuid, model_uri, eval_outcome, created_at, report, state,"
                    " license, labels, queue_key) VALUES (?1, '', ?2, 'PENDING', ?3, '', 'PENDING', ?4, ?5, ?6)",
                    args, 6);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_queue_stats(mg_store *base, store_queue_info *out)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, QUEUE_STATS_SQL, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) {
            out->waiting = (long)sqlite3_column_int64(q, 0);
            out->running = (long)sqlite3_column_int64(q, 1);
            const unsigned char *t = sqlite3_column_text(q, 2);
            snprintf(out->oldest, sizeof out->oldest, "%s", t ? (const char *)t : "");
            rc = STORE_OK;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_scan_start(mg_store *base, const char *uuid, int *attempts)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE scans SET state = 'RUNNING', attempts = attempts + 1"
                           " WHERE uuid = ?1 AND state <> 'DONE' RETURNING attempts",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, uuid, -1, SQLITE_STATIC);
        int s = sqlite3_step(q);
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        if (rc == STORE_OK) {
            *attempts = sqlite3_column_int(q, 0);
            rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int put_model(sqlite3 *db, const store_scan *s)
{
    const char *model[] = {s->model_uuid, s->model_uri, s->namespace_, s->model_name, s->created_at};
    return sq_run(db,
                  "INSERT INTO models (uuid, model_uri, namespace, model_name, created_at, updated_at)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                  " ON CONFLICT (uuid) DO UPDATE SET model_uri = excluded.model_uri,"
                  " updated_at = MAX(updated_at, excluded.updated_at)",
                  model, 5);
}

int sq_scan_put(mg_store *base, const store_scan *s)
{
    sq_store *st = sq_of(base);
    const char *scan[] = {s->uuid,   s->model_uuid, s->model_uri, s->eval_outcome,       s->created_at,
                          s->report, s->license,    s->labels,    s->model_version_uuid, s->revision};
    pthread_mutex_lock(&st->mu);
    int rc = sq_exec(st->db, "BEGIN IMMEDIATE");
    if (rc == STORE_OK && s->model_uuid && *s->model_uuid)
        rc = put_model(st->db, s);
    if (rc == STORE_OK)
        rc = sq_run(st->db,
                    "INSERT INTO scans (uuid, model_uuid, model_uri, eval_outcome, created_at, report, license,"
                    " labels, model_version_uuid, revision, state)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'DONE')"
                    " ON CONFLICT (uuid) DO UPDATE SET model_uuid = excluded.model_uuid,"
                    " eval_outcome = excluded.eval_outcome, report = excluded.report,"
                    " model_version_uuid = excluded.model_version_uuid, revision = excluded.revision,"
                    " state = 'DONE'",
                    scan, 10);
    if (rc == STORE_OK)
        rc = sq_exec(st->db, "COMMIT");
    if (rc != STORE_OK)
        sq_exec(st->db, "ROLLBACK");
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* The first row of `q` (report included) to fn; STORE_ENOTFOUND without one. */
static int one_scan(sqlite3_stmt *q, store_scan_fn fn, void *ctx)
{
    int s = sqlite3_step(q);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
    store_scan row;
    read_scan(q, &row, 1);
    return fn(ctx, &row);
}

int sq_scan_get(mg_store *base, const char *uuid, store_scan_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT " SCAN_COLS ", report FROM scans WHERE uuid = ?1", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(q, 1, uuid, -1, SQLITE_STATIC);
        rc = one_scan(q, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_scan_unfinished(mg_store *base, store_scan_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT " SCAN_COLS " FROM scans WHERE state <> 'DONE' ORDER BY created_at, uuid",
                           -1, &q, NULL) == SQLITE_OK) {
        rc = each_scan(q, 0, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_scan_requeue(mg_store *base)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    int rc = sq_exec(st->db, "UPDATE scans SET state = 'PENDING' WHERE state = 'RUNNING'");
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Appends a fixed SQL fragment; the buffer is sized for all of them. */
void sq_add_where(char *sql, size_t n, const char *frag, int *nconds)
{
    size_t len = strlen(sql);
    snprintf(sql + len, n - len, "%s%s", *nconds ? " AND " : " WHERE ", frag);
    (*nconds)++;
}

void sq_bind_or_skip(sqlite3_stmt *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

int sq_scan_list(mg_store *base, const store_filter *f, store_scan_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    char sql[1024] = "SELECT " SCAN_COLS " FROM scans";
    int nc = 0;
    if (f->model_uuid)
        sq_add_where(sql, sizeof sql, "model_uuid = ?1", &nc);
    if (f->ns && f->name)
        sq_add_where(sql, sizeof sql,
                     "model_uuid IN (SELECT uuid FROM models WHERE namespace = ?2 AND model_name = ?3)", &nc);
    if (f->outcome)
        sq_add_where(sql, sizeof sql, "eval_outcome = ?4", &nc);
    if (f->since)
        sq_add_where(sql, sizeof sql, "created_at >= ?5", &nc);
    if (f->after_created_at && f->after_uuid)
        sq_add_where(sql, sizeof sql, "(created_at, uuid) < (?6, ?7)", &nc);
    size_t len = strlen(sql);
    snprintf(sql + len, sizeof sql - len, " ORDER BY created_at DESC, uuid DESC LIMIT ?8");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK) {
        const char *vals[] = {f->model_uuid, f->ns, f->name, f->outcome, f->since, f->after_created_at, f->after_uuid};
        for (int i = 0; i < 7; i++)
            sq_bind_or_skip(q, i + 1, vals[i]);
        sqlite3_bind_int(q, 8, f->limit);
        rc = each_scan(q, 0, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---- models ---- */

static int each_model(sqlite3_stmt *q, store_model_fn fn, void *ctx)
{
    int rc = STORE_OK, s = SQLITE_DONE;
    while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
        store_model m = {sq_col(q, 0), sq_col(q, 1), sq_col(q, 2), sq_col(q, 3), sq_col(q, 4), sq_col(q, 5)};
        rc = fn(ctx, &m);
    }
    if (rc == STORE_OK && s != SQLITE_DONE)
        rc = STORE_EDB;
    return rc;
}

#define MODEL_COLS "uuid, model_uri, namespace, model_name, created_at, updated_at"

int sq_model_list(mg_store *base, const store_filter *f, store_model_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    const char *sql = f->after_created_at && f->after_uuid
                          ? "SELECT " MODEL_COLS " FROM models WHERE (created_at, uuid) < (?1, ?2)"
                            " ORDER BY created_at DESC, uuid DESC LIMIT ?3"
                          : "SELECT " MODEL_COLS " FROM models ORDER BY created_at DESC, uuid DESC LIMIT ?3";
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sq_bind_or_skip(q, 1, f->after_created_at);
        sq_bind_or_skip(q, 2, f->after_uuid);
        sqlite3_bind_int(q, 3, f->limit);
        rc = each_model(q, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* The newest finished scan of every version of one model. */
static int each_version(sqlite3 *db, const char *uuid, int max, store_version_fn fn, void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "SELECT model_version_uuid, revision, uuid, eval_outcome, created_at FROM ("
                           " SELECT model_version_uuid, revision, uuid, eval_outcome, created_at,"
                           "  ROW_NUMBER() OVER (PARTITION BY model_version_uuid"
                           "   ORDER BY created_at DESC, uuid DESC) AS n"
                           " FROM scans WHERE model_uuid = ?1 AND state = 'DONE' AND model_version_uuid <> '')"
                           " WHERE n = 1 ORDER BY created_at DESC, uuid DESC LIMIT ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, max);
    int rc = STORE_OK, s = SQLITE_DONE;
    while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
        store_version v = {sq_col(q, 0), sq_col(q, 1), sq_col(q, 2), sq_col(q, 3), sq_col(q, 4)};
        rc = fn(ctx, &v);
    }
    if (rc == STORE_OK && s != SQLITE_DONE)
        rc = STORE_EDB;
    sqlite3_finalize(q);
    return rc;
}

int sq_model_get(mg_store *base, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                 void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB, found = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT " MODEL_COLS " FROM models WHERE uuid = ?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, uuid, -1, SQLITE_STATIC);
        int s = sqlite3_step(q);
        rc = s == SQLITE_ROW || s == SQLITE_DONE ? STORE_OK : STORE_EDB;
        if (s == SQLITE_ROW) {
            found = 1;
            store_model m = {sq_col(q, 0), sq_col(q, 1), sq_col(q, 2), sq_col(q, 3), sq_col(q, 4), sq_col(q, 5)};
            rc = mfn(ctx, &m);
        }
        sqlite3_finalize(q);
    }
    if (rc == STORE_OK && !found)
        rc = STORE_ENOTFOUND;
    if (rc == STORE_OK)
        rc = each_version(st->db, uuid, max_versions, vfn, ctx);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_scan_last_allowed(mg_store *base, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                         void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT " SCAN_COLS ", report FROM scans WHERE model_uuid = ?1"
                           " AND (?2 IS NULL OR model_version_uuid = ?2) AND state = 'DONE'"
                           " AND eval_outcome = 'ALLOWED' ORDER BY created_at DESC, uuid DESC LIMIT 1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, model_uuid, -1, SQLITE_STATIC);
        sq_bind_or_skip(q, 2, model_version_uuid);
        rc = one_scan(q, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_model_latest(mg_store *base, store_latest_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT model_uuid, model_uri, uuid, eval_outcome, license, labels,"
                           " CASE WHEN json_valid(report) THEN json_extract(report, '$.rules_version') END,"
                           " CASE WHEN json_valid(report) THEN json_extract(report, '$.policy_digest') END FROM ("
                           " SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.model_uuid"
                           "  ORDER BY s.created_at DESC, s.uuid DESC) AS n"
                           " FROM scans s JOIN models m ON m.uuid = s.model_uuid WHERE s.state = 'DONE')"
                           " WHERE n = 1 ORDER BY created_at, uuid",
                           -1, &q, NULL) == SQLITE_OK) {
        int s = SQLITE_DONE;
        rc = STORE_OK;
        while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
            store_latest row = {sq_col(q, 0),         sq_col(q, 1),         sq_col(q, 2), sq_col(q, 3),
                                sq_col_or_null(q, 4), sq_col_or_null(q, 5), sq_col(q, 6), sq_col(q, 7)};
            rc = fn(ctx, &row);
        }
        if (rc == STORE_OK && s != SQLITE_DONE)
            rc = STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}
