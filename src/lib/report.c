/*
 * report.c - the report object: one record per scanned file with its
 * findings and imports, and the accessors of the public API. Each file
 * record owns an arena holding all of its strings, so scans of different
 * files (possibly on different threads) never share an allocator.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int mg_report_new(mg_report **out, const mg_engine *eng)
{
    if (!out || !eng)
        return MG_EINVAL;
    mg_report *r = calloc(1, sizeof *r);
    if (!r)
        return MG_ENOMEM;
    r->eng = eng;
    mg_vec_init(&r->files, sizeof(mg_file_rec *), NULL);
    *out = r;
    return MG_OK;
}

mg_file_rec *mg_report_add_file(mg_report *r, const char *path)
{
    mg_file_rec *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    mg_arena_init(&f->arena, NULL);
    f->arena.min_chunk = 512; /* thousands of records per folder: most hold a path and a hash */
    mg_vec_init(&f->findings, sizeof(mg_finding), NULL);
    mg_vec_init(&f->globals, sizeof(mg_global), NULL);
    mg_vec_init(&f->facts, sizeof(mg_fact_kv), NULL);
    mg_vec_init(&f->needs, sizeof(mg_range), NULL);
    f->pub.path = mg_arena_strndup(&f->arena, path, strlen(path));
    f->pub.format = "unknown";
    f->pub.sha256 = "";
    f->pub.error = "";
    mg_file_rec **slot = mg_vec_push(&r->files);
    if (!slot || !f->pub.path) {
        mg_arena_free(&f->arena);
        free(f);
        return NULL;
    }
    *slot = f;
    return f;
}

void mg_file_rec_finish(mg_file_rec *f)
{
    f->pub.findings = f->findings.items;
    f->pub.nfindings = f->findings.n;
    f->pub.globals = f->globals.items;
    f->pub.nglobals = f->globals.n;
    f->pub.facts = f->facts.items;
    f->pub.nfacts = f->facts.n;
    f->pub.needs = f->needs.items;
    f->pub.nneeds = f->needs.n;
}

void mg_report_free(mg_report *r)
{
    if (!r)
        return;
    mg_file_rec **fs = r->files.items;
    for (size_t i = 0; i < r->files.n; i++) {
        if (!fs[i])
            continue;
        mg_arena_free(&fs[i]->arena);
        mg_vec_free(&fs[i]->findings);
        mg_vec_free(&fs[i]->globals);
        mg_vec_free(&fs[i]->facts);
        mg_vec_free(&fs[i]->needs);
        free(fs[i]);
    }
    mg_vec_free(&r->files);
    free(r);
}

size_t mg_report_file_count(const mg_report *r)
{
    return r ? r->files.n : 0;
}

const mg_file *mg_report_file(const mg_report *r, size_t i)
{
    if (!r || i >= r->files.n)
        return NULL;
    return &((mg_file_rec **)r->files.items)[i]->pub;
}

mg_severity mg_report_max_severity(const mg_report *r)
{
    mg_severity max = MG_SEV_NONE;
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        for (size_t k = 0; k < f->nfindings; k++)
            if (f->findings[k].severity > max)
                max = f->findings[k].severity;
    }
    return max;
}

size_t mg_report_need_count(const mg_report *r)
{
    size_t n = 0;
    for (size_t i = 0; i < mg_report_file_count(r); i++)
        n += mg_report_file(r, i)->nneeds;
    return n;
}

size_t mg_report_error_count(const mg_report *r)
{
    size_t n = 0;
    for (size_t i = 0; i < mg_report_file_count(r); i++)
        n += mg_report_file(r, i)->status == MG_FILE_ERROR;
    return n;
}

int mg_report_add_error(mg_report *r, const char *path, const char *message)
{
    if (!r || !path || !message)
        return MG_EINVAL;
    mg_file_rec *f = mg_report_add_file(r, path);
    if (!f)
        return MG_ENOMEM;
    f->pub.status = MG_FILE_ERROR;
    f->pub.error = mg_arena_strndup(&f->arena, message, strlen(message));
    if (!f->pub.error) {
        f->pub.error = "out of memory";
        return MG_ENOMEM;
    }
    mg_file_rec_finish(f);
    return MG_OK;
}

const char *mg_file_status_name(mg_file_status st)
{
    switch (st) {
    case MG_FILE_SCANNED:
        return "SCANNED";
    case MG_FILE_ERROR:
        return "ERROR";
    case MG_FILE_SKIPPED:
        return "SKIPPED";
    }
    return "ERROR";
}
