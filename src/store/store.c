/*
 * store.c - the store's front: picks a backend by the location it is
 * opened with, and forwards every store_* call to that backend's table of
 * functions (store_int.h).
 *
 *   postgresql://... or postgres://...   PostgreSQL (pg.c), a libpq URL
 *   anything else                        SQLite (sqlite.c) in that directory
 *
 * What does not touch a database is done here, once for both backends:
 * tokens are 32 random bytes (OpenSSL RAND_bytes) shown once as "mg_" +
 * hex and stored only as their SHA-256, so a copy of the database grants no
 * access; session cookies and CSRF tokens are random the same way; and the
 * tokens already seen are cached in the handle, so the requests that all
 * present one do not each wait on the database.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

static int is_postgres(const char *location)
{
    return strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0;
}

int store_open(mg_store **out, const char *location, char *err, size_t errlen)
{
    return is_postgres(location) ? pg_open(out, location, err, errlen) : sq_open(out, location, err, errlen);
}

void store_close(mg_store *st)
{
    if (st)
        st->ops->close(st);
}

void store_base_init(mg_store *st, const store_ops *ops)
{
    st->ops = ops;
    pthread_rwlock_init(&st->seen_lock, NULL);
}

void store_base_destroy(mg_store *st)
{
    pthread_rwlock_destroy(&st->seen_lock);
}

int store_schema_version(mg_store *st, int *out)
{
    return st->ops->schema_version(st, out);
}

int store_describe(mg_store *st, char *out, size_t n)
{
    return st->ops->describe(st, out, n);
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

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* Lowercase hex of SHA-256(text): the only form of a token (or a session
 * cookie) that is stored. */
int store_hash(const char *text, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof md)
        return STORE_ENOMEM;
    to_hex(md, sizeof md, hex);
    return STORE_OK;
}

void store_caller(const char *token_hash, char out[32])
{
    snprintf(out, 32, "token:%.12s", token_hash);
}

/* ---- tokens ---- */

int store_token_count(mg_store *st, long *out)
{
    return st->ops->token_count(st, out);
}

int store_token_create(mg_store *st, store_role role, char out[STORE_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    if (role == ROLE_NONE || RAND_bytes(raw, sizeof raw) != 1)
        return role == ROLE_NONE ? MG_EINVAL : STORE_EIO;
    memcpy(out, "mg_", 3);
    to_hex(raw, sizeof raw, out + 3);
    char hash[65];
    if (store_hash(out, hash) != STORE_OK)
        return STORE_ENOMEM;
    return st->ops->token_insert(st, hash, role);
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
    if (store_hash(token, hash) != STORE_OK)
        return STORE_ENOMEM;
    if (token_seen_get(st, hash, role))
        return STORE_OK;
    int rc = st->ops->token_role(st, hash, role);
    if (rc == STORE_OK && *role != ROLE_NONE)
        token_seen_put(st, hash, *role);
    return rc;
}

/* ---- scans and models ---- */

int store_scan_add(mg_store *st, const store_scan *scan)
{
    return st->ops->scan_add(st, scan);
}

int store_scan_start(mg_store *st, const char *uuid, int *attempts)
{
    return st->ops->scan_start(st, uuid, attempts);
}

int store_scan_put(mg_store *st, const store_scan *scan)
{
    return st->ops->scan_put(st, scan);
}

int store_scan_get(mg_store *st, const char *uuid, store_scan_fn fn, void *ctx)
{
    return st->ops->scan_get(st, uuid, fn, ctx);
}

int store_scan_unfinished(mg_store *st, store_scan_fn fn, void *ctx)
{
    return st->ops->scan_unfinished(st, fn, ctx);
}

int store_scan_requeue(mg_store *st)
{
    return st->ops->scan_requeue(st);
}

/* ---- the shared job queue ---- */

int store_has_queue(mg_store *st)
{
    return st->ops->queue_claim != NULL;
}

int store_queue_claim(mg_store *st, const char *owner, int lease_s, store_scan_fn fn, void *ctx)
{
    return st->ops->queue_claim ? st->ops->queue_claim(st, owner, lease_s, fn, ctx) : STORE_ENOTSUP;
}

int store_queue_renew(mg_store *st, const char *uuid, const char *owner, int lease_s)
{
    return st->ops->queue_renew ? st->ops->queue_renew(st, uuid, owner, lease_s) : STORE_ENOTSUP;
}

int store_queue_done(mg_store *st, const char *const *uuids, size_t n, int (*fn)(void *ctx, const char *uuid),
                     void *ctx)
{
    return st->ops->queue_done ? st->ops->queue_done(st, uuids, n, fn, ctx) : STORE_ENOTSUP;
}

int store_queue_notify(mg_store *st)
{
    return st->ops->queue_notify ? st->ops->queue_notify(st) : STORE_ENOTSUP;
}

int store_queue_wait(mg_store *st, int ms)
{
    return st->ops->queue_wait ? st->ops->queue_wait(st, ms) : STORE_ENOTSUP;
}

int store_scan_joined(mg_store *st, const char *uuid, const char *model_uri, const char *queue_key, char out[37])
{
    return st->ops->scan_joined ? st->ops->scan_joined(st, uuid, model_uri, queue_key ? queue_key : "", out)
                                : STORE_ENOTSUP;
}

int store_queue_stats(mg_store *st, store_queue_info *out)
{
    memset(out, 0, sizeof *out);
    return st->ops->queue_stats(st, out);
}

int store_scan_list(mg_store *st, const store_filter *f, store_scan_fn fn, void *ctx)
{
    return st->ops->scan_list(st, f, fn, ctx);
}

int store_scan_last_allowed(mg_store *st, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                            void *ctx)
{
    return st->ops->scan_last_allowed(st, model_uuid, model_version_uuid, fn, ctx);
}

int store_model_list(mg_store *st, const store_filter *f, store_model_fn fn, void *ctx)
{
    return st->ops->model_list(st, f, fn, ctx);
}

int store_model_get(mg_store *st, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                    void *ctx)
{
    return st->ops->model_get(st, uuid, max_versions, mfn, vfn, ctx);
}

int store_model_latest(mg_store *st, store_latest_fn fn, void *ctx)
{
    return st->ops->model_latest(st, fn, ctx);
}

/* ---- policies ---- */

int store_policy_add(mg_store *st, const char *yaml, const char *digest, const char *author, int *version,
                     char created_at[40])
{
    return st->ops->policy_add(st, yaml, digest, author, version, created_at);
}

int store_policy_latest(mg_store *st, char **yaml, int *version, char created_at[40])
{
    return st->ops->policy_latest(st, yaml, version, created_at);
}

int store_policy_list(mg_store *st, int before, int limit, store_policy_fn fn, void *ctx)
{
    return st->ops->policy_list(st, before, limit, fn, ctx);
}

/* ---- the gateway ---- */

int store_verdict_find(mg_store *st, const char *model_uri, const char *rules_version, const char *policy_digest,
                       store_scan_fn fn, void *ctx)
{
    return st->ops->verdict_find(st, model_uri, rules_version, policy_digest, fn, ctx);
}

int store_decision_add(mg_store *st, const store_decision *d)
{
    return st->ops->decision_add_many(st, d, 1);
}

int store_decision_add_many(mg_store *st, const store_decision *d, size_t n)
{
    return st->ops->decision_add_many(st, d, n);
}

int store_decision_list(mg_store *st, const store_filter *f, store_decision_fn fn, void *ctx)
{
    return st->ops->decision_list(st, f, fn, ctx);
}

/* ---- the dashboard ---- */

int store_session_create(mg_store *st, const char *token, long lifetime_s, char cookie[STORE_COOKIE_LEN + 1],
                         store_session *out)
{
    memset(out, 0, sizeof *out);
    cookie[0] = 0;
    unsigned char raw[64];
    char token_h[65], cookie_h[65];
    if (lifetime_s < 0 || lifetime_s > 366L * 86400)
        return MG_EINVAL;
    if (RAND_bytes(raw, sizeof raw) != 1)
        return STORE_EIO;
    to_hex(raw, 32, cookie);
    to_hex(raw + 32, 32, out->csrf);
    if (store_hash(token, token_h) != STORE_OK || store_hash(cookie, cookie_h) != STORE_OK)
        return STORE_ENOMEM;
    int rc = st->ops->session_insert(st, cookie_h, token_h, lifetime_s, out);
    if (rc == STORE_OK)
        store_caller(token_h, out->caller);
    else
        memset(cookie, 0, STORE_COOKIE_LEN + 1);
    return rc;
}

int store_session_lookup(mg_store *st, const char *cookie, store_session *out)
{
    memset(out, 0, sizeof *out);
    char h[65];
    if (store_hash(cookie, h) != STORE_OK)
        return STORE_ENOMEM;
    int rc = st->ops->session_lookup(st, h, out);
    if (rc != STORE_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

int store_session_delete(mg_store *st, const char *cookie)
{
    char h[65];
    if (store_hash(cookie, h) != STORE_OK)
        return STORE_ENOMEM;
    return st->ops->session_delete(st, h);
}

int store_session_prune(mg_store *st, long *deleted)
{
    return st->ops->session_prune(st, deleted);
}

int store_scan_counts(mg_store *st, const char *since, store_counts *out)
{
    return st->ops->scan_counts(st, since, out);
}

int store_decision_counts(mg_store *st, const char *since, store_counts *out)
{
    return st->ops->decision_counts(st, since, out);
}

int store_scan_blocked(mg_store *st, int limit, store_blocked_fn fn, void *ctx)
{
    return st->ops->scan_blocked(st, limit, fn, ctx);
}
