/*
 * cmd_scan.c - `modelgate scan PATH...`: scan files and folders, judge the
 * result against the policy (built-in defaults or --policy FILE), print the
 * report (text, JSON or SARIF) and exit 0 (allowed), 1 (blocked) or 2 (error).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/baseline.h"
#include "cli.h"
#include "scan_source.h"
#include "scan_server.h"

void help_scan(FILE *out)
{
    fprintf(out, "usage: modelgate scan [options] PATH...\n"
                 "       modelgate scan [options] URI\n"
                 "       modelgate scan --server URL [--token T] [options] PATH|URI...\n"
                 "\n"
                 "Scans model files and folders (recursively). Formats are detected by content,\n"
                 "never by file name. Nothing in the files is executed or deserialized. The result\n"
                 "is judged against the policy (docs/policies.md).\n"
                 "\n"
                 "A URI names a remote model, read by byte ranges (only what a verdict needs):\n"
                 "  s3://BUCKET/PREFIX/     AWS_* variables, ~/.aws/credentials (docs/sources.md)\n"
                 "  hf://NS/NAME[@REV]      a model on the hub at MODELGATE_HUB_ENDPOINT or\n"
                 "                          HF_ENDPOINT (default https://huggingface.co), token\n"
                 "                          from MODELGATE_HUB_TOKEN or HF_TOKEN; hf://NAME for a\n"
                 "                          legacy one-segment id (gpt2)\n"
                 "  hf://datasets/NS/NAME[@REV], hf://spaces/NS/NAME[@REV]: a dataset, a space\n"
                 "  https://HUB/[datasets/|spaces/]NS/NAME[/tree/REV]: the same, as the hub's\n"
                 "                          web pages write them\n"
                 "\n"
                 "options:\n"
                 "  -f, --format FMT     text (default on a terminal), json (default otherwise), sarif\n"
                 "  -o, --output FILE    write the report to FILE instead of standard output\n"
                 "  -g, --show-globals   list every pickle import with its verdict\n"
                 "  -q, --quiet          print only the outcome (text format)\n"
                 "  -p, --policy FILE    judge with this policy file instead of the defaults\n"
                 "      --license ID     the model's license when its files name none (e.g. apache-2.0)\n"
                 "      --baseline FILE  the JSON report of the last ALLOWED scan of this model: files\n"
                 "                       changed since violate \"Model Is Unchanged Since Approval\"\n"
                 "  -j, --threads N      files scanned in parallel (default: number of cores)\n"
                 "      --no-hash        skip the sha256 of each file (faster on huge files)\n"
                 "      --max-memory MB  analysis memory per file (default 48)\n"
                 "      --max-time S     time limit per file in seconds (default 60)\n"
                 "      --max-depth N    container nesting limit (default 8)\n"
                 "      --rules FILE     judge pickle imports with FILE instead of the built-in rules\n"
                 "                       (same syntax as src/lib/rules/pickle.rules)\n"
                 "      --server URL     have the modelgate service at URL scan each PATH|URI, judged by\n"
                 "                       its own policy and limits (one scan each; paths are sent as\n"
                 "                       given and resolved by the service under its --root folders)\n"
                 "      --token T        the service's bearer token (default: $MODELGATE_TOKEN)\n"
                 "\n"
                 "exit status: 0 allowed, 1 blocked, 2 error (usage, I/O, could not scan)\n");
}

/* --baseline: the JSON report of the model's last ALLOWED scan. */
static int load_baseline(const char *path, baseline *b)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fprintf(stderr, "modelgate: baseline %s: line %d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    const char *outcome = json_string_value(json_object_get(root, "eval_outcome"));
    int rc = -1;
    if (!outcome || strcmp(outcome, "ALLOWED") != 0 || !json_is_array(json_object_get(root, "files")))
        fprintf(stderr, "modelgate: baseline %s is not the JSON report of an ALLOWED scan\n", path);
    else if ((rc = baseline_from_report(root, b)) != 0)
        fprintf(stderr, "modelgate: out of memory\n");
    json_decref(root);
    return rc;
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

typedef struct scan_args {
    mg_options mo;
    const char *format, *output, *rules_path, *policy_path, *license, *baseline_path;
    const char *server, *token;
    int show_globals, quiet;
} scan_args;

/* 0 parsed, 1 help printed, -1 usage error (printed). */
static int parse_args(int argc, char **argv, scan_args *a)
{
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'},
        {"show-globals", no_argument, 0, 'g'},
        {"quiet", no_argument, 0, 'q'},
        {"threads", required_argument, 0, 'j'},
        {"no-hash", no_argument, 0, 'H'},
        {"max-memory", required_argument, 0, 'M'},
        {"max-time", required_argument, 0, 'T'},
        {"max-depth", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},
        {"rules", required_argument, 0, 'R'},
        {"policy", required_argument, 0, 'p'},
        {"license", required_argument, 0, 'L'},
        {"baseline", required_argument, 0, 'B'},
        {"server", required_argument, 0, 'S'},
        {"token", required_argument, 0, 'K'},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    mg_options_default(&a->mo);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->mo.threads = cores > 0 && cores < 64 ? (unsigned)cores : 1;
    unsigned long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:gqj:hp:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            a->format = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'g':
            a->show_globals = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'H':
            a->mo.hash_files = 0;
            break;
        case 'R':
            a->rules_path = optarg;
            break;
        case 'p':
            a->policy_path = optarg;
            break;
        case 'L':
            a->license = optarg;
            break;
        case 'B':
            a->baseline_path = optarg;
            break;
        case 'S':
            a->server = optarg;
            break;
        case 'K':
            a->token = optarg;
            break;
        case 'j':
            if (parse_u64(optarg, &v) || v < 1 || v > 64)
                goto bad_value;
            a->mo.threads = (unsigned)v;
            break;
        case 'M':
            if (parse_u64(optarg, &v) || v < 1 || v > 65536)
                goto bad_value;
            a->mo.limits.max_memory = v << 20;
            break;
        case 'T':
            if (parse_u64(optarg, &v) || v < 1 || v > 86400)
                goto bad_value;
            a->mo.limits.max_time_ms = (uint32_t)(v * 1000);
            break;
        case 'D':
            if (parse_u64(optarg, &v) || v > 64)
                goto bad_value;
            a->mo.limits.max_depth = (uint32_t)v;
            break;
        case 'h':
            help_scan(stdout);
            return 1;
        default:
            help_scan(stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "modelgate scan: no PATH given\n\n");
        help_scan(stderr);
        return -1;
    }
    return 0;
bad_value:
    fprintf(stderr, "modelgate scan: bad value '%s' for option\n", optarg);
    return -1;
}

static int pick_format(const scan_args *a, out_format *fmt)
{
    *fmt = isatty(a->output ? -1 : STDOUT_FILENO) ? FMT_TEXT : FMT_JSON;
    if (!a->format)
        return 0;
    if (strcmp(a->format, "text") == 0)
        *fmt = FMT_TEXT;
    else if (strcmp(a->format, "json") == 0)
        *fmt = FMT_JSON;
    else if (strcmp(a->format, "sarif") == 0)
        *fmt = FMT_SARIF;
    else {
        fprintf(stderr, "modelgate scan: unknown format '%s' (text, json, sarif)\n", a->format);
        return -1;
    }
    return 0;
}

static int write_report(const scan_args *a, out_format fmt, scan_view *view)
{
    FILE *out = stdout;
    if (a->output && !(out = fopen(a->output, "w"))) {
        perror(a->output);
        return -1;
    }
    view->color = !a->output && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    int rc = fmt == FMT_JSON    ? write_json(out, view)
             : fmt == FMT_SARIF ? write_sarif(out, view)
                                : write_text(out, view);
    if (fflush(out) != 0)
        rc = -1;
    if (out != stdout && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Scans, judges and prints; returns the exit code. */
static int run(const scan_args *a, out_format fmt, char **paths, int npaths, const mg_policy *policy,
               const baseline *base)
{
    mg_engine *eng;
    char err[256];
    int rc = mg_engine_new(&eng, &a->mo, err, sizeof err);
    if (rc != MG_OK) {
        fprintf(stderr, "modelgate: cannot start the engine: %s\n", rc == MG_ERULES ? err : "out of memory");
        return EXIT_ERROR;
    }
    scan_view view;
    memset(&view, 0, sizeof view);
    uuid_v4(view.uuid);
    rfc3339_now(view.created_at, sizeof view.created_at);
    mg_report *rep = NULL;
    mg_evaluation *ev = NULL;
    int code = EXIT_ERROR;
    scan_source_result src = {0};
    if (npaths == 1 && src_is_remote(paths[0])) {
        rc = scan_source(&rep, eng, paths[0], &src);
    } else {
        rc = mg_report_new(&rep, eng);
        for (int i = 0; rc == MG_OK && i < npaths; i++)
            rc = src_is_remote(paths[i]) ? MG_EINVAL : mg_scan_path_into(rep, eng, paths[i]);
        if (rc == MG_EINVAL)
            fprintf(stderr, "modelgate scan: a remote model (s3://, hf://, https://) must be the only argument\n");
    }
    if (rc != MG_OK) {
        if (rc != MG_EINVAL) /* a bad URI was already explained */
            fprintf(stderr, "modelgate: scan failed (error %d)\n", rc);
        goto out;
    }
    rfc3339_now(view.updated_at, sizeof view.updated_at);
    mg_model_info info = {
        .model_uri = paths[0],
        .license = a->license,
        .uuid = view.uuid,
        .created_at = view.created_at,
        .updated_at = view.updated_at,
        .nbaseline = base->n,
        .baseline_paths = (const char *const *)base->paths,
        .baseline_sha256 = (const char *const *)base->sha256,
        .revision = src.revision,
        .hub_endpoint = src.hub_endpoint,
    };
    if (mg_evaluate(&ev, rep, policy, &info) != MG_OK) {
        fprintf(stderr, "modelgate: out of memory\n");
        goto out;
    }
    view.report = rep;
    view.ev = ev;
    view.policy = policy;
    view.engine = eng;
    view.info = &info;
    view.model_uri = paths[0];
    view.rules_version = mg_engine_rules_version(eng);
    view.show_globals = a->show_globals;
    view.quiet = a->quiet;
    view.outcome = mg_evaluation_outcome(ev);
    code = strcmp(view.outcome, "ALLOWED") == 0   ? EXIT_ALLOWED
           : strcmp(view.outcome, "BLOCKED") == 0 ? EXIT_BLOCKED
                                                  : EXIT_ERROR;
    if (write_report(a, fmt, &view) != 0)
        code = EXIT_ERROR;
out:
    mg_evaluation_free(ev);
    mg_report_free(rep);
    mg_engine_free(eng);
    scan_source_result_free(&src);
    return code;
}

/* --server: the service scans and judges with its own policy and rules, so
 * the options that would change the verdict here are refused, not ignored. */
static int scan_remote(const scan_args *a, out_format fmt, char **uris, int n)
{
    if (a->policy_path || a->rules_path || a->baseline_path || a->show_globals) {
        fprintf(stderr, "modelgate scan: --policy, --rules, --baseline and --show-globals do not apply to --server "
                        "(the service judges with its own policy)\n");
        return EXIT_ERROR;
    }
    server_scan ss = {
        .url = a->server,
        .token = a->token ? a->token : getenv("MODELGATE_TOKEN"),
        .license = a->license,
        .output = a->output,
        .fmt = fmt,
        .quiet = a->quiet,
    };
    return scan_server(&ss, uris, n);
}

int cmd_scan(int argc, char **argv)
{
    scan_args a;
    int prc = parse_args(argc, argv, &a);
    if (prc != 0)
        return prc > 0 ? 0 : EXIT_ERROR;
    out_format fmt;
    if (pick_format(&a, &fmt) != 0)
        return EXIT_ERROR;
    if (a.server)
        return scan_remote(&a, fmt, argv + optind, argc - optind);
    if (a.token) {
        fprintf(stderr, "modelgate scan: --token needs --server\n");
        return EXIT_ERROR;
    }
    a.mo.record_globals = a.show_globals;
    if (isatty(STDERR_FILENO))
        a.mo.progress = progress;
    char *rules_text = NULL;
    if (a.rules_path) {
        size_t len;
        rules_text = read_file(a.rules_path, 4u << 20, &len);
        if (!rules_text) {
            fprintf(stderr, "modelgate: cannot read rules %s: %s\n", a.rules_path, strerror(errno));
            return EXIT_ERROR;
        }
        a.mo.rules_text = rules_text;
        a.mo.rules_len = len;
    }
    mg_policy *policy = load_policy(a.policy_path);
    baseline base = {0};
    int code = EXIT_ERROR;
    if (policy && (!a.baseline_path || load_baseline(a.baseline_path, &base) == 0))
        code = run(&a, fmt, argv + optind, argc - optind, policy, &base);
    free(rules_text);
    mg_policy_free(policy);
    baseline_free(&base);
    return code;
}
