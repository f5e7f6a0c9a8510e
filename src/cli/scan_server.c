/*
 * scan_server.c - `modelgate scan --server URL`: each PATH|URI becomes one
 * scan in a modelgate service (docs/rest.md). POST /api/v1/scans?wait=true
 * answers with the report; a 202, or a report still PENDING, is polled with
 * GET /api/v1/scans/{uuid}; a 429 is retried after its Retry-After, a few
 * times. The service's JSON report is the contract: --format json prints it
 * byte for byte, text is a short outcome-first summary of it, and SARIF is
 * built from it. Exit codes are those of a local scan.
 *
 * The service is trusted to judge, not to answer well: bodies are capped,
 * retries and waiting are bounded, a scan uuid is checked before it goes into
 * a URL, and strings from an answer are escaped before they reach a terminal.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "scan_server.h"

enum {
    SS_MAX_BODY = 64 << 20, /* the report of a folder of thousands of files stays far below */
    SS_MAX_URL = 2048,
    SS_RETRIES = 5,      /* 429 answers retried per request */
    SS_RETRY_MAX_S = 60, /* the longest Retry-After honoured */
    SS_WAIT_S = 600,     /* the longest wait for one scan */
    SS_POLL_S = 30,      /* timeout of one poll */
    SS_CONNECT_S = 10,
};

typedef struct reply {
    long status;
    char *body; /* NUL-terminated */
    size_t len, cap;
    long retry_after; /* seconds, -1 when the answer had none */
    int overflow;
} reply;

typedef struct session {
    const server_scan *ss;
    char base[SS_MAX_URL];
    struct curl_slist *headers;
    double deadline; /* monotonic seconds: the current scan is given up then */
} session;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Strings from the service go to a person: control bytes are escaped so an
 * answer cannot rewrite the terminal; `max` bounds a runaway message. */
static void put_safe(FILE *out, const char *s, size_t max)
{
    size_t i = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, i++) {
        if (i == max) {
            fputs("...", out);
            return;
        }
        if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int is_uuid(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !s[i] || !strchr(hex, s[i]))
            return 0;
    }
    return s[36] == 0;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    size_t len = size * n; /* libcurl passes size 1 */
    if (len > SS_MAX_BODY - r->len) {
        r->overflow = 1;
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + len + 1)
            cap *= 2; /* bounded: len + r->len <= SS_MAX_BODY */
        char *b = realloc(r->body, cap);
        if (!b)
            return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = 0;
    return len;
}

static void reply_free(reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Retry-After is delta-seconds or an HTTP date (RFC 9110 10.2.3); clamped so
 * a server cannot park the client. */
static long retry_after(CURL *c)
{
    struct curl_header *h;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h->value)
        return -1;
    const char *v = h->value;
    long s;
    if (*v >= '0' && *v <= '9') {
        char *end;
        errno = 0;
        s = strtol(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end)
            return -1;
        if (errno == ERANGE)
            s = SS_RETRY_MAX_S;
    } else {
        time_t t = curl_getdate(v, NULL);
        if (t < 0)
            return -1;
        s = (long)(t - time(NULL));
    }
    return s < 0 ? 0 : s > SS_RETRY_MAX_S ? SS_RETRY_MAX_S : s;
}

/* One exchange (a POST when body is set, else a GET). 0 when an answer came,
 * whatever its status; -1 with err set when none did. */
static int request(const session *s, const char *url, const char *body, reply *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    double left = s->deadline - now_s();
    long timeout = body ? (long)left + 1 : (left < SS_POLL_S ? (long)left + 1 : SS_POLL_S);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "could not start an HTTP client");
        return -1;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* the token goes nowhere else */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout > 0 ? timeout : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)SS_CONNECT_S);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->retry_after = retry_after(c);
    curl_easy_cleanup(c);
    if (r->overflow || cc != CURLE_OK) {
        if (r->overflow)
            snprintf(err, errlen, "%s answered more than %d MiB", s->base, SS_MAX_BODY >> 20);
        else
            snprintf(err, errlen, "cannot reach %s: %s", s->base, cerr[0] ? cerr : curl_easy_strerror(cc));
        reply_free(r);
        return -1;
    }
    return 0;
}

/* request(), with a 429 retried after its Retry-After (1 s when it has none)
 * at most SS_RETRIES times and never past the scan's deadline. */
static int call(const session *s, const char *url, const char *body, reply *r, char *err, size_t errlen)
{
    for (int tries = 0;; tries++) {
        if (request(s, url, body, r, err, errlen) != 0)
            return -1;
        double wait = r->retry_after >= 0 ? (double)r->retry_after : 1.0;
        if (r->status != 429 || tries == SS_RETRIES || now_s() + wait > s->deadline)
            return 0;
        reply_free(r);
        sleep_s(wait);
    }
}

/* ---- one scan ---- */

static void say(const char *uri, const char *msg, const char *detail)
{
    fputs("modelgate: ", stderr);
    put_safe(stderr, uri, 300);
    fputs(": ", stderr);
    fputs(msg, stderr);
    if (detail)
        put_safe(stderr, detail, 3000);
    fputc('\n', stderr);
}

static void say_status(const char *uri, const reply *r)
{
    json_t *doc = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "error"));
    fputs("modelgate: ", stderr);
    put_safe(stderr, uri, 300);
    fprintf(stderr, ": the service answered %ld%s", r->status, msg ? ": " : "");
    if (msg)
        put_safe(stderr, msg, 500);
    fputc('\n', stderr);
    json_decref(doc);
}

static char *request_body(const char *uri, const char *license)
{
    json_t *req = json_pack("{s:s}", "model_uri", uri);
    if (req && license)
        json_object_set_new(req, "license", json_string(license));
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return body;
}

/* Runs one scan to its end: the parsed report, its text in *raw; or NULL
 * with the problem printed. */
static json_t *scan_one(session *s, const char *uri, char **raw)
{
    *raw = NULL;
    s->deadline = now_s() + SS_WAIT_S;
    char *body = request_body(uri, s->ss->license);
    if (!body) {
        say(uri, "out of memory", NULL);
        return NULL;
    }
    char url[SS_MAX_URL + 64], err[SS_MAX_URL + CURL_ERROR_SIZE + 64];
    snprintf(url, sizeof url, "%s/api/v1/scans?wait=true", s->base);
    const char *post = body;
    double interval = 0.5;
    json_t *doc = NULL;
    reply r;
    for (;;) {
        if (call(s, url, post, &r, err, sizeof err) != 0) {
            say(uri, "", err);
            break;
        }
        if (r.status != 200 && r.status != 202) {
            say_status(uri, &r);
            break;
        }
        doc = r.body ? json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        const char *outcome = json_string_value(json_object_get(doc, "eval_outcome"));
        const char *id = json_string_value(json_object_get(doc, "uuid"));
        if (json_is_object(doc) && outcome && strcmp(outcome, "PENDING") != 0) {
            *raw = r.body;
            r.body = NULL;
            break;
        }
        int have_id = id && is_uuid(id);
        if (have_id)
            snprintf(url, sizeof url, "%s/api/v1/scans/%s", s->base, id); /* id: 36 checked characters */
        json_decref(doc);
        doc = NULL;
        if (!have_id) {
            say(uri, "the service answered with neither a report nor a scan uuid", NULL);
            break;
        }
        if (now_s() + interval > s->deadline) {
            snprintf(err, sizeof err, "gave up after %d s waiting for %s", SS_WAIT_S, url);
            say(uri, "", err);
            break;
        }
        post = NULL;
        reply_free(&r);
        sleep_s(interval);
        interval = interval * 2 > 2 ? 2 : interval * 2;
    }
    reply_free(&r);
    free(body);
    return doc;
}

/* ---- output ---- */

static int write_raw(FILE *out, const char *raw)
{
    size_t n = strlen(raw);
    fputs(raw, out);
    if (!n || raw[n - 1] != '\n')
        fputc('\n', out);
    return 0;
}

static size_t finding_count(const json_t *rep)
{
    const json_t *files = json_object_get(rep, "files");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(files); i++)
        n += json_array_size(json_object_get(json_array_get(files, i), "findings"));
    return n;
}

/* One violated policy: the files and threats behind it, or its sentences
 * when no file is (a license, a blocked organization). */
static void write_violation(FILE *out, const json_t *v)
{
    fputs("\nVIOLATION ", out);
    put_safe(out, str(v, "severity"), 20);
    fputs(": ", out);
    put_safe(out, str(v, "policy_name"), 200);
    fputc('\n', out);
    const json_t *by_file = json_object_get(v, "issues_by_file"), *issues = json_object_get(v, "compliance_issues");
    size_t named = 0;
    for (size_t i = 0; i < json_array_size(by_file); i++) {
        const json_t *it = json_array_get(by_file, i);
        if (!*str(it, "file"))
            continue; /* a model-wide issue (license) has an entry with no file */
        named++;
        fputs("  - ", out);
        put_safe(out, str(it, "file"), 4096);
        if (*str(it, "threat")) {
            fputs("  ", out);
            put_safe(out, str(it, "threat"), 40);
        }
        fputc('\n', out);
    }
    if (named)
        return;
    for (size_t i = 0; i < json_array_size(issues); i++) {
        const char *sentence = json_string_value(json_array_get(issues, i));
        fputs("  - ", out);
        put_safe(out, sentence ? sentence : "", 1000);
        fputc('\n', out);
    }
}

static int write_summary(FILE *out, const json_t *rep, int color, int quiet)
{
    const char *outcome = str(rep, "eval_outcome");
    size_t nfiles = json_array_size(json_object_get(rep, "files")), nfind = finding_count(rep);
    if (color)
        fputs(strcmp(outcome, "ALLOWED") == 0 ? "\033[1;32m" : "\033[1;31m", out);
    put_safe(out, outcome, 20);
    fputs(color ? "\033[0m  " : "  ", out);
    put_safe(out, str(rep, "model_uri"), 4096);
    fprintf(out, "  (%zu file%s, %zu finding%s, threshold ", nfiles, nfiles == 1 ? "" : "s", nfind,
            nfind == 1 ? "" : "s");
    put_safe(out, str(rep, "global_threshold_snapshot"), 20);
    fputs(", rules ", out);
    put_safe(out, str(rep, "rules_version"), 80);
    fputs(", scan ", out);
    put_safe(out, str(rep, "uuid"), 40);
    fputs(")\n", out);
    if (quiet)
        return 0;
    const json_t *violations = json_object_get(rep, "policy_violations"), *files = json_object_get(rep, "files");
    for (size_t i = 0; i < json_array_size(violations); i++)
        write_violation(out, json_array_get(violations, i));
    for (size_t i = 0; i < json_array_size(files); i++) {
        const json_t *it = json_array_get(files, i);
        if (strcmp(str(it, "status"), "ERROR") != 0)
            continue;
        fputs("\nerror: ", out);
        put_safe(out, str(it, "path"), 4096);
        fputs(": ", out);
        put_safe(out, str(it, "error"), 1000);
        fputc('\n', out);
    }
    return 0;
}

static const char *sarif_level(const char *sev)
{
    return strcmp(sev, "CRITICAL") == 0 || strcmp(sev, "HIGH") == 0 ? "error"
           : strcmp(sev, "MEDIUM") == 0                             ? "warning"
                                                                    : "note";
}

static json_t *sarif_rule(const char *threat, const char *sev)
{
    const mg_threat *t = mg_threat_find(threat); /* this build's catalog; the service may know newer ids */
    char help[256];
    snprintf(help, sizeof help, "https://github.com/modelgate/modelgate/blob/main/docs/threats/%.64s.md", threat);
    return json_pack("{s:s, s:{s:s}, s:{s:s}, s:s, s:{s:s}, s:{s:s}}", "id", threat, "shortDescription", "text",
                     t ? t->title : threat, "fullDescription", "text", t ? t->title : threat, "helpUri", help, "help",
                     "text", t ? t->policy : "", "defaultConfiguration", "level", sarif_level(sev));
}

static json_t *sarif_result(const json_t *fd, const char *path, json_int_t rule)
{
    const char *member = str(fd, "location");
    json_int_t off = json_integer_value(json_object_get(fd, "offset"));
    json_t *loc = json_pack("{s:{s:{s:s}, s:{s:I}}}", "physicalLocation", "artifactLocation", "uri", path, "region",
                            "byteOffset", (json_int_t)(*member || off < 0 ? 0 : off));
    if (loc && *member)
        json_object_set_new(loc, "logicalLocations", json_pack("[{s:s, s:s}]", "name", member, "kind", "member"));
    const char *sev = str(fd, "severity");
    return json_pack("{s:s, s:I, s:s, s:{s:s}, s:[o], s:{s:s, s:s, s:I}}", "ruleId", str(fd, "threat"), "ruleIndex",
                     rule, "level", sarif_level(sev), "message", "text", str(fd, "message"), "locations", loc,
                     "properties", "severity", sev, "member", member, "memberOffset", off);
}

/* One SARIF run per report, shaped like a local scan's. */
static json_t *sarif_run(const json_t *rep)
{
    json_t *rules = json_array(), *results = json_array(), *index = json_object(), *pv = json_array();
    const json_t *files = json_object_get(rep, "files"), *violations = json_object_get(rep, "policy_violations");
    for (size_t i = 0; i < json_array_size(files); i++) {
        const json_t *f = json_array_get(files, i), *findings = json_object_get(f, "findings");
        for (size_t k = 0; k < json_array_size(findings); k++) {
            const json_t *fd = json_array_get(findings, k);
            const char *threat = str(fd, "threat");
            if (!*threat)
                continue;
            json_t *idx = json_object_get(index, threat);
            if (!idx) {
                idx = json_integer((json_int_t)json_array_size(rules));
                json_object_set_new(index, threat, idx);
                json_array_append_new(rules, sarif_rule(threat, str(fd, "severity")));
            }
            json_array_append_new(results, sarif_result(fd, str(f, "path"), json_integer_value(idx)));
        }
    }
    for (size_t i = 0; i < json_array_size(violations); i++)
        json_array_append_new(pv, json_string(str(json_array_get(violations, i), "policy_name")));
    json_decref(index);
    const char *version = *str(rep, "scanner_version") ? str(rep, "scanner_version") : MG_VERSION;
    return json_pack("{s:{s:{s:s, s:s, s:s, s:o}}, s:o, s:{s:s, s:s, s:o, s:s, s:s, s:s}}", "tool", "driver", "name",
                     "modelgate", "version", version, "informationUri", "https://github.com/modelgate/modelgate",
                     "rules", rules, "results", results, "properties", "eval_outcome", str(rep, "eval_outcome"),
                     "rules_version", str(rep, "rules_version"), "policy_violations", pv, "policy_digest",
                     str(rep, "policy_digest"), "uuid", str(rep, "uuid"), "model_uri", str(rep, "model_uri"));
}

static int write_sarif_log(FILE *out, json_t *runs)
{
    json_t *root = json_pack("{s:s, s:s, s:O}", "$schema", "https://json.schemastore.org/sarif-2.1.0.json", "version",
                             "2.1.0", "runs", runs);
    if (!root)
        return -1;
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

/* ---- the command ---- */

static int set_base(session *s, const char *url)
{
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    int scheme = strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
    for (size_t i = 0; scheme && i < n; i++)
        scheme = (unsigned char)url[i] > 0x20 && url[i] != 0x7f;
    if (!scheme || n >= sizeof s->base) {
        fprintf(stderr, "modelgate scan: --server wants an http:// or https:// URL (without spaces, under %d bytes)\n",
                SS_MAX_URL);
        return -1;
    }
    memcpy(s->base, url, n);
    s->base[n] = 0;
    return 0;
}

/* The token goes into a header: it must not be able to add one. */
static int set_headers(session *s, const char *token)
{
    char auth[600];
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    s->headers = s->headers ? curl_slist_append(s->headers, "Accept: application/json") : NULL;
    if (!s->headers)
        return -1;
    if (!token || !*token)
        return 0;
    for (const char *p = token; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || p - token > 512) {
            fprintf(stderr, "modelgate scan: the token is not a modelgate token (mg_...)\n");
            return -1;
        }
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *l = curl_slist_append(s->headers, auth);
    if (!l)
        return -1;
    s->headers = l;
    return 0;
}

/* Prints one report; returns its exit code. */
static int emit(const server_scan *ss, FILE *out, int color, json_t *runs, const json_t *rep, const char *raw)
{
    const char *outcome = str(rep, "eval_outcome");
    int code = strcmp(outcome, "ALLOWED") == 0   ? EXIT_ALLOWED
               : strcmp(outcome, "BLOCKED") == 0 ? EXIT_BLOCKED
                                                 : EXIT_ERROR;
    int rc = 0;
    if (ss->fmt == FMT_JSON)
        rc = write_raw(out, raw);
    else if (ss->fmt == FMT_TEXT)
        rc = write_summary(out, rep, color, ss->quiet);
    else
        rc = json_array_append_new(runs, sarif_run(rep));
    return rc ? EXIT_ERROR : code;
}

int scan_server(const server_scan *ss, char **uris, int n)
{
    session s = {.ss = ss};
    if (set_base(&s, ss->url) != 0)
        return EXIT_ERROR;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "modelgate: could not start an HTTP client\n");
        return EXIT_ERROR;
    }
    int code = EXIT_ERROR;
    FILE *out = stdout;
    json_t *runs = json_array();
    if (set_headers(&s, ss->token) != 0 || !runs)
        goto out;
    if (ss->output && !(out = fopen(ss->output, "w"))) {
        perror(ss->output);
        out = stdout;
        goto out;
    }
    int color = !ss->output && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    code = EXIT_ALLOWED;
    for (int i = 0; i < n; i++) {
        char *raw = NULL;
        json_t *rep = scan_one(&s, uris[i], &raw);
        int c = rep ? emit(ss, out, color, runs, rep, raw) : EXIT_ERROR;
        code = c > code ? c : code;
        json_decref(rep);
        free(raw);
    }
    /* SARIF wants at least one run: a log with none would be invalid */
    if (ss->fmt == FMT_SARIF && json_array_size(runs) && write_sarif_log(out, runs) != 0)
        code = EXIT_ERROR;
    if (fflush(out) != 0)
        code = EXIT_ERROR;
out:
    if (out != stdout && fclose(out) != 0)
        code = EXIT_ERROR;
    json_decref(runs);
    curl_slist_free_all(s.headers);
    curl_global_cleanup();
    return code;
}
