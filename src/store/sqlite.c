/*
 * sqlite.c - the embedded store: one SQLite file, DIR/modelgate.db, in WAL
 * mode so readers never wait for the writer and a killed process leaves
 * every committed scan intact.
 *
 * Schema changes are numbered migrations (the `migrations` array below),
 * applied in order inside one transaction on open and recorded in
 * schema_migrations; a migration is never edited once released, only
 * followed by another. The SQL stays close to what PostgreSQL accepts so a
 * second backend can share the shape of the schema.
 *
 * Tokens: 32 random bytes (OpenSSL RAND_bytes) shown once as "mg_" + hex;
 * the table holds only their SHA-256, so a copy of the database does not
 * grant access.
 *
 * Concurrency: one connection shared by the HTTP and scan worker threads,
 * serialised by a mutex (statements are short; scans run outside the store).
 * Another process (`modelgate token create` beside a running service) waits
 * up to busy_timeout for the write lock.
 *
 * This file opens and migrates the store and keeps tokens and policies;
 * scans and models are in sqlite_scans.c, the gateway's verdict lookups and
 * decisions in sqlite_gateway.c, the dashboard's sessions and reads in
 * sqlite_session.c.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_int.h"

/* Numbered migrations: index i is version i + 1. Append only. */
static const char *const migrations[] = {
    /* 1: tokens, models, scans */
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'scanner', 'reader')),"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE models ("
    "  uuid TEXT PRIMARY KEY,"
    "  model_uri TEXT NOT NULL,"
    "  namespace TEXT NOT NULL,"
    "  model_name TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE TABLE scans ("
    "  seq INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  model_uuid TEXT NOT NULL,"
    "  model_uri TEXT NOT NULL,"
    "  eval_outcome TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  report TEXT NOT NULL);"
    "CREATE INDEX scans_by_time ON scans (created_at, seq);"
    "CREATE INDEX scans_by_model ON scans (model_uuid, created_at);",
    /* 2: scans live from PENDING (queued) through RUNNING to DONE; the
     * caller's license and labels are kept so an interrupted scan can be
     * re-run; versions are columns (backfilled from the stored reports) so
     * models can list them; policy sets are versioned. */
    "ALTER TABLE scans ADD COLUMN state TEXT NOT NULL DEFAULT 'DONE'"
    "  CHECK (state IN ('PENDING', 'RUNNING', 'DONE'));"
    "ALTER TABLE scans ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE scans ADD COLUMN license TEXT;"
    "ALTER TABLE scans ADD COLUMN labels TEXT;"
    "ALTER TABLE scans ADD COLUMN model_version_uuid TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE scans ADD COLUMN revision TEXT NOT NULL DEFAULT '';"
    "UPDATE scans SET"
    "  model_version_uuid = COALESCE(json_extract(report, '$.model_version_uuid'), ''),"
    "  revision = COALESCE(json_extract(report, '$.revision'), '')"
    "  WHERE json_valid(report);"
    "CREATE INDEX scans_by_key ON scans (created_at, uuid);"
    "CREATE INDEX scans_unfinished ON scans (state) WHERE state <> 'DONE';"
    "CREATE INDEX scans_by_version ON scans (model_uuid, model_version_uuid, created_at);"
    "CREATE INDEX models_by_key ON models (created_at, uuid);"
    "CREATE INDEX models_by_name ON models (namespace, model_name);"
    "CREATE TABLE policies ("
    "  version INTEGER PRIMARY KEY,"
    "  yaml TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);",
    /* 3: the gateway. Its verdict cache looks up the newest scan of one
     * model_uri (hf://NS/NAME@COMMIT) after a restart; its audit trail is one
     * row per decision, written on every request: no uuid index (nothing
     * reads a decision by uuid), only what the listing and its repo filter
     * need. */
    "CREATE INDEX scans_by_uri ON scans (model_uri, created_at, uuid);"
    "CREATE TABLE gateway_decisions ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  caller TEXT NOT NULL,"
    "  client_addr TEXT,"
    "  repo_type TEXT NOT NULL,"
    "  repo TEXT NOT NULL,"
    "  revision TEXT,"
    "  commit_sha TEXT,"
    "  path TEXT,"
    "  action TEXT NOT NULL,"
    "  outcome TEXT NOT NULL CHECK (outcome IN ('ALLOWED', 'BLOCKED', 'ERROR')),"
    "  scan_uuid TEXT,"
    "  reason TEXT);"
    "CREATE INDEX decisions_by_key ON gateway_decisions (created_at, uuid);"
    "CREATE INDEX decisions_by_repo ON gateway_decisions (repo, created_at, uuid);",
    /* 4: the dashboard. A session is opened with a token and kept as the
     * SHA-256 of its cookie value (like tokens: a copy of the database opens
     * no session); expired ones are refused and deleted. Each policy version
     * records who stored it (NULL for versions stored before). The overview
     * counts scans by outcome over a time range and lists the newest BLOCKED
     * ones. */
    "CREATE TABLE sessions ("
    "  hash TEXT PRIMARY KEY,"
    "  token_id INTEGER NOT NULL REFERENCES tokens (id),"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'scanner', 'reader')),"
    "  csrf TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  expires_at TEXT NOT NULL);"
    "CREATE INDEX sessions_by_expiry ON sessions (expires_at);"
    "ALTER TABLE policies ADD COLUMN author TEXT;"
    "CREATE INDEX scans_by_outcome ON scans (eval_outcome, created_at, uuid);",
};
enum { NMIGRATIONS = sizeof migrations / sizeof migrations[0] };

/* Creates `dir` and its missing parents (mode 0700: the store holds token
 * hashes and reports). */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return -1;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    return 0;
}

int sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : STORE_EDB;
}

static int current_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    int rc = sqlite3_step(q) == SQLITE_ROW ? STORE_OK : STORE_EDB;
    *out = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc;
}

static int record_version(sqlite3 *db, int version)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, " NOW_SQL ")", -1, &q,
                           NULL) != SQLITE_OK)
        return STORE_EDB;
    sqlite3_bind_int(q, 1, version);
    int rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    sqlite3_finalize(q);
    return rc;
}

/* Applies the pending migrations in one write transaction, so two processes
 * opening a fresh store at once cannot both migrate it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int rc = sq_exec(db, "BEGIN IMMEDIATE");
    if (rc != STORE_OK)
        goto fail;
    rc = sq_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "  version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    int version = 0;
    if (rc == STORE_OK)
        rc = current_version(db, &version);
    if (rc == STORE_OK && version > NMIGRATIONS) {
        snprintf(err, errlen, "database schema version %d is newer than this modelgate (%d)", version,
                 (int)NMIGRATIONS);
        sq_exec(db, "ROLLBACK");
        return STORE_ESCHEMA;
    }
    /* migrations[i] brings the schema from version i to i + 1 */
    for (size_t i = version > 0 ? (size_t)version : 0; rc == STORE_OK && i < NMIGRATIONS; i++) {
        rc = sq_exec(db, migrations[i]);
        if (rc == STORE_OK)
            rc = record_version(db, (int)i + 1);
    }
    if (rc == STORE_OK)
        rc = sq_exec(db, "COMMIT");
    if (rc == STORE_OK)
        return STORE_OK;
fail:
    snprintf(err, errlen, "migration failed: %s", sqlite3_errmsg(db));
    sq_exec(db, "ROLLBACK");
    return STORE_EDB;
}

static int configure(sqlite3 *db)
{
    /* WAL: readers never block the writer; synchronous=FULL: a scan answered
     * 200 is on disk even if the machine loses power right after. */
    sqlite3_busy_timeout(db, 5000);
    return sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
}

int store_open(mg_store **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    char path[4096];
    if (make_dirs(dir) != 0 || (size_t)snprintf(path, sizeof path, "%s/modelgate.db", dir) >= sizeof path) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    mg_store *st = calloc(1, sizeof *st);
    if (!st)
        return STORE_ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    pthread_rwlock_init(&st->seen_lock, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    int rc = STORE_EDB;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    chmod(path, 0600);
    if (configure(st->db) != STORE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    rc = migrate(st->db, err, errlen);
    if (rc != STORE_OK)
        goto fail;
    *out = st;
    return STORE_OK;
fail:
    store_close(st);
    return rc;
}

void store_close(mg_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_rwlock_destroy(&st->seen_lock);
    free(st);
}

int store_schema_version(mg_store *st, int *out)
{
    pthread_mutex_lock(&st->mu);
    int rc = current_version(st->db, out);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static const char *const role_names[] = {"", "reader", "scanner", "admin"};

const char *store_role_name(store_role role)
{
    return role >= ROLE_READER && role <= ROLE_ADMIN ? role_names[role] : "";
}

store_role store_role_parse(const char *name)
{
    for (int r = ROLE_READER; name && r <= ROLE_ADMIN; r++)
        if (strcmp(name, role_names[r]) == 0)
            return (store_role)r;
    return ROLE_NONE;
}

/* Lowercase hex of SHA-256(text): the only form of a token (or a session
 * cookie) that is stored. */
int sq_hash(const char *token, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof md)
        return STORE_ENOMEM;
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return STORE_OK;
}

int store_token_count(mg_store *st, long *out)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT COUNT(*) FROM tokens", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) {
            *out = (long)sqlite3_column_int64(q, 0);
            rc = STORE_OK;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_token_create(mg_store *st, store_role role, char out[STORE_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    if (role == ROLE_NONE || RAND_bytes(raw, sizeof raw) != 1)
        return role == ROLE_NONE ? MG_EINVAL : STORE_EIO;
    memcpy(out, "mg_", 3);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 3 + 2 * i, 3, "%02x", raw[i]);
    char hash[65];
    if (sq_hash(out, hash) != STORE_OK)
        return STORE_ENOMEM;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO tokens (hash, role, created_at) VALUES (?, ?, " NOW_SQL ")", -1, &q,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, store_role_name(role), -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int token_seen_get(mg_store *st, const char *hash, store_role *role)
{
    pthread_rwlock_rdlock(&st->seen_lock);
    size_t n = st->nseen < TOKEN_CACHE ? st->nseen : TOKEN_CACHE;
    int hit = 0;
    for (size_t i = 0; i < n && !hit; i++)
        if (memcmp(st->seen[i].hash, hash, 64) == 0) {
            *role = st->seen[i].role;
            hit = 1;
        }
    pthread_rwlock_unlock(&st->seen_lock);
    return hit;
}

static void token_seen_put(mg_store *st, const char *hash, store_role role)
{
    pthread_rwlock_wrlock(&st->seen_lock);
    token_seen *slot = &st->seen[st->nseen++ % TOKEN_CACHE];
    memcpy(slot->hash, hash, 65);
    slot->role = role;
    pthread_rwlock_unlock(&st->seen_lock);
}

int store_token_lookup(mg_store *st, const char *token, store_role *role)
{
    char hash[65];
    *role = ROLE_NONE;
    if (sq_hash(token, hash) != STORE_OK)
        return STORE_ENOMEM;
    if (token_seen_get(st, hash, role))
        return STORE_OK;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT role FROM tokens WHERE hash = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(q);
        if (s == SQLITE_ROW)
            *role = store_role_parse((const char *)sqlite3_column_text(q, 0));
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc == STORE_OK && *role != ROLE_NONE)
        token_seen_put(st, hash, *role);
    return rc;
}

int sq_run(sqlite3 *db, const char *sql, const char *const *args, int nargs)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return STORE_EDB;
    for (int i = 0; i < nargs; i++) {
        if (args[i])
            sqlite3_bind_text(q, i + 1, args[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, i + 1);
    }
    int rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    sqlite3_finalize(q);
    return rc;
}

const char *sq_col(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? t : "";
}

const char *sq_col_or_null(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
}

/* ---- policies ---- */

int store_policy_add(mg_store *st, const char *yaml, const char *digest, const char *author, int *version,
                     char created_at[40])
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO policies (version, yaml, digest, created_at, author)"
                           " SELECT COALESCE(MAX(version), 0) + 1, ?1, ?2, " NOW_SQL ", ?3 FROM policies"
                           " RETURNING version, created_at",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, yaml, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, digest, -1, SQLITE_STATIC);
        if (author)
            sqlite3_bind_text(q, 3, author, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *version = sqlite3_column_int(q, 0);
            snprintf(created_at, 40, "%s", sq_col(q, 1));
            rc = sqlite3_step(q) == SQLITE_DONE ? STORE_OK : STORE_EDB;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_policy_latest(mg_store *st, char **yaml, int *version, char created_at[40])
{
    *yaml = NULL;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *q;
    int rc = STORE_EDB;
    if (sqlite3_prepare_v2(st->db, "SELECT version, yaml, created_at FROM policies ORDER BY version DESC LIMIT 1", -1,
                           &q, NULL) == SQLITE_OK) {
        int s = sqlite3_step(q);
        rc = s == SQLITE_ROW ? STORE_OK : s == SQLITE_DONE ? STORE_ENOTFOUND : STORE_EDB;
        if (rc == STORE_OK) {
            *version = sqlite3_column_int(q, 0);
            *yaml = strdup(sq_col(q, 1));
            snprintf(created_at, 40, "%s", sq_col(q, 2));
            rc = *yaml ? STORE_OK : STORE_ENOMEM;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}
