/*
 * cmd_rescan.c - `modelgate rescan`: the service's re-evaluation, offline.
 * Every stored model whose newest scan was judged with other rules or
 * another policy than those in force now (the newest stored policy set, as
 * the service would load it) is scanned again and stored; each changed
 * verdict is printed on stdout, logged, and POSTed to the webhook.
 *
 * It reads the service's configuration (file and MODELGATE_* variables) so
 * it sees the same roots, sources and webhook, and may run beside a running
 * service: the store serialises writers.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "../store/store.h"
#include "cli.h"
#include "config.h"
#include "serve_setup.h"

void help_rescan(FILE *out)
{
    fprintf(out, "usage: modelgate rescan [--data DIR] [--store URL] [--config FILE]\n"
                 "\n"
                 "Scans again every stored model whose newest scan was judged with other rules or\n"
                 "another policy than those in force, stores the new scans, and prints one line per\n"
                 "model whose verdict changed: MODEL_URI OLD -> NEW. The service does the same by\n"
                 "itself at start and after every PUT /api/v1/policies.\n"
                 "\n"
                 "options:\n"
                 "  -d, --data DIR     the store (default: as `modelgate serve`: config, MODELGATE_DATA, ./var)\n"
                 "      --store URL    the PostgreSQL store (default: as `modelgate serve`: config,\n"
                 "                     MODELGATE_STORE, else the data directory)\n"
                 "  -c, --config FILE  the service's YAML config file (roots, sources, webhook_url)\n"
                 "\n"
                 "exit status: 0 done (whatever the verdicts), 2 error\n");
}

/* defaults < config file < environment < --data, --store */
static int rescan_config(const char *file, const char *data, const char *location, serve_config *cfg)
{
    char err[400];
    if (config_defaults(cfg) != 0) {
        fprintf(stderr, "modelgate rescan: out of memory\n");
        return -1;
    }
    if (!file)
        file = getenv("MODELGATE_CONFIG");
    if ((file && *file && config_load_file(cfg, file, err, sizeof err) != 0) ||
        config_load_env(cfg, err, sizeof err) != 0 || (data && config_set(cfg, "data", data, err, sizeof err) != 0) ||
        (location && config_set(cfg, "store", location, err, sizeof err) != 0) ||
        (cfg->nroots == 0 && config_set(cfg, "roots", ".", err, sizeof err) != 0)) {
        fprintf(stderr, "modelgate rescan: %s\n", err);
        return -1;
    }
    return 0;
}

static void print_changed(void *arg, const srv_job *job)
{
    const char *uri, *prev, *cur;
    rescan_describe(job, &uri, &prev, &cur);
    printf("%s %s -> %s\n", uri, prev, cur);
    (*(size_t *)arg)++;
}

static int rescan_run(const serve_config *cfg, char **roots)
{
    char err[400];
    src_config src;
    if (serve_source_config(cfg, &src) != 0)
        return EXIT_ERROR;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv_ctx ctx = {.roots = roots, .nroots = cfg->nroots, .src = &src};
    ctx.webhook_url = cfg->webhook_url && *cfg->webhook_url ? cfg->webhook_url : NULL;
    mg_engine *eng = NULL;
    mg_options mo;
    mg_options_default(&mo);
    int code = EXIT_ERROR;
    size_t scanned = 0, changed = 0;
    if (store_open(&ctx.store, config_store(cfg), err, sizeof err) != STORE_OK) {
        fprintf(stderr, "modelgate rescan: store: %s\n", err);
    } else if (mg_engine_new(&eng, &mo, err, sizeof err) != MG_OK || metrics_new(&ctx.metrics) != MG_OK) {
        fprintf(stderr, "modelgate rescan: cannot start the engine\n");
    } else if ((ctx.engine = eng, policies_new(&ctx.policies, ctx.store, err, sizeof err)) != MG_OK) {
        fprintf(stderr, "modelgate rescan: policies: %s\n", err);
    } else if (rescan_offline(&ctx, print_changed, &changed, &scanned) != STORE_OK) {
        fprintf(stderr, "modelgate rescan: cannot read or write the store\n");
    } else {
        fprintf(stderr, "modelgate rescan: %zu model%s re-evaluated, %zu verdict%s changed\n", scanned,
                scanned == 1 ? "" : "s", changed, changed == 1 ? "" : "s");
        code = 0;
    }
    policies_free(ctx.policies);
    metrics_free(ctx.metrics);
    mg_engine_free(eng);
    store_close(ctx.store);
    curl_global_cleanup();
    return code;
}

int cmd_rescan(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},
        {"store", required_argument, 0, 'S'},
        {"config", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *data = NULL, *file = NULL, *location = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:c:h", opts, NULL)) != -1) {
        if (c == 'h') {
            help_rescan(stdout);
            return 0;
        }
        if (c != 'd' && c != 'c' && c != 'S') {
            help_rescan(stderr);
            return EXIT_ERROR;
        }
        *(c == 'd' ? &data : c == 'S' ? &location : &file) = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "modelgate rescan: unexpected argument: %s\n\n", argv[optind]);
        help_rescan(stderr);
        return EXIT_ERROR;
    }
    serve_config cfg;
    char *roots[CONFIG_MAX_ROOTS] = {0};
    int code = rescan_config(file, data, location, &cfg) == 0 && serve_resolve_roots(&cfg, roots) == 0
                   ? rescan_run(&cfg, roots)
                   : EXIT_ERROR;
    for (size_t i = 0; i < cfg.nroots; i++)
        free(roots[i]);
    config_free(&cfg);
    return code;
}
