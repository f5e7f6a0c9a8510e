/*
 * internal.h - what the source back-ends (s3.c, hub.c) share: the remote
 * record they fill, and one libcurl request helper (net.c) with the limits
 * every upstream call needs (net.h).
 */
#ifndef MG_SOURCES_INTERNAL_H
#define MG_SOURCES_INTERNAL_H

#include <curl/curl.h>

#include "net.h"
#include "source.h"

struct src_remote {
    src_config cfg;
    /* back-end */
    int (*read)(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen);
    void (*free_impl)(void *impl);
    void *impl;
    /* identity, malloc'd */
    char *ns, *name, *rev;
    const char *repo_type; /* hub: "model", "dataset" or "space" (static); S3: NULL */
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
 * /api/TYPE/REPO/tree/REV) to r, counting its entries into *entries
 * against max_entries. Exposed for fuzz/fuzz_hub_tree.c. */
int hub_tree_page(src_remote *r, const char *body, size_t len, size_t *entries, size_t max_entries, char *err,
                  size_t errlen);

#endif
