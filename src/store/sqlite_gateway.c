/*
 * sqlite_gateway.c - what the Hub gateway (src/gateway) keeps in the SQLite
 * store: its verdicts, which are ordinary scans looked up by model_uri, and
 * its audit trail, one gateway_decisions row per decision.
 *
 * A verdict found here stands only if the report was judged with the rules
 * and policy in force now; both are in the report itself (rules_version,
 * policy_digest), so no column has to be kept in step with it. The lookup
 * walks the scans of one model_uri newest first (index scans_by_uri): the
 * gateway's URIs name a commit, so there are few, and the newest usually
 * matches.
 *
 * A decision is written on every gateway request: one INSERT in its own
 * implicit transaction, with two small indexes to maintain. Listings are
 * keyset-paginated on (created_at, uuid) like scans, the WHERE clause
 * assembled from fixed fragments with every value bound.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

/* The uuid of the newest DONE scan of model_uri judged with these rules and
 * this policy; STORE_ENOTFOUND without one. Called with the store held. */
static int verdict_uuid(sqlite3 *db, const char *model_uri, const char *rules_version, const char *policy_digest,
                        char uuid[37])
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "SELECT uuid FROM scans WHERE model_uri = ?1 AND state = 'DONE'"
                           " AND CASE WHEN json_valid(report) THEN json_extract(report, '$.rules_version') END = ?2"
                           " AND CASE WHEN json_valid(report) THEN json_extract(report, '$.policy_digest') END = ?3"
                           " ORDER BY created_at DESC, uuid DESC LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    sqlite3_bind_text(q, 1, model_uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, rules_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, policy_digest, -1, SQLITE_STATIC);
    int s = sqlite3_step(q);
    int rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
    if (rc == STORE_OK)
        snprintf(uuid, 37, "%s", sq_col(q, 0));
    sqlite3_finalize(q);
    return rc;
}

int sq_verdict_find(mg_store *base, const char *model_uri, const char *rules_version, const char *policy_digest,
                    store_scan_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    char uuid[37] = "";
    pthread_mutex_lock(&st->mu);
    int rc = verdict_uuid(st->db, model_uri, rules_version, policy_digest, uuid);
    pthread_mutex_unlock(&st->mu);
    /* a finished scan is never changed or deleted: reading it in a second
     * step finds the same row */
    return rc == STORE_OK ? sq_scan_get(base, uuid, fn, ctx) : rc;
}

#define DECISION_COLS                                                                                                  \
    "uuid, created_at, caller, client_addr, repo_type, repo, revision, commit_sha, path, action, outcome, scan_uuid, " \
    "reason"

static int insert_decision(sq_store *st, const store_decision *d)
{
    const char *args[] = {d->uuid,       d->created_at, d->caller, d->client_addr, d->repo_type, d->repo,  d->revision,
                          d->commit_sha, d->path,       d->action, d->outcome,     d->scan_uuid, d->reason};
    return sq_run(st->db,
                  "INSERT INTO gateway_decisions (" DECISION_COLS ")"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                  args, 13);
}

/* One transaction, so one disk flush however many rows: the gateway
 * writes its audit trail in batches (src/gateway/audit.c). */
int sq_decision_add_many(mg_store *base, const store_decision *d, size_t n)
{
    sq_store *st = sq_of(base);
    pthread_mutex_lock(&st->mu);
    int rc = n > 1 ? sq_exec(st->db, "BEGIN IMMEDIATE") : STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        rc = insert_decision(st, &d[i]);
    if (n > 1 && rc == STORE_OK && (rc = sq_exec(st->db, "COMMIT")) != STORE_OK)
        sq_exec(st->db, "ROLLBACK");
    else if (n > 1 && rc != STORE_OK)
        sq_exec(st->db, "ROLLBACK");
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int each_decision(sqlite3_stmt *q, store_decision_fn fn, void *ctx)
{
    int rc = STORE_OK, s = SQLITE_DONE;
    while (rc == STORE_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
        store_decision d = {.uuid = sq_col(q, 0),
                            .created_at = sq_col(q, 1),
                            .caller = sq_col(q, 2),
                            .client_addr = sq_col_or_null(q, 3),
                            .repo_type = sq_col(q, 4),
                            .repo = sq_col(q, 5),
                            .revision = sq_col_or_null(q, 6),
                            .commit_sha = sq_col_or_null(q, 7),
                            .path = sq_col_or_null(q, 8),
                            .action = sq_col(q, 9),
                            .outcome = sq_col(q, 10),
                            .scan_uuid = sq_col_or_null(q, 11),
                            .reason = sq_col_or_null(q, 12)};
        rc = fn(ctx, &d);
    }
    if (rc == STORE_OK && s != SQLITE_DONE)
        rc = STORE_EDB;
    return rc;
}

int sq_decision_list(mg_store *base, const store_filter *f, store_decision_fn fn, void *ctx)
{
    sq_store *st = sq_of(base);
    char sql[512] = "SELECT " DECISION_COLS " FROM gateway_decisions";
    int nc = 0;
    if (f->outcome)
        sq_add_where(sql, sizeof sql, "outcome = ?1", &nc);
    if (f->ns && f->name)
        sq_add_where(sql, sizeof sql, "repo = (CASE WHEN ?2 = '' THEN ?3 ELSE ?2 || '/' || ?3 END)", &nc);
    if (f->since)
        sq_add_where(sql, sizeof sql, "created_at >= ?4", &nc);
    if (f->after_created_at && f->after_uuid)
        sq_add_where(sql, sizeof sql, "(created_at, uuid) < (?5, ?6)", &nc);
    size_t len = strlen(sql);
    snprintf(sql + len, sizeof sql - len, " ORDER BY created_at DESC, uuid DESC LIMIT ?7");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK) {
        const char *vals[] = {f->outcome, f->ns, f->name, f->since, f->after_created_at, f->after_uuid};
        for (int i = 0; i < 6; i++)
            sq_bind_or_skip(q, i + 1, vals[i]);
        sqlite3_bind_int(q, 7, f->limit);
        rc = each_decision(q, fn, ctx);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}
