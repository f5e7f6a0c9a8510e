/*
 * safetensors.c - Hugging Face safetensors files. Spec: the "Format" section
 * of huggingface/safetensors README.md; the reference reader is
 * safetensors/src/tensor.rs (SafeTensors::read_metadata, Metadata::validate).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (must start with '{', may be padded with spaces), then the data buffer.
 * The header maps tensor names to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the data buffer) and may hold
 * "__metadata__", a string-to-string map.
 *
 * Attacks: the format cannot carry code, so the attacks are on readers: a
 * tensor named twice (serde and Python's json keep the last, other readers
 * the first: two readers load different weights), tensors that overlap or
 * leave gaps (a gap can hide a second file, a polyglot; the reference
 * reader refuses both), byte ranges past the end of the file or that do not
 * match the shape and dtype, absurd header lengths, and a pickle or other
 * payload behind a .safetensors name (caught by detection, not here).
 *
 * How we read it: only the header. Its length is checked first, the JSON is
 * parsed with jansson (duplicates rejected, then parsed again the way the
 * reference reader sees it), and every tensor's range is checked against
 * its shape, its dtype and the other tensors. The data buffer is never
 * touched, so a 16 GB file costs the same as a 16 KB one.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

/* The reference reader's MAX_HEADER_SIZE: it refuses longer headers. */
#define ST_MAX_HEADER 100000000ull
/* Findings per file beyond which further tensor problems are summarised. */
#define ST_MAX_FINDINGS 32

typedef struct st_tensor {
    const char *name;
    uint64_t begin, end;
} st_tensor;

typedef struct st_ctx {
    mg_scan *s;
    mg_span header; /* the N bytes of JSON */
    uint64_t data_off;
    uint64_t data_len;
    unsigned nfind;
    unsigned skipped;
    const char *skipped_id; /* threat of the last finding left out */
} st_ctx;

/* Element sizes in bits (the spec's dtypes; F4 and F6 pack below a byte). */
static const struct {
    const char *name;
    unsigned bits;
} st_dtypes[] = {
    {"BOOL", 8}, {"U8", 8},   {"I8", 8},    {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16}, {"BF16", 16}, {"I32", 32},    {"U32", 32},    {"F32", 32},    {"C64", 64},
    {"F64", 64}, {"I64", 64}, {"U64", 64},  {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6},
};

static int st_probe(mg_span head, mg_str name)
{
    (void)name;
    if (head.len < 10)
        return 0;
    if (head.p[8] != '{') {
        /* JSON whitespace before the '{': the spec forbids it, but it is
         * still a safetensors header to report, not an unknown file */
        size_t i = 8;
        while (i < head.len && i < 24 && (head.p[i] == ' ' || head.p[i] == '\n' || head.p[i] == '\t'))
            i++;
        uint64_t n = mg_le(head.p, 8);
        return i > 8 && i < head.len && head.p[i] == '{' && n > i - 8 && n <= ST_MAX_HEADER ? 60 : 0;
    }
    uint64_t n = mg_le(head.p, 8);
    /* '{"' after 8 bytes is common in float16 data (0x227b is a small
     * weight): without a length that fits the file it is noise, and a real
     * header with a broken length is refused by every reader anyway */
    if (n < 2 || n > ST_MAX_HEADER || n > head.len - 8)
        return 0;
    /* the header's last byte, when it lies within the first 4 KiB */
    if (n <= 4096 - 8 && n <= head.len - 8) {
        uint8_t last = head.p[8 + n - 1];
        return last == '}' || last == ' ' ? 95 : 50;
    }
    uint8_t next = head.p[9];
    return next == '"' || next == '}' || next == ' ' || next == '\n' ? 85 : 50;
}

/* Reports a finding unless this file already has many (then counts it). */
__attribute__((format(printf, 4, 5))) static void st_find(st_ctx *c, const char *id, uint64_t off, const char *fmt, ...)
{
    if (c->nfind >= ST_MAX_FINDINGS) {
        c->skipped++;
        c->skipped_id = id;
        return;
    }
    c->nfind++;
    va_list ap;
    va_start(ap, fmt);
    mg_findv(c->s, id, off, NULL, fmt, ap);
    va_end(ap);
}

/* Where a tensor's name appears in the header (for the finding's offset);
 * the header's start when the name is escaped or not found. */
static uint64_t st_name_off(const st_ctx *c, const char *name)
{
    size_t n = strlen(name);
    const uint8_t *h = c->header.p;
    for (size_t i = 0; n && i + n + 2 <= c->header.len; i++)
        if (h[i] == '"' && memcmp(h + i + 1, name, n) == 0 && h[i + n + 1] == '"')
            return 8 + i;
    return 8;
}

/*
 * What jansson will allocate for this text, counted before parsing it: each
 * object costs a hash table, each value a node. Charged to the scan's memory
 * budget so a header of a million empty objects cannot exhaust memory.
 */
static uint64_t st_parse_cost(mg_span h)
{
    uint64_t objects = 0, values = 1;
    int in_str = 0;
    for (size_t i = 0; i < h.len; i++) {
        uint8_t ch = h.p[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"')
            in_str = 1;
        else if (ch == '{')
            objects++;
        else if (ch == ',' || ch == '[' || ch == ':')
            values++;
    }
    return objects * 256 + values * 64 + h.len * 2;
}

static unsigned st_dtype_bits(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return st_dtypes[i].bits;
    return 0;
}

/* A JSON integer that fits the reference reader's usize; -1 otherwise. */
static int st_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* __metadata__: a string-to-string map; only "format" is recorded. */
static void st_metadata(st_ctx *c, const json_t *m)
{
    uint64_t off = st_name_off(c, "__metadata__");
    if (!json_is_object(m)) {
        st_find(c, "MG-SFT-400", off, "__metadata__ is not an object: the reference reader refuses the file");
        return;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (!json_is_string(v)) {
            st_find(c, "MG-SFT-400", off,
                    "__metadata__[\"%.64s\"] is not a string: the reference reader refuses the file", k);
            continue;
        }
        if (strcmp(k, "format") != 0)
            continue;
        const char *val = json_string_value(v);
        size_t n = json_string_length(v);
        int plain = n > 0 && n <= 16;
        for (size_t i = 0; plain && i < n; i++)
            plain = (val[i] >= 'a' && val[i] <= 'z') || (val[i] >= '0' && val[i] <= '9');
        if (plain)
            mg_fact(c->s, "framework", val);
    }
}

/* Checks one tensor entry; on success fills *t (its range in the buffer). */
static int st_entry(st_ctx *c, const char *name, const json_t *e, st_tensor *t)
{
    uint64_t off = st_name_off(c, name);
    if (!json_is_object(e)) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\" is not an object", name);
        return -1;
    }
    const json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    const json_t *offs = json_object_get(e, "data_offsets");
    unsigned bits = json_is_string(dt) ? st_dtype_bits(json_string_value(dt)) : 0;
    if (!bits) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\" has %s dtype%s%.16s", name, dt ? "an unknown" : "no",
                json_is_string(dt) ? " " : "", json_is_string(dt) ? json_string_value(dt) : "");
        return -1;
    }
    if (!json_is_array(shape)) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\" has no shape array", name);
        return -1;
    }
    /* elements and then bits, each product overflow-checked (ValidationOverflow) */
    uint64_t nelem = 1;
    for (size_t i = 0; i < json_array_size(shape); i++) {
        uint64_t d;
        if (st_uint(json_array_get(shape, i), &d) < 0) {
            st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": shape[%zu] is not a non-negative integer", name, i);
            return -1;
        }
        if (__builtin_mul_overflow(nelem, d, &nelem)) {
            st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": the element count overflows 64 bits", name);
            return -1;
        }
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 || st_uint(json_array_get(offs, 0), &t->begin) < 0 ||
        st_uint(json_array_get(offs, 1), &t->end) < 0) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": data_offsets is not a pair of non-negative integers", name);
        return -1;
    }
    if (t->begin > t->end) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": data_offsets [%llu, %llu] ends before it begins", name,
                (unsigned long long)t->begin, (unsigned long long)t->end);
        return -1;
    }
    uint64_t nbits;
    if (__builtin_mul_overflow(nelem, (uint64_t)bits, &nbits)) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": the byte size overflows 64 bits", name);
        return -1;
    }
    if (nbits % 8) {
        st_find(c, "MG-SFT-400", off, "tensor \"%.64s\": %llu elements of %u bits do not fill whole bytes", name,
                (unsigned long long)nelem, bits);
        return -1;
    }
    if (t->end - t->begin != nbits / 8) {
        st_find(c, "MG-SFT-400", off,
                "tensor \"%.64s\": data_offsets span %llu bytes but its shape and dtype need %llu", name,
                (unsigned long long)(t->end - t->begin), (unsigned long long)(nbits / 8));
        return -1;
    }
    if (t->end > c->data_len) {
        st_find(c, "MG-SFT-402", c->data_off + t->begin,
                "tensor \"%.64s\" ends at byte %llu of the data buffer, which holds %llu bytes", name,
                (unsigned long long)t->end, (unsigned long long)c->data_len);
        return -1;
    }
    t->name = name;
    return 0;
}

static int st_cmp(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/*
 * The ranges, sorted as the reference reader sorts them, must tile the data
 * buffer: each begins where the previous one ended (no overlap, no gap) and
 * the last ends at the end of the file (no trailing bytes).
 */
static void st_layout(st_ctx *c, st_tensor *t, size_t n, int complete)
{
    if (n > 1)
        qsort(t, n, sizeof *t, st_cmp);
    uint64_t at = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (t[i].begin < at)
            st_find(c, "MG-SFT-402", c->data_off + t[i].begin,
                    "tensor \"%.64s\" overlaps tensor \"%.64s\" (bytes %llu..%llu of the data buffer)", t[i].name,
                    prev ? prev : "?", (unsigned long long)t[i].begin, (unsigned long long)at);
        else if (t[i].begin > at)
            st_find(c, "MG-SFT-402", c->data_off + at,
                    "bytes %llu..%llu of the data buffer belong to no tensor (a gap can hide other content)",
                    (unsigned long long)at, (unsigned long long)t[i].begin);
        if (t[i].end > at) {
            at = t[i].end;
            prev = t[i].name;
        }
    }
    /* with entries already refused, the coverage cannot be judged fairly */
    if (complete && at < c->data_len)
        st_find(c, "MG-SFT-402", c->data_off + at,
                "%llu bytes follow the last tensor: the reference reader refuses files whose data is not fully "
                "indexed",
                (unsigned long long)(c->data_len - at));
}

/* Parses the header; NULL (reported) when it is not JSON. */
static json_t *st_parse(st_ctx *c)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)c->header.p, c->header.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (root)
        return root;
    uint64_t at = 8 + (uint64_t)(err.position > 0 ? err.position : 0);
    if (json_error_code(&err) != json_error_duplicate_key) {
        st_find(c, "MG-SFT-400", at, "the header is not valid JSON: %s", err.text);
        return NULL;
    }
    st_find(c, "MG-SFT-401", at,
            "a key appears twice in the header (%s): Rust and Python readers keep the last, others the first, so "
            "readers load different tensors",
            err.text);
    /* go on with the reference reader's view (the last value wins) */
    root = json_loadb((const char *)c->header.p, c->header.len, JSON_ALLOW_NUL, &err);
    if (!root)
        st_find(c, "MG-SFT-400", 8 + (uint64_t)(err.position > 0 ? err.position : 0),
                "the header is not valid JSON: %s", err.text);
    return root;
}

static void st_check(st_ctx *c, json_t *root)
{
    if (!json_is_object(root)) {
        st_find(c, "MG-SFT-400", 8, "the header is not a JSON object");
        return;
    }
    size_t cap = json_object_size(root);
    st_tensor *t = cap ? mg_arena_calloc(&c->s->work, cap, sizeof *t) : NULL;
    if (cap && !t) {
        mg_limit(c->s, MG_LIM_MEMORY, 8, "the analysis memory limit was reached");
        return;
    }
    size_t n = 0, bad = 0, seen = 0;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if ((++seen & 1023) == 0 && mg_scan_expired(c->s, 8))
            return;
        if (strcmp(k, "__metadata__") == 0)
            st_metadata(c, v);
        else if (st_entry(c, k, v, &t[n]) == 0)
            n++;
        else
            bad++;
    }
    st_layout(c, t, n, bad == 0);
}

static int st_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    mg_set_format(s, "safetensors");
    st_ctx c = {.s = s};
    mg_rd r = mg_rd_new(in);
    uint64_t n = mg_rd_le(&r, 8);
    if (r.bad) {
        st_find(&c, "MG-SFT-400", 0, "the file is shorter than the 8-byte header length");
        return 0;
    }
    /* bounds on N, in the reference reader's order: too large, past the end */
    if (n == 0) {
        st_find(&c, "MG-SFT-400", 0, "the header length is 0: there is no header");
        return 0;
    }
    if (n > ST_MAX_HEADER) {
        st_find(&c, "MG-SFT-400", 0, "the header length %llu exceeds the reference reader's 100 MB limit",
                (unsigned long long)n);
        return 0;
    }
    if (n > in.len - 8) {
        st_find(&c, "MG-SFT-400", 0, "the header length %llu runs past the end of the file (%llu bytes after it)",
                (unsigned long long)n, (unsigned long long)(in.len - 8));
        return 0;
    }
    if (!mg_have(s, in, 0, 8 + n))
        return 0; /* sparse scans: the header is fetched first */
    c.header = mg_span_sub(in, 8, (size_t)n);
    c.data_off = 8 + n;
    c.data_len = in.len - c.data_off;
    if (c.header.p[0] != '{') {
        st_find(&c, "MG-SFT-400", 8, "the header does not begin with '{' as the spec requires");
        return 0;
    }
    uint64_t cost = st_parse_cost(c.header);
    if (cost > SIZE_MAX || mg_mem_charge(&s->mem, (size_t)cost) < 0) {
        mg_limit(s, MG_LIM_MEMORY, 8, "the safetensors header is too large to parse within the memory limit");
        return 0;
    }
    json_t *root = st_parse(&c);
    if (root) {
        st_check(&c, root);
        json_decref(root);
    }
    mg_mem_release(&s->mem, (size_t)cost);
    if (c.skipped)
        mg_find(s, c.skipped_id, 8, NULL, "%u more problems in this header were not listed", c.skipped);
    return 0;
}

const mg_module mg_module_safetensors = {"safetensors", st_probe, st_scan, 1};
