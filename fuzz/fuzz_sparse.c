/*
 * fuzz_sparse.c - libFuzzer target for sparse scans (mg_have in the zip,
 * safetensors and GGUF modules, and the top-level probe windows), with a
 * differential oracle: a file judged from the ranges the engine asked for
 * must get the findings a full read gets.
 *
 * Input: one byte choosing the first round's present blocks, then the file.
 * Each round the absent bytes are zeroed, so an engine that reads a byte it
 * did not ask for sees something else than the full read did; the needs are
 * then marked present and the scan repeated, as src/sources/stage.c does.
 * A final round that disagrees with the full read aborts.
 */
#include <string.h>

#include "fuzz_common.h"

enum { BLOCK = 64, MAX_ROUNDS = 24 };

typedef struct sparse_in {
    const uint8_t *data;
    size_t len;
    uint8_t *have; /* one flag per BLOCK bytes */
} sparse_in;

static int present(void *ctx, const char *path, uint64_t off, uint64_t len)
{
    const sparse_in *in = ctx;
    (void)path;
    if (off > in->len || len > in->len - off)
        return 0;
    for (uint64_t b = off / BLOCK; len && b <= (off + len - 1) / BLOCK; b++)
        if (!in->have[b])
            return 0;
    return 1;
}

/* Marks a needed range present; the number of blocks that were not. */
static size_t mark(sparse_in *in, uint64_t off, uint64_t len)
{
    if (off >= in->len || len == 0)
        return 0;
    if (len > in->len - off)
        len = in->len - off;
    size_t added = 0;
    for (uint64_t b = off / BLOCK; b <= (off + len - 1) / BLOCK; b++) {
        added += !in->have[b];
        in->have[b] = 1;
    }
    return added;
}

/* 1 when a limit stopped either scan: then the two may differ legitimately. */
static int limited(const mg_report *r)
{
    const mg_file *f = mg_report_file(r, 0);
    for (size_t k = 0; f && k < f->nfindings; k++)
        if (strcmp(f->findings[k].threat, "MG-FMT-401") == 0)
            return 1;
    return 0;
}

static int same(const mg_report *a, const mg_report *b)
{
    const mg_file *x = mg_report_file(a, 0), *y = mg_report_file(b, 0);
    if (!x || !y || x->nfindings != y->nfindings || strcmp(x->format, y->format) != 0)
        return 0;
    for (size_t k = 0; k < x->nfindings; k++)
        if (strcmp(x->findings[k].threat, y->findings[k].threat) != 0 || x->findings[k].offset != y->findings[k].offset)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t seed = data[0];
    sparse_in in = {data + 1, size - 1, NULL};
    size_t nblocks = in.len / BLOCK + 1;
    in.have = calloc(nblocks, 1);
    uint8_t *buf = malloc(in.len + 1);
    if (!in.have || !buf)
        abort();
    for (size_t b = 0; b < nblocks; b++) /* the first round: a pattern of present blocks */
        in.have[b] = seed && ((b * 131u + seed) % 7u) < (seed & 7u);
    mg_report *full = NULL;
    if (mg_scan_buffer(&full, fuzz_engine(), in.data, in.len, "fuzz.bin") != MG_OK)
        abort();
    mg_sparse sp = {present, NULL, &in};
    for (int round = 0; round < MAX_ROUNDS; round++) {
        static const uint8_t zero[BLOCK];
        for (size_t b = 0; b < nblocks; b++) {
            size_t off = b * BLOCK, n = in.len - off < BLOCK ? in.len - off : BLOCK;
            if (off < in.len)
                memcpy(buf + off, in.have[b] ? in.data + off : zero, n);
        }
        mg_report *r = NULL;
        if (mg_scan_buffer_sparse(&r, fuzz_engine(), buf, in.len, "fuzz.bin", &sp) != MG_OK)
            abort();
        const mg_file *f = mg_report_file(r, 0);
        if (f->nneeds == 0) {
            if (!limited(full) && !limited(r) && !same(full, r))
                abort(); /* judged from the ranges it asked for, the file got another verdict */
            mg_report_free(r);
            break;
        }
        size_t added = 0;
        for (size_t k = 0; k < f->nneeds; k++)
            added += mark(&in, f->needs[k].off, f->needs[k].len);
        if (added == 0)
            abort(); /* it asked only for bytes it has: a staged scan would never end */
        mg_report_free(r);
    }
    mg_report_free(full);
    free(buf);
    free(in.have);
    return 0;
}
