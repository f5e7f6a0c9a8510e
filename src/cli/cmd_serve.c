/*
 * cmd_serve.c - `modelgate serve`: the scanner service. Opens the store
 * (migrating it), creates an admin token on first start, builds one engine
 * and the policy shared by every worker, serves HTTP until SIGINT/SIGTERM,
 * then stops cleanly (requests in flight finish; the store is closed).
 *
 * Signals are blocked before any thread starts so the HTTP workers inherit
 * the mask and only the main thread, in sigwait, ever sees them.
 */
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

enum { SERVE_MAX_ROOTS = 64 };

void help_serve(FILE *out)
{
    fprintf(out, "usage: modelgate serve [--listen ADDR:PORT] [--data DIR] [--root DIR]...\n"
                 "\n"
                 "Runs the scanner service (REST API: docs/rest.md). On first start, with no token in\n"
                 "the store, it creates an admin token and prints it once.\n"
                 "\n"
                 "options:\n"
                 "  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; IPv6 as [::1]:8080)\n"
                 "  -d, --data DIR          the store: DIR/modelgate.db (default ./var)\n"
                 "  -r, --root DIR          local models may be scanned only under DIR (repeatable;\n"
                 "                          default: the working directory)\n"
                 "  -j, --threads N         HTTP worker threads (default: number of cores, at least 2)\n");
}

typedef struct serve_args {
    const char *listen, *data;
    const char *roots[SERVE_MAX_ROOTS];
    size_t nroots;
    unsigned threads;
} serve_args;

static int serve_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "modelgate serve: %s%s\n\n", msg, arg ? arg : "");
    help_serve(stderr);
    return -1;
}

/* 0 parsed, 1 help printed, -1 usage error (printed). */
static int parse_args(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"data", required_argument, 0, 'd'},
        {"root", required_argument, 0, 'r'},   {"threads", required_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    a->listen = "127.0.0.1:8080";
    a->data = "./var";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cores > 2 && cores < 64 ? (unsigned)cores : 2;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:d:r:j:h", opts, NULL)) != -1) {
        char *end;
        unsigned long v;
        switch (c) {
        case 'l':
            a->listen = optarg;
            break;
        case 'd':
            a->data = optarg;
            break;
        case 'r':
            if (a->nroots == SERVE_MAX_ROOTS)
                return serve_usage("too many --root options", NULL);
            a->roots[a->nroots++] = optarg;
            break;
        case 'j':
            v = strtoul(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > 256)
                return serve_usage("bad value for --threads: ", optarg);
            a->threads = (unsigned)v;
            break;
        case 'h':
            help_serve(stdout);
            return 1;
        default:
            help_serve(stderr);
            return -1;
        }
    }
    if (optind < argc)
        return serve_usage("unexpected argument: ", argv[optind]);
    if (a->nroots == 0)
        a->roots[a->nroots++] = ".";
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
static int resolve_roots(const serve_args *a, char **out)
{
    for (size_t i = 0; i < a->nroots; i++) {
        out[i] = realpath(a->roots[i], NULL);
        if (!out[i]) {
            fprintf(stderr, "modelgate serve: --root %s: %s\n", a->roots[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int first_start_token(mg_store *st)
{
    long n = 0;
    char tok[STORE_TOKEN_LEN + 1];
    if (store_token_count(st, &n) != STORE_OK)
        return -1;
    if (n > 0)
        return 0;
    if (store_token_create(st, ROLE_ADMIN, tok) != STORE_OK)
        return -1;
    printf("modelgate: created an admin token (shown once; create more with `modelgate token create`):\n"
           "admin token: %s\n",
           tok);
    return 0;
}

/* Serves until SIGINT or SIGTERM. */
static int serve(const serve_args *a, srv_ctx *ctx, const sigset_t *sigs)
{
    char host[64], err[256];
    srv_listen l = {.addr = host, .threads = a->threads};
    if (parse_listen(a->listen, host, sizeof host, &l.port) != 0) {
        fprintf(stderr, "modelgate serve: --listen wants ADDR:PORT, not '%s'\n", a->listen);
        return EXIT_ERROR;
    }
    srv_http *h;
    if (http_start(&h, &l, ctx, err, sizeof err) != MG_OK) {
        fprintf(stderr, "modelgate serve: %s\n", err);
        return EXIT_ERROR;
    }
    printf("modelgate: listening on http://%s (data %s, %zu root%s)\n", a->listen, a->data, ctx->nroots,
           ctx->nroots == 1 ? "" : "s");
    fflush(stdout);
    int sig = 0;
    sigwait(sigs, &sig);
    fprintf(stderr, "modelgate: signal %d, stopping\n", sig);
    http_stop(h);
    return 0;
}

static int run(const serve_args *a, char **roots, const sigset_t *sigs)
{
    char err[300];
    mg_store *st = NULL;
    mg_engine *eng = NULL;
    mg_policy *policy = NULL;
    int code = EXIT_ERROR;
    if (store_open(&st, a->data, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "modelgate serve: store: %s\n", err);
        goto out;
    }
    if (first_start_token(st) != 0) {
        fprintf(stderr, "modelgate serve: cannot create the first admin token\n");
        goto out;
    }
    mg_options mo;
    mg_options_default(&mo);
    if (mg_engine_new(&eng, &mo, err, sizeof err) != MG_OK || !(policy = load_policy(NULL))) {
        fprintf(stderr, "modelgate serve: cannot start the engine\n");
        goto out;
    }
    srv_ctx ctx = {.store = st, .engine = eng, .policy = policy, .roots = roots, .nroots = a->nroots};
    code = serve(a, &ctx, sigs);
out:
    mg_policy_free(policy);
    mg_engine_free(eng);
    store_close(st);
    return code;
}

int cmd_serve(int argc, char **argv)
{
    serve_args a;
    int prc = parse_args(argc, argv, &a);
    if (prc != 0)
        return prc > 0 ? 0 : EXIT_ERROR;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    char *roots[SERVE_MAX_ROOTS] = {0};
    int code = resolve_roots(&a, roots) == 0 ? run(&a, roots, &sigs) : EXIT_ERROR;
    for (size_t i = 0; i < a.nroots; i++)
        free(roots[i]);
    return code;
}
