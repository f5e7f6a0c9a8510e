/*
 * route.c - what a gateway request asks for, from its raw path: the repo
 * type, the repo id, the revision and the file. Pure functions of hostile
 * text (fuzz/fuzz_gateway_route.c).
 *
 * The path arrives still percent-encoded (the gateway's daemon does not
 * decode it): Python clients send a revision `refs/pr/1` as one segment
 * `refs%2Fpr%2F1`, which a decoded path could not tell from a file path.
 * Repo names are checked against the Hub's own alphabet, so they go into
 * upstream URLs unencoded; revisions and file paths are decoded here and
 * encoded again for upstream (gw_pct).
 *
 * The API and file URLs share one path space (hub-and-s3.md §8): /api/...
 * first, then /datasets/ and /spaces/, everything else is a model. A repo
 * id is NS/NAME or a legacy one-segment NAME; which one is decided by where
 * the keyword (`revision`, `resolve`, ...) stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "../common/lex.h"
#include "gw.h"
#include "util/banned.h"

enum { MAX_SEGS = 512 };

typedef struct segs {
    const char *p[MAX_SEGS];
    size_t n[MAX_SEGS];
    size_t count;
} segs;

/* Splits "/a/b/c" into its segments; -1 when there are too many or the path
 * does not start with '/'. A trailing '/' makes an empty last segment. */
static int split(const char *path, segs *s)
{
    s->count = 0;
    if (path[0] != '/')
        return -1;
    const char *p = path + 1;
    for (;;) {
        if (s->count == MAX_SEGS)
            return -1;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        s->p[s->count] = p;
        s->n[s->count++] = n;
        if (!e)
            return 0;
        p = e + 1;
    }
}

static int seg_is(const segs *s, size_t i, const char *word)
{
    return i < s->count && s->n[i] == strlen(word) && memcmp(s->p[i], word, s->n[i]) == 0;
}

/* Decodes segments [from, count) joined by '/' into out; refuses bad
 * escapes, control bytes, an empty result and anything longer than max-1. */
static int decode_join(const segs *s, size_t from, char *out, size_t max)
{
    size_t o = 0;
    for (size_t i = from; i < s->count; i++) {
        if (i > from) {
            if (o + 1 >= max)
                return -1;
            out[o++] = '/';
        }
        const char *p = s->p[i];
        size_t n = s->n[i];
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)p[k];
            if (c == '%') {
                int hi = k + 2 < n ? lex_hexval(p[k + 1]) : -1;
                int lo = k + 2 < n ? lex_hexval(p[k + 2]) : -1;
                if (hi < 0 || lo < 0)
                    return -1;
                c = (unsigned char)(hi * 16 + lo);
                k += 2;
            }
            if (c < 0x20 || c == 0x7f || o + 1 >= max)
                return -1;
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    return o ? 0 : -1;
}

/* A file path inside a repo: no empty, "." or ".." segment, not absolute. */
static int file_ok(const char *f)
{
    for (const char *p = f;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

/* Takes the repo id starting at segment i: NS/NAME, or NAME alone when the
 * segment after it is one of the route keywords. Returns the index of the
 * first segment after the id, or 0 when the id is malformed. */
static int is_keyword(const segs *s, size_t i, const char *const *keywords)
{
    for (const char *const *k = keywords; *k; k++)
        if (seg_is(s, i, *k))
            return 1;
    return 0;
}

static size_t take_repo(const segs *s, size_t i, const char *const *keywords, gw_route *r)
{
    /* NS/NAME wins when both readings fit: a legacy id is the exception */
    int one = i + 1 >= s->count || (!is_keyword(s, i + 2, keywords) && is_keyword(s, i + 1, keywords));
    if (i >= s->count || !lex_hub_name_ok(s->p[i], s->n[i]))
        return 0;
    if (one) {
        snprintf(r->name, sizeof r->name, "%.*s", (int)s->n[i], s->p[i]);
        snprintf(r->repo, sizeof r->repo, "%s", r->name);
        return i + 1;
    }
    if (!lex_hub_name_ok(s->p[i + 1], s->n[i + 1]))
        return 0;
    snprintf(r->ns, sizeof r->ns, "%.*s", (int)s->n[i], s->p[i]);
    snprintf(r->name, sizeof r->name, "%.*s", (int)s->n[i + 1], s->p[i + 1]);
    snprintf(r->repo, sizeof r->repo, "%s/%s", r->ns, r->name);
    return i + 2;
}

/* The type segment; `models` only where a path names it (the API). */
static int type_of(const segs *s, size_t i, int models, gw_type *t)
{
    if (models && seg_is(s, i, "models"))
        *t = GW_MODEL;
    else if (seg_is(s, i, "datasets"))
        *t = GW_DATASET;
    else if (seg_is(s, i, "spaces"))
        *t = GW_SPACE;
    else
        return 0;
    return 1;
}

static void parse_api(const char *method, const segs *s, gw_route *r)
{
    static const char *const kw[] = {"revision", "tree", "paths-info", "xet-read-token", NULL};
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    size_t i;
    if (!type_of(s, 1, 1, &r->type) || !(i = take_repo(s, 2, kw, r)))
        return;
    if (i == s->count) { /* /api/{type}s/{repo}: the default branch */
        r->kind = get ? GW_INFO : GW_NONE;
        return;
    }
    if (seg_is(s, i, "xet-read-token")) {
        r->kind = GW_XET;
        return;
    }
    if (i + 1 >= s->count || decode_join(s, i + 1, r->rev, sizeof r->rev) != 0)
        return;
    if (seg_is(s, i, "revision") && get)
        r->kind = GW_INFO;
    else if (seg_is(s, i, "tree") && get)
        r->kind = GW_TREE; /* proxied as sent: rev may be followed by a folder */
    else if (seg_is(s, i, "paths-info") && strcmp(method, "POST") == 0)
        r->kind = GW_PATHS_INFO;
}

static void parse_file(const char *method, const segs *s, gw_route *r)
{
    static const char *const kw[] = {"resolve", "raw", NULL};
    size_t i = 0;
    if (type_of(s, 0, 0, &r->type))
        i = 1;
    if (!(i = take_repo(s, i, kw, r)) || i + 2 >= s->count)
        return;
    int resolve = seg_is(s, i, "resolve");
    if (!resolve && !seg_is(s, i, "raw"))
        return;
    segs one = {.count = 1};
    one.p[0] = s->p[i + 1];
    one.n[0] = s->n[i + 1];
    if (decode_join(&one, 0, r->rev, sizeof r->rev) != 0 || decode_join(s, i + 2, r->file, sizeof r->file) != 0 ||
        !file_ok(r->file))
        return;
    int head = strcmp(method, "HEAD") == 0;
    if (resolve && (head || strcmp(method, "GET") == 0))
        r->kind = GW_RESOLVE;
    else if (!resolve && (head || strcmp(method, "GET") == 0))
        r->kind = GW_RAW;
}

void gw_route_parse(const char *method, const char *path, gw_route *r)
{
    memset(r, 0, sizeof *r);
    segs *sp = malloc(sizeof *sp); /* 8 KiB: kept off the connection threads' stacks */
    if (!sp)
        return;
    if (split(path, sp) == 0) {
        if (sp->count == 1 && seg_is(sp, 0, "healthz"))
            r->kind = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? GW_HEALTH : GW_NONE;
        else if (seg_is(sp, 0, "api"))
            parse_api(method, sp, r);
        else
            parse_file(method, sp, r);
    }
    free(sp);
    if (r->kind == GW_NONE)
        memset(r, 0, sizeof *r);
}

const char *gw_type_name(gw_type t)
{
    return t == GW_DATASET ? "dataset" : t == GW_SPACE ? "space" : "model";
}

const char *gw_type_api(gw_type t)
{
    return t == GW_DATASET ? "datasets" : t == GW_SPACE ? "spaces" : "models";
}

const char *gw_type_prefix(gw_type t)
{
    return t == GW_DATASET ? "datasets/" : t == GW_SPACE ? "spaces/" : "";
}

int gw_is_commit(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 40;
}

/* ---- Range ---- */

int gw_range_parse(const char *hdr, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!hdr || strncmp(hdr, "bytes=", 6) != 0 || strchr(hdr, ','))
        return 1; /* none, another unit or several ranges: the whole file (RFC 9110 allows it) */
    const char *p = hdr + 6;
    uint64_t a = 0, b = 0;
    if (*p == '-') { /* the last b bytes */
        p++;
        if (lex_u64(&p, &b) || *p)
            return 1;
        if (b == 0 || size == 0)
            return -1;
        *off = b >= size ? 0 : size - b;
        *len = size - *off;
        return 0;
    }
    if (lex_u64(&p, &a) || *p++ != '-')
        return 1;
    uint64_t last = UINT64_MAX; /* "a-": to the end */
    if (*p) {
        if (lex_u64(&p, &b) || *p || b < a)
            return 1;
        last = b;
    }
    if (a >= size)
        return -1;
    if (last > size - 1)
        last = size - 1;
    *off = a;
    *len = last - a + 1;
    return 0;
}

/* ---- text ---- */

void gw_caller_id(const char *authorization, char out[32])
{
    if (!authorization || !*authorization) {
        snprintf(out, 32, "anonymous");
        return;
    }
    const char *t = strncasecmp(authorization, "Bearer ", 7) == 0 ? authorization + 7 : authorization;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(t, strlen(t), md, &mdlen, EVP_sha256(), NULL);
    snprintf(out, 32, "token:%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4], md[5]);
}

char *gw_pct(const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~' || (keep_slash && c == '/')) {
            *q++ = (char)c;
        } else {
            *q++ = '%';
            *q++ = hex[c >> 4];
            *q++ = hex[c & 15];
        }
    }
    *q = 0;
    return o;
}

void gw_header_text(const char *in, char *out, size_t max)
{
    size_t o = 0;
    if (!max)
        return;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p && o + 1 < max; p++)
        out[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
    out[o] = 0;
    if (in && strlen(in) >= max && max > 4)
        memcpy(out + max - 4, "...", 4);
}
