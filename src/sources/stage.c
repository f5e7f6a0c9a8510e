/*
 * stage.c - scanning a remote model with only the bytes a verdict needs.
 *
 * Each file of the model becomes a sparse file of its full size in a private
 * temporary folder (holes cost no disk and no transfer). The first round
 * fetches every file's probe windows (the first 64 KiB and the last 128 KiB;
 * small files whole); then the engine scans the folder in sparse mode
 * (mg_scan_path_sparse) and lists the ranges it still needs (a safetensors
 * header, a zip central directory, the pickle members, or a whole file of a
 * format that cannot be judged from parts). Those are fetched, coalesced and
 * in parallel, and the folder is scanned again, until nothing is needed. The
 * final scan is an ordinary scan over files whose every byte the engine
 * reads is real: the verdict is the one a full download would get.
 *
 * Sha256: a file fetched whole is hashed by the engine; a partial one takes
 * the digest its source states (the hub's LFS oid) or has none.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stage.h"

enum {
    WHOLE_BELOW = 256 << 10, /* defaults of src_config's stage_* */
    HEAD_BYTES = 64 << 10,
    TAIL_BYTES = 128 << 10,
    MERGE_GAP = 64 << 10, /* ranges closer than this are fetched as one */
    MAX_ROUNDS = 16,
    FETCH_THREADS = 8,
};

typedef struct span {
    uint64_t off, end;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

typedef struct staged {
    src_remote *src;
    char dir[64];
    int *fds;
    spans *have; /* per file: fetched ranges, sorted and merged */
    spans *want; /* per file: ranges to fetch next */
    src_result *res;
    uint64_t whole, head, tail; /* first-round sizes */
} staged;

/* ---- range sets ---- */

static int spans_add(spans *s, uint64_t off, uint64_t end)
{
    if (off >= end)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return SRC_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (span){off, end};
    return 0;
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Sorts and merges ranges that overlap or lie within `gap` of each other. */
static void spans_merge(spans *s, uint64_t gap)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof *s->v, span_cmp);
    size_t w = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[i].off <= s->v[w].end || s->v[i].off - s->v[w].end <= gap) {
            if (s->v[i].end > s->v[w].end)
                s->v[w].end = s->v[i].end;
        } else {
            s->v[++w] = s->v[i];
        }
    }
    s->n = w + 1;
}

static int spans_cover(const spans *s, uint64_t off, uint64_t end)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) { /* the last range starting at or before off */
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && s->v[lo - 1].end >= end;
}

/* ---- the engine's view ---- */

static long file_index(const staged *st, const char *path)
{
    size_t lo = 0, hi = src_count(st->src);
    while (lo < hi) { /* objects are sorted by path (src_sort) */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(src_object_at(st->src, mid)->path, path);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int present(void *ctx, const char *path, uint64_t off, uint64_t len)
{
    const staged *st = ctx;
    long i = file_index(st, path);
    return i >= 0 && off + len >= off && spans_cover(&st->have[i], off, off + len);
}

static const char *known_sha256(void *ctx, const char *path)
{
    const staged *st = ctx;
    long i = file_index(st, path);
    return i >= 0 ? src_object_at(st->src, (size_t)i)->sha256 : NULL;
}

/* ---- fetching ---- */

typedef struct job {
    size_t file;
    uint64_t off, len;
} job;

typedef struct fetch {
    staged *st;
    job *jobs;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t lock;
    int rc;
    char err[256];
} fetch;

static void *fetch_worker(void *arg)
{
    fetch *f = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->n || atomic_load(&f->failed))
            return NULL;
        job *j = &f->jobs[i];
        char err[256] = "";
        int rc = src_read(f->st->src, j->file, j->off, j->len, f->st->fds[j->file], err, sizeof err);
        if (rc != SRC_OK && !atomic_exchange(&f->failed, 1)) {
            pthread_mutex_lock(&f->lock);
            f->rc = rc;
            snprintf(f->err, sizeof f->err, "%s", err[0] ? err : "a ranged read failed");
            pthread_mutex_unlock(&f->lock);
        }
    }
}

/* Fetches every wanted range (merged first), then marks them present. */
static int fetch_wanted(staged *st, char *err, size_t errlen)
{
    size_t nfiles = src_count(st->src), n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        spans_merge(&st->want[i], MERGE_GAP);
        n += st->want[i].n;
    }
    if (n == 0)
        return SRC_OK;
    fetch f = {.st = st, .n = n, .lock = PTHREAD_MUTEX_INITIALIZER};
    f.jobs = calloc(n, sizeof *f.jobs);
    if (!f.jobs)
        return SRC_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nfiles; i++)
        for (size_t w = 0; w < st->want[i].n; w++) {
            span s = st->want[i].v[w];
            f.jobs[k++] = (job){i, s.off, s.end - s.off};
            st->res->bytes_read += s.end - s.off;
        }
    st->res->requests += (unsigned)n;
    pthread_t th[FETCH_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < FETCH_THREADS && t < n; t++)
        if (pthread_create(&th[started], NULL, fetch_worker, &f) == 0)
            started++;
    fetch_worker(&f);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    free(f.jobs);
    if (atomic_load(&f.failed)) {
        snprintf(err, errlen, "%s", f.err);
        return f.rc;
    }
    for (size_t i = 0; i < nfiles; i++) {
        for (size_t w = 0; w < st->want[i].n; w++)
            if (spans_add(&st->have[i], st->want[i].v[w].off, st->want[i].v[w].end) != 0)
                return SRC_ENOMEM;
        spans_merge(&st->have[i], 0);
        st->want[i].n = 0;
    }
    return SRC_OK;
}

/* ---- the staging folder ---- */

static int create_file(const char *dir, const char *rel, uint64_t size)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path)
        return -1;
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void staged_free(staged *st)
{
    size_t n = st->src ? src_count(st->src) : 0;
    for (size_t i = 0; i < n && st->fds; i++)
        if (st->fds[i] >= 0)
            close(st->fds[i]);
    for (size_t i = 0; i < n; i++) {
        free(st->have ? st->have[i].v : NULL);
        free(st->want ? st->want[i].v : NULL);
    }
    free(st->fds);
    free(st->have);
    free(st->want);
    if (st->dir[0])
        nftw(st->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int stage_files(staged *st, char *err, size_t errlen)
{
    size_t n = src_count(st->src);
    st->fds = malloc((n + 1) * sizeof *st->fds);
    st->have = calloc(n + 1, sizeof *st->have);
    st->want = calloc(n + 1, sizeof *st->want);
    if (!st->fds || !st->have || !st->want)
        return SRC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        st->fds[i] = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(st->dir, sizeof st->dir, "%s/modelgate-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(st->dir)) {
        snprintf(err, errlen, "no staging folder: %s", strerror(errno));
        st->dir[0] = 0;
        return SRC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const src_object *o = src_object_at(st->src, i);
        st->res->bytes_total += o->size;
        if ((st->fds[i] = create_file(st->dir, o->path, o->size)) < 0) {
            snprintf(err, errlen, "cannot stage `%s`: %s", o->path, strerror(errno));
            return SRC_EINVAL; /* a path that collides with a folder of another file */
        }
        uint64_t head = st->head < o->size ? st->head : o->size, tail = st->tail < o->size ? st->tail : o->size;
        int rc = o->size <= st->whole
                     ? spans_add(&st->want[i], 0, o->size)
                     : spans_add(&st->want[i], 0, head) | spans_add(&st->want[i], o->size - tail, o->size);
        if (rc != 0)
            return SRC_ENOMEM;
    }
    return SRC_OK;
}

/* Moves the report's needs into the wanted ranges; the number added. */
static size_t want_needs(staged *st, const mg_report *rep)
{
    size_t added = 0;
    for (size_t f = 0; f < mg_report_file_count(rep); f++) {
        const mg_file *mf = mg_report_file(rep, f);
        long i = file_index(st, mf->path);
        for (size_t k = 0; i >= 0 && k < mf->nneeds; k++) {
            uint64_t off = mf->needs[k].off, end = off + mf->needs[k].len;
            uint64_t size = src_object_at(st->src, (size_t)i)->size;
            if (end > size || end < off)
                end = size;
            if (off < end && !spans_cover(&st->have[i], off, end) && spans_add(&st->want[i], off, end) == 0)
                added++;
        }
    }
    return added;
}

static int scan_rounds(staged *st, const mg_engine *engine, mg_report **out, char *err, size_t errlen)
{
    mg_sparse sp = {present, known_sha256, st};
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int rc = fetch_wanted(st, err, errlen);
        if (rc != SRC_OK)
            return rc;
        mg_report *rep = NULL;
        if (mg_scan_path_sparse(&rep, engine, st->dir, &sp) != MG_OK) {
            snprintf(err, errlen, "the scan could not run");
            return SRC_ENOMEM;
        }
        if (mg_report_need_count(rep) == 0) {
            *out = rep;
            return SRC_OK;
        }
        size_t added = want_needs(st, rep);
        mg_report_free(rep);
        if (added == 0) {
            snprintf(err, errlen, "the scan asked for bytes it already has: refusing to judge a partial model");
            return SRC_EUPSTREAM;
        }
    }
    snprintf(err, errlen, "the model still needed more bytes after %d rounds of ranged reads", MAX_ROUNDS);
    return SRC_ELIMIT;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int src_scan(mg_report **out, const mg_engine *engine, const src_config *cfg, const char *uri, src_result *res,
             char *err, size_t errlen)
{
    *out = NULL;
    memset(res, 0, sizeof *res);
    if (errlen)
        err[0] = 0;
    staged st = {.res = res,
                 .whole = cfg->stage_whole ? cfg->stage_whole : WHOLE_BELOW,
                 .head = cfg->stage_head ? cfg->stage_head : HEAD_BYTES,
                 .tail = cfg->stage_tail ? cfg->stage_tail : TAIL_BYTES};
    int rc = src_open(&st.src, cfg, uri, err, errlen);
    if (rc != SRC_OK)
        return rc;
    res->ns = dup_or_null(src_namespace(st.src));
    res->name = dup_or_null(src_name(st.src));
    res->revision = dup_or_null(src_revision(st.src));
    if (src_count(st.src) == 0) {
        snprintf(err, errlen, "%s holds no files", uri);
        rc = SRC_ENOTFOUND;
    }
    if (rc == SRC_OK)
        rc = stage_files(&st, err, errlen);
    if (rc == SRC_OK)
        rc = scan_rounds(&st, engine, out, err, errlen);
    staged_free(&st);
    src_close(st.src);
    return rc;
}

void src_result_free(src_result *res)
{
    free(res->revision);
    free(res->ns);
    free(res->name);
    memset(res, 0, sizeof *res);
}
