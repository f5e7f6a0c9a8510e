/*
 * hub.c - the Hugging Face hub back-end: hf://NS/NAME[@REV] and
 * <hub endpoint>/NS/NAME[/tree/REV]. Model repositories only: datasets and
 * spaces are refused with a message. Every request goes to the configured
 * endpoint (src_config.hub_endpoint); a URI never names a host of its own,
 * so an https:// URI on any other host is refused (SSRF).
 *
 * The protocol is the one the Hub's download clients use (notes with the
 * quirks: ../shared/design/hub-and-s3.md):
 *   1. GET /api/models/NS/NAME/revision/REV?expand=sha -> {"sha": 40-hex}.
 *      The branch, tag or sha becomes one commit and everything after is
 *      read at that commit, so the files judged are those of one version
 *      even if the branch moves meanwhile.
 *   2. GET /api/models/NS/NAME/tree/SHA?recursive=true&expand=false -> a JSON
 *      array of {type, path, size, oid, lfs?: {oid: sha256, size}}, paged by
 *      `Link: <absolute url>; rel="next"`. A next page is only fetched from
 *      the endpoint's own origin and this repo's tree path.
 *   3. GET /NS/NAME/resolve/SHA/PATH with a Range -> 206, or for LFS files a
 *      302 to a CDN on another host. Redirects are followed here, not by
 *      libcurl: at most three, http(s) only, never https -> http, and the
 *      token is only ever sent to the endpoint's origin, not to the CDN.
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

#include "internal.h"
#include "util/banned.h"

enum {
    HUB_MAX_REDIRECTS = 3,
    HUB_INFO_MAX = 8 << 20,  /* the revision answer (tiny with expand=sha; a hub may ignore expand) */
    HUB_PAGE_MAX = 16 << 20, /* one tree page (the Hub's pages of 1000 entries are ~300 KB) */
    HUB_NAME_MAX = 96,       /* the Hub's limit for a namespace or repo name */
    HUB_REV_MAX = 255,
    HUB_PATH_MAX = 4096,
    HUB_TOKEN_MAX = 4096,
    HUB_ETAG_MAX = 128,
};

typedef struct hub_origin {
    char *scheme, *host, *port; /* curl_free'd */
} hub_origin;

/* Read-only after src_hub_open: reads run in parallel on one remote. */
typedef struct hub {
    char *base;      /* endpoint URL without trailing '/' */
    char *base_path; /* its path without trailing '/' ("" at the root) */
    char *auth;      /* "Authorization: Bearer T", or NULL */
    char *tree_path; /* base_path + "/api/models/NS/NAME/tree/": where next pages may live */
    hub_origin home; /* the endpoint's origin: the only one that gets the token */
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

/* A namespace or repo name as the Hub allows them: [A-Za-z0-9._-], at most
 * 96 bytes, not starting with '.' or '-', no "..". They go into URL paths
 * unencoded, so nothing else may pass. */
static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > HUB_NAME_MAX || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.'))
            return 0;
    }
    return 1;
}

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

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
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
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1; /* two digits must follow */
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
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

typedef struct hub_ref {
    char *ns, *name, *rev;
} hub_ref;

static void ref_free(hub_ref *f)
{
    free(f->ns);
    free(f->name);
    free(f->rev);
}

/* "NS/NAME" (one trailing '/' allowed) into f->ns and f->name. */
static int split_repo(const char *s, size_t n, hub_ref *f, const char *uri, char *err, size_t errlen)
{
    if (n && s[n - 1] == '/')
        n--;
    const char *slash = memchr(s, '/', n);
    if (slash && ((size_t)(slash - s) == 8 && strncmp(s, "datasets", 8) == 0)) {
        snprintf(err, errlen, "%s: only model repositories are supported (not datasets)", uri);
        return SRC_EINVAL;
    }
    if (slash && ((size_t)(slash - s) == 6 && strncmp(s, "spaces", 6) == 0)) {
        snprintf(err, errlen, "%s: only model repositories are supported (not spaces)", uri);
        return SRC_EINVAL;
    }
    size_t nl = slash ? (size_t)(slash - s) : 0;
    if (!slash || !name_ok(s, nl) || !name_ok(slash + 1, n - nl - 1)) {
        snprintf(err, errlen, "%s: expected a repository NAMESPACE/NAME of letters, digits, '.', '_' and '-'", uri);
        return SRC_EINVAL;
    }
    f->ns = strndup(s, nl);
    f->name = strndup(slash + 1, n - nl - 1);
    return f->ns && f->name ? SRC_OK : SRC_ENOMEM;
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

/* hf://NS/NAME[@REV] */
static int parse_hf(const char *uri, hub_ref *f, char *err, size_t errlen)
{
    const char *s = uri + 5, *at = strchr(s, '@');
    size_t n = at ? (size_t)(at - s) : strlen(s);
    int rc = split_repo(s, n, f, uri, err, errlen);
    if (rc == SRC_OK)
        rc = at ? set_rev(f, at + 1, strlen(at + 1), uri, err, errlen) : set_rev(f, "main", 4, uri, err, errlen);
    return rc;
}

/* ENDPOINT/NS/NAME[/][tree/REV[/]]: only on the endpoint's own origin. */
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
        snprintf(err, errlen, "%s: expected %s/NAMESPACE/NAME[/tree/REVISION]", uri, h->base);
        goto out;
    }
    /* NS/NAME, then optionally tree/REV: a repo is two segments */
    const char *p = path + bl + 1, *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    rc = split_repo(p, s2 ? (size_t)(s2 - p) : strlen(p), f, uri, err, errlen);
    if (rc != SRC_OK)
        goto out;
    if (!s2 || !s2[1]) {
        rc = set_rev(f, "main", 4, uri, err, errlen);
        goto out;
    }
    const char *rev = s2 + 1;
    size_t rl = strlen(rev);
    if (rl && rev[rl - 1] == '/')
        rl--;
    char *dec = NULL;
    if (rl <= 5 || strncmp(rev, "tree/", 5) != 0 || memchr(rev + 5, '/', rl - 5) || !(dec = unpct(rev + 5, rl - 5))) {
        snprintf(err, errlen, "%s: expected %s/NAMESPACE/NAME[/tree/REVISION] (a revision with '/' is written %%2F)",
                 uri, h->base);
        rc = SRC_EINVAL;
        goto out;
    }
    rc = set_rev(f, dec, strlen(dec), uri, err, errlen);
    free(dec);
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

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

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

/* One GET that follows at most HUB_MAX_REDIRECTS redirects. `api`: a JSON
 * answer in memory, and every hop must stay on the endpoint's origin (a
 * renamed repo answers with a relative Location). Otherwise the body goes
 * into rq->fd and a hop may leave the origin (the LFS CDN): the token is
 * sent only to the endpoint's origin. On success *rs holds the last answer. */
static int hub_get(const hub *h, net_request rq, int api, net_response *rs, char *err, size_t errlen)
{
    char *cur = strdup(rq.url);
    hub_origin o = {0};
    int rc = SRC_ENOMEM;
    memset(rs, 0, sizeof *rs);
    if (!cur)
        return SRC_ENOMEM;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, cur, 0) != CURLUE_OK || origin_of(u, &o)) {
        curl_url_cleanup(u);
        free(cur);
        snprintf(err, errlen, "%s is not a valid URL", rq.url);
        return u ? SRC_EUPSTREAM : SRC_ENOMEM;
    }
    curl_url_cleanup(u);
    for (int hop = 0;; hop++) {
        struct curl_slist *hd = NULL, *t;
        rc = SRC_ENOMEM;
        if (api && !(hd = curl_slist_append(hd, "Accept: application/json")))
            break;
        if (h->auth && origin_same(&o, &h->home)) {
            if (!(t = curl_slist_append(hd, h->auth))) {
                curl_slist_free_all(hd);
                break;
            }
            hd = t;
        }
        rq.url = cur;
        rq.headers = hd;
        rc = net_perform(&rq, rs, err, errlen);
        curl_slist_free_all(hd);
        if (rc != SRC_OK || !is_redirect(rs->status))
            break;
        rc = SRC_EUPSTREAM;
        if (hop == HUB_MAX_REDIRECTS) {
            snprintf(err, errlen, "%s: more than %d redirects", rq.url, HUB_MAX_REDIRECTS);
            break;
        }
        if (!rs->location) {
            snprintf(err, errlen, "%s answered %ld without a Location", cur, rs->status);
            break;
        }
        char *next;
        origin_free(&o);
        if ((rc = next_url(cur, rs->location, &next, &o, err, errlen)) != SRC_OK)
            break;
        free(cur);
        cur = strdup(next);
        curl_free(next);
        if (!cur) {
            rc = SRC_ENOMEM;
            break;
        }
        if (api && !origin_same(&o, &h->home)) {
            snprintf(err, errlen, "the hub redirected an API call to %s://%s:%s: refused (only %s is contacted)",
                     o.scheme, o.host, o.port, h->base);
            rc = SRC_EUPSTREAM;
            break;
        }
        net_response_free(rs);
    }
    if (rc != SRC_OK)
        net_response_free(rs);
    origin_free(&o);
    free(cur);
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
    char *url = erev ? hub_fmt("%s/api/models/%s/%s/revision/%s?expand=sha", h->base, r->ns, r->name, erev) : NULL;
    char *what = hub_fmt("%s/%s revision %s", r->ns, r->name, rev);
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
    char *url = hub_fmt("%s/api/models/%s/%s/tree/%s?recursive=true&expand=false", h->base, r->ns, r->name, r->rev);
    char *what = hub_fmt("the file list of %s/%s at %s", r->ns, r->name, r->rev);
    h->tree_path = hub_fmt("%s/api/models/%s/%s/tree/", h->base_path, r->ns, r->name);
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
    char *url = path ? hub_fmt("%s/%s/%s/resolve/%s/%s", h->base, r->ns, r->name, r->rev, path) : NULL;
    char *what = hub_fmt("`%.200s` of %s/%s", o->path, r->ns, r->name);
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
    rc = hub_resolve(r, h, f.rev, err, errlen);
    if (rc == SRC_OK)
        rc = hub_list(r, h, err, errlen);
    free(f.rev);
    return rc;
}
