/*
 * pg_session.c - what the dashboard keeps in and reads from the PostgreSQL
 * store (sqlite_session.c on SQLite): browser sessions, the policy history,
 * and the overview's counts.
 *
 * A session row holds the SHA-256 of its cookie (store.c makes the cookie),
 * the token's role and id, the CSRF token, and its times; opening one prunes
 * the expired ones in the same transaction, and one found expired when it
 * is presented is deleted. Times are computed by the server (PG_NOW: one
 * instant per statement) in the RFC 3339 shape SQLite writes, and compared
 * as text in columns that sort byte by byte.
 *
 * The overview's newest BLOCKED scans name the policies they violated, read
 * from the stored report with PostgreSQL's JSON functions and written as the
 * same compact JSON array text SQLite's json_group_array gives (a report
 * that is not JSON names none: "[]").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "util/banned.h"

#define PRUNE "DELETE FROM sessions WHERE expires_at <= " PG_NOW

typedef struct insert_arg {
    const char *const *args;
    PGresult *res;
} insert_arg;

static int insert_work(PGconn *c, void *arg)
{
    insert_arg *a = arg;
    PQclear(a->res); /* from a first run, when this is the second */
    a->res = NULL;
    int rc = pg_query(c, PRUNE, NULL, 0, NULL);
    if (rc == STORE_OK)
        rc = pg_query(c,
                      "INSERT INTO sessions (hash, token_id, role, csrf, created_at, expires_at)"
                      " SELECT $1, id, role, $2, " PG_NOW ","
                      " to_char((statement_timestamp() + make_interval(secs => $3::bigint)) AT TIME ZONE 'UTC',"
                      "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                      " FROM tokens WHERE hash = $4 RETURNING role, created_at, expires_at",
                      a->args, 4, &a->res);
    /* no such token: nothing stored, the prune rolled back with it (as on SQLite) */
    if (rc == STORE_OK && PQntuples(a->res) == 0)
        rc = STORE_ENOTFOUND;
    return rc;
}

int pg_session_insert(mg_store *base, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out)
{
    char life[32];
    snprintf(life, sizeof life, "%ld", lifetime_s);
    const char *args[] = {cookie_h, out->csrf, life, token_h};
    insert_arg a = {args, NULL};
    int rc = pg_call(pg_of(base), insert_work, &a, 1);
    if (rc == STORE_OK) {
        out->role = store_role_parse(pg_val(a.res, 0, 0));
        snprintf(out->created_at, sizeof out->created_at, "%s", pg_val(a.res, 0, 1));
        snprintf(out->expires_at, sizeof out->expires_at, "%s", pg_val(a.res, 0, 2));
    }
    PQclear(a.res);
    return rc;
}

int pg_session_lookup(mg_store *base, const char *h, store_session *out)
{
    const char *args[] = {h};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT s.role, s.csrf, s.created_at, s.expires_at, t.hash, s.expires_at <= " PG_NOW
                      " FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1",
                      args, 1, &r);
    if (rc != STORE_OK)
        return rc;
    int expired = 0;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_ENOTFOUND;
    if (rc == STORE_OK) {
        out->role = store_role_parse(pg_val(r, 0, 0));
        snprintf(out->csrf, sizeof out->csrf, "%s", pg_val(r, 0, 1));
        snprintf(out->created_at, sizeof out->created_at, "%s", pg_val(r, 0, 2));
        snprintf(out->expires_at, sizeof out->expires_at, "%s", pg_val(r, 0, 3));
        store_caller(pg_val(r, 0, 4), out->caller);
        expired = strcmp(pg_val(r, 0, 5), "t") == 0;
    }
    PQclear(r);
    if (rc == STORE_OK && expired) {
        pg_fetch(pg_of(base), "DELETE FROM sessions WHERE hash = $1", args, 1, NULL);
        rc = STORE_ENOTFOUND;
    }
    return rc;
}

int pg_session_delete(mg_store *base, const char *h)
{
    const char *args[] = {h};
    return pg_fetch(pg_of(base), "DELETE FROM sessions WHERE hash = $1", args, 1, NULL);
}

static int prune_work(PGconn *c, void *arg)
{
    PGresult *r;
    int rc = pg_query(c, PRUNE, NULL, 0, &r);
    if (rc == STORE_OK)
        *(long *)arg = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return rc;
}

int pg_session_prune(mg_store *base, long *deleted)
{
    long n = 0;
    int rc = pg_call(pg_of(base), prune_work, &n, 0);
    if (deleted)
        *deleted = rc == STORE_OK ? n : 0;
    return rc;
}

/* ---- the policy history ---- */

int pg_policy_list(mg_store *base, int before, int limit, store_policy_fn fn, void *ctx)
{
    char b[16], lim[16];
    snprintf(b, sizeof b, "%d", before);
    const char *args[] = {b, pg_limit(limit, lim)};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT version, digest, created_at, author, yaml FROM policies"
                      " WHERE $1::integer = 0 OR version < $1::integer ORDER BY version DESC LIMIT $2::bigint",
                      args, 2, &r);
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        store_policy p = {pg_int(r, i, 0), pg_val(r, i, 1), pg_val(r, i, 2), pg_val_or_null(r, i, 3), pg_val(r, i, 4)};
        rc = fn(ctx, &p);
    }
    PQclear(r);
    return rc;
}

/* ---- the overview ---- */

/* Runs a "SELECT outcome, COUNT(*) ... GROUP BY outcome" bound to `since`. */
static int count_by_outcome(mg_store *base, const char *sql, const char *since, store_counts *out)
{
    memset(out, 0, sizeof *out);
    const char *args[] = {since};
    PGresult *r;
    int rc = pg_fetch(pg_of(base), sql, args, 1, &r);
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        const char *o = pg_val(r, i, 0);
        long n = strtol(pg_val(r, i, 1), NULL, 10);
        long *slot = strcmp(o, "ALLOWED") == 0   ? &out->allowed
                     : strcmp(o, "BLOCKED") == 0 ? &out->blocked
                     : strcmp(o, "ERROR") == 0   ? &out->error
                     : strcmp(o, "PENDING") == 0 ? &out->pending
                                                 : NULL;
        if (slot)
            *slot = n;
    }
    PQclear(r);
    return rc;
}

int pg_scan_counts(mg_store *base, const char *since, store_counts *out)
{
    return count_by_outcome(
        base, "SELECT eval_outcome, COUNT(*) FROM scans WHERE created_at >= $1 GROUP BY eval_outcome", since, out);
}

int pg_decision_counts(mg_store *base, const char *since, store_counts *out)
{
    return count_by_outcome(
        base, "SELECT outcome, COUNT(*) FROM gateway_decisions WHERE created_at >= $1 GROUP BY outcome", since, out);
}

/* The names are each violation's policy_name as JSON text, in the order of
 * the array, joined with "," and no blank (json_agg would add one). */
int pg_scan_blocked(mg_store *base, int limit, store_blocked_fn fn, void *ctx)
{
    char lim[16];
    const char *args[] = {pg_limit(limit, lim)};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT s.uuid, s.model_uri, COALESCE(m.namespace, ''), COALESCE(m.model_name, ''),"
                      " s.created_at, (SELECT '[' || COALESCE(string_agg("
                      "   COALESCE((v.value -> 'policy_name')::text, 'null'), ',' ORDER BY v.n), '') || ']'"
                      "  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.pv) = 'array' THEN j.pv ELSE '[]' END)"
                      "   WITH ORDINALITY AS v(value, n) WHERE jsonb_typeof(v.value) = 'object')"
                      " FROM scans s LEFT JOIN models m ON m.uuid = s.model_uuid"
                      " CROSS JOIN LATERAL (SELECT mg_json(s.report) -> 'policy_violations' AS pv) j"
                      " WHERE s.eval_outcome = 'BLOCKED' AND s.state = 'DONE'"
                      " ORDER BY s.created_at DESC, s.uuid DESC LIMIT $1::bigint",
                      args, 1, &r);
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        store_blocked b = {pg_val(r, i, 0), pg_val(r, i, 1), pg_val(r, i, 2),
                           pg_val(r, i, 3), pg_val(r, i, 4), pg_val(r, i, 5)};
        rc = fn(ctx, &b);
    }
    PQclear(r);
    return rc;
}
