/*
 * config.c - the configuration of `modelgate serve`: defaults, then a YAML
 * file (--config FILE or MODELGATE_CONFIG), then MODELGATE_* variables, then
 * flags; each layer overrides the one before, key by key (a list of roots
 * from a later layer replaces the whole list).
 *
 * The file is read with libyaml's event parser: a mapping of known keys to
 * scalars, and `roots` and `watch` to lists of scalars. Anything else (an unknown key,
 * a duplicate, a nested mapping, an alias) is an error naming the line: a
 * typo in a security setting must not be silently ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "cli.h"
#include "config.h"

static int set_str(char **slot, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -1;
    free(*slot);
    *slot = v;
    return 0;
}

int config_defaults(serve_config *c)
{
    memset(c, 0, sizeof *c);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = cores > 0 && cores < 64 ? (unsigned)cores : 2;
    c->queue = 64;
    c->watch_interval = 60;
    c->blob_cache_size = 10ull << 30;
    c->revision_ttl = 30;
    return set_str(&c->listen, "127.0.0.1:8080") | set_str(&c->data, "./var") |
           set_str(&c->hub_endpoint, "https://huggingface.co");
}

void config_clear_roots(serve_config *c)
{
    for (size_t i = 0; i < c->nroots; i++)
        free(c->roots[i]);
    c->nroots = 0;
}

void config_clear_watch(serve_config *c)
{
    for (size_t i = 0; i < c->nwatch; i++)
        free(c->watch[i]);
    c->nwatch = 0;
}

void config_free(serve_config *c)
{
    config_clear_roots(c);
    config_clear_watch(c);
    char **strs[] = {&c->listen,      &c->data,      &c->store,       &c->hub_endpoint, &c->hub_token,
                     &c->s3_endpoint, &c->s3_region, &c->webhook_url, &c->gateway,      &c->role};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

const char *config_store(const serve_config *c)
{
    return c->store ? c->store : c->data;
}

int config_store_is_server(const serve_config *c)
{
    const char *s = config_store(c);
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/* An integer from `min` (0 or 1) to `max`. */
static int set_range(unsigned *slot, const char *key, const char *value, unsigned min, unsigned max, char *err,
                     size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno || end == value || *end || *value == '-' || v < min || v > max) {
        snprintf(err, errlen, "%s must be an integer from %u to %u, not '%s'", key, min, max, value);
        return -1;
    }
    *slot = (unsigned)v;
    return 0;
}

static int set_uint(unsigned *slot, const char *key, const char *value, unsigned max, char *err, size_t errlen)
{
    return set_range(slot, key, value, 1, max, err, errlen);
}

static int set_url(char **slot, const char *key, const char *value, char *err, size_t errlen)
{
    if (*value && strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) {
        snprintf(err, errlen, "%s must be an http:// or https:// URL, not '%s'", key, value);
        return -1;
    }
    return set_str(slot, value);
}

static int add_root(serve_config *c, const char *value, char *err, size_t errlen)
{
    if (!*value)
        return 0;
    if (c->nroots == CONFIG_MAX_ROOTS) {
        snprintf(err, errlen, "more than %d roots", CONFIG_MAX_ROOTS);
        return -1;
    }
    c->roots[c->nroots] = strdup(value);
    return c->roots[c->nroots] ? (c->nroots++, 0) : -1;
}

/* Checked like a scan's model_uri when the service starts (watch.c). */
static int add_watch(serve_config *c, const char *value, char *err, size_t errlen)
{
    if (!*value)
        return 0;
    if (c->nwatch == CONFIG_MAX_WATCH) {
        snprintf(err, errlen, "more than %d watched models", CONFIG_MAX_WATCH);
        return -1;
    }
    c->watch[c->nwatch] = strdup(value);
    return c->watch[c->nwatch] ? (c->nwatch++, 0) : -1;
}

/* A size in bytes, with an optional K, M, G or T suffix (powers of 1024). */
static int set_size(uint64_t *slot, const char *key, const char *value, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    unsigned shift = 0;
    if (end != value && *end && !end[1])
        shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : *end == 'T' ? 40 : 99;
    if (end == value || value[0] == '-' || errno || shift == 99 || (*end && end[1]) ||
        (shift && v > (UINT64_MAX >> shift))) {
        snprintf(err, errlen, "%s must be a byte count such as 10737418240 or 10G, not '%s'", key, value);
        return -1;
    }
    *slot = (uint64_t)v << shift;
    return 0;
}

static int set_bool(int *slot, const char *key, const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
        *slot = 1;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
        *slot = 0;
    else {
        snprintf(err, errlen, "%s must be true or false, not '%s'", key, value);
        return -1;
    }
    return 0;
}

int config_set(serve_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    err[0] = 0;
    int rc;
    if ((strcmp(key, "listen") == 0 || strcmp(key, "data") == 0) && !*value) {
        snprintf(err, errlen, "%s needs a value", key);
        return -1;
    }
    if (strcmp(key, "listen") == 0)
        rc = set_str(&c->listen, value);
    else if (strcmp(key, "data") == 0)
        rc = set_str(&c->data, value);
    else if (strcmp(key, "store") == 0)
        rc = *value ? set_str(&c->store, value) : (free(c->store), c->store = NULL, 0);
    else if (strcmp(key, "roots") == 0)
        rc = add_root(c, value, err, errlen);
    else if (strcmp(key, "workers") == 0)
        rc = set_uint(&c->workers, key, value, 256, err, errlen);
    else if (strcmp(key, "queue") == 0)
        rc = set_uint(&c->queue, key, value, 1000000, err, errlen);
    else if (strcmp(key, "role") == 0 && strcmp(value, "api") && strcmp(value, "worker") && strcmp(value, "all")) {
        snprintf(err, errlen, "role must be api, worker or all, not '%.40s'", value);
        return -1;
    } else if (strcmp(key, "role") == 0)
        rc = set_str(&c->role, value);
    else if (strcmp(key, "hub_endpoint") == 0)
        rc = set_url(&c->hub_endpoint, key, *value ? value : "https://huggingface.co", err, errlen);
    else if (strcmp(key, "hub_token") == 0)
        rc = set_str(&c->hub_token, value);
    else if (strcmp(key, "s3_endpoint") == 0)
        rc = set_url(&c->s3_endpoint, key, value, err, errlen);
    else if (strcmp(key, "s3_region") == 0)
        rc = set_str(&c->s3_region, value);
    else if (strcmp(key, "webhook_url") == 0)
        rc = set_url(&c->webhook_url, key, value, err, errlen);
    else if (strcmp(key, "watch") == 0)
        rc = add_watch(c, value, err, errlen);
    else if (strcmp(key, "watch_interval") == 0)
        rc = set_uint(&c->watch_interval, key, value, CONFIG_WATCH_INTERVAL_MAX, err, errlen);
    else if (strcmp(key, "gateway") == 0)
        rc = *value ? set_str(&c->gateway, value) : (free(c->gateway), c->gateway = NULL, 0);
    else if (strcmp(key, "blob_cache_size") == 0)
        rc = set_size(&c->blob_cache_size, key, value, err, errlen);
    else if (strcmp(key, "revision_ttl") == 0)
        rc = set_range(&c->revision_ttl, key, value, 0, CONFIG_WATCH_INTERVAL_MAX, err, errlen);
    else if (strcmp(key, "fail_open") == 0)
        rc = set_bool(&c->fail_open, key, value, err, errlen);
    else if (strcmp(key, "rate_limit") == 0)
        rc = set_range(&c->rate_limit, key, value, 0, CONFIG_RATE_MAX, err, errlen);
    else if (strcmp(key, "rate_burst") == 0)
        rc = set_range(&c->rate_burst, key, value, 0, CONFIG_RATE_MAX, err, errlen);
    else {
        snprintf(err, errlen, "unknown key '%s'", key);
        return -1;
    }
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* ---- the file ---- */

typedef struct yaml_walk {
    yaml_parser_t parser;
    const char *path;
    char *err;
    size_t errlen;
} yaml_walk;

/* Next event, or -1 with the error set (the parser's own, with its line). */
static int next_event(yaml_walk *w, yaml_event_t *ev)
{
    if (yaml_parser_parse(&w->parser, ev))
        return 0;
    snprintf(w->err, w->errlen, "%s:%zu: %s", w->path, w->parser.problem_mark.line + 1,
             w->parser.problem ? w->parser.problem : "malformed YAML");
    return -1;
}

static int fail_at(yaml_walk *w, const yaml_event_t *ev, const char *what)
{
    snprintf(w->err, w->errlen, "%s:%zu: %s", w->path, ev->start_mark.line + 1, what);
    return -1;
}

/* The list after "roots:" or "watch:" (a single scalar is one entry). */
static int read_list(yaml_walk *w, serve_config *c, const char *key, yaml_event_t *first)
{
    char msg[200];
    const char *shape = strcmp(key, "roots") == 0 ? "roots must be a list of folders"
                                                  : "watch must be a list of model URIs (folders or s3:// prefixes)";
    if (strcmp(key, "roots") == 0)
        config_clear_roots(c);
    else
        config_clear_watch(c);
    if (first->type == YAML_SCALAR_EVENT)
        return config_set(c, key, (const char *)first->data.scalar.value, msg, sizeof msg) ? fail_at(w, first, msg) : 0;
    if (first->type != YAML_SEQUENCE_START_EVENT)
        return fail_at(w, first, shape);
    for (;;) {
        yaml_event_t ev;
        if (next_event(w, &ev) != 0)
            return -1;
        int rc = 0;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (ev.type != YAML_SCALAR_EVENT)
            rc = fail_at(w, &ev, shape);
        else if (config_set(c, key, (const char *)ev.data.scalar.value, msg, sizeof msg) != 0)
            rc = fail_at(w, &ev, msg);
        yaml_event_delete(&ev);
        if (rc)
            return rc;
    }
}

/* One "key: value" of the top mapping; `key` is the key's event. */
static int read_entry(yaml_walk *w, serve_config *c, const yaml_event_t *key, unsigned *seen)
{
    static const char *const keys[] = {"listen",       "data",           "store",      "roots",
                                       "workers",      "queue",          "role",       "hub_endpoint",
                                       "hub_token",    "s3_endpoint",    "s3_region",  "webhook_url",
                                       "watch",        "watch_interval", "gateway",    "blob_cache_size",
                                       "revision_ttl", "fail_open",      "rate_limit", "rate_burst"};
    const char *k = (const char *)key->data.scalar.value;
    size_t i = 0;
    while (i < sizeof keys / sizeof keys[0] && strcmp(k, keys[i]) != 0)
        i++;
    char msg[300];
    if (i == sizeof keys / sizeof keys[0]) {
        snprintf(msg, sizeof msg,
                 "unknown key '%.60s' (known: listen, data, store, roots, workers, queue, role, hub_endpoint, "
                 "hub_token, s3_endpoint, s3_region, webhook_url, watch, watch_interval, gateway, "
                 "blob_cache_size, revision_ttl, fail_open, rate_limit, rate_burst)",
                 k);
        return fail_at(w, key, msg);
    }
    if (*seen & (1u << i)) {
        snprintf(msg, sizeof msg, "duplicate key '%s'", k);
        return fail_at(w, key, msg);
    }
    *seen |= 1u << i;
    yaml_event_t ev;
    if (next_event(w, &ev) != 0)
        return -1;
    int rc;
    if (strcmp(k, "roots") == 0 || strcmp(k, "watch") == 0)
        rc = read_list(w, c, k, &ev);
    else if (ev.type != YAML_SCALAR_EVENT)
        rc = fail_at(w, &ev, "expected a single value");
    else
        rc = config_set(c, k, (const char *)ev.data.scalar.value, msg, sizeof msg) ? fail_at(w, &ev, msg) : 0;
    yaml_event_delete(&ev);
    return rc;
}

/* The events after STREAM_START: an empty stream, or one mapping. */
static int read_top(yaml_walk *w, serve_config *c)
{
    unsigned seen = 0;
    int in_map = 0;
    for (;;) {
        yaml_event_t ev;
        if (next_event(w, &ev) != 0)
            return -1;
        int rc = 0, done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_DOCUMENT_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT || done)
            rc = 0;
        else if (ev.type == YAML_MAPPING_START_EVENT && !in_map)
            in_map = 1;
        else if (ev.type == YAML_MAPPING_END_EVENT && in_map)
            in_map = 2;
        else if (ev.type == YAML_SCALAR_EVENT && in_map == 1)
            rc = read_entry(w, c, &ev, &seen);
        else
            rc = fail_at(w, &ev, "the config file must be one mapping of key: value");
        yaml_event_delete(&ev);
        if (rc || done)
            return rc;
    }
}

int config_load_file(serve_config *c, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, CONFIG_MAX_FILE, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_walk w = {.path = path, .err = err, .errlen = errlen};
    int rc = -1;
    if (yaml_parser_initialize(&w.parser)) {
        yaml_parser_set_input_string(&w.parser, (const unsigned char *)text, len);
        yaml_event_t ev;
        rc = next_event(&w, &ev);
        if (rc == 0) {
            yaml_event_delete(&ev);
            rc = read_top(&w, c);
        }
        yaml_parser_delete(&w.parser);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(text);
    return rc;
}

/* ---- the environment ---- */

static int env_roots(serve_config *c, const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    config_clear_roots(c);
    int rc = 0;
    for (char *p = copy, *colon; rc == 0 && p; p = colon ? colon + 1 : NULL) {
        colon = strchr(p, ':');
        if (colon)
            *colon = 0;
        rc = config_set(c, "roots", p, err, errlen);
    }
    free(copy);
    return rc;
}

/* MODELGATE_WATCH: URIs separated by blanks (a URI has none: a local path
 * with a blank is given in the config file or with --watch). */
static int env_watch(serve_config *c, const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    config_clear_watch(c);
    int rc = 0;
    char *p = copy;
    while (rc == 0 && *p) {
        p += strspn(p, " \t\n\r\f\v");
        size_t n = strcspn(p, " \t\n\r\f\v");
        if (!n)
            break;
        char save = p[n];
        p[n] = 0;
        rc = config_set(c, "watch", p, err, errlen);
        p[n] = save;
        p += n;
    }
    free(copy);
    return rc;
}

int config_load_env(serve_config *c, char *err, size_t errlen)
{
    static const char *const vars[][2] = {
        {"MODELGATE_LISTEN", "listen"},
        {"MODELGATE_DATA", "data"},
        {"MODELGATE_STORE", "store"},
        {"MODELGATE_WORKERS", "workers"},
        {"MODELGATE_QUEUE", "queue"},
        {"MODELGATE_ROLE", "role"},
        {"MODELGATE_HUB_ENDPOINT", "hub_endpoint"},
        {"MODELGATE_HUB_TOKEN", "hub_token"},
        {"MODELGATE_WATCH_INTERVAL", "watch_interval"},
        {"MODELGATE_GATEWAY", "gateway"},
        {"MODELGATE_BLOB_CACHE_SIZE", "blob_cache_size"},
        {"MODELGATE_REVISION_TTL", "revision_ttl"},
        {"MODELGATE_FAIL_OPEN", "fail_open"},
        {"MODELGATE_RATE_LIMIT", "rate_limit"},
        {"MODELGATE_RATE_BURST", "rate_burst"},
    };
    char msg[200] = "";
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i][0]);
        if (v && config_set(c, vars[i][1], v, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s: %s", vars[i][0], msg);
            return -1;
        }
    }
    const char *roots = getenv("MODELGATE_ROOTS");
    if (roots && env_roots(c, roots, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "MODELGATE_ROOTS: %s", msg);
        return -1;
    }
    const char *watch = getenv("MODELGATE_WATCH");
    if (watch && env_watch(c, watch, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "MODELGATE_WATCH: %s", msg[0] ? msg : "out of memory");
        return -1;
    }
    return 0;
}
