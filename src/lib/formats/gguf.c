/*
 * gguf.c - GGUF files (llama.cpp, ggml). Spec: ggml-org/ggml docs/gguf.md;
 * the reference reader is llama.cpp's ggml/src/gguf.cpp (gguf_init_from_*).
 *
 * Layout, all little-endian: magic "GGUF", u32 version (1, 2 or 3), the
 * tensor count and the metadata count (u64; u32 in version 1), the metadata
 * key-value pairs (a string key, a u32 value type, the value), the tensor
 * infos (name, u32 n_dims, n_dims dimensions (u64; u32 in version 1), u32
 * ggml type, u64 offset), padding to the alignment (general.alignment,
 * default 32), then the tensor data. Strings are a length (u64; u32 in
 * version 1) and that many bytes, never NUL-terminated. Values have 13
 * types: u8 i8 u16 i16 u32 i32 f32 bool string array u64 i64 f64, where an
 * array is an element type, a count and the elements (arrays may nest).
 *
 * Attacks: tokenizer.chat_template holds a Jinja2 template that loaders
 * render (llama-cpp-python rendered it with a non-sandboxed Environment:
 * CVE-2024-34359, later vLLM and SGLang): a template that walks Python
 * internals runs code when the model is used. Malformed counts, lengths and
 * offsets attack the readers themselves (llama.cpp's GGUF parser has had
 * several overflow CVEs).
 *
 * How we read it: the header, metadata and tensor infos through the
 * bounds-checked reader; every count is checked against the bytes left
 * before a loop runs on it, nested arrays are depth-limited, and each
 * tensor's type, shape, alignment and offset are checked the way llama.cpp
 * checks them. Templates go to the Jinja analyser (util/jinja.c); the tensor
 * data is never read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"
#include "../util/jinja.h"

#define GG_MAX_DEPTH    4          /* nested arrays; real files use none */
#define GG_MAX_FINDINGS 32         /* per file, then summarised */
#define GG_MAX_NAME     64         /* GGML_MAX_NAME: llama.cpp refuses names this long */
#define GG_MAX_DIMS     4          /* GGML_MAX_DIMS */
#define GG_MAX_STRING   (1u << 30) /* GGUF_MAX_STRING_LENGTH in gguf.cpp */

enum gg_type {
    GG_U8,
    GG_I8,
    GG_U16,
    GG_I16,
    GG_U32,
    GG_I32,
    GG_F32,
    GG_BOOL,
    GG_STRING,
    GG_ARRAY,
    GG_U64,
    GG_I64,
    GG_F64,
    GG_NTYPES
};

static const unsigned gg_type_size[GG_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* ggml types (ggml.h enum ggml_type): elements per block and bytes per
 * block. Zero marks numbers that were removed (Q4_2, Q4_3, the Q4_0_4_4
 * family): llama.cpp refuses them. */
static const struct {
    unsigned blck, size;
} gg_ggml[] = {
    {1, 4},    {1, 2},     {32, 18},   {32, 20},   {0, 0},     {0, 0},     {32, 22},  {32, 24},  {32, 34},  {32, 36},
    {256, 84}, {256, 110}, {256, 144}, {256, 176}, {256, 210}, {256, 292}, {256, 66}, {256, 74}, {256, 98}, {256, 50},
    {32, 18},  {256, 110}, {256, 82},  {256, 136}, {1, 1},     {1, 2},     {1, 4},    {1, 8},    {1, 8},    {256, 56},
    {1, 2},    {0, 0},     {0, 0},     {0, 0},     {256, 54},  {256, 66},  {0, 0},    {0, 0},    {0, 0},    {32, 17},
};
#define GG_NGGML (sizeof gg_ggml / sizeof gg_ggml[0])

typedef struct gg_name {
    mg_str name;
    uint64_t off;
} gg_name;

typedef struct gg_ctx {
    mg_scan *s;
    mg_span in;
    mg_rd r;
    unsigned version;
    unsigned lenw;      /* bytes of a length or count: 4 in version 1, 8 after */
    uint64_t alignment; /* general.alignment or 32 */
    unsigned nfind, skipped;
    int broken; /* the structure could not be followed further */
} gg_ctx;

static int gg_probe(mg_span head, mg_str name)
{
    (void)name;
    if (mg_span_starts(head, "GGUF", 4))
        return 95;
    /* the GGML formats GGUF replaced (u32 magics 'ggml', 'ggmf', 'ggjt', 'ggla') */
    if (mg_span_starts(head, "lmgg", 4) || mg_span_starts(head, "fmgg", 4) || mg_span_starts(head, "tjgg", 4) ||
        mg_span_starts(head, "algg", 4))
        return 50;
    return 0;
}

__attribute__((format(printf, 3, 0))) static void gg_findv(gg_ctx *c, uint64_t off, const char *fmt, va_list ap)
{
    if (c->nfind >= GG_MAX_FINDINGS) {
        c->skipped++;
        return;
    }
    c->nfind++;
    mg_findv(c->s, "MG-GGUF-400", off, NULL, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static void gg_find(gg_ctx *c, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gg_findv(c, off, fmt, ap);
    va_end(ap);
}

/* A malformed structure that cannot be followed: reported, parsing stops. */
__attribute__((format(printf, 3, 4))) static int gg_fail(gg_ctx *c, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gg_findv(c, off, fmt, ap);
    va_end(ap);
    c->broken = 1;
    return -1;
}

static uint64_t gg_len(gg_ctx *c)
{
    return mg_rd_le(&c->r, c->lenw);
}

/* Reads a string (length and bytes); -1 (reported) when it runs past the end. */
static int gg_string(gg_ctx *c, mg_str *out, uint64_t *at, const char *what)
{
    uint64_t loff = c->r.off;
    uint64_t n = gg_len(c);
    if (c->r.bad)
        return gg_fail(c, loff, "the file ends inside the length of %s", what);
    /* the length must fit in what is left (and in gguf.cpp's limit) before it is used */
    if (n > mg_rd_left(&c->r) || n > GG_MAX_STRING)
        return gg_fail(c, loff, "%s declares %llu bytes, more than the %llu left in the file", what,
                       (unsigned long long)n, (unsigned long long)mg_rd_left(&c->r));
    *at = c->r.off;
    mg_span sp = mg_rd_take(&c->r, (size_t)n);
    *out = (mg_str){(const char *)sp.p, sp.len};
    return 0;
}

static int gg_is_template_key(mg_str k)
{
    static const char base[] = "tokenizer.chat_template";
    size_t n = sizeof base - 1;
    return k.len >= n && memcmp(k.p, base, n) == 0 && (k.len == n || k.p[n] == '.');
}

/* A printable copy of a key for messages (keys are hostile bytes too). */
static const char *gg_cstr(gg_ctx *c, mg_str k, size_t max)
{
    size_t n = k.len < max ? k.len : max;
    char *out = mg_arena_alloc(&c->s->work, n + 1);
    if (!out)
        return "?";
    for (size_t i = 0; i < n; i++)
        out[i] = k.p[i] >= 0x20 && k.p[i] < 0x7f ? k.p[i] : '?';
    out[n] = 0;
    return out;
}

static void gg_template(gg_ctx *c, mg_str key, mg_str tmpl, uint64_t at)
{
    const char *what = mg_str_eq(key, "tokenizer.chat_template") ? "tokenizer.chat_template" : gg_cstr(c, key, 96);
    mg_jinja_check(c->s, tmpl, at, what, "MG-GGUF-101", "MG-GGUF-102");
}

/* Records general.license / general.architecture, lowercased, when plain. */
static void gg_fact(gg_ctx *c, const char *fact, mg_str v)
{
    while (v.len && (v.p[0] == ' ' || v.p[0] == '\t'))
        v.p++, v.len--;
    while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
        v.len--;
    if (v.len == 0 || v.len > 64)
        return;
    char buf[65];
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '+'))
            return; /* free text, not an identifier: not a fact we can judge */
        buf[i] = ch;
    }
    buf[v.len] = 0;
    mg_fact(c->s, fact, buf);
}

/*
 * Skips or walks one array (element type, count, elements). `key` is the
 * metadata key it belongs to; strings of a template key are templates too.
 */
static int gg_array(gg_ctx *c, mg_str key, unsigned depth)
{
    uint64_t aoff = c->r.off;
    uint32_t et = (uint32_t)mg_rd_le(&c->r, 4);
    uint64_t n = gg_len(c);
    if (c->r.bad)
        return gg_fail(c, aoff, "the file ends inside an array header");
    if (et >= GG_NTYPES)
        return gg_fail(c, aoff, "array of unknown value type %u", et);
    if (et == GG_ARRAY && depth + 1 >= GG_MAX_DEPTH)
        return gg_fail(c, aoff, "arrays nested deeper than %d levels", GG_MAX_DEPTH);
    /* the least each element takes, times the count, must fit in what is left */
    uint64_t min = et == GG_STRING ? c->lenw : et == GG_ARRAY ? 4 + c->lenw : gg_type_size[et];
    uint64_t need;
    if (__builtin_mul_overflow(n, min, &need) || need > mg_rd_left(&c->r))
        return gg_fail(c, aoff, "an array declares %llu elements, more than the %llu bytes left can hold",
                       (unsigned long long)n, (unsigned long long)mg_rd_left(&c->r));
    if (et != GG_STRING && et != GG_ARRAY) {
        mg_rd_skip(&c->r, need);
        return 0;
    }
    int tmpl = gg_is_template_key(key);
    for (uint64_t i = 0; i < n; i++) {
        if ((i & 0xffff) == 0xffff && mg_scan_expired(c->s, c->r.off))
            return -1;
        if (et == GG_ARRAY) {
            if (gg_array(c, key, depth + 1) < 0)
                return -1;
            continue;
        }
        mg_str sv;
        uint64_t at;
        if (gg_string(c, &sv, &at, "an array string") < 0)
            return -1;
        if (tmpl)
            gg_template(c, key, sv, at);
    }
    return 0;
}

/* Reads one value of type `t` for `key`, acting on the keys we judge. */
static int gg_value(gg_ctx *c, mg_str key, uint32_t t, uint64_t koff)
{
    uint64_t voff = c->r.off;
    if (t >= GG_NTYPES)
        return gg_fail(c, voff - 4, "key \"%s\" has unknown value type %u", gg_cstr(c, key, 64), t);
    if (gg_is_template_key(key) && t != GG_STRING)
        gg_find(c, koff, "%s is not a string: loaders refuse it", gg_cstr(c, key, 96));
    if (t == GG_ARRAY)
        return gg_array(c, key, 0);
    if (t == GG_STRING) {
        mg_str sv;
        uint64_t at;
        if (gg_string(c, &sv, &at, "a string value") < 0)
            return -1;
        if (gg_is_template_key(key))
            gg_template(c, key, sv, at);
        else if (mg_str_eq(key, "general.license"))
            gg_fact(c, "license", sv);
        else if (mg_str_eq(key, "general.architecture"))
            gg_fact(c, "architecture", sv);
        return 0;
    }
    uint64_t v = mg_rd_le(&c->r, gg_type_size[t]);
    if (c->r.bad)
        return gg_fail(c, voff, "the file ends inside the value of \"%s\"", gg_cstr(c, key, 64));
    if (mg_str_eq(key, "general.alignment")) {
        /* gguf.cpp: must be a u32 and a power of two; it places every tensor */
        if (t != GG_U32)
            gg_find(c, koff, "general.alignment is not a u32: llama.cpp refuses the file");
        else if (v == 0 || (v & (v - 1)) != 0)
            gg_find(c, voff, "general.alignment %llu is not a power of two", (unsigned long long)v);
        else
            c->alignment = v;
    }
    return 0;
}

static int gg_name_cmp(const void *a, const void *b)
{
    const gg_name *x = a, *y = b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int d = n ? memcmp(x->name.p, y->name.p, n) : 0;
    if (d)
        return d;
    return x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
}

/* Names that appear twice: llama.cpp refuses the file; other readers keep one. */
static void gg_dups(gg_ctx *c, mg_vec *v, const char *what)
{
    gg_name *k = v->items;
    if (v->n < 2)
        return;
    qsort(k, v->n, sizeof *k, gg_name_cmp);
    for (size_t i = 1; i < v->n; i++)
        if (gg_name_cmp(&k[i - 1], &k[i]) == 0)
            gg_find(c, k[i].off > k[i - 1].off ? k[i].off : k[i - 1].off,
                    "%s \"%s\" appears twice: llama.cpp refuses the file, other readers keep one of them", what,
                    gg_cstr(c, k[i].name, 64));
}

static int gg_keep(gg_ctx *c, mg_vec *v, mg_str name, uint64_t off)
{
    gg_name *k = mg_vec_push(v);
    if (!k)
        return mg_limit(c->s, MG_LIM_MEMORY, off, "the analysis memory limit was reached");
    k->name = name;
    k->off = off;
    return 0;
}

static int gg_metadata(gg_ctx *c, uint64_t nkv, mg_vec *keys)
{
    for (uint64_t i = 0; i < nkv; i++) {
        if ((i & 0xfff) == 0xfff && mg_scan_expired(c->s, c->r.off))
            return -1;
        uint64_t koff = c->r.off;
        mg_str key;
        uint64_t at;
        if (gg_string(c, &key, &at, "a metadata key") < 0)
            return -1;
        if (key.len == 0)
            gg_find(c, koff, "metadata key %llu is empty: llama.cpp refuses the file", (unsigned long long)i);
        else if (gg_keep(c, keys, key, koff) < 0)
            return -1;
        uint32_t t = (uint32_t)mg_rd_le(&c->r, 4);
        if (c->r.bad)
            return gg_fail(c, c->r.off, "the file ends inside the type of key \"%s\"", gg_cstr(c, key, 64));
        if (gg_value(c, key, t, koff) < 0)
            return -1;
    }
    return 0;
}

typedef struct gg_layout {
    uint64_t expect; /* where llama.cpp expects the next tensor (padded sizes so far) */
    uint64_t max_end;
    uint64_t max_end_off; /* info offset of the tensor reaching furthest */
} gg_layout;

/* Checks one tensor's shape, type and place, the way gguf.cpp does. */
#define NM gg_cstr(c, name, 64) /* only built when a finding needs it */
static void gg_tensor(gg_ctx *c, mg_str name, uint64_t ioff, const int64_t ne[4], uint32_t type, uint64_t off,
                      gg_layout *l)
{
    if (type >= GG_NGGML || gg_ggml[type].blck == 0) {
        gg_find(c, ioff, "tensor \"%s\" has unknown ggml type %u", NM, type);
        return;
    }
    uint64_t nelem = 1;
    for (int i = 0; i < GG_MAX_DIMS; i++) {
        if (ne[i] < 0) {
            gg_find(c, ioff, "tensor \"%s\": dimension %d is negative", NM, i);
            return;
        }
        /* gguf.cpp requires the element count to fit in an int64 */
        if (__builtin_mul_overflow(nelem, (uint64_t)ne[i], &nelem) || nelem > INT64_MAX) {
            gg_find(c, ioff, "tensor \"%s\": the element count overflows", NM);
            return;
        }
    }
    if ((uint64_t)ne[0] % gg_ggml[type].blck) {
        gg_find(c, ioff, "tensor \"%s\": a row of %lld elements is not a whole number of %u-element blocks", NM,
                (long long)ne[0], gg_ggml[type].blck);
        return;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(nelem / gg_ggml[type].blck, (uint64_t)gg_ggml[type].size, &nbytes)) {
        gg_find(c, ioff, "tensor \"%s\": the byte size overflows", NM);
        return;
    }
    if (off % c->alignment) {
        gg_find(c, ioff, "tensor \"%s\": offset %llu is not a multiple of the alignment %llu", NM,
                (unsigned long long)off, (unsigned long long)c->alignment);
    } else if (off != l->expect) {
        gg_find(c, ioff,
                "tensor \"%s\": offset %llu, where llama.cpp expects %llu (tensors overlap, leave a gap or are out "
                "of order)",
                NM, (unsigned long long)off, (unsigned long long)l->expect);
    }
    uint64_t padded = nbytes + (c->alignment - nbytes % c->alignment) % c->alignment, end;
    if (padded < nbytes || __builtin_add_overflow(l->expect, padded, &l->expect) ||
        __builtin_add_overflow(off, nbytes, &end)) {
        gg_find(c, ioff, "tensor \"%s\": the data section size overflows", NM);
        l->expect = UINT64_MAX;
        return;
    }
    if (end > l->max_end) {
        l->max_end = end;
        l->max_end_off = ioff;
    }
}

#undef NM

static int gg_tensors(gg_ctx *c, uint64_t nt, mg_vec *names, gg_layout *l)
{
    for (uint64_t i = 0; i < nt; i++) {
        if ((i & 0xfff) == 0xfff && mg_scan_expired(c->s, c->r.off))
            return -1;
        uint64_t ioff = c->r.off;
        mg_str name;
        uint64_t at;
        if (gg_string(c, &name, &at, "a tensor name") < 0)
            return -1;
        if (name.len >= GG_MAX_NAME)
            gg_find(c, ioff, "tensor name of %zu bytes: llama.cpp refuses names of %d bytes or more", name.len,
                    GG_MAX_NAME);
        if (gg_keep(c, names, name, ioff) < 0)
            return -1;
        uint64_t doff = c->r.off;
        uint32_t nd = (uint32_t)mg_rd_le(&c->r, 4);
        if (c->r.bad)
            return gg_fail(c, doff, "the file ends inside tensor info %llu", (unsigned long long)i);
        if (nd > GG_MAX_DIMS)
            return gg_fail(c, doff, "tensor \"%s\" has %u dimensions; ggml allows at most %d", gg_cstr(c, name, 64), nd,
                           GG_MAX_DIMS);
        int64_t ne[GG_MAX_DIMS] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < nd; d++)
            ne[d] = (int64_t)mg_rd_le(&c->r, c->lenw); /* values >= 2^63 read as negative, as gguf.cpp does */
        uint32_t type = (uint32_t)mg_rd_le(&c->r, 4);
        uint64_t off = mg_rd_le(&c->r, 8);
        if (c->r.bad)
            return gg_fail(c, doff, "the file ends inside tensor info %llu", (unsigned long long)i);
        gg_tensor(c, name, ioff, ne, type, off, l);
    }
    return 0;
}

static int gg_read(gg_ctx *c)
{
    mg_scan *s = c->s;
    mg_span in = c->in;
    if (!mg_span_starts(in, "GGUF", 4)) {
        gg_find(c, 0, "a legacy GGML/GGJT file (before GGUF): current loaders refuse it and it was not checked");
        return 0;
    }
    mg_rd_skip(&c->r, 4);
    c->version = (uint32_t)mg_rd_le(&c->r, 4);
    if (c->r.bad) {
        gg_find(c, 4, "the file ends before the GGUF version");
        return 0;
    }
    if (c->version < 1 || c->version > 3) {
        gg_find(c, 4, "GGUF version %u is not 1, 2 or 3%s", c->version,
                (c->version & 0xffff) == 0 ? " (a big-endian file? little-endian loaders refuse it)" : "");
        return 0;
    }
    c->lenw = c->version == 1 ? 4 : 8;
    uint64_t nt = gg_len(c), nkv = gg_len(c);
    if (c->r.bad) {
        gg_find(c, 8, "the file ends inside the GGUF header");
        return 0;
    }
    /* both counts against the bytes left: a key-value takes at least a
     * length, one key byte, a type and one value byte; a tensor info a
     * name length, n_dims, a type and an offset */
    uint64_t kvmin = c->lenw + 1 + 4 + 1, timin = c->lenw + 4 + 4 + 8, a, b;
    if (__builtin_mul_overflow(nkv, kvmin, &a) || __builtin_mul_overflow(nt, timin, &b) || a + b < a ||
        a + b > in.len - c->r.off) {
        gg_find(c, 8, "%llu tensors and %llu metadata pairs cannot fit in the %llu bytes left", (unsigned long long)nt,
                (unsigned long long)nkv, (unsigned long long)(in.len - c->r.off));
        return 0;
    }
    mg_vec keys, names;
    mg_vec_init(&keys, sizeof(gg_name), &s->mem);
    mg_vec_init(&names, sizeof(gg_name), &s->mem);
    gg_layout l = {0};
    if (gg_metadata(c, nkv, &keys) == 0 && gg_tensors(c, nt, &names, &l) == 0 && nt) {
        /* the data section starts at the next multiple of the alignment */
        uint64_t start = c->r.off + (c->alignment - c->r.off % c->alignment) % c->alignment, end;
        if (start > in.len)
            gg_find(c, c->r.off, "the file ends before its tensor data section");
        else if (__builtin_add_overflow(start, l.max_end, &end) || end > in.len)
            gg_find(c, l.max_end_off, "tensor data runs past the end of the file (%llu bytes needed after byte %llu)",
                    (unsigned long long)l.max_end, (unsigned long long)start);
    }
    gg_dups(c, &keys, "metadata key");
    gg_dups(c, &names, "tensor name");
    mg_vec_free(&keys);
    mg_vec_free(&names);
    if (c->skipped)
        mg_find(s, "MG-GGUF-400", 0, NULL, "%u more problems in this file were not listed", c->skipped);
    return 0;
}

/* Sparse scans: the header is read from the present prefix of the file; a
 * prefix that ends inside it asks for more, growing fourfold, so even a
 * tokenizer of many megabytes arrives in a few rounds. */
static uint64_t gg_prefix(mg_scan *s, mg_span in)
{
    if (!s->sparse)
        return in.len;
    uint64_t p = in.len < MG_PROBE_HEAD ? in.len : MG_PROBE_HEAD;
    while (p < in.len && mg_present(s, in, 0, in.len / 2 < p ? in.len : p * 2))
        p = in.len / 2 < p ? in.len : p * 2;
    return p;
}

static int gg_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    mg_set_format(s, "gguf");
    uint64_t pre = gg_prefix(s, in);
    gg_ctx c = {.s = s, .in = in, .r = mg_rd_new(mg_span_sub(in, 0, (size_t)pre)), .alignment = 32};
    gg_read(&c);
    if (pre < in.len && (c.r.bad || c.broken))
        mg_need(s, in, pre, (in.len - pre) / 3 < pre ? in.len - pre : pre * 3);
    return 0;
}

const mg_module mg_module_gguf = {"gguf", gg_probe, gg_scan, 1};
