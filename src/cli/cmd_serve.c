/*
 * cmd_serve.c - `modelgate serve`: the scanner service. Reads its
 * configuration (config.c: defaults < file < MODELGATE_* < flags), opens the
 * store (migrating it), creates an admin token on first start, builds one
 * engine shared by every worker, loads the newest stored policy set,
 * re-queues the scans a previous process left unfinished, and serves HTTP
 * until SIGINT/SIGTERM.
 *
 * Stopping: stop accepting connections, let the running scans finish (the
 * queued ones stay PENDING in the store and run after the next start),
 * answer every request that waits for a scan, then close.
 *
 * `modelgate gateway` is the same process without the REST API: the Hub
 * gateway (src/gateway) on the same store, engine, policy and scan pool.
 *
 * Signals are blocked before any thread starts so the HTTP and scan workers
 * inherit the mask and only the main thread, in sigwait, ever sees them.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gateway/gateway.h"
#include "../server/server.h"
#include "../store/store.h"
#include "cli.h"
#include "config.h"
#include "serve_setup.h"

void help_serve(FILE *out)
{
    fprintf(out, "usage: modelgate serve [--listen ADDR:PORT] [--data DIR] [--store URL] [--root DIR]...\n"
                 "                       [--config FILE] [--workers N] [--queue N] [--threads N]\n"
                 "                       [--watch URI]... [--watch-interval S] [--role api|worker|all]\n"
                 "                       [--rate-limit N [--rate-burst M]]\n"
                 "                       [--gateway ADDR:PORT [--upstream URL] [--blob-cache-size BYTES]\n"
                 "                        [--revision-ttl S] [--fail-open]]\n"
                 "\n"
                 "Runs the scanner service (REST API: docs/rest.md). On first start, with no token in\n"
                 "the store, it creates an admin token and prints it once. With --gateway it also serves\n"
                 "the Hugging Face Hub gateway (docs/gateway.md, `modelgate help gateway`).\n"
                 "\n"
                 "options (each overrides MODELGATE_* variables, which override the config file):\n"
                 "  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; IPv6 as [::1]:8080)\n"
                 "  -d, --data DIR          the store: DIR/modelgate.db (default ./var)\n"
                 "      --store URL         the store in PostgreSQL instead: postgresql://USER@HOST/DB\n"
                 "                          (libpq's URL; password in ~/.pgpass or PGPASSWORD)\n"
                 "  -r, --root DIR          local models may be scanned only under DIR (repeatable;\n"
                 "                          default: the working directory)\n"
                 "  -c, --config FILE       YAML config file (default: $MODELGATE_CONFIG, else none);\n"
                 "                          keys: listen, data, store, roots, workers, queue, role,\n"
                 "                          hub_endpoint, hub_token, s3_endpoint, s3_region, webhook_url,\n"
                 "                          watch, watch_interval, gateway, blob_cache_size, revision_ttl,\n"
                 "                          fail_open, rate_limit, rate_burst\n"
                 "  -w, --workers N         scans run in parallel (default: number of cores)\n"
                 "  -q, --queue N           scans waiting beyond those; a full queue answers 429 (default 64;\n"
                 "                          with a PostgreSQL store: waiting in the database, all processes)\n"
                 "  -j, --threads N         HTTP worker threads (default: number of cores, at least 2)\n"
                 "      --rate-limit N      requests per second each token may make (default 0: no limit);\n"
                 "                          over it the API answers 429 with Retry-After\n"
                 "      --rate-burst M      requests a token may make at once (default: N)\n"
                 "      --role ROLE         with a PostgreSQL store: api (accept scans, run none), worker\n"
                 "                          (run queued scans, no HTTP) or all (default: both)\n"
                 "  -W, --watch URI         scan this model (a folder under a root, or s3://BUCKET/PREFIX/)\n"
                 "                          again whenever its files change: size, mtime, ctime or ETag\n"
                 "                          (repeatable; checked at start like a scan's model_uri)\n"
                 "  -i, --watch-interval S  seconds between two looks at the watched models (default 60)\n"
                 "  -G, --gateway ADDR:PORT  also serve the Hub gateway there (`modelgate help gateway`\n"
                 "                          for it and its options --upstream, --blob-cache-size,\n"
                 "                          --revision-ttl, --fail-open)\n"
                 "\n"
                 "environment: MODELGATE_LISTEN, MODELGATE_DATA, MODELGATE_STORE,\n"
                 "MODELGATE_ROOTS (colon-separated), MODELGATE_WORKERS, MODELGATE_QUEUE, MODELGATE_ROLE,\n"
                 "MODELGATE_HUB_ENDPOINT, MODELGATE_HUB_TOKEN, MODELGATE_WATCH (separated by blanks),\n"
                 "MODELGATE_WATCH_INTERVAL, MODELGATE_GATEWAY, MODELGATE_BLOB_CACHE_SIZE,\n"
                 "MODELGATE_REVISION_TTL, MODELGATE_FAIL_OPEN, MODELGATE_RATE_LIMIT, MODELGATE_RATE_BURST,\n"
                 "MODELGATE_CONFIG.\n");
}

void help_gateway(FILE *out)
{
    fprintf(out, "usage: modelgate gateway [--listen ADDR:PORT] [--upstream URL] [--data DIR] [--store URL]\n"
                 "                         [--config FILE] [--workers N] [--queue N] [--blob-cache-size BYTES]\n"
                 "                         [--revision-ttl S] [--fail-open]\n"
                 "\n"
                 "Serves a Hugging Face Hub-compatible gateway: point clients at it (HF_ENDPOINT=http://ADDR:PORT\n"
                 "for huggingface_hub and transformers, hubUrl for @huggingface/hub). Every repo is scanned at\n"
                 "its commit before a byte of it is served; one that fails the policy is refused with 403 and\n"
                 "the report. It shares the store (verdicts, audit records) and the policy with `modelgate\n"
                 "serve` on the same data folder; `modelgate serve --gateway ADDR:PORT` runs both at once.\n"
                 "\n"
                 "options (each overrides MODELGATE_* variables, which override the config file):\n"
                 "  -l, --listen ADDR:PORT  where the gateway listens (default 127.0.0.1:8080)\n"
                 "  -u, --upstream URL      the hub it fronts (default https://huggingface.co; the config\n"
                 "                          key hub_endpoint)\n"
                 "  -d, --data DIR          the store DIR/modelgate.db and the blob cache DIR/blobs\n"
                 "                          (default ./var)\n"
                 "      --store URL         the store in PostgreSQL instead (postgresql://USER@HOST/DB);\n"
                 "                          the blob cache stays in DIR/blobs\n"
                 "  -c, --config FILE       YAML config file (the keys of `modelgate help serve`)\n"
                 "  -w, --workers N         scans run in parallel (default: number of cores)\n"
                 "  -q, --queue N           scans waiting beyond those (default 64; with a PostgreSQL store:\n"
                 "                          waiting in the database, all processes)\n"
                 "  -B, --blob-cache-size BYTES  verified file bytes kept on disk, least recently served\n"
                 "                          evicted first (default 10G; suffixes K M G T; 0 keeps none)\n"
                 "  -T, --revision-ttl S    seconds a branch -> commit answer is reused (default 30);\n"
                 "                          after a branch moves, requests are judged at the new commit\n"
                 "                          within this time\n"
                 "      --fail-open         DANGEROUS: serve a repo whose scan failed (upstream or scan\n"
                 "                          error) instead of refusing it; every use is logged\n"
                 "\n"
                 "environment: MODELGATE_GATEWAY (the listen address), MODELGATE_HUB_ENDPOINT,\n"
                 "MODELGATE_DATA, MODELGATE_STORE, MODELGATE_WORKERS, MODELGATE_QUEUE,\n"
                 "MODELGATE_BLOB_CACHE_SIZE, MODELGATE_REVISION_TTL, MODELGATE_FAIL_OPEN, MODELGATE_CONFIG.\n");
}

/* The flags as given, applied last. */
typedef struct serve_flags {
    const char *config;
    /* in order; roots and watch repeat */
    const char *keys[CONFIG_MAX_ROOTS + CONFIG_MAX_WATCH + 16], *values[CONFIG_MAX_ROOTS + CONFIG_MAX_WATCH + 16];
    size_t n;
    int roots_given, watch_given;
    unsigned threads;
    int gateway_cmd; /* `modelgate gateway`: --listen is the gateway's, no REST API */
} serve_flags;

static int gateway_cmd; /* which command's usage to print */

static const char *cmd_name(void)
{
    return gateway_cmd ? "gateway" : "serve";
}

static int serve_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "modelgate %s: %s%s\n\n", gateway_cmd ? "gateway" : "serve", msg, arg ? arg : "");
    (gateway_cmd ? help_gateway : help_serve)(stderr);
    return -1;
}

static int repeats(const char *key)
{
    return strcmp(key, "roots") == 0 || strcmp(key, "watch") == 0;
}

static int flag_value(serve_flags *f, const char *key, const char *value)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->keys[i], key) == 0 && !repeats(key)) {
            f->values[i] = value; /* the last one wins */
            return 0;
        }
    }
    if (f->n == sizeof f->keys / sizeof f->keys[0])
        return serve_usage("too many options", NULL);
    f->keys[f->n] = key;
    f->values[f->n++] = value;
    return 0;
}

static int parse_threads(serve_flags *f, const char *arg)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    if (end == arg || *end || v < 1 || v > 256)
        return serve_usage("bad value for --threads: ", arg);
    f->threads = (unsigned)v;
    return 0;
}

/* 0 parsed, 1 help printed, -1 usage error (printed). */
static int parse_args(int argc, char **argv, serve_flags *f)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},
        {"data", required_argument, 0, 'd'},
        {"store", required_argument, 0, 'S'},
        {"root", required_argument, 0, 'r'},
        {"config", required_argument, 0, 'c'},
        {"workers", required_argument, 0, 'w'},
        {"queue", required_argument, 0, 'q'},
        {"role", required_argument, 0, 'R'},
        {"rate-limit", required_argument, 0, 'L'},
        {"rate-burst", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 'j'},
        {"watch", required_argument, 0, 'W'},
        {"watch-interval", required_argument, 0, 'i'},
        {"gateway", required_argument, 0, 'G'},
        {"upstream", required_argument, 0, 'u'},
        {"blob-cache-size", required_argument, 0, 'B'},
        {"revision-ttl", required_argument, 0, 'T'},
        {"fail-open", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int only_gw = f->gateway_cmd;
    memset(f, 0, sizeof *f);
    f->gateway_cmd = only_gw;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    f->threads = cores > 2 && cores < 64 ? (unsigned)cores : 2;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "l:d:r:c:w:q:j:W:i:G:u:B:T:R:L:b:Fh", opts, NULL)) != -1) {
        if (c == 'h') {
            (only_gw ? help_gateway : help_serve)(stdout);
            return 1;
        }
        if (only_gw && (c == 'r' || c == 'W' || c == 'i' || c == 'G' || c == 'j' || c == 'R'))
            return serve_usage("not an option of the gateway: --", c == 'r'   ? "root"
                                                                   : c == 'R' ? "role"
                                                                   : c == 'W' ? "watch"
                                                                   : c == 'i' ? "watch-interval"
                                                                   : c == 'G' ? "gateway"
                                                                              : "threads");
        if (c == 'F') {
            rc = flag_value(f, "fail_open", "true");
            continue;
        }
        const char *key = c == 'l'   ? (only_gw ? "gateway" : "listen")
                          : c == 'G' ? "gateway"
                          : c == 'u' ? "hub_endpoint"
                          : c == 'B' ? "blob_cache_size"
                          : c == 'T' ? "revision_ttl"
                          : c == 'd' ? "data"
                          : c == 'S' ? "store"
                          : c == 'r' ? "roots"
                          : c == 'w' ? "workers"
                          : c == 'q' ? "queue"
                          : c == 'L' ? "rate_limit"
                          : c == 'b' ? "rate_burst"
                          : c == 'R' ? "role"
                          : c == 'W' ? "watch"
                          : c == 'i' ? "watch_interval"
                                     : NULL;
        if (key) {
            f->roots_given |= c == 'r';
            f->watch_given |= c == 'W';
            rc = flag_value(f, key, optarg);
        } else if (c == 'c') {
            f->config = optarg;
        } else if (c == 'j') {
            rc = parse_threads(f, optarg);
        } else {
            (only_gw ? help_gateway : help_serve)(stderr);
            return -1;
        }
    }
    if (rc == 0 && optind < argc)
        return serve_usage("unexpected argument: ", argv[optind]);
    return rc;
}

/* defaults < config file < environment < flags */
static int build_config(const serve_flags *f, serve_config *cfg)
{
    char err[400];
    if (config_defaults(cfg) != 0) {
        fprintf(stderr, "modelgate %s: out of memory\n", cmd_name());
        return -1;
    }
    const char *file = f->config ? f->config : getenv("MODELGATE_CONFIG");
    if ((file && *file && config_load_file(cfg, file, err, sizeof err) != 0) ||
        config_load_env(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "modelgate %s: %s\n", cmd_name(), err);
        return -1;
    }
    if (f->roots_given)
        config_clear_roots(cfg);
    if (f->watch_given)
        config_clear_watch(cfg);
    for (size_t i = 0; i < f->n; i++) {
        if (config_set(cfg, f->keys[i], f->values[i], err, sizeof err) != 0) {
            const char *k = f->keys[i];
            char flag[40];
            snprintf(flag, sizeof flag, "%s",
                     strcmp(k, "roots") == 0          ? "root"
                     : strcmp(k, "hub_endpoint") == 0 ? "upstream"
                     : strcmp(k, "gateway") == 0      ? (f->gateway_cmd ? "listen" : "gateway")
                                                      : k);
            for (char *p = flag; *p; p++)
                *p = *p == '_' ? '-' : *p;
            fprintf(stderr, "modelgate %s: --%s: %s\n", f->gateway_cmd ? "gateway" : "serve", flag, err);
            return -1;
        }
    }
    if (cfg->nroots == 0 && config_set(cfg, "roots", ".", err, sizeof err) != 0)
        return -1;
    if (f->gateway_cmd && !cfg->gateway && config_set(cfg, "gateway", "127.0.0.1:8080", err, sizeof err) != 0)
        return -1;
    return 0;
}

/* Splits "ADDR:PORT" or "[V6]:PORT" into addr (copied to `host`) and port. */
static int parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    const char *h = s, *hend = colon;
    if (*s == '[') {
        if (colon[-1] != ']')
            return -1;
        h = s + 1;
        hend = colon - 1;
    }
    size_t n = (size_t)(hend - h);
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (n == 0 || n >= hostlen || end == colon + 1 || *end || p > 65535)
        return -1;
    memcpy(host, h, n);
    host[n] = 0;
    *port = (uint16_t)p;
    return 0;
}

/* Resolves every root once at start: a root that does not exist is a
 * mistake the operator should hear about now, not at the first scan. */
int serve_resolve_roots(const serve_config *cfg, char **out)
{
    for (size_t i = 0; i < cfg->nroots; i++) {
        out[i] = realpath(cfg->roots[i], NULL);
        if (!out[i]) {
            fprintf(stderr, "modelgate %s: root %s: %s\n", cmd_name(), cfg->roots[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int first_start_token(mg_store *st, const serve_config *cfg)
{
    long n = 0;
    char tok[STORE_TOKEN_LEN + 1];
    if (store_token_count(st, &n) != STORE_OK)
        return -1;
    if (n > 0) {
        /* a URL is not repeated here: it may hold a password */
        printf("modelgate: the store holds %ld token%s (the admin token was shown on first start; make another "
               "with `modelgate token create --role admin %s%s`)\n",
               n, n == 1 ? "" : "s", config_store_is_server(cfg) ? "--store " : "--data ",
               config_store_is_server(cfg) ? "URL" : config_store(cfg));
        return 0;
    }
    if (store_token_create(st, ROLE_ADMIN, tok) != STORE_OK)
        return -1;
    printf("modelgate: created an admin token (shown once; create more with `modelgate token create`):\n"
           "admin token: %s\n",
           tok);
    return 0;
}

static const char *set_or_null(const char *s)
{
    return s && *s ? s : NULL;
}

/* The remote sources' settings. S3 follows the AWS conventions
 * (src_s3_config_from_env fills what is still NULL): an AWS_* variable beats
 * the config file's s3_region / s3_endpoint, which beat ~/.aws/config. */
int serve_source_config(const serve_config *cfg, src_config *src)
{
    memset(src, 0, sizeof *src);
    src->hub_endpoint = cfg->hub_endpoint;
    src->hub_token = set_or_null(cfg->hub_token);
    if (!getenv("AWS_ENDPOINT_URL_S3") && !getenv("AWS_ENDPOINT_URL"))
        src->s3_endpoint = set_or_null(cfg->s3_endpoint);
    if (!getenv("AWS_REGION") && !getenv("AWS_DEFAULT_REGION"))
        src->s3_region = set_or_null(cfg->s3_region);
    src->timeout_s = 30;
    src->max_files = 100000;
    char err[300] = "";
    if (src_s3_config_from_env(src, err, sizeof err) != SRC_OK) {
        fprintf(stderr, "modelgate %s: AWS settings: %s\n", cmd_name(), err[0] ? err : "out of memory");
        return -1;
    }
    return 0;
}

/* Starts the gateway when one is configured; *g stays NULL otherwise. */
static int start_gateway(const serve_config *cfg, srv_ctx *ctx, gw **g)
{
    char host[64], err[300] = "";
    *g = NULL;
    if (!cfg->gateway)
        return 0;
    gw_config gc = {.addr = host,
                    .data_dir = cfg->data,
                    .blob_cache_size = cfg->blob_cache_size,
                    .revision_ttl = cfg->revision_ttl,
                    .fail_open = cfg->fail_open};
    if (parse_listen(cfg->gateway, host, sizeof host, &gc.port) != 0) {
        fprintf(stderr, "modelgate: the gateway's listen address wants ADDR:PORT, not '%s'\n", cfg->gateway);
        return -1;
    }
    if (gw_start(g, &gc, ctx, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate: gateway: %s\n", err);
        return -1;
    }
    printf("modelgate: gateway listening on http://%s (upstream %s, blob cache %llu MiB, revision ttl %u s%s)\n",
           cfg->gateway, cfg->hub_endpoint, (unsigned long long)(cfg->blob_cache_size >> 20), cfg->revision_ttl,
           cfg->fail_open ? ", FAIL-OPEN" : "");
    if (cfg->fail_open)
        fprintf(stderr, "modelgate: WARNING: --fail-open: repos whose scan fails are served unchecked\n");
    fflush(stdout);
    return 0;
}

/* A serve process's part of the work on a shared queue (--role). */
enum { PART_ALL, PART_API, PART_WORKER };

static int serve_part(const serve_config *cfg, int api)
{
    if (!api || !cfg->role)
        return PART_ALL; /* the gateway accepts and runs scans */
    return strcmp(cfg->role, "api") == 0 ? PART_API : strcmp(cfg->role, "worker") == 0 ? PART_WORKER : PART_ALL;
}

/* Serves until SIGINT or SIGTERM, then drains. `api`: the REST API too. */
static int serve(const serve_config *cfg, srv_ctx *ctx, int api, unsigned threads, const sigset_t *sigs)
{
    char host[64], err[256];
    srv_listen l = {.addr = host, .threads = threads};
    srv_http *h = NULL;
    gw *g = NULL;
    if (api && parse_listen(cfg->listen, host, sizeof host, &l.port) != 0) {
        fprintf(stderr, "modelgate %s: listen wants ADDR:PORT, not '%s'\n", cmd_name(), cfg->listen);
        return EXIT_ERROR;
    }
    if (api && http_start(&h, &l, ctx, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate %s: %s\n", cmd_name(), err);
        return EXIT_ERROR;
    }
    char pol[160];
    policies_describe(ctx->policies, pol, sizeof pol);
    if (api)
        printf("modelgate: listening on http://%s (data %s, %zu root%s, %u workers, queue %u, %s)\n", cfg->listen,
               cfg->data, ctx->nroots, ctx->nroots == 1 ? "" : "s", serve_part(cfg, 1) == PART_API ? 0 : cfg->workers,
               cfg->queue, pol);
    else if (serve_part(cfg, 1) == PART_WORKER)
        printf("modelgate: worker: %u scan workers on the shared queue (%s)\n", cfg->workers, pol);
    fflush(stdout);
    int code = 0;
    if (start_gateway(cfg, ctx, &g) != 0) {
        code = EXIT_ERROR;
    } else {
        int sig = 0;
        sigwait(sigs, &sig);
        fprintf(stderr, "modelgate: signal %d, stopping%s\n", sig,
                api ? " (queued scans run after the next start)" : "");
    }
    http_quiesce(h);
    gw_quiesce(g);
    rescan_stop(ctx->rescan);
    ctx->rescan = NULL;
    watch_free(ctx->watch);
    ctx->watch = NULL;
    pool_stop(ctx->pool);
    http_stop(h);
    gw_stop(g);
    return code;
}

/* Starts the pool and re-queues what a previous process left unfinished.
 * The gateway alone (`api` 0) leaves that, re-evaluation and watching to
 * `serve`, which may run on the same store. */
static int start_pool(srv_ctx *ctx, const serve_config *cfg, int api)
{
    int part = serve_part(cfg, api);
    if (pool_new(&ctx->pool, ctx, part == PART_API ? 0 : cfg->workers, cfg->queue) != MG_OK) {
        fprintf(stderr, "modelgate %s: cannot start the scan workers\n", cmd_name());
        return -1;
    }
    if (!api || part == PART_WORKER)
        return 0;
    size_t requeued = 0, failed = 0;
    if (pool_recover(ctx->pool, &requeued, &failed) != STORE_OK) {
        fprintf(stderr, "modelgate %s: cannot read the unfinished scans from the store\n", cmd_name());
        return -1;
    }
    if (requeued || failed)
        printf("modelgate: %zu unfinished scan%s queued again, %zu stored as ERROR\n", requeued,
               requeued == 1 ? "" : "s", failed);
    if (rescan_start(&ctx->rescan, ctx) != MG_OK || watch_start(ctx->watch) != MG_OK) {
        fprintf(stderr, "modelgate %s: cannot start the re-evaluation or watch thread\n", cmd_name());
        return -1;
    }
    if (cfg->nwatch)
        printf("modelgate: watching %zu model%s, every %u s\n", cfg->nwatch, cfg->nwatch == 1 ? "" : "s",
               cfg->watch_interval);
    return 0;
}

static int run(const serve_config *cfg, char **roots, int api, unsigned threads, const sigset_t *sigs)
{
    char err[400];
    src_config src;
    if (serve_source_config(cfg, &src) != 0)
        return EXIT_ERROR;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the webhook and the sources use libcurl */
    srv_ctx ctx = {.roots = roots, .nroots = cfg->nroots, .src = &src, .webhook_url = set_or_null(cfg->webhook_url)};
    mg_engine *eng = NULL;
    int code = EXIT_ERROR;
    mg_options mo;
    mg_options_default(&mo);
    if (store_open(&ctx.store, config_store(cfg), err, sizeof err) != STORE_OK) {
        fprintf(stderr, "modelgate %s: store: %s\n", cmd_name(), err);
        goto out;
    }
    if (cfg->store && store_describe(ctx.store, err, sizeof err) == STORE_OK)
        printf("modelgate: store: %s\n", err);
    int part = serve_part(cfg, api);
    if (part != PART_ALL && !store_has_queue(ctx.store)) {
        fprintf(stderr, "modelgate %s: --role %s needs a PostgreSQL store (--store postgresql://...)\n", cmd_name(),
                cfg->role);
        goto out;
    }
    if (part == PART_WORKER && cfg->gateway) {
        fprintf(stderr, "modelgate %s: a worker serves no gateway (--role worker with --gateway)\n", cmd_name());
        goto out;
    }
    if ((api && part != PART_WORKER && first_start_token(ctx.store, cfg) != 0) ||
        mg_engine_new(&eng, &mo, err, sizeof err) != MG_OK || metrics_new(&ctx.metrics) != MG_OK ||
        ratelimit_new(&ctx.ratelimit, cfg->rate_limit, cfg->rate_burst) != MG_OK) {
        fprintf(stderr, "modelgate %s: cannot start (token store, engine or memory)\n", cmd_name());
        goto out;
    }
    ctx.engine = eng;
    if (policies_new(&ctx.policies, ctx.store, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate %s: policies: %s\n", cmd_name(), err);
        goto out;
    }
    /* a watched URI is checked before anything runs: a typo stops the start */
    if (api && part != PART_WORKER &&
        watch_new(&ctx.watch, &ctx, cfg->watch, cfg->nwatch, cfg->watch_interval, err, sizeof err) != 0) {
        fprintf(stderr, "modelgate %s: %s\n", cmd_name(), err);
        goto out;
    }
    if (start_pool(&ctx, cfg, api) == 0)
        code = serve(cfg, &ctx, api && part != PART_WORKER, threads, sigs);
out:
    rescan_stop(ctx.rescan);
    watch_free(ctx.watch);
    if (ctx.pool)
        pool_stop(ctx.pool);
    pool_free(ctx.pool);
    policies_free(ctx.policies);
    metrics_free(ctx.metrics);
    ratelimit_free(ctx.ratelimit);
    mg_engine_free(eng);
    store_close(ctx.store);
    return code;
}

static int serve_main(int argc, char **argv, int gateway)
{
    serve_flags f = {.gateway_cmd = gateway};
    gateway_cmd = gateway;
    int prc = parse_args(argc, argv, &f);
    if (prc != 0)
        return prc > 0 ? 0 : EXIT_ERROR;
    serve_config cfg;
    if (build_config(&f, &cfg) != 0) {
        config_free(&cfg);
        return EXIT_ERROR;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    char *roots[CONFIG_MAX_ROOTS] = {0};
    int code = serve_resolve_roots(&cfg, roots) == 0 ? run(&cfg, roots, !gateway, f.threads, &sigs) : EXIT_ERROR;
    for (size_t i = 0; i < cfg.nroots; i++)
        free(roots[i]);
    config_free(&cfg);
    return code;
}

int cmd_serve(int argc, char **argv)
{
    return serve_main(argc, argv, 0);
}

int cmd_gateway(int argc, char **argv)
{
    return serve_main(argc, argv, 1);
}
