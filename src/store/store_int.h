/*
 * store_int.h - what the store's backends share: the table of functions a
 * backend provides (store.c forwards every public store_* call to it), the
 * part of a handle that is the same for all of them, the helpers they use
 * alike, and the one schema both apply (schema.c).
 *
 * A backend's handle embeds `mg_store` as its first member and converts the
 * `mg_store *` it is given back to its own type. What does not touch a
 * database (random tokens and cookies, their SHA-256, the cache of tokens
 * already seen) is done once, in store.c, so the backends differ only in
 * how they talk to their engine.
 */
#ifndef MG_STORE_INT_H
#define MG_STORE_INT_H

/* The queue's figures (store_queue_stats), in SQL both engines run alike;
 * it reads the unfinished scans only (the scans_waiting index). */
#define QUEUE_STATS_SQL                                                                                                \
    "SELECT count(*) FILTER (WHERE state = 'PENDING'), count(*) FILTER (WHERE state = 'RUNNING'),"                     \
    " coalesce(min(created_at) FILTER (WHERE state = 'PENDING'), '') FROM scans WHERE state <> 'DONE'"

#include <pthread.h>

#include "store.h"

/* Every call a backend answers; hashes are lowercase hex SHA-256 (64
 * characters), never the token or cookie itself. */
typedef struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(mg_store *st);
    int (*schema_version)(mg_store *st, int *out);
    int (*describe)(mg_store *st, char *out, size_t n);

    int (*token_count)(mg_store *st, long *out);
    int (*token_insert)(mg_store *st, const char *hash, store_role role);
    int (*token_role)(mg_store *st, const char *hash, store_role *role);

    int (*scan_add)(mg_store *st, const store_scan *scan);
    int (*scan_start)(mg_store *st, const char *uuid, int *attempts);
    int (*scan_put)(mg_store *st, const store_scan *scan);
    int (*scan_get)(mg_store *st, const char *uuid, store_scan_fn fn, void *ctx);
    int (*scan_unfinished)(mg_store *st, store_scan_fn fn, void *ctx);
    int (*scan_requeue)(mg_store *st);
    int (*scan_list)(mg_store *st, const store_filter *f, store_scan_fn fn, void *ctx);
    int (*scan_last_allowed)(mg_store *st, const char *model_uuid, const char *model_version_uuid, store_scan_fn fn,
                             void *ctx);
    int (*model_list)(mg_store *st, const store_filter *f, store_model_fn fn, void *ctx);
    int (*model_get)(mg_store *st, const char *uuid, int max_versions, store_model_fn mfn, store_version_fn vfn,
                     void *ctx);
    int (*model_latest)(mg_store *st, store_latest_fn fn, void *ctx);

    int (*policy_add)(mg_store *st, const char *yaml, const char *digest, const char *author, int *version,
                      char created_at[40]);
    int (*policy_latest)(mg_store *st, char **yaml, int *version, char created_at[40]);
    int (*policy_list)(mg_store *st, int before, int limit, store_policy_fn fn, void *ctx);

    int (*verdict_find)(mg_store *st, const char *model_uri, const char *rules_version, const char *policy_digest,
                        store_scan_fn fn, void *ctx);
    int (*decision_add_many)(mg_store *st, const store_decision *d, size_t n);
    int (*decision_list)(mg_store *st, const store_filter *f, store_decision_fn fn, void *ctx);

    /* Prunes expired sessions and opens one for the token of hash token_h
     * (role, created_at, expires_at filled; csrf is already in `out`);
     * STORE_ENOTFOUND when there is no such token. */
    int (*session_insert)(mg_store *st, const char *cookie_h, const char *token_h, long lifetime_s, store_session *out);
    /* Fills `out` (caller via store_caller); an expired session is deleted
     * and STORE_ENOTFOUND returned. */
    int (*session_lookup)(mg_store *st, const char *cookie_h, store_session *out);
    int (*session_delete)(mg_store *st, const char *cookie_h);
    int (*session_prune)(mg_store *st, long *deleted);

    int (*scan_counts)(mg_store *st, const char *since, store_counts *out);
    int (*decision_counts)(mg_store *st, const char *since, store_counts *out);
    int (*scan_blocked)(mg_store *st, int limit, store_blocked_fn fn, void *ctx);

    /* the shared job queue: NULL on a backend without one (SQLite) */
    int (*queue_claim)(mg_store *st, const char *owner, int lease_s, store_scan_fn fn, void *ctx);
    int (*queue_renew)(mg_store *st, const char *uuid, const char *owner, int lease_s);
    int (*queue_notify)(mg_store *st);
    int (*queue_wait)(mg_store *st, int ms);
    int (*scan_joined)(mg_store *st, const char *uuid, const char *model_uri, const char *queue_key, char out[37]);
    int (*queue_stats)(mg_store *st, store_queue_info *out);
    int (*queue_done)(mg_store *st, const char *const *uuids, size_t n, int (*fn)(void *ctx, const char *uuid),
                      void *ctx);
} store_ops;

/* Tokens already seen, by hash. Every request presents a token, and a
 * lookup in the database would queue them all on the backend; tokens are
 * never changed or deleted, so a hit stays right. Only hits are kept: a
 * token another process created is still found in the database. */
enum { TOKEN_CACHE = 64 };

typedef struct token_seen {
    char hash[65];
    store_role role;
} token_seen;

struct mg_store {
    const store_ops *ops;
    pthread_rwlock_t seen_lock;
    token_seen seen[TOKEN_CACHE];
    size_t nseen; /* entries filled; past TOKEN_CACHE, new hits replace old ones in turn */
};

/* Sets up the shared part of a backend's fresh (zeroed) handle. */
void store_base_init(mg_store *st, const store_ops *ops);
/* Releases it; the backend frees the handle itself. */
void store_base_destroy(mg_store *st);

/* Lowercase hex of SHA-256(text) (tokens and session cookies are stored so). */
int store_hash(const char *text, char hex[65]);
/* "token:" and the first 12 hex digits of a token's hash: who a session
 * (or a gateway request) acts for. */
void store_caller(const char *token_hash, char out[32]);

/* The backends' open functions (store_open picks one by the location). */
int sq_open(mg_store **out, const char *dir, char *err, size_t errlen);
int pg_open(mg_store **out, const char *url, char *err, size_t errlen);

/* ---- the schema (schema.c) ---- */

/* One numbered migration, in each engine's dialect, generated from one
 * text so the two cannot drift. Migration i (from 0) brings the schema from
 * version i to i + 1. */
typedef struct schema_migration {
    const char *sqlite, *postgres;
} schema_migration;

extern const schema_migration schema_migrations[];
extern const int schema_count;
/* The table recording which migrations ran (both dialects accept it). */
extern const char schema_bookkeeping[];

#endif
