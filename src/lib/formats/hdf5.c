/*
 * hdf5.c - HDF5 files, and Keras models saved in them (tf.keras 2
 * `model.save("x.h5")`, the weights member of a `.keras` zip). Spec: The HDF
 * Group, "HDF5 File Format Specification Version 3.0"
 * (https://support.hdfgroup.org/documentation/hdf5/latest/_f_m_t3.html).
 *
 * Layout: the signature "\x89HDF\r\n\x1a\n" at 0, 512, 1024, 2048... (the
 * bytes before it are a user block HDF5 ignores); a superblock (versions
 * 0-3) giving the sizes of addresses and lengths, a base address and the
 * root group's object header (directly in v2/v3, through a symbol table
 * entry in v0/v1). An object header (v1: a 16-byte prefix; v2: "OHDR") holds
 * messages, continued in further blocks (v2: "OCHK") by continuation
 * messages. Keras keeps its model in attributes of the root group:
 * `model_config` and `training_config` (JSON), `keras_version`, `backend`;
 * h5py writes them as variable-length strings whose bytes live in a global
 * heap collection ("GCOL"), or as fixed-length strings in the message.
 * Groups list their members in a v1 B-tree ("TREE") of symbol nodes
 * ("SNOD") with names in a local heap (old style, h5py's default), or in
 * link messages (new style).
 *
 * Attacks: the Keras config (Lambda bytecode, callables from any module:
 * see keras.c); datasets whose data lives in other files (External Data
 * Files message, external links, virtual datasets): Keras loading weights
 * reads whatever local file they name (CVE-2026-1669); a hostile file
 * aimed at the HDF5 C library's parser, which is why no library touches
 * these bytes here; a user block holding a pickle for loaders that sniff
 * the first bytes.
 *
 * How we read it: our own bounded reader of the subset above. Every address
 * is checked against the file, every chain and tree walk counts the blocks
 * it visits (a visited set stops cycles), and groups are walked with a work
 * list bounded by the member limit, looking at each object's messages for
 * external storage. Anything we cannot read in a file with the signature is
 * MG-KERAS-400 "HDF5 structure unreadable" (the catalog has no generic
 * HDF5 id; an HDF5 file in a model repository is a Keras file or data the
 * model loads). Dense (fractal-heap) attribute and link storage is not read
 * and reported as unreadable, since Keras never writes it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

static const uint8_t h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static int hdf5_probe(mg_span data, mg_str name)
{
    (void)name;
    static const size_t at[] = {0, 512, 1024, 2048};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        if (data.len >= at[i] + 8 && memcmp(data.p + at[i], h5_sig, 8) == 0)
            return 95;
    return 0;
}

enum {
    H5_MAX_CHUNKS = 4096,    /* header chunks of one object */
    H5_MAX_BTREE = 1u << 20, /* B-tree and symbol nodes per file */
    H5_MAX_PROBLEMS = 4,     /* structure problems reported per file */
    H5_MAX_STR = 64u << 20,  /* largest attribute string we take */
    H5_KERAS_ATTRS = 4,
};

/* A string attribute found on the root group. */
typedef struct h5_attr {
    mg_span val;
    uint64_t off;
    int found;
} h5_attr;

typedef struct h5 {
    mg_scan *s;
    mg_span in;
    uint64_t base;   /* addresses are relative to it */
    unsigned so, sl; /* sizes of offsets and lengths */
    uint64_t undef;  /* the "undefined address" (all ones) */
    /* visited addresses: open addressing, sized to the budget */
    uint64_t *seen;
    size_t seen_cap, seen_n;
    /* objects still to visit */
    mg_vec todo; /* uint64_t */
    size_t objects, nodes, problems;
    int stop;
    h5_attr attrs[H5_KERAS_ATTRS]; /* model_config, training_config, keras_version, backend */
} h5;

static const char *const keras_attr_names[H5_KERAS_ATTRS] = {"model_config", "training_config", "keras_version",
                                                             "backend"};

__attribute__((format(printf, 3, 4))) static void h5_bad(h5 *h, uint64_t off, const char *fmt, ...)
{
    if (h->problems++ >= H5_MAX_PROBLEMS)
        return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mg_find(h->s, "MG-KERAS-400", off, NULL, "HDF5 structure unreadable: %s", msg);
}

/* The n bytes at file address `addr` (relative to the base), or an empty
 * span when they are not all inside the file. */
static mg_span h5_at(const h5 *h, uint64_t addr, uint64_t n)
{
    if (addr == h->undef || addr > h->in.len || h->base > h->in.len - addr)
        return (mg_span){NULL, 0};
    uint64_t abs = h->base + addr;
    if (n > h->in.len - abs)
        return (mg_span){NULL, 0};
    return (mg_span){h->in.p + abs, (size_t)n};
}

static uint64_t h5_abs(const h5 *h, uint64_t addr)
{
    return addr <= UINT64_MAX - h->base ? h->base + addr : addr;
}

static void h5_insert(uint64_t *tab, size_t cap, uint64_t key)
{
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
    while (tab[i] && tab[i] != key)
        i = (i + 1) & (cap - 1);
    tab[i] = key;
}

/* Adds addr to the visited set; 1 if it was new, 0 if seen, -1 when the
 * set would pass its bound (twice the member limit) or the memory budget.
 * The table starts small and doubles: most files have a few objects. */
static int h5_visit(h5 *h, uint64_t addr)
{
    uint64_t key = addr + 1; /* 0 marks an empty slot */
    if (h->seen_n * 2 >= h->seen_cap) {
        size_t cap = h->seen_cap ? h->seen_cap * 2 : 256;
        if (h->seen_n >= 2 * (size_t)h->s->lim->max_members + 64)
            return -1;
        uint64_t *tab = mg_arena_calloc(&h->s->work, cap, sizeof(uint64_t));
        if (!tab)
            return -1;
        for (size_t i = 0; i < h->seen_cap; i++)
            if (h->seen[i])
                h5_insert(tab, cap, h->seen[i]);
        h->seen = tab;
        h->seen_cap = cap;
    }
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (h->seen_cap - 1);
    while (h->seen[i]) {
        if (h->seen[i] == key)
            return 0;
        i = (i + 1) & (h->seen_cap - 1);
    }
    h->seen[i] = key;
    h->seen_n++;
    return 1;
}

/* ---- global heap: variable-length data ---- */

/* Object `index` of the global heap collection at `addr`. */
static int h5_gheap(h5 *h, uint64_t addr, uint32_t index, mg_span *out)
{
    mg_span hdr = h5_at(h, addr, 8 + h->sl);
    if (!hdr.p || memcmp(hdr.p, "GCOL", 4) != 0 || hdr.p[4] != 1)
        return -1;
    uint64_t csize = mg_le(hdr.p + 8, h->sl);
    mg_span coll = h5_at(h, addr, csize);
    if (!coll.p || csize < 8 + h->sl)
        return -1;
    mg_rd r = mg_rd_new(coll);
    mg_rd_skip(&r, 8 + h->sl);
    /* each object takes at least 8 + L bytes: the loop ends within the collection */
    while (mg_rd_has(&r, 8 + h->sl)) {
        uint32_t idx = (uint32_t)mg_rd_le(&r, 2);
        mg_rd_skip(&r, 6); /* reference count, reserved */
        uint64_t size = mg_rd_le(&r, h->sl);
        if (idx == 0)
            return -1; /* free space: the rest of the collection */
        size_t at = r.off;
        if (idx == index) {
            *out = mg_span_sub(coll, at, (size_t)(size > coll.len ? coll.len + 1 : size));
            return out->p || size == 0 ? 0 : -1;
        }
        if (size > UINT64_MAX - 7 || mg_rd_skip(&r, (size + 7) & ~(uint64_t)7) != 0)
            return -1;
    }
    return -1;
}

/* ---- attributes ---- */

typedef struct h5_dtype {
    unsigned cls;
    uint32_t size;
    int vlen_string; /* class 9 string, or sequence of 1-byte elements */
} h5_dtype;

static int h5_parse_dtype(mg_span d, h5_dtype *t)
{
    if (d.len < 8)
        return -1;
    t->cls = d.p[0] & 0x0f;
    t->size = (uint32_t)mg_le(d.p + 4, 4);
    t->vlen_string = 0;
    if (t->cls == 9) {
        unsigned kind = d.p[1] & 0x0f;
        /* a sequence's base type follows: a 1-byte integer means bytes */
        int bytes = kind == 0 && d.len >= 16 && (d.p[8] & 0x0f) == 0 && mg_le(d.p + 12, 4) == 1;
        t->vlen_string = kind == 1 || bytes;
    }
    return 0;
}

/* Number of elements of a dataspace message (1 for a scalar). */
static int h5_dataspace_count(const h5 *h, mg_span d, uint64_t *count)
{
    if (d.len < 4)
        return -1;
    unsigned ver = d.p[0], rank = d.p[1];
    size_t dims_at;
    if (ver == 1)
        dims_at = 8;
    else if (ver == 2) {
        dims_at = 4;
        if (d.p[3] == 2) { /* null dataspace: no data */
            *count = 0;
            return 0;
        }
    } else
        return -1;
    if (rank > 32)
        return -1;
    uint64_t n = 1;
    for (unsigned i = 0; i < rank; i++) {
        size_t at = dims_at + (size_t)i * h->sl;
        if (at + h->sl > d.len)
            return -1;
        uint64_t dim = mg_le(d.p + at, h->sl);
        if (dim && n > UINT64_MAX / dim)
            return -1;
        n *= dim;
    }
    *count = n;
    return 0;
}

/* The string value of an attribute message's data: its first element. */
static int h5_attr_value(h5 *h, const h5_dtype *t, uint64_t count, mg_span data, uint64_t data_abs, h5_attr *a)
{
    if (count == 0)
        return -1;
    if (t->cls == 3) { /* fixed-length string: trailing NULs and spaces are padding */
        if (t->size > data.len)
            return -1;
        size_t n = t->size;
        while (n && (data.p[n - 1] == 0 || data.p[n - 1] == ' '))
            n--;
        a->val = (mg_span){data.p, n};
        a->off = data_abs;
        a->found = 1;
        return 0;
    }
    if (t->cls == 9 && t->vlen_string) {
        if (data.len < 4 + h->so + 4)
            return -1;
        uint64_t len = mg_le(data.p, 4);
        uint64_t coll = mg_le(data.p + 4, h->so);
        uint32_t idx = (uint32_t)mg_le(data.p + 4 + h->so, 4);
        mg_span v;
        if (len > H5_MAX_STR || h5_gheap(h, coll, idx, &v) != 0 || v.len < len)
            return -1;
        a->val = (mg_span){v.p, (size_t)len};
        a->off = (uint64_t)(v.p - h->in.p);
        a->found = 1;
        return 0;
    }
    return 1; /* not a string: not Keras's */
}

/* Attribute message (type 0x0C), versions 1-3; only the root's Keras
 * attributes are read. */
static void h5_attribute(h5 *h, mg_span m, uint64_t abs, int shared)
{
    if (m.len < 8) {
        h5_bad(h, abs, "attribute message of %zu bytes", m.len);
        return;
    }
    unsigned ver = m.p[0], flags = m.p[1];
    size_t nlen = (size_t)mg_le(m.p + 2, 2), tlen = (size_t)mg_le(m.p + 4, 2), slen = (size_t)mg_le(m.p + 6, 2);
    size_t at = ver == 3 ? 9 : 8;
    if (ver < 1 || ver > 3 || nlen == 0) {
        h5_bad(h, abs, "attribute message version %u", ver);
        return;
    }
    mg_span nm = mg_span_sub(m, at, nlen);
    if (!nm.p) {
        h5_bad(h, abs, "attribute name runs past its message");
        return;
    }
    size_t nl = nlen;
    while (nl && nm.p[nl - 1] == 0)
        nl--;
    int which = -1;
    for (int i = 0; i < H5_KERAS_ATTRS; i++)
        if (mg_str_eq((mg_str){(const char *)nm.p, nl}, keras_attr_names[i]))
            which = i;
    if (which < 0)
        return;
    if (shared || (ver >= 2 && (flags & 3))) {
        h5_bad(h, abs, "root attribute `%s` uses a shared datatype or dataspace, which this reader does not follow",
               keras_attr_names[which]);
        return;
    }
    /* version 1 pads each part to a multiple of 8 */
    size_t pn = ver == 1 ? (nlen + 7) & ~(size_t)7 : nlen;
    size_t pt = ver == 1 ? (tlen + 7) & ~(size_t)7 : tlen;
    size_t ps = ver == 1 ? (slen + 7) & ~(size_t)7 : slen;
    mg_span dt = mg_span_sub(m, at + pn, tlen), ds = mg_span_sub(m, at + pn + pt, slen);
    mg_span data = mg_span_from(m, at + pn + pt + ps);
    h5_dtype t;
    uint64_t count;
    if (!dt.p || !ds.p || !data.p || h5_parse_dtype(dt, &t) != 0 || h5_dataspace_count(h, ds, &count) != 0) {
        h5_bad(h, abs, "root attribute `%s` has an unreadable datatype or dataspace", keras_attr_names[which]);
        return;
    }
    if (h->attrs[which].found) {
        h5_bad(h, abs, "root attribute `%s` appears twice; readers may take either", keras_attr_names[which]);
        return;
    }
    int rc = h5_attr_value(h, &t, count, data, abs + at + pn + pt + ps, &h->attrs[which]);
    if (rc < 0)
        h5_bad(h, abs, "the value of root attribute `%s` cannot be read", keras_attr_names[which]);
}

/* ---- links and external storage ---- */

static void h5_external(h5 *h, uint64_t abs, const char *what, mg_str target)
{
    char t[256];
    size_t n = target.len < sizeof t - 1 ? target.len : sizeof t - 1;
    for (size_t i = 0; i < n; i++)
        t[i] = target.p[i] >= 0x20 && target.p[i] < 0x7f ? target.p[i] : '?';
    t[n] = 0;
    mg_find(h->s, "MG-KERAS-102", abs, what,
            "HDF5 %s `%s`: loading the weights reads a file outside this one, which the scan never saw "
            "(CVE-2026-1669)",
            what, t);
}

static void h5_push(h5 *h, uint64_t addr)
{
    uint64_t *slot = mg_vec_push(&h->todo);
    if (slot)
        *slot = addr;
}

/* Link message (type 0x06): hard links are walked, external links reported. */
static void h5_link(h5 *h, mg_span m, uint64_t abs)
{
    mg_rd r = mg_rd_new(m);
    unsigned ver = mg_rd_u8(&r), flags = mg_rd_u8(&r);
    unsigned type = (flags & 0x08) ? mg_rd_u8(&r) : 0;
    if (flags & 0x04)
        mg_rd_skip(&r, 8); /* creation order */
    if (flags & 0x10)
        mg_rd_skip(&r, 1); /* charset */
    uint64_t nlen = mg_rd_le(&r, 1u << (flags & 3));
    mg_rd_skip(&r, nlen);
    if (r.bad || ver != 1) {
        h5_bad(h, abs, "link message cannot be read");
        return;
    }
    if (type == 0) {
        uint64_t addr = mg_rd_le(&r, h->so);
        if (!r.bad)
            h5_push(h, addr);
    } else if (type == 64) { /* external: info length, flags byte, "file\0object\0" */
        uint64_t len = mg_rd_le(&r, 2);
        mg_span info = mg_rd_take(&r, (size_t)len);
        mg_str file = {"?", 1};
        if (info.len > 1) {
            const uint8_t *z = memchr(info.p + 1, 0, info.len - 1);
            file = (mg_str){(const char *)info.p + 1, z ? (size_t)(z - info.p - 1) : info.len - 1};
        }
        h5_external(h, abs, "external link to file", file);
    }
}

/* NUL-terminated string at `off` of a local heap's data segment. */
static mg_str h5_local_heap_str(h5 *h, uint64_t heap, uint64_t off)
{
    mg_span hdr = h5_at(h, heap, 8 + 2 * (uint64_t)h->sl + h->so);
    if (!hdr.p || memcmp(hdr.p, "HEAP", 4) != 0)
        return (mg_str){NULL, 0};
    uint64_t dsize = mg_le(hdr.p + 8, h->sl);
    uint64_t daddr = mg_le(hdr.p + 8 + 2 * h->sl, h->so);
    mg_span seg = h5_at(h, daddr, dsize);
    if (!seg.p || off >= seg.len)
        return (mg_str){NULL, 0};
    const uint8_t *z = memchr(seg.p + off, 0, seg.len - (size_t)off);
    if (!z)
        return (mg_str){NULL, 0};
    return (mg_str){(const char *)seg.p + off, (size_t)(z - seg.p - off)};
}

/* External Data Files message (type 0x07): the dataset's bytes are in
 * other files, named in a local heap. */
static void h5_efl(h5 *h, mg_span m, uint64_t abs)
{
    mg_rd r = mg_rd_new(m);
    mg_rd_skip(&r, 4);
    mg_rd_skip(&r, 2); /* allocated slots */
    unsigned used = (unsigned)mg_rd_le(&r, 2);
    uint64_t heap = mg_rd_le(&r, h->so);
    uint64_t name_off = mg_rd_le(&r, h->sl);
    mg_str name = {NULL, 0};
    if (!r.bad && used)
        name = h5_local_heap_str(h, heap, name_off);
    h5_external(h, abs, "dataset stored in external file", name.p ? name : (mg_str){"(unreadable name)", 17});
}

/* Data Layout message (type 0x08): version 4 class 3 is a virtual dataset
 * whose data comes from other files. */
static void h5_layout(h5 *h, mg_span m, uint64_t abs)
{
    if (m.len >= 2 && m.p[0] == 4 && m.p[1] == 3)
        h5_external(h, abs, "virtual dataset mapping data from", (mg_str){"other files", 11});
}

/* ---- v1 B-trees of old-style groups ---- */

static void h5_snod(h5 *h, uint64_t addr)
{
    size_t entry = 2 * (size_t)h->so + 24;
    if (h5_visit(h, addr) != 1) {
        h5_bad(h, h5_abs(h, addr), "group symbol node %llu is reached twice or past the limit",
               (unsigned long long)addr);
        return;
    }
    mg_span hd = h5_at(h, addr, 8);
    if (!hd.p || memcmp(hd.p, "SNOD", 4) != 0) {
        h5_bad(h, h5_abs(h, addr), "group symbol node missing at address %llu", (unsigned long long)addr);
        return;
    }
    unsigned n = (unsigned)mg_le(hd.p + 6, 2);
    mg_span body = h5_at(h, addr + 8, (uint64_t)n * entry);
    if (!body.p) {
        h5_bad(h, h5_abs(h, addr), "group symbol node of %u entries runs past the file", n);
        return;
    }
    for (unsigned i = 0; i < n; i++)
        h5_push(h, mg_le(body.p + (size_t)i * entry + h->so, h->so));
}

/* Walks a group's B-tree breadth-first; every node counts against the
 * node budget and the visited set. */
static void h5_btree(h5 *h, uint64_t root)
{
    mg_vec q;
    mg_vec_init(&q, sizeof(uint64_t), &h->s->mem);
    uint64_t *first = mg_vec_push(&q);
    if (first)
        *first = root;
    for (size_t qi = 0; qi < q.n && !h->stop; qi++) {
        uint64_t addr = ((uint64_t *)q.items)[qi];
        if (++h->nodes > H5_MAX_BTREE) {
            mg_limit(h->s, MG_LIM_MEMBERS, h5_abs(h, addr), "the HDF5 file has more group nodes than the limit");
            h->stop = 1;
            break;
        }
        int v = h5_visit(h, addr);
        if (v == 0) {
            h5_bad(h, h5_abs(h, addr), "group B-tree node %llu is reached twice (a cycle)", (unsigned long long)addr);
            continue;
        }
        if (v < 0) {
            mg_limit(h->s, MG_LIM_MEMBERS, h5_abs(h, addr), "the HDF5 file has more objects than the limit");
            h->stop = 1;
            break;
        }
        size_t hsz = 8 + 2 * (size_t)h->so;
        mg_span hd = h5_at(h, addr, hsz);
        if (!hd.p || memcmp(hd.p, "TREE", 4) != 0 || hd.p[4] != 0) {
            h5_bad(h, h5_abs(h, addr), "group B-tree node missing at address %llu", (unsigned long long)addr);
            continue;
        }
        unsigned level = hd.p[5], used = (unsigned)mg_le(hd.p + 6, 2);
        /* keys and children interleave: key0 child0 key1 ... child(n-1) key(n) */
        mg_span body = h5_at(h, addr + hsz, (uint64_t)used * (h->sl + h->so) + h->sl);
        if (!body.p) {
            h5_bad(h, h5_abs(h, addr), "group B-tree node of %u entries runs past the file", used);
            continue;
        }
        for (unsigned i = 0; i < used; i++) {
            uint64_t child = mg_le(body.p + (size_t)i * (h->sl + h->so) + h->sl, h->so);
            if (level == 0)
                h5_snod(h, child);
            else {
                uint64_t *c = mg_vec_push(&q);
                if (c)
                    *c = child;
            }
        }
    }
    mg_vec_free(&q);
}

/* ---- object headers ---- */

typedef struct h5_chunk {
    uint64_t addr, len;
} h5_chunk;

/* One message of an object header. */
static void h5_message(h5 *h, unsigned type, unsigned flags, mg_span m, uint64_t abs, int root, mg_vec *chunks)
{
    switch (type) {
    case 0x10: { /* continuation */
        if (m.len < (size_t)h->so + h->sl) {
            h5_bad(h, abs, "continuation message too short");
            return;
        }
        h5_chunk *c = chunks->n < H5_MAX_CHUNKS ? mg_vec_push(chunks) : NULL;
        if (!c) {
            h5_bad(h, abs, "object header has more than %d continuation blocks", H5_MAX_CHUNKS);
            return;
        }
        c->addr = mg_le(m.p, h->so);
        c->len = mg_le(m.p + h->so, h->sl);
        break;
    }
    case 0x0C:
        if (root)
            h5_attribute(h, m, abs, (flags & 2) != 0);
        break;
    case 0x15: /* attribute info: dense storage when the fractal heap address is defined */
        if (root && m.len >= 2 + (size_t)h->so) {
            size_t at = 2 + ((m.p[1] & 1) ? 2 : 0);
            if (at + h->so <= m.len && mg_le(m.p + at, h->so) != h->undef)
                h5_bad(h, abs,
                       "root attributes are in dense storage (fractal heap), which this reader does not read: "
                       "a Keras config there would go unchecked");
        }
        break;
    case 0x02: /* link info: dense links */
        if (m.len >= 2 + (size_t)h->so) {
            size_t at = 2 + ((m.p[1] & 1) ? 8 : 0);
            if (at + h->so <= m.len && mg_le(m.p + at, h->so) != h->undef)
                h5_bad(h, abs,
                       "a group keeps its links in dense storage (fractal heap), which this reader does not "
                       "walk: members below it were not checked");
        }
        break;
    case 0x06:
        h5_link(h, m, abs);
        break;
    case 0x07:
        h5_efl(h, m, abs);
        break;
    case 0x08:
        h5_layout(h, m, abs);
        break;
    case 0x11: /* symbol table: an old-style group */
        if (m.len >= 2 * (size_t)h->so)
            h5_btree(h, mg_le(m.p, h->so));
        break;
    default:
        break;
    }
}

/* Messages of one chunk: v1 (8-byte headers, 8-aligned) or v2 (4 or 6). */
static void h5_messages(h5 *h, mg_span c, uint64_t abs, int v2, int crt, int root, mg_vec *chunks)
{
    mg_rd r = mg_rd_new(c);
    size_t hdr = v2 ? (crt ? 6 : 4) : 8;
    while (mg_rd_has(&r, hdr) && !h->stop) {
        size_t at = r.off;
        unsigned type = v2 ? mg_rd_u8(&r) : (unsigned)mg_rd_le(&r, 2);
        size_t size = (size_t)mg_rd_le(&r, 2);
        unsigned flags = mg_rd_u8(&r);
        mg_rd_skip(&r, v2 ? (crt ? 2 : 0) : 3);
        mg_span m = mg_rd_take(&r, size);
        if (r.bad) {
            h5_bad(h, abs + at, "header message of %zu bytes runs past its block", size);
            return;
        }
        h5_message(h, type, flags, m, abs + r.off - size, root, chunks);
    }
}

/* Reads one object header and its continuation blocks. */
static void h5_object(h5 *h, uint64_t addr, int root)
{
    int v = h5_visit(h, addr);
    if (v <= 0) {
        if (v < 0) {
            mg_limit(h->s, MG_LIM_MEMBERS, h5_abs(h, addr), "the HDF5 file has more objects than the limit");
            h->stop = 1;
        }
        return; /* seen: hard links may legally reach an object twice */
    }
    uint64_t abs = h5_abs(h, addr);
    mg_span p = h5_at(h, addr, 16);
    if (!p.p) {
        h5_bad(h, abs, "object header address %llu is outside the file", (unsigned long long)addr);
        return;
    }
    mg_vec chunks;
    mg_vec_init(&chunks, sizeof(h5_chunk), &h->s->mem);
    int v2 = memcmp(p.p, "OHDR", 4) == 0, crt = 0;
    if (v2) {
        unsigned flags = p.p[5];
        crt = (flags & 0x04) != 0;
        size_t at = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
        unsigned w = 1u << (flags & 3);
        mg_span f = h5_at(h, addr, at + w);
        uint64_t size = f.p ? mg_le(f.p + at, w) : 0;
        mg_span body = f.p ? h5_at(h, addr + at + w, size) : (mg_span){NULL, 0};
        if (p.p[4] != 2 || !body.p) {
            h5_bad(h, abs, "version 2 object header at %llu cannot be read", (unsigned long long)addr);
            goto out;
        }
        h5_messages(h, body, abs + at + w, 1, crt, root, &chunks);
    } else {
        uint64_t size = mg_le(p.p + 8, 4);
        mg_span body = h5_at(h, addr + 16, size);
        if (p.p[0] != 1 || !body.p) {
            h5_bad(h, abs, "object header at %llu has version %u or runs past the file", (unsigned long long)addr,
                   p.p[0]);
            goto out;
        }
        h5_messages(h, body, abs + 16, 0, 0, root, &chunks);
    }
    /* continuation blocks; each may add more (bounded by H5_MAX_CHUNKS) */
    for (size_t i = 0; i < chunks.n && !h->stop; i++) {
        h5_chunk c = ((h5_chunk *)chunks.items)[i];
        if (h5_visit(h, c.addr) != 1) {
            h5_bad(h, h5_abs(h, c.addr), "object header continuation block reached twice (a cycle)");
            break;
        }
        mg_span b = h5_at(h, c.addr, c.len);
        if (!b.p || (v2 && (b.len < 8 || memcmp(b.p, "OCHK", 4) != 0))) {
            h5_bad(h, h5_abs(h, c.addr), "object header continuation block missing or outside the file");
            continue;
        }
        if (v2) /* signature before, checksum after */
            b = mg_span_sub(b, 4, b.len - 8);
        h5_messages(h, b, h5_abs(h, c.addr) + (v2 ? 4 : 0), v2, crt, root, &chunks);
    }
out:
    mg_vec_free(&chunks);
}

/* ---- superblock ---- */

static int h5_superblock(h5 *h, size_t sig, uint64_t *root)
{
    mg_rd r = mg_rd_new(mg_span_from(h->in, sig));
    mg_rd_skip(&r, 8);
    unsigned ver = mg_rd_u8(&r);
    if (ver <= 1) {
        mg_rd_skip(&r, 4); /* free-space, root table, reserved, shared header versions */
        h->so = mg_rd_u8(&r);
        h->sl = mg_rd_u8(&r);
        mg_rd_skip(&r, 1 + 4 + 4 + (ver == 1 ? 4 : 0)); /* reserved, K values, flags, v1 K + reserved */
    } else if (ver <= 3) {
        h->so = mg_rd_u8(&r);
        h->sl = mg_rd_u8(&r);
        mg_rd_skip(&r, 1); /* consistency flags */
    } else {
        h5_bad(h, sig + 8, "superblock version %u", ver);
        return -1;
    }
    if ((h->so != 2 && h->so != 4 && h->so != 8) || (h->sl != 2 && h->sl != 4 && h->sl != 8)) {
        h5_bad(h, sig + 8, "sizes of offsets %u and lengths %u", h->so, h->sl);
        return -1;
    }
    h->undef = h->so == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * h->so)) - 1;
    h->base = mg_rd_le(&r, h->so);
    if (ver <= 1) {
        mg_rd_skip(&r, 3 * (uint64_t)h->so); /* free space, end of file, driver info */
        mg_rd_skip(&r, h->so);               /* root entry: link name offset */
        *root = mg_rd_le(&r, h->so);
    } else {
        mg_rd_skip(&r, 2 * (uint64_t)h->so); /* superblock extension, end of file */
        *root = mg_rd_le(&r, h->so);
    }
    if (r.bad) {
        h5_bad(h, sig, "truncated superblock");
        return -1;
    }
    /* the base address is absolute; a file with a user block puts it at the signature */
    if (h->base > h->in.len) {
        h5_bad(h, sig, "base address %llu is outside the file", (unsigned long long)h->base);
        return -1;
    }
    return 0;
}

static void h5_keras(h5 *h)
{
    mg_scan *s = h->s;
    h5_attr *mc = &h->attrs[0], *tc = &h->attrs[1], *kv = &h->attrs[2], *be = &h->attrs[3];
    mg_set_format(s, mc->found ? "keras-h5" : "hdf5");
    for (int i = 2; i < 4; i++) {
        h5_attr *a = &h->attrs[i];
        if (!a->found)
            continue;
        char v[64];
        size_t n = a->val.len < sizeof v - 1 ? a->val.len : sizeof v - 1;
        for (size_t k = 0; k < n; k++)
            v[k] = a->val.p[k] >= 0x20 && a->val.p[k] < 0x7f ? (char)a->val.p[k] : '?';
        v[n] = 0;
        mg_fact(s, i == 2 ? "keras_version" : "keras_backend", v);
    }
    (void)kv;
    (void)be;
    if (mc->found)
        mg_keras_config(s, mc->val, mc->off);
    if (tc->found)
        mg_keras_config(s, tc->val, tc->off);
}

static int hdf5_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    h5 h;
    memset(&h, 0, sizeof h);
    h.s = s;
    h.in = in;
    size_t sig = 0;
    while (sig + 8 <= in.len && memcmp(in.p + sig, h5_sig, 8) != 0 && sig < 2048)
        sig = sig ? sig * 2 : 512;
    if (sig + 8 > in.len || memcmp(in.p + sig, h5_sig, 8) != 0)
        return 0;
    mg_set_format(s, "hdf5");
    if (sig) /* HDF5 ignores a user block; a loader that sniffs bytes does not */
        mg_scan_child(s, mg_span_sub(in, 0, sig), "userblock", 0);
    uint64_t root;
    if (h5_superblock(&h, sig, &root) != 0)
        return 0;
    mg_vec_init(&h.todo, sizeof(uint64_t), &s->mem);
    h5_object(&h, root, 1);
    /* the rest of the tree: only external storage is looked for there */
    for (size_t i = 0; i < h.todo.n && !h.stop; i++) {
        if (++h.objects > s->lim->max_members) {
            mg_limit(s, MG_LIM_MEMBERS, 0, "the HDF5 file has more objects than the member limit");
            break;
        }
        if ((i & 0xff) == 0 && mg_scan_expired(s, 0))
            break;
        h5_object(&h, ((uint64_t *)h.todo.items)[i], 0);
    }
    mg_vec_free(&h.todo);
    h5_keras(&h);
    return 0;
}

const mg_module mg_module_hdf5 = {"hdf5", hdf5_probe, hdf5_scan, 0};
