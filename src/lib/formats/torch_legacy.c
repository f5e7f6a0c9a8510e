/*
 * torch_legacy.c - PyTorch's legacy (pre-zip) checkpoint format, written by
 * torch.save(..., _use_new_zipfile_serialization=False) and by
 * pickle.dumps(tensor) for the storage bytes it nests.
 *
 * Layout (torch/serialization.py, _legacy_save / _legacy_load): five pickle
 * streams back to back, then raw storages:
 *   1. the magic number 0x1950a86a20f9469cfc6c (a LONG1)
 *   2. the protocol version (1001)
 *   3. sys info {protocol_version, little_endian, type_sizes}
 *   4. the object, whose storages are persistent ids
 *      ('storage', torch.FloatStorage, key, location, numel[, view])
 *   5. the list of storage keys, in the order the storages follow
 *   then per key: a little-endian u64 element count and count * element
 *   size bytes of data.
 *
 * Attacks: the loader unpickles stream 1 before checking the magic number
 * and stream 4 runs arbitrary globals, so payloads go in either; data after
 * the last storage can carry a second stage; storage sizes can lie.
 *
 * How we read it: every stream goes through the pickle machine; storages
 * are skipped by their declared sizes (never read), so verdict time does not
 * depend on the tensor bytes; whatever follows the last storage is searched
 * for hidden pickles.
 */
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

static const uint8_t magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static int tl_probe(mg_span head, mg_str name)
{
    (void)name; /* reads the first 24 bytes only */
    /* the magic LONG1 follows PROTO (and a FRAME at protocol 4+) */
    size_t lim = head.len < 24 ? head.len : 24;
    for (size_t i = 0; i + sizeof magic <= lim; i++)
        if (memcmp(head.p + i, magic, sizeof magic) == 0)
            return 95;
    return 0;
}

/* Element sizes of the storage classes torch writes in persistent ids. */
static unsigned elem_size(mg_str type)
{
    static const struct {
        const char *name;
        unsigned size;
    } t[] = {
        {"DoubleStorage", 8},   {"FloatStorage", 4},   {"HalfStorage", 2},         {"BFloat16Storage", 2},
        {"LongStorage", 8},     {"IntStorage", 4},     {"ShortStorage", 2},        {"CharStorage", 1},
        {"ByteStorage", 1},     {"BoolStorage", 1},    {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
        {"QInt8Storage", 1},    {"QUInt8Storage", 1},  {"QInt32Storage", 4},       {"QUInt4x2Storage", 1},
        {"QUInt2x4Storage", 1}, {"UntypedStorage", 1}, {"ComplexHalfStorage", 4},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (mg_str_eq(type, t[i].name))
            return t[i].size;
    return 0;
}

typedef struct tl_storage {
    mg_str key;
    unsigned esize;
} tl_storage;

typedef struct tl_ctx {
    mg_scan *s;
    mg_vec storages; /* tl_storage from stream 4 */
    mg_vec keys;     /* mg_str from stream 5, in order */
    int bad_type;
    mg_str bad_name;
} tl_ctx;

static void on_persid(void *arg, const mg_pickle_persid *p)
{
    tl_ctx *c = arg;
    if (!mg_str_eq(p->kind, "storage"))
        return;
    int torch_mod = mg_str_eq(p->type_module, "torch") || mg_str_eq(p->type_module, "torch.storage");
    unsigned es = torch_mod ? elem_size(p->type_name) : 0;
    if (!es) {
        c->bad_type = 1;
        c->bad_name = p->type_name;
        return;
    }
    tl_storage *st = mg_vec_push(&c->storages);
    /* the key may live in the pickle machine's heap, which dies with the stream */
    char *key = st ? mg_arena_strndup(&c->s->work, p->key.p, p->key.len) : NULL;
    if (st && key) {
        st->key = (mg_str){key, p->key.len};
        st->esize = es;
    } else if (st) {
        c->storages.n--;
    }
}

static void on_string(void *arg, mg_str str)
{
    tl_ctx *c = arg;
    mg_str *k = mg_vec_push(&c->keys);
    if (k)
        *k = str;
}

static unsigned key_size(const tl_ctx *c, mg_str key)
{
    const tl_storage *st = c->storages.items;
    for (size_t i = 0; i < c->storages.n; i++)
        if (st[i].key.len == key.len && memcmp(st[i].key.p, key.p, key.len) == 0)
            return st[i].esize;
    return 0;
}

/* Skips the raw storages in key order; returns the offset after the last,
 * or SIZE_MAX after reporting why they cannot be skipped. */
static size_t skip_storages(mg_scan *s, const tl_ctx *c, mg_span in, size_t off)
{
    const mg_str *keys = c->keys.items;
    for (size_t i = 0; i < c->keys.n; i++) {
        unsigned es = key_size(c, keys[i]);
        if (!es) {
            mg_find(s, "MG-PYTCH-400", off, NULL, "storage key %zu is listed but never defined by the object pickle",
                    i);
            return SIZE_MAX;
        }
        mg_rd r = mg_rd_new(in);
        r.off = off;
        uint64_t n = mg_rd_le(&r, 8), bytes;
        if (r.bad || __builtin_mul_overflow(n, (uint64_t)es, &bytes) || mg_rd_skip(&r, bytes) != 0) {
            mg_find(s, "MG-PYTCH-400", off, NULL, "storage %zu declares %llu elements, more than the file holds", i,
                    (unsigned long long)n);
            return SIZE_MAX;
        }
        off = r.off;
    }
    return off;
}

static int tl_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    tl_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    mg_vec_init(&c.storages, sizeof(tl_storage), &s->mem);
    mg_vec_init(&c.keys, sizeof(mg_str), &s->mem);
    mg_pickle_hooks obj_hooks = {on_persid, NULL, &c}, key_hooks = {NULL, on_string, &c};
    static const char *const what[] = {"magic number", "protocol version", "system info", "object", "storage keys"};
    size_t off = 0;
    int ok = 1;
    for (int i = 0; i < 5 && ok; i++) {
        mg_pickle_result r;
        mg_pickle_stream(s, in, off, i == 3 ? &obj_hooks : i == 4 ? &key_hooks : NULL, &r);
        if (!r.stopped) { /* the pickle machine reported where and why */
            mg_find(s, "MG-PYTCH-400", off, NULL, "the %s pickle of the checkpoint is broken", what[i]);
            off = (size_t)r.end + 1; /* search after the break, not the same stream again */
            ok = 0;
            break;
        }
        off = (size_t)r.end;
    }
    if (ok && c.bad_type) {
        char t[128];
        snprintf(t, sizeof t, "%.*s", (int)(c.bad_name.len < 100 ? c.bad_name.len : 100), c.bad_name.p);
        mg_find(s, "MG-PYTCH-400", 0, t, "storage of unknown type `%s`: its data cannot be skipped", t);
        ok = 0;
    }
    if (ok) {
        size_t end = skip_storages(s, &c, in, off);
        if (end != SIZE_MAX && end < in.len) {
            mg_find(s, "MG-PKL-401", end, NULL,
                    "%zu bytes follow the last storage; the loader ignores them, but they can carry a "
                    "second-stage payload",
                    in.len - end);
            mg_pickle_scan_trailing(s, in, end);
        }
    } else if (off < in.len) {
        mg_pickle_scan_trailing(s, in, off);
    }
    mg_vec_free(&c.storages);
    mg_vec_free(&c.keys);
    return 0;
}

const mg_module mg_module_torch_legacy = {"pytorch-legacy", tl_probe, tl_scan, 0};
