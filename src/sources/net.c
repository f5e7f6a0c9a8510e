/*
 * net.c - one libcurl request with the limits every upstream call needs.
 *
 * Why a wrapper: each source makes the same kind of call (a GET or HEAD, an
 * optional Range, a capped body or a body written straight into a staged
 * file) and must get the same protections: http/https only, redirects never
 * followed (a back-end decides whether a Location stays on its endpoint:
 * SSRF), a timeout, a cap on what is kept in memory, and a ranged answer
 * that is exactly the range asked for.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/lex.h"
#include "internal.h" /* net.h and the SRC_* codes */

typedef struct sink {
    const net_request *rq;
    net_response *rs;
    size_t cap;
    int overflow;
    int checked, bad_range; /* fd mode: the answer's range was checked / was not the one asked for */
    CURL *c;
} sink;

/* Error answers (anything but 200/206) are kept in memory, never written
 * into a staged file. */
static int to_file(sink *s)
{
    long status = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
    return s->rq->fd >= 0 && (status == 200 || status == 206);
}

/* Before the first byte lands in a staged file: a 206 must start and end
 * where the request's range does, and a 200 (the whole file) is only right
 * when the range starts at 0. Anything else would put bytes at the wrong
 * offset of the file the engine judges. */
static int range_matches(sink *s)
{
    long status = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
    const net_request *rq = s->rq;
    if (status == 200)
        return rq->range_off == 0;
    uint64_t first, last, total;
    if (!rq->range_len || !s->rs->content_range || net_content_range(s->rs->content_range, &first, &last, &total))
        return 0;
    return first == rq->range_off && last == rq->range_off + rq->range_len - 1;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    size_t len = size * n;
    net_response *rs = s->rs;
    if (to_file(s)) {
        if (!s->checked) {
            s->checked = 1;
            s->bad_range = !range_matches(s);
        }
        if (s->bad_range)
            return 0;
        /* only a 206 (or a 200 for a whole-file read) carries the bytes we asked for */
        if (rs->written + len > (s->rq->range_len ? s->rq->range_len : UINT64_MAX)) {
            s->overflow = 1;
            return 0;
        }
        for (size_t done = 0; done < len;) {
            ssize_t w = pwrite(s->rq->fd, p + done, len - done, (off_t)(s->rq->range_off + rs->written + done));
            if (w <= 0)
                return 0;
            done += (size_t)w;
        }
        rs->written += len;
        if (s->rq->on_data && s->rq->on_data(s->rq->on_data_arg, p, len) != 0)
            return 0;
        return len;
    }
    if (rs->body_len + len > s->cap) {
        s->overflow = 1;
        return 0;
    }
    char *b = realloc(rs->body, rs->body_len + len + 1);
    if (!b)
        return 0;
    memcpy(b + rs->body_len, p, len);
    rs->body = b;
    rs->body_len += len;
    b[rs->body_len] = 0;
    return len;
}

/* Copies a header value without surrounding blanks, CR/LF and quotes. */
static char *header_value(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    return strndup(v, n);
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    *val = line + k + 1;
    *vlen = n - k - 1;
    return 1;
}

/* Link: <url>; rel="next" (the hub's tree pagination). */
static char *link_next(const char *v, size_t n)
{
    char *s = strndup(v, n);
    char *out = NULL;
    for (char *p = s; s && p && !out; p = strchr(p + 1, '<')) {
        p = strchr(p, '<');
        if (!p)
            break;
        char *end = strchr(p, '>');
        if (!end)
            break;
        const char *rest = end + 1, *next_lt = strchr(rest, '<');
        const char *rel = strstr(rest, "rel=\"next\"");
        if (rel && (!next_lt || rel < next_lt))
            out = strndup(p + 1, (size_t)(end - p - 1));
    }
    free(s);
    return out;
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    net_response *rs = ((sink *)ctx)->rs;
    size_t len = size * n;
    const char *v;
    size_t vl;
    char **slot = NULL;
    if (header_is(line, len, "Location", &v, &vl))
        slot = &rs->location;
    else if (header_is(line, len, "ETag", &v, &vl))
        slot = &rs->etag;
    else if (header_is(line, len, "X-Repo-Commit", &v, &vl))
        slot = &rs->repo_commit;
    else if (header_is(line, len, "X-Linked-Etag", &v, &vl))
        slot = &rs->linked_etag;
    else if (header_is(line, len, "Content-Range", &v, &vl))
        slot = &rs->content_range;
    else if (header_is(line, len, "X-Error-Code", &v, &vl))
        slot = &rs->error_code;
    else if (header_is(line, len, "X-Error-Message", &v, &vl))
        slot = &rs->error_message;
    else if (header_is(line, len, "Content-Type", &v, &vl))
        slot = &rs->content_type;
    else if (header_is(line, len, "Retry-After", &v, &vl))
        slot = &rs->retry_after;
    else if (header_is(line, len, "X-Linked-Size", &v, &vl)) {
        char *t = header_value(v, vl);
        rs->linked_size = t ? strtoull(t, NULL, 10) : 0;
        free(t);
    } else if (header_is(line, len, "Link", &v, &vl)) {
        char *next = link_next(v, vl);
        if (next) {
            free(rs->link_next);
            rs->link_next = next;
        }
    }
    if (slot) {
        free(*slot);
        *slot = header_value(v, vl);
    }
    return len;
}

/* Aborts a transfer whose caller set rq->cancel. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const net_request *rq = ((sink *)ctx)->rq;
    return rq->cancel && *rq->cancel ? 1 : 0;
}

int net_perform(const net_request *rq, net_response *rs, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "could not start an HTTP client");
        return SRC_ENOMEM;
    }
    sink s = {rq, rs, rq->fd >= 0 ? (64u << 10) : rq->max_body ? rq->max_body : (1u << 20), 0, 0, 0, c};
    char range[64];
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long timeout = rq->timeout_s > 0 ? rq->timeout_s : 30L;
    if (rq->fd >= 0) { /* a large read may take long: it must only keep moving */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
    } else {
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    }
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL); /* identity: byte ranges mean file bytes */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    if (rq->headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, rq->headers);
    if (rq->method && strcmp(rq->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (rq->method && strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->post_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->post_body ? rq->post_body : "");
    }
    if (rq->fd >= 0) /* fewer, larger writes for whole-file reads */
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L << 10);
    if (rq->cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (rq->range_len) {
        snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, rq->range_off, rq->range_off + rq->range_len - 1);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    if (rq->aws_sigv4) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, rq->aws_sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, rq->userpwd);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    curl_off_t length = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    rs->content_length = length;
    curl_easy_cleanup(c);
    if (s.bad_range) {
        snprintf(err, errlen, "%s answered a different byte range than asked for", rq->url);
        net_response_free(rs);
        return SRC_EUPSTREAM;
    }
    if (s.overflow) {
        snprintf(err, errlen, "%s answered more bytes than asked for", rq->url);
        net_response_free(rs);
        return SRC_EUPSTREAM;
    }
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", rq->url, curl_easy_strerror(cc));
        net_response_free(rs);
        return SRC_EUPSTREAM;
    }
    return SRC_OK;
}

void net_response_free(net_response *rs)
{
    free(rs->body);
    free(rs->location);
    free(rs->link_next);
    free(rs->etag);
    free(rs->repo_commit);
    free(rs->linked_etag);
    free(rs->content_range);
    free(rs->error_code);
    free(rs->error_message);
    free(rs->content_type);
    free(rs->retry_after);
    memset(rs, 0, sizeof *rs);
}

int net_check_read(const net_response *rs, uint64_t off, uint64_t len, uint64_t size, const char *what, char *err,
                   size_t errlen)
{
    uint64_t first, last, total;
    if (rs->status == 206) {
        if (!rs->content_range || net_content_range(rs->content_range, &first, &last, &total) || first != off ||
            last != off + len - 1) {
            snprintf(err, errlen,
                     "%s: the answer's Content-Range `%.80s` is not the range asked for (bytes %" PRIu64 "-%" PRIu64
                     ")",
                     what, rs->content_range ? rs->content_range : "", off, off + len - 1);
            return SRC_EUPSTREAM;
        }
        if (total != size) {
            snprintf(err, errlen, "%s changed while it was scanned (size %" PRIu64 ", listed %" PRIu64 ")", what, total,
                     size);
            return SRC_EUPSTREAM;
        }
    } else if (rs->status != 200 || off != 0 || len != size) {
        snprintf(err, errlen, "%s: the whole file came back for a byte range", what);
        return SRC_EUPSTREAM;
    }
    if (rs->written != len) {
        snprintf(err, errlen, "%s: %" PRIu64 " bytes came back, %" PRIu64 " were asked for", what, rs->written, len);
        return SRC_EUPSTREAM;
    }
    return SRC_OK;
}

int net_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total)
{
    if (strncasecmp(v, "bytes ", 6) != 0)
        return -1;
    const char *p = v + 6;
    if (lex_u64(&p, first) || *p++ != '-' || lex_u64(&p, last) || *p++ != '/')
        return -1;
    if (p[0] == '*' && !p[1])
        *total = UINT64_MAX;
    else if (lex_u64(&p, total) || *p)
        return -1;
    return *first <= *last && *last < *total ? 0 : -1;
}

/* ---- redirects ---- */

typedef struct net_origin {
    char *scheme, *host, *port; /* curl_free'd */
} net_origin;

static void origin_clear(net_origin *o)
{
    curl_free(o->scheme);
    curl_free(o->host);
    curl_free(o->port);
    memset(o, 0, sizeof *o);
}

/* The origin of `url` (resolved against `base` when relative) as libcurl
 * will connect to it; *abs gets the absolute URL (curl_free). */
static int origin_parse(const char *base, const char *url, net_origin *o, char **abs)
{
    CURLU *u = curl_url();
    int rc = -1;
    memset(o, 0, sizeof *o);
    if (u && (!base || curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK) &&
        curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &o->host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, abs, 0) == CURLUE_OK) {
        char *user = NULL;
        rc = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ? -1 : 0; /* no user names: no Basic auth */
        curl_free(user);
    }
    if (rc != 0)
        origin_clear(o);
    curl_url_cleanup(u);
    return rc;
}

static int origin_equal(const net_origin *a, const net_origin *b)
{
    return strcasecmp(a->scheme, b->scheme) == 0 && strcasecmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

static int is_http(const char *scheme)
{
    return strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
}

int net_is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

int net_same_origin(const char *a, const char *b)
{
    net_origin oa, ob;
    char *ua = NULL, *ub = NULL;
    int same = origin_parse(NULL, a, &oa, &ua) == 0 && origin_parse(NULL, b, &ob, &ub) == 0 && origin_equal(&oa, &ob);
    if (ua)
        origin_clear(&oa);
    if (ub)
        origin_clear(&ob);
    curl_free(ua);
    curl_free(ub);
    return same;
}

/* Headers of one hop: the caller's, plus `auth` while on the home origin. */
static struct curl_slist *hop_headers(const struct curl_slist *base, const char *auth)
{
    struct curl_slist *hd = NULL, *t;
    for (const struct curl_slist *p = base; p; p = p->next) {
        if (!(t = curl_slist_append(hd, p->data)))
            goto fail;
        hd = t;
    }
    if (auth) {
        if (!(t = curl_slist_append(hd, auth)))
            goto fail;
        hd = t;
    }
    return hd;
fail:
    curl_slist_free_all(hd);
    return NULL;
}

int net_follow(const net_request *rq0, const char *auth, int max_hops, int same_origin, net_response *rs, char *err,
               size_t errlen)
{
    net_request rq = *rq0;
    net_origin home, cur_o;
    char *cur = NULL;
    memset(rs, 0, sizeof *rs);
    if (origin_parse(NULL, rq0->url, &home, &cur) != 0 || !is_http(home.scheme)) {
        if (cur)
            origin_clear(&home);
        curl_free(cur);
        snprintf(err, errlen, "%s is not an http(s) URL", rq0->url);
        return SRC_EUPSTREAM;
    }
    char *dummy = NULL;
    origin_parse(NULL, cur, &cur_o, &dummy);
    curl_free(dummy);
    int rc = SRC_ENOMEM;
    for (int hop = 0;; hop++) {
        const char *hop_auth = auth && origin_equal(&cur_o, &home) ? auth : NULL;
        struct curl_slist *hd = hop_headers(rq0->headers, hop_auth);
        if (!hd && (rq0->headers || hop_auth)) {
            rc = SRC_ENOMEM;
            break;
        }
        rq.url = cur;
        rq.headers = hd;
        rc = net_perform(&rq, rs, err, errlen);
        curl_slist_free_all(hd);
        if (rc != SRC_OK || !net_is_redirect(rs->status))
            break;
        rc = SRC_EUPSTREAM;
        if (hop == max_hops || !rs->location) {
            snprintf(err, errlen, "%s: %s", rq0->url,
                     rs->location ? "too many redirects" : "a redirect without Location");
            break;
        }
        net_origin next_o;
        char *next = NULL;
        int https_before = strcasecmp(cur_o.scheme, "https") == 0;
        if (origin_parse(cur, rs->location, &next_o, &next) != 0 || !is_http(next_o.scheme) ||
            (https_before && strcasecmp(next_o.scheme, "https") != 0)) {
            if (next)
                origin_clear(&next_o);
            curl_free(next);
            snprintf(err, errlen, "%s redirected to a URL that is refused (only http(s), never https to http)",
                     rq0->url);
            break;
        }
        if (same_origin && !origin_equal(&next_o, &home)) {
            snprintf(err, errlen, "%s redirected to %s://%s:%s: refused (only %s://%s:%s is contacted)", rq0->url,
                     next_o.scheme, next_o.host, next_o.port, home.scheme, home.host, home.port);
            origin_clear(&next_o);
            curl_free(next);
            break;
        }
        origin_clear(&cur_o);
        cur_o = next_o;
        curl_free(cur);
        cur = next;
        net_response_free(rs);
    }
    if (rc != SRC_OK)
        net_response_free(rs);
    origin_clear(&home);
    origin_clear(&cur_o);
    curl_free(cur);
    return rc;
}
