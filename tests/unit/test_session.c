/*
 * test_session.c - the dashboard's part of the store, on every backend
 * (tmp_store.h): sessions (opened only with a known token, looked up by
 * cookie value, refused and deleted once expired, ended at once, pruned,
 * only the cookie's hash stored), the policy history with its authors, and
 * the overview's counts and newest BLOCKED scans.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "test.h"
#include "tmp_store.h"

void test_store_sessions(void);
void test_store_policy_history(void);
void test_store_overview(void);

static void sha256_hex(const char *text, char hex[65])
{
    unsigned char md[32];
    unsigned n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int all_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

static void check_sessions(tmp_store *t)
{
    int version = 0;
    CHECK(store_schema_version(t->st, &version) == STORE_OK && version == 7);
    char admin[STORE_TOKEN_LEN + 1], reader[STORE_TOKEN_LEN + 1], cookie[STORE_COOKIE_LEN + 1];
    CHECK(store_token_create(t->st, ROLE_ADMIN, admin) == STORE_OK);
    CHECK(store_token_create(t->st, ROLE_READER, reader) == STORE_OK);
    store_session s, got;

    /* only a known token opens a session */
    CHECK(store_session_create(t->st, "mg_00000000", 60, cookie, &s) == STORE_ENOTFOUND && cookie[0] == 0);
    CHECK(store_session_create(t->st, admin, -1, cookie, &s) == MG_EINVAL);

    CHECK(store_session_create(t->st, admin, 60, cookie, &s) == STORE_OK);
    char h[65], want[32];
    sha256_hex(admin, h);
    snprintf(want, sizeof want, "token:%.12s", h);
    CHECK(all_hex(cookie, 64) && all_hex(s.csrf, 64) && strcmp(cookie, s.csrf) != 0);
    CHECK(s.role == ROLE_ADMIN && strcmp(s.caller, want) == 0 && strcmp(s.expires_at, s.created_at) > 0);
    CHECK(store_session_lookup(t->st, cookie, &got) == STORE_OK);
    CHECK(got.role == ROLE_ADMIN && strcmp(got.csrf, s.csrf) == 0 && strcmp(got.caller, want) == 0 &&
          strcmp(got.expires_at, s.expires_at) == 0);
    CHECK(store_session_lookup(t->st, s.csrf, &got) == STORE_ENOTFOUND && got.role == ROLE_NONE);

    /* the file holds the cookie's hash, never the cookie */
    char sql[256];
    sha256_hex(cookie, h);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sessions WHERE hash = '%s'", h);
    CHECK(tmp_store_sql(t, sql) == 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sessions WHERE hash = '%s'", cookie);
    CHECK(tmp_store_sql(t, sql) == 0);

    /* a reader's session has the reader's role */
    char rcookie[STORE_COOKIE_LEN + 1];
    CHECK(store_session_create(t->st, reader, 60, rcookie, &s) == STORE_OK && s.role == ROLE_READER);
    CHECK(store_session_lookup(t->st, rcookie, &got) == STORE_OK && got.role == ROLE_READER);

    /* expired at once: refused, and deleted when presented */
    char dead[STORE_COOKIE_LEN + 1];
    CHECK(store_session_create(t->st, admin, 0, dead, &s) == STORE_OK);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 3);
    CHECK(store_session_lookup(t->st, dead, &got) == STORE_ENOTFOUND && got.role == ROLE_NONE);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 2);

    /* opening a session prunes the expired ones nobody presented; so does
     * prune, and only those */
    long n = -1;
    CHECK(store_session_create(t->st, admin, 0, dead, &s) == STORE_OK);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 3);
    CHECK(store_session_create(t->st, reader, 0, dead, &s) == STORE_OK);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 3);
    CHECK(store_session_prune(t->st, &n) == STORE_OK && n == 1);
    CHECK(store_session_prune(t->st, &n) == STORE_OK && n == 0);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 2);
    CHECK(store_session_lookup(t->st, cookie, &got) == STORE_OK);

    /* a session found expired later (its time moved back, as a clock would) */
    sha256_hex(rcookie, h);
    snprintf(sql, sizeof sql, "UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE hash = '%s'", h);
    CHECK(tmp_store_sql(t, sql) == 0);
    CHECK(store_session_lookup(t->st, rcookie, &got) == STORE_ENOTFOUND);

    /* ended: gone at once; ending it again is no error */
    CHECK(store_session_delete(t->st, cookie) == STORE_OK);
    CHECK(store_session_lookup(t->st, cookie, &got) == STORE_ENOTFOUND);
    CHECK(store_session_delete(t->st, cookie) == STORE_OK);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM sessions") == 0);
}

void test_store_sessions(void)
{
    tmp_store_each("session", check_sessions);
}

typedef struct history {
    int n;
    int version[8];
    char author[8][64];
    char yaml[8][64];
} history;

static int got_policy(void *ctx, const store_policy *p)
{
    history *h = ctx;
    if (h->n >= 8)
        return -1;
    h->version[h->n] = p->version;
    snprintf(h->author[h->n], 64, "%s", p->author ? p->author : "(null)");
    snprintf(h->yaml[h->n], 64, "%s", p->yaml);
    h->n++;
    return 0;
}

static history policy_list(mg_store *st, int before, int limit)
{
    history h;
    memset(&h, 0, sizeof h);
    CHECK(store_policy_list(st, before, limit, got_policy, &h) == STORE_OK);
    return h;
}

static void check_policy_history(tmp_store *t)
{
    CHECK(policy_list(t->st, 0, 10).n == 0);
    int v = 0;
    char created[40];
    CHECK(store_policy_add(t->st, "a: 1\n", "sha256:a", NULL, &v, created) == STORE_OK && v == 1);
    CHECK(store_policy_add(t->st, "b: 2\n", "sha256:b", "token:0123456789ab (admin)", &v, created) == STORE_OK &&
          v == 2);
    CHECK(store_policy_add(t->st, "c: 3\n", "sha256:c", "token:ba9876543210 (admin)", &v, created) == STORE_OK &&
          v == 3);
    history h = policy_list(t->st, 0, 10);
    CHECK(h.n == 3 && h.version[0] == 3 && h.version[1] == 2 && h.version[2] == 1);
    CHECK(strcmp(h.author[0], "token:ba9876543210 (admin)") == 0 && strcmp(h.author[2], "(null)") == 0);
    CHECK(strcmp(h.yaml[1], "b: 2\n") == 0);
    h = policy_list(t->st, 0, 2);
    CHECK(h.n == 2 && h.version[1] == 2);
    h = policy_list(t->st, 2, 2); /* the page after version 2 */
    CHECK(h.n == 1 && h.version[0] == 1);
    CHECK(policy_list(t->st, 1, 2).n == 0);
}

void test_store_policy_history(void)
{
    tmp_store_each("session", check_policy_history);
}

#define SCAN(n) "00000000-0000-4000-8000-00000000000" #n

static int put_scan(mg_store *st, const char *uuid, const char *created, const char *outcome, const char *report)
{
    store_scan s = {.uuid = uuid,
                    .model_uri = "/models/m",
                    .model_uuid = "00000000-0000-4000-8000-0000000000aa",
                    .model_version_uuid = "00000000-0000-4000-8000-0000000000bb",
                    .revision = "r",
                    .namespace_ = "team",
                    .model_name = "m",
                    .eval_outcome = outcome,
                    .created_at = created,
                    .report = report};
    return store_scan_put(st, &s);
}

typedef struct blocked_rows {
    int n;
    char uuid[4][37], policies[4][160], name[4][16];
} blocked_rows;

static int got_blocked(void *ctx, const store_blocked *b)
{
    blocked_rows *r = ctx;
    if (r->n >= 4)
        return -1;
    snprintf(r->uuid[r->n], 37, "%s", b->uuid);
    snprintf(r->policies[r->n], 160, "%s", b->policies);
    snprintf(r->name[r->n], 16, "%s/%s", b->namespace_, b->model_name);
    r->n++;
    return 0;
}

static void check_overview(tmp_store *t)
{
    const char *two = "{\"policy_violations\": [{\"policy_name\": \"P1\"}, {\"policy_name\": \"P2\"}]}";
    CHECK(put_scan(t->st, SCAN(1), "2025-01-01T00:00:01.000000Z", "ALLOWED", "{}") == STORE_OK);
    CHECK(put_scan(t->st, SCAN(2), "2025-01-02T00:00:01.000000Z", "BLOCKED", two) == STORE_OK);
    CHECK(put_scan(t->st, SCAN(3), "2025-01-03T00:00:01.000000Z", "ALLOWED", "{}") == STORE_OK);
    CHECK(put_scan(t->st, SCAN(4), "2025-01-03T00:00:02.000000Z", "ERROR", "{\"policy_violations\": null}") ==
          STORE_OK);
    CHECK(put_scan(t->st, SCAN(5), "2025-01-03T00:00:03.000000Z", "BLOCKED", "not json") == STORE_OK);
    store_scan pending = {.uuid = SCAN(6), .model_uri = "/models/m", .created_at = "2025-01-03T00:00:04.000000Z"};
    CHECK(store_scan_add(t->st, &pending) == STORE_OK);

    store_counts c;
    CHECK(store_scan_counts(t->st, "2025-01-02T00:00:01.000000Z", &c) == STORE_OK);
    CHECK(c.allowed == 1 && c.blocked == 2 && c.error == 1 && c.pending == 1);
    CHECK(store_scan_counts(t->st, "2025-01-01T00:00:00.000000Z", &c) == STORE_OK && c.allowed == 2);
    CHECK(store_scan_counts(t->st, "2026-01-01T00:00:00.000000Z", &c) == STORE_OK && c.allowed + c.blocked == 0);

    blocked_rows r;
    memset(&r, 0, sizeof r);
    CHECK(store_scan_blocked(t->st, 10, got_blocked, &r) == STORE_OK);
    CHECK(r.n == 2 && strcmp(r.uuid[0], SCAN(5)) == 0 && strcmp(r.uuid[1], SCAN(2)) == 0);
    CHECK(strcmp(r.policies[0], "[]") == 0 && strcmp(r.policies[1], "[\"P1\",\"P2\"]") == 0); /* not JSON: none */
    CHECK(strcmp(r.name[1], "team/m") == 0);
    memset(&r, 0, sizeof r);
    CHECK(store_scan_blocked(t->st, 1, got_blocked, &r) == STORE_OK && r.n == 1);

    store_decision d = {"00000000-0000-4000-8000-0000000000d1",
                        "2025-01-03T00:00:01.000000Z",
                        "anonymous",
                        NULL,
                        "model",
                        "ns/name",
                        "main",
                        NULL,
                        NULL,
                        "revision",
                        "BLOCKED",
                        NULL,
                        "denied"};
    CHECK(store_decision_add(t->st, &d) == STORE_OK);
    d.uuid = "00000000-0000-4000-8000-0000000000d2";
    d.outcome = "ALLOWED";
    d.created_at = "2025-01-01T00:00:01.000000Z";
    CHECK(store_decision_add(t->st, &d) == STORE_OK);
    CHECK(store_decision_counts(t->st, "2025-01-02T00:00:00.000000Z", &c) == STORE_OK);
    CHECK(c.blocked == 1 && c.allowed == 0 && c.error == 0);
}

void test_store_overview(void)
{
    tmp_store_each("session", check_overview);
}
