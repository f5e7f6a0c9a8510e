/*
 * internal.h - what the source back-ends (s3.c, hub.c) share: the remote
 * record they fill, and one libcurl request helper (net.c) with the limits
 * every upstream call needs (timeouts, body caps, no redirects to other
 * hosts, protocols restricted to http/https).
 */
#ifndef MG_SOURCES_INTERNAL_H
#define MG_SOURCES_INTERNAL_H

#include <curl/curl.h>

#include "source.h"

struct src_remote {
    src_config cfg;
    /* back-end */
    int (*read)(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen);
    void (*free_impl)(void *impl);
    void *impl;
    /* identity, malloc'd */
    char *ns, *name, *rev;
    src_object *objs;
    size_t n, cap;
};

/* Back-ends: 0 and r filled, or SRC_EINVAL when the URI is not theirs. */
int src_s3_open(src_remote *r, const char *uri, char *err, size_t errlen);
int src_hub_open(src_remote *r, const char *uri, char *err, size_t errlen);

/* Appends a file (path, etag, sha256 copied). Refuses unsafe paths
 * ("..", absolute, empty segments, NUL) with SRC_EINVAL. */
int src_add_object(src_remote *r, const char *path, uint64_t size, const char *etag, const char *sha256);

/* hub.c: adds the files of one tree page (the JSON array of
 * /api/models/NS/NAME/tree/REV) to r, counting its entries into *entries
 * against max_entries. Exposed for fuzz/fuzz_hub_tree.c. */
int hub_tree_page(src_remote *r, const char *body, size_t len, size_t *entries, size_t max_entries, char *err,
                  size_t errlen);

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

#endif
