/*
 * evaluate.c - turns a scan report into a decision: the model's identity
 * (namespace, name, revision, stable uuids), its license, and every policy
 * violated, with compliance sentences a person understands and the files
 * and threats behind them. Outcome rule (report.md): BLOCKED iff an enabled,
 * BLOCKING policy is violated at a severity at or above the global
 * threshold; ERROR when a file could not be read; ALLOWED otherwise.
 */
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/banned.h"
#include "policy.h"

enum { MAX_ISSUES = 100 }; /* compliance sentences per violation */

typedef struct acc {
    mg_vec issues; /* const char * */
    mg_vec files;  /* mg_file_issue */
} acc;

struct mg_evaluation {
    mg_arena a;
    const char *outcome;
    mg_vec violations, warnings; /* mg_violation */
    const char *ns, *name, *revision, *license, *model_uuid, *version_uuid, *threshold, *canonical;
    int from_hub;
    unsigned enabled;
    acc acc[MG_NPOLICIES];
};

/* ---- identity ---- */

static void sha256_hex(const char *text, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_Digest(text, len, md, &n, EVP_sha256(), NULL))
        memset(md, 0, sizeof md);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A name-based UUID (version 5 layout over SHA-256) of `text`. */
static const char *uuid_of(mg_arena *a, const char *text)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL))
        return "";
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    return mg_arena_printf(a, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1],
                           md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13],
                           md[14], md[15]);
}

static const char *dup_range(mg_arena *a, const char *p, size_t n)
{
    return mg_arena_strndup(a, p, n);
}

/* The part after "ENDPOINT/" when `uri` starts with it. */
static const char *after_endpoint(const char *uri, const char *endpoint)
{
    size_t n = endpoint ? strlen(endpoint) : 0;
    while (n && endpoint[n - 1] == '/')
        n--;
    return n && strncmp(uri, endpoint, n) == 0 && uri[n] == '/' ? uri + n + 1 : NULL;
}

/* hf://ns/name[@rev] and https://huggingface.co/ns/name[/tree|resolve/rev]
 * (or the same under a configured hub endpoint). Datasets and spaces carry
 * their type first (hf://datasets/ns/name), as the Hub's URLs do, and keep
 * it in the canonical identity so a dataset never shares a model's uuid. A
 * legacy one-segment id (hf://gpt2) has an empty namespace. */
static int parse_hub(mg_evaluation *ev, const char *uri, const char *hub_endpoint)
{
    const char *p = NULL;
    if (strncmp(uri, "hf://", 5) == 0)
        p = uri + 5;
    else if (strncmp(uri, "https://huggingface.co/", 23) == 0)
        p = uri + 23;
    else if (!(p = after_endpoint(uri, hub_endpoint)))
        return 0;
    const char *type = "";
    if (strncmp(p, "datasets/", 9) == 0 || strncmp(p, "spaces/", 7) == 0) {
        type = p[0] == 'd' ? "datasets/" : "spaces/";
        p += strlen(type);
    }
    /* the repo id is one segment only for NAME, NAME@REV and NAME/tree/REV
     * (src/sources/hub.c counts the same way): NS/tree is a model */
    size_t idlen = strcspn(p, "@"), nseg = 1;
    while (idlen && p[idlen - 1] == '/')
        idlen--;
    for (size_t i = 0; i < idlen; i++)
        nseg += p[i] == '/';
    size_t first = strcspn(p, "/@");
    if (first == 0)
        return 0;
    int one = nseg == 1 || (nseg == 3 && strncmp(p + first, "/tree/", 6) == 0);
    const char *nm = p;
    if (one) {
        ev->ns = "";
    } else {
        ev->ns = dup_range(&ev->a, p, first);
        nm = p + first + 1;
    }
    size_t nl = strcspn(nm, "/@");
    ev->name = dup_range(&ev->a, nm, nl);
    const char *rest = nm + nl;
    const char *rev = "main";
    size_t rl = 4;
    if (*rest == '@') {
        rev = rest + 1;
        rl = strcspn(rev, "/");
    } else if (strncmp(rest, "/tree/", 6) == 0 || strncmp(rest, "/resolve/", 9) == 0) {
        rev = strchr(rest + 1, '/') + 1;
        rl = strcspn(rev, "/");
    }
    ev->revision = dup_range(&ev->a, rev, rl);
    ev->from_hub = 1;
    ev->canonical = *ev->ns ? mg_arena_printf(&ev->a, "hf:%s%s/%s", type, ev->ns, ev->name)
                            : mg_arena_printf(&ev->a, "hf:%s%s", type, ev->name);
    return 1;
}

static const char *last_part(mg_arena *a, const char *path, const char **parent)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/')
        i--;
    size_t j = i > 0 ? i - 1 : 0, k = j;
    while (k > 0 && path[k - 1] != '/')
        k--;
    *parent = j > k ? dup_range(a, path + k, j - k) : "local";
    return dup_range(a, path + i, n - i);
}

/* A content digest over every file's path and sha256: the revision of a
 * model that has no commit (local folders, S3 prefixes). */
static const char *content_revision(mg_evaluation *ev, const mg_report *r)
{
    mg_buf b;
    mg_buf_init(&b, SIZE_MAX / 2);
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        mg_buf_addf(&b, "%s\t%s\n", f->path, f->sha256[0] ? f->sha256 : "-");
    }
    char hex[65];
    sha256_hex(mg_buf_cstr(&b), b.len, hex);
    mg_buf_free(&b);
    return dup_range(&ev->a, hex, 40);
}

static void identity(mg_evaluation *ev, const mg_report *r, const mg_model_info *info)
{
    const char *uri = info->model_uri;
    if (parse_hub(ev, uri, info->hub_endpoint)) {
        if (info->revision && *info->revision)
            ev->revision = dup_range(&ev->a, info->revision, strlen(info->revision));
        return;
    }
    if (strncmp(uri, "s3://", 5) == 0) {
        const char *b = uri + 5, *slash = strchr(b, '/');
        ev->ns = slash ? dup_range(&ev->a, b, (size_t)(slash - b)) : dup_range(&ev->a, b, strlen(b));
        const char *parent;
        ev->name = slash && slash[1] ? last_part(&ev->a, slash + 1, &parent) : ev->ns;
        ev->canonical = mg_arena_printf(&ev->a, "s3:%s", b);
    } else {
        const char *path = strncmp(uri, "file://", 7) == 0 ? uri + 7 : uri;
        char real[PATH_MAX];
        const char *abs = realpath(path, real) ? real : path;
        ev->name = last_part(&ev->a, abs, &ev->ns);
        ev->canonical = mg_arena_printf(&ev->a, "file:%s", abs);
    }
    ev->revision = content_revision(ev, r);
}

/* ---- license ---- */

/* SPDX-style ids: lowercase, spaces to dashes, and the spellings people use. */
static const char *norm_license(mg_arena *a, const char *in)
{
    static const struct {
        const char *from, *to;
    } alias[] = {
        {"apache-2", "apache-2.0"},
        {"apache", "apache-2.0"},
        {"apache-license-2.0", "apache-2.0"},
        {"apache2", "apache-2.0"},
        {"apache-2.0-license", "apache-2.0"},
        {"mit-license", "mit"},
        {"bsd-3", "bsd-3-clause"},
        {"bsd-2", "bsd-2-clause"},
        {"bsd", "bsd-3-clause"},
        {"cc0", "cc0-1.0"},
        {"cc-by-4", "cc-by-4.0"},
        {"the-unlicense", "unlicense"},
    };
    char buf[128] = {0};
    size_t n = 0;
    const char *p = in;
    while (*p == ' ')
        p++;
    for (; *p && n + 1 < sizeof buf; p++)
        buf[n++] = *p == ' ' || *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    while (n && buf[n - 1] == '-')
        n--;
    buf[n] = 0;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcmp(buf, alias[i].from) == 0)
            return alias[i].to;
    return mg_arena_strndup(a, buf, n);
}

typedef struct lic {
    const char *id;
    const char *file; /* "" when given by the caller */
} lic;

static size_t licenses(mg_evaluation *ev, const mg_report *r, const mg_model_info *info, lic *out, size_t max)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) /* model cards first: they are what the Hub shows */
        for (size_t i = 0; i < mg_report_file_count(r); i++) {
            const mg_file *f = mg_report_file(r, i);
            if ((strcmp(f->format, "markdown") == 0) != (pass == 0))
                continue;
            for (size_t k = 0; k < f->nfacts; k++) {
                if (strcmp(f->facts[k].key, "license") != 0)
                    continue;
                const char *id = norm_license(&ev->a, f->facts[k].value);
                int seen = 0;
                for (size_t j = 0; j < n; j++)
                    seen |= id && strcmp(out[j].id, id) == 0;
                if (id && !seen && n < max)
                    out[n++] = (lic){id, f->path};
            }
        }
    if (n == 0 && info->license && info->license[0] && max)
        out[n++] = (lic){norm_license(&ev->a, info->license), ""};
    return n;
}

/* ---- accumulating violations ---- */

static void add_issue(mg_evaluation *ev, int pi, const char *sentence, const char *file, const char *threat)
{
    acc *c = &ev->acc[pi];
    const char **iss = c->issues.items;
    int seen = 0;
    for (size_t i = 0; i < c->issues.n && !seen; i++)
        seen = strcmp(iss[i], sentence) == 0;
    if (!seen && c->issues.n < MAX_ISSUES) {
        const char **slot = mg_vec_push(&c->issues);
        if (slot)
            *slot = mg_arena_strndup(&ev->a, sentence, strlen(sentence));
    }
    /* a file's issues arrive together, so duplicates are at the tail: the
     * check stays linear in the number of files (file strings are borrowed
     * from the report, which outlives the evaluation) */
    mg_file_issue *fi = c->files.items;
    for (size_t i = c->files.n; i-- > 0 && fi[i].file == file;)
        if ((!threat && !fi[i].threat) || (threat && fi[i].threat && strcmp(fi[i].threat, threat) == 0))
            return;
    mg_file_issue *slot = mg_vec_push(&c->files);
    if (slot) {
        slot->file = file;
        slot->threat = threat;
    }
}

/* A sentence about one finding. Pickle imports get report.md's wording. */
static void sentence(char *buf, size_t n, const mg_file *f, const mg_finding *fd)
{
    const char *dot = strrchr(fd->op, '.');
    int pickle_import = strncmp(fd->threat, "MG-PKL-10", 9) == 0 && dot;
    if (pickle_import && strcmp(fd->threat, "MG-PKL-100") == 0)
        snprintf(buf, n, "The model will execute remote code since it contains operator `%s` from module `%.*s`.",
                 dot + 1, (int)(dot - fd->op), fd->op);
    else if (pickle_import && strcmp(fd->threat, "MG-PKL-101") == 0)
        snprintf(buf, n, "The model reaches Python internals through `%s` when it is loaded.", fd->op);
    else if (pickle_import)
        snprintf(buf, n, "The model imports `%s`, which no known framework needs, and may call it when loaded.",
                 fd->op);
    else if (fd->location[0])
        snprintf(buf, n, "`%s` (in %s): %s", f->path, fd->location, fd->message);
    else
        snprintf(buf, n, "`%s`: %s", f->path, fd->message);
}

static int in_scope(const mg_evaluation *ev, const mg_policy *p, int i)
{
    return p->p[i].scope == MG_SCOPE_ALL || ev->from_hub;
}

static void judge_threats(mg_evaluation *ev, const mg_report *r, const mg_policy *p)
{
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        for (size_t k = 0; k < f->nfindings; k++) {
            const mg_finding *fd = &f->findings[k];
            const mg_threat *t = mg_threat_find(fd->threat);
            int pi = t ? mg_policy_index_by_name(t->policy) : -1;
            if (pi < 0)
                pi = mg_policy_index_by_name("well-formed");
            char s[1400];
            sentence(s, sizeof s, f, fd);
            add_issue(ev, pi, s, f->path, t ? t->id : fd->threat);
        }
    }
}

static void judge_facts(mg_evaluation *ev, const mg_report *r, const mg_policy *p, const mg_model_info *info)
{
    char s[600];
    int pf = mg_policy_index_by_name("approved-format");
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        if (f->status != MG_FILE_SCANNED || mg_strlist_has(&p->approved_formats, f->format))
            continue;
        snprintf(s, sizeof s, "File `%s` is stored as `%s`, which is not an approved format.", f->path, f->format);
        add_issue(ev, pf, s, f->path, NULL);
    }
    lic l[16];
    size_t nl = licenses(ev, r, info, l, 16);
    ev->license = nl ? l[0].id : NULL;
    if (nl == 0) {
        add_issue(ev, mg_policy_index_by_name("license-exists"),
                  "The model declares no license (no model card metadata, no LICENSE file, none given).", "", NULL);
    }
    for (size_t i = 0; i < nl; i++)
        if (!mg_strlist_has(&p->approved_licenses, l[i].id)) {
            snprintf(s, sizeof s, "The model is licensed under `%s`, which is not an approved license.", l[i].id);
            add_issue(ev, mg_policy_index_by_name("license-valid"), s, l[i].file, NULL);
        }
    if (mg_strlist_has(&p->denied_orgs, ev->ns)) {
        snprintf(s, sizeof s, "The model comes from the blocked organization `%s`.", ev->ns);
        add_issue(ev, mg_policy_index_by_name("org-not-blocked"), s, "", NULL);
    }
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", ev->ns, *ev->ns ? "/" : "", ev->name); /* a legacy id is its name */
    if (mg_strlist_has(&p->denied_models, full)) {
        snprintf(s, sizeof s, "The model `%s` is blocked.", full);
        add_issue(ev, mg_policy_index_by_name("model-not-blocked"), s, "", NULL);
    }
    for (size_t i = 0; info->nbaseline && i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        const char *was = NULL;
        for (size_t k = 0; k < info->nbaseline && !was; k++)
            if (strcmp(info->baseline_paths[k], f->path) == 0)
                was = info->baseline_sha256[k];
        if (was && strcmp(was, f->sha256) == 0)
            continue;
        if (was)
            snprintf(s, sizeof s, "File `%s` changed since the model was approved (sha256 %.12s…, approved %.12s…).",
                     f->path, f->sha256, was);
        else
            snprintf(s, sizeof s, "File `%s` was added since the model was approved.", f->path);
        add_issue(ev, mg_policy_index_by_name("unchanged-since-approval"), s, f->path, NULL);
    }
}

static void emit(mg_evaluation *ev, const mg_policy *p)
{
    for (int i = 0; i < MG_NPOLICIES; i++) {
        acc *c = &ev->acc[i];
        if (p->p[i].state == MG_POLICY_DISABLED || !in_scope(ev, p, i) || (!c->issues.n && !c->files.n))
            continue;
        int blocking = p->p[i].state == MG_POLICY_BLOCKING && p->p[i].severity >= p->threshold;
        mg_violation *v = mg_vec_push(blocking ? &ev->violations : &ev->warnings);
        if (!v)
            continue;
        const mg_policy_def *d = &mg_policy_defs[i];
        v->policy_id = d->id;
        v->policy_name = d->name;
        v->severity = p->p[i].severity;
        v->blocking = blocking;
        v->description = d->description;
        v->steps = d->steps;
        for (v->nsteps = 0; d->steps[v->nsteps]; v->nsteps++)
            ;
        v->url = d->url;
        v->compliance_issues = c->issues.items;
        v->nissues = c->issues.n;
        v->issues_by_file = c->files.items;
        v->nby_file = c->files.n;
    }
}

int mg_evaluate(mg_evaluation **out, const mg_report *r, const mg_policy *p, const mg_model_info *info)
{
    if (!out || !r || !p || !info || !info->model_uri)
        return MG_EINVAL;
    mg_evaluation *ev = calloc(1, sizeof *ev);
    if (!ev)
        return MG_ENOMEM;
    mg_arena_init(&ev->a, NULL);
    mg_vec_init(&ev->violations, sizeof(mg_violation), NULL);
    mg_vec_init(&ev->warnings, sizeof(mg_violation), NULL);
    for (int i = 0; i < MG_NPOLICIES; i++) {
        mg_vec_init(&ev->acc[i].issues, sizeof(const char *), NULL);
        mg_vec_init(&ev->acc[i].files, sizeof(mg_file_issue), NULL);
        ev->enabled += p->p[i].state != MG_POLICY_DISABLED;
    }
    identity(ev, r, info);
    ev->model_uuid = uuid_of(&ev->a, mg_arena_printf(&ev->a, "model:%s", ev->canonical));
    ev->version_uuid = uuid_of(&ev->a, mg_arena_printf(&ev->a, "version:%s@%s", ev->canonical, ev->revision));
    ev->threshold = mg_severity_name(p->threshold);
    judge_threats(ev, r, p);
    judge_facts(ev, r, p, info);
    emit(ev, p);
    /* nothing could be read (an unreachable source, an empty folder): the
     * model was not judged, whatever policies its absence violates */
    if (mg_report_error_count(r) == mg_report_file_count(r))
        ev->outcome = "ERROR";
    else if (ev->violations.n)
        ev->outcome = "BLOCKED";
    else if (mg_report_error_count(r))
        ev->outcome = "ERROR";
    else
        ev->outcome = "ALLOWED";
    *out = ev;
    return MG_OK;
}

void mg_evaluation_free(mg_evaluation *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < MG_NPOLICIES; i++) {
        mg_vec_free(&ev->acc[i].issues);
        mg_vec_free(&ev->acc[i].files);
    }
    mg_vec_free(&ev->violations);
    mg_vec_free(&ev->warnings);
    mg_arena_free(&ev->a);
    free(ev);
}

const char *mg_evaluation_outcome(const mg_evaluation *ev)
{
    return ev->outcome;
}
size_t mg_evaluation_violation_count(const mg_evaluation *ev)
{
    return ev->violations.n;
}
size_t mg_evaluation_warning_count(const mg_evaluation *ev)
{
    return ev->warnings.n;
}

const mg_violation *mg_evaluation_violation(const mg_evaluation *ev, size_t i)
{
    return i < ev->violations.n ? &((mg_violation *)ev->violations.items)[i] : NULL;
}

const mg_violation *mg_evaluation_warning(const mg_evaluation *ev, size_t i)
{
    return i < ev->warnings.n ? &((mg_violation *)ev->warnings.items)[i] : NULL;
}

const char *mg_evaluation_field(const mg_evaluation *ev, const char *name)
{
    if (strcmp(name, "namespace") == 0)
        return ev->ns;
    if (strcmp(name, "model_name") == 0)
        return ev->name;
    if (strcmp(name, "revision") == 0)
        return ev->revision;
    if (strcmp(name, "license") == 0)
        return ev->license;
    if (strcmp(name, "model_uuid") == 0)
        return ev->model_uuid;
    if (strcmp(name, "model_version_uuid") == 0)
        return ev->version_uuid;
    if (strcmp(name, "global_threshold_snapshot") == 0)
        return ev->threshold;
    if (strcmp(name, "enabled_policy_count_snapshot") == 0)
        return mg_arena_printf((mg_arena *)&ev->a, "%u", ev->enabled);
    return NULL;
}

int mg_policy_denies(const mg_policy *p, const char *ns, const char *name, char *why, size_t n)
{
    char full[512];
    int has_ns = ns && *ns;
    snprintf(full, sizeof full, "%s%s%s", has_ns ? ns : "", has_ns ? "/" : "", name);
    int org = has_ns && mg_strlist_has(&p->denied_orgs, ns);
    int model = !org && mg_strlist_has(&p->denied_models, full);
    int pi = mg_policy_index_by_name(org ? "org-not-blocked" : "model-not-blocked");
    if ((!org && !model) || pi < 0 || p->p[pi].state != MG_POLICY_BLOCKING || p->p[pi].severity < p->threshold)
        return 0;
    if (org)
        snprintf(why, n, "%s: The model comes from the blocked organization `%s`.", mg_policy_name((size_t)pi), ns);
    else
        snprintf(why, n, "%s: The model `%s` is blocked.", mg_policy_name((size_t)pi), full);
    return 1;
}
