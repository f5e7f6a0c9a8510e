/*
 * cmd_scan.c - `modelgate scan PATH...`: scan files and folders, print a
 * report (text, JSON or SARIF) and exit 0 (allowed), 1 (blocked) or 2 (error).
 * Until policies exist, the outcome is BLOCKED when any finding is HIGH or
 * above, ERROR when a file could not be read, ALLOWED otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void help_scan(FILE *out)
{
    fprintf(out, "usage: modelgate scan [options] PATH...\n"
                 "\n"
                 "Scans model files and folders (recursively). Formats are detected by content,\n"
                 "never by file name. Nothing in the files is executed or deserialized.\n"
                 "\n"
                 "options:\n"
                 "  -f, --format FMT     text (default on a terminal), json (default otherwise), sarif\n"
                 "  -o, --output FILE    write the report to FILE instead of standard output\n"
                 "  -g, --show-globals   list every pickle import with its verdict\n"
                 "  -q, --quiet          print only the outcome (text format)\n"
                 "  -j, --threads N      files scanned in parallel (default: number of cores)\n"
                 "      --no-hash        skip the sha256 of each file (faster on huge files)\n"
                 "      --max-memory MB  analysis memory per file (default 48)\n"
                 "      --max-time S     time limit per file in seconds (default 60)\n"
                 "      --max-depth N    container nesting limit (default 8)\n"
                 "      --rules FILE     judge pickle imports with FILE instead of the built-in rules\n"
                 "                       (same syntax as src/lib/rules/pickle.rules)\n"
                 "\n"
                 "exit status: 0 allowed, 1 blocked, 2 error (usage, I/O, could not scan)\n");
}

static atomic_llong last_progress;

static void progress(void *ctx, size_t done, size_t total, const char *path)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long prev = atomic_load(&last_progress);
    if (done != total && now - prev < 200)
        return;
    if (!atomic_compare_exchange_strong(&last_progress, &prev, now))
        return;
    fprintf(stderr, "\r\033[Kscanning %zu/%zu %.60s", done, total, path);
    if (done == total)
        fprintf(stderr, "\r\033[K");
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'},     {"output", required_argument, 0, 'o'},
        {"show-globals", no_argument, 0, 'g'},     {"quiet", no_argument, 0, 'q'},
        {"threads", required_argument, 0, 'j'},    {"no-hash", no_argument, 0, 'H'},
        {"max-memory", required_argument, 0, 'M'}, {"max-time", required_argument, 0, 'T'},
        {"max-depth", required_argument, 0, 'D'},  {"help", no_argument, 0, 'h'},
        {"rules", required_argument, 0, 'R'},      {0, 0, 0, 0},
    };
    mg_options mo;
    mg_options_default(&mo);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mo.threads = cores > 0 && cores < 64 ? (unsigned)cores : 1;
    const char *format = NULL, *output = NULL, *rules_path = NULL;
    char *rules_text = NULL;
    int show_globals = 0, quiet = 0, c;
    unsigned long long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:gqj:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'g':
            show_globals = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'H':
            mo.hash_files = 0;
            break;
        case 'j':
            if (parse_u64(optarg, &v) || v < 1 || v > 64)
                goto bad_value;
            mo.threads = (unsigned)v;
            break;
        case 'M':
            if (parse_u64(optarg, &v) || v < 1 || v > 65536)
                goto bad_value;
            mo.limits.max_memory = v << 20;
            break;
        case 'T':
            if (parse_u64(optarg, &v) || v < 1 || v > 86400)
                goto bad_value;
            mo.limits.max_time_ms = (uint32_t)(v * 1000);
            break;
        case 'D':
            if (parse_u64(optarg, &v) || v > 64)
                goto bad_value;
            mo.limits.max_depth = (uint32_t)v;
            break;
        case 'R':
            rules_path = optarg;
            break;
        case 'h':
            help_scan(stdout);
            return 0;
        default:
            help_scan(stderr);
            return EXIT_ERROR;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "modelgate scan: no PATH given\n\n");
        help_scan(stderr);
        return EXIT_ERROR;
    }
    out_format fmt = isatty(output ? -1 : STDOUT_FILENO) ? FMT_TEXT : FMT_JSON;
    if (format) {
        if (strcmp(format, "text") == 0)
            fmt = FMT_TEXT;
        else if (strcmp(format, "json") == 0)
            fmt = FMT_JSON;
        else if (strcmp(format, "sarif") == 0)
            fmt = FMT_SARIF;
        else {
            fprintf(stderr, "modelgate scan: unknown format '%s' (text, json, sarif)\n", format);
            return EXIT_ERROR;
        }
    }
    mo.record_globals = show_globals;
    if (rules_path) {
        FILE *rf = fopen(rules_path, "r");
        size_t cap = 1 << 20, len = 0;
        rules_text = malloc(cap);
        if (!rf || !rules_text) {
            perror(rules_path);
            if (rf)
                fclose(rf);
            free(rules_text);
            return EXIT_ERROR;
        }
        len = fread(rules_text, 1, cap, rf);
        fclose(rf);
        mo.rules_text = rules_text;
        mo.rules_len = len;
    }
    if (isatty(STDERR_FILENO)) {
        mo.progress = progress;
    }
    mg_engine *eng;
    char err[256];
    int rc = mg_engine_new(&eng, &mo, err, sizeof err);
    free(rules_text);
    if (rc != MG_OK) {
        fprintf(stderr, "modelgate: cannot start the engine: %s\n", rc == MG_ERULES ? err : "out of memory");
        return EXIT_ERROR;
    }
    scan_view view;
    memset(&view, 0, sizeof view);
    uuid_v4(view.uuid);
    rfc3339_now(view.created_at, sizeof view.created_at);
    mg_report *rep;
    rc = mg_report_new(&rep, eng);
    for (int i = optind; rc == MG_OK && i < argc; i++)
        rc = mg_scan_path_into(rep, eng, argv[i]);
    if (rc != MG_OK) {
        fprintf(stderr, "modelgate: scan failed (error %d)\n", rc);
        mg_report_free(rep);
        mg_engine_free(eng);
        return EXIT_ERROR;
    }
    rfc3339_now(view.updated_at, sizeof view.updated_at);
    view.report = rep;
    view.model_uri = argv[optind];
    view.rules_version = mg_engine_rules_version(eng);
    view.show_globals = show_globals;
    view.quiet = quiet;
    int code;
    if (mg_report_max_severity(rep) >= MG_SEV_HIGH) {
        view.outcome = "BLOCKED";
        code = EXIT_BLOCKED;
    } else if (mg_report_error_count(rep) || mg_report_file_count(rep) == 0) {
        view.outcome = "ERROR";
        code = EXIT_ERROR;
    } else {
        view.outcome = "ALLOWED";
        code = EXIT_ALLOWED;
    }
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        perror(output);
        code = EXIT_ERROR;
        out = NULL;
    }
    if (out) {
        view.color = !output && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
        int wrc = fmt == FMT_JSON    ? write_json(out, &view)
                  : fmt == FMT_SARIF ? write_sarif(out, &view)
                                     : write_text(out, &view);
        if (wrc != 0 || fflush(out) != 0)
            code = EXIT_ERROR;
        if (out != stdout && fclose(out) != 0)
            code = EXIT_ERROR;
    }
    mg_report_free(rep);
    mg_engine_free(eng);
    return code;
bad_value:
    fprintf(stderr, "modelgate scan: bad value '%s' for option\n", optarg);
    return EXIT_ERROR;
}
