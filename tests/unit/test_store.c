/*
 * test_store.c - the store's conformance checks, run on every backend with
 * the same expectations (tmp_store.h: SQLite in a temporary directory, and
 * PostgreSQL when MODELGATE_TEST_PG is set): the gateway's verdicts looked
 * up by model_uri, rules version and policy digest (newest first,
 * unfinished and other scans ignored, found again after a reopen);
 * decisions written and listed (order, filters, keyset pages, NULL columns,
 * the outcome constraint, batches all or none). The rest of the interface
 * is checked in test_store_conf.c.
 */
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "test.h"
#include "tmp_store.h"

void test_store_verdicts(void);
void test_store_decisions(void);

/* Stores a finished scan of `uri` whose report names rules and policy. */
static int put_scan(mg_store *st, const char *uuid, const char *uri, const char *created, const char *outcome,
                    const char *rules, const char *policy, char *report, size_t n)
{
    snprintf(report, n,
             "{\"uuid\":\"%s\",\"model_uri\":\"%s\",\"eval_outcome\":\"%s\",\"rules_version\":\"%s\","
             "\"policy_digest\":\"%s\"}",
             uuid, uri, outcome, rules, policy);
    store_scan s = {.uuid = uuid,
                    .model_uri = uri,
                    .model_uuid = "00000000-0000-4000-8000-0000000000aa",
                    .model_version_uuid = "00000000-0000-4000-8000-0000000000bb",
                    .revision = "0123456789abcdef0123456789abcdef01234567",
                    .namespace_ = "ns",
                    .model_name = "name",
                    .eval_outcome = outcome,
                    .created_at = created,
                    .report = report};
    return store_scan_put(st, &s);
}

typedef struct found {
    int calls;
    char uuid[37], outcome[16];
    char report[512];
} found;

static int got_scan(void *ctx, const store_scan *row)
{
    found *f = ctx;
    f->calls++;
    snprintf(f->uuid, sizeof f->uuid, "%s", row->uuid);
    snprintf(f->outcome, sizeof f->outcome, "%s", row->eval_outcome);
    snprintf(f->report, sizeof f->report, "%s", row->report ? row->report : "(null)");
    return 0;
}

/* The uuid store_verdict_find returns, "" when none (or when it failed). */
static const char *verdict(mg_store *st, const char *uri, const char *rules, const char *policy, found *f)
{
    memset(f, 0, sizeof *f);
    int rc = store_verdict_find(st, uri, rules, policy, got_scan, f);
    CHECK(rc == STORE_OK || rc == STORE_ENOTFOUND);
    CHECK(f->calls == (rc == STORE_OK));
    return f->uuid;
}

#define URI     "hf://ns/name@0123456789abcdef0123456789abcdef01234567"
#define SCAN(n) "00000000-0000-4000-8000-00000000000" #n

static void check_verdicts(tmp_store *t)
{
    int version = 0;
    CHECK(store_schema_version(t->st, &version) == STORE_OK && version == 7);
    found f;
    CHECK(strcmp(verdict(t->st, URI, "r1", "sha256:p1", &f), "") == 0);

    char rep1[512], rep2[512], rep3[512], rep4[512];
    CHECK(put_scan(t->st, SCAN(1), URI, "2025-01-01T00:00:01.000000Z", "ALLOWED", "r1", "sha256:p1", rep1,
                   sizeof rep1) == STORE_OK);
    CHECK(put_scan(t->st, SCAN(2), URI, "2025-01-01T00:00:02.000000Z", "BLOCKED", "r1", "sha256:p1", rep2,
                   sizeof rep2) == STORE_OK);
    CHECK(put_scan(t->st, SCAN(3), URI, "2025-01-01T00:00:03.000000Z", "ALLOWED", "r2", "sha256:p1", rep3,
                   sizeof rep3) == STORE_OK);
    /* another commit of the same repo, newer, same rules: not this URI's verdict */
    CHECK(put_scan(t->st, SCAN(4), "hf://ns/name@1111111111111111111111111111111111111111",
                   "2025-01-01T00:00:04.000000Z", "ALLOWED", "r1", "sha256:p1", rep4, sizeof rep4) == STORE_OK);
    /* an accepted scan of the URI, not finished (its report is not JSON yet) */
    store_scan pending = {.uuid = SCAN(5), .model_uri = URI, .created_at = "2025-01-01T00:00:05.000000Z"};
    CHECK(store_scan_add(t->st, &pending) == STORE_OK);

    CHECK(strcmp(verdict(t->st, URI, "r1", "sha256:p1", &f), SCAN(2)) == 0); /* the newest with these rules */
    CHECK(strcmp(f.outcome, "BLOCKED") == 0 && strcmp(f.report, rep2) == 0);
    CHECK(strcmp(verdict(t->st, URI, "r2", "sha256:p1", &f), SCAN(3)) == 0);
    CHECK(strcmp(verdict(t->st, URI, "r1", "sha256:p2", &f), "") == 0); /* another policy: none */
    CHECK(strcmp(verdict(t->st, URI, "r3", "sha256:p1", &f), "") == 0);
    CHECK(strcmp(verdict(t->st, "hf://ns/name", "r1", "sha256:p1", &f), "") == 0);

    /* the cache survives a restart */
    CHECK(tmp_store_reopen(t) == STORE_OK);
    if (t->st)
        CHECK(strcmp(verdict(t->st, URI, "r1", "sha256:p1", &f), SCAN(2)) == 0);
}

void test_store_verdicts(void)
{
    tmp_store_each("store", check_verdicts);
}

typedef struct listed {
    int n;
    char uuid[8][37];
    int null_commit[8], null_path[8], null_reason[8];
    char caller[8][32];
} listed;

static int got_decision(void *ctx, const store_decision *d)
{
    listed *l = ctx;
    if (l->n >= 8)
        return -1;
    snprintf(l->uuid[l->n], 37, "%s", d->uuid);
    snprintf(l->caller[l->n], 32, "%s", d->caller);
    l->null_commit[l->n] = d->commit_sha == NULL;
    l->null_path[l->n] = d->path == NULL;
    l->null_reason[l->n] = d->reason == NULL;
    l->n++;
    return 0;
}

static listed list(mg_store *st, store_filter f)
{
    listed l;
    memset(&l, 0, sizeof l);
    if (!f.limit)
        f.limit = 8;
    CHECK(store_decision_list(st, &f, got_decision, &l) == STORE_OK);
    return l;
}

#define DEC(n) "00000000-0000-4000-8000-0000000000d" #n

static void check_decisions(tmp_store *t)
{
    CHECK(list(t->st, (store_filter){0}).n == 0);
    const char *sha = "0123456789abcdef0123456789abcdef01234567";
    store_decision d[] = {
        {DEC(1), "2025-01-01T00:00:01.000000Z", "anonymous", "127.0.0.1", "model", "ns/name", "main", sha, NULL,
         "revision", "ALLOWED", SCAN(1), NULL},
        {DEC(2), "2025-01-01T00:00:02.000000Z", "token:0123456789ab", "::1", "model", "ns/name", "main", sha,
         "model.safetensors", "resolve", "ALLOWED", SCAN(1), NULL},
        {DEC(3), "2025-01-01T00:00:03.000000Z", "anonymous", "127.0.0.1", "dataset", "ns/other", "v1", NULL, "data.bin",
         "resolve", "ERROR", NULL, "Blocked by modelgate: the upstream hub could not be reached"},
        {DEC(4), "2025-01-01T00:00:04.000000Z", "anonymous", "127.0.0.1", "model", "ns/name", "main", sha, "model.pkl",
         "resolve", "BLOCKED", SCAN(2), "Blocked by modelgate: policy \"X\": a pickle imports os"},
        /* the same instant as DEC(4): the uuid orders them */
        {DEC(5), "2025-01-01T00:00:04.000000Z", "anonymous", "127.0.0.1", "model", "nsx/name", "main", sha, NULL,
         "revision", "BLOCKED", SCAN(2), "Blocked by modelgate: denied org"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        CHECK(store_decision_add(t->st, &d[i]) == STORE_OK);
    store_decision bad = d[0];
    bad.uuid = DEC(9);
    bad.outcome = "PENDING";
    CHECK(store_decision_add(t->st, &bad) == STORE_EDB); /* not an outcome a decision has */

    listed l = list(t->st, (store_filter){0});
    CHECK(l.n == 5 && strcmp(l.uuid[0], DEC(5)) == 0 && strcmp(l.uuid[1], DEC(4)) == 0 &&
          strcmp(l.uuid[4], DEC(1)) == 0);
    CHECK(l.null_path[4] && !l.null_commit[4] && l.null_reason[4]); /* DEC(1): a revision call, allowed */
    CHECK(l.null_commit[2] && !l.null_reason[2] && strcmp(l.caller[3], "token:0123456789ab") == 0);

    l = list(t->st, (store_filter){.outcome = "BLOCKED"});
    CHECK(l.n == 2 && strcmp(l.uuid[0], DEC(5)) == 0 && strcmp(l.uuid[1], DEC(4)) == 0);
    l = list(t->st, (store_filter){.ns = "ns", .name = "name"}); /* not ns/other, not nsx/name */
    CHECK(l.n == 3 && strcmp(l.uuid[0], DEC(4)) == 0 && strcmp(l.uuid[2], DEC(1)) == 0);
    l = list(t->st, (store_filter){.ns = "ns", .name = "name", .outcome = "ALLOWED"});
    CHECK(l.n == 2 && strcmp(l.uuid[0], DEC(2)) == 0);
    l = list(t->st, (store_filter){.since = "2025-01-01T00:00:03.000000Z"});
    CHECK(l.n == 3 && strcmp(l.uuid[2], DEC(3)) == 0);

    /* pages of two, each strictly after the last row of the one before */
    l = list(t->st, (store_filter){.limit = 2});
    CHECK(l.n == 2 && strcmp(l.uuid[1], DEC(4)) == 0);
    l = list(t->st,
             (store_filter){.limit = 2, .after_created_at = "2025-01-01T00:00:04.000000Z", .after_uuid = DEC(4)});
    CHECK(l.n == 2 && strcmp(l.uuid[0], DEC(3)) == 0 && strcmp(l.uuid[1], DEC(2)) == 0);
    l = list(t->st,
             (store_filter){.limit = 2, .after_created_at = "2025-01-01T00:00:02.000000Z", .after_uuid = DEC(2)});
    CHECK(l.n == 1 && strcmp(l.uuid[0], DEC(1)) == 0);

    /* a batch is all or none: one bad row stores none of its neighbours */
    store_decision batch[3] = {d[0], d[0], d[0]};
    batch[0].uuid = DEC(6);
    batch[1].uuid = DEC(7);
    batch[1].outcome = "MAYBE";
    batch[2].uuid = DEC(8);
    CHECK(store_decision_add_many(t->st, batch, 3) == STORE_EDB);
    CHECK(list(t->st, (store_filter){0}).n == 5);
    batch[1].outcome = "ALLOWED";
    CHECK(store_decision_add_many(t->st, batch, 3) == STORE_OK);
    CHECK(list(t->st, (store_filter){0}).n == 8);
    store_counts c;
    CHECK(store_decision_counts(t->st, "2025-01-01T00:00:00.000000Z", &c) == STORE_OK);
    CHECK(c.allowed == 5 && c.blocked == 2 && c.error == 1 && c.pending == 0);

    /* a batch larger than one statement (PostgreSQL writes 64 rows a
     * statement): still all or none */
    enum { MANY = 150 };
    static store_decision many[MANY];
    static char ids[MANY][40];
    for (int i = 0; i < MANY; i++) {
        snprintf(ids[i], sizeof ids[i], "00000000-0000-4000-8000-%012d", 1000 + i);
        many[i] = d[0];
        many[i].uuid = ids[i];
    }
    many[130].outcome = "MAYBE";
    CHECK(store_decision_add_many(t->st, many, MANY) == STORE_EDB);
    CHECK(store_decision_counts(t->st, "2025-01-01T00:00:00.000000Z", &c) == STORE_OK && c.allowed == 5);
    many[130].outcome = "ALLOWED";
    CHECK(store_decision_add_many(t->st, many, MANY) == STORE_OK);
    CHECK(store_decision_counts(t->st, "2025-01-01T00:00:00.000000Z", &c) == STORE_OK && c.allowed == 5 + MANY);
}

void test_store_decisions(void)
{
    tmp_store_each("store", check_decisions);
}
