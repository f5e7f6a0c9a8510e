/*
 * net.h - one libcurl request with the limits every upstream call needs
 * (net.c): timeouts, body caps, redirects never followed (the caller decides
 * whether a Location stays on its endpoint: SSRF), protocols restricted to
 * http/https. Used by the sources (s3.c, hub.c) and by the gateway
 * (src/gateway), which proxies the same hubs.
 */
#ifndef MG_SOURCES_NET_H
#define MG_SOURCES_NET_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h" /* the SRC_* codes */

/* One HTTP request. */
typedef struct net_request {
    const char *method; /* "GET" (default) or "HEAD" */
    const char *url;
    struct curl_slist *headers;    /* borrowed */
    uint64_t range_off, range_len; /* range_len 0: no Range header */
    size_t max_body;               /* in-memory body cap (ignored when fd >= 0) */
    int fd;                        /* >= 0: body pwrite()n at range_off of fd */
    long timeout_s;
    const char *aws_sigv4; /* CURLOPT_AWS_SIGV4 value, or NULL */
    const char *userpwd;   /* with aws_sigv4 */
    /* a POST body (method "POST"), sent as given */
    const char *post_body;
    size_t post_len;
    /* fd mode: called with every chunk after it was written (the gateway
     * hashes and hands out bytes while they arrive); non-zero aborts */
    int (*on_data)(void *arg, const char *p, size_t n);
    void *on_data_arg;
    /* set non-zero from another thread to abort the transfer (shutdown) */
    const volatile int *cancel;
} net_request;

typedef struct net_response {
    long status;
    char *body; /* malloc'd, NUL-terminated (in-memory mode) */
    size_t body_len;
    uint64_t written; /* fd mode: bytes written */
    char *location;   /* Location header or NULL */
    char *link_next;  /* Link: <url>; rel="next" target, or NULL */
    char *etag, *repo_commit, *linked_etag, *content_range;
    char *error_code, *error_message; /* the hub's X-Error-Code / X-Error-Message, or NULL */
    char *content_type;               /* Content-Type, or NULL */
    char *retry_after;                /* Retry-After, or NULL */
    uint64_t linked_size;             /* X-Linked-Size, 0 if absent */
    int64_t content_length;           /* Content-Length (also of a HEAD answer), -1 if absent */
} net_response;

/* Performs the request (never follows redirects). 0 when a response came
 * (any status), SRC_EUPSTREAM with `err` set when none did or the body broke
 * a cap. */
int net_perform(const net_request *rq, net_response *rs, char *err, size_t errlen);
void net_response_free(net_response *rs);

/* A ranged read into a staged file (fd mode) answered 200 or 206: checks it
 * holds exactly [off, off+len) of a file whose listed size is `size` (a 206
 * with that Content-Range, or a 200 when the whole file was asked for) and
 * that every byte was written. A total other than `size` means the file
 * changed since it was listed. `what` names the file in `err`. */
int net_check_read(const net_response *rs, uint64_t off, uint64_t len, uint64_t size, const char *what, char *err,
                   size_t errlen);

/* Parses a Content-Range value "bytes FIRST-LAST/TOTAL" (TOTAL may be "*":
 * UINT64_MAX). 0 when well-formed with FIRST <= LAST < TOTAL, else -1. */
int net_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total);

/* 1 for the statuses that carry a Location to follow (301 302 303 307 308). */
int net_is_redirect(long status);
/* 1 when two absolute URLs share scheme, host and port. */
int net_same_origin(const char *a, const char *b);
/* Performs rq (GET or HEAD) and follows at most `max_hops` redirects
 * itself: http(s) only, never from https to http, no user names; with
 * `same_origin`, never off the origin of rq->url (an API call). `auth` (a
 * whole header line, or NULL) is sent only while the request is on the
 * origin of rq->url: a CDN on another host never sees the token. *rs holds
 * the last answer. */
int net_follow(const net_request *rq, const char *auth, int max_hops, int same_origin, net_response *rs, char *err,
               size_t errlen);

#endif
