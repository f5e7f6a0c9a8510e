/*
 * blobs.c - the gateway's content-addressed blob cache: DIR/sha256-<hex>
 * for LFS files, DIR/git-<hex> for files kept in git (their git blob id).
 *
 * A file is downloaded from upstream once per digest, however many clients
 * want it at once: the first request starts a fill (a thread writing a
 * temporary file), every request reads that file as it grows, and the
 * fill hashes the bytes as they arrive. Only when the digest matches the
 * one upstream stated for the scanned commit is the last byte released and
 * the file renamed into the cache, so a client either gets the verified
 * bytes or a transfer that breaks before its end (a mismatch, a download
 * error). Later requests get the file from disk (sendfile), which makes the
 * bytes served the bytes scanned even if upstream changes its answer.
 *
 * The cache keeps at most max_bytes of complete files and evicts the least
 * recently served. A blob larger than that is streamed and not kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gw.h"
#include "util/banned.h"

enum { KEY_MAX = 80 };

typedef struct blob_entry {
    char key[KEY_MAX];
    uint64_t size, last_use;
} blob_entry;

struct blob_fill {
    gw_blobs *b;
    int refs; /* under b->mu */
    char key[KEY_MAX];
    uint64_t size;
    int fd;
    char tmp[4200];
    uint64_t have;   /* bytes written, under b->mu */
    uint64_t hashed; /* bytes hashed, under b->mu */
    int fetched;     /* the download ended: 1 complete, -1 failed; under b->mu */
    int waiters;     /* threads waiting on cond: wake-ups are only sent to someone */
    int state;       /* 0 running, 1 verified, -1 failed; under b->mu */
    pthread_cond_t cond;
    /* the download */
    const gw_upstream *up;
    gw_type type;
    char *repo, *commit, *file, *auth;
    EVP_MD_CTX *md;
    const unsigned char *map; /* the file, mapped for the hasher */
    blob_fill *next;
};

struct gw_blobs {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when a fill thread ends */
    char *dir;
    uint64_t max, total, seq;
    blob_entry *ents;
    size_t n, cap;
    blob_fill *fills;
    size_t running;
    volatile int stopping;
};

static int key_ok(const char *k)
{
    const char *hex = NULL;
    size_t want = 0;
    if (strncmp(k, "sha256-", 7) == 0)
        hex = k + 7, want = 64;
    else if (strncmp(k, "git-", 4) == 0)
        hex = k + 4, want = 40;
    if (!hex || strlen(hex) != want)
        return 0;
    for (const char *p = hex; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static blob_entry *find_entry(gw_blobs *b, const char *key)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->ents[i].key, key) == 0)
            return &b->ents[i];
    return NULL;
}

static void drop_entry(gw_blobs *b, blob_entry *e)
{
    b->total -= e->size;
    *e = b->ents[--b->n];
}

static int add_entry(gw_blobs *b, const char *key, uint64_t size, uint64_t last_use)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        blob_entry *e = realloc(b->ents, cap * sizeof *e);
        if (!e)
            return -1;
        b->ents = e;
        b->cap = cap;
    }
    blob_entry *e = &b->ents[b->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->size = size;
    e->last_use = last_use;
    b->total += size;
    return 0;
}

/* Removes the least recently served files until the cache fits. */
static void evict(gw_blobs *b)
{
    while (b->total > b->max && b->n) {
        size_t old = 0;
        for (size_t i = 1; i < b->n; i++)
            if (b->ents[i].last_use < b->ents[old].last_use)
                old = i;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", b->dir, b->ents[old].key);
        unlink(path); /* a reader with the file open keeps its bytes */
        drop_entry(b, &b->ents[old]);
    }
}

/* What an earlier process left: complete files are kept (they were
 * verified before they got their name), unfinished fills removed. */
static int load_dir(gw_blobs *b)
{
    DIR *d = opendir(b->dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' && strncmp(de->d_name, ".fill-", 6) != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!key_ok(de->d_name)) {
            if (strncmp(de->d_name, ".fill-", 6) == 0)
                unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        uint64_t t = (uint64_t)st.st_mtime;
        if (add_entry(b, de->d_name, (uint64_t)st.st_size, t) != 0)
            break;
        if (t > b->seq)
            b->seq = t;
    }
    closedir(d);
    evict(b);
    return 0;
}

int blobs_new(gw_blobs **out, const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
    gw_blobs *b = calloc(1, sizeof *b);
    *out = NULL;
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->max = max_bytes;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->idle, NULL);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || load_dir(b) != 0) {
        snprintf(err, errlen, "the blob cache %s cannot be used: %s", dir, strerror(errno));
        blobs_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

static void fill_unref_locked(blob_fill *f)
{
    if (--f->refs > 0)
        return;
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    pthread_cond_destroy(&f->cond);
    EVP_MD_CTX_free(f->md);
    free(f->repo);
    free(f->commit);
    free(f->file);
    free(f->auth);
    free(f);
}

void blob_fill_release(blob_fill *f)
{
    if (!f)
        return;
    gw_blobs *b = f->b;
    pthread_mutex_lock(&b->mu);
    fill_unref_locked(f);
    pthread_mutex_unlock(&b->mu);
}

void blobs_abort(gw_blobs *b)
{
    pthread_mutex_lock(&b->mu);
    b->stopping = 1; /* curl's progress callback sees it and aborts */
    pthread_mutex_unlock(&b->mu);
}

void blobs_free(gw_blobs *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1; /* curl's progress callback sees it and aborts */
    while (b->running)
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->idle);
    free(b->ents);
    free(b->dir);
    free(b);
}

void blobs_stats(gw_blobs *b, uint64_t *bytes, size_t *count)
{
    pthread_mutex_lock(&b->mu);
    *bytes = b->total;
    *count = b->n;
    pthread_mutex_unlock(&b->mu);
}

/* ---- fills ---- */

/* Waits on the fill's condition, counted so that on_data only wakes
 * threads when someone waits. Called with b->mu held. */
static void fill_wait(blob_fill *f)
{
    f->waiters++;
    pthread_cond_wait(&f->cond, &f->b->mu);
    f->waiters--;
}

/* curl's thread: the bytes are in the file; readers and the hasher may go on. */
static int on_data(void *arg, const char *p, size_t n)
{
    blob_fill *f = arg;
    pthread_mutex_lock(&f->b->mu);
    f->have += n;
    if (f->waiters)
        pthread_cond_broadcast(&f->cond);
    int stop = f->b->stopping;
    pthread_mutex_unlock(&f->b->mu);
    return stop ? -1 : 0;
}

/* The hasher: digests the file from its mapping as it grows, on its own
 * thread, so receiving, writing and hashing run side by side on two cores
 * instead of one after another (SHA-256 alone is ~1.8 GB/s per core). */
static void *hash_main(void *arg)
{
    blob_fill *f = arg;
    gw_blobs *b = f->b;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (f->hashed == f->have && !f->fetched && !b->stopping)
            fill_wait(f);
        uint64_t from = f->hashed, to = f->have;
        if (from == to && (f->fetched || b->stopping))
            break;
        pthread_mutex_unlock(&b->mu);
        int ok = EVP_DigestUpdate(f->md, f->map + from, (size_t)(to - from)) == 1;
        pthread_mutex_lock(&b->mu);
        if (!ok)
            break;
        f->hashed = to;
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* The digest of what arrived against the key. */
static int digest_matches(blob_fill *f)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (EVP_DigestFinal_ex(f->md, md, &len) != 1)
        return 0;
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    const char *want = strchr(f->key, '-') + 1;
    return strlen(want) == 2 * (size_t)len && strcmp(hex, want) == 0;
}

/* Downloads and checks the file; 0 when it is the one the key names. */
static int fetch(blob_fill *f)
{
    char err[512];
    net_response rs;
    pthread_t hasher;
    int hashing = f->size == 0 || pthread_create(&hasher, NULL, hash_main, f) == 0;
    int rc = hashing ? up_fetch(f->up, f->type, f->repo, f->commit, f->file, f->auth, f->fd, on_data, f,
                                &f->b->stopping, &rs, err, sizeof err)
                     : SRC_ENOMEM;
    if (!hashing)
        memset(&rs, 0, sizeof rs), snprintf(err, sizeof err, "no thread to hash it");
    pthread_mutex_lock(&f->b->mu);
    f->fetched = rc == SRC_OK ? 1 : -1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->b->mu);
    if (hashing && f->size)
        pthread_join(hasher, NULL);
    if (rc == SRC_OK && rs.status != 200) {
        snprintf(err, sizeof err, "upstream answered %ld", rs.status);
        rc = SRC_EUPSTREAM;
    } else if (rc == SRC_OK && rs.written != f->size) {
        snprintf(err, sizeof err, "%" PRIu64 " bytes arrived, %" PRIu64 " were announced", rs.written, f->size);
        rc = SRC_EUPSTREAM;
    } else if (rc == SRC_OK && (f->hashed != f->size || !digest_matches(f))) {
        snprintf(err, sizeof err, "the bytes do not match their digest %s", f->key);
        rc = SRC_EUPSTREAM;
    }
    net_response_free(&rs);
    if (rc != SRC_OK)
        fprintf(stderr, "modelgate: gateway: download of %s `%s` at %.12s refused: %s\n", f->repo, f->file, f->commit,
                err);
    return rc == SRC_OK ? 0 : -1;
}

static void *fill_main(void *arg)
{
    blob_fill *f = arg;
    gw_blobs *b = f->b;
    int ok = fetch(f) == 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", b->dir, f->key);
    pthread_mutex_lock(&b->mu);
    int keep = ok && f->size <= b->max && !find_entry(b, f->key);
    if (keep && (rename(f->tmp, path) != 0 || add_entry(b, f->key, f->size, ++b->seq) != 0))
        keep = 0;
    if (!keep)
        unlink(f->tmp);
    evict(b);
    f->state = ok ? 1 : -1;
    pthread_cond_broadcast(&f->cond);
    for (blob_fill **p = &b->fills; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    fill_unref_locked(f);
    b->running--;
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static blob_fill *fill_new(gw_blobs *b, const char *key, uint64_t size, const blob_origin *o)
{
    blob_fill *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->b = b;
    f->fd = -1;
    f->refs = 2; /* the thread and the caller */
    f->size = size;
    f->up = o->up;
    f->type = o->type;
    snprintf(f->key, sizeof f->key, "%s", key);
    snprintf(f->tmp, sizeof f->tmp, "%s/.fill-%s-XXXXXX", b->dir, key);
    pthread_cond_init(&f->cond, NULL);
    f->repo = strdup(o->repo);
    f->commit = strdup(o->commit);
    f->file = strdup(o->file);
    f->auth = o->auth ? strdup(o->auth) : NULL;
    f->md = EVP_MD_CTX_new();
    int git = strncmp(key, "git-", 4) == 0;
    if (!f->repo || !f->commit || !f->file || (o->auth && !f->auth) || !f->md ||
        EVP_DigestInit_ex(f->md, git ? EVP_sha1() : EVP_sha256(), NULL) != 1 || (f->fd = mkstemp(f->tmp)) < 0) {
        f->refs = 1;
        fill_unref_locked(f);
        return NULL;
    }
    /* the whole size at once: fewer allocations while writing, and the
     * hasher maps it once; a full disk fails here, not halfway */
    void *map = MAP_FAILED;
    if (size && (size > SIZE_MAX || posix_fallocate(f->fd, 0, (off_t)size) != 0 ||
                 (map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0)) == MAP_FAILED)) {
        unlink(f->tmp);
        f->refs = 1;
        fill_unref_locked(f);
        return NULL;
    }
    f->map = map == MAP_FAILED ? NULL : map;
    if (git) { /* a git blob id hashes "blob <size>\0" before the bytes */
        char hdr[40];
        int n = snprintf(hdr, sizeof hdr, "blob %" PRIu64, size);
        EVP_DigestUpdate(f->md, hdr, (size_t)n + 1);
    }
    return f;
}

int blobs_open(gw_blobs *b, const char *key, uint64_t size, const blob_origin *o, int *fd, blob_fill **fill, char *err,
               size_t errlen)
{
    *fd = -1;
    *fill = NULL;
    if (!key_ok(key)) {
        snprintf(err, errlen, "upstream gave no usable digest for this file");
        return -1;
    }
    pthread_mutex_lock(&b->mu);
    blob_entry *e = find_entry(b, key);
    if (e) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", b->dir, key);
        int d = e->size == size ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (d >= 0) {
            e->last_use = ++b->seq;
            pthread_mutex_unlock(&b->mu);
            *fd = d;
            return 0;
        }
        drop_entry(b, e); /* gone or not the size announced: fetch it again */
    }
    for (blob_fill *f = b->fills; f; f = f->next)
        if (strcmp(f->key, key) == 0 && f->state == 0 && f->size == size) {
            f->refs++;
            *fill = f;
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
    blob_fill *f = b->stopping ? NULL : fill_new(b, key, size, o);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (f && pthread_create(&t, &at, fill_main, f) != 0) {
        unlink(f->tmp);
        f->refs = 1;
        fill_unref_locked(f);
        f = NULL;
    }
    pthread_attr_destroy(&at);
    if (f) {
        f->next = b->fills;
        b->fills = f;
        b->running++;
        *fill = f;
    }
    pthread_mutex_unlock(&b->mu);
    if (!f)
        snprintf(err, errlen, "the download could not be started");
    return f ? 0 : -1;
}

ssize_t blob_fill_read(blob_fill *f, uint64_t pos, char *buf, size_t n, int verified_only)
{
    gw_blobs *b = f->b;
    pthread_mutex_lock(&b->mu);
    /* the last byte waits for the digest check: a client never completes a
     * transfer of bytes that turn out to be wrong; a range that ends before
     * the last byte waits for the check as a whole */
    for (;;) {
        uint64_t held = f->size ? f->size - 1 : 0;
        uint64_t limit = f->state == 1 ? f->size : verified_only ? 0 : (f->have < held ? f->have : held);
        if (f->state < 0) {
            pthread_mutex_unlock(&b->mu);
            return -1;
        }
        if (pos >= f->size && f->state == 1) {
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
        if (pos < limit) {
            if (n > limit - pos)
                n = (size_t)(limit - pos);
            break;
        }
        fill_wait(f);
    }
    pthread_mutex_unlock(&b->mu);
    ssize_t r = pread(f->fd, buf, n, (off_t)pos);
    return r > 0 ? r : -1;
}
