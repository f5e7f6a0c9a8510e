/*
 * tflite.c - TensorFlow Lite models: a FlatBuffer with file identifier
 * "TFL3". Spec: tensorflow/lite/schema/schema.fbs; encoding:
 * https://flatbuffers.dev/internals/.
 *
 * Layout: bytes 0..4 are the uoffset (u32, little-endian, relative to its
 * own position) of the root table, bytes 4..8 the identifier "TFL3". A
 * table starts with an soffset (i32) back to its vtable: vtable = table -
 * soffset; the vtable holds its own size (u16), the table's inline size
 * (u16) and one u16 offset per field (0 = absent, default value). Reference
 * fields (tables, vectors, strings) hold a uoffset to their target; a vector
 * is a u32 count followed by its elements (tables: one uoffset each).
 *   Model { 0 version (3), 1 operator_codes: [OperatorCode { 0
 *   deprecated_builtin_code: byte, 1 custom_code: string, 2 version,
 *   3 builtin_code: int }], 2 subgraphs: [SubGraph { 0 tensors: [Tensor {
 *   2 buffer: uint }], 1 inputs: [int], 2 outputs: [int], 3 operators:
 *   [Operator { 0 opcode_index: uint, 1 inputs: [int], 2 outputs: [int],
 *   9 large_custom_options_offset: ulong, 10 ..._size: ulong }] }],
 *   4 buffers: [Buffer { 0 data: [ubyte], 1 offset: ulong, 2 size: ulong }] }
 * The operator's builtin code is max(deprecated_builtin_code, builtin_code)
 * (codes >= 127 only fit the second field); 32 is CUSTOM.
 *
 * Attacks: a custom operator (builtin CUSTOM with a custom_code name) is
 * native code the application must register with the interpreter, or a
 * TensorFlow op run through the Flex delegate ("FlexReadFile"): the model
 * needs code no scanner sees (MG-TFLITE-300). Offsets, counts and indices
 * come from the file: an index past a table or an offset past the end is
 * how FlatBuffer readers are crashed (MG-TFLITE-400).
 *
 * How we read it: a bounded reader in this file. Every offset is computed in
 * 64 bits and checked against the file length before use; a vtable must
 * lie in the file and a field inside its table; a vector's count is checked
 * against the bytes left before its elements are touched. Tables may be
 * shared by offsets, so the number of tables visited has a budget tied to
 * the file size (no quadratic walk). Tensor data is never read.
 */
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../util/pb.h"
#include "../util/banned.h"

enum { TFL_CUSTOM = 32, TFL_SCHEMA_VERSION = 3 };

typedef struct tfl {
    mg_scan *s;
    mg_span in;
    uint64_t visits, budget; /* tables visited, and how many the size allows */
    int stop;                /* reported malformed (or out of budget): stop */
} tfl;

typedef struct tfl_tab {
    size_t pos;     /* the table */
    size_t vt;      /* its vtable */
    unsigned vtlen; /* vtable size in bytes */
    unsigned objlen;
} tfl_tab;

static void tfl_bad(tfl *t, uint64_t at, const char *what)
{
    if (t->stop)
        return;
    mg_find(t->s, "MG-TFLITE-400", at, NULL, "%s; the TFLite interpreter rejects the model or reads out of bounds",
            what);
    t->stop = 1;
}

static uint64_t tfl_le(const tfl *t, size_t pos, unsigned n)
{
    return mg_le(t->in.p + pos, n);
}

/* 1 when [pos, pos+n) lies in the file (integer compare, no pointers). */
static int tfl_has(const tfl *t, uint64_t pos, uint64_t n)
{
    return pos <= t->in.len && n <= t->in.len - pos;
}

/* Opens the table at `pos`, checking the soffset, vtable and sizes. */
static int tfl_table(tfl *t, uint64_t pos, tfl_tab *tab)
{
    if (t->stop)
        return -1;
    if (++t->visits > t->budget) {
        mg_limit(t->s, MG_LIM_OPS, pos, "the model references its tables more often than its size allows");
        t->stop = 1;
        return -1;
    }
    if (!tfl_has(t, pos, 4)) {
        tfl_bad(t, pos, "a table offset points past the end of the file");
        return -1;
    }
    int32_t so = (int32_t)(uint32_t)tfl_le(t, (size_t)pos, 4);
    int64_t vt = (int64_t)pos - (int64_t)so;
    /* the vtable's two u16 sizes must be in the file */
    if (vt < 0 || !tfl_has(t, (uint64_t)vt, 4)) {
        tfl_bad(t, pos, "a table's vtable offset points outside the file");
        return -1;
    }
    unsigned vtlen = (unsigned)tfl_le(t, (size_t)vt, 2), objlen = (unsigned)tfl_le(t, (size_t)vt + 2, 2);
    if (vtlen < 4 || (vtlen & 1) || !tfl_has(t, (uint64_t)vt, vtlen) || objlen < 4 || !tfl_has(t, pos, objlen)) {
        tfl_bad(t, pos, "a table's vtable or inline size does not fit in the file");
        return -1;
    }
    tab->pos = (size_t)pos;
    tab->vt = (size_t)vt;
    tab->vtlen = vtlen;
    tab->objlen = objlen;
    return 0;
}

/* Absolute position of field `slot` (of `size` bytes), or 0 when absent. */
static size_t tfl_field(tfl *t, const tfl_tab *tab, unsigned slot, unsigned size)
{
    unsigned voff = 4 + 2 * slot;
    if (voff + 2 > tab->vtlen)
        return 0; /* an older writer: the field is absent */
    unsigned fo = (unsigned)tfl_le(t, tab->vt + voff, 2);
    if (fo == 0)
        return 0;
    /* the field must lie inside the table's inline bytes */
    if (fo < 4 || fo + size > tab->objlen) {
        tfl_bad(t, tab->pos, "a table field lies outside its table");
        return 0;
    }
    return tab->pos + fo;
}

static uint64_t tfl_scalar(tfl *t, const tfl_tab *tab, unsigned slot, unsigned size, uint64_t dflt)
{
    size_t p = tfl_field(t, tab, slot, size);
    return p ? tfl_le(t, p, size) : dflt;
}

/* Follows reference field `slot`: 1 with the target in `*out`, 0 when
 * absent, -1 when it points outside the file. */
static int tfl_ref(tfl *t, const tfl_tab *tab, unsigned slot, uint64_t *out)
{
    size_t p = tfl_field(t, tab, slot, 4);
    if (!p)
        return t->stop ? -1 : 0;
    uint64_t target = (uint64_t)p + tfl_le(t, p, 4);
    if (!tfl_has(t, target, 4)) {
        tfl_bad(t, p, "a reference points past the end of the file");
        return -1;
    }
    *out = target;
    return 1;
}

typedef struct tfl_vec {
    size_t start; /* first element */
    uint32_t n;
    uint64_t at; /* the count */
} tfl_vec;

/* Vector field `slot` of `esize`-byte elements; an absent one is empty. */
static int tfl_vector(tfl *t, const tfl_tab *tab, unsigned slot, unsigned esize, tfl_vec *v)
{
    uint64_t target = 0;
    int rc = tfl_ref(t, tab, slot, &target);
    v->start = 0;
    v->n = 0;
    v->at = target;
    if (rc <= 0)
        return rc;
    uint32_t n = (uint32_t)tfl_le(t, (size_t)target, 4);
    /* the elements must fit in what follows the count */
    if ((uint64_t)n * esize > t->in.len - (target + 4)) {
        char msg[128];
        snprintf(msg, sizeof msg, "a vector declares %u elements, more than the file holds", n);
        tfl_bad(t, target, msg);
        return -1;
    }
    v->start = (size_t)target + 4;
    v->n = n;
    return 1;
}

/* Element `i` of a vector of tables. */
static int tfl_elem(tfl *t, const tfl_vec *v, uint32_t i, tfl_tab *tab)
{
    size_t p = v->start + (size_t)i * 4;
    return tfl_table(t, (uint64_t)p + tfl_le(t, p, 4), tab);
}

static int tfl_string(tfl *t, const tfl_tab *tab, unsigned slot, mg_str *out)
{
    tfl_vec v;
    int rc = tfl_vector(t, tab, slot, 1, &v);
    *out = (mg_str){rc > 0 ? (const char *)t->in.p + v.start : "", v.n};
    return rc;
}

/* ---- the model ---- */

/* Each operator code: reports custom operators; returns their count or -1. */
static long tfl_codes(tfl *t, const tfl_tab *model)
{
    tfl_vec v;
    if (tfl_vector(t, model, 1, 4, &v) < 0)
        return -1;
    for (uint32_t i = 0; i < v.n && !t->stop; i++) {
        tfl_tab oc;
        if (tfl_elem(t, &v, i, &oc) < 0)
            return -1;
        int64_t dep = (int8_t)(uint8_t)tfl_scalar(t, &oc, 0, 1, 0);
        int64_t code = (int32_t)(uint32_t)tfl_scalar(t, &oc, 3, 4, 0);
        if (dep > code)
            code = dep;
        mg_str custom;
        if (tfl_string(t, &oc, 1, &custom) < 0 || t->stop)
            return -1;
        if (code < 0) {
            tfl_bad(t, oc.pos, "an operator code is negative");
            return -1;
        }
        if (code != TFL_CUSTOM)
            continue;
        if (custom.len == 0) {
            tfl_bad(t, oc.pos, "a CUSTOM operator code has no custom_code name");
            return -1;
        }
        char nb[96];
        mg_pb_show(custom, nb, sizeof nb);
        if (custom.len > 4 && memcmp(custom.p, "Flex", 4) == 0)
            mg_find(t->s, "MG-TFLITE-300", oc.pos, nb,
                    "custom operator `%s` runs the TensorFlow op `%s` through the Flex (Select TF ops) delegate: "
                    "native TensorFlow kernels outside TFLite's builtins",
                    nb, nb + 4);
        else
            mg_find(t->s, "MG-TFLITE-300", oc.pos, nb,
                    "custom operator `%s` is native code the application must register with the interpreter", nb);
    }
    return t->stop ? -1 : (long)v.n;
}

/* Every element of an int vector must be a tensor index (or -1 when
 * `optional`). */
static void tfl_indices(tfl *t, const tfl_tab *tab, unsigned slot, uint32_t ntensors, int optional, const char *what)
{
    tfl_vec v;
    if (tfl_vector(t, tab, slot, 4, &v) <= 0)
        return;
    for (uint32_t i = 0; i < v.n; i++) {
        int32_t x = (int32_t)(uint32_t)tfl_le(t, v.start + (size_t)i * 4, 4);
        if ((x == -1 && optional) || (x >= 0 && (uint32_t)x < ntensors))
            continue;
        char msg[160];
        snprintf(msg, sizeof msg, "%s names tensor %d of %u", what, (int)x, ntensors);
        tfl_bad(t, v.start + (size_t)i * 4, msg);
        return;
    }
}

static void tfl_operator(tfl *t, const tfl_tab *op, long ncodes, uint32_t ntensors)
{
    uint64_t idx = tfl_scalar(t, op, 0, 4, 0);
    if (idx >= (uint64_t)ncodes) {
        char msg[128];
        snprintf(msg, sizeof msg, "an operator uses opcode_index %llu of %ld operator codes", (unsigned long long)idx,
                 ncodes);
        tfl_bad(t, op->pos, msg);
        return;
    }
    tfl_indices(t, op, 1, ntensors, 1, "an operator input");
    tfl_indices(t, op, 2, ntensors, 1, "an operator output");
    uint64_t off = tfl_scalar(t, op, 9, 8, 0), size = tfl_scalar(t, op, 10, 8, 0);
    /* the interpreter checks offset + size against the file when offset > 1 */
    if (off > 1 && !tfl_has(t, off, size))
        tfl_bad(t, op->pos, "an operator's large custom options lie past the end of the file");
}

static void tfl_subgraph(tfl *t, const tfl_tab *sg, long ncodes, uint32_t nbuffers)
{
    tfl_vec tensors, ops;
    if (tfl_vector(t, sg, 0, 4, &tensors) < 0)
        return;
    for (uint32_t i = 0; i < tensors.n && !t->stop; i++) {
        tfl_tab tn;
        if (tfl_elem(t, &tensors, i, &tn) < 0)
            return;
        uint64_t b = tfl_scalar(t, &tn, 2, 4, 0);
        if (b >= nbuffers && !(b == 0 && nbuffers == 0)) {
            char msg[128];
            snprintf(msg, sizeof msg, "a tensor uses buffer %llu of %u", (unsigned long long)b, nbuffers);
            tfl_bad(t, tn.pos, msg);
        }
    }
    tfl_indices(t, sg, 1, tensors.n, 0, "a subgraph input");
    tfl_indices(t, sg, 2, tensors.n, 0, "a subgraph output");
    if (t->stop || tfl_vector(t, sg, 3, 4, &ops) < 0)
        return;
    for (uint32_t i = 0; i < ops.n && !t->stop; i++) {
        tfl_tab op;
        if (tfl_elem(t, &ops, i, &op) < 0)
            return;
        if ((i & 4095) == 4095 && mg_scan_expired(t->s, op.pos)) {
            t->stop = 1;
            return;
        }
        tfl_operator(t, &op, ncodes, tensors.n);
    }
}

/* Buffers: inline data is bounds-checked by the vector read; external
 * data (offset > 1, models over 2 GB) must lie in the file. */
static long tfl_buffers(tfl *t, const tfl_tab *model)
{
    tfl_vec v;
    if (tfl_vector(t, model, 4, 4, &v) < 0)
        return -1;
    for (uint32_t i = 0; i < v.n && !t->stop; i++) {
        tfl_tab b;
        tfl_vec data;
        if (tfl_elem(t, &v, i, &b) < 0 || tfl_vector(t, &b, 0, 1, &data) < 0)
            return -1;
        uint64_t off = tfl_scalar(t, &b, 1, 8, 0), size = tfl_scalar(t, &b, 2, 8, 0);
        if (off > 1 && !tfl_has(t, off, size))
            tfl_bad(t, b.pos, "a buffer's data (offset and size) lies past the end of the file");
    }
    return t->stop ? -1 : (long)v.n;
}

static int tfl_probe(mg_span data, mg_str name)
{
    (void)name;
    return data.len >= 8 && memcmp(data.p + 4, "TFL3", 4) == 0 ? 90 : 0;
}

static int tfl_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    mg_set_format(s, "tflite");
    tfl t = {s, in, 0, in.len / 4 + 1024, 0};
    tfl_tab model;
    if (in.len < 8) { /* the probe needs 8 bytes; a nested caller may not */
        tfl_bad(&t, 0, "the file is shorter than the FlatBuffer header");
        return 0;
    }
    if (tfl_table(&t, tfl_le(&t, 0, 4), &model) < 0)
        return 0;
    uint64_t version = tfl_scalar(&t, &model, 0, 4, 0);
    if (!t.stop && version != TFL_SCHEMA_VERSION) {
        char msg[96];
        snprintf(msg, sizeof msg, "the model declares schema version %llu, not 3", (unsigned long long)version);
        tfl_bad(&t, model.pos, msg);
        return 0;
    }
    long ncodes = tfl_codes(&t, &model);
    long nbuffers = ncodes < 0 ? -1 : tfl_buffers(&t, &model);
    tfl_vec sgs;
    if (nbuffers < 0 || tfl_vector(&t, &model, 2, 4, &sgs) < 0)
        return 0;
    for (uint32_t i = 0; i < sgs.n && !t.stop; i++) {
        tfl_tab sg;
        if (tfl_elem(&t, &sgs, i, &sg) < 0)
            return 0;
        tfl_subgraph(&t, &sg, ncodes, (uint32_t)nbuffers);
    }
    return 0;
}

const mg_module mg_module_tflite = {"tflite", tfl_probe, tfl_scan, 0};
