/*
 * stage_check.c - proves that a sparse scan (src/sources/stage.c over the
 * engine's sparse mode) reaches the verdict a full read does.
 *
 * A stand-in source serves local files by ranged reads (pread), counting
 * every byte; the staging is told to fetch nothing up front, so every byte
 * the engine reads must have been asked for through mg_have. For each model
 * (a file or a folder) given, the findings of the staged scan must equal
 * those of mg_scan_path on the real files, file by file, in order.
 *
 * Output: "ok MODEL fetched F of T bytes in R requests" or "FAIL MODEL: why",
 * then "N passed, N failed".
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "../../src/sources/stage.h"

/* ---- a source over a local folder ---- */

struct src_remote {
    char *root;
    src_object *objs;
    size_t n, cap;
};

static src_remote *listing;
static size_t root_len;

static int add(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(sb->st_mode))
        return 0;
    if (listing->n == listing->cap) {
        listing->cap = listing->cap ? listing->cap * 2 : 16;
        listing->objs = realloc(listing->objs, listing->cap * sizeof *listing->objs);
    }
    const char *rel = path + root_len;
    while (*rel == '/')
        rel++;
    listing->objs[listing->n++] = (src_object){strdup(rel), (uint64_t)sb->st_size, NULL, NULL};
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(((const src_object *)a)->path, ((const src_object *)b)->path);
}

int src_open(src_remote **out, const src_config *cfg, const char *uri, char *err, size_t errlen)
{
    (void)cfg, (void)err, (void)errlen;
    src_remote *r = calloc(1, sizeof *r);
    struct stat st;
    if (stat(uri, &st) != 0)
        return SRC_ENOTFOUND;
    if (S_ISDIR(st.st_mode)) {
        r->root = strdup(uri);
        root_len = strlen(uri);
        listing = r;
        nftw(uri, add, 16, FTW_PHYS);
    } else {
        const char *slash = strrchr(uri, '/');
        r->root = slash ? strndup(uri, (size_t)(slash - uri)) : strdup(".");
        r->objs = malloc(sizeof *r->objs);
        r->objs[0] = (src_object){strdup(slash ? slash + 1 : uri), (uint64_t)st.st_size, NULL, NULL};
        r->n = 1;
    }
    qsort(r->objs, r->n, sizeof *r->objs, cmp);
    *out = r;
    return SRC_OK;
}

void src_close(src_remote *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->objs[i].path);
    free(r->objs);
    free(r->root);
    free(r);
}

const char *src_namespace(const src_remote *r)
{
    (void)r;
    return "local";
}

const char *src_name(const src_remote *r)
{
    return r->root;
}

const char *src_revision(const src_remote *r)
{
    (void)r;
    return NULL;
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
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->root, r->objs[i].path);
    int in = open(path, O_RDONLY);
    if (in < 0 || off > r->objs[i].size || len > r->objs[i].size - off) {
        snprintf(err, errlen, "bad read of %s", path);
        if (in >= 0)
            close(in);
        return SRC_EUPSTREAM;
    }
    char buf[1 << 16];
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
        ssize_t got = pread(in, buf, want, (off_t)(off + done));
        if (got <= 0 || pwrite(fd, buf, (size_t)got, (off_t)(off + done)) != got) {
            close(in);
            return SRC_EUPSTREAM;
        }
        done += (uint64_t)got;
    }
    close(in);
    return SRC_OK;
}

/* ---- comparing ---- */

/* Copies file `src` into folder `dir`; its new path goes to `out`. */
static int copy_into(const char *src, const char *dir, char *out, size_t n)
{
    const char *slash = strrchr(src, '/');
    snprintf(out, n, "%s/%s", dir, slash ? slash + 1 : src);
    int in = open(src, O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
    char buf[1 << 16];
    ssize_t got = 0;
    while (in >= 0 && o >= 0 && (got = read(in, buf, sizeof buf)) > 0)
        if (write(o, buf, (size_t)got) != got)
            got = -1;
    if (in >= 0)
        close(in);
    if (o >= 0)
        close(o);
    return in < 0 || o < 0 || got < 0 ? -1 : 0;
}

static const mg_file *find_file(const mg_report *r, const char *path)
{
    for (size_t i = 0; i < mg_report_file_count(r); i++)
        if (strcmp(mg_report_file(r, i)->path, path) == 0)
            return mg_report_file(r, i);
    return NULL;
}

/* NULL when both reports say the same about every file. */
static const char *differ(const mg_report *full, const mg_report *sparse, char *why, size_t n)
{
    if (mg_report_file_count(full) != mg_report_file_count(sparse))
        return snprintf(why, n, "%zu files vs %zu", mg_report_file_count(full), mg_report_file_count(sparse)), why;
    for (size_t i = 0; i < mg_report_file_count(full); i++) {
        const mg_file *a = mg_report_file(full, i);
        const mg_file *b = find_file(sparse, a->path);
        if (!b)
            return snprintf(why, n, "%s missing", a->path), why;
        if (a->status != b->status || strcmp(a->format, b->format) != 0 || a->nfindings != b->nfindings)
            return snprintf(why, n, "%s: %s/%s/%zu findings vs %s/%s/%zu", a->path, mg_file_status_name(a->status),
                            a->format, a->nfindings, mg_file_status_name(b->status), b->format, b->nfindings),
                   why;
        if (b->sha256[0] && strcmp(a->sha256, b->sha256) != 0)
            return snprintf(why, n, "%s: sha256 differs", a->path), why;
        for (size_t k = 0; k < a->nfindings; k++) {
            const mg_finding *x = &a->findings[k], *y = &b->findings[k];
            if (strcmp(x->threat, y->threat) || x->offset != y->offset || strcmp(x->location, y->location) ||
                strcmp(x->op, y->op) || strcmp(x->message, y->message))
                return snprintf(why, n, "%s: finding %zu: %s@%llu vs %s@%llu", a->path, k, x->threat,
                                (unsigned long long)x->offset, y->threat, (unsigned long long)y->offset),
                       why;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    mg_options o;
    mg_options_default(&o);
    o.hash_files = 1;
    mg_engine *eng;
    if (mg_engine_new(&eng, &o, NULL, 0) != MG_OK)
        return 2;
    src_config cfg = {.stage_whole = 1, .stage_head = 1, .stage_tail = 1};
    int pass = 0, fail = 0;
    for (int i = 1; i < argc; i++) {
        /* a remote model is a folder: a single file is compared as a folder holding only it */
        char tmp[] = "/tmp/stage_check.XXXXXX", model[4200];
        struct stat st;
        int single = stat(argv[i], &st) == 0 && !S_ISDIR(st.st_mode);
        snprintf(model, sizeof model, "%s", argv[i]);
        if (single && mkdtemp(tmp) && copy_into(argv[i], tmp, model, sizeof model) != 0) {
            printf("FAIL %s: cannot copy\n", argv[i]);
            fail++;
            continue;
        }
        mg_report *full = NULL, *sparse = NULL;
        src_result res;
        char err[256] = "", why[512];
        int rc = src_scan(&sparse, eng, &cfg, single ? tmp : model, &res, err, sizeof err);
        if (mg_scan_path(&full, eng, single ? tmp : model) != MG_OK || rc != SRC_OK) {
            printf("FAIL %s: scan failed (%d: %s)\n", argv[i], rc, err);
            fail++;
        } else if (differ(full, sparse, why, sizeof why)) {
            printf("FAIL %s: %s\n", argv[i], why);
            fail++;
        } else {
            printf("ok %s fetched %llu of %llu bytes in %u requests\n", argv[i], (unsigned long long)res.bytes_read,
                   (unsigned long long)res.bytes_total, res.requests);
            pass++;
        }
        mg_report_free(full);
        mg_report_free(sparse);
        src_result_free(&res);
        if (single) {
            unlink(model);
            rmdir(tmp);
        }
    }
    mg_engine_free(eng);
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
