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

#include "../server/server.h"
#include "../store/store.h"
#include "cli.h"
#include "config.h"
#include "serve_setup.h"

void help_serve(FILE *out)
{
    fprintf(out, "usage: modelgate serve [--listen ADDR:PORT] [--data DIR] [--root DIR]... [--config FILE]\n"
                 "                       [--workers N] [--queue N] [--threads N]\n"
                 "                       [--watch URI]... [--watch-interval S]\n"
                 "\n"
                 "Runs the scanner service (REST API: docs/rest.md). On first start, with no token in\n"
                 "the store, it creates an admin token and prints it once.\n"
                 "\n"
                 "options (each overrides MODELGATE_* variables, which override the config file):\n"
                 "  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; IPv6 as [::1]:8080)\n"
                 "  -d, --data DIR          the store: DIR/modelgate.db (default ./var)\n"
                 "  -r, --root DIR          local models may be scanned only under DIR (repeatable;\n"
                 "                          default: the working directory)\n"
                 "  -c, --config FILE       YAML config file (default: $MODELGATE_CONFIG, else none);\n"
                 "                          keys: listen, data, roots, workers, queue, hub_endpoint,\n"
                 "                          hub_token, s3_endpoint, s3_region, webhook_url, watch,\n"
                 "                          watch_interval\n"
                 "  -w, --workers N         scans run in parallel (default: number of cores)\n"
                 "  -q, --queue N           scans waiting beyond those; a full queue answers 429 (default 64)\n"
                 "  -j, --threads N         HTTP worker threads (default: number of cores, at least 2)\n"
                 "  -W, --watch URI         scan this model (a folder under a root, or s3://BUCKET/PREFIX/)\n"
                 "                          again whenever its files change: size, mtime, ctime or ETag\n"
                 "                          (repeatable; checked at start like a scan's model_uri)\n"
                 "  -i, --watch-interval S  seconds between two looks at the watched models (default 60)\n"
                 "\n"
                 "environment: MODELGATE_LISTEN, MODELGATE_DATA, MODELGATE_ROOTS (colon-separated),\n"
                 "MODELGATE_WORKERS, MODELGATE_QUEUE, MODELGATE_HUB_ENDPOINT, MODELGATE_HUB_TOKEN,\n"
                 "MODELGATE_WATCH (separated by blanks), MODELGATE_WATCH_INTERVAL, MODELGATE_CONFIG.\n");
}

/* The flags as given, applied last. */
typedef struct serve_flags {
    const char *config;
    /* in order; roots and watch repeat */
    const char *keys[CONFIG_MAX_ROOTS + CONFIG_MAX_WATCH + 8], *values[CONFIG_MAX_ROOTS + CONFIG_MAX_WATCH + 8];
    size_t n;
    int roots_given, watch_given;
    unsigned threads;
} serve_flags;

static int serve_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "modelgate serve: %s%s\n\n", msg, arg ? arg : "");
    help_serve(stderr);
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
        {"root", required_argument, 0, 'r'},
        {"config", required_argument, 0, 'c'},
        {"workers", required_argument, 0, 'w'},
        {"queue", required_argument, 0, 'q'},
        {"threads", required_argument, 0, 'j'},
        {"watch", required_argument, 0, 'W'},
        {"watch-interval", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(f, 0, sizeof *f);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    f->threads = cores > 2 && cores < 64 ? (unsigned)cores : 2;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "l:d:r:c:w:q:j:W:i:h", opts, NULL)) != -1) {
        if (c == 'h') {
            help_serve(stdout);
            return 1;
        }
        const char *key = c == 'l'   ? "listen"
                          : c == 'd' ? "data"
                          : c == 'r' ? "roots"
                          : c == 'w' ? "workers"
                          : c == 'q' ? "queue"
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
            help_serve(stderr);
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
        fprintf(stderr, "modelgate serve: out of memory\n");
        return -1;
    }
    const char *file = f->config ? f->config : getenv("MODELGATE_CONFIG");
    if ((file && *file && config_load_file(cfg, file, err, sizeof err) != 0) ||
        config_load_env(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "modelgate serve: %s\n", err);
        return -1;
    }
    if (f->roots_given)
        config_clear_roots(cfg);
    if (f->watch_given)
        config_clear_watch(cfg);
    for (size_t i = 0; i < f->n; i++) {
        if (config_set(cfg, f->keys[i], f->values[i], err, sizeof err) != 0) {
            const char *k = f->keys[i];
            fprintf(stderr, "modelgate serve: --%s: %s\n",
                    strcmp(k, "roots") == 0            ? "root"
                    : strcmp(k, "watch_interval") == 0 ? "watch-interval"
                                                       : k,
                    err);
            return -1;
        }
    }
    if (cfg->nroots == 0 && config_set(cfg, "roots", ".", err, sizeof err) != 0)
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
            fprintf(stderr, "modelgate serve: root %s: %s\n", cfg->roots[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int first_start_token(mg_store *st, const char *data)
{
    long n = 0;
    char tok[STORE_TOKEN_LEN + 1];
    if (store_token_count(st, &n) != STORE_OK)
        return -1;
    if (n > 0) {
        printf("modelgate: the store holds %ld token%s (the admin token was shown on first start; make another "
               "with `modelgate token create --role admin --data %s`)\n",
               n, n == 1 ? "" : "s", data);
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
        fprintf(stderr, "modelgate serve: AWS settings: %s\n", err[0] ? err : "out of memory");
        return -1;
    }
    return 0;
}

/* Serves until SIGINT or SIGTERM, then drains. */
static int serve(const serve_config *cfg, srv_ctx *ctx, unsigned threads, const sigset_t *sigs)
{
    char host[64], err[256];
    srv_listen l = {.addr = host, .threads = threads};
    if (parse_listen(cfg->listen, host, sizeof host, &l.port) != 0) {
        fprintf(stderr, "modelgate serve: listen wants ADDR:PORT, not '%s'\n", cfg->listen);
        return EXIT_ERROR;
    }
    srv_http *h;
    if (http_start(&h, &l, ctx, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate serve: %s\n", err);
        return EXIT_ERROR;
    }
    char pol[160];
    policies_describe(ctx->policies, pol, sizeof pol);
    printf("modelgate: listening on http://%s (data %s, %zu root%s, %u workers, queue %u, %s)\n", cfg->listen,
           cfg->data, ctx->nroots, ctx->nroots == 1 ? "" : "s", cfg->workers, cfg->queue, pol);
    fflush(stdout);
    int sig = 0;
    sigwait(sigs, &sig);
    fprintf(stderr, "modelgate: signal %d, stopping (queued scans run after the next start)\n", sig);
    http_quiesce(h);
    rescan_stop(ctx->rescan);
    ctx->rescan = NULL;
    watch_free(ctx->watch);
    ctx->watch = NULL;
    pool_stop(ctx->pool);
    http_stop(h);
    return 0;
}

/* Starts the pool and re-queues what a previous process left unfinished. */
static int start_pool(srv_ctx *ctx, const serve_config *cfg)
{
    if (pool_new(&ctx->pool, ctx, cfg->workers, cfg->queue) != MG_OK) {
        fprintf(stderr, "modelgate serve: cannot start the scan workers\n");
        return -1;
    }
    size_t requeued = 0, failed = 0;
    if (pool_recover(ctx->pool, &requeued, &failed) != STORE_OK) {
        fprintf(stderr, "modelgate serve: cannot read the unfinished scans from the store\n");
        return -1;
    }
    if (requeued || failed)
        printf("modelgate: %zu unfinished scan%s queued again, %zu stored as ERROR\n", requeued,
               requeued == 1 ? "" : "s", failed);
    if (rescan_start(&ctx->rescan, ctx) != MG_OK || watch_start(ctx->watch) != MG_OK) {
        fprintf(stderr, "modelgate serve: cannot start the re-evaluation or watch thread\n");
        return -1;
    }
    if (cfg->nwatch)
        printf("modelgate: watching %zu model%s, every %u s\n", cfg->nwatch, cfg->nwatch == 1 ? "" : "s",
               cfg->watch_interval);
    return 0;
}

static int run(const serve_config *cfg, char **roots, unsigned threads, const sigset_t *sigs)
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
    if (store_open(&ctx.store, cfg->data, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "modelgate serve: store: %s\n", err);
        goto out;
    }
    if (first_start_token(ctx.store, cfg->data) != 0 || mg_engine_new(&eng, &mo, err, sizeof err) != MG_OK ||
        metrics_new(&ctx.metrics) != MG_OK) {
        fprintf(stderr, "modelgate serve: cannot start (token store, engine or memory)\n");
        goto out;
    }
    ctx.engine = eng;
    if (policies_new(&ctx.policies, ctx.store, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate serve: policies: %s\n", err);
        goto out;
    }
    /* a watched URI is checked before anything runs: a typo stops the start */
    if (watch_new(&ctx.watch, &ctx, cfg->watch, cfg->nwatch, cfg->watch_interval, err, sizeof err) != 0) {
        fprintf(stderr, "modelgate serve: %s\n", err);
        goto out;
    }
    if (start_pool(&ctx, cfg) == 0)
        code = serve(cfg, &ctx, threads, sigs);
out:
    rescan_stop(ctx.rescan);
    watch_free(ctx.watch);
    if (ctx.pool)
        pool_stop(ctx.pool);
    pool_free(ctx.pool);
    policies_free(ctx.policies);
    metrics_free(ctx.metrics);
    mg_engine_free(eng);
    store_close(ctx.store);
    return code;
}

int cmd_serve(int argc, char **argv)
{
    serve_flags f;
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
    int code = serve_resolve_roots(&cfg, roots) == 0 ? run(&cfg, roots, f.threads, &sigs) : EXIT_ERROR;
    for (size_t i = 0; i < cfg.nroots; i++)
        free(roots[i]);
    config_free(&cfg);
    return code;
}
