/*
 * sqlite_session.c - what the dashboard keeps in and reads from the SQLite
 * store: browser sessions, the policy history, and the overview's counts.
 *
 * A session is opened by presenting a token (POST /api/v1/session): the
 * browser gets a random cookie value (made in store.c), the store keeps
 * only its SHA-256 (as for tokens, so a copy of the database opens no
 * session) with the token's role and id, a random CSRF token, and an
 * expiry time. A session past its expiry is refused and deleted when it is
 * presented, and every new session prunes the expired ones, so the table
 * holds live sessions plus at most the ones nobody presented since they
 * expired. Times are computed by the
 * database ('now' is one instant within a statement) and compared as text:
 * every stored time has the same RFC 3339 shape.
 *
 * The overview's reads are counts by outcome over a time range and the
 * newest BLOCKED scans with the policies they violated, read from the
 * stored report by SQLite's JSON functions (the report is never parsed in
 * C here; one that is not valid JSON names no policy).
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

static int prune(sqlite3 *db)
{
    return sq_exec(db, "DELETE FROM sessions WHERE expires_at <= " NOW_SQL);
}

/* Inserts the session of the token whose hash is token_h; the store is held
 * and a transaction open. */
static int insert_session(sqlite3 *db, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out)
{
    char life[32];
    snprintf(life, sizeof life, "+%ld seconds", lifetime_s);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO sessions (hash, token_id, role, csrf, created_at, expires_at)"
                           " SELECT ?1, id, role, ?2, " NOW_SQL ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3)"
                           " FROM tokens WHERE hash = ?4 RETURNING role, created_at, expires_at",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    sqlite3_bind_text(q, 1, cookie_h, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, out->csrf, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, life, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, token_h, -1, SQLITE_STATIC);
    int s = sqlite3_step(q);
    int rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
    if (rc == STORE_OK) {
        out->role = store_role_parse(sq_col(q, 0));
        snprintf(out->created_at, sizeof out->created_at, "%s", sq_col(q, 1));
        snprintf(out->expires_at, sizeof out->expires_at, "%s", sq_col(q, 2));
        rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    }
    sqlite3_finalize(q);
    return rc;
}

int sq_session_insert(mg_store *base, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    int rc = sq_exec(st->db, "BEGIN IMMEDIATE");
    if (rc == STORE_OK)
        rc = prune(st->db);
    if (rc == STORE_OK)
        rc = insert_session(st->db, cookie_h, token_h, lifetime_s, out);
    if (rc == STORE_OK)
        rc = sq_exec(st->db, "COMMIT");
    if (rc != STORE_OK)
        sq_exec(st->db, "ROLLBACK");
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_session_lookup(mg_store *base, const char *h, store_session *out)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB, expired = 0;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT s.role, s.csrf, s.created_at, s.expires_at, t.hash, s.expires_at <= " NOW_SQL
                           " FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = ?1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, h, -1, SQLITE_STATIC);
        int s = sqlite3_step(q);
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        if (rc == STORE_OK) {
            out->role = store_role_parse(sq_col(q, 0));
            snprintf(out->csrf, sizeof out->csrf, "%s", sq_col(q, 1));
            snprintf(out->created_at, sizeof out->created_at, "%s", sq_col(q, 2));
            snprintf(out->expires_at, sizeof out->expires_at, "%s", sq_col(q, 3));
            store_caller(sq_col(q, 4), out->caller);
            expired = sqlite3_column_int(q, 5) != 0;
        }
        sqlite3_finalize(q);
    }
    if (rc == STORE_OK && expired) {
        const char *args[] = {h};
        sq_run(st->db, "DELETE FROM sessions WHERE hash = ?1", args, 1);
        rc = STORE_ENOTFOUND;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_session_delete(mg_store *base, const char *h)
{
    sq_store *st = sq_of(base);
    const char *args[] = {h};
    pthread_mutex_lock(&st->mu);
    int rc = sq_run(st->db, "DELETE FROM sessions WHERE hash = ?1", args, 1);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_session_prune(mg_store *base, long *deleted)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    int rc = prune(st->db);
    if (deleted)
        *deleted = rc == STORE_OK ? (long)sqlite3_changes(st->db) : 0;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---- the policy history ---- */

int sq_policy_list(mg_store *base, int before, int limit, store_policy_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT version, digest, created_at, author, yaml FROM policies"
                           " WHERE ?1 = 0 OR version < ?1 ORDER BY version DESC LIMIT ?2",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int(q, 1, before);
        sqlite3_bind_int(q, 2, limit);
        int s = SQLITE_DONE;
        rc = STORE_OK;
        while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
            store_policy p = {sqlite3_column_int(q, 0), sq_col(q, 1), sq_col(q, 2), sq_col_or_null(q, 3), sq_col(q, 4)};
            rc = fn(ctx, &p);
        }
        if (rc == STORE_OK && s != SQLITE_DONE)
            rc = STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---- the overview ---- */

/* Runs a "SELECT outcome, COUNT(*) ... GROUP BY outcome" bound to `since`. */
static int count_by_outcome(sq_store *st, const char *sql, const char *since, store_counts *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
        int s;
        while ((s = sqlite3_step(q)) == SQLITE_ROW) {
            const char *o = sq_col(q, 0);
            long n = (long)sqlite3_column_int64(q, 1);
            long *slot = strcmp(o, "ALLOWED") == 0   ? &out->allowed
                         : strcmp(o, "BLOCKED") == 0 ? &out->blocked
                         : strcmp(o, "ERROR") == 0   ? &out->error
                         : strcmp(o, "PENDING") == 0 ? &out->pending
                                                     : NULL;
            if (slot)
                *slot = n;
        }
        rc = s == SQLITE_DONE ? STORE_OK : STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sq_scan_counts(mg_store *base, const char *since, store_counts *out)
{
    sq_store *st = sq_of(base);
    return count_by_outcome(st, "SELECT eval_outcome, COUNT(*) FROM scans WHERE created_at >= ?1 GROUP BY eval_outcome",
                            since, out);
}

int sq_decision_counts(mg_store *base, const char *since, store_counts *out)
{
    sq_store *st = sq_of(base);
    return count_by_outcome(
        st, "SELECT outcome, COUNT(*) FROM gateway_decisions WHERE created_at >= ?1 GROUP BY outcome", since, out);
}

int sq_scan_blocked(mg_store *base, int limit, store_blocked_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT s.uuid, s.model_uri, COALESCE(m.namespace, ''), COALESCE(m.model_name, ''),"
                           " s.created_at, (SELECT json_group_array(json_extract(v.value, '$.policy_name'))"
                           "  FROM json_each(CASE WHEN json_valid(s.report) THEN s.report ELSE '{}' END,"
                           "   '$.policy_violations') v WHERE v.type = 'object')"
                           " FROM scans s LEFT JOIN models m ON m.uuid = s.model_uuid"
                           " WHERE s.eval_outcome = 'BLOCKED' AND s.state = 'DONE'"
                           " ORDER BY s.created_at DESC, s.uuid DESC LIMIT ?1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int(q, 1, limit);
        int s = SQLITE_DONE;
        rc = STORE_OK;
        while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
            store_blocked b = {sq_col(q, 0), sq_col(q, 1), sq_col(q, 2), sq_col(q, 3), sq_col(q, 4), sq_col(q, 5)};
            rc = fn(ctx, &b);
        }
        if (rc == STORE_OK && s != SQLITE_DONE)
            rc = STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}
