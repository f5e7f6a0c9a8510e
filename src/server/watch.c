/*
 * watch.c - watched models: a local folder (or file) under a root, or an
 * s3:// prefix, scanned again whenever its files change, so a model
 * "fine-tuned internally" after it was approved is judged again, and
 * "Model Is Unchanged Since Approval" names the file that changed.
 *
 * A thread looks at every watched model once per interval and takes a
 * fingerprint of its listing, never of its content (a look must stay cheap
 * for models of many gigabytes): SHA-256 over the entries sorted by path,
 * each its path, size and, for a local file, mtime and ctime in
 * nanoseconds (ctime because no program can set it back: a copy that
 * keeps the old mtime, `cp -p` or `rsync -a`, still shows), or, for an S3
 * object, its ETag. A fingerprint that differs from the previous one
 * queues a scan on the pool's background queue, the path re-evaluations
 * take (rescan.c): it waits behind user scans, and job.c reports a verdict
 * that differs from the model's previous one (log line, counter, webhook).
 * One scan per model at a time: while it runs, the model is not looked at.
 *
 * Fingerprints live in memory only. At start, a model is scanned when the
 * store has no finished scan of its URI, when that scan was ERROR, or when
 * it cannot tell whether the files changed since: for a local model, when
 * some file or folder has a ctime after that scan was accepted (less a
 * second, for file systems whose clock is coarse); an S3 listing has no
 * such time, so a watched prefix is always scanned once at start.
 *
 * A listing that fails (a folder gone or out of the roots, S3 unreachable,
 * more files than WATCH_MAX_FILES) is logged once and tried again every
 * interval; it is never fatal. A scan that ends ERROR is tried again at the
 * next look, WATCH_RETRIES times, then only when the listing changes.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/stamp.h"
#include "api.h"

enum {
    WATCH_MAX_FILES = 100000, /* entries of one local model listing */
    WATCH_MAX_DEPTH = 64,     /* folder nesting, as the scanner's walk */
    WATCH_RETRIES = 3,        /* scans in a row that may end ERROR before the watcher waits for a change */
};

typedef struct watched {
    char *uri;
    int is_s3;
    unsigned char fp[32];
    int have_fp;   /* 0: the first look (at start, or a retry after ERROR) */
    int retries;   /* scans in a row that ended ERROR */
    srv_job *job;  /* the scan in flight, or NULL */
    char err[256]; /* the listing failure last logged, "" when listing works */
} watched;

struct srv_watch {
    const srv_ctx *ctx;
    watched *models;
    size_t n;
    unsigned interval_s;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop */
    int stop, started;
    pthread_t thread;
};

/* ---- listings ---- */

typedef struct entry {
    char *path;  /* relative to the model, "" for a watched file */
    char *extra; /* S3 ETag, or the text of a symbolic link; may be NULL */
    uint64_t size;
    int64_t mtime_ns, ctime_ns;
} entry;

typedef struct listing {
    entry *e;
    size_t n, cap;
    int64_t newest_ctime_ns; /* local: the newest ctime of a file or folder */
    char *err;
    size_t errlen;
} listing;

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].extra);
    }
    free(l->e);
    l->e = NULL;
    l->n = l->cap = 0;
}

static int64_t ns_of(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Adds one entry (path and extra copied); -1 with the error set. */
static int add_entry(listing *l, const char *path, const char *extra, uint64_t size, int64_t mtime_ns, int64_t ctime_ns)
{
    if (l->n == WATCH_MAX_FILES) {
        snprintf(l->err, l->errlen, "more than %d files: too many to watch", WATCH_MAX_FILES);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        entry *e = realloc(l->e, cap * sizeof *e);
        if (!e)
            goto oom;
        l->e = e;
        l->cap = cap;
    }
    entry *e = &l->e[l->n];
    e->path = strdup(path);
    e->extra = extra ? strdup(extra) : NULL;
    e->size = size;
    e->mtime_ns = mtime_ns;
    e->ctime_ns = ctime_ns;
    l->n++;
    if (e->path && (!extra || e->extra))
        return 0;
oom:
    snprintf(l->err, l->errlen, "out of memory");
    return -1;
}

static void saw_ctime(listing *l, const struct stat *st)
{
    if (ns_of(st->st_ctim) > l->newest_ctime_ns)
        l->newest_ctime_ns = ns_of(st->st_ctim);
}

/* A symbolic link, as the scanner sees it: the file it leads to (the scan
 * reads that one), and the link's text, so re-pointing it shows. */
static int add_link(listing *l, const char *fs, const char *rel, const struct stat *lst)
{
    char target[4096];
    ssize_t n = readlink(fs, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    struct stat st;
    if (stat(fs, &st) != 0 || !S_ISREG(st.st_mode))
        st = *lst; /* dangling, or a folder: the scanner does not follow it */
    saw_ctime(l, lst);
    saw_ctime(l, &st);
    return add_entry(l, rel, target, (uint64_t)st.st_size, ns_of(st.st_mtim), ns_of(st.st_ctim));
}

static int walk_local(listing *l, const char *dir, const char *rel, unsigned depth)
{
    if (depth > WATCH_MAX_DEPTH)
        return 0; /* the scanner does not go deeper either */
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* unreadable below the top: the scanner skips it too */
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char fs[PATH_MAX], sub[PATH_MAX];
        if (snprintf(fs, sizeof fs, "%s/%s", dir, de->d_name) >= (int)sizeof fs ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >= (int)sizeof sub)
            continue; /* too long for the scanner as well */
        struct stat st;
        if (lstat(fs, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISLNK(st.st_mode)) {
            rc = add_link(l, fs, sub, &st);
        } else if (S_ISDIR(st.st_mode)) {
            saw_ctime(l, &st);
            rc = walk_local(l, fs, sub, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            saw_ctime(l, &st);
            rc = add_entry(l, sub, NULL, (uint64_t)st.st_size, ns_of(st.st_mtim), ns_of(st.st_ctim));
        }
    }
    closedir(d);
    return rc;
}

/* A local model: uri_check again each time, so a folder that left the
 * roots (or a link re-pointed outside them) is a failure, not a listing. */
static int list_local(const srv_ctx *ctx, const char *uri, listing *l)
{
    char *path = NULL;
    const char *why = NULL;
    if (uri_check(ctx, uri, &path, &why) != 0) {
        snprintf(l->err, l->errlen, "%s", why ? why : "not an existing path under a configured root");
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (stat(path, &st) != 0) {
        snprintf(l->err, l->errlen, "%s", strerror(errno));
    } else if (S_ISREG(st.st_mode)) {
        saw_ctime(l, &st);
        rc = add_entry(l, "", NULL, (uint64_t)st.st_size, ns_of(st.st_mtim), ns_of(st.st_ctim));
    } else if (S_ISDIR(st.st_mode)) {
        saw_ctime(l, &st);
        rc = walk_local(l, path, "", 0);
    } else {
        snprintf(l->err, l->errlen, "neither a file nor a folder");
    }
    free(path);
    return rc;
}

static int list_s3(const srv_ctx *ctx, const char *uri, listing *l)
{
    src_remote *r = NULL;
    if (src_open(&r, ctx->src, uri, l->err, l->errlen) != SRC_OK) {
        if (!l->err[0])
            snprintf(l->err, l->errlen, "the S3 listing failed");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < src_count(r); i++) {
        const src_object *o = src_object_at(r, i);
        rc = add_entry(l, o->path, o->etag ? o->etag : "", o->size, 0, 0);
    }
    src_close(r);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* SHA-256 of the sorted entries. Paths and texts are NUL-terminated in the
 * hash (none can hold a NUL), the numbers fixed-size, so two different
 * listings never hash the same bytes. */
static int digest(listing *l, unsigned char out[32])
{
    if (l->n > 1)
        qsort(l->e, l->n, sizeof *l->e, cmp_entry);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < l->n; i++) {
        const entry *e = &l->e[i];
        const char *extra = e->extra ? e->extra : "";
        int64_t nums[3] = {(int64_t)e->size, e->mtime_ns, e->ctime_ns};
        ok = EVP_DigestUpdate(md, e->path, strlen(e->path) + 1) && EVP_DigestUpdate(md, extra, strlen(extra) + 1) &&
             EVP_DigestUpdate(md, nums, sizeof nums);
    }
    unsigned len = 0;
    ok = ok && EVP_DigestFinal_ex(md, out, &len) && len == 32;
    EVP_MD_CTX_free(md);
    if (!ok)
        snprintf(l->err, l->errlen, "out of memory");
    return ok ? 0 : -1;
}

/* ---- the store: the model's newest finished scan of this URI ---- */

typedef struct last_scan {
    const char *uri;
    int found, oom;
    char uuid[37], outcome[16], created_at[40];
    char *license, *labels;
} last_scan;

static int match_latest(void *arg, const store_latest *row)
{
    last_scan *ls = arg;
    if (strcmp(row->model_uri, ls->uri) != 0)
        return 0;
    free(ls->license);
    free(ls->labels);
    ls->license = row->license ? strdup(row->license) : NULL;
    ls->labels = row->labels ? strdup(row->labels) : NULL;
    if ((row->license && !ls->license) || (row->labels && !ls->labels))
        return ls->oom = STORE_ENOMEM;
    ls->found = 1; /* rows come oldest first: the last match is the newest */
    snprintf(ls->uuid, sizeof ls->uuid, "%s", row->scan_uuid);
    snprintf(ls->outcome, sizeof ls->outcome, "%s", row->eval_outcome);
    return 0;
}

static int read_created(void *arg, const store_scan *row)
{
    last_scan *ls = arg;
    snprintf(ls->created_at, sizeof ls->created_at, "%s", row->created_at);
    return 0;
}

static void last_scan_free(last_scan *ls)
{
    free(ls->license);
    free(ls->labels);
}

static int find_last(const srv_ctx *ctx, const char *uri, last_scan *ls)
{
    memset(ls, 0, sizeof *ls);
    ls->uri = uri;
    int rc = store_model_latest(ctx->store, match_latest, ls);
    if (rc == STORE_OK && ls->found)
        rc = store_scan_get(ctx->store, ls->uuid, read_created, ls);
    return rc;
}

/* "2025-03-01T00:09:01.375318Z" in nanoseconds; -1 when malformed. */
static int64_t parse_stamp(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    long us = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6ldZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &us) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t * 1000000000 + us * 1000;
}

/* At the first look: why a scan is needed, or NULL when the stored scan
 * already saw these files. */
static const char *first_look(const watched *m, const last_scan *ls, const listing *l)
{
    if (!ls->found)
        return "has no finished scan";
    if (strcmp(ls->outcome, "ALLOWED") != 0 && strcmp(ls->outcome, "BLOCKED") != 0)
        return "was last scanned with an error";
    if (m->is_s3)
        return "is an S3 prefix (no change time to compare with its last scan)";
    int64_t at = parse_stamp(ls->created_at);
    if (at < 0 || l->newest_ctime_ns >= at - 1000000000)
        return "changed since its last scan";
    return NULL;
}

/* ---- queueing a scan ---- */

/* Waits `ms` milliseconds, or until stopped; 1 when stopped. */
static int nap(srv_watch *w, long ms)
{
    return mono_nap(&w->mu, &w->cv, &w->stop, ms);
}

/* Stores a scan of the model as PENDING (license and labels of its last
 * scan, its verdict as the one to compare with) and queues it behind user
 * scans. -1 when it could not be stored: the caller tries again later. */
static int queue_scan(srv_watch *w, watched *m, const last_scan *ls, const char *why)
{
    const srv_ctx *ctx = w->ctx;
    char uuid[37], created[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    srv_job *job = job_new(uuid, created, m->uri, ls->license, ls->labels, NULL);
    if (!job) {
        fprintf(stderr, "modelgate: watch %s: out of memory\n", m->uri);
        return -1;
    }
    if (ls->found)
        snprintf(job->prev_outcome, sizeof job->prev_outcome, "%s", ls->outcome);
    if (job_store(ctx, job) != STORE_OK) {
        fprintf(stderr, "modelgate: watch %s: cannot store a scan; trying again later\n", m->uri);
        job_unref(job);
        return -1;
    }
    fprintf(stderr, "modelgate: watch %s %s: scan %s queued\n", m->uri, why, job->uuid);
    metrics_watch_rescan(ctx->metrics);
    while (pool_push_background(ctx->pool, job) != 0) {
        if (nap(w, 50) || pool_stopping(ctx->pool)) {
            job_unref(job); /* stored PENDING: runs after the next start */
            return 0;
        }
    }
    m->job = job;
    return 0;
}

/* ---- one look ---- */

/* The scan in flight is done: an ERROR outcome (or none stored) makes the
 * next look scan again, a few times in a row at most. */
static void settle(watched *m)
{
    const char *out = m->job->outcome;
    int failed = strcmp(out, "ALLOWED") != 0 && strcmp(out, "BLOCKED") != 0;
    if (!failed)
        m->retries = 0;
    else if (m->retries++ < WATCH_RETRIES)
        m->have_fp = 0;
    job_unref(m->job);
    m->job = NULL;
}

static void list_failed(watched *m, const char *err)
{
    if (strcmp(m->err, err) != 0)
        fprintf(stderr, "modelgate: watch %s: cannot list it: %s (trying again every interval)\n", m->uri, err);
    snprintf(m->err, sizeof m->err, "%s", err);
}

static void look(srv_watch *w, watched *m)
{
    const srv_ctx *ctx = w->ctx;
    if (m->job && !pool_job_done(ctx->pool, m->job))
        return;
    if (m->job)
        settle(m);
    char err[256] = "";
    listing l = {.err = err, .errlen = sizeof err};
    unsigned char fp[32];
    int rc = m->is_s3 ? list_s3(ctx, m->uri, &l) : list_local(ctx, m->uri, &l);
    if (rc == 0)
        rc = digest(&l, fp);
    if (rc != 0) {
        list_failed(m, err[0] ? err : "unknown error");
        listing_free(&l);
        return;
    }
    if (m->err[0])
        fprintf(stderr, "modelgate: watch %s: listed again\n", m->uri);
    m->err[0] = 0;
    const char *why = NULL;
    last_scan ls;
    if (m->have_fp && memcmp(fp, m->fp, sizeof fp) == 0) {
        listing_free(&l);
        return;
    }
    if (find_last(ctx, m->uri, &ls) != STORE_OK) {
        fprintf(stderr, "modelgate: watch %s: cannot read its last scan from the store\n", m->uri);
    } else {
        why = m->have_fp ? "changed" : first_look(m, &ls, &l);
        if (m->have_fp)
            m->retries = 0; /* a new listing: ERROR retries start over */
        if (!why || queue_scan(w, m, &ls, why) == 0) {
            memcpy(m->fp, fp, sizeof fp);
            m->have_fp = 1;
        }
    }
    last_scan_free(&ls);
    listing_free(&l);
}

static int stopped(srv_watch *w)
{
    pthread_mutex_lock(&w->mu);
    int s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

static void *watch_main(void *arg)
{
    srv_watch *w = arg;
    do {
        for (size_t i = 0; i < w->n && !stopped(w); i++)
            look(w, &w->models[i]);
    } while (!nap(w, (long)w->interval_s * 1000));
    return NULL;
}

/* ---- life ---- */

static const char *watchable(const srv_ctx *ctx, const char *uri)
{
    if (src_is_remote(uri) && strncmp(uri, "s3://", 5) != 0)
        return "only local folders or files and s3:// prefixes can be watched";
    char *path = NULL;
    const char *why = NULL;
    if (uri_check(ctx, uri, &path, &why) != 0)
        return why ? why : "not a model URI";
    free(path);
    return NULL;
}

int watch_new(srv_watch **out, const srv_ctx *ctx, char *const *uris, size_t n, unsigned interval_s, char *err,
              size_t errlen)
{
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *why = watchable(ctx, uris[i]);
        if (why) {
            snprintf(err, errlen, "watch %s: %s", uris[i], why);
            return -1;
        }
    }
    if (n == 0)
        return 0;
    srv_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->models = calloc(n, sizeof *w->models))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->ctx = ctx;
    w->interval_s = interval_s ? interval_s : 1;
    pthread_mutex_init(&w->mu, NULL);
    mono_cond_init(&w->cv);
    for (; w->n < n; w->n++) {
        watched *m = &w->models[w->n];
        m->is_s3 = strncmp(uris[w->n], "s3://", 5) == 0;
        if (!(m->uri = strdup(uris[w->n]))) {
            watch_free(w);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    *out = w;
    return 0;
}

int watch_start(srv_watch *w)
{
    if (!w)
        return MG_OK;
    w->started = pthread_create(&w->thread, NULL, watch_main, w) == 0;
    return w->started ? MG_OK : MG_ENOMEM;
}

void watch_free(srv_watch *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    for (size_t i = 0; i < w->n; i++) {
        free(w->models[i].uri);
        job_unref(w->models[i].job);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->models);
    free(w);
}
