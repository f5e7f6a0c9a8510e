/*
 * pickle.c - a symbolic pickle machine (protocols 0-5) and the raw pickle
 * format module.
 *
 * Layout: a pickle is a stream of one-byte opcodes with inline arguments,
 * ending at STOP ('.'). Protocol 2+ streams begin with PROTO (0x80 n);
 * protocol 0/1 streams begin with any opcode. The loader is a stack machine
 * with a memo (PUT/GET and MEMOIZE), marks, and opcodes that import a
 * callable (GLOBAL, STACK_GLOBAL, INST, EXT1/2/4) and call it (REDUCE, INST,
 * OBJ, NEWOBJ, NEWOBJ_EX, and BUILD through __setstate__). Spec: CPython's
 * Lib/pickletools.py (opcode table) and Lib/pickle.py / Modules/_pickle.c
 * (loader semantics).
 *
 * Attacks: any import is a potential call; the payload can be hidden behind
 * the memo, any string opcode, INST/OBJ/NEWOBJ_EX/BUILD, extension codes,
 * concatenated streams, a stream that breaks right after the payload,
 * frames, nested pickles passed as bytes to a loader, and huge prefixes.
 *
 * How we read it: nothing is executed. Values are symbolic: numbers and
 * containers are opaque, strings and bytes are remembered by the offset of
 * the opcode that made them (re-decoded on demand, never copied), imports
 * and calls are small arena objects. Every import is judged by the rules the
 * moment it is seen, so a later break in the stream cannot hide it.
 *
 * Memory: a first pass lexes the stream and collects the memo keys that are
 * ever read (GET opcodes); the second pass stores only those memo entries.
 * Benign pickles memoize every object but read back few, so the memo stays
 * tiny whatever the stream size; everything else is charged to the scan's
 * memory budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

/* ---- opcode table ---- */

enum argk {
    A_NONE = 0, /* no inline argument */
    A_FIX,      /* fixed-size argument of `n` bytes */
    A_LINE,     /* one text line ending in '\n' */
    A_LINE2,    /* two text lines (GLOBAL, INST) */
    A_LEN1,     /* 1-byte length, then data */
    A_LEN4,     /* 4-byte length, then data */
    A_LEN4S,    /* signed 4-byte length (BINSTRING), then data */
    A_LEN8,     /* 8-byte length, then data */
    A_BAD,      /* not an opcode */
};

typedef struct opinfo {
    unsigned char kind, n, proto;
} opinfo;

static opinfo optab[256];

static void optab_init_once(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    opinfo t[256];
    for (int i = 0; i < 256; i++)
        t[i] = (opinfo){A_BAD, 0, 0};
        // clang-format off
#define OP(c, k, n, p) t[(unsigned char)(c)] = (opinfo){k, n, p}
    OP('(', A_NONE, 0, 0);  OP('.', A_NONE, 0, 0);  OP('0', A_NONE, 0, 0);  OP('1', A_NONE, 0, 0);
    OP('2', A_NONE, 0, 0);  OP('F', A_LINE, 0, 0);  OP('I', A_LINE, 0, 0);  OP('J', A_FIX, 4, 1);
    OP('K', A_FIX, 1, 1);   OP('L', A_LINE, 0, 0);  OP('M', A_FIX, 2, 1);   OP('N', A_NONE, 0, 0);
    OP('P', A_LINE, 0, 0);  OP('Q', A_NONE, 0, 1);  OP('R', A_NONE, 0, 0);  OP('S', A_LINE, 0, 0);
    OP('T', A_LEN4S, 0, 1); OP('U', A_LEN1, 0, 1);  OP('V', A_LINE, 0, 0);  OP('X', A_LEN4, 0, 1);
    OP('a', A_NONE, 0, 0);  OP('b', A_NONE, 0, 0);  OP('c', A_LINE2, 0, 0); OP('d', A_NONE, 0, 0);
    OP('}', A_NONE, 0, 1);  OP('e', A_NONE, 0, 1);  OP('g', A_LINE, 0, 0);  OP('h', A_FIX, 1, 1);
    OP('i', A_LINE2, 0, 0); OP('j', A_FIX, 4, 1);   OP('l', A_NONE, 0, 0);  OP(']', A_NONE, 0, 1);
    OP('o', A_NONE, 0, 1);  OP('p', A_LINE, 0, 0);  OP('q', A_FIX, 1, 1);   OP('r', A_FIX, 4, 1);
    OP('s', A_NONE, 0, 0);  OP('t', A_NONE, 0, 0);  OP(')', A_NONE, 0, 1);  OP('u', A_NONE, 0, 1);
    OP('G', A_FIX, 8, 1);
    OP(0x80, A_FIX, 1, 2);  OP(0x81, A_NONE, 0, 2); OP(0x82, A_FIX, 1, 2);  OP(0x83, A_FIX, 2, 2);
    OP(0x84, A_FIX, 4, 2);  OP(0x85, A_NONE, 0, 2); OP(0x86, A_NONE, 0, 2); OP(0x87, A_NONE, 0, 2);
    OP(0x88, A_NONE, 0, 2); OP(0x89, A_NONE, 0, 2); OP(0x8a, A_LEN1, 0, 2); OP(0x8b, A_LEN4S, 0, 2);
    OP('B', A_LEN4, 0, 3);  OP('C', A_LEN1, 0, 3);
    OP(0x8c, A_LEN1, 0, 4); OP(0x8d, A_LEN8, 0, 4); OP(0x8e, A_LEN8, 0, 4); OP(0x8f, A_NONE, 0, 4);
    OP(0x90, A_NONE, 0, 4); OP(0x91, A_NONE, 0, 4); OP(0x92, A_NONE, 0, 4); OP(0x93, A_NONE, 0, 4);
    OP(0x94, A_NONE, 0, 4); OP(0x95, A_FIX, 8, 4);
    OP(0x96, A_LEN8, 0, 5); OP(0x97, A_NONE, 0, 5); OP(0x98, A_NONE, 0, 5);
#undef OP
    // clang-format on
    memcpy(optab, t, sizeof t);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

/* One decoded opcode: where it is, its argument, and where the next begins. */
typedef struct op {
    uint8_t code;
    size_t at;    /* offset of the opcode byte */
    size_t next;  /* offset after its argument */
    mg_span arg;  /* fixed bytes, the line (without '\n'), or the data */
    mg_span arg2; /* second line of GLOBAL/INST */
    uint64_t len; /* declared length for length-prefixed opcodes */
} op;

enum lex_err { LEX_OK = 0, LEX_END, LEX_BADOP, LEX_TRUNC, LEX_NEGLEN };

/* Decodes the opcode at `off`. Every length is checked against what is left. */
static inline __attribute__((always_inline)) enum lex_err lex(mg_span in, size_t off, op *o)
{
    if (off >= in.len)
        return LEX_END;
    o->code = in.p[off];
    o->at = off;
    const opinfo *inf = &optab[o->code];
    size_t p = off + 1, left = in.len - p;
    switch (inf->kind) {
    case A_NONE:
        o->arg = (mg_span){NULL, 0};
        o->next = p;
        return LEX_OK;
    case A_FIX:
        if (inf->n > left)
            return LEX_TRUNC;
        o->arg = (mg_span){in.p + p, inf->n};
        o->next = p + inf->n;
        return LEX_OK;
    case A_LINE2:
    case A_LINE: {
        o->arg2 = (mg_span){NULL, 0};
        const uint8_t *nl = memchr(in.p + p, '\n', left);
        if (!nl)
            return LEX_TRUNC;
        size_t l = (size_t)(nl - (in.p + p));
        o->arg = (mg_span){in.p + p, l};
        p += l + 1;
        if (inf->kind == A_LINE2) {
            left = in.len - p;
            const uint8_t *nl2 = memchr(in.p + p, '\n', left);
            if (!nl2)
                return LEX_TRUNC;
            size_t l2 = (size_t)(nl2 - (in.p + p));
            o->arg2 = (mg_span){in.p + p, l2};
            p += l2 + 1;
        }
        break;
    }
    case A_LEN1:
    case A_LEN4:
    case A_LEN4S:
    case A_LEN8: {
        unsigned w = inf->kind == A_LEN1 ? 1 : inf->kind == A_LEN8 ? 8 : 4;
        if (w > left)
            return LEX_TRUNC;
        uint64_t n = mg_le(in.p + p, w);
        if (inf->kind == A_LEN4S && (n & 0x80000000u))
            return LEX_NEGLEN;
        p += w;
        left -= w;
        if (n > left) /* guards the data read below and every later skip */
            return LEX_TRUNC;
        o->len = n;
        o->arg = (mg_span){in.p + p, (size_t)n};
        p += (size_t)n;
        break;
    }
    default:
        return LEX_BADOP;
    }
    o->next = p;
    return LEX_OK;
}

/* Parses a decimal line the way Python's int() does for GET/PUT keys:
 * optional surrounding whitespace and sign, digits with single underscores. */
static int parse_key(mg_span l, uint64_t *out)
{
    size_t i = 0, n = l.len;
    while (i < n && (l.p[i] == ' ' || l.p[i] == '\t' || l.p[i] == '\r'))
        i++;
    while (n > i && (l.p[n - 1] == ' ' || l.p[n - 1] == '\t' || l.p[n - 1] == '\r'))
        n--;
    if (i < n && l.p[i] == '+')
        i++;
    if (i >= n)
        return -1;
    uint64_t v = 0;
    int last_us = 1;
    for (; i < n; i++) {
        uint8_t c = l.p[i];
        if (c == '_' && !last_us) {
            last_us = 1;
            continue;
        }
        if (c < '0' || c > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (c - '0');
        last_us = 0;
    }
    if (last_us)
        return -1;
    *out = v;
    return 0;
}

/* ---- symbolic values ----
 * A value is a 64-bit word: the low 4 bits are its tag. Strings and bytes
 * keep the offset of their opcode; rich values point to a 16-byte aligned
 * arena object. */
typedef uint64_t pv;
enum {
    T_OPAQUE = 0, /* numbers, None, out-of-band buffers, persistent ids */
    T_STR = 1,    /* payload: offset of the string opcode */
    T_BYTES = 2,  /* payload: offset of the bytes opcode */
    T_CONT = 3,   /* a list, dict or set (contents not kept) */
    T_OBJ = 4,    /* payload: pointer to a pobj */
    T_INT = 5,    /* payload: a small non-negative integer (shapes, sizes) */
};
#define PV_TAG(v)       ((unsigned)((v)&15u))
#define PV_OFF(v)       ((size_t)((v) >> 4))
#define PV_MK(tag, off) (((pv)(off) << 4) | (tag))

enum pkind { K_GLOBAL = 1, K_CALL, K_TUPLE, K_TEXT, K_DICT };

typedef struct pobj {
    uint8_t kind;
    uint8_t verdict;  /* K_GLOBAL: mg_verdict */
    uint8_t dynamic;  /* K_GLOBAL: operands were not constant strings */
    uint8_t is_bytes; /* K_TEXT: holds bytes (not text) */
    uint32_t n;       /* K_TUPLE: items kept; K_DICT: pairs kept */
    uint32_t slots;   /* pv slots allocated in items[] (the object's size) */
    int32_t elsize;   /* K_CALL of numpy.dtype: item size its BUILD state declared, or -1 */
    uint64_t off;
    struct pobj *fwd;    /* set while the collector moves the object */
    mg_str module, name; /* K_GLOBAL; K_TEXT uses `module` for its content */
    pv fn, args;         /* K_CALL */
    pv items[];          /* K_TUPLE items; K_DICT key, value pairs */
} pobj;

static pobj *PV_PTR(pv v)
{
    return (pobj *)(uintptr_t)(v & ~(pv)15);
}
static pv PV_OBJ(pobj *o)
{
    return (pv)(uintptr_t)o | T_OBJ;
}

enum {
    TUPLE_KEEP = 32, /* tuple items kept for argument analysis */
    DICT_KEEP = 8,   /* dict pairs kept (BUILD states such as joblib's array wrapper) */
};

/* ---- the machine ---- */

typedef struct memo_slot {
    uint64_t key;
    pv val;
    uint8_t used, set;
} memo_slot;

typedef struct pm {
    mg_scan *s;
    mg_span in;
    mg_vec stack;    /* pv */
    mg_vec marks;    /* size_t: stack heights */
    memo_slot *memo; /* open addressing over the keys that are read */
    size_t memo_cap;
    mg_vec seen;     /* uint64_t bitmap of memo keys stored (for MEMOIZE's len(memo)) */
    mg_vec seen_big; /* uint64_t keys beyond the bitmap */
    uint64_t memo_len;
    mg_vec reported; /* pobj * of globals already reported in this stream */
    int broken;      /* first malformation reported */
    int oom;
    uint64_t nops;
    const mg_pickle_hooks *hooks;
    size_t base;    /* stack height at the innermost MARK (0 without one) */
    int memo_dense; /* only MEMOIZE so far: keys are 0..memo_len-1, no bitmap needed */
    mg_arena heap;  /* symbolic objects of this stream, compacted by collect() */
    size_t heap_next_gc;
    size_t skip_to;              /* set by an opcode that makes the loader read raw bytes */
    int memo_all;                /* pass 1 did not reach STOP: keep every memo value */
    uint64_t read_min, read_max; /* range of the keys GET opcodes read */
    size_t memo_used;
} pm;

static void malformed(pm *m, size_t at, const char *what)
{
    if (m->broken)
        return;
    m->broken = 1;
    mg_find(m->s, "MG-PKL-400", at, NULL,
            "malformed pickle: %s; a loader stops here, after running everything before it", what);
}

static int push(pm *m, pv v)
{
    if (__builtin_expect(m->stack.n == m->stack.cap, 0) && mg_vec_reserve(&m->stack, 1) != 0) {
        m->oom = 1;
        return -1;
    }
    ((pv *)m->stack.items)[m->stack.n++] = v;
    return 0;
}

/* Bottom of the current mark frame: values below it are not poppable. */
static size_t frame_base(const pm *m)
{
    return m->base;
}

static void update_base(pm *m)
{
    m->base = m->marks.n ? ((size_t *)m->marks.items)[m->marks.n - 1] : 0;
}

static pv pop(pm *m, size_t at)
{
    if (m->stack.n <= frame_base(m)) {
        malformed(m, at, "stack underflow");
        return T_OPAQUE;
    }
    return ((pv *)m->stack.items)[--m->stack.n];
}

static pv top(pm *m, size_t at)
{
    if (m->stack.n <= frame_base(m)) {
        malformed(m, at, "stack underflow");
        return T_OPAQUE;
    }
    return ((pv *)m->stack.items)[m->stack.n - 1];
}

/* Pops everything above the last MARK; returns the first item's index, or
 * SIZE_MAX when there is no mark (malformed). Items stay readable in the
 * stack array until the next push. */
static size_t pop_mark(pm *m, size_t at, size_t *count)
{
    if (!m->marks.n) {
        malformed(m, at, "opcode needs a MARK but none is open");
        *count = 0;
        return SIZE_MAX;
    }
    size_t base = ((size_t *)m->marks.items)[--m->marks.n];
    update_base(m);
    if (base > m->stack.n)
        base = m->stack.n;
    *count = m->stack.n - base;
    m->stack.n = base;
    return base;
}

static pobj *new_obj(pm *m, enum pkind kind, size_t extra_items, uint64_t off)
{
    pobj *o = mg_arena_alloc(&m->heap, sizeof(pobj) + extra_items * sizeof(pv));
    if (!o) {
        m->oom = 1;
        return NULL;
    }
    memset(o, 0, sizeof *o);
    o->kind = (uint8_t)kind;
    o->off = off;
    o->slots = (uint32_t)extra_items;
    o->elsize = -1;
    return o;
}

/* ---- collection ----
 * Objects die all the time (a tuple appended to a list is never seen
 * again), but an arena cannot free one. When the heap grows, the live
 * objects (reachable from the stack, the memo and the reported imports) are
 * copied to a fresh arena and the old one is dropped: memory then follows
 * what is live, not what the stream ever built. */

static int in_input(const pm *m, const char *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->in.p;
    return a >= b && a - b < m->in.len;
}

static mg_str copy_str(pm *m, mg_arena *to, mg_str s)
{
    if (!s.p || in_input(m, s.p))
        return s;
    char *c = mg_arena_strndup(to, s.p, s.len);
    if (!c) {
        m->oom = 1;
        return (mg_str){"", 0};
    }
    return (mg_str){c, s.len};
}

static pv reloc(pm *m, mg_arena *to, mg_vec *todo, pv v)
{
    if (PV_TAG(v) != T_OBJ)
        return v;
    pobj *o = PV_PTR(v);
    if (o->fwd)
        return PV_OBJ(o->fwd);
    size_t sz = sizeof(pobj) + o->slots * sizeof(pv);
    pobj *n = mg_arena_alloc(to, sz);
    pobj **slot = n ? mg_vec_push(todo) : NULL;
    if (!slot) {
        m->oom = 1;
        return T_OPAQUE;
    }
    memcpy(n, o, sz);
    n->fwd = NULL;
    o->fwd = n;
    *slot = n;
    return PV_OBJ(n);
}

static void collect(pm *m)
{
    mg_arena to;
    mg_arena_init(&to, &m->s->mem);
    mg_vec todo;
    mg_vec_init(&todo, sizeof(pobj *), &m->s->mem);
    pv *st = m->stack.items;
    for (size_t i = 0; i < m->stack.n; i++)
        st[i] = reloc(m, &to, &todo, st[i]);
    for (size_t i = 0; i < m->memo_cap; i++)
        if (m->memo[i].set)
            m->memo[i].val = reloc(m, &to, &todo, m->memo[i].val);
    pobj **rep = m->reported.items;
    for (size_t i = 0; i < m->reported.n; i++)
        rep[i] = PV_PTR(reloc(m, &to, &todo, PV_OBJ(rep[i])));
    while (todo.n && !m->oom) {
        pobj *n = ((pobj **)todo.items)[--todo.n];
        n->fn = reloc(m, &to, &todo, n->fn);
        n->args = reloc(m, &to, &todo, n->args);
        size_t used = n->kind == K_DICT ? 2 * (size_t)n->n : n->kind == K_TUPLE ? n->n : 0;
        for (size_t i = 0; i < used; i++)
            n->items[i] = reloc(m, &to, &todo, n->items[i]);
        n->module = copy_str(m, &to, n->module);
        n->name = copy_str(m, &to, n->name);
    }
    mg_vec_free(&todo);
    mg_arena_free(&m->heap);
    m->heap = to;
    /* next collection when the heap has doubled over what survived */
    m->heap_next_gc = to.total * 2 > (4u << 20) ? to.total * 2 : (4u << 20);
}

/* ---- strings ---- */

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(mg_buf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        mg_buf_addc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 63));
        mg_buf_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 63));
        u[2] = (char)(0x80 | (cp & 63));
        mg_buf_add(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63));
        u[3] = (char)(0x80 | (cp & 63));
        mg_buf_add(b, u, 4);
    }
}

/* STRING ('S'): a quoted Python 2 literal, decoded like codecs.escape_decode.
 * Returns -1 when not quoted (the loader rejects it). */
static int decode_string_op(mg_span l, mg_buf *b)
{
    if (l.len < 2 || (l.p[0] != '\'' && l.p[0] != '"') || l.p[l.len - 1] != l.p[0])
        return -1;
    for (size_t i = 1; i + 1 < l.len; i++) {
        uint8_t c = l.p[i];
        if (c != '\\' || i + 2 >= l.len + 0) {
            mg_buf_addc(b, (char)c);
            continue;
        }
        uint8_t e = l.p[++i];
        switch (e) {
        case 'n':
            mg_buf_addc(b, '\n');
            break;
        case 't':
            mg_buf_addc(b, '\t');
            break;
        case 'r':
            mg_buf_addc(b, '\r');
            break;
        case 'a':
            mg_buf_addc(b, '\a');
            break;
        case 'b':
            mg_buf_addc(b, '\b');
            break;
        case 'f':
            mg_buf_addc(b, '\f');
            break;
        case 'v':
            mg_buf_addc(b, '\v');
            break;
        case '\n':
            break;
        case 'x':
            if (i + 2 < l.len && hexval(l.p[i + 1]) >= 0 && hexval(l.p[i + 2]) >= 0) {
                mg_buf_addc(b, (char)(hexval(l.p[i + 1]) * 16 + hexval(l.p[i + 2])));
                i += 2;
            } else {
                return -1;
            }
            break;
        default:
            if (e >= '0' && e <= '7') {
                unsigned v = e - '0';
                for (int k = 0; k < 2 && i + 1 < l.len - 1 && l.p[i + 1] >= '0' && l.p[i + 1] <= '7'; k++)
                    v = v * 8 + (l.p[++i] - '0');
                mg_buf_addc(b, (char)(v & 0xff));
            } else {
                mg_buf_addc(b, '\\');
                mg_buf_addc(b, (char)e);
            }
        }
    }
    return 0;
}

/* UNICODE ('V'): raw-unicode-escape, only \uXXXX and \UXXXXXXXX are escapes;
 * other bytes are Latin-1 code points. Output is UTF-8. */
static void decode_unicode_op(mg_span l, mg_buf *b)
{
    for (size_t i = 0; i < l.len; i++) {
        uint8_t c = l.p[i];
        if (c == '\\' && i + 1 < l.len && (l.p[i + 1] == 'u' || l.p[i + 1] == 'U')) {
            size_t nd = l.p[i + 1] == 'u' ? 4 : 8;
            if (i + 1 + nd < l.len) {
                uint32_t cp = 0;
                int ok = 1;
                for (size_t k = 0; k < nd; k++) {
                    int h = hexval(l.p[i + 2 + k]);
                    if (h < 0)
                        ok = 0;
                    cp = cp * 16 + (uint32_t)(h < 0 ? 0 : h);
                }
                if (ok && cp <= 0x10ffff) {
                    put_utf8(b, cp);
                    i += 1 + nd;
                    continue;
                }
            }
        }
        put_utf8(b, c);
    }
}

/* A text opcode's decoded content, kept in the arena. */
static pv text_value(pm *m, const op *o)
{
    mg_buf b;
    mg_buf_init(&b, m->s->lim->max_memory);
    int bad = 0;
    if (o->code == 'S')
        bad = decode_string_op(o->arg, &b) != 0;
    else
        decode_unicode_op(o->arg, &b);
    if (bad) {
        mg_buf_free(&b);
        malformed(m, o->at, "STRING argument is not a quoted literal");
        return T_OPAQUE;
    }
    pobj *t = new_obj(m, K_TEXT, 0, o->at);
    char *copy = t ? mg_arena_strndup(&m->heap, mg_buf_cstr(&b), b.len) : NULL;
    size_t len = b.len;
    mg_buf_free(&b);
    if (!copy)
        return T_OPAQUE;
    t->module = (mg_str){copy, len};
    t->is_bytes = o->code == 'S';
    return PV_OBJ(t);
}

/* The string or bytes content of a value, if it has one. */
static int value_text(pm *m, pv v, mg_str *out, int *is_bytes)
{
    unsigned tag = PV_TAG(v);
    if (tag == T_STR || tag == T_BYTES) {
        op o;
        if (lex(m->in, PV_OFF(v), &o) != LEX_OK)
            return -1;
        *out = (mg_str){(const char *)o.arg.p, o.arg.len};
        if (is_bytes)
            *is_bytes = tag == T_BYTES || o.code == 'T' || o.code == 'U';
        return 0;
    }
    if (tag == T_OBJ && PV_PTR(v)->kind == K_TEXT) {
        *out = PV_PTR(v)->module;
        if (is_bytes)
            *is_bytes = PV_PTR(v)->is_bytes;
        return 0;
    }
    return -1;
}

/* ---- judging imports and calls ---- */

static const char *verdict_threat(mg_verdict v)
{
    switch (v) {
    case MG_V_DANGEROUS:
        return "MG-PKL-100";
    case MG_V_INTROSPECT:
        return "MG-PKL-101";
    case MG_V_SUSPICIOUS:
        return "MG-PKL-102";
    default:
        return NULL;
    }
}

/* Writes `module.name` for messages, with control bytes escaped. */
static void describe(char *buf, size_t n, mg_str module, mg_str name)
{
    size_t o = 0;
    const mg_str parts[2] = {module, name};
    for (int k = 0; k < 2; k++) {
        if (k && o + 1 < n)
            buf[o++] = '.';
        for (size_t i = 0; i < parts[k].len && o + 5 < n; i++) {
            uint8_t c = (uint8_t)parts[k].p[i];
            if (c < 0x20 || c == 0x7f || c == '\\') {
                o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
            } else {
                buf[o++] = (char)c;
            }
        }
    }
    buf[o < n ? o : n - 1] = 0;
}

static pv make_global(pm *m, mg_str module, mg_str name, size_t at)
{
    pobj *g = new_obj(m, K_GLOBAL, 0, at);
    if (!g)
        return T_OPAQUE;
    g->module = module;
    g->name = name;
    const char *why = NULL;
    mg_verdict v = mg_rules_judge(m->s->eng->rules, module, name, &why);
    g->verdict = (uint8_t)v;
    mg_record_global(m->s, module, name, v, at);
    const char *threat = verdict_threat(v);
    if (!threat)
        return PV_OBJ(g);
    /* report each distinct import once per stream */
    pobj **seen = m->reported.items;
    for (size_t i = 0; i < m->reported.n; i++)
        if (seen[i]->module.len == module.len && seen[i]->name.len == name.len &&
            memcmp(seen[i]->module.p, module.p, module.len) == 0 && memcmp(seen[i]->name.p, name.p, name.len) == 0)
            return PV_OBJ(g);
    pobj **slot = mg_vec_push(&m->reported);
    if (slot)
        *slot = g;
    char full[512];
    describe(full, sizeof full, module, name);
    const char *dot = memchr(name.p, '.', name.len) ? " (an attribute walk)" : "";
    if (v == MG_V_DANGEROUS)
        mg_find(m->s, threat, at, full,
                "imports `%s`%s, which can run code or reach the system when the file is loaded%s%s", full, dot,
                why ? ": " : "", why ? why : "");
    else if (v == MG_V_INTROSPECT)
        mg_find(m->s, threat, at, full,
                "imports `%s`, which walks Python object internals (a known route to eval and os.system)", full);
    else
        mg_find(m->s, threat, at, full,
                "imports `%s`%s, which no known framework needs to load a model; the loader will import and may "
                "call it",
                full, dot);
    return PV_OBJ(g);
}

/* The bytes a nested-loader argument stands for: a bytes literal, or
 * _codecs.encode(text, 'latin1'), the way protocol 2 pickles bytes. */
static int arg_bytes(pm *m, pv v, mg_span *out, uint64_t *at)
{
    mg_str t;
    int isb = 0;
    if (value_text(m, v, &t, &isb) == 0) {
        *out = (mg_span){(const uint8_t *)t.p, t.len};
        *at = PV_TAG(v) == T_OBJ ? PV_PTR(v)->off : PV_OFF(v);
        return 0;
    }
    if (PV_TAG(v) != T_OBJ || PV_PTR(v)->kind != K_CALL)
        return -1;
    pobj *c = PV_PTR(v);
    if (PV_TAG(c->fn) != T_OBJ || PV_PTR(c->fn)->kind != K_GLOBAL)
        return -1;
    pobj *g = PV_PTR(c->fn);
    if (!mg_str_eq(g->module, "_codecs") || !mg_str_eq(g->name, "encode"))
        return -1;
    if (PV_TAG(c->args) != T_OBJ || PV_PTR(c->args)->kind != K_TUPLE || PV_PTR(c->args)->n < 1)
        return -1;
    if (value_text(m, PV_PTR(c->args)->items[0], &t, NULL) != 0)
        return -1;
    /* UTF-8 text to Latin-1 bytes: code points above 255 cannot be encoded */
    uint8_t *b = mg_arena_alloc(&m->s->work, t.len + 1);
    if (!b)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < t.len; i++) {
        uint8_t c0 = (uint8_t)t.p[i];
        if (c0 < 0x80) {
            b[n++] = c0;
        } else if ((c0 & 0xe0) == 0xc0 && i + 1 < t.len) {
            b[n++] = (uint8_t)(((c0 & 0x1f) << 6) | ((uint8_t)t.p[i + 1] & 0x3f));
            i++;
        } else {
            return -1;
        }
    }
    *out = (mg_span){b, n};
    *at = c->off;
    return 0;
}

static int looks_like_nested(mg_span b)
{
    const mg_module *m = mg_detect(b, mg_str_c(""));
    if (!m)
        return 0;
    if (m != &mg_module_pickle)
        return 1;
    return b.p[0] == 0x80 && b.p[b.len - 1] == '.' && mg_pickle_plausible(b, 0);
}

/* Scans bytes handed to a callable as a nested model. For an allowed loader
 * the bytes must be recognisable; for any other callable only content that
 * looks like a model is followed. */
static void scan_nested(pm *m, pv args, int must, size_t at)
{
    if (PV_TAG(args) != T_OBJ || PV_PTR(args)->kind != K_TUPLE) {
        if (must)
            goto unseen;
        return;
    }
    pobj *t = PV_PTR(args);
    int found = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        mg_span b;
        uint64_t boff;
        if (arg_bytes(m, t->items[i], &b, &boff) != 0 || b.len < 2)
            continue;
        /* for a callable that is not a known loader, follow only bytes that are
         * plainly a whole model: a pickle from its PROTO to its final STOP, or
         * any other recognised format; raw array data stays data */
        if (!must && !looks_like_nested(b))
            continue;
        char name[48];
        snprintf(name, sizeof name, "bytes@%llu", (unsigned long long)boff);
        if (must && !mg_detect(b, mg_str_c(""))) {
            mg_find(m->s, "MG-PKL-102", boff, NULL,
                    "bytes passed to a nested loader are in no format the scanner recognises");
            found = 1;
            continue;
        }
        mg_scan_child(m->s, b, name, boff);
        found = 1;
    }
    if (found || !must)
        return;
unseen:
    mg_find(m->s, "MG-PKL-102", at, NULL,
            "a nested loader is called with data the scanner cannot reconstruct, so its content is unknown");
}

/* Records a call: the import was judged when it was made; here nested
 * payloads are followed and calls of call results are flagged. */
static pv make_call(pm *m, pv fn, pv args, size_t at)
{
    pobj *c = new_obj(m, K_CALL, 0, at);
    if (!c)
        return T_OPAQUE;
    c->fn = fn;
    c->args = args;
    if (PV_TAG(fn) == T_OBJ) {
        pobj *f = PV_PTR(fn);
        if (f->kind == K_GLOBAL) {
            if (f->verdict == MG_V_LOADER)
                scan_nested(m, args, 1, at);
            else if (f->verdict != MG_V_ALLOWED)
                scan_nested(m, args, 0, at);
        } else if (f->kind == K_CALL) {
            mg_find(m->s, "MG-PKL-102", at, NULL,
                    "calls the result of another call: the loader runs whatever the first call returned");
        }
    }
    return PV_OBJ(c);
}

static int is_global(pv v)
{
    return PV_TAG(v) == T_OBJ && PV_PTR(v)->kind == K_GLOBAL;
}

/* APPEND/SETITEM/BUILD on an imported class or function calls its methods
 * or sets its attributes: it patches the library for everything loaded after. */
static void check_mutation_target(pm *m, pv target, size_t at, const char *opname)
{
    if (!is_global(target))
        return;
    pobj *g = PV_PTR(target);
    char full[512];
    describe(full, sizeof full, g->module, g->name);
    mg_find(m->s, "MG-PKL-102", at, full,
            "%s applied to the imported object `%s` itself changes library code for everything loaded later", opname,
            full);
}

/* ---- memo ---- */

static memo_slot *memo_find(pm *m, uint64_t key)
{
    if (!m->memo_cap)
        return NULL;
    size_t mask = m->memo_cap - 1;
    for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;; i = (i + 1) & mask) {
        if (!m->memo[i].used)
            return NULL;
        if (m->memo[i].key == key)
            return &m->memo[i];
    }
}

enum { SEEN_BITS = 1u << 26 }; /* keys below this are tracked in a bitmap */

/* Marks `key` stored; returns 1 when it is new (len(memo) grows). */
static int memo_mark(pm *m, uint64_t key)
{
    if (key < SEEN_BITS) {
        size_t word = (size_t)(key >> 6);
        if (word >= m->seen.n) {
            size_t add = word + 1 - m->seen.n;
            if (mg_vec_reserve(&m->seen, add) != 0) {
                m->oom = 1;
                return 0;
            }
            memset((uint64_t *)m->seen.items + m->seen.n, 0, add * sizeof(uint64_t));
            m->seen.n += add;
        }
        uint64_t *w = (uint64_t *)m->seen.items + word, bit = 1ull << (key & 63);
        if (*w & bit)
            return 0;
        *w |= bit;
        return 1;
    }
    uint64_t *big = m->seen_big.items;
    for (size_t i = 0; i < m->seen_big.n; i++)
        if (big[i] == key)
            return 0;
    uint64_t *slot = mg_vec_push(&m->seen_big);
    if (!slot) {
        m->oom = 1;
        return 0;
    }
    *slot = key;
    return 1;
}

static int memo_grow(pm *m, size_t cap);

/* Adds `key` to the memo table (growing it at half load); NULL when out of
 * budget, which is then reported as a memory limit. */
static memo_slot *memo_insert(pm *m, uint64_t key)
{
    if ((m->memo_used + 1) * 2 > m->memo_cap && memo_grow(m, m->memo_cap ? m->memo_cap * 2 : 16) != 0) {
        m->oom = 1;
        return NULL;
    }
    size_t mask = m->memo_cap - 1;
    size_t j = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (m->memo[j].used)
        j = (j + 1) & mask;
    m->memo[j].used = 1;
    m->memo[j].key = key;
    m->memo_used++;
    return &m->memo[j];
}

static void memo_put(pm *m, uint64_t key, pv v)
{
    if (m->memo_dense && key == m->memo_len) {
        m->memo_len++; /* MEMOIZE-only streams: keys are new by construction */
    } else {
        if (m->memo_dense) { /* first PUT: from now on distinct keys are tracked */
            m->memo_dense = 0;
            for (uint64_t k = 0; k < m->memo_len && !m->oom; k++)
                memo_mark(m, k);
        }
        m->memo_len += (uint64_t)memo_mark(m, key);
    }
    /* most keys are never read back: skip the lookup outside the read range */
    memo_slot *sl = m->memo_all || (key >= m->read_min && key <= m->read_max) ? memo_find(m, key) : NULL;
    if (!sl && m->memo_all)
        sl = memo_insert(m, key);
    if (sl) {
        sl->val = v;
        sl->set = 1;
    }
}

static void memo_get(pm *m, uint64_t key, size_t at)
{
    memo_slot *sl = memo_find(m, key);
    if (!sl || !sl->set) {
        malformed(m, at, "GET of a memo key that was never stored");
        push(m, T_OPAQUE);
        return;
    }
    push(m, sl->val);
}

static int get_key(const op *o, uint64_t *key)
{
    switch (o->code) {
    case 'g':
    case 'p':
        return parse_key(o->arg, key);
    case 'h':
    case 'q':
        *key = o->arg.p[0];
        return 0;
    case 'j':
    case 'r':
        *key = mg_le(o->arg.p, 4);
        return 0;
    }
    return -1;
}

static size_t memo_slot_of(const pm *m, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (m->memo_cap - 1);
}

/* Grows the memo table to `cap` slots (a power of two), charged to the budget. */
static int memo_grow(pm *m, size_t cap)
{
    if (mg_mem_charge(&m->s->mem, cap * sizeof(memo_slot)) != 0)
        return -1;
    memo_slot *t = calloc(cap, sizeof(memo_slot));
    if (!t) {
        mg_mem_release(&m->s->mem, cap * sizeof(memo_slot));
        return -1;
    }
    memo_slot *old = m->memo;
    size_t oldcap = m->memo_cap;
    m->memo = t;
    m->memo_cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        size_t j = memo_slot_of(m, old[i].key);
        while (m->memo[j].used)
            j = (j + 1) & (cap - 1);
        m->memo[j] = old[i];
    }
    if (old) {
        mg_mem_release(&m->s->mem, oldcap * sizeof(memo_slot));
        free(old);
    }
    return 0;
}

/* Offset of the opcode after the one at `off` (0 at the end or on any
 * error: pass 2 reports errors). The hot loop of pass 1: fixed-size opcodes
 * need one table lookup. */
static inline size_t skip_op(mg_span in, size_t off)
{
    const opinfo *inf = &optab[in.p[off]];
    size_t left = in.len - off - 1;
    if (inf->kind == A_NONE)
        return off + 1;
    if (inf->kind == A_FIX)
        return inf->n <= left ? off + 1 + inf->n : 0;
    op o;
    return lex(in, off, &o) == LEX_OK ? o.next : 0;
}

/* Pass 1: the distinct memo keys that GET opcodes read, up to the STOP,
 * become the memo table's keys; pass 2 stores values only for them. When
 * pass 1 cannot reach the STOP (a broken stream, or raw buffers inside it as
 * joblib writes them), pass 2 keeps every memo value instead. */
static int collect_reads(pm *m, size_t off)
{
    if (memo_grow(m, 16) != 0) {
        m->oom = 1;
        return -1;
    }
    uint64_t n = 0;
    mg_span in = m->in;
    m->memo_all = 1;
    while (off < in.len) {
        uint8_t code = in.p[off];
        if (code == '.') {
            m->memo_all = 0;
            break;
        }
        if (++n > m->s->lim->max_pickle_ops)
            break;
        if ((n & 0xfffff) == 0) {
            if (mg_scan_expired(m->s, off))
                break;
            if (off > (1u << 20))
                mg_release(m->s, in, off - (1u << 20));
        }
        size_t next = skip_op(in, off);
        if (!next)
            break;
        op o;
        uint64_t key;
        if ((code == 'g' || code == 'h' || code == 'j') && lex(in, off, &o) == LEX_OK && get_key(&o, &key) == 0) {
            m->read_min = key < m->read_min ? key : m->read_min;
            m->read_max = key > m->read_max ? key : m->read_max;
            if (!memo_find(m, key) && !memo_insert(m, key))
                return -1;
        }
        off = next;
    }
    return 0;
}

/* ---- pass 2: symbolic execution ---- */

static pv make_tuple(pm *m, const pv *items, size_t n, size_t at)
{
    size_t keep = n < TUPLE_KEEP ? n : TUPLE_KEEP, rich = 0;
    for (size_t i = 0; i < keep; i++)
        rich += PV_TAG(items[i]) != T_OPAQUE && PV_TAG(items[i]) != T_CONT &&
                (PV_TAG(items[i]) != T_INT || n <= 8); /* shapes are short */
    if (n && !rich)                                    /* numbers only: nothing to analyse, nothing to keep */
        return PV_MK(T_CONT, 0);
    pobj *t = new_obj(m, K_TUPLE, keep, at);
    if (!t)
        return T_OPAQUE;
    t->n = (uint32_t)keep;
    if (keep)
        memcpy(t->items, items, keep * sizeof(pv));
    return PV_OBJ(t);
}

static void op_stack_global(pm *m, size_t at)
{
    pv name = pop(m, at), module = pop(m, at);
    mg_str ms, ns;
    if (value_text(m, module, &ms, NULL) == 0 && value_text(m, name, &ns, NULL) == 0) {
        push(m, make_global(m, ms, ns, at));
        return;
    }
    mg_find(m->s, "MG-PKL-101", at, NULL,
            "STACK_GLOBAL imports a module or name that is not a constant string (built at load time), so "
            "what it imports cannot be known before it runs");
    pobj *g = new_obj(m, K_GLOBAL, 0, at);
    if (g) {
        g->dynamic = 1;
        g->verdict = MG_V_INTROSPECT;
        g->module = mg_str_c("?");
        g->name = mg_str_c("?");
    }
    push(m, g ? PV_OBJ(g) : T_OPAQUE);
}

static pobj *as_kind(pv v, enum pkind k)
{
    return PV_TAG(v) == T_OBJ && PV_PTR(v)->kind == k ? PV_PTR(v) : NULL;
}

/* The global a call was made on, if it was a plain import. */
static pobj *call_global(pv v)
{
    pobj *c = as_kind(v, K_CALL);
    return c ? as_kind(c->fn, K_GLOBAL) : NULL;
}

static pv dict_get(pm *m, pobj *d, const char *key)
{
    for (uint32_t i = 0; i < d->n; i++) {
        mg_str k;
        if (value_text(m, d->items[2 * i], &k, NULL) == 0 && mg_str_eq(k, key))
            return d->items[2 * i + 1];
    }
    return T_OPAQUE;
}

/* Item size of a numpy dtype built by numpy.dtype('<f4', ...): from the
 * type string, or the itemsize its BUILD state declared. -1 unknown, 0 for
 * object dtypes. */
static int64_t dtype_itemsize(pm *m, pv dt)
{
    pobj *c = as_kind(dt, K_CALL), *args = c ? as_kind(c->args, K_TUPLE) : NULL;
    mg_str t;
    if (!args || args->n < 1 || value_text(m, args->items[0], &t, NULL) != 0 || t.len == 0)
        return -1;
    size_t i = 0;
    if (strchr("<>|=", t.p[0]))
        i++;
    if (i >= t.len)
        return -1;
    char kind = t.p[i++];
    if (kind == 'O')
        return 0;
    uint64_t n = 0;
    int digits = 0;
    for (; i < t.len && t.p[i] >= '0' && t.p[i] <= '9' && n < (1u << 30); i++, digits++)
        n = n * 10 + (uint64_t)(t.p[i] - '0');
    if (c->elsize > 0)
        return c->elsize;
    if (i != t.len || !digits)
        return kind == '?' ? 1 : -1;
    if (kind == 'U')
        return (int64_t)n * 4;
    return strchr("biufcSaVMm", kind) ? (int64_t)n : -1;
}

/* joblib writes each numpy array's bytes right after the BUILD of its
 * NumpyArrayWrapper (an alignment byte and padding first), and pickles
 * object arrays inline; its unpickler reads them there. Skipping them by
 * their exact size keeps the stream in step, so a payload placed after an
 * array is read like everything else. */
static void joblib_array(pm *m, pobj *wrapper_state, size_t at, size_t next)
{
    (void)at;
    pobj *shape = as_kind(dict_get(m, wrapper_state, "shape"), K_TUPLE);
    int64_t isz = dtype_itemsize(m, dict_get(m, wrapper_state, "dtype"));
    pv align = dict_get(m, wrapper_state, "numpy_array_alignment_bytes");
    uint64_t count = 1;
    int ok = isz >= 0 && (shape || PV_TAG(dict_get(m, wrapper_state, "shape")) == T_CONT);
    for (uint32_t i = 0; ok && shape && i < shape->n; i++)
        ok = PV_TAG(shape->items[i]) == T_INT &&
             !__builtin_mul_overflow(count, (uint64_t)PV_OFF(shape->items[i]), &count);
    if (!ok || (!shape && PV_TAG(dict_get(m, wrapper_state, "shape")) == T_CONT)) {
        mg_find(m->s, "MG-JOBLIB-400", next, NULL,
                "a joblib array's shape or dtype cannot be read, so the data after it cannot be located");
        m->broken = 1;
        m->skip_to = m->in.len;
        return;
    }
    if (isz == 0) { /* object array: a whole pickle stream follows */
        mg_pickle_result r;
        mg_pickle_stream(m->s, m->in, next, NULL, &r);
        m->skip_to = r.stopped ? (size_t)r.end : m->in.len;
        if (!r.stopped)
            m->broken = 1;
        return;
    }
    mg_rd r = mg_rd_new(m->in);
    r.off = next;
    if (PV_TAG(align) == T_INT) {
        uint8_t pad = mg_rd_u8(&r);
        if (pad > PV_OFF(align) || mg_rd_skip(&r, pad) != 0)
            r.bad = 1;
    }
    uint64_t bytes;
    if (r.bad || __builtin_mul_overflow(count, (uint64_t)isz, &bytes) || mg_rd_skip(&r, bytes) != 0) {
        mg_find(m->s, "MG-JOBLIB-400", next, NULL,
                "a joblib array declares %llu items of %lld bytes, more than the file holds", (unsigned long long)count,
                (long long)isz);
        m->broken = 1;
        m->skip_to = m->in.len;
        return;
    }
    m->skip_to = r.off;
}

static void op_build(pm *m, size_t at, size_t next)
{
    pv state = pop(m, at);
    pv obj = top(m, at);
    check_mutation_target(m, obj, at, "BUILD");
    pobj *g = call_global(obj);
    if (!g)
        return;
    if (mg_str_eq(g->name, "dtype") &&
        (mg_str_eq(g->module, "numpy") || mg_str_eq(g->module, "numpy.core.multiarray"))) {
        pobj *t = as_kind(state, K_TUPLE);
        if (t && t->n > 5 && PV_TAG(t->items[5]) == T_INT && PV_OFF(t->items[5]) < (1u << 30))
            PV_PTR(obj)->elsize = (int32_t)PV_OFF(t->items[5]);
        return;
    }
    pobj *st = as_kind(state, K_DICT);
    static const char jmod[] = "joblib.numpy_pickle";
    if (st && mg_str_eq(g->name, "NumpyArrayWrapper") && g->module.len >= sizeof jmod - 1 &&
        memcmp(g->module.p + g->module.len - (sizeof jmod - 1), jmod, sizeof jmod - 1) == 0)
        joblib_array(m, st, at, next);
}

static pv new_dict(pm *m, const pv *pairs, size_t npairs, size_t at)
{
    pobj *d = new_obj(m, K_DICT, 2 * DICT_KEEP, at);
    if (!d)
        return T_OPAQUE;
    size_t keep = npairs < DICT_KEEP ? npairs : DICT_KEEP;
    if (keep && pairs)
        memcpy(d->items, pairs, 2 * keep * sizeof(pv));
    d->n = (uint32_t)keep;
    return PV_OBJ(d);
}

static void dict_add(pobj *d, const pv *pairs, size_t npairs)
{
    for (size_t i = 0; i < npairs && d->n < DICT_KEEP; i++, d->n++) {
        d->items[2 * d->n] = pairs[2 * i];
        d->items[2 * d->n + 1] = pairs[2 * i + 1];
    }
}

static void op_setitems(pm *m, const op *o)
{
    size_t n, base = pop_mark(m, o->at, &n);
    if (base == SIZE_MAX)
        return;
    if (o->code == 'u' && (n & 1))
        malformed(m, o->at, "SETITEMS with an odd number of items");
    pv target = top(m, o->at);
    pobj *d = as_kind(target, K_DICT);
    if (d && o->code == 'u')
        dict_add(d, (pv *)m->stack.items + base, n / 2);
    check_mutation_target(m, target, o->at, o->code == 'u' ? "SETITEMS" : o->code == 'e' ? "APPENDS" : "ADDITEMS");
}

/* BINPERSID: hands PyTorch-style storage ids to the container's hook. */
static void persid(pm *m, pv id)
{
    if (!m->hooks || !m->hooks->persid || PV_TAG(id) != T_OBJ || PV_PTR(id)->kind != K_TUPLE)
        return;
    pobj *t = PV_PTR(id);
    mg_pickle_persid p;
    memset(&p, 0, sizeof p);
    if (t->n < 3 || value_text(m, t->items[0], &p.kind, NULL) != 0 || value_text(m, t->items[2], &p.key, NULL) != 0)
        return;
    if (PV_TAG(t->items[1]) == T_OBJ && PV_PTR(t->items[1])->kind == K_GLOBAL) {
        p.type_module = PV_PTR(t->items[1])->module;
        p.type_name = PV_PTR(t->items[1])->name;
    }
    m->hooks->persid(m->hooks->ctx, &p);
}

/* UTF-8 as Python decodes BINUNICODE ('surrogatepass': encoded surrogates
 * are accepted). ASCII, the common case, takes the fast path. */
static int utf8_ok(mg_span s)
{
    size_t i = 0;
    while (i < s.len) {
        uint8_t c = s.p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
        if (!n || c > 0xf4 || n > s.len - i - 1)
            return 0;
        for (size_t k = 1; k <= n; k++)
            if ((s.p[i + k] & 0xc0) != 0x80)
                return 0;
        if (c == 0xe0 && s.p[i + 1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xf0 && s.p[i + 1] < 0x90)
            return 0;
        if (c == 0xf4 && s.p[i + 1] > 0x8f)
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Executes one opcode symbolically. */
static void step(pm *m, const op *o)
{
    size_t at = o->at, n, base;
    pv a, b, c;
    switch (o->code) {
    case '(': {
        size_t *slot = mg_vec_push(&m->marks);
        if (!slot)
            m->oom = 1;
        else
            *slot = m->base = m->stack.n;
        break;
    }
    case '0': /* POP: with an empty frame, Python pops the mark instead */
        if (m->stack.n > frame_base(m)) {
            m->stack.n--;
        } else if (m->marks.n) {
            m->marks.n--;
            update_base(m);
        } else {
            malformed(m, at, "stack underflow");
        }
        break;
    case '1':
        pop_mark(m, at, &n);
        break;
    case '2':
        push(m, top(m, at));
        break;
    case 'K':
    case 'M':
        push(m, PV_MK(T_INT, mg_le(o->arg.p, (unsigned)o->arg.len)));
        break;
    case 'J': {
        uint64_t v = mg_le(o->arg.p, 4);
        push(m, v & 0x80000000u ? T_OPAQUE : PV_MK(T_INT, v));
        break;
    }
    case 'I': {
        uint64_t v;
        push(m, parse_key(o->arg, &v) == 0 && v < (1ull << 59) ? PV_MK(T_INT, v) : T_OPAQUE);
        break;
    }
    case 0x8a: { /* LONG1: little-endian two's complement */
        uint64_t v = o->arg.len <= 7 ? mg_le(o->arg.p, (unsigned)o->arg.len) : UINT64_MAX;
        int neg = o->arg.len && (o->arg.p[o->arg.len - 1] & 0x80);
        push(m, !neg && v < (1ull << 59) ? PV_MK(T_INT, v) : T_OPAQUE);
        break;
    }
    case 'F':
    case 'L':
    case 'N':
    case 'G':
    case 0x88:
    case 0x89:
    case 0x8b:
        push(m, T_OPAQUE);
        break;
    case 'P':
        push(m, T_OPAQUE);
        break;
    case 'Q':
        persid(m, pop(m, at));
        push(m, T_OPAQUE);
        break;
    case 'R':
        b = pop(m, at);
        a = pop(m, at);
        push(m, make_call(m, a, b, at));
        break;
    case 'S':
    case 'V':
        push(m, text_value(m, o));
        break;
    case 'X':
    case 0x8c:
    case 0x8d:
        if (!utf8_ok(o->arg))
            malformed(m, at, "string is not valid UTF-8 (the loader raises here)");
        /* fall through */
    case 'T':
    case 'U':
        if (m->hooks && m->hooks->string)
            m->hooks->string(m->hooks->ctx, (mg_str){(const char *)o->arg.p, o->arg.len});
        push(m, PV_MK(T_STR, at));
        break;
    case 'B':
    case 'C':
    case 0x8e:
    case 0x96:
        push(m, PV_MK(T_BYTES, at));
        break;
    case 0x97:
    case 0x98:
        if (o->code == 0x98)
            top(m, at);
        else
            push(m, T_OPAQUE);
        break;
    case 'a':
        pop(m, at);
        check_mutation_target(m, top(m, at), at, "APPEND");
        break;
    case 'e':
    case 'u':
    case 0x90:
        op_setitems(m, o);
        break;
    case 's': {
        pv kv[2];
        kv[1] = pop(m, at);
        kv[0] = pop(m, at);
        pv target = top(m, at);
        check_mutation_target(m, target, at, "SETITEM");
        if (as_kind(target, K_DICT))
            dict_add(PV_PTR(target), kv, 1);
        break;
    }
    case 'b':
        op_build(m, at, o->next);
        break;
    case 'c':
        push(m, make_global(m, (mg_str){(const char *)o->arg.p, o->arg.len},
                            (mg_str){(const char *)o->arg2.p, o->arg2.len}, at));
        break;
    case 'i':
        base = pop_mark(m, at, &n);
        a = base == SIZE_MAX ? T_OPAQUE : make_tuple(m, (pv *)m->stack.items + base, n, at);
        c = make_global(m, (mg_str){(const char *)o->arg.p, o->arg.len}, (mg_str){(const char *)o->arg2.p, o->arg2.len},
                        at);
        push(m, make_call(m, c, a, at));
        break;
    case 'o':
        base = pop_mark(m, at, &n);
        if (base == SIZE_MAX || n == 0) {
            if (base != SIZE_MAX)
                malformed(m, at, "OBJ without a class");
            push(m, T_OPAQUE);
            break;
        }
        c = ((pv *)m->stack.items)[base];
        a = make_tuple(m, (pv *)m->stack.items + base + 1, n - 1, at);
        push(m, make_call(m, c, a, at));
        break;
    case 0x81:
        b = pop(m, at);
        a = pop(m, at);
        push(m, make_call(m, a, b, at));
        break;
    case 0x92:
        pop(m, at); /* kwargs */
        b = pop(m, at);
        a = pop(m, at);
        push(m, make_call(m, a, b, at));
        break;
    case 'd':
        base = pop_mark(m, at, &n);
        push(m, base == SIZE_MAX ? T_OPAQUE : new_dict(m, (pv *)m->stack.items + base, n / 2, at));
        break;
    case '}':
        push(m, new_dict(m, NULL, 0, at));
        break;
    case 'l':
    case 0x91:
        pop_mark(m, at, &n);
        push(m, PV_MK(T_CONT, 0));
        break;
    case ']':
    case 0x8f:
        push(m, PV_MK(T_CONT, 0));
        break;
    case ')':
        push(m, make_tuple(m, NULL, 0, at));
        break;
    case 't':
        base = pop_mark(m, at, &n);
        push(m, base == SIZE_MAX ? T_OPAQUE : make_tuple(m, (pv *)m->stack.items + base, n, at));
        break;
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t k = (size_t)(o->code - 0x84);
        pv items[3];
        for (size_t i = k; i > 0; i--)
            items[i - 1] = pop(m, at);
        push(m, make_tuple(m, items, k, at));
        break;
    }
    case 0x93:
        op_stack_global(m, at);
        break;
    case 0x82:
    case 0x83:
    case 0x84: {
        uint64_t code = mg_le(o->arg.p, (unsigned)o->arg.len);
        char what[64];
        snprintf(what, sizeof what, "extension code %llu", (unsigned long long)code);
        mg_find(m->s, "MG-PKL-102", at, what,
                "imports through %s of the copyreg extension registry, so what it imports depends on the "
                "loading process, not the file",
                what);
        pobj *g = new_obj(m, K_GLOBAL, 0, at);
        if (g) {
            g->verdict = MG_V_SUSPICIOUS;
            g->module = mg_str_c("copyreg");
            g->name = mg_str_c("_extension_registry");
        }
        push(m, g ? PV_OBJ(g) : T_OPAQUE);
        break;
    }
    case 'g':
    case 'h':
    case 'j': {
        uint64_t key;
        if (get_key(o, &key) != 0) {
            malformed(m, at, "GET key is not a number");
            push(m, T_OPAQUE);
        } else {
            memo_get(m, key, at);
        }
        break;
    }
    case 'p':
    case 'q':
    case 'r': {
        uint64_t key;
        if (get_key(o, &key) != 0) {
            malformed(m, at, "PUT key is not a number");
        } else {
            memo_put(m, key, top(m, at));
        }
        break;
    }
    case 0x94:
        memo_put(m, m->memo_len, top(m, at));
        break;
    case 0x80:
        if (o->arg.p[0] > 5)
            malformed(m, at, "unsupported pickle protocol");
        break;
    case 0x95:
        if (mg_le(o->arg.p, 8) > m->in.len - o->next)
            malformed(m, at, "FRAME is longer than the data that follows");
        break;
    default:
        break;
    }
}

static void pm_free(pm *m)
{
    mg_vec_free(&m->stack);
    mg_vec_free(&m->marks);
    mg_vec_free(&m->seen);
    mg_vec_free(&m->seen_big);
    mg_vec_free(&m->reported);
    if (m->memo) {
        mg_mem_release(&m->s->mem, m->memo_cap * sizeof(memo_slot));
        free(m->memo);
    }
    mg_arena_free(&m->heap);
}

static const char *lex_err_text(enum lex_err e)
{
    switch (e) {
    case LEX_BADOP:
        return "unknown opcode";
    case LEX_TRUNC:
        return "the stream ends inside an opcode (truncated)";
    case LEX_NEGLEN:
        return "negative length";
    case LEX_END:
        return "the stream ends without STOP";
    default:
        return "error";
    }
}

int mg_pickle_stream(mg_scan *s, mg_span in, uint64_t start, const mg_pickle_hooks *hooks, mg_pickle_result *res)
{
    optab_init_once();
    pm m;
    memset(&m, 0, sizeof m);
    m.s = s;
    m.hooks = hooks;
    m.memo_dense = 1;
    mg_arena_init(&m.heap, &s->mem);
    m.heap_next_gc = 4u << 20;

    m.in = in;
    mg_vec_init(&m.stack, sizeof(pv), &s->mem);
    mg_vec_init(&m.marks, sizeof(size_t), &s->mem);
    mg_vec_init(&m.seen, sizeof(uint64_t), &s->mem);
    mg_vec_init(&m.seen_big, sizeof(uint64_t), &s->mem);
    mg_vec_init(&m.reported, sizeof(pobj *), &s->mem);
    if (mg_vec_reserve(&m.stack, 64) != 0) /* items is never NULL below */
        m.oom = 1;
    memset(res, 0, sizeof *res);
    size_t off = (size_t)start;
    if (off > in.len)
        off = in.len;
    mg_release_reset(s);
    m.read_min = UINT64_MAX;
    collect_reads(&m, off);
    mg_release_reset(s); /* pass 2 reads the same pages again */
    op o;
    enum lex_err e = LEX_OK;
    while (!m.oom) {
        e = lex(in, off, &o);
        if (e != LEX_OK)
            break;
        if (++m.nops > s->lim->max_pickle_ops) {
            mg_limit(s, MG_LIM_OPS, off, "the pickle opcode limit was reached");
            break;
        }
        if ((m.nops & 0xffff) == 0) {
            if (mg_scan_expired(s, off))
                break;
            /* a small margin behind the cursor; strings re-read by offset fault back in */
            if (off > (1u << 20))
                mg_release(s, in, off - (1u << 20));
        }
        if (o.code == '.') {
            if (m.stack.n == 0)
                malformed(&m, o.at, "STOP with an empty stack");
            res->stopped = 1;
            off = o.next;
            break;
        }
        m.skip_to = 0;
        step(&m, &o);
        off = m.skip_to ? m.skip_to : o.next;
        if (m.heap.total > m.heap_next_gc)
            collect(&m);
    }
    if (m.oom)
        mg_limit(s, MG_LIM_MEMORY, off, "the analysis memory limit was reached");
    else if (!res->stopped && e != LEX_OK && !s->timed_out && m.nops <= s->lim->max_pickle_ops)
        malformed(&m, off, lex_err_text(e));
    res->end = off;
    res->broken = m.broken || !res->stopped;
    res->nops = m.nops;
    pm_free(&m);
    return 0;
}

/* ---- detection ---- */

/* Text arguments as a pickler writes them: numbers for INT/LONG/FLOAT and
 * memo keys, dotted identifiers for GLOBAL/INST. Prose fails this at once. */
static int line_plausible(const op *o)
{
    const char *set;
    switch (o->code) {
    case 'I':
    case 'L':
    case 'F':
    case 'g':
    case 'p':
        set = "0123456789+-.eEinfatyINFATY_ \r";
        break;
    case 'c':
    case 'i':
        if (!o->arg.len || !o->arg2.len)
            return 0;
        for (size_t i = 0; i < o->arg.len; i++)
            if (o->arg.p[i] <= ' ' || o->arg.p[i] == 0x7f)
                return 0;
        return 1;
    default:
        return 1;
    }
    if (!o->arg.len)
        return 0;
    for (size_t i = 0; i < o->arg.len; i++)
        if (!strchr(set, o->arg.p[i]) || !o->arg.p[i])
            return 0;
    return 1;
}

/* Opcodes a protocol 0/1 pickle plausibly starts with. */
static int plausible_first(uint8_t c)
{
    return c && strchr("(]})cNIJKLMSVFXUTGldi", c) != NULL;
}

/* A cheap structural check that needs no allocation: lex the first opcodes
 * and simulate the stack depth, rejecting underflow, GETs before any PUT and
 * opcodes that cannot occur at the start. Text rarely survives 3 opcodes. */
/* Stack effect of an opcode for the plausibility check: items it needs on
 * the stack (within the current mark) and items it leaves. Mark opcodes
 * are handled apart. */
static int stack_effect(uint8_t code, int *need, int *give)
{
    static const char *const zero_one = "FIJKLMNPSTUVXcghjGBC}])\x8a\x8b\x8c\x8d\x8e\x8f\x82\x83\x84\x88\x89\x96\x97";
    *need = 0;
    *give = 1;
    if (strchr(zero_one, code) && code)
        return 0;
    switch (code) {
    case 'Q':
    case 0x85:
    case 0x98:
        *need = 1;
        return 0; /* one in, one out */
    case 'R':
    case 'a':
    case 'b':
    case 0x81:
    case 0x86:
    case 0x93:
        *need = 2;
        return 0;
    case 's':
    case 0x87:
    case 0x92:
        *need = 3;
        return 0;
    case '2':
        *need = 1;
        *give = 2;
        return 0; /* DUP */
    case '0':
        *need = 1;
        *give = 0;
        return 0; /* POP */
    case 'p':
    case 'q':
    case 'r':
    case 0x94:
        *need = 1;
        return 0; /* PUT keeps its item */
    case 0x80:
    case 0x95:
        *give = 0;
        return 0; /* PROTO, FRAME */
    default:
        return -1; /* mark opcodes, STOP */
    }
}

/* A cheap structural check that needs no allocation: lex the first opcodes
 * and simulate the stack exactly (depth per mark), rejecting underflow,
 * GETs before any PUT and opcodes that cannot occur at the start. */
int mg_pickle_plausible(mg_span in, size_t off)
{
    optab_init_once();
    if (off >= in.len)
        return 0;
    uint8_t first = in.p[off];
    if (first == 0x80) {
        if (in.len - off < 3 || in.p[off + 1] > 5) /* CPython accepts PROTO 0 to 5 */
            return 0;
    } else if (!plausible_first(first)) {
        return 0;
    }
    long depth = 0, puts = 0, mark[64];
    int nmarks = 0, ops = 0, imports = 0;
    op o = {0};
    size_t p = off;
    while (ops < 64) {
        enum lex_err e = lex(in, p, &o);
        /* The head ended (a long pickle), or the stream breaks. Random bytes
         * manage a few opcodes surprisingly often, so a break counts only
         * after an import (the payload-then-garbage trick), and a cut head
         * only after a good run of opcodes. */
        if (e == LEX_END || e == LEX_TRUNC)
            return ops >= 12 || (ops >= 3 && imports);
        if (e != LEX_OK || !line_plausible(&o))
            return ops >= 3 && imports;
        ops++;
        imports += o.code == 'c' || o.code == 'i' || o.code == 0x93;
        int need, give;
        if (stack_effect(o.code, &need, &give) == 0) {
            if ((o.code == 'g' || o.code == 'h' || o.code == 'j') && !puts)
                return 0;
            if (o.code == 'p' || o.code == 'q' || o.code == 'r' || o.code == 0x94)
                puts++;
            if (depth < need)
                return 0;
            depth += give - need;
        } else if (o.code == '.') {
            /* protocol 0 is ASCII, and prose can spell "G" + 8 bytes + "2."
             * (GIT v1.5.2...): without PROTO, a short stream counts only with
             * an import, and a stream without one could not run code anyway */
            return depth >= 1 && nmarks == 0 && (first == 0x80 || imports || ops >= 12);
        } else if (o.code == '(') {
            if (nmarks == 64)
                return ops >= 12;
            mark[nmarks++] = depth;
            depth = 0;
        } else { /* e u d l t o 0x90 0x91 1 i: consume the innermost mark */
            if (!nmarks || (o.code == 'o' && depth < 1))
                return 0;
            depth = mark[--nmarks];
            if (strchr("eu\x90", o.code) && o.code) {
                if (depth < 1) /* the list, dict or set they extend */
                    return 0;
            } else if (o.code != '1') {
                depth++;
            }
        }
        p = o.next;
    }
    return 1;
}

static int pickle_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_span head = {data.p, data.len < 4096 ? data.len : 4096};
    if (mg_pickle_plausible(head, 0))
        return head.p[0] == 0x80 ? 80 : 50;
    /* PROTO of a real protocol with nothing or a real opcode after it:
     * claimed weakly, so a broken or truncated pickle is reported as
     * malformed rather than passing as an unknown format (any stronger
     * format wins). Other bytes after 0x80 are just data. */
    if (head.len >= 2 && head.p[0] == 0x80 && head.p[1] <= 5 && (head.len == 2 || optab[head.p[2]].kind != A_BAD))
        return 10;
    return 0;
}

enum { TRAIL_CANDIDATES = 4096 };

/* Looks for further pickle streams hidden in bytes no loader would read. */
void mg_pickle_scan_trailing(mg_scan *s, mg_span in, size_t off)
{
    int tried = 0;
    while (off < in.len && tried < TRAIL_CANDIDATES && !mg_scan_expired(s, off)) {
        const uint8_t *p = memchr(in.p + off, 0x80, in.len - off);
        if (!p)
            return;
        size_t at = (size_t)(p - in.p);
        tried++;
        if (mg_pickle_plausible(in, at)) {
            mg_pickle_result r;
            mg_pickle_stream(s, in, at, NULL, &r);
            if (r.stopped && r.end > at) {
                off = (size_t)r.end;
                continue;
            }
        }
        off = at + 1;
    }
}

/* A raw pickle file: every stream in it, then whatever follows. */
static int pickle_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    size_t off = 0;
    int streams = 0;
    while (off < in.len && streams < 1024) {
        if (streams && !mg_pickle_plausible(in, off)) {
            mg_find(s, "MG-PKL-401", off, NULL,
                    "%zu bytes follow the last pickle stream and are not a pickle; a loader ignores them, "
                    "but they can carry a second-stage payload",
                    in.len - off);
            mg_pickle_scan_trailing(s, in, off);
            return 0;
        }
        mg_pickle_result r;
        mg_pickle_stream(s, in, off, NULL, &r);
        if (++streams == 1024 && r.stopped && r.end < in.len) {
            mg_limit(s, MG_LIM_MEMBERS, r.end, "more than 1024 pickle streams in one file");
            return 0;
        }
        if (s->timed_out || (s->out->limit_hits & (MG_LIM_OPS | MG_LIM_MEMORY)))
            return 0;
        if (!r.stopped) {
            mg_pickle_scan_trailing(s, in, (size_t)r.end + 1);
            return 0;
        }
        off = (size_t)r.end;
    }
    return 0;
}

const mg_module mg_module_pickle = {"pickle", pickle_probe, pickle_scan, 0};
