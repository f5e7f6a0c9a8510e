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

#include "internal.h"

typedef struct sink {
    const net_request *rq;
    net_response *rs;
    size_t cap;
    int overflow;
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

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    size_t len = size * n;
    net_response *rs = s->rs;
    if (to_file(s)) {
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

int net_perform(const net_request *rq, net_response *rs, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "could not start an HTTP client");
        return SRC_ENOMEM;
    }
    sink s = {rq, rs, rq->fd >= 0 ? (64u << 10) : rq->max_body ? rq->max_body : (1u << 20), 0, c};
    char range[64];
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, rq->timeout_s > 0 ? rq->timeout_s : 30L);
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
    curl_easy_cleanup(c);
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
    memset(rs, 0, sizeof *rs);
}
