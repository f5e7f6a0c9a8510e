/*
 * config.h - the configuration of `modelgate serve`, from four layers:
 * built-in defaults, a YAML config file, MODELGATE_* environment variables
 * and command-line flags, each overriding the one before (config.c).
 */
#ifndef MG_CLI_CONFIG_H
#define MG_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum { CONFIG_MAX_ROOTS = 64, CONFIG_MAX_WATCH = 256, CONFIG_MAX_FILE = 1 << 20, CONFIG_WATCH_INTERVAL_MAX = 86400 };
enum { CONFIG_RATE_MAX = 1000000 }; /* rate_limit, rate_burst */

typedef struct serve_config {
    char *listen, *data;
    /* where the store is when not in `data`: a postgresql:// URL (or another
     * SQLite folder); NULL: data's SQLite file (config_store) */
    char *store;
    char *roots[CONFIG_MAX_ROOTS];
    size_t nroots;
    unsigned workers, queue;
    char *role; /* serve's part with a shared queue: "api", "worker" or "all" (NULL: all) */
    char *hub_endpoint, *hub_token;
    char *s3_endpoint, *s3_region;
    char *webhook_url;             /* POSTed to when a re-evaluation changes a verdict (rescan.c) */
    char *watch[CONFIG_MAX_WATCH]; /* model URIs re-scanned when their files change (watch.c) */
    size_t nwatch;
    unsigned watch_interval; /* seconds between two looks at the watched models */
    /* the Hub gateway (src/gateway): its listen address (NULL: no gateway),
     * the bytes of verified files it keeps, how long a branch -> commit
     * answer is reused, and whether a failed scan lets a model through */
    char *gateway;
    uint64_t blob_cache_size;
    unsigned revision_ttl;
    int fail_open;
    /* the REST API's per-token rate limit: requests per second and the
     * burst allowed (ratelimit.c); 0: no limit, burst 0: as many as rate */
    unsigned rate_limit, rate_burst;
} serve_config;

/* Fills the defaults (listen 127.0.0.1:8080, data ./var, workers = cores,
 * queue 64, hub https://huggingface.co, watch interval 60 s; no roots: the
 * caller falls back to the working directory; nothing watched; no gateway,
 * blob cache 10 GiB, revision ttl 30 s, fail closed, no rate limit). */
int config_defaults(serve_config *c);
void config_free(serve_config *c);

/* Sets one key ("listen", "workers", ...) from text, checking its value.
 * "roots" and "watch" take one entry (config_clear_roots / _watch first to
 * replace the list). -1 with `err` set when the key is unknown or the value
 * bad. */
int config_set(serve_config *c, const char *key, const char *value, char *err, size_t errlen);
void config_clear_roots(serve_config *c);
void config_clear_watch(serve_config *c);

/* Applies a YAML config file (a mapping of the keys above; roots and watch
 * are lists). Errors name the file and line. */
int config_load_file(serve_config *c, const char *path, char *err, size_t errlen);
/* The store's location for store_open: `store` when set, else `data`. */
const char *config_store(const serve_config *c);
/* Whether the store is a database server rather than the data folder's
 * SQLite file. */
int config_store_is_server(const serve_config *c);

/* Applies MODELGATE_LISTEN, _DATA, _STORE, _ROOTS (colon-separated), _WORKERS,
 * _QUEUE, _HUB_ENDPOINT, _HUB_TOKEN, _WATCH (whitespace-separated),
 * _WATCH_INTERVAL, _GATEWAY, _BLOB_CACHE_SIZE, _REVISION_TTL, _FAIL_OPEN,
 * _RATE_LIMIT, _RATE_BURST.
 * Errors name the variable. */
int config_load_env(serve_config *c, char *err, size_t errlen);

#endif
