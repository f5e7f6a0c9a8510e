/*
 * s3.c - the S3 source: s3://bucket/prefix/ (every object under the prefix,
 * one model), s3://bucket (the whole bucket) and s3://bucket/key (one object).
 *
 * Where requests go (SSRF: the URI names a bucket, never a host):
 *   cfg->s3_endpoint set   path style   ENDPOINT/bucket/key   (MinIO, s3rver, Ceph…)
 *   no endpoint            virtual host https://bucket.s3.REGION.amazonaws.com/key
 *                          (buckets with dots: https://s3.REGION.amazonaws.com/bucket/key,
 *                          since *.s3… certificates cannot cover them)
 *
 * Listing: ListObjectsV2 (list-type=2), the prefix with its trailing '/'
 * (plain S3 prefix semantics: "bert" would also match "bert2/…"), no
 * delimiter (one recursive listing), pages of cfg->s3_page_keys keys chained
 * by continuation-token, at most cfg->max_pages pages and cfg->max_files
 * files. Keys become paths relative to the prefix; folder markers ("x/")
 * are skipped; a key outside the prefix or one that is not a safe relative
 * path ("..", "//") makes the listing an error, never a silently smaller model.
 *
 * A URI without a trailing '/' is first tried as one object (HEAD); when there
 * is none, as the folder "key/".
 *
 * Reads are ranged GETs with If-Match: the listed ETag (S3 answers 412 rather
 * than bytes of a replaced object), and must answer 206 with exactly the
 * range asked for (or 200 when that range is the whole object), the size the
 * listing gave and the same ETag: an object replaced between listing and
 * reading is an error, whether or not the server honours If-Match.
 *
 * Every request is signed by our own SigV4 signer (sigv4.c) when credentials
 * are configured, and sent unsigned (anonymous) otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "s3_xml.h"
#include "sigv4.h"

#define S3_LIST_BODY_MAX     (16u << 20) /* one page of 1000 keys of <= 1 KiB each, XML-escaped */
#define S3_URI_KEY_MAX       1024        /* S3's own limit on a key */
#define S3_PAGE_KEYS_DEFAULT 1000
#define S3_MAX_PAGES_DEFAULT 1000

typedef struct s3_impl {
    char *bucket;
    char *prefix; /* what every listed key starts with: "team-a/bert/", "" for a whole bucket */
    char *origin; /* "http://127.0.0.1:4569", "https://bucket.s3.eu-west-1.amazonaws.com" */
    char *host;   /* the Host header: origin without its scheme */
    char *base;   /* the path before a key: "/bucket" (path style, after any endpoint path) or "" */
    char *shown;  /* the URI, printable, for messages */
} s3_impl;

static void s3_free(void *p)
{
    s3_impl *s = p;
    if (!s)
        return;
    free(s->bucket);
    free(s->prefix);
    free(s->origin);
    free(s->host);
    free(s->base);
    free(s->shown);
    free(s);
}

/* A copy safe to print: control bytes become '?', long text is cut. */
static char *printable_dup(const char *v)
{
    size_t n = strnlen(v, 300);
    char *out = malloc(n + 4);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
    memcpy(out + n, v[n] ? "..." : "", v[n] ? 4 : 1);
    return out;
}

static char *concat(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *out = malloc(na + nb + nc + 1);
    if (!out)
        return NULL;
    memcpy(out, a, na);
    memcpy(out + na, b, nb);
    memcpy(out + na + nb, c, nc + 1);
    return out;
}

/* ---- names ---- */

static int is_lower_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* S3's bucket naming rules (general purpose buckets): 3-63 of [a-z0-9.-],
 * starting and ending with a letter or digit, no "..", not an IPv4 address,
 * none of the reserved prefixes and suffixes. The name goes into a host
 * name or a path, so this also keeps anything else out of the URL. */
static int bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || !is_lower_digit(b[0]) || !is_lower_digit(b[n - 1]) || strstr(b, ".."))
        return 0;
    int dots = 0, digits_dots = 1;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_digit(b[i]) && b[i] != '.' && b[i] != '-')
            return 0;
        dots += b[i] == '.';
        digits_dots &= (b[i] >= '0' && b[i] <= '9') || b[i] == '.';
    }
    if (dots == 3 && digits_dots) /* 192.168.5.4 */
        return 0;
    static const char *const bad_prefix[] = {"xn--", "sthree-", "amzn-s3-demo-"};
    static const char *const bad_suffix[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"};
    for (size_t i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0]; i++)
        if (strncmp(b, bad_prefix[i], strlen(bad_prefix[i])) == 0)
            return 0;
    for (size_t i = 0; i < sizeof bad_suffix / sizeof bad_suffix[0]; i++) {
        size_t k = strlen(bad_suffix[i]);
        if (n > k && strcmp(b + n - k, bad_suffix[i]) == 0)
            return 0;
    }
    return 1;
}

/* The region goes into a host name: "eu-west-1", nothing else. */
static int region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_digit(r[i]) && r[i] != '-')
            return 0;
    return 1;
}

/* s3://BUCKET[/KEY]: the key is raw bytes, as the aws CLI takes it (no
 * percent-decoding), without control bytes, at most S3's 1024 bytes. */
static int parse_uri(s3_impl *s, const char *uri, char **key, char *err, size_t errlen)
{
    const char *b = uri + 5, *slash = strchr(b, '/');
    size_t bn = slash ? (size_t)(slash - b) : strlen(b);
    const char *k = slash ? slash + 1 : "";
    s->bucket = strndup(b, bn);
    *key = strdup(k);
    if (!s->bucket || !*key)
        return SRC_ENOMEM;
    if (!bucket_ok(s->bucket)) {
        snprintf(err, errlen, "%s: not a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')", s->shown);
        return SRC_EINVAL;
    }
    size_t kn = strlen(k);
    for (size_t i = 0; i < kn; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f) {
            snprintf(err, errlen, "%s: control characters in the key", s->shown);
            return SRC_EINVAL;
        }
    if (kn > S3_URI_KEY_MAX) {
        snprintf(err, errlen, "%s: key longer than %d bytes", s->shown, S3_URI_KEY_MAX);
        return SRC_EINVAL;
    }
    return SRC_OK;
}

/* The authority of an endpoint URL: host, IPv4, [IPv6], optional :port. No
 * user info, nothing that would end the URL or the Host header early. */
static int authority_ok(const char *a, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (!is_lower_digit(c) && !(c >= 'A' && c <= 'Z') && !strchr(".-_:[]", c))
            return 0;
    }
    return 1;
}

static int endpoint_setup(s3_impl *s, const src_config *cfg, char *err, size_t errlen)
{
    const char *e = cfg->s3_endpoint;
    if (!e) {
        if (!region_ok(cfg->s3_region)) {
            snprintf(err, errlen, "not a valid AWS region name for S3");
            return SRC_EINVAL;
        }
        char origin[160];
        if (strchr(s->bucket, '.')) {
            snprintf(origin, sizeof origin, "https://s3.%s.amazonaws.com", cfg->s3_region);
            s->base = concat("/", s->bucket, "");
        } else {
            snprintf(origin, sizeof origin, "https://%s.s3.%s.amazonaws.com", s->bucket, cfg->s3_region);
            s->base = strdup("");
        }
        s->origin = strdup(origin);
        s->host = s->origin ? strdup(s->origin + 8) : NULL;
        return s->base && s->origin && s->host ? SRC_OK : SRC_ENOMEM;
    }
    size_t skip = strncasecmp(e, "http://", 7) == 0 ? 7 : strncasecmp(e, "https://", 8) == 0 ? 8 : 0;
    const char *auth = e + skip, *path = auth + strcspn(auth, "/?#");
    size_t an = (size_t)(path - auth), pn = strlen(path);
    if (!skip || !authority_ok(auth, an) || strpbrk(path, "?#%") || pn > 512) {
        snprintf(err, errlen, "S3 endpoint must be http(s)://host[:port][/path] (no user, query or escapes)");
        return SRC_EINVAL;
    }
    for (size_t i = 0; i < pn; i++)
        if ((unsigned char)path[i] <= 0x20 || path[i] == 0x7f) {
            snprintf(err, errlen, "S3 endpoint path holds blanks or control characters");
            return SRC_EINVAL;
        }
    while (pn && path[pn - 1] == '/')
        pn--;
    s->origin = strndup(e, skip + an);
    s->host = strndup(auth, an);
    char *p = strndup(path, pn);
    s->base = p ? concat(p, "/", s->bucket) : NULL;
    free(p);
    return s->origin && s->host && s->base ? SRC_OK : SRC_ENOMEM;
}

/* ---- one request ---- */

typedef struct s3_req {
    const char *method;
    const char *key; /* raw object key; NULL: the bucket (listing) */
    const sigv4_param *query;
    size_t nquery;
    uint64_t off, len; /* len 0: no Range */
    int fd;            /* >= 0: body pwrite()n there (ranged reads) */
    size_t max_body;
    const char *if_match; /* the listed ETag: S3 answers 412 instead of another object's bytes */
} s3_req;

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value, int *bad)
{
    char *line = concat(name, ": ", value);
    struct curl_slist *n = line ? curl_slist_append(h, line) : NULL;
    free(line);
    if (!n)
        *bad = 1;
    return n ? n : h;
}

/* The headers of a request; signed when credentials are configured. */
static int build_headers(const src_remote *r, const sigv4_input *in, const char *if_match, struct curl_slist **out,
                         char *err, size_t errlen)
{
    const src_config *cfg = &r->cfg;
    int bad = 0;
    *out = add_header(NULL, "Host", in->host, &bad);
    if (if_match) /* not signed: SigV4 only requires host and x-amz-* */
        *out = add_header(*out, "If-Match", if_match, &bad);
    if (!cfg->s3_access_key)
        return bad ? SRC_ENOMEM : SRC_OK;
    sigv4_creds c = {cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_session_token, cfg->s3_region, "s3"};
    sigv4_output sig;
    if (sigv4_sign(&sig, in, &c) != 0) {
        snprintf(err, errlen,
                 "cannot sign the S3 request: credentials, region or token hold characters a header "
                 "cannot carry, or are too long");
        return SRC_EINVAL;
    }
    *out = add_header(*out, "x-amz-date", in->amz_date, &bad);
    *out = add_header(*out, "x-amz-content-sha256", SIGV4_EMPTY_SHA256, &bad);
    if (c.session_token)
        *out = add_header(*out, "x-amz-security-token", c.session_token, &bad);
    *out = add_header(*out, "Authorization", sig.authorization, &bad);
    sigv4_output_free(&sig);
    return bad ? SRC_ENOMEM : SRC_OK;
}

/* Sends one request to the bucket; 0 when an answer came (any status). */
static int s3_call(const src_remote *r, const s3_req *q, net_response *rs, char *err, size_t errlen)
{
    const s3_impl *s = r->impl;
    char date[17], range[64];
    sigv4_date(date, time(NULL));
    /* the same form net.c puts into the Range header, so it can be signed */
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, q->off, q->off + q->len - 1);
    char *path = q->key ? concat(s->base, "/", q->key) : strdup(s->base[0] ? s->base : "/");
    char *epath = path ? sigv4_encode(path, strlen(path), 1) : NULL;
    char *query = sigv4_query(q->query, q->nquery);
    char *url = epath && query ? concat(s->origin, epath, "") : NULL;
    char *full = url && query[0] ? concat(url, "?", query) : url;
    struct curl_slist *headers = NULL;
    int rc = full ? SRC_OK : SRC_ENOMEM;
    if (rc == SRC_OK) {
        sigv4_input in = {.method = q->method,
                          .host = s->host,
                          .path = path,
                          .query = q->query,
                          .nquery = q->nquery,
                          .range = q->len ? range : NULL,
                          .amz_date = date};
        rc = build_headers(r, &in, q->if_match, &headers, err, errlen);
    }
    if (rc == SRC_OK) {
        net_request rq = {.method = q->method,
                          .url = full,
                          .headers = headers,
                          .range_off = q->off,
                          .range_len = q->len,
                          .max_body = q->max_body,
                          .fd = q->fd,
                          .timeout_s = r->cfg.timeout_s};
        rc = net_perform(&rq, rs, err, errlen);
    } else if (rc == SRC_ENOMEM) {
        snprintf(err, errlen, "out of memory");
    }
    curl_slist_free_all(headers);
    if (full != url)
        free(full);
    free(url);
    free(query);
    free(epath);
    free(path);
    return rc;
}

/* An answer other than the one wanted: the status decides the code, S3's
 * <Error> body (when there is one) the words. */
static int s3_fail(const net_response *rs, const char *what, char *err, size_t errlen)
{
    char code[128] = "", msg[512] = "";
    if (rs->body && rs->body_len)
        s3_error_parse(rs->body, rs->body_len, code, sizeof code, msg, sizeof msg);
    int rc = rs->status == 401 || rs->status == 403 ? SRC_EDENIED : rs->status == 404 ? SRC_ENOTFOUND : SRC_EUPSTREAM;
    if (code[0])
        snprintf(err, errlen, "%s: HTTP %ld %s: %s", what, rs->status, code, msg);
    else
        snprintf(err, errlen, "%s: HTTP %ld", what, rs->status);
    return rc;
}

/* ---- listing ---- */

typedef struct list_ctx {
    src_remote *r;
    char *err;
    size_t errlen;
} list_ctx;

static int printable_ascii(const char *v)
{
    for (; *v; v++)
        if (*v < 0x20 || *v == 0x7f)
            return 0;
    return 1;
}

static int on_entry(void *ctx, const char *key, uint64_t size, const char *etag)
{
    list_ctx *lc = ctx;
    const s3_impl *s = lc->r->impl;
    size_t plen = strlen(s->prefix);
    char *shown = printable_dup(key);
    int rc = SRC_OK;
    if (!shown)
        return SRC_ENOMEM;
    if (strncmp(key, s->prefix, plen) != 0) {
        snprintf(lc->err, lc->errlen, "listing %s answered key `%s`, which is outside the prefix", s->shown, shown);
        rc = SRC_EUPSTREAM;
        goto out;
    }
    const char *rel = key + plen;
    size_t rn = strlen(rel);
    if (rn == 0 || rel[rn - 1] == '/') /* a folder marker, not a file */
        goto out;
    rc = src_add_object(lc->r, rel, size, etag && printable_ascii(etag) ? etag : NULL, NULL);
    if (rc == SRC_EINVAL) {
        snprintf(lc->err, lc->errlen, "%s holds key `%s`, which is not a safe relative path (empty, '.' or '..' part)",
                 s->shown, shown);
        rc = SRC_EUPSTREAM;
    } else if (rc == SRC_ELIMIT) {
        snprintf(lc->err, lc->errlen, "%s holds more than %" PRIu32 " files (the source's limit)", s->shown,
                 lc->r->cfg.max_files);
    } else if (rc == SRC_ENOMEM) {
        snprintf(lc->err, lc->errlen, "out of memory");
    }
out:
    free(shown);
    return rc;
}

/* One listing page, its entries added to r; page->next_token says where the
 * next one starts. */
static int list_page(src_remote *r, const char *token, s3_list_page *page, char *err, size_t errlen)
{
    const s3_impl *s = r->impl;
    uint32_t keys = r->cfg.s3_page_keys ? r->cfg.s3_page_keys : S3_PAGE_KEYS_DEFAULT;
    char max_keys[16];
    snprintf(max_keys, sizeof max_keys, "%" PRIu32, keys > 1000 ? 1000 : keys);
    sigv4_param q[4];
    size_t n = 0;
    if (token[0])
        q[n++] = (sigv4_param){"continuation-token", token};
    q[n++] = (sigv4_param){"list-type", "2"};
    q[n++] = (sigv4_param){"max-keys", max_keys};
    if (s->prefix[0])
        q[n++] = (sigv4_param){"prefix", s->prefix};
    s3_req rq = {.method = "GET", .query = q, .nquery = n, .fd = -1, .max_body = S3_LIST_BODY_MAX};
    net_response rs;
    int rc = s3_call(r, &rq, &rs, err, errlen);
    if (rc != SRC_OK)
        return rc;
    if (rs.status != 200) {
        char what[400];
        snprintf(what, sizeof what, "listing %s", s->shown);
        rc = s3_fail(&rs, what, err, errlen);
    } else {
        list_ctx lc = {r, err, errlen};
        char perr[256];
        rc = s3_list_parse(rs.body ? rs.body : "", rs.body_len, on_entry, &lc, page, perr, sizeof perr);
        if (rc == -1) {
            snprintf(err, errlen, "listing %s: %s", s->shown, perr);
            rc = SRC_EUPSTREAM;
        }
    }
    net_response_free(&rs);
    return rc;
}

static int s3_list(src_remote *r, char *err, size_t errlen)
{
    const s3_impl *s = r->impl;
    uint32_t max_pages = r->cfg.max_pages ? r->cfg.max_pages : S3_MAX_PAGES_DEFAULT;
    s3_list_page *page = malloc(sizeof *page);
    char *token = calloc(1, S3_TOKEN_MAX + 1);
    int rc = page && token ? SRC_OK : SRC_ENOMEM;
    for (uint32_t i = 0; rc == SRC_OK; i++) {
        if (i == max_pages) {
            snprintf(err, errlen, "listing %s takes more than %" PRIu32 " pages (the source's limit)", s->shown,
                     max_pages);
            rc = SRC_ELIMIT;
            break;
        }
        rc = list_page(r, token, page, err, errlen);
        if (rc != SRC_OK || !page->truncated)
            break;
        /* a truncated page must say where to go on, and somewhere new */
        if (!page->next_token[0] || strcmp(page->next_token, token) == 0) {
            snprintf(err, errlen, "listing %s: a truncated page without a new NextContinuationToken", s->shown);
            rc = SRC_EUPSTREAM;
            break;
        }
        memcpy(token, page->next_token, sizeof page->next_token);
    }
    free(page);
    free(token);
    return rc;
}

/* ---- one object ---- */

/* HEAD of the URI's key. 1 when it is an object (added), 0 when there is
 * none (*denied set on 403), or an error code. */
static int s3_head(src_remote *r, const char *key, int *denied, char *err, size_t errlen)
{
    const s3_impl *s = r->impl;
    s3_req rq = {.method = "HEAD", .key = key, .fd = -1};
    net_response rs;
    int rc = s3_call(r, &rq, &rs, err, errlen);
    if (rc != SRC_OK)
        return rc;
    if (rs.status == 200 && rs.content_length >= 0) {
        const char *slash = strrchr(key, '/');
        const char *etag = rs.etag && printable_ascii(rs.etag) ? rs.etag : NULL;
        rc = src_add_object(r, slash ? slash + 1 : key, (uint64_t)rs.content_length, etag, NULL);
        if (rc == SRC_OK)
            rc = 1;
        else if (rc == SRC_EINVAL)
            snprintf(err, errlen, "%s: the object's name is not a usable file name", s->shown);
    } else if (rs.status == 200) {
        snprintf(err, errlen, "%s: the HEAD answer has no Content-Length", s->shown);
        rc = SRC_EUPSTREAM;
    } else if (rs.status == 404 || rs.status == 403) {
        *denied = rs.status == 403;
        rc = 0;
    } else {
        rc = s3_fail(&rs, s->shown, err, errlen);
    }
    net_response_free(&rs);
    return rc;
}

/* ---- reading ---- */

static int etag_same(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na >= 2 && a[0] == '"' && a[na - 1] == '"')
        a++, na -= 2;
    if (nb >= 2 && b[0] == '"' && b[nb - 1] == '"')
        b++, nb -= 2;
    return na == nb && memcmp(a, b, na) == 0;
}

/* net_check_read, and the object must still be the one listed. */
static int s3_check_read(const src_object *o, const net_response *rs, uint64_t off, uint64_t len, const char *label,
                         char *err, size_t errlen)
{
    int rc = net_check_read(rs, off, len, o->size, label, err, errlen);
    if (rc == SRC_OK && o->etag && rs->etag && !etag_same(o->etag, rs->etag)) {
        snprintf(err, errlen, "%s changed while it was scanned (its ETag is no longer the listed one)", label);
        rc = SRC_EUPSTREAM;
    }
    return rc;
}

static int s3_read(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen)
{
    const s3_impl *s = r->impl;
    const src_object *o = &r->objs[i];
    if (len == 0)
        return SRC_OK; /* no request: "bytes=N-(N-1)" does not exist */
    char *key = concat(s->prefix, o->path, "");
    char *uri = key ? concat("s3://", s->bucket, "/") : NULL;
    char *full = uri ? concat(uri, key, "") : NULL;
    char *label = full ? printable_dup(full) : NULL;
    s3_req rq = {.method = "GET", .key = key, .off = off, .len = len, .fd = fd, .if_match = o->etag};
    net_response rs;
    int rc = label ? s3_call(r, &rq, &rs, err, errlen) : SRC_ENOMEM;
    if (rc == SRC_OK) {
        if (rs.status == 200 || rs.status == 206) {
            rc = s3_check_read(o, &rs, off, len, label, err, errlen);
        } else if (rs.status == 412) {
            snprintf(err, errlen, "%s changed while it was scanned (its ETag is no longer the listed one)", label);
            rc = SRC_EUPSTREAM;
        } else {
            rc = s3_fail(&rs, label, err, errlen);
        }
        net_response_free(&rs);
    }
    free(label);
    free(full);
    free(uri);
    free(key);
    return rc;
}

/* ---- open ---- */

/* The last non-empty segment of a prefix ("team-a/bert/" -> "bert"), or the bucket. */
static char *model_name(const s3_impl *s)
{
    size_t n = strlen(s->prefix);
    while (n && s->prefix[n - 1] == '/')
        n--;
    size_t start = n;
    while (start && s->prefix[start - 1] != '/')
        start--;
    return n ? strndup(s->prefix + start, n - start) : strdup(s->bucket);
}

/* The model under s->prefix; for a key without a trailing '/', the object
 * itself first. */
static int s3_discover(src_remote *r, s3_impl *s, const char *key, char *err, size_t errlen)
{
    size_t kn = strlen(key);
    int denied = 0;
    if (kn && key[kn - 1] != '/') {
        int rc = s3_head(r, key, &denied, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            const char *slash = strrchr(key, '/');
            s->prefix = strndup(key, slash ? (size_t)(slash - key + 1) : 0);
            r->name = strdup(r->objs[0].path);
            return s->prefix && r->name ? SRC_OK : SRC_ENOMEM;
        }
    }
    s->prefix = kn && key[kn - 1] != '/' ? concat(key, "/", "") : strdup(key);
    if (!s->prefix)
        return SRC_ENOMEM;
    int rc = s3_list(r, err, errlen);
    if (rc == SRC_OK && r->n == 0) {
        if (denied)
            snprintf(err, errlen, "s3://%s/%s: access denied (HTTP 403), and no objects under s3://%s/%s", s->bucket,
                     key, s->bucket, s->prefix);
        else
            snprintf(err, errlen, "no objects under s3://%s/%s", s->bucket, s->prefix);
        rc = denied ? SRC_EDENIED : SRC_ENOTFOUND;
    }
    if (rc == SRC_OK)
        r->name = model_name(s);
    return rc != SRC_OK ? rc : r->name ? SRC_OK : SRC_ENOMEM;
}

int src_s3_open(src_remote *r, const char *uri, char *err, size_t errlen)
{
    if (strncmp(uri, "s3://", 5) != 0)
        return SRC_EINVAL;
    s3_impl *s = calloc(1, sizeof *s);
    char *key = NULL;
    if (!s || !(s->shown = printable_dup(uri))) {
        free(s);
        return SRC_ENOMEM;
    }
    r->impl = s;
    r->free_impl = s3_free;
    r->read = s3_read;
    int rc = parse_uri(s, uri, &key, err, errlen);
    if (rc == SRC_OK)
        rc = endpoint_setup(s, &r->cfg, err, errlen);
    if (rc == SRC_OK)
        rc = s3_discover(r, s, key, err, errlen);
    if (rc == SRC_OK && !(r->ns = strdup(s->bucket)))
        rc = SRC_ENOMEM;
    if (rc == SRC_ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc == SRC_EINVAL) {
        /* the URI was ours but malformed: leave r as it came for the next back-end */
        s3_free(s);
        r->impl = NULL;
        r->free_impl = NULL;
        r->read = NULL;
    }
    free(key);
    return rc;
}
