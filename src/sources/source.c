/*
 * source.c - the front of the remote sources: dispatch a model URI to its
 * back-end (S3 or hub) and hand out what it listed. Each back-end decides
 * for itself whether a URI is its own, so adding one is one line here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static void remote_free(src_remote *r)
{
    if (!r)
        return;
    if (r->free_impl)
        r->free_impl(r->impl);
    for (size_t i = 0; i < r->n; i++) {
        free(r->objs[i].path);
        free(r->objs[i].etag);
        free(r->objs[i].sha256);
    }
    free(r->objs);
    free(r->ns);
    free(r->name);
    free(r->rev);
    free(r);
}

static int object_cmp(const void *a, const void *b)
{
    return strcmp(((const src_object *)a)->path, ((const src_object *)b)->path);
}

static int has_file(const src_remote *r, const char *path, size_t len)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(r->objs[mid].path, path, len);
        if (c == 0 && r->objs[mid].path[len] == 0)
            return 1;
        if (c < 0) /* equal prefixes: the longer path sorts after `path` */
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* A sorted listing that names one path twice, or a path and a file under
 * it ("a" and "a/b"), cannot be staged as a folder: the path, else NULL. */
static const char *listing_clash(const src_remote *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *p = r->objs[i].path;
        if (i > 0 && strcmp(r->objs[i - 1].path, p) == 0)
            return p;
        for (const char *q = strchr(p, '/'); q; q = strchr(q + 1, '/'))
            if (has_file(r, p, (size_t)(q - p)))
                return p;
    }
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* libcurl's global set-up is not thread-safe: done once, before any request. */
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int src_is_remote(const char *uri)
{
    return strncmp(uri, "s3://", 5) == 0 || strncmp(uri, "hf://", 5) == 0 || strncasecmp(uri, "https://", 8) == 0 ||
           strncasecmp(uri, "http://", 7) == 0;
}

int src_open(src_remote **out, const src_config *cfg, const char *uri, char *err, size_t errlen)
{
    *out = NULL;
    src_remote *r = calloc(1, sizeof *r);
    if (!r)
        return SRC_ENOMEM;
    pthread_once(&curl_once, curl_init);
    r->cfg = *cfg;
    if (!r->cfg.hub_endpoint)
        r->cfg.hub_endpoint = "https://huggingface.co";
    if (!r->cfg.s3_region)
        r->cfg.s3_region = "us-east-1";
    if (r->cfg.timeout_s <= 0)
        r->cfg.timeout_s = 30;
    if (!r->cfg.max_files)
        r->cfg.max_files = 100000;
    static int (*const backends[])(src_remote *, const char *, char *, size_t) = {src_s3_open, src_hub_open};
    int rc = SRC_EINVAL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0] && rc == SRC_EINVAL; i++)
        rc = backends[i](r, uri, err, errlen);
    if (rc == SRC_EINVAL && err && errlen && !err[0])
        snprintf(err, errlen,
                 "unsupported model URI: expected s3://bucket/prefix/, hf://[datasets/|spaces/]ns/name[@rev] or "
                 "%s/[datasets/|spaces/]ns/name",
                 r->cfg.hub_endpoint);
    if (rc != SRC_OK) {
        remote_free(r);
        return rc;
    }
    /* sorted by path: lookups bisect, and two entries with one path are adjacent */
    if (r->n > 1)
        qsort(r->objs, r->n, sizeof *r->objs, object_cmp);
    const char *clash = listing_clash(r);
    if (clash) {
        snprintf(err, errlen, "the source lists `%s` twice, or as a file and a folder", clash);
        remote_free(r);
        return SRC_EUPSTREAM;
    }
    *out = r;
    return SRC_OK;
}

void src_close(src_remote *r)
{
    remote_free(r);
}

const char *src_namespace(const src_remote *r)
{
    return r->ns;
}

const char *src_name(const src_remote *r)
{
    return r->name;
}

const char *src_revision(const src_remote *r)
{
    return r->rev;
}

const char *src_repo_type(const src_remote *r)
{
    return r->repo_type;
}

size_t src_count(const src_remote *r)
{
    return r->n;
}

const src_object *src_object_at(const src_remote *r, size_t i)
{
    return i < r->n ? &r->objs[i] : NULL;
}

int src_read(src_remote *r, size_t i, uint64_t off, uint64_t len, int fd, char *err, size_t errlen)
{
    if (i >= r->n || off > r->objs[i].size || len > r->objs[i].size - off)
        return SRC_EINVAL;
    return r->read(r, i, off, len, fd, err, errlen);
}

/* A path is safe when every '/'-separated segment is non-empty and not "."
 * or "..": staged files are created under a temporary folder by this path. */
static int path_safe(const char *p)
{
    if (!*p || *p == '/')
        return 0;
    for (const char *seg = p; *seg;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        seg += n + (end != NULL);
        if (end && !*seg)
            return 0;
    }
    return 1;
}

int src_add_object(src_remote *r, const char *path, uint64_t size, const char *etag, const char *sha256)
{
    if (!path_safe(path))
        return SRC_EINVAL;
    if (r->n >= r->cfg.max_files)
        return SRC_ELIMIT;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        src_object *o = realloc(r->objs, cap * sizeof *o);
        if (!o)
            return SRC_ENOMEM;
        r->objs = o;
        r->cap = cap;
    }
    src_object *o = &r->objs[r->n];
    o->path = strdup(path);
    o->size = size;
    o->etag = etag ? strdup(etag) : NULL;
    o->sha256 = sha256 ? strdup(sha256) : NULL;
    if (!o->path || (etag && !o->etag) || (sha256 && !o->sha256)) {
        free(o->path);
        free(o->etag);
        free(o->sha256);
        return SRC_ENOMEM;
    }
    r->n++;
    return SRC_OK;
}
