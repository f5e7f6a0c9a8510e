/*
 * onnx.c - ONNX models: a serialized onnx.ModelProto (protobuf, no magic).
 * Spec: https://github.com/onnx/onnx/blob/main/onnx/onnx.proto and
 * docs/IR.md; operators: docs/Operators.md, docs/Operators-ml.md.
 *
 * Layout (field numbers): ModelProto { 1 ir_version, 2 producer_name,
 * 3 producer_version, 4 domain, 5 model_version, 6 doc_string, 7 graph,
 * 8 opset_import {1 domain, 2 version}, 14 metadata_props, 20 training_info
 * {1 initialization graph, 2 algorithm graph}, 25 functions, 26 configuration }.
 * GraphProto { 1 node, 5 initializer (TensorProto), 15 sparse_initializer
 * {1 values, 2 indices: TensorProto}, 11/12/13 input/output/value_info }.
 * NodeProto { 4 op_type, 7 domain, 5 attribute }; AttributeProto { 5 t,
 * 6 g, 10 tensors, 11 graphs, 22 sparse_tensor, 23 sparse_tensors }: the
 * bodies of If/Loop/Scan are graphs inside attributes, and a Constant's value
 * is a tensor inside one. FunctionProto { 1 name, 10 domain, 7 node,
 * 11 attribute_proto }. TensorProto { 1 dims, 2 data_type, 3 segment,
 * 9 raw_data, 13 external_data {1 key, 2 value}, 14 data_location }.
 *
 * Attacks:
 *  - custom operator domains: the runtime runs a native library registered
 *    for the domain (MG-ONNX-300); an op name outside the standard set in a
 *    standard domain is unknown code or a broken model (MG-ONNX-302);
 *  - external data: `location` is a path the loader opens relative to the
 *    model; absolute paths, `..` (CVE-2022-25882, CVE-2024-27318 `a/../../b`),
 *    backslashes and drive letters read files outside the folder
 *    (MG-ONNX-401), also through sparse initializers and attribute tensors;
 *  - malformed protobuf, raw_data of the wrong size, nesting past protobuf's
 *    recursion limit: parsers crash or disagree (MG-ONNX-400).
 *
 * How we read it: the bounded wire reader (util/pb.h) walks the message
 * without copying; tensor data is skipped by its length, never read, so
 * verdict time does not depend on the weights. Protobuf semantics are kept:
 * a scalar field seen twice takes its last value, a message field seen twice
 * is merged (so every occurrence is walked), a known field with an
 * unexpected wire type is an unknown field and skipped. Subgraphs recurse
 * with a depth budget. Functions defined in the model are collected first
 * (they follow the graph in the file) so calls to them are known ops.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/pb.h"
#include "../util/banned.h"

extern const char mg_data_onnx_ops_txt[];
extern const size_t mg_data_onnx_ops_txt_len;

/* ---- the standard operator list (rules/onnx_ops.txt), parsed once ---- */

enum { OX_DOM_ONNX, OX_DOM_ML, OX_DOM_TRAINING, OX_NDOMS };

typedef struct ox_op {
    unsigned dom;
    mg_str name;
} ox_op;

enum { OX_MAX_OPS = 1024 };
static ox_op ox_ops[OX_MAX_OPS];
static size_t ox_nops;
static pthread_once_t ox_once = PTHREAD_ONCE_INIT;

static int ox_str_cmp(mg_str a, mg_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int ox_op_cmp(const void *a, const void *b)
{
    const ox_op *x = a, *y = b;
    if (x->dom != y->dom)
        return x->dom < y->dom ? -1 : 1;
    return ox_str_cmp(x->name, y->name);
}

/* "" and "ai.onnx" are one domain (IR.md); returns -1 for other domains. */
static int ox_std_domain(mg_str d)
{
    if (d.len == 0 || mg_str_eq(d, "ai.onnx"))
        return OX_DOM_ONNX;
    if (mg_str_eq(d, "ai.onnx.ml"))
        return OX_DOM_ML;
    if (mg_str_eq(d, "ai.onnx.preview.training"))
        return OX_DOM_TRAINING;
    return -1;
}

static void ox_init(void)
{
    const char *p = mg_data_onnx_ops_txt, *end = p + mg_data_onnx_ops_txt_len;
    int dom = OX_DOM_ONNX;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *hash = memchr(p, '#', (size_t)(e - p));
        const char *q = hash ? hash : e;
        while (p < q && (*p == ' ' || *p == '\t'))
            p++;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
            q--;
        if (q > p && *p == '[' && q[-1] == ']') {
            dom = ox_std_domain((mg_str){p + 1, (size_t)(q - p - 2)});
        } else if (q > p && dom >= 0 && ox_nops < OX_MAX_OPS) {
            ox_ops[ox_nops].dom = (unsigned)dom;
            ox_ops[ox_nops].name = (mg_str){p, (size_t)(q - p)};
            ox_nops++;
        }
        p = nl ? nl + 1 : end;
    }
    qsort(ox_ops, ox_nops, sizeof ox_ops[0], ox_op_cmp);
}

static int ox_known_op(int dom, mg_str name)
{
    ox_op key = {(unsigned)dom, name};
    return bsearch(&key, ox_ops, ox_nops, sizeof ox_ops[0], ox_op_cmp) != NULL;
}

/*
 * Domains whose operators ship compiled into ONNX Runtime itself (contrib
 * ops): a model using them needs no library beyond the runtime, so they are
 * not "custom" in the sense of MG-ONNX-300. They are what ORT's own
 * optimizer and the transformer exporters write (Attention, SkipLayerNorm,
 * MatMulNBits, GroupQueryAttention, NCHWc convolutions, the NHWC layout ops
 * of saved optimized models, DirectML fused nodes). Their op names are not
 * listed: ORT rejects an unknown name there at load, no library can be
 * smuggled in through them. Not here on purpose: ai.onnx.contrib (the
 * separate onnxruntime-extensions native library) and org.pytorch.aten (ATen
 * fallback ops that need PyTorch's native kernels registered by the
 * application): both need native code from outside the runtime.
 */
static int ox_runtime_domain(mg_str d)
{
    static const char *const doms[] = {
        "com.microsoft",        "com.microsoft.nchwc", "com.microsoft.experimental",
        "com.ms.internal.nhwc", "com.microsoft.dml",
    };
    for (size_t i = 0; i < sizeof doms / sizeof doms[0]; i++)
        if (mg_str_eq(d, doms[i]))
            return 1;
    return 0;
}

/* ---- scan state ---- */

typedef struct ox_fn {
    mg_str domain; /* "" for the default domain */
    mg_str name;
} ox_fn;

/* Distinct ops and locations remembered to report each once; past this
 * many, further ones are reported every time (max_findings still caps). */
enum { OX_MAX_REMEMBERED = 64 };

typedef struct ox_seen {
    const char *threat;
    mg_str domain, name;
} ox_seen;

typedef struct ox_ctx {
    mg_scan *s;
    mg_span in;
    mg_vec fns;  /* ox_fn, sorted after the first pass */
    mg_vec seen; /* ox_seen: ops and locations already reported */
    uint64_t nodes;
    int stop; /* malformed or out of time: stop walking */
} ox_ctx;

static mg_str ox_norm_domain(mg_str d)
{
    return mg_str_eq(d, "ai.onnx") ? (mg_str){"", 0} : d;
}

static int ox_fn_cmp(const void *a, const void *b)
{
    const ox_fn *x = a, *y = b;
    int c = ox_str_cmp(x->domain, y->domain);
    return c ? c : ox_str_cmp(x->name, y->name);
}

static int ox_is_function(const ox_ctx *c, mg_str dom, mg_str name)
{
    ox_fn key = {ox_norm_domain(dom), name};
    return c->fns.n && bsearch(&key, c->fns.items, c->fns.n, sizeof key, ox_fn_cmp) != NULL;
}

/* 1 the first time (threat, domain, name) is seen, 0 afterwards. The table
 * is small and bounded, so a model with thousands of distinct custom ops
 * costs no quadratic time: past it, every one is reported. */
static int ox_first(ox_ctx *c, const char *threat, mg_str dom, mg_str name)
{
    ox_seen *v = c->seen.items;
    for (size_t i = 0; i < c->seen.n; i++)
        if (v[i].threat == threat && ox_str_cmp(v[i].domain, dom) == 0 && ox_str_cmp(v[i].name, name) == 0)
            return 0;
    if (c->seen.n >= OX_MAX_REMEMBERED)
        return 1;
    ox_seen *n = mg_vec_push(&c->seen);
    if (n) {
        n->threat = threat;
        n->domain = dom;
        n->name = name;
    }
    return 1;
}

__attribute__((format(printf, 3, 4))) static void ox_malformed(ox_ctx *c, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_findv(c->s, "MG-ONNX-400", at, NULL, fmt, ap);
    va_end(ap);
    c->stop = 1;
}

/* Reports a wire error of `r` once and stops the walk; 1 if there was one. */
static int ox_wire_error(ox_ctx *c, const mg_pb *r)
{
    if (r->err == MG_PB_OK)
        return 0;
    if (!c->stop)
        ox_malformed(c, r->err_at, "the model is not a valid protobuf message: %s; ONNX loaders reject it",
                     mg_pb_strerror(r->err));
    return 1;
}

/* Opens field `f` of `r` as a nested message (depth-budgeted). */
static int ox_open(ox_ctx *c, mg_pb *sub, mg_pb *r, const mg_pb_field *f)
{
    if (mg_pb_open(sub, r, f, MG_PB_MAX_DEPTH) != 0) {
        ox_wire_error(c, r);
        return -1;
    }
    return 0;
}

/* ---- tensors and external data ---- */

/* Bits per element of a TensorProto data type, 0 when unknown or variable. */
static unsigned ox_elem_bits(uint64_t t)
{
    static const unsigned bits[] = {
        0,   /* UNDEFINED */
        32,  /* FLOAT */
        8,   /* UINT8 */
        8,   /* INT8 */
        16,  /* UINT16 */
        16,  /* INT16 */
        32,  /* INT32 */
        64,  /* INT64 */
        0,   /* STRING: never raw */
        8,   /* BOOL */
        16,  /* FLOAT16 */
        64,  /* DOUBLE */
        32,  /* UINT32 */
        64,  /* UINT64 */
        64,  /* COMPLEX64 */
        128, /* COMPLEX128 */
        16,  /* BFLOAT16 */
        8,   /* FLOAT8E4M3FN */
        8,   /* FLOAT8E4M3FNUZ */
        8,   /* FLOAT8E5M2 */
        8,   /* FLOAT8E5M2FNUZ */
        4,   /* UINT4: two per byte */
        4,   /* INT4 */
        4,   /* FLOAT4E2M1 */
        8,   /* FLOAT8E8M0 */
    };
    return t < sizeof bits / sizeof bits[0] ? bits[t] : 0;
}

/* Why an external data location leaves the model folder, or NULL. */
static const char *ox_bad_location(mg_str loc)
{
    if (memchr(loc.p, 0, loc.len))
        return "contains a NUL byte (readers disagree on where the name ends)";
    if (loc.p[0] == '/')
        return "is an absolute path";
    if (memchr(loc.p, '\\', loc.len))
        return "contains a backslash, a path separator on Windows";
    if (loc.len >= 2 && loc.p[1] == ':' &&
        ((loc.p[0] >= 'a' && loc.p[0] <= 'z') || (loc.p[0] >= 'A' && loc.p[0] <= 'Z')))
        return "names a drive";
    /* normalise component by component: `a/../../b` climbs out even though
     * it does not start with `../` (CVE-2024-27318) */
    long depth = 0;
    size_t i = 0;
    while (i < loc.len) {
        size_t j = i;
        while (j < loc.len && loc.p[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && loc.p[i] == '.' && loc.p[i + 1] == '.') {
            if (--depth < 0)
                return "climbs out of the model folder with `..`";
        } else if (n > 0 && !(n == 1 && loc.p[i] == '.')) {
            depth++;
        }
        i = j + 1;
    }
    return NULL;
}

static int ox_decimal(mg_str v)
{
    if (v.len == 0 || v.len > 19)
        return 0;
    for (size_t i = 0; i < v.len; i++)
        if (v.p[i] < '0' || v.p[i] > '9')
            return 0;
    return 1;
}

typedef struct ox_tinfo {
    mg_str name;
    uint64_t at;
    uint64_t dtype;
    uint64_t nelem; /* product of dims */
    int dims_bad;   /* a negative dimension, or the product overflows */
    int segment;
    int has_raw;
    uint64_t raw_len, raw_at;
    uint64_t location_kind; /* data_location: 1 = EXTERNAL */
    int has_location;
} ox_tinfo;

static void ox_dim(ox_tinfo *t, uint64_t v)
{
    if ((int64_t)v < 0 || (v && t->nelem > UINT64_MAX / v))
        t->dims_bad = 1;
    else
        t->nelem *= v;
}

/* One external_data entry {1 key, 2 value}: the last key and value win. */
static void ox_external_entry(ox_ctx *c, mg_pb *r, ox_tinfo *t)
{
    mg_pb_field f;
    mg_str key = {"", 0}, val = {"", 0};
    uint64_t vat = r->base;
    int rc;
    while ((rc = mg_pb_next(r, &f)) > 0) {
        if (mg_pb_is_len(&f, 1))
            key = mg_pb_str(&f);
        else if (mg_pb_is_len(&f, 2)) {
            val = mg_pb_str(&f);
            vat = f.vat;
        }
    }
    if (rc < 0)
        return;
    char kb[64], vb[160], nb[96];
    if (mg_str_eq(key, "location")) {
        t->has_location = 1;
        if (val.len == 0) {
            ox_malformed(c, vat, "tensor `%s` names an empty external data location",
                         mg_pb_show(t->name, nb, sizeof nb));
            return;
        }
        const char *why = ox_bad_location(val);
        if (!why) { /* the folder walk checks where it really leads (links) */
            char loc[512];
            if (val.len < sizeof loc && !memchr(val.p, 0, val.len)) {
                memcpy(loc, val.p, val.len);
                loc[val.len] = 0;
                mg_fact(c->s, "onnx_external_data", loc);
            }
            return;
        }
        if (!ox_first(c, "MG-ONNX-401", (mg_str){"", 0}, val))
            return;
        mg_pb_show(val, vb, sizeof vb);
        mg_pb_show(t->name, nb, sizeof nb);
        mg_find(c->s, "MG-ONNX-401", vat, vb,
                "tensor `%s` loads its data from `%s`, which %s: loading the model reads a file outside its folder", nb,
                vb, why);
    } else if ((mg_str_eq(key, "offset") || mg_str_eq(key, "length")) && !ox_decimal(val)) {
        ox_malformed(c, vat, "tensor `%s` has external data %s `%s`, not a decimal number",
                     mg_pb_show(t->name, nb, sizeof nb), mg_pb_show(key, kb, sizeof kb),
                     mg_pb_show(val, vb, sizeof vb));
    }
}

static void ox_tensor_check(ox_ctx *c, const ox_tinfo *t)
{
    char nb[96];
    if (c->stop)
        return;
    if (t->location_kind == 1 && !t->has_location) {
        ox_malformed(c, t->at, "tensor `%s` is stored externally (data_location EXTERNAL) but names no location",
                     mg_pb_show(t->name, nb, sizeof nb));
        return;
    }
    if (t->location_kind == 1 || !t->has_raw || t->segment)
        return;
    unsigned bits = ox_elem_bits(t->dtype);
    if (!bits)
        return; /* unknown or variable-size type: nothing cheap to compare */
    if (t->dims_bad) {
        ox_malformed(c, t->at, "tensor `%s` has a negative dimension or dimensions whose product overflows",
                     mg_pb_show(t->name, nb, sizeof nb));
        return;
    }
    /* expected bytes: ceil(nelem * bits / 8), computed without overflow */
    uint64_t whole = t->nelem / 8 * bits, part = (t->nelem % 8) * bits;
    if (t->nelem / 8 > UINT64_MAX / bits) {
        ox_malformed(c, t->at, "tensor `%s` declares more elements than any file can hold",
                     mg_pb_show(t->name, nb, sizeof nb));
        return;
    }
    uint64_t want = whole + (part + 7) / 8;
    if (want != t->raw_len)
        ox_malformed(c, t->raw_at,
                     "tensor `%s` holds %llu bytes of raw_data but its dims and type need %llu: readers disagree on "
                     "its values",
                     mg_pb_show(t->name, nb, sizeof nb), (unsigned long long)t->raw_len, (unsigned long long)want);
}

static void ox_walk_tensor(ox_ctx *c, mg_pb *r)
{
    ox_tinfo t;
    memset(&t, 0, sizeof t);
    t.at = r->base;
    t.nelem = 1;
    mg_pb_field f;
    int rc;
    while (!c->stop && (rc = mg_pb_next(r, &f)) > 0) {
        if (f.num == 1 && f.wire == MG_PB_VARINT) {
            ox_dim(&t, f.v);
        } else if (mg_pb_is_len(&f, 1)) { /* packed dims */
            size_t o = 0;
            uint64_t v;
            int k;
            while ((k = mg_pb_packed_next(f.bytes, &o, &v)) > 0)
                ox_dim(&t, v);
            if (k < 0)
                ox_malformed(c, f.vat, "the packed dims of a tensor are not valid varints");
        } else if (f.num == 2 && f.wire == MG_PB_VARINT) {
            t.dtype = f.v;
        } else if (mg_pb_is_len(&f, 3)) {
            t.segment = 1;
        } else if (mg_pb_is_len(&f, 8)) {
            t.name = mg_pb_str(&f);
        } else if (mg_pb_is_len(&f, 9)) {
            /* skipped by its length: the weights are never read */
            t.has_raw = 1;
            t.raw_len = f.bytes.len;
            t.raw_at = f.vat;
        } else if (mg_pb_is_len(&f, 13)) {
            mg_pb sub;
            if (ox_open(c, &sub, r, &f) == 0) {
                ox_external_entry(c, &sub, &t);
                ox_wire_error(c, &sub);
            }
        } else if (f.num == 14 && f.wire == MG_PB_VARINT) {
            t.location_kind = f.v;
        }
    }
    if (ox_wire_error(c, r))
        return;
    ox_tensor_check(c, &t);
}

/* SparseTensorProto { 1 values, 2 indices }: both are TensorProtos and may
 * be stored externally (the ONNX Runtime 1.26 bypass went through them). */
static void ox_sparse(ox_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        if (mg_pb_is_len(&f, 1) || mg_pb_is_len(&f, 2)) {
            mg_pb sub;
            if (ox_open(c, &sub, r, &f) == 0)
                ox_walk_tensor(c, &sub);
        }
    }
    ox_wire_error(c, r);
}

/* ---- graphs, nodes, attributes ---- */

static void ox_graph(ox_ctx *c, mg_pb *r);

static void ox_attribute(ox_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        if (f.wire != MG_PB_LEN)
            continue;
        mg_pb sub;
        switch (f.num) {
        case 5:  /* t */
        case 10: /* tensors */
            if (ox_open(c, &sub, r, &f) == 0)
                ox_walk_tensor(c, &sub);
            break;
        case 6:  /* g: If/Loop/Scan bodies */
        case 11: /* graphs */
            if (ox_open(c, &sub, r, &f) == 0)
                ox_graph(c, &sub);
            break;
        case 22: /* sparse_tensor */
        case 23: /* sparse_tensors */
            if (ox_open(c, &sub, r, &f) == 0)
                ox_sparse(c, &sub);
            break;
        default:
            break;
        }
    }
    ox_wire_error(c, r);
}

static void ox_judge(ox_ctx *c, mg_str dom, mg_str op, uint64_t at)
{
    char db[96], ob[96], full[200];
    if (op.len == 0) {
        ox_malformed(c, at, "a node has no op_type; ONNX loaders reject it");
        return;
    }
    mg_pb_show(dom, db, sizeof db);
    mg_pb_show(op, ob, sizeof ob);
    snprintf(full, sizeof full, "%s%s%s", db, dom.len ? "::" : "", ob);
    int std = ox_std_domain(dom);
    if (std >= 0) {
        if (ox_known_op(std, op) || ox_is_function(c, dom, op))
            return;
        if (ox_first(c, "MG-ONNX-302", dom, op))
            mg_find(c->s, "MG-ONNX-302", at, full,
                    "operator `%s` is not in ONNX's operator set for domain `%s`: the runtime has no such "
                    "operator, or a library must register it",
                    ob, dom.len ? db : "ai.onnx");
        return;
    }
    if (ox_is_function(c, dom, op) || ox_runtime_domain(dom))
        return;
    if (ox_first(c, "MG-ONNX-300", dom, op))
        mg_find(c->s, "MG-ONNX-300", at, full,
                "operator `%s` comes from custom domain `%s`: running the model needs a native custom-op "
                "library registered for that domain",
                ob, db);
}

static void ox_node(ox_ctx *c, mg_pb *r)
{
    mg_str op = {"", 0}, dom = {"", 0};
    uint64_t at = r->base;
    mg_pb_field f;
    if (++c->nodes % 4096 == 0 && mg_scan_expired(c->s, at)) {
        c->stop = 1;
        return;
    }
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        if (mg_pb_is_len(&f, 4)) { /* op_type: the last one wins */
            op = mg_pb_str(&f);
            at = f.vat;
        } else if (mg_pb_is_len(&f, 7)) {
            dom = mg_pb_str(&f);
        } else if (mg_pb_is_len(&f, 5)) {
            mg_pb sub;
            if (ox_open(c, &sub, r, &f) == 0)
                ox_attribute(c, &sub);
        }
    }
    if (ox_wire_error(c, r) || c->stop)
        return;
    ox_judge(c, dom, op, at);
}

static void ox_graph(ox_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        if (f.wire != MG_PB_LEN)
            continue;
        mg_pb sub;
        if (f.num == 1) {
            if (ox_open(c, &sub, r, &f) == 0)
                ox_node(c, &sub);
        } else if (f.num == 5) {
            if (ox_open(c, &sub, r, &f) == 0)
                ox_walk_tensor(c, &sub);
            mg_release(c->s, c->in, (size_t)(f.vat + f.bytes.len));
        } else if (f.num == 15) {
            if (ox_open(c, &sub, r, &f) == 0)
                ox_sparse(c, &sub);
        }
    }
    ox_wire_error(c, r);
}

/* FunctionProto: its nodes are judged like the graph's (7), and its
 * attribute_proto defaults (11) may hold tensors and graphs. */
static void ox_function(ox_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        mg_pb sub;
        if (mg_pb_is_len(&f, 7)) {
            if (ox_open(c, &sub, r, &f) == 0)
                ox_node(c, &sub);
        } else if (mg_pb_is_len(&f, 11)) {
            if (ox_open(c, &sub, r, &f) == 0)
                ox_attribute(c, &sub);
        }
    }
    ox_wire_error(c, r);
}

static void ox_training(ox_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        if (mg_pb_is_len(&f, 1) || mg_pb_is_len(&f, 2)) {
            mg_pb sub;
            if (ox_open(c, &sub, r, &f) == 0)
                ox_graph(c, &sub);
        }
    }
    ox_wire_error(c, r);
}

/* First pass: the (domain, name) of every function the model defines. */
static void ox_collect_functions(ox_ctx *c, mg_span in)
{
    mg_pb r = mg_pb_new(in, 0);
    mg_pb_field f;
    while (!c->stop && mg_pb_next(&r, &f) > 0) {
        if (!mg_pb_is_len(&f, 25))
            continue;
        mg_pb sub;
        if (ox_open(c, &sub, &r, &f) != 0)
            break;
        ox_fn fn = {{"", 0}, {"", 0}};
        mg_pb_field g;
        while (mg_pb_next(&sub, &g) > 0) {
            if (mg_pb_is_len(&g, 1))
                fn.name = mg_pb_str(&g);
            else if (mg_pb_is_len(&g, 10))
                fn.domain = ox_norm_domain(mg_pb_str(&g));
        }
        if (ox_wire_error(c, &sub))
            break;
        ox_fn *slot = mg_vec_push(&c->fns);
        if (!slot) {
            mg_limit(c->s, MG_LIM_MEMORY, f.at, "the memory limit was reached");
            c->stop = 1;
            break;
        }
        *slot = fn;
    }
    ox_wire_error(c, &r);
    if (c->fns.n)
        qsort(c->fns.items, c->fns.n, sizeof(ox_fn), ox_fn_cmp);
}

static void ox_model(ox_ctx *c, mg_span in)
{
    mg_pb r = mg_pb_new(in, 0);
    mg_pb_field f;
    while (!c->stop && mg_pb_next(&r, &f) > 0) {
        mg_pb sub;
        if (mg_pb_is_len(&f, 7)) {
            if (ox_open(c, &sub, &r, &f) == 0)
                ox_graph(c, &sub);
        } else if (mg_pb_is_len(&f, 20)) {
            if (ox_open(c, &sub, &r, &f) == 0)
                ox_training(c, &sub);
        } else if (mg_pb_is_len(&f, 25)) {
            if (ox_open(c, &sub, &r, &f) == 0)
                ox_function(c, &sub);
        }
    }
    ox_wire_error(c, &r);
}

/* ---- detection ---- */

enum { OX_PROBE_HEAD = 4096 };

/* 1 when the part of `b` inside the probe window is printable text (names,
 * versions and domains are; a nested message starts with a control byte). */
static int ox_printable(mg_span all, mg_span b)
{
    size_t start = (size_t)(b.p - all.p);
    for (size_t i = 0; i < b.len && start + i < OX_PROBE_HEAD; i++)
        if (b.p[i] < 0x20 || b.p[i] == 0x7f)
            return 0;
    return 1;
}

/* OperatorSetIdProto { 1 domain, 2 version }, checked when it lies wholly in
 * the window. */
static int ox_opset_ok(mg_span all, const mg_pb_field *f)
{
    if ((size_t)(f->bytes.p - all.p) + f->bytes.len > OX_PROBE_HEAD)
        return 1;
    mg_pb r = mg_pb_new(f->bytes, 0);
    mg_pb_field g;
    int rc;
    while ((rc = mg_pb_next(&r, &g)) > 0) {
        if (g.num == 1 && g.wire == MG_PB_LEN && ox_printable(all, g.bytes))
            continue;
        if (g.num == 2 && g.wire == MG_PB_VARINT && g.v < 1000)
            continue;
        return 0;
    }
    return rc == 0;
}

/* ModelProto's fields and their wire types (-1: not a ModelProto field). */
static int ox_model_wire(uint64_t num)
{
    switch (num) {
    case 1:
    case 5:
        return MG_PB_VARINT;
    case 2:
    case 3:
    case 4:
    case 6:
    case 7:
    case 8:
    case 14:
    case 20:
    case 25:
    case 26:
        return MG_PB_LEN;
    default:
        return -1;
    }
}

/* The field at `off` runs past the end of the file: 1 when it is a
 * ModelProto field with its wire type, and text if it is one of the
 * strings (2-4) (a SavedModel's MetaGraphDef sits where producer_name
 * would, and starts with a control byte). */
static int ox_cut_ok(mg_span data, uint64_t off64)
{
    size_t off = (size_t)off64;
    uint64_t tag = 0, len = 0;
    if (off64 >= data.len || mg_pb_varint(data, &off, &tag) != MG_PB_OK)
        return 0;
    uint64_t num = tag >> 3;
    if (ox_model_wire(num) != (int)(tag & 7) || (tag & 7) != MG_PB_LEN)
        return 0;
    if (mg_pb_varint(data, &off, &len) != MG_PB_OK)
        return 0;
    return num < 2 || num > 4 || ox_printable(data, mg_span_from(data, off));
}

/*
 * ONNX has no magic: a ModelProto is recognised by its fields. Every field in
 * the first 4 KiB must be a ModelProto field with its wire type, names must be
 * text and opset entries well formed; exporters write ir_version (field 1)
 * first. A file that looks like that but is cut short is still claimed, so it
 * is reported as malformed rather than passing as an unknown format.
 */
static int ox_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_pb r = mg_pb_new(data, 0);
    mg_pb_field f;
    int ir = 0, structure = 0, fields = 0, rc = 0, named = 0;
    while (r.off < OX_PROBE_HEAD && (rc = mg_pb_next(&r, &f)) > 0) {
        if (ox_model_wire(f.num) != (int)f.wire)
            return 0;
        if (f.num == 1) {
            if (f.v == 0 || f.v > 64) /* IR versions are small integers */
                return 0;
            ir = 1;
        } else if ((f.num >= 2 && f.num <= 4) && !ox_printable(data, f.bytes)) {
            return 0;
        } else if (f.num >= 2 && f.num <= 4 && f.bytes.len >= 2) {
            named = 1; /* producer_name and friends: text random bytes rarely make */
        } else if (f.num == 8) {
            if (!ox_opset_ok(data, &f))
                return 0;
            structure = 1;
        } else if (f.num == 7) {
            structure = 1;
        }
        fields++;
    }
    /* a broken field after a recognisable start: claimed, reported malformed */
    /* random bytes parse as a field or two surprisingly often: a broken file
     * is claimed only once it showed the shape of a model */
    if (rc < 0 && ir && named && r.err == MG_PB_TRUNCATED && ox_cut_ok(data, r.err_at))
        return 45; /* a named model cut short: ours to report */
    if (rc < 0 && !(ir && structure && named && fields > 2))
        return 0;
    if (ir && structure)
        return 60;
    /* exporters always write ir_version first; without it, or without any
     * text, a few well-formed fields are what random bytes look like */
    if (ir && named)
        return fields > 1 || rc < 0 ? 45 : 40;
    return 0;
}

/* ---- scan ---- */

static int ox_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    pthread_once(&ox_once, ox_init);
    mg_set_format(s, "onnx");
    ox_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.in = in;
    mg_vec_init(&c.fns, sizeof(ox_fn), &s->mem);
    mg_vec_init(&c.seen, sizeof(ox_seen), &s->mem);
    if (in.len > 0x7fffffffu)
        mg_find(s, "MG-ONNX-400", 0, NULL,
                "the model is %llu bytes: protobuf readers (ONNX Runtime, onnx.load) refuse messages over 2 GiB, "
                "so this file cannot be the model a runtime loads",
                (unsigned long long)in.len);
    ox_collect_functions(&c, in);
    if (!c.stop)
        ox_model(&c, in);
    mg_vec_free(&c.fns);
    mg_vec_free(&c.seen);
    return 0;
}

const mg_module mg_module_onnx = {"onnx", ox_probe, ox_scan, 0};
