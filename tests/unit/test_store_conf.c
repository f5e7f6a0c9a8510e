/*
 * test_store_conf.c - the rest of the store's interface, run on every
 * backend with the same expectations (tmp_store.h): tokens (only hashes
 * stored, one made by another handle found), a scan's life from PENDING
 * through RUNNING to DONE (attempts, requeue, the report kept byte for
 * byte), listings with their filters and keyset pages, models and their
 * versions, the newest ALLOWED scan, what re-evaluation reads from the
 * reports, policies, several processes opening a fresh store at once, and
 * many threads on one handle. On PostgreSQL also: every text column sorts
 * byte by byte, and a connection the server drops is made again.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "test.h"
#include "tmp_store.h"

void test_store_tokens(void);
void test_store_scan_life(void);
void test_store_listings(void);
void test_store_models(void);
void test_store_policies(void);
void test_store_concurrent_open(void);
void test_store_threads(void);
void test_store_pg_connection(void);
void test_store_pg_queue(void);

static int is_pg(const tmp_store *t)
{
    return strcmp(t->backend, "postgresql") == 0;
}

static void sha256_hex(const char *text, char hex[65])
{
    unsigned char md[32];
    unsigned n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* ---- tokens ---- */

static void check_tokens(tmp_store *t)
{
    long n = -1;
    CHECK(store_token_count(t->st, &n) == STORE_OK && n == 0);
    char admin[STORE_TOKEN_LEN + 1], scanner[STORE_TOKEN_LEN + 1], reader[STORE_TOKEN_LEN + 1];
    CHECK(store_token_create(t->st, ROLE_ADMIN, admin) == STORE_OK);
    CHECK(store_token_create(t->st, ROLE_SCANNER, scanner) == STORE_OK);
    CHECK(store_token_create(t->st, ROLE_READER, reader) == STORE_OK);
    CHECK(store_token_create(t->st, ROLE_NONE, reader) == MG_EINVAL);
    CHECK(strlen(admin) == STORE_TOKEN_LEN && strncmp(admin, "mg_", 3) == 0 &&
          strspn(admin + 3, "0123456789abcdef") == 64);
    CHECK(store_token_count(t->st, &n) == STORE_OK && n == 3);
    store_role r = ROLE_NONE;
    CHECK(store_token_lookup(t->st, admin, &r) == STORE_OK && r == ROLE_ADMIN);
    CHECK(store_token_lookup(t->st, scanner, &r) == STORE_OK && r == ROLE_SCANNER);
    CHECK(store_token_lookup(t->st, reader, &r) == STORE_OK && r == ROLE_READER);
    CHECK(store_token_lookup(t->st, admin, &r) == STORE_OK && r == ROLE_ADMIN); /* a second look */
    CHECK(store_token_lookup(t->st, "mg_0000", &r) == STORE_ENOTFOUND && r == ROLE_NONE);

    /* the database holds the token's hash, never the token */
    char h[65], sql[200];
    sha256_hex(admin, h);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM tokens WHERE hash = '%s' AND role = 'admin'", h);
    CHECK(tmp_store_sql(t, sql) == 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM tokens WHERE hash = '%s'", admin);
    CHECK(tmp_store_sql(t, sql) == 0);

    /* a token another process makes is found at once */
    mg_store *other = NULL;
    char late[STORE_TOKEN_LEN + 1];
    CHECK(tmp_store_open_another(t, &other) == STORE_OK);
    if (other)
        CHECK(store_token_create(other, ROLE_SCANNER, late) == STORE_OK);
    store_close(other);
    CHECK(other && store_token_lookup(t->st, late, &r) == STORE_OK && r == ROLE_SCANNER);
}

void test_store_tokens(void)
{
    tmp_store_each("conf", check_tokens);
}

/* ---- a scan's life ---- */

#define S(n)    "00000000-0000-4000-8000-0000000000" #n
#define MODEL_A "00000000-0000-4000-8000-00000000a000"
#define MODEL_B "00000000-0000-4000-8000-00000000b000"
#define VER_1   "00000000-0000-4000-8000-000000000a01"
#define VER_2   "00000000-0000-4000-8000-000000000a02"

/* What a walk saw, copied (the rows are borrowed). */
typedef struct seen {
    int n, stop_after; /* stop_after: return 7 after that many rows (0: never) */
    char uuid[16][37], outcome[16][16], created[16][40];
    char report[2][256];
    int null_report[16], null_license[16], null_labels[16], attempts[16];
    char license[16][32], labels[16][64];
    store_state state[16];
} seen;

static int got_scan(void *ctx, const store_scan *row)
{
    seen *s = ctx;
    if (s->n >= 16)
        return -1;
    int i = s->n++;
    snprintf(s->uuid[i], sizeof s->uuid[i], "%s", row->uuid);
    snprintf(s->outcome[i], sizeof s->outcome[i], "%s", row->eval_outcome);
    snprintf(s->created[i], sizeof s->created[i], "%s", row->created_at);
    if (i < 2)
        snprintf(s->report[i], sizeof s->report[i], "%s", row->report ? row->report : "");
    s->null_report[i] = row->report == NULL;
    s->null_license[i] = row->license == NULL;
    s->null_labels[i] = row->labels == NULL;
    snprintf(s->license[i], sizeof s->license[i], "%s", row->license ? row->license : "");
    snprintf(s->labels[i], sizeof s->labels[i], "%s", row->labels ? row->labels : "");
    s->attempts[i] = row->attempts;
    s->state[i] = row->state;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static store_scan done_scan(const char *uuid, const char *model, const char *version, const char *created,
                            const char *outcome, const char *report)
{
    return (store_scan){.uuid = uuid,
                        .model_uri = strcmp(model, MODEL_A) == 0 ? "/models/a" : "/models/b",
                        .model_uuid = model,
                        .model_version_uuid = version,
                        .revision = strcmp(version, VER_1) == 0 ? "rev-1" : "rev-2",
                        .namespace_ = "team",
                        .model_name = strcmp(model, MODEL_A) == 0 ? "a" : "b",
                        .eval_outcome = outcome,
                        .created_at = created,
                        .report = report};
}

static int put(mg_store *st, store_scan s)
{
    return store_scan_put(st, &s);
}

static void check_scan_life(tmp_store *t)
{
    store_scan p1 = {.uuid = S(01),
                     .model_uri = "/models/a",
                     .license = "apache-2.0",
                     .labels = "{\"team\":\"x\"}",
                     .created_at = "2025-01-01T00:00:02.000000Z"};
    store_scan p2 = {.uuid = S(02), .model_uri = "/models/b", .created_at = "2025-01-01T00:00:01.000000Z"};
    CHECK(store_scan_add(t->st, &p1) == STORE_OK);
    CHECK(store_scan_add(t->st, &p2) == STORE_OK);
    CHECK(store_scan_add(t->st, &p2) == STORE_EDB); /* one row per uuid */

    seen s = {0};
    CHECK(store_scan_get(t->st, S(01), got_scan, &s) == STORE_OK && s.n == 1);
    CHECK(s.state[0] == SCAN_PENDING && strcmp(s.outcome[0], "PENDING") == 0 && s.null_report[0]);
    CHECK(strcmp(s.license[0], "apache-2.0") == 0 && strcmp(s.labels[0], "{\"team\":\"x\"}") == 0);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(02), got_scan, &s) == STORE_OK && s.null_license[0] && s.null_labels[0]);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(99), got_scan, &s) == STORE_ENOTFOUND && s.n == 0);

    /* unfinished, oldest first */
    memset(&s, 0, sizeof s);
    CHECK(store_scan_unfinished(t->st, got_scan, &s) == STORE_OK && s.n == 2);
    CHECK(strcmp(s.uuid[0], S(02)) == 0 && strcmp(s.uuid[1], S(01)) == 0);
    memset(&s, 0, sizeof s);
    s.stop_after = 1; /* a callback's non-zero answer stops the walk and is returned */
    CHECK(store_scan_unfinished(t->st, got_scan, &s) == 7 && s.n == 1);

    /* the queue's figures: two waiting, the older one's time */
    store_queue_info q;
    CHECK(store_queue_stats(t->st, &q) == STORE_OK && q.waiting == 2 && q.running == 0 &&
          strcmp(q.oldest, p2.created_at) == 0);

    /* taken, taken again after its worker died, requeued */
    int attempts = 0;
    CHECK(store_scan_start(t->st, S(01), &attempts) == STORE_OK && attempts == 1);
    CHECK(store_queue_stats(t->st, &q) == STORE_OK && q.waiting == 1 && q.running == 1);
    CHECK(store_scan_requeue(t->st) == STORE_OK);
    CHECK(store_scan_start(t->st, S(01), &attempts) == STORE_OK && attempts == 2);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(01), got_scan, &s) == STORE_OK && s.state[0] == SCAN_RUNNING && s.attempts[0] == 2);
    CHECK(store_scan_requeue(t->st) == STORE_OK);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(01), got_scan, &s) == STORE_OK && s.state[0] == SCAN_PENDING && s.attempts[0] == 2);
    CHECK(store_scan_start(t->st, S(99), &attempts) == STORE_ENOTFOUND);

    /* done: the report exactly as written (blanks, escapes, UTF-8) */
    const char *report = "{\n  \"uuid\": \"00000000-0000-4000-8000-000000000001\",  \"name\": \"caf\xc3\xa9 \\u00e9\","
                         " \"n\": 1.50, \"dup\": 1, \"dup\": 2 }";
    store_scan d = done_scan(S(01), MODEL_A, VER_1, p1.created_at, "ALLOWED", report);
    d.license = "apache-2.0";
    d.labels = p1.labels;
    CHECK(store_scan_put(t->st, &d) == STORE_OK);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(01), got_scan, &s) == STORE_OK && s.state[0] == SCAN_DONE);
    CHECK(strcmp(s.report[0], report) == 0 && strcmp(s.outcome[0], "ALLOWED") == 0 && s.attempts[0] == 2);
    CHECK(strcmp(s.license[0], "apache-2.0") == 0 && strcmp(s.created[0], "2025-01-01T00:00:02.000000Z") == 0);
    CHECK(store_scan_start(t->st, S(01), &attempts) == STORE_ENOTFOUND); /* done is done */
    memset(&s, 0, sizeof s);
    CHECK(store_scan_unfinished(t->st, got_scan, &s) == STORE_OK && s.n == 1 && strcmp(s.uuid[0], S(02)) == 0);
    CHECK(store_scan_start(t->st, S(02), &attempts) == STORE_OK);
    CHECK(store_queue_stats(t->st, &q) == STORE_OK && q.waiting == 0 && q.running == 1 && q.oldest[0] == 0);

    /* a finished scan stored without having been accepted first */
    store_scan direct = done_scan(S(03), MODEL_B, VER_2, "2025-01-01T00:00:03.000000Z", "BLOCKED", "{}");
    CHECK(store_scan_put(t->st, &direct) == STORE_OK);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_get(t->st, S(03), got_scan, &s) == STORE_OK && strcmp(s.report[0], "{}") == 0 &&
          s.attempts[0] == 0 && s.null_license[0]);
}

void test_store_scan_life(void)
{
    tmp_store_each("conf", check_scan_life);
}

/* ---- listings ---- */

static seen list_scans(mg_store *st, store_filter f)
{
    seen s;
    memset(&s, 0, sizeof s);
    if (!f.limit)
        f.limit = 16;
    CHECK(store_scan_list(st, &f, got_scan, &s) == STORE_OK);
    return s;
}

/* The uuids of a walk joined by ",", last two digits each ("01,03"). */
static const char *ids(const seen *s, char *out, size_t n)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < s->n && len + 4 < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", s->uuid[i] + 34);
    return out;
}

static void check_listings(tmp_store *t)
{
    char buf[128];
    CHECK(put(t->st, done_scan(S(01), MODEL_A, VER_1, "2025-01-01T00:00:01.000000Z", "ALLOWED", "{}")) == STORE_OK);
    CHECK(put(t->st, done_scan(S(02), MODEL_A, VER_2, "2025-01-02T00:00:01.000000Z", "BLOCKED", "{}")) == STORE_OK);
    CHECK(put(t->st, done_scan(S(03), MODEL_B, VER_1, "2025-01-02T00:00:01.000000Z", "ERROR", "{}")) == STORE_OK);
    CHECK(put(t->st, done_scan(S(04), MODEL_B, VER_1, "2025-01-03T00:00:01.000000Z", "ALLOWED", "{}")) == STORE_OK);
    store_scan pending = {.uuid = S(05), .model_uri = "/models/c", .created_at = "2025-01-04T00:00:01.000000Z"};
    CHECK(store_scan_add(t->st, &pending) == STORE_OK);

    /* newest first; the same instant ordered by uuid */
    seen s = list_scans(t->st, (store_filter){0});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "05,04,03,02,01") == 0);
    CHECK(s.null_report[0] && s.null_report[1]); /* listings carry no report */
    s = list_scans(t->st, (store_filter){.model_uuid = MODEL_A});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "02,01") == 0);
    s = list_scans(t->st, (store_filter){.ns = "team", .name = "b"});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "04,03") == 0);
    s = list_scans(t->st, (store_filter){.ns = "team", .name = "c"});
    CHECK(s.n == 0);
    s = list_scans(t->st, (store_filter){.outcome = "ALLOWED"});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "04,01") == 0);
    s = list_scans(t->st, (store_filter){.outcome = "PENDING"});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "05") == 0);
    s = list_scans(t->st, (store_filter){.since = "2025-01-02T00:00:01.000000Z"});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "05,04,03,02") == 0);
    s = list_scans(t->st, (store_filter){.since = "2025-01-02T00:00:01.000000Z", .outcome = "ALLOWED"});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "04") == 0);

    /* pages of two, each strictly after the last row of the one before */
    s = list_scans(t->st, (store_filter){.limit = 2});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "05,04") == 0);
    char last[40];
    snprintf(last, sizeof last, "%s", s.created[1]);
    s = list_scans(t->st, (store_filter){.limit = 2, .after_created_at = last, .after_uuid = S(04)});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "03,02") == 0);
    snprintf(last, sizeof last, "%s", s.created[1]);
    s = list_scans(t->st, (store_filter){.limit = 2, .after_created_at = last, .after_uuid = S(02)});
    CHECK(strcmp(ids(&s, buf, sizeof buf), "01") == 0);
    s = list_scans(t->st, (store_filter){.limit = -1}); /* no limit */
    CHECK(s.n == 5);

    /* the overview's counts by outcome */
    store_counts c;
    CHECK(store_scan_counts(t->st, "2025-01-02T00:00:00.000000Z", &c) == STORE_OK);
    CHECK(c.allowed == 1 && c.blocked == 1 && c.error == 1 && c.pending == 1);
}

void test_store_listings(void)
{
    tmp_store_each("conf", check_listings);
}

/* ---- models ---- */

typedef struct model_seen {
    int models, versions;
    char uuid[4][37], created[4][40], updated[4][40], name[4][32];
    char version[4][37], revision[4][16], scan[4][37], outcome[4][16];
} model_seen;

static int got_model(void *ctx, const store_model *m)
{
    model_seen *s = ctx;
    if (s->models >= 4)
        return -1;
    int i = s->models++;
    snprintf(s->uuid[i], sizeof s->uuid[i], "%s", m->uuid);
    snprintf(s->created[i], sizeof s->created[i], "%s", m->created_at);
    snprintf(s->updated[i], sizeof s->updated[i], "%s", m->updated_at);
    snprintf(s->name[i], sizeof s->name[i], "%s/%s", m->namespace_, m->model_name);
    return 0;
}

static int got_version(void *ctx, const store_version *v)
{
    model_seen *s = ctx;
    if (s->versions >= 4)
        return -1;
    int i = s->versions++;
    snprintf(s->version[i], sizeof s->version[i], "%s", v->model_version_uuid);
    snprintf(s->revision[i], sizeof s->revision[i], "%s", v->revision);
    snprintf(s->scan[i], sizeof s->scan[i], "%s", v->scan_uuid);
    snprintf(s->outcome[i], sizeof s->outcome[i], "%s", v->eval_outcome);
    return 0;
}

typedef struct latest_seen {
    int n;
    char model[4][37], scan[4][37], rules[4][32], policy[4][32];
    int null_license[4];
} latest_seen;

static int got_latest(void *ctx, const store_latest *l)
{
    latest_seen *s = ctx;
    if (s->n >= 4)
        return -1;
    int i = s->n++;
    snprintf(s->model[i], sizeof s->model[i], "%s", l->model_uuid);
    snprintf(s->scan[i], sizeof s->scan[i], "%s", l->scan_uuid);
    snprintf(s->rules[i], sizeof s->rules[i], "%s", l->rules_version);
    snprintf(s->policy[i], sizeof s->policy[i], "%s", l->policy_digest);
    s->null_license[i] = l->license == NULL;
    return 0;
}

static void check_models(tmp_store *t)
{
    const char *judged = "{\"rules_version\": \"r7\", \"policy_digest\": \"sha256:p7\"}";
    store_scan a1 = done_scan(S(01), MODEL_A, VER_1, "2025-01-01T00:00:01.000000Z", "ALLOWED", judged);
    store_scan a2 = done_scan(S(02), MODEL_A, VER_1, "2025-01-02T00:00:01.000000Z", "BLOCKED", judged);
    store_scan a3 = done_scan(S(03), MODEL_A, VER_2, "2025-01-03T00:00:01.000000Z", "ALLOWED", "not json");
    store_scan b1 = done_scan(S(04), MODEL_B, VER_1, "2025-01-01T12:00:00.000000Z", "BLOCKED", "[1, 2]");
    a3.license = "mit";
    CHECK(store_scan_put(t->st, &a2) == STORE_OK);
    CHECK(store_scan_put(t->st, &a3) == STORE_OK);
    CHECK(store_scan_put(t->st, &b1) == STORE_OK);
    CHECK(store_scan_put(t->st, &a1) == STORE_OK); /* an older scan stored last */

    /* models newest first by when first seen; updated_at is the newest scan's */
    model_seen m = {0};
    CHECK(store_model_list(t->st, &(store_filter){.limit = 10}, got_model, &m) == STORE_OK && m.models == 2);
    CHECK(strcmp(m.uuid[0], MODEL_A) == 0 && strcmp(m.uuid[1], MODEL_B) == 0 && strcmp(m.name[0], "team/a") == 0);
    CHECK(strcmp(m.created[0], "2025-01-02T00:00:01.000000Z") == 0);
    CHECK(strcmp(m.updated[0], "2025-01-03T00:00:01.000000Z") == 0);
    memset(&m, 0, sizeof m);
    store_filter after = {.limit = 10, .after_created_at = "2025-01-02T00:00:01.000000Z", .after_uuid = MODEL_A};
    CHECK(store_model_list(t->st, &after, got_model, &m) == STORE_OK && m.models == 1 &&
          strcmp(m.uuid[0], MODEL_B) == 0);

    /* a model with its versions, each with its newest scan, newest first */
    memset(&m, 0, sizeof m);
    CHECK(store_model_get(t->st, MODEL_A, 10, got_model, got_version, &m) == STORE_OK);
    CHECK(m.models == 1 && m.versions == 2);
    CHECK(strcmp(m.version[0], VER_2) == 0 && strcmp(m.scan[0], S(03)) == 0 && strcmp(m.revision[0], "rev-2") == 0);
    CHECK(strcmp(m.version[1], VER_1) == 0 && strcmp(m.scan[1], S(02)) == 0 && strcmp(m.outcome[1], "BLOCKED") == 0);
    memset(&m, 0, sizeof m);
    CHECK(store_model_get(t->st, MODEL_A, 1, got_model, got_version, &m) == STORE_OK && m.versions == 1);
    memset(&m, 0, sizeof m);
    CHECK(store_model_get(t->st, S(99), 10, got_model, got_version, &m) == STORE_ENOTFOUND && m.models == 0);

    /* the newest ALLOWED scan, of the model or of one version */
    seen s = {0};
    CHECK(store_scan_last_allowed(t->st, MODEL_A, NULL, got_scan, &s) == STORE_OK && strcmp(s.uuid[0], S(03)) == 0);
    CHECK(strcmp(s.report[0], "not json") == 0);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_last_allowed(t->st, MODEL_A, VER_1, got_scan, &s) == STORE_OK && strcmp(s.uuid[0], S(01)) == 0);
    memset(&s, 0, sizeof s);
    CHECK(store_scan_last_allowed(t->st, MODEL_B, NULL, got_scan, &s) == STORE_ENOTFOUND && s.n == 0);

    /* each model's newest scan with what judged it, read from the report
     * ("" when the report is not JSON or says nothing) */
    latest_seen l = {0};
    CHECK(store_model_latest(t->st, got_latest, &l) == STORE_OK && l.n == 2);
    CHECK(strcmp(l.model[0], MODEL_B) == 0 && strcmp(l.scan[0], S(04)) == 0 && strcmp(l.rules[0], "") == 0);
    CHECK(strcmp(l.model[1], MODEL_A) == 0 && strcmp(l.scan[1], S(03)) == 0 && strcmp(l.rules[1], "") == 0);
    CHECK(l.null_license[0] && !l.null_license[1]);
    store_scan a4 = done_scan(S(05), MODEL_A, VER_2, "2025-01-04T00:00:01.000000Z", "ALLOWED", judged);
    CHECK(store_scan_put(t->st, &a4) == STORE_OK);
    memset(&l, 0, sizeof l);
    CHECK(store_model_latest(t->st, got_latest, &l) == STORE_OK && l.n == 2);
    CHECK(strcmp(l.scan[1], S(05)) == 0 && strcmp(l.rules[1], "r7") == 0 && strcmp(l.policy[1], "sha256:p7") == 0);
}

void test_store_models(void)
{
    tmp_store_each("conf", check_models);
}

/* ---- policies ---- */

static void check_policies(tmp_store *t)
{
    char *yaml = NULL, created[40] = "", created2[40] = "";
    int v = 0;
    CHECK(store_policy_latest(t->st, &yaml, &v, created) == STORE_ENOTFOUND && yaml == NULL);
    CHECK(store_policy_add(t->st, "a: 1\n", "sha256:a", NULL, &v, created) == STORE_OK && v == 1);
    /* RFC 3339 UTC with milliseconds, made by the database */
    CHECK(strlen(created) == 24 && created[10] == 'T' && created[19] == '.' && created[23] == 'Z');
    CHECK(store_policy_add(t->st, "b: \"\xc3\xa9\"\n", "sha256:b", "token:0123456789ab (admin)", &v, created2) ==
              STORE_OK &&
          v == 2 && strcmp(created2, created) >= 0);
    CHECK(store_policy_latest(t->st, &yaml, &v, created) == STORE_OK && v == 2);
    CHECK(yaml && strcmp(yaml, "b: \"\xc3\xa9\"\n") == 0 && strcmp(created, created2) == 0);
    free(yaml);
}

void test_store_policies(void)
{
    tmp_store_each("conf", check_policies);
}

/* ---- many processes and threads ---- */

enum { OPENERS = 6 };

typedef struct opener {
    const tmp_store *t;
    pthread_barrier_t *go;
    int rc, version;
} opener;

static void *open_one(void *arg)
{
    opener *o = arg;
    mg_store *st = NULL;
    char err[512] = "";
    pthread_barrier_wait(o->go);
    o->rc = store_open(&st, o->t->location, err, sizeof err);
    if (o->rc != STORE_OK)
        fprintf(stderr, "    store_open: %s\n", err);
    else
        o->rc = store_schema_version(st, &o->version);
    store_close(st);
    return NULL;
}

/* Services starting at once on a fresh store: one migrates, the others
 * wait and find it done. */
static void check_concurrent_open(tmp_store *t)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, OPENERS);
    pthread_t th[OPENERS];
    opener o[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        o[i] = (opener){.t = t, .go = &go, .rc = -1};
        pthread_create(&th[i], NULL, open_one, &o[i]);
    }
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(o[i].rc == STORE_OK && o[i].version == 7);
    }
    pthread_barrier_destroy(&go);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM schema_migrations") == 7);
    CHECK(tmp_store_sql(t, "SELECT MAX(version) FROM schema_migrations") == 7);
}

void test_store_concurrent_open(void)
{
    tmp_store_each_unopened("conf", check_concurrent_open);
}

enum { WORKERS = 8, PER_WORKER = 25 };

typedef struct worker {
    mg_store *st;
    int id, failures;
} worker;

static int count_row(void *ctx, const store_scan *row)
{
    (*(int *)ctx)++;
    return 0;
}

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_WORKER; i++) {
        char uuid[40], created[40];
        snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%06d%06d", w->id, i);
        snprintf(created, sizeof created, "2025-02-01T00:%02d:%02d.000000Z", w->id, i);
        store_scan s = {.uuid = uuid, .model_uri = "/models/t", .created_at = created};
        int attempts = 0, rows = 0;
        w->failures += store_scan_add(w->st, &s) != STORE_OK;
        w->failures += store_scan_start(w->st, uuid, &attempts) != STORE_OK || attempts != 1;
        w->failures += store_scan_get(w->st, uuid, count_row, &rows) != STORE_OK || rows != 1;
    }
    return NULL;
}

/* Many threads on one handle (HTTP and scan workers): every call answers. */
static void check_threads(tmp_store *t)
{
    pthread_t th[WORKERS];
    worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker){.st = t->st, .id = i};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    CHECK(failures == 0);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM scans WHERE state = 'RUNNING'") == WORKERS * PER_WORKER);
    if (is_pg(t)) /* a bounded pool, not a connection per thread */
        CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'modelgate'"
                               " AND datname = current_database()") <= 4);
}

void test_store_threads(void)
{
    tmp_store_each("conf", check_threads);
}

/* ---- PostgreSQL: collation and dropped connections ---- */

static int count_scans(mg_store *st)
{
    int rows = 0;
    store_filter f = {.limit = 100};
    return store_scan_list(st, &f, count_row, &rows) == STORE_OK ? rows : -1;
}

static void check_pg_connection(tmp_store *t)
{
    if (!is_pg(t))
        return; /* one file, no connection to drop */
    /* every text column of the store sorts byte by byte, as SQLite's */
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                           " AND data_type = 'text' AND table_name <> 'schema_migrations'") >= 40);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                           " AND data_type = 'text' AND table_name <> 'schema_migrations'"
                           " AND collation_name IS DISTINCT FROM 'C'") == 0);

    store_scan s = done_scan(S(01), MODEL_A, VER_1, "2025-01-01T00:00:01.000000Z", "ALLOWED", "{}");
    CHECK(store_scan_put(t->st, &s) == STORE_OK && count_scans(t->st) == 1);
    /* the server ends every session of the store (as a restart does): the
     * next calls connect again and answer */
    const char *kill = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE application_name = 'modelgate' AND datname = current_database()";
    CHECK(tmp_store_sql(t, kill) >= 1);
    CHECK(count_scans(t->st) == 1);
    s = done_scan(S(02), MODEL_A, VER_1, "2025-01-01T00:00:02.000000Z", "ALLOWED", "{}");
    CHECK(tmp_store_sql(t, kill) >= 1);
    CHECK(store_scan_put(t->st, &s) == STORE_OK && count_scans(t->st) == 2);
    long n = 0;
    CHECK(tmp_store_sql(t, kill) >= 1);
    CHECK(store_token_count(t->st, &n) == STORE_OK && n == 0);

    /* a server that is not there: an error, not a hang or a crash */
    mg_store *gone = NULL;
    char err[512] = "";
    CHECK(store_open(&gone, "postgresql://nobody@/nowhere?host=/nonexistent&port=1", err, sizeof err) == STORE_EDB &&
          gone == NULL && strstr(err, "cannot connect to PostgreSQL") != NULL);
}

void test_store_pg_connection(void)
{
    tmp_store_each("conf", check_pg_connection);
}

/* ---- PostgreSQL: the shared queue's duplicates and affinity ---- */

static int claimed_uuid(void *arg, const store_scan *row)
{
    snprintf(arg, 37, "%s", row->uuid);
    return STORE_OK;
}

static int claimed_policy(void *arg, const store_scan *row)
{
    *(int *)arg = row->policy_version;
    return STORE_OK;
}

/* A claim brings the newest stored policy version with the row. */
static void check_claim_policy(tmp_store *t)
{
    int version = -1, stored = 0;
    char created[40];
    store_scan s = {.uuid = S(06), .model_uri = "/models/e", .created_at = "2025-01-01T00:00:06.000000Z"};
    CHECK(store_scan_add(t->st, &s) == STORE_OK);
    CHECK(store_queue_claim(t->st, "owner-a", 8, claimed_policy, &version) == STORE_OK && version == 0);
    CHECK(store_policy_add(t->st, "global_threshold: HIGH\n", "sha256:x", NULL, &stored, created) == STORE_OK);
    s.uuid = S(07);
    CHECK(store_scan_add(t->st, &s) == STORE_OK);
    CHECK(store_queue_claim(t->st, "owner-a", 8, claimed_policy, &version) == STORE_OK && version == stored &&
          stored >= 1);
}

static void check_pg_queue(tmp_store *t)
{
    if (!is_pg(t))
        return; /* one process queues in its own memory */
    const char *uri = "hf://acme/m@0123456789abcdef0123456789abcdef01234567";
    store_scan a = {.uuid = S(01), .model_uri = uri, .created_at = "2025-01-01T00:00:01.000000Z", .queue_key = "k1"};
    store_scan b = a, c = a;
    b.uuid = S(02);
    c.uuid = S(03);
    c.queue_key = "k2";
    char out[37] = "";
    CHECK(store_scan_add(t->st, &a) == STORE_OK && store_scan_add(t->st, &b) == STORE_OK);
    CHECK(store_scan_joined(t->st, S(02), uri, "k1", out) == STORE_OK && strcmp(out, S(01)) == 0);
    CHECK(store_scan_add(t->st, &c) == STORE_OK); /* another key: a scan of its own */
    CHECK(store_scan_joined(t->st, S(03), uri, "k2", out) == STORE_OK && strcmp(out, S(03)) == 0);
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM scans") == 2);

    /* a scan with an affinity goes to its owner first; another claims the
     * other scan, then nothing until the affinity lapses */
    store_scan d = {
        .uuid = S(04), .model_uri = "/models/d", .created_at = "2025-01-01T00:00:00.000000Z", .affinity = "owner-a"};
    CHECK(store_scan_add(t->st, &d) == STORE_OK);
    CHECK(store_queue_claim(t->st, "owner-b", 8, claimed_uuid, out) == STORE_OK && strcmp(out, S(01)) == 0);
    CHECK(store_queue_claim(t->st, "owner-b", 8, claimed_uuid, out) == STORE_OK && strcmp(out, S(03)) == 0);
    CHECK(store_queue_claim(t->st, "owner-b", 8, claimed_uuid, out) == STORE_ENOTFOUND);
    CHECK(store_queue_claim(t->st, "owner-a", 8, claimed_uuid, out) == STORE_OK && strcmp(out, S(04)) == 0);
    store_scan e = d;
    e.uuid = S(05);
    CHECK(store_scan_add(t->st, &e) == STORE_OK);
    CHECK(tmp_store_sql(t, "UPDATE scans SET affinity_until = now() - interval '1 second' WHERE uuid = '" S(
                               05) "' RETURNING 1") == 1);
    CHECK(store_queue_claim(t->st, "owner-b", 8, claimed_uuid, out) == STORE_OK && strcmp(out, S(05)) == 0);

    /* any URI: a request that may join (join_waiting) joins a scan still waiting */
    store_scan f = {.uuid = S(08), .model_uri = "/models/f", .created_at = "2025-01-01T00:00:08.000000Z"};
    store_scan g = f, h = f;
    g.uuid = S(09);
    g.join_waiting = 1;
    h.uuid = S(10);
    CHECK(store_scan_add(t->st, &f) == STORE_OK && store_scan_add(t->st, &g) == STORE_OK);
    CHECK(store_scan_joined(t->st, S(09), "/models/f", "", out) == STORE_OK && strcmp(out, S(08)) == 0);
    CHECK(store_scan_add(t->st, &h) == STORE_OK); /* without join_waiting: a scan of its own */
    CHECK(tmp_store_sql(t, "SELECT COUNT(*) FROM scans WHERE model_uri = '/models/f'") == 2);
    CHECK(store_queue_claim(t->st, "owner-b", 8, claimed_uuid, out) == STORE_OK && strcmp(out, S(08)) == 0);
    g.uuid = S(11); /* the first one runs: a new request joins the one still waiting (h), not it */
    CHECK(store_scan_add(t->st, &g) == STORE_OK);
    CHECK(store_scan_joined(t->st, S(11), "/models/f", "", out) == STORE_OK && strcmp(out, S(10)) == 0);
    check_claim_policy(t);
}

void test_store_pg_queue(void)
{
    tmp_store_each("conf", check_pg_queue);
}
