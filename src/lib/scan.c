/*
 * scan.c - one scan: open a file, map it, detect its format by content,
 * dispatch to the format module, and recurse into nested content through
 * mg_scan_child, counting depth, time and memory against the limits.
 * Directory scans walk the tree and spread files over worker threads; each
 * file has its own scan context and result record, so threads share nothing
 * but the read-only engine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "util/banned.h"

/* ---- findings ---- */

__attribute__((format(printf, 6, 0))) static void add_finding(mg_scan *s, const char *loc, const char *threat,
                                                              uint64_t offset, const char *op, const char *fmt,
                                                              va_list ap)
{
    mg_file_rec *f = s->out;
    const mg_threat *t = mg_threat_find(threat);
    if (f->summarised)
        return;
    if (f->findings.n + 1 >= s->lim->max_findings) {
        /* the last slot says the list is cut, and blocks like any limit */
        f->summarised = 1;
        threat = "MG-FMT-401";
        t = mg_threat_find(threat);
        mg_finding *fd = mg_vec_push(&f->findings);
        if (fd) {
            fd->threat = t->id;
            fd->severity = t->severity;
            fd->module = s->module ? s->module : "";
            fd->op = "";
            fd->location = "";
            fd->offset = 0;
            fd->message =
                mg_arena_printf(&f->arena, "more than %u findings: the rest were not recorded", s->lim->max_findings);
            if (!fd->message)
                fd->message = "too many findings";
        }
        return;
    }
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mg_finding *fd = mg_vec_push(&f->findings);
    if (!fd)
        return;
    fd->threat = t ? t->id : threat;
    fd->severity = t ? t->severity : MG_SEV_HIGH;
    fd->module = s->module ? s->module : "";
    fd->op = op ? mg_arena_strndup(&f->arena, op, strlen(op)) : "";
    fd->message = mg_arena_strndup(&f->arena, msg, strlen(msg));
    fd->location = loc ? mg_arena_strndup(&f->arena, loc, strlen(loc)) : "";
    fd->offset = offset;
    if (!fd->op || !fd->message || !fd->location) { /* out of memory: keep the verdict */
        fd->op = fd->op ? fd->op : "";
        fd->message = fd->message ? fd->message : "out of memory while recording a finding";
        fd->location = fd->location ? fd->location : "";
    }
}

void mg_findv(mg_scan *s, const char *threat, uint64_t offset, const char *op, const char *fmt, va_list ap)
{
    add_finding(s, s->loc, threat, offset, op, fmt, ap);
}

void mg_find(mg_scan *s, const char *threat, uint64_t offset, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_findv(s, threat, offset, op, fmt, ap);
    va_end(ap);
}

void mg_find_at(mg_scan *s, const char *loc, const char *threat, uint64_t offset, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_finding(s, loc, threat, offset, op, fmt, ap);
    va_end(ap);
}

int mg_limit(mg_scan *s, enum mg_limit_kind kind, uint64_t offset, const char *what)
{
    if (s->out->limit_hits & kind)
        return -1;
    s->out->limit_hits |= kind;
    mg_find(s, "MG-FMT-401", offset, NULL, "scan stopped: %s; the rest of the file was not checked", what);
    return -1;
}

int mg_scan_expired(mg_scan *s, uint64_t offset)
{
    if (s->timed_out)
        return 1;
    if (mg_now_ms() < s->deadline)
        return 0;
    s->timed_out = 1;
    mg_limit(s, MG_LIM_TIME, offset, "the time limit per file was reached");
    return 1;
}

void mg_fact(mg_scan *s, const char *key, const char *value)
{
    mg_file_rec *f = s->out;
    mg_fact_kv *kv = f->facts.items;
    for (size_t i = 0; i < f->facts.n; i++)
        if (strcmp(kv[i].key, key) == 0 && strcmp(kv[i].value, value) == 0)
            return;
    if (f->facts.n >= 64)
        return;
    mg_fact_kv *n = mg_vec_push(&f->facts);
    if (!n)
        return;
    n->key = mg_arena_strndup(&f->arena, key, strlen(key));
    n->value = mg_arena_strndup(&f->arena, value, strlen(value));
    if (!n->key || !n->value)
        f->facts.n--;
}

void mg_record_global(mg_scan *s, mg_str module, mg_str name, mg_verdict v, uint64_t offset)
{
    if (!s->eng->opts.record_globals)
        return;
    mg_file_rec *f = s->out;
    if (f->globals.n >= s->lim->max_findings)
        return;
    mg_global *g = mg_vec_push(&f->globals);
    if (!g)
        return;
    char *full = mg_arena_alloc(&f->arena, module.len + name.len + 2);
    if (full) {
        memcpy(full, module.p, module.len);
        full[module.len] = '.';
        memcpy(full + module.len + 1, name.p, name.len);
        full[module.len + 1 + name.len] = 0;
    }
    g->name = full ? full : "";
    g->verdict = mg_verdict_name(v);
    g->location = mg_arena_strndup(&f->arena, s->loc, strlen(s->loc));
    if (!g->location)
        g->location = "";
    g->offset = offset;
}

/* ---- detection and dispatch ---- */

static const mg_module *const modules[] = {
#define MG_MODULE(n) &mg_module_##n,
#include "formats/module_list.h"
#undef MG_MODULE
};

enum { RELEASE_STEP = 8u << 20 };

void mg_release(mg_scan *s, mg_span in, size_t upto)
{
    if (!s->map || in.p < s->map || upto > in.len)
        return;
    size_t base = (size_t)(in.p - s->map);
    if (base > s->map_len || upto > s->map_len - base)
        return;
    size_t end = (base + upto) & ~(size_t)4095;
    if (end < s->released + RELEASE_STEP)
        return;
    madvise((void *)(uintptr_t)(s->map + s->released), end - s->released, MADV_DONTNEED);
    s->released = end;
}

/* Scans with the module detection chose, then as a zip too when the file
 * also ends like one: a polyglot such as a pickle followed by a zip is read
 * one way by torch.load (the pickle) and another by Python's zipfile. */
static int scan_views(mg_scan *s, const mg_module *m, mg_span data, const char *name)
{
    int rc = m->scan(s, data, mg_str_c(name));
    if (m != &mg_module_zip && m != &mg_module_archive && mg_module_zip.probe(data, mg_str_c(name)) > 0) {
        const char *saved = s->loc;
        char *loc =
            s->loc[0] ? mg_arena_printf(&s->work, "%s:as-zip", s->loc) : mg_arena_strndup(&s->work, "as-zip", 6);
        s->loc = loc ? loc : saved;
        const char *format = s->out->pub.format; /* the file stays what detection said */
        mg_module_zip.scan(s, data, mg_str_c(name));
        s->out->pub.format = format;
        s->loc = saved;
    }
    return rc;
}

/* The file offset of `in` + off, when `in` lies in the file itself. */
static int file_offset(const mg_scan *s, mg_span in, uint64_t off, uint64_t len, uint64_t *at)
{
    if (!s->sparse || !s->base || in.p < s->base || in.p > s->base + s->base_len)
        return 0;
    uint64_t start = (uint64_t)(in.p - s->base);
    if (off > in.len || len > in.len - off)
        return 0; /* outside the span: the reader's own bounds checks answer */
    *at = start + off;
    return 1;
}

int mg_present(mg_scan *s, mg_span in, uint64_t off, uint64_t len)
{
    uint64_t at;
    if (len == 0 || !file_offset(s, in, off, len, &at))
        return 1;
    return s->sparse->present(s->sparse->ctx, s->out->pub.path, at, len) != 0;
}

int mg_need(mg_scan *s, mg_span in, uint64_t off, uint64_t len)
{
    uint64_t at;
    if (len == 0 || !file_offset(s, in, off, len, &at))
        return 0;
    mg_range *r = mg_vec_push(&s->out->needs);
    if (r)
        *r = (mg_range){at, len};
    else
        mg_limit(s, MG_LIM_MEMORY, at, "no memory to record a needed byte range");
    return 0;
}

int mg_have(mg_scan *s, mg_span in, uint64_t off, uint64_t len)
{
    return mg_present(s, in, off, len) || mg_need(s, in, off, len);
}

/* Sparse scans: the probe windows first, then the whole file unless its
 * module reads through mg_have. 1 when the scan may go on. */
static int sparse_ready(mg_scan *s, mg_span data, const mg_module **m, const char *name)
{
    uint64_t head = data.len < MG_PROBE_HEAD ? data.len : MG_PROBE_HEAD;
    uint64_t tail = data.len < MG_PROBE_TAIL ? data.len : MG_PROBE_TAIL;
    int ok = mg_have(s, data, 0, head);
    ok = mg_have(s, data, data.len - tail, tail) && ok;
    if (!ok)
        return 0;
    *m = mg_detect(data, mg_str_c(name));
    return !*m || (*m)->sparse || mg_have(s, data, 0, data.len);
}

void mg_release_reset(mg_scan *s)
{
    s->released = 0;
}

void mg_set_format(mg_scan *s, const char *format)
{
    if (s->depth != 0)
        return;
    /* copied: a library's format name may die with the library's handle */
    const char *c = mg_arena_strndup(&s->out->arena, format, strlen(format));
    if (c)
        s->out->pub.format = c;
}

const mg_module *mg_detect(mg_span data, mg_str name)
{
    const mg_module *best = NULL;
    int best_conf = 0;
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        int c = modules[i]->probe(data, name);
        if (c > best_conf) {
            best_conf = c;
            best = modules[i];
        }
    }
    return best;
}

int mg_scan_child(mg_scan *s, mg_span data, const char *name, uint64_t offset)
{
    /* the limits are checked before detection, which reads the member */
    if (s->depth + 1 > s->lim->max_depth)
        return mg_limit(s, MG_LIM_DEPTH, offset, "nesting deeper than the depth limit");
    if (data.len > s->lim->max_file_size)
        return mg_limit(s, MG_LIM_SIZE, offset, "a member is larger than the file size limit");
    const mg_module *m = mg_detect(data, mg_str_c(name));
    return m ? mg_scan_child_as(s, m, data, name, offset) : 0;
}

int mg_scan_child_as(mg_scan *s, const mg_module *m, mg_span data, const char *name, uint64_t offset)
{
    if (s->depth + 1 > s->lim->max_depth)
        return mg_limit(s, MG_LIM_DEPTH, offset, "nesting deeper than the depth limit");
    if (data.len > s->lim->max_file_size)
        return mg_limit(s, MG_LIM_SIZE, offset, "a member is larger than the file size limit");
    const char *saved = s->loc;
    char *loc =
        s->loc[0] ? mg_arena_printf(&s->work, "%s:%s", s->loc, name) : mg_arena_strndup(&s->work, name, strlen(name));
    if (!loc)
        return mg_limit(s, MG_LIM_MEMORY, offset, "the memory limit was reached");
    const char *saved_module = s->module;
    s->loc = loc;
    s->module = m->name;
    s->depth++;
    int rc = scan_views(s, m, data, name);
    s->depth--;
    s->loc = saved;
    s->module = saved_module;
    return rc;
}

/* A scan context for findings made outside a file's own scan (folder-level
 * checks): no mapping, no arena, the file's record as the target. */
static void scan_for_record(mg_scan *s, const mg_engine *eng, mg_file_rec *f, const char *module)
{
    memset(s, 0, sizeof *s);
    s->eng = eng;
    s->lim = &eng->opts.limits;
    s->out = f;
    s->loc = "";
    s->module = module;
}

static void scan_span(const mg_engine *eng, mg_file_rec *f, mg_span data, const char *name, int mapped,
                      const mg_sparse *sp)
{
    mg_scan s;
    memset(&s, 0, sizeof s);
    s.sparse = sp;
    s.base = data.p;
    s.base_len = data.len;
    if (mapped) {
        s.map = data.p;
        s.map_len = data.len;
    }
    s.eng = eng;
    s.lim = &eng->opts.limits;
    s.out = f;
    s.mem.max = s.lim->max_memory;
    mg_arena_init(&s.work, &s.mem);
    s.loc = "";
    s.deadline = mg_now_ms() + s.lim->max_time_ms;
    f->pub.size = data.len;
    if (data.len > s.lim->max_file_size) {
        mg_limit(&s, MG_LIM_SIZE, 0, "the file is larger than the file size limit");
    } else {
        const mg_module *m = NULL;
        int go = sp ? sparse_ready(&s, data, &m, name) : ((m = mg_detect(data, mg_str_c(name))), 1);
        if (go && m) {
            f->pub.format = m->name;
            s.module = m->name;
            scan_views(&s, m, data, name);
        }
    }
    if (s.mem.hit)
        mg_limit(&s, MG_LIM_MEMORY, 0, "the analysis memory limit was reached");
    mg_arena_free(&s.work);
    mg_file_rec_finish(f);
}

/* SHA-256 of the whole file; a mapping is hashed in steps and each step's
 * pages are given back, so hashing a 10 GB file stays within a few MB. */
static void hash_span(mg_file_rec *f, mg_span data, int mapped)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t off = 0; ok && off < data.len;) {
        size_t n = data.len - off < RELEASE_STEP ? data.len - off : RELEASE_STEP;
        ok = EVP_DigestUpdate(ctx, data.p + off, n);
        if (mapped)
            madvise((void *)(uintptr_t)(data.p + off), n & ~(size_t)4095, MADV_DONTNEED);
        off += n;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return;
    char *hex = mg_arena_alloc(&f->arena, 65);
    if (!hex)
        return;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
    f->pub.sha256 = hex;
}

static void file_error(mg_file_rec *f, const char *why)
{
    f->pub.status = MG_FILE_ERROR;
    f->pub.error = mg_arena_strndup(&f->arena, why, strlen(why));
    if (!f->pub.error)
        f->pub.error = "error";
    mg_file_rec_finish(f);
}

/* Small files are read; large ones mapped (never copied). */
enum { READ_BELOW = 64 * 1024 };

/* Sparse files are hashed only when whole; otherwise their digest is what
 * the source states, or unknown (""). */
static void sparse_hash(mg_file_rec *f, mg_span data, int mapped, const mg_sparse *sp)
{
    if (sp->present(sp->ctx, f->pub.path, 0, data.len)) {
        hash_span(f, data, mapped);
        return;
    }
    const char *known = sp->sha256 ? sp->sha256(sp->ctx, f->pub.path) : NULL;
    if (known && strlen(known) == 64 && strspn(known, "0123456789abcdef") == 64) {
        const char *c = mg_arena_strndup(&f->arena, known, 64);
        if (c)
            f->pub.sha256 = c;
    }
}

static void scan_file(const mg_engine *eng, mg_file_rec *f, const char *fspath, const mg_sparse *sp)
{
    /* links are followed: the walk already decided which links to scan, and a
     * path the caller names is theirs to name */
    int fd = open(fspath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        file_error(f, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        file_error(f, "not a regular file");
        return;
    }
    size_t len = (size_t)st.st_size;
    void *map = NULL;
    unsigned char small[READ_BELOW];
    mg_span data = {small, 0};
    if (len < READ_BELOW) {
        size_t got = 0;
        while (got < len) {
            ssize_t n = read(fd, small + got, len - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != len) {
            close(fd);
            file_error(f, "short read");
            return;
        }
        data.len = len;
    } else {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            file_error(f, strerror(errno));
            return;
        }
        data = (mg_span){map, len};
    }
    close(fd);
    if (eng->opts.hash_files && sp)
        sparse_hash(f, data, map != NULL, sp);
    else if (eng->opts.hash_files)
        hash_span(f, data, map != NULL);
    const char *base = strrchr(fspath, '/');
    scan_span(eng, f, data, base ? base + 1 : fspath, map != NULL, sp);
    if (map)
        munmap(map, len);
}

/* ---- directory walk ---- */

typedef struct walk_item {
    char *fspath;  /* path to open */
    char *relpath; /* path reported */
    int outside;   /* symlink leaving the tree */
} walk_item;

typedef struct walk {
    mg_vec items; /* walk_item */
    char *root_real;
    char blobs[PATH_MAX]; /* the HF cache blobs folder, or "" */
    size_t limit;
    int too_many;
} walk;

static int add_item(walk *w, const char *fspath, const char *rel, int outside)
{
    if (w->items.n >= w->limit) {
        w->too_many = 1;
        return -1;
    }
    walk_item *it = mg_vec_push(&w->items);
    if (!it)
        return -1;
    it->fspath = strdup(fspath);
    it->relpath = strdup(rel);
    it->outside = outside;
    return it->fspath && it->relpath ? 0 : -1;
}

static int under(const char *root, const char *real)
{
    size_t n = strlen(root);
    return n && strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == 0 || n == 1);
}

/* Inside the scanned folder, or, for a Hugging Face cache snapshot
 * (.../models--org--name/snapshots/<rev>), in that repository's blobs/
 * folder where every snapshot file links to. */
static int inside_root(const walk *w, const char *real)
{
    return under(w->root_real, real) || (w->blobs[0] && under(w->blobs, real));
}

static void walk_dir(walk *w, const char *dir, const char *rel, unsigned depth)
{
    if (depth > 64)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[PATH_MAX], rpath[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        snprintf(rpath, sizeof rpath, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            char real[PATH_MAX];
            struct stat tst;
            int ok = realpath(path, real) != NULL && stat(real, &tst) == 0;
            if (!ok || !inside_root(w, real))
                add_item(w, path, rpath, 1);
            else if (S_ISREG(tst.st_mode))
                add_item(w, real, rpath, 0);
            /* links to directories inside the tree are walked through their real path once */
        } else if (S_ISDIR(st.st_mode)) {
            walk_dir(w, path, rpath, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            add_item(w, path, rpath, 0);
        }
        if (w->too_many)
            break;
    }
    closedir(d);
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const walk_item *)a)->relpath, ((const walk_item *)b)->relpath);
}

typedef struct pool {
    const mg_engine *eng;
    const mg_sparse *sparse;
    walk_item *items;
    mg_file_rec **recs;
    size_t n;
    atomic_size_t next;
    atomic_size_t done;
} pool;

static void scan_item(pool *p, size_t i)
{
    walk_item *it = &p->items[i];
    mg_file_rec *f = p->recs[i];
    if (it->outside) {
        f->pub.status = MG_FILE_SKIPPED;
        mg_scan s;
        scan_for_record(&s, p->eng, f, NULL);
        mg_find(&s, "MG-HF-401", 0, NULL,
                "symbolic link points outside the scanned folder; a loader following it would read "
                "files the scan never saw");
        mg_file_rec_finish(f);
        return;
    }
    scan_file(p->eng, f, it->fspath, p->sparse);
}

static void *pool_worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            return NULL;
        scan_item(p, i);
        size_t d = atomic_fetch_add(&p->done, 1) + 1;
        if (p->eng->opts.progress)
            p->eng->opts.progress(p->eng->opts.progress_ctx, d, p->n, p->items[i].relpath);
    }
}

/* ONNX external data names files next to the model: inside the folder the
 * names are fine (onnx.c checked them), but a link or a second hard link can
 * still lead outside it (CVE-2026-27489, GHSA-cmw6-hcpp-c6jp), and a missing
 * file makes the model unloadable. Checked here, where the folder is known. */
static void check_external_refs(const walk *w, const pool *p, const char *dir)
{
    for (size_t i = 0; i < p->n; i++) {
        mg_file_rec *f = p->recs[i];
        mg_scan s;
        scan_for_record(&s, p->eng, f, "onnx");
        size_t nfacts = f->facts.n;
        for (size_t k = 0; k < nfacts; k++) {
            const mg_fact_kv *kv = &((mg_fact_kv *)f->facts.items)[k];
            if (strcmp(kv->key, "onnx_external_data") != 0)
                continue;
            const char *rel = p->items[i].relpath, *slash = strrchr(rel, '/');
            char path[PATH_MAX], real[PATH_MAX];
            snprintf(path, sizeof path, "%s/%.*s%s%s", dir, slash ? (int)(slash - rel) : 0, rel, slash ? "/" : "",
                     kv->value);
            struct stat st;
            if (lstat(path, &st) != 0) {
                mg_find(&s, "MG-ONNX-400", 0, kv->value,
                        "external data `%s` does not exist next to the model: the model cannot be loaded", kv->value);
            } else if (!realpath(path, real) || !inside_root(w, real)) {
                mg_find(&s, "MG-ONNX-401", 0, kv->value,
                        "external data `%s` is a link that leads outside the model folder: loading the model reads "
                        "a file the scan never saw",
                        kv->value);
            } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
                mg_find(&s, "MG-ONNX-401", 0, kv->value,
                        "external data `%s` has %lu hard links: one may be a file outside the model folder", kv->value,
                        (unsigned long)st.st_nlink);
            }
        }
        mg_file_rec_finish(f);
    }
}

static int scan_dir(mg_report *r, const mg_engine *eng, const char *dir, const char *prefix, const mg_sparse *sp)
{
    walk w;
    memset(&w, 0, sizeof w);
    mg_vec_init(&w.items, sizeof(walk_item), NULL);
    w.limit = eng->opts.limits.max_members;
    w.root_real = realpath(dir, NULL);
    if (!w.root_real)
        return MG_EIO;
    const char *snap = strstr(w.root_real, "/snapshots/");
    if (snap && !strchr(snap + 11, '/') && (size_t)(snap - w.root_real) + 7 < sizeof w.blobs)
        snprintf(w.blobs, sizeof w.blobs, "%.*s/blobs", (int)(snap - w.root_real), w.root_real);
    walk_dir(&w, dir, prefix, 0);
    walk_item *items = w.items.items;
    if (w.items.n)
        qsort(items, w.items.n, sizeof *items, cmp_items);
    int rc = MG_OK;
    pool p = {.eng = eng, .sparse = sp, .items = items, .n = w.items.n};
    p.recs = calloc(w.items.n + 1, sizeof *p.recs);
    if (!p.recs)
        rc = MG_ENOMEM;
    for (size_t i = 0; rc == MG_OK && i < w.items.n; i++)
        if (!(p.recs[i] = mg_report_add_file(r, items[i].relpath)))
            rc = MG_ENOMEM;
    if (rc == MG_OK) {
        unsigned nt = eng->opts.threads > 1 ? eng->opts.threads : 1;
        if (nt > w.items.n)
            nt = w.items.n ? (unsigned)w.items.n : 1;
        pthread_t th[64];
        unsigned started = 0;
        for (unsigned t = 1; t < nt && t < 64; t++)
            if (pthread_create(&th[started], NULL, pool_worker, &p) == 0)
                started++;
        pool_worker(&p);
        for (unsigned t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        check_external_refs(&w, &p, dir);
    }
    if (rc == MG_OK && w.too_many) {
        mg_file_rec *f = mg_report_add_file(r, prefix[0] ? prefix : ".");
        if (f) {
            mg_scan s;
            scan_for_record(&s, eng, f, NULL);
            f->pub.status = MG_FILE_ERROR;
            f->pub.error = "too many files";
            mg_limit(&s, MG_LIM_MEMBERS, 0, "the folder holds more files than the member limit");
            mg_file_rec_finish(f);
        }
    }
    for (size_t i = 0; i < w.items.n; i++) {
        free(items[i].fspath);
        free(items[i].relpath);
    }
    mg_vec_free(&w.items);
    free(p.recs);
    free(w.root_real);
    return rc;
}

static int scan_path_into(mg_report *r, const mg_engine *eng, const char *path, const mg_sparse *sp)
{
    if (!r || !eng || !path)
        return MG_EINVAL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* files of a directory are named relative to the directory; with several
         * arguments the directory's own name is kept as a prefix */
        int rc = scan_dir(r, eng, path, "", sp);
        if (rc == MG_EIO) {
            mg_file_rec *f = mg_report_add_file(r, path);
            if (!f)
                return MG_ENOMEM;
            file_error(f, strerror(errno));
            return MG_OK;
        }
        return rc;
    }
    mg_file_rec *f = mg_report_add_file(r, path);
    if (!f)
        return MG_ENOMEM;
    scan_file(eng, f, path, sp);
    return MG_OK;
}

int mg_scan_path_into(mg_report *r, const mg_engine *eng, const char *path)
{
    return scan_path_into(r, eng, path, NULL);
}

int mg_scan_path_sparse(mg_report **out, const mg_engine *eng, const char *path, const mg_sparse *sp)
{
    if (!out || (sp && !sp->present))
        return MG_EINVAL;
    int rc = mg_report_new(out, eng);
    if (rc != MG_OK)
        return rc;
    rc = scan_path_into(*out, eng, path, sp);
    if (rc != MG_OK) {
        mg_report_free(*out);
        *out = NULL;
    }
    return rc;
}

int mg_scan_path(mg_report **out, const mg_engine *eng, const char *path)
{
    return mg_scan_path_sparse(out, eng, path, NULL);
}

int mg_scan_buffer(mg_report **out, const mg_engine *eng, const void *data, size_t len, const char *name)
{
    return mg_scan_buffer_sparse(out, eng, data, len, name, NULL);
}

int mg_scan_buffer_sparse(mg_report **out, const mg_engine *eng, const void *data, size_t len, const char *name,
                          const mg_sparse *sp)
{
    if (!out || !eng || (!data && len) || (sp && !sp->present))
        return MG_EINVAL;
    int rc = mg_report_new(out, eng);
    if (rc != MG_OK)
        return rc;
    mg_file_rec *f = mg_report_add_file(*out, name ? name : "<buffer>");
    if (!f) {
        mg_report_free(*out);
        *out = NULL;
        return MG_ENOMEM;
    }
    mg_span span = {data, len};
    if (eng->opts.hash_files && sp)
        sparse_hash(f, span, 0, sp);
    else if (eng->opts.hash_files)
        hash_span(f, span, 0);
    scan_span(eng, f, span, name ? name : "", 0, sp);
    return MG_OK;
}
