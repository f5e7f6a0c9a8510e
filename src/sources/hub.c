/*
 * hub.c - the Hugging Face hub back-end: model, dataset and space
 * repositories, named the way the Hub's own clients name them:
 *   hf://NS/NAME[@REV]            a model (hf://NAME: a legacy one-segment id)
 *   hf://datasets/NS/NAME[@REV]   a dataset; hf://spaces/NS/NAME a space
 *   <hub endpoint>/[datasets/|spaces/]NS/NAME[/tree/REV]  (models: also NAME)
 * Models, datasets and spaces share one path space on the Hub: a first
 * segment `datasets` or `spaces` always means that type (so a dataset or
 * space needs NS/NAME, and no model can be called `datasets` or `spaces`
 * with one segment; hub-and-s3.md section 8). Every request goes to the
 * configured endpoint (src_config.hub_endpoint); a URI never names a host of
 * its own, so an https:// URI on any other host is refused (SSRF).
 *
 * The protocol is the one the Hub's download clients use (notes with the
 * quirks: ../shared/design/hub-and-s3.md). TYPE is models, datasets or
 * spaces; REPO is NS/NAME (or NAME); file URLs of datasets and spaces start
 * with datasets/ or spaces/, a model's with nothing:
 *   1. GET /api/TYPE/REPO/revision/REV?expand=sha -> {"sha": 40-hex}.
 *      The branch, tag or sha becomes one commit and everything after is
 *      read at that commit, so the files judged are those of one version
 *      even if the branch moves meanwhile.
 *   2. GET /api/TYPE/REPO/tree/SHA?recursive=true&expand=false -> a JSON
 *      array of {type, path, size, oid, lfs?: {oid: sha256, size}}, paged by
 *      `Link: <absolute url>; rel="next"`. A next page is only fetched from
 *      the endpoint's own origin and this repo's tree path.
 *   3. GET /[datasets/|spaces/]REPO/resolve/SHA/PATH with a Range -> 206, or
 *      for LFS files a 302 to a CDN on another host. Redirects are followed
 *      here, not by libcurl: at most three, http(s) only, never https ->
 *      http, and the token is only ever sent to the endpoint's origin, not
 *      to the CDN.
 * Error answers carry X-Error-Code / X-Error-Message (RepoNotFound,
 * RevisionNotFound, EntryNotFound): 401/403 -> SRC_EDENIED, 404 ->
 * SRC_ENOTFOUND, anything else (5xx, timeouts, bad JSON) -> SRC_EUPSTREAM,
 * each with the hub's own message. Every answer is hostile: JSON bodies are
 * capped and parsed by jansson (duplicate keys rejected), and every field is
 * type- and range-checked before use.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/lex.h"
#include "internal.h"
#include "util/banned.h"

enum {
    HUB_MAX_REDIRECTS = 3,
    HUB_INFO_MAX = 8 << 20,  /* the revision answer (tiny with expand=sha; a hub may ignore expand) */
    HUB_PAGE_MAX = 16 << 20, /* one tree page (the Hub's pages of 1000 entries are ~300 KB) */
    HUB_REV_MAX = 255,
    HUB_PATH_MAX = 4096,
    HUB_TOKEN_MAX = 4096,
    HUB_ETAG_MAX = 128,
};

typedef struct hub_origin {
    char *scheme, *host, *port; /* curl_free'd */
} hub_origin;

/* A repository type: its API path segment and the prefix of its file URLs
 * (hub-and-s3.md section 2). A model's file URLs have no prefix. */
typedef struct hub_kind {
    const char *type;  /* "model", "dataset", "space": src_repo_type() */
    const char *api;   /* /api/{api}/REPO/... */
    const char *files; /* /{files}REPO/resolve/... */
} hub_kind;

static const hub_kind hub_kinds[] = {
    {"model", "models", ""},
    {"dataset", "datasets", "datasets/"},
    {"space", "spaces", "spaces/"},
};

/* Read-only after src_hub_open: reads run in parallel on one remote. */
typedef struct hub {
    char *base;           /* endpoint URL without trailing '/' */
    char *base_path;      /* its path without trailing '/' ("" at the root) */
    char *auth;           /* "Authorization: Bearer T", or NULL */
    const hub_kind *kind; /* model, dataset or space */
    char *repo;           /* "NS/NAME", or "NAME" for a legacy model id: goes into URL paths as is */
    char *label;          /* the repo as messages name it: "acme/x", "datasets/acme/x" */
    char *tree_path;      /* base_path + "/api/TYPE/REPO/tree/": where next pages may live */
    hub_origin home;      /* the endpoint's origin: the only one that gets the token */
} hub;

static char *hub_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *hub_fmt(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

static void origin_free(hub_origin *o)
{
    curl_free(o->scheme);
    curl_free(o->host);
    curl_free(o->port);
    memset(o, 0, sizeof *o);
}

/* The origin as libcurl itself will see it when it connects: one parser for
 * the check and the request, so they cannot disagree. */
static int origin_of(CURLU *u, hub_origin *o)
{
    memset(o, 0, sizeof *o);
    if (curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &o->host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        origin_free(o);
        return -1;
    }
    return 0;
}

static int origin_same(const hub_origin *a, const hub_origin *b)
{
    return strcasecmp(a->scheme, b->scheme) == 0 && strcasecmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

static int scheme_http(const char *s)
{
    return strcasecmp(s, "http") == 0 || strcasecmp(s, "https") == 0;
}

/* 0 when a URL part is absent: user names, queries and fragments have no
 * place in an endpoint, and a user name would make libcurl send Basic auth. */
static int part_absent(CURLU *u, CURLUPart what)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, what, &v, 0);
    curl_free(v);
    return rc != CURLUE_OK;
}

/* ---- names and encodings ---- */

/* Revisions and tokens: printable ASCII without blanks (git forbids blanks
 * and control bytes in ref names; a token goes into a header line). */
static int printable_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int hex_ok(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* An etag is kept only when it is a plain token: it ends up in reports and
 * in the store, and the hub's are hex. */
static int etag_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > HUB_ETAG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

/* Percent-encodes all but the unreserved bytes (and '/' when keep_slash:
 * file paths keep their separators, as the Hub's clients send them). */
static char *pct(const char *s, int keep_slash)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > HUB_PATH_MAX)
        return NULL;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~' || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hexd[c >> 4];
            *o++ = hexd[c & 15];
        }
    }
    *o = 0;
    return out;
}

/* Decodes one percent-encoded URL segment (a revision in /tree/REV);
 * NULL when malformed or when it decodes to a NUL. */
static char *unpct(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? lex_hexval(s[i + 1]) : -1; /* two digits must follow */
        int lo = hi >= 0 ? lex_hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = 0;
    return out;
}

/* Copies the hub's X-Error-Message for our own message: printable ASCII
 * only, capped, so a hostile hub cannot inject lines into logs. */
static void clean_message(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; in && in[i] && o + 1 < outlen && i < 200; i++)
        out[o++] = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f ? in[i] : '?';
    out[o] = 0;
}

/* ---- URIs ---- */

enum { HUB_SEGS = 5 }; /* the most a repo URL has: datasets/NS/NAME/tree/REV */

/* A URI's path cut at '/': each segment non-empty (no leading '/', no
 * "//"), one trailing '/' dropped. */
typedef struct hub_segs {
    const char *p[HUB_SEGS];
    size_t n[HUB_SEGS];
    size_t count;
} hub_segs;

static int split_segs(const char *s, size_t n, hub_segs *g)
{
    memset(g, 0, sizeof *g);
    if (n && s[n - 1] == '/')
        n--;
    if (n && s[n - 1] == '/') /* the loop below would not see this last, empty segment */
        return -1;
    for (size_t off = 0; off < n;) {
        const char *slash = memchr(s + off, '/', n - off);
        size_t len = slash ? (size_t)(slash - (s + off)) : n - off;
        if (len == 0 || g->count == HUB_SEGS)
            return -1;
        g->p[g->count] = s + off;
        g->n[g->count++] = len;
        off += len + 1; /* past the '/'; a final segment ends at n */
    }
    return g->count ? 0 : -1;
}

static int seg_is(const hub_segs *g, size_t i, const char *word)
{
    return i < g->count && g->n[i] == strlen(word) && memcmp(g->p[i], word, g->n[i]) == 0;
}

/* The type the first segment names, which is then dropped: `datasets` and
 * `spaces` always mean that type, as on the Hub; anything else is a model. */
static const hub_kind *take_kind(hub_segs *g)
{
    for (size_t k = 1; k < sizeof hub_kinds / sizeof hub_kinds[0]; k++) {
        if (!seg_is(g, 0, hub_kinds[k].api))
            continue;
        memmove(g->p, g->p + 1, (HUB_SEGS - 1) * sizeof g->p[0]);
        memmove(g->n, g->n + 1, (HUB_SEGS - 1) * sizeof g->n[0]);
        g->count--;
        return &hub_kinds[k];
    }
    return &hub_kinds[0];
}

typedef struct hub_ref {
    const hub_kind *kind;
    char *ns, *name, *rev; /* ns is "" for a legacy one-segment model id */
} hub_ref;

static void ref_free(hub_ref *f)
{
    free(f->ns);
    free(f->name);
    free(f->rev);
}

/* The repo from segments [0, n): NAME (models only) or NS/NAME. */
static int set_repo(hub_ref *f, const hub_segs *g, size_t n)
{
    const char *ns = n == 2 ? g->p[0] : "";
    size_t nl = n == 2 ? g->n[0] : 0;
    if ((n != 1 && n != 2) || (n == 1 && f->kind != &hub_kinds[0]) || (n == 2 && !lex_hub_name_ok(ns, nl)) ||
        !lex_hub_name_ok(g->p[n - 1], g->n[n - 1]))
        return SRC_EINVAL;
    f->ns = strndup(ns, nl);
    f->name = strndup(g->p[n - 1], g->n[n - 1]);
    return f->ns && f->name ? SRC_OK : SRC_ENOMEM;
}

/* The message for a repo that is not well-formed, with the shape its type
 * needs: `shape` is "hf://" or "ENDPOINT/", `tail` what may follow the
 * repo, `note` a last hint or "". */
static void repo_error(const hub_ref *f, const char *uri, const char *shape, const char *tail, const char *note,
                       char *err, size_t errlen)
{
    if (f->kind == &hub_kinds[0])
        snprintf(err, errlen,
                 "%s: expected %sNAMESPACE/NAME%s or %sNAME%s (a legacy model id), names of letters, digits, '.', "
                 "'_' and '-'%s",
                 uri, shape, tail, shape, tail, note);
    else
        snprintf(err, errlen,
                 "%s: expected %s%s/NAMESPACE/NAME%s, names of letters, digits, '.', '_' and '-' (a %s always has "
                 "a namespace, and no model is named `%s`)%s",
                 uri, shape, f->kind->api, tail, f->kind->type, f->kind->api, note);
}

static int set_rev(hub_ref *f, const char *rev, size_t n, const char *uri, char *err, size_t errlen)
{
    if (!printable_ok(rev, n, HUB_REV_MAX)) {
        snprintf(err, errlen, "%s: the revision must be 1 to %d printable characters without blanks", uri, HUB_REV_MAX);
        return SRC_EINVAL;
    }
    f->rev = strndup(rev, n);
    return f->rev ? SRC_OK : SRC_ENOMEM;
}

/* hf://[datasets/|spaces/]NS/NAME[@REV] or hf://NAME[@REV]: '@' to the end
 * is the revision, so a revision may hold '/' (refs/pr/1). */
static int parse_hf(const char *uri, hub_ref *f, char *err, size_t errlen)
{
    const char *s = uri + 5, *at = strchr(s, '@');
    size_t n = at ? (size_t)(at - s) : strlen(s);
    hub_segs g;
    int ok = split_segs(s, n, &g) == 0;
    f->kind = take_kind(&g);
    int rc = ok ? set_repo(f, &g, g.count) : SRC_EINVAL;
    if (rc == SRC_EINVAL)
        repo_error(f, uri, "hf://", "[@REVISION]", "", err, errlen);
    if (rc == SRC_OK)
        rc = at ? set_rev(f, at + 1, strlen(at + 1), uri, err, errlen) : set_rev(f, "main", 4, uri, err, errlen);
    return rc;
}

/* After the endpoint: [datasets/|spaces/]NS/NAME[/tree/REV] or (models)
 * NAME[/tree/REV]. The segment count tells the shapes apart: NAME/tree is
 * the model NAME/tree, NAME/tree/REV a revision of NAME, NS/NAME/tree/REV
 * one of NS/NAME. A revision holding '/' comes as one segment, %2F-encoded,
 * as the Hub's web pages write it. */
static int parse_web_path(const char *p, hub_ref *f, const char *uri, const char *base, char *err, size_t errlen)
{
    hub_segs g;
    int ok = split_segs(p, strlen(p), &g) == 0;
    f->kind = take_kind(&g);
    size_t repo_n = g.count, rev_i = 0;
    if (ok && g.count >= 3 && seg_is(&g, g.count - 2, "tree")) {
        repo_n = g.count - 2;
        rev_i = g.count - 1;
    }
    int rc = ok ? set_repo(f, &g, repo_n) : SRC_EINVAL;
    if (rc == SRC_EINVAL) {
        char shape[512];
        snprintf(shape, sizeof shape, "%s/", base);
        repo_error(f, uri, shape, "[/tree/REVISION]", "; a revision with '/' is written %2F", err, errlen);
        return rc;
    }
    if (rc != SRC_OK)
        return rc;
    if (!rev_i)
        return set_rev(f, "main", 4, uri, err, errlen);
    char *dec = unpct(g.p[rev_i], g.n[rev_i]);
    if (!dec) {
        snprintf(err, errlen, "%s: the revision is not well percent-encoded", uri);
        return SRC_EINVAL;
    }
    rc = set_rev(f, dec, strlen(dec), uri, err, errlen);
    free(dec);
    return rc;
}

/* ENDPOINT/...: only on the endpoint's own origin, under its base path. */
static int parse_https(const char *uri, const hub *h, hub_ref *f, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    hub_origin o = {0};
    char *path = NULL;
    int rc = SRC_EINVAL;
    if (!u)
        return SRC_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK || origin_of(u, &o) ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, errlen, "%s is not a valid URL", uri);
        goto out;
    }
    if (!origin_same(&o, &h->home)) {
        snprintf(err, errlen, "%s is not on the configured hub %s: modelgate only contacts that hub", uri, h->base);
        goto out;
    }
    size_t bl = strlen(h->base_path);
    if (!part_absent(u, CURLUPART_USER) || !part_absent(u, CURLUPART_QUERY) || !part_absent(u, CURLUPART_FRAGMENT) ||
        strncmp(path, h->base_path, bl) != 0 || path[bl] != '/') {
        snprintf(err, errlen, "%s: expected %s/[datasets/|spaces/]NAMESPACE/NAME[/tree/REVISION]", uri, h->base);
        goto out;
    }
    rc = parse_web_path(path + bl + 1, f, uri, h->base, err, errlen);
out:
    curl_free(path);
    origin_free(&o);
    curl_url_cleanup(u);
    return rc;
}

/* ---- the endpoint ---- */

static void hub_free(void *p)
{
    hub *h = p;
    if (!h)
        return;
    free(h->base);
    free(h->base_path);
    free(h->auth);
    free(h->repo);
    free(h->label);
    free(h->tree_path);
    origin_free(&h->home);
    free(h);
}

static int hub_new(hub **out, const src_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    hub *h = calloc(1, sizeof *h);
    CURLU *u = curl_url();
    char *url = NULL, *path = NULL;
    int rc = SRC_ENOMEM;
    if (!h || !u)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, cfg->hub_endpoint, 0) != CURLUE_OK || origin_of(u, &h->home) ||
        !scheme_http(h->home.scheme) || !part_absent(u, CURLUPART_USER) || !part_absent(u, CURLUPART_QUERY) ||
        !part_absent(u, CURLUPART_FRAGMENT) || curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, errlen, "the hub endpoint %s is not an http(s) URL without user, query or fragment",
                 cfg->hub_endpoint);
        rc = SRC_EINVAL;
        goto out;
    }
    size_t n = strlen(url), pn = strlen(path);
    while (n && url[n - 1] == '/')
        n--;
    while (pn && path[pn - 1] == '/')
        pn--;
    h->base = strndup(url, n);
    h->base_path = strndup(path, pn);
    if (!h->base || !h->base_path)
        goto out;
    if (cfg->hub_token && cfg->hub_token[0]) {
        if (!printable_ok(cfg->hub_token, strlen(cfg->hub_token), HUB_TOKEN_MAX)) {
            snprintf(err, errlen, "the hub token holds characters an HTTP header cannot carry");
            rc = SRC_EINVAL;
            goto out;
        }
        if (!(h->auth = hub_fmt("Authorization: Bearer %s", cfg->hub_token)))
            goto out;
    }
    *out = h;
    h = NULL;
    rc = SRC_OK;
out:
    curl_free(url);
    curl_free(path);
    curl_url_cleanup(u);
    hub_free(h);
    return rc;
}

/* ---- requests ---- */

/* Resolves `loc` (absolute, or relative to `cur`) into *next and its origin.
 * Refuses other schemes than http(s), user names, and https -> http. */
static int next_url(const char *cur, const char *loc, char **next, hub_origin *o, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    hub_origin was = {0};
    int rc = SRC_EUPSTREAM;
    *next = NULL;
    memset(o, 0, sizeof *o);
    if (!u)
        return SRC_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, cur, 0) != CURLUE_OK || origin_of(u, &was) ||
        curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK || origin_of(u, o)) {
        snprintf(err, errlen, "%s redirected to a URL that cannot be parsed", cur);
        goto out;
    }
    if (!scheme_http(o->scheme) || !part_absent(u, CURLUPART_USER) ||
        (strcasecmp(was.scheme, "https") == 0 && strcasecmp(o->scheme, "https") != 0)) {
        snprintf(err, errlen, "%s redirected to a %s URL: refused (only http(s), never from https to http)", cur,
                 o->scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, next, 0) != CURLUE_OK) {
        snprintf(err, errlen, "%s redirected to a URL that cannot be parsed", cur);
        goto out;
    }
    rc = SRC_OK;
out:
    if (rc != SRC_OK)
        origin_free(o);
    origin_free(&was);
    curl_url_cleanup(u);
    return rc;
}

/* One GET that follows at most HUB_MAX_REDIRECTS redirects (net_follow).
 * `api`: a JSON answer in memory, and every hop must stay on the
 * endpoint's origin (a renamed repo answers with a relative Location).
 * Otherwise the body goes into rq.fd and a hop may leave the origin (the
 * LFS CDN): the token is sent only to the endpoint's origin. On success *rs
 * holds the last answer. */
static int hub_get(const hub *h, net_request rq, int api, net_response *rs, char *err, size_t errlen)
{
    struct curl_slist *hd = api ? curl_slist_append(NULL, "Accept: application/json") : NULL;
    if (api && !hd) {
        memset(rs, 0, sizeof *rs);
        return SRC_ENOMEM;
    }
    rq.headers = hd;
    int rc = net_follow(&rq, h->auth, HUB_MAX_REDIRECTS, api, rs, err, errlen);
    curl_slist_free_all(hd);
    return rc;
}

/* The SRC_E* code and message for a hub answer that is not a success. */
static int answer_error(const src_remote *r, const net_response *rs, const char *what, char *err, size_t errlen)
{
    char msg[256];
    clean_message(rs->error_message, msg, sizeof msg);
    long st = rs->status;
    int rc = st == 401 || st == 403 ? SRC_EDENIED : st == 404 ? SRC_ENOTFOUND : SRC_EUPSTREAM;
    const char *hint =
        rc == SRC_EDENIED && (!r->cfg.hub_token || !r->cfg.hub_token[0]) ? " (no hub token is configured)" : "";
    snprintf(err, errlen, "the hub answered %ld for %s%s%s%s", st, what, msg[0] ? ": " : "", msg, hint);
    return rc;
}

/* GET of an API document: 200 and a JSON value, or an error. */
static int hub_api(const src_remote *r, const hub *h, const char *url, size_t cap, const char *what, json_t **doc,
                   net_response *rs, char *err, size_t errlen)
{
    net_request rq = {.url = url, .max_body = cap, .fd = -1, .timeout_s = r->cfg.timeout_s};
    *doc = NULL;
    int rc = hub_get(h, rq, 1, rs, err, errlen);
    if (rc != SRC_OK)
        return rc;
    if (rs->status != 200)
        return answer_error(r, rs, what, err, errlen);
    json_error_t je;
    *doc = rs->body ? json_loadb(rs->body, rs->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!*doc) {
        snprintf(err, errlen, "the hub's answer for %s is not JSON (%s)", what, rs->body ? je.text : "empty body");
        return SRC_EUPSTREAM;
    }
    return SRC_OK;
}

/* ---- revision and listing ---- */

static int hub_resolve(src_remote *r, const hub *h, const char *rev, char *err, size_t errlen)
{
    char *erev = pct(rev, 0);
    char *url = erev ? hub_fmt("%s/api/%s/%s/revision/%s?expand=sha", h->base, h->kind->api, h->repo, erev) : NULL;
    char *what = hub_fmt("%s revision %s", h->label, rev);
    json_t *doc = NULL;
    net_response rs;
    int rc = SRC_ENOMEM;
    memset(&rs, 0, sizeof rs);
    if (!url || !what)
        goto out;
    if ((rc = hub_api(r, h, url, HUB_INFO_MAX, what, &doc, &rs, err, errlen)) != SRC_OK)
        goto out;
    const char *sha = json_string_value(json_object_get(doc, "sha"));
    if (!hex_ok(sha, 40)) {
        snprintf(err, errlen, "the hub's answer for %s has no 40-hex commit sha", what);
        rc = SRC_EUPSTREAM;
        goto out;
    }
    rc = (r->rev = strdup(sha)) ? SRC_OK : SRC_ENOMEM;
out:
    json_decref(doc);
    net_response_free(&rs);
    free(erev);
    free(url);
    free(what);
    return rc;
}

/* One entry of a tree page. Files are added; directories (and any other
 * type a hub may add) carry no bytes and are skipped. */
static int tree_entry(src_remote *r, json_t *e, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!json_is_object(e) || !type) {
        snprintf(err, errlen, "the hub's file list holds an entry without a type");
        return SRC_EUPSTREAM;
    }
    if (strcmp(type, "file") != 0)
        return SRC_OK;
    json_t *jp = json_object_get(e, "path"), *js = json_object_get(e, "size"), *lfs = json_object_get(e, "lfs");
    const char *path = json_string_value(jp);
    if (!path || json_string_length(jp) != strlen(path) || strlen(path) > HUB_PATH_MAX) {
        snprintf(err, errlen, "the hub's file list holds a file without a usable path");
        return SRC_EUPSTREAM;
    }
    if (!json_is_integer(js) || json_integer_value(js) < 0) {
        snprintf(err, errlen, "the hub's file list gives `%.200s` no valid size", path);
        return SRC_EUPSTREAM;
    }
    uint64_t size = (uint64_t)json_integer_value(js);
    const char *oid = json_string_value(json_object_get(e, "oid"));
    const char *etag = etag_ok(oid) ? oid : NULL, *sha256 = NULL;
    if (lfs && !json_is_null(lfs)) {
        json_t *ls = json_object_get(lfs, "size");
        const char *loid = json_string_value(json_object_get(lfs, "oid"));
        if (!json_is_object(lfs) ||
            (ls && (!json_is_integer(ls) || json_integer_value(ls) < 0 || (uint64_t)json_integer_value(ls) != size))) {
            snprintf(err, errlen, "the hub's file list gives `%.200s` an LFS record that disagrees with its size",
                     path);
            return SRC_EUPSTREAM;
        }
        if (hex_ok(loid, 64))
            sha256 = etag = loid;
    }
    int rc = src_add_object(r, path, size, etag, sha256);
    if (rc == SRC_EINVAL)
        snprintf(err, errlen, "the hub's file list holds an unsafe path `%.200s`", path);
    else if (rc == SRC_ELIMIT)
        snprintf(err, errlen, "the repository has more than %" PRIu32 " files", r->cfg.max_files);
    return rc == SRC_EINVAL ? SRC_EUPSTREAM : rc;
}

/* Adds the files of one tree page (a JSON array) to r and counts its
 * entries into *entries (directories included), against `max_entries`. */
int hub_tree_page(src_remote *r, const char *body, size_t len, size_t *entries, size_t max_entries, char *err,
                  size_t errlen)
{
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    int rc = SRC_OK;
    if (!json_is_array(doc)) {
        snprintf(err, errlen, "the hub's file list is not a JSON array%s%s", doc || !body ? "" : ": ",
                 doc || !body ? "" : je.text);
        json_decref(doc);
        return SRC_EUPSTREAM;
    }
    size_t i;
    json_t *e;
    json_array_foreach(doc, i, e)
    {
        if (++*entries > max_entries) {
            snprintf(err, errlen, "the hub's file list has more than %zu entries", max_entries);
            rc = SRC_ELIMIT;
            break;
        }
        if ((rc = tree_entry(r, e, err, errlen)) != SRC_OK)
            break;
    }
    json_decref(doc);
    return rc;
}

/* A next-page link is followed only on the endpoint's origin and under this
 * repo's tree path: the listing cannot send us anywhere else. */
static int next_page(const hub *h, const char *cur, const char *link, char **next, char *err, size_t errlen)
{
    hub_origin o;
    char *url = NULL, *path = NULL;
    int rc = next_url(cur, link, &url, &o, err, errlen);
    *next = NULL;
    if (rc != SRC_OK) {
        snprintf(err, errlen, "the hub's next-page link `%.200s` cannot be used", link);
        return rc;
    }
    CURLU *u = curl_url();
    rc = SRC_EUPSTREAM;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && origin_same(&o, &h->home) &&
        strncmp(path, h->tree_path, strlen(h->tree_path)) == 0) {
        *next = strdup(url);
        rc = *next ? SRC_OK : SRC_ENOMEM;
    } else {
        snprintf(err, errlen, "the hub's next-page link `%.200s` leaves %s: refused", link, h->base);
    }
    curl_free(path);
    curl_free(url);
    curl_url_cleanup(u);
    origin_free(&o);
    return rc;
}

static int hub_list(src_remote *r, hub *h, char *err, size_t errlen)
{
    char *url = hub_fmt("%s/api/%s/%s/tree/%s?recursive=true&expand=false", h->base, h->kind->api, h->repo, r->rev);
    char *what = hub_fmt("the file list of %s at %s", h->label, r->rev);
    h->tree_path = hub_fmt("%s/api/%s/%s/tree/", h->base_path, h->kind->api, h->repo);
    /* files are capped by max_files (src_add_object); directories besides them */
    size_t entries = 0, max_entries = (size_t)r->cfg.max_files * 2 + 1024;
    int rc = url && what && h->tree_path ? SRC_OK : SRC_ENOMEM;
    while (rc == SRC_OK && url) {
        net_request rq = {.url = url, .max_body = HUB_PAGE_MAX, .fd = -1, .timeout_s = r->cfg.timeout_s};
        net_response rs;
        size_t before = entries;
        char *next = NULL;
        rc = hub_get(h, rq, 1, &rs, err, errlen);
        if (rc == SRC_OK && rs.status != 200)
            rc = answer_error(r, &rs, what, err, errlen);
        if (rc == SRC_OK)
            rc = hub_tree_page(r, rs.body, rs.body_len, &entries, max_entries, err, errlen);
        if (rc == SRC_OK && rs.link_next) {
            if (entries == before) { /* an empty page that points on: no progress, no end */
                snprintf(err, errlen, "the hub's file list has an empty page that links to another");
                rc = SRC_EUPSTREAM;
            } else {
                rc = next_page(h, url, rs.link_next, &next, err, errlen);
            }
        }
        net_response_free(&rs);
        free(url);
        url = next;
    }
    free(url);
    free(what);
    return rc;
}

/* ---- reads ---- */

static int hub_read(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen)
{
    const hub *h = r->impl;
    const src_object *o = &r->objs[i];
    if (len == 0)
        return SRC_OK;
    char *path = pct(o->path, 1);
    char *url = path ? hub_fmt("%s/%s%s/resolve/%s/%s", h->base, h->kind->files, h->repo, r->rev, path) : NULL;
    char *what = hub_fmt("`%.200s` of %s", o->path, h->label);
    net_response rs;
    int rc = SRC_ENOMEM;
    memset(&rs, 0, sizeof rs);
    if (url && what) {
        net_request rq = {.url = url, .range_off = off, .range_len = len, .fd = fd, .timeout_s = r->cfg.timeout_s};
        rc = hub_get(h, rq, 0, &rs, err, errlen);
        if (rc == SRC_OK)
            rc = rs.status == 200 || rs.status == 206 ? net_check_read(&rs, off, len, o->size, what, err, errlen)
                                                      : answer_error(r, &rs, what, err, errlen);
    }
    net_response_free(&rs);
    free(path);
    free(url);
    free(what);
    return rc;
}

/* ---- open ---- */

static int is_http_uri(const char *uri)
{
    return strncasecmp(uri, "https://", 8) == 0 || strncasecmp(uri, "http://", 7) == 0;
}

int src_hub_open(src_remote *r, const char *uri, char *err, size_t errlen)
{
    int hf = strncmp(uri, "hf://", 5) == 0;
    if (!hf && !is_http_uri(uri))
        return SRC_EINVAL;
    hub *h = NULL;
    hub_ref f = {0};
    int rc = hub_new(&h, &r->cfg, err, errlen);
    if (rc == SRC_OK)
        rc = hf ? parse_hf(uri, &f, err, errlen) : parse_https(uri, h, &f, err, errlen);
    if (rc != SRC_OK) {
        hub_free(h);
        ref_free(&f);
        return rc;
    }
    /* from here on the remote owns everything: src_open frees it on failure */
    r->impl = h;
    r->free_impl = hub_free;
    r->read = hub_read;
    r->ns = f.ns;
    r->name = f.name;
    r->repo_type = f.kind->type;
    h->kind = f.kind;
    h->repo = f.ns[0] ? hub_fmt("%s/%s", f.ns, f.name) : strdup(f.name);
    h->label = h->repo ? hub_fmt("%s%s", f.kind->files, h->repo) : NULL;
    rc = h->repo && h->label ? hub_resolve(r, h, f.rev, err, errlen) : SRC_ENOMEM;
    if (rc == SRC_OK)
        rc = hub_list(r, h, err, errlen);
    free(f.rev);
    return rc;
}
