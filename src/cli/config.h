/*
 * config.h - the configuration of `modelgate serve`, from four layers:
 * built-in defaults, a YAML config file, MODELGATE_* environment variables
 * and command-line flags, each overriding the one before (config.c).
 */
#ifndef MG_CLI_CONFIG_H
#define MG_CLI_CONFIG_H

#include <stddef.h>

enum { CONFIG_MAX_ROOTS = 64, CONFIG_MAX_FILE = 1 << 20 };

typedef struct serve_config {
    char *listen, *data;
    char *roots[CONFIG_MAX_ROOTS];
    size_t nroots;
    unsigned workers, queue;
    char *hub_endpoint, *hub_token;
    char *s3_endpoint, *s3_region;
    char *webhook_url; /* POSTed to when a re-evaluation changes a verdict (rescan.c) */
} serve_config;

/* Fills the defaults (listen 127.0.0.1:8080, data ./var, workers = cores,
 * queue 64, hub https://huggingface.co; no roots: the caller falls back to
 * the working directory). */
int config_defaults(serve_config *c);
void config_free(serve_config *c);

/* Sets one key ("listen", "workers", ...) from text, checking its value.
 * "roots" takes one root (config_clear_roots first to replace the list).
 * -1 with `err` set when the key is unknown or the value bad. */
int config_set(serve_config *c, const char *key, const char *value, char *err, size_t errlen);
void config_clear_roots(serve_config *c);

/* Applies a YAML config file (a mapping of the keys above; roots is a
 * list). Errors name the file and line. */
int config_load_file(serve_config *c, const char *path, char *err, size_t errlen);
/* Applies MODELGATE_LISTEN, _DATA, _ROOTS (colon-separated), _WORKERS,
 * _QUEUE, _HUB_ENDPOINT, _HUB_TOKEN. Errors name the variable. */
int config_load_env(serve_config *c, char *err, size_t errlen);

#endif
