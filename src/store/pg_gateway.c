/*
 * pg_gateway.c - what the Hub gateway keeps in the PostgreSQL store: its
 * verdicts, which are ordinary scans looked up by model_uri, and its audit
 * trail, one gateway_decisions row per decision (sqlite_gateway.c on
 * SQLite).
 *
 * A verdict found here stands only if the report was judged with the rules
 * and policy in force now; both are read from the report itself with
 * PostgreSQL's JSON operator (mg_json: a report that is not JSON matches
 * nothing). One statement finds the newest match and returns it whole.
 *
 * The gateway writes its audit trail in batches (src/gateway/audit.c): a
 * batch is one INSERT of up to DECISION_ROWS rows, so one round trip per
 * 64 decisions, in one transaction when it takes more than one statement.
 */
#include <stdio.h>
#include <string.h>

#include "pg_int.h"
#include "util/banned.h"

int pg_verdict_find(mg_store *base, const char *model_uri, const char *rules_version, const char *policy_digest,
                    store_scan_fn fn, void *ctx)
{
    const char *args[] = {model_uri, rules_version, policy_digest};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "SELECT " PG_SCAN_COLS ", report FROM scans"
                      " CROSS JOIN LATERAL (SELECT mg_json(report) AS doc) j"
                      " WHERE model_uri = $1 AND state = 'DONE'"
                      " AND doc ->> 'rules_version' = $2 AND doc ->> 'policy_digest' = $3"
                      " ORDER BY created_at DESC, uuid DESC LIMIT 1",
                      args, 3, &r);
    if (rc == STORE_OK && PQntuples(r) == 0)
        rc = STORE_ENOTFOUND;
    if (rc == STORE_OK) {
        /* the one row, through the walk scans share */
        rc = pg_each_scan(r, 1, fn, ctx);
    }
    PQclear(r);
    return rc;
}

#define DECISION_COLS                                                                                                  \
    "uuid, created_at, caller, client_addr, repo_type, repo, revision, commit_sha, path, action, outcome, scan_uuid, " \
    "reason"
enum { DECISION_NCOLS = 13, DECISION_ROWS = 64 };

typedef struct batch {
    const store_decision *d;
    size_t n;
} batch;

/* One INSERT of up to DECISION_ROWS decisions. */
static int insert_rows(PGconn *c, const store_decision *d, size_t n)
{
    /* "($1, ..., $13)" is at most 13 * 7 + 2 characters a row */
    char sql[256 + DECISION_ROWS * 100];
    const char *args[DECISION_ROWS * DECISION_NCOLS];
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO gateway_decisions (" DECISION_COLS ") VALUES ");
    int k = 0;
    for (size_t i = 0; i < n && i < DECISION_ROWS; i++) {
        const char *row[] = {d[i].uuid,    d[i].created_at, d[i].caller,     d[i].client_addr, d[i].repo_type,
                             d[i].repo,    d[i].revision,   d[i].commit_sha, d[i].path,        d[i].action,
                             d[i].outcome, d[i].scan_uuid,  d[i].reason};
        for (int j = 0; j < DECISION_NCOLS; j++) {
            args[k] = row[j];
            k++;
            int w = snprintf(sql + len, sizeof sql - len, "%s$%d%s", j == 0 ? (i ? ", (" : "(") : ", ", k,
                             j == DECISION_NCOLS - 1 ? ")" : "");
            if (w < 0 || (size_t)w >= sizeof sql - len)
                return STORE_EDB;
            len += (size_t)w;
        }
    }
    return pg_query(c, sql, args, k, NULL);
}

static int batch_work(PGconn *c, void *arg)
{
    const batch *b = arg;
    int rc = STORE_OK;
    for (size_t i = 0; i < b->n && rc == STORE_OK; i += DECISION_ROWS)
        rc = insert_rows(c, b->d + i, b->n - i);
    return rc;
}

/* All or none: one statement is atomic, more run in one transaction. */
int pg_decision_add_many(mg_store *base, const store_decision *d, size_t n)
{
    batch b = {d, n};
    return n == 0 ? STORE_OK : pg_call(pg_of(base), batch_work, &b, n > DECISION_ROWS);
}

int pg_decision_list(mg_store *base, const store_filter *f, store_decision_fn fn, void *ctx)
{
    pg_sql q;
    char lim[16];
    pg_sql_init(&q, "SELECT " DECISION_COLS " FROM gateway_decisions");
    if (f->outcome)
        pg_sql_cond(&q, "outcome = ?", &f->outcome, 1);
    if (f->ns && f->name) {
        const char *v[] = {f->ns, f->name, f->ns, f->name};
        pg_sql_cond(&q, "repo = (CASE WHEN ?::text = '' THEN ?::text ELSE ?::text || '/' || ?::text END)", v, 4);
    }
    if (f->since)
        pg_sql_cond(&q, "created_at >= ?", &f->since, 1);
    pg_sql_keyset(&q, f, lim);
    PGresult *r;
    int rc = pg_fetch_sql(pg_of(base), &q, &r);
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        store_decision d = {.uuid = pg_val(r, i, 0),
                            .created_at = pg_val(r, i, 1),
                            .caller = pg_val(r, i, 2),
                            .client_addr = pg_val_or_null(r, i, 3),
                            .repo_type = pg_val(r, i, 4),
                            .repo = pg_val(r, i, 5),
                            .revision = pg_val_or_null(r, i, 6),
                            .commit_sha = pg_val_or_null(r, i, 7),
                            .path = pg_val_or_null(r, i, 8),
                            .action = pg_val(r, i, 9),
                            .outcome = pg_val(r, i, 10),
                            .scan_uuid = pg_val_or_null(r, i, 11),
                            .reason = pg_val_or_null(r, i, 12)};
        rc = fn(ctx, &d);
    }
    PQclear(r);
    return rc;
}
