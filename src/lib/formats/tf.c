/*
 * tf.c - TensorFlow SavedModel (saved_model.pb) and frozen GraphDef (.pb).
 * Spec: tensorflow/core/protobuf/saved_model.proto, meta_graph.proto,
 * saver.proto; tensorflow/core/framework/graph.proto, node_def.proto,
 * function.proto, attr_value.proto, op_def.proto.
 *
 * Layout (field numbers): SavedModel { 1 saved_model_schema_version (1),
 * 2 meta_graphs: MetaGraphDef { 1 meta_info_def, 2 graph_def, 3 saver_def
 * {1 filename_tensor_name, 2 save_tensor_name, 3 restore_op_name},
 * 5 signature_def, 6 asset_file_def {1 tensor_info {1 name}, 2 filename},
 * 7 object_graph_def } }. GraphDef { 1 node: NodeDef {1 name, 2 op,
 * 3 input, 4 device, 5 attr: map<string, AttrValue>}, 2 library:
 * FunctionDefLibrary { 1 function: FunctionDef { 1 signature: OpDef {1 name,
 * 2 input_arg {1 name}}, 3 node_def } } }. AttrValue { 1 list {9 func},
 * 2 s, 10 func: NameAttrList {1 name} }: call ops (StatefulPartitionedCall,
 * If, While, ...) name library functions here; a node whose op is a library
 * function's name calls it directly.
 *
 * Attacks: a graph runs whatever ops it names when a signature or the
 * restore op runs: file reads and writes (ReadFile, WriteFile,
 * MatchingFiles, readers and datasets over file names, summary and debug
 * writers, PrintV2 to a file), Python callbacks (PyFunc, EagerPyFunc) and
 * custom ops from native libraries; modelscan reports only ReadFile and
 * WriteFile (threat landscape, bypass 27).
 *
 * The saver: every SavedModel carries SaveV2/RestoreV2/MergeV2Checkpoints,
 * so checkpoint ops are judged by where they are. saver_def names the save
 * tensor and the restore op; in TF1 graphs those live under one name scope
 * ("save/restore_all" -> every node under "save/"), in TF2 graphs they are
 * StatefulPartitionedCall nodes whose `f` attributes name the traced
 * save/restore functions. Checkpoint ops in those nodes, and in functions
 * that the saver's nodes reach (transitively) and no other node reaches,
 * are the saver; anywhere else they are reported (MG-TF-300). Every other
 * file op is reported wherever it is, the saver included. Vocabulary
 * initialisers (InitializeTableFromTextFile*) read a file whose name must
 * come from a function argument (TF2 captures assets that way) or a tensor
 * registered in asset_file_def (TF1); a name built in the graph (a literal
 * path) is reported.
 *
 * How we read it: the bounded protobuf reader (util/pb.h); tensor contents
 * (Const values) are skipped by length, never read. The op list is
 * rules/tf_ops.txt (TensorFlow's raw_ops, with each op's class). Detection
 * is structural, never by file name.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/pb.h"
#include "../util/banned.h"

extern const char mg_data_tf_ops_txt[];
extern const size_t mg_data_tf_ops_txt_len;

/* ---- the op list (rules/tf_ops.txt), parsed once ---- */

enum tf_kind { TF_PLAIN, TF_PYTHON, TF_FILE, TF_NET, TF_CKPT_WRITE, TF_CKPT_READ, TF_VOCAB, TF_PRINT };

typedef struct tf_op {
    mg_str name;
    enum tf_kind kind;
} tf_op;

enum { TF_MAX_OPS = 4096 };
static tf_op tf_ops[TF_MAX_OPS];
static size_t tf_nops;
static pthread_once_t tf_once = PTHREAD_ONCE_INIT;

static int tf_str_cmp(mg_str a, mg_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int tf_op_cmp(const void *a, const void *b)
{
    return tf_str_cmp(((const tf_op *)a)->name, ((const tf_op *)b)->name);
}

static enum tf_kind tf_kind_of(mg_str tag)
{
    static const struct {
        const char *tag;
        enum tf_kind kind;
    } t[] = {{"python", TF_PYTHON},
             {"file", TF_FILE},
             {"net", TF_NET},
             {"checkpoint_write", TF_CKPT_WRITE},
             {"checkpoint_read", TF_CKPT_READ},
             {"vocab", TF_VOCAB},
             {"print", TF_PRINT}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (mg_str_eq(tag, t[i].tag))
            return t[i].kind;
    return TF_PLAIN;
}

static void tf_init(void)
{
    const char *p = mg_data_tf_ops_txt, *end = p + mg_data_tf_ops_txt_len;
    while (p < end && tf_nops < TF_MAX_OPS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *hash = memchr(p, '#', (size_t)(e - p));
        const char *q = hash ? hash : e;
        while (p < q && (*p == ' ' || *p == '\t'))
            p++;
        const char *w = p;
        while (w < q && *w != ' ' && *w != '\t' && *w != '\r')
            w++;
        if (w > p) {
            const char *t = w;
            while (t < q && (*t == ' ' || *t == '\t'))
                t++;
            const char *te = t;
            while (te < q && *te != ' ' && *te != '\t' && *te != '\r')
                te++;
            tf_ops[tf_nops].name = (mg_str){p, (size_t)(w - p)};
            tf_ops[tf_nops].kind = tf_kind_of((mg_str){t, (size_t)(te - t)});
            tf_nops++;
        }
        p = nl ? nl + 1 : end;
    }
    qsort(tf_ops, tf_nops, sizeof tf_ops[0], tf_op_cmp);
}

static const tf_op *tf_lookup(mg_str name)
{
    tf_op key = {name, TF_PLAIN};
    return bsearch(&key, tf_ops, tf_nops, sizeof tf_ops[0], tf_op_cmp);
}

/* ---- scan state ---- */

typedef struct tf_fn {
    mg_str name;
    mg_span body;   /* the FunctionDef message */
    uint64_t at;    /* its absolute offset */
    unsigned reach; /* TF_REACH_*: who calls it, directly or through other functions */
} tf_fn;

/* Who reaches a node or function: the saver's save node, its restore node,
 * anything else. A function is the saver's when only the saver reaches it
 * (a function shared with a signature runs outside the saver too);
 * checkpoint writes belong to the save side, reads to the restore side (a
 * TF1 scope is both). Functions nothing in the graph calls (concrete
 * functions that only object_graph_def names) are judged as outside. */
enum { TF_REACH_SAVE = 1, TF_REACH_OTHER = 2, TF_REACH_RESTORE = 4 };

typedef struct tf_work {
    size_t fn;
    unsigned bit;
} tf_work;

typedef struct tf_seen {
    const char *threat;
    mg_str op;
} tf_seen;

enum { TF_MAX_REMEMBERED = 64, TF_MAX_GRAPHS = 64 };

typedef struct tf_ctx {
    mg_scan *s;
    mg_span in;
    mg_vec fns;                    /* tf_fn, sorted by name */
    mg_vec assets;                 /* mg_str: node names of asset tensors (TF1) */
    mg_vec seen;                   /* tf_seen */
    mg_vec work;                   /* tf_work: reached functions still to walk */
    mg_span graphs[TF_MAX_GRAPHS]; /* graph_def occurrences of one MetaGraphDef */
    uint64_t graph_at[TF_MAX_GRAPHS];
    size_t ngraphs;
    mg_str save_node, restore_node, scope; /* from saver_def */
    uint64_t nodes;
    int stop;
} tf_ctx;

__attribute__((format(printf, 3, 4))) static void tf_malformed(tf_ctx *c, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_findv(c->s, "MG-TF-400", at, NULL, fmt, ap);
    va_end(ap);
    c->stop = 1;
}

static int tf_wire_error(tf_ctx *c, const mg_pb *r)
{
    if (r->err == MG_PB_OK)
        return 0;
    if (!c->stop)
        tf_malformed(c, r->err_at, "the model is not a valid protobuf message: %s; TensorFlow refuses to load it",
                     mg_pb_strerror(r->err));
    return 1;
}

static int tf_open(tf_ctx *c, mg_pb *sub, mg_pb *r, const mg_pb_field *f)
{
    if (mg_pb_open(sub, r, f, MG_PB_MAX_DEPTH) != 0) {
        tf_wire_error(c, r);
        return -1;
    }
    return 0;
}

/* The node part of a tensor or input name: "^a/b:0" -> "a/b". */
static mg_str tf_node_part(mg_str s)
{
    if (s.len == 0)
        return (mg_str){"", 0};
    if (s.p[0] == '^')
        s.p++, s.len--;
    const char *colon = s.len ? memchr(s.p, ':', s.len) : NULL;
    if (colon)
        s.len = (size_t)(colon - s.p);
    return s;
}

static int tf_fn_cmp(const void *a, const void *b)
{
    return tf_str_cmp(((const tf_fn *)a)->name, ((const tf_fn *)b)->name);
}

static tf_fn *tf_find_fn(tf_ctx *c, mg_str name)
{
    tf_fn key = {name, {NULL, 0}, 0, 0u};
    return c->fns.n ? bsearch(&key, c->fns.items, c->fns.n, sizeof key, tf_fn_cmp) : NULL;
}

static int tf_first(tf_ctx *c, const char *threat, mg_str op)
{
    tf_seen *v = c->seen.items;
    for (size_t i = 0; i < c->seen.n; i++)
        if (v[i].threat == threat && tf_str_cmp(v[i].op, op) == 0)
            return 0;
    if (c->seen.n >= TF_MAX_REMEMBERED)
        return 1; /* bounded table: past it, report each time (max_findings caps) */
    tf_seen *n = mg_vec_push(&c->seen);
    if (n) {
        n->threat = threat;
        n->op = op;
    }
    return 1;
}

/* ---- nodes ---- */

typedef struct tf_node {
    mg_str name, op;
    uint64_t at;
    mg_str input1;        /* the second input (a vocabulary initialiser's file name) */
    mg_str output_stream; /* PrintV2's attribute */
    mg_span attrs[32];    /* attr entries (for function references), bounded */
    size_t nattrs;
} tf_node;

/* AttrValue: its `s` (2) value. */
static mg_str tf_attr_s(mg_span attr_value)
{
    mg_pb r = mg_pb_new(attr_value, 0);
    mg_pb_field f;
    mg_str out = {"", 0};
    while (mg_pb_next(&r, &f) > 0)
        if (mg_pb_is_len(&f, 2))
            out = mg_pb_str(&f);
    return out;
}

/* One attr map entry {1 key, 2 AttrValue}. */
static void tf_attr_entry(tf_node *n, mg_span entry)
{
    mg_pb r = mg_pb_new(entry, 0);
    mg_pb_field f;
    mg_str key = {"", 0};
    mg_span val = {NULL, 0};
    while (mg_pb_next(&r, &f) > 0) {
        if (mg_pb_is_len(&f, 1))
            key = mg_pb_str(&f);
        else if (mg_pb_is_len(&f, 2))
            val = f.bytes;
    }
    if (mg_str_eq(key, "output_stream") && val.p)
        n->output_stream = tf_attr_s(val);
}

static int tf_read_node(tf_ctx *c, mg_pb *r, tf_node *n)
{
    memset(n, 0, sizeof *n);
    n->name = n->op = n->input1 = n->output_stream = (mg_str){"", 0};
    n->at = r->base;
    mg_pb_field f;
    unsigned inputs = 0;
    while (mg_pb_next(r, &f) > 0) {
        if (mg_pb_is_len(&f, 1)) {
            n->name = mg_pb_str(&f);
        } else if (mg_pb_is_len(&f, 2)) {
            n->op = mg_pb_str(&f);
            n->at = f.vat;
        } else if (mg_pb_is_len(&f, 3)) {
            if (inputs++ == 1)
                n->input1 = mg_pb_str(&f);
        } else if (mg_pb_is_len(&f, 5)) {
            tf_attr_entry(n, f.bytes);
            if (n->nattrs < sizeof n->attrs / sizeof n->attrs[0])
                n->attrs[n->nattrs++] = f.bytes;
        }
    }
    if (tf_wire_error(c, r))
        return -1;
    /* nested attr messages are not walked by the cursor above: check them
     * (a broken one makes the whole model unloadable) */
    for (size_t i = 0; i < n->nattrs; i++) {
        mg_pb a = mg_pb_new(n->attrs[i], (uint64_t)(n->attrs[i].p - c->in.p));
        while (mg_pb_next(&a, &f) > 0)
            ;
        if (tf_wire_error(c, &a))
            return -1;
    }
    return 0;
}

/* Calls `fn` for every function name in the node's attributes: AttrValue
 * func (10) and list (1) -> func (9), each a NameAttrList {1 name}. */
static void tf_name_attr_list(mg_span nal, void (*fn)(void *, mg_str), void *arg)
{
    mg_pb r = mg_pb_new(nal, 0);
    mg_pb_field f;
    while (mg_pb_next(&r, &f) > 0)
        if (mg_pb_is_len(&f, 1))
            fn(arg, mg_pb_str(&f));
}

static void tf_node_funcs(const tf_node *n, void (*fn)(void *, mg_str), void *arg)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        mg_pb e = mg_pb_new(n->attrs[i], 0);
        mg_pb_field f;
        while (mg_pb_next(&e, &f) > 0) {
            if (!mg_pb_is_len(&f, 2))
                continue;
            mg_pb v = mg_pb_new(f.bytes, 0);
            mg_pb_field g;
            while (mg_pb_next(&v, &g) > 0) {
                if (mg_pb_is_len(&g, 10)) {
                    tf_name_attr_list(g.bytes, fn, arg);
                } else if (mg_pb_is_len(&g, 1)) {
                    mg_pb l = mg_pb_new(g.bytes, 0);
                    mg_pb_field h;
                    while (mg_pb_next(&l, &h) > 0)
                        if (mg_pb_is_len(&h, 9))
                            tf_name_attr_list(h.bytes, fn, arg);
                }
            }
        }
    }
}

/* ---- judging one node ---- */

typedef struct tf_scope {
    const char *where; /* "the graph" or a function name (printable) */
    unsigned reach;    /* TF_REACH_* bits of what reaches this scope */
    mg_span args;      /* FunctionDef signature (OpDef) for argument names */
    int is_function;
} tf_scope;

/* 1 when `input` names one of the function's input arguments. */
static int tf_is_arg(const tf_scope *sc, mg_str input)
{
    if (!sc->is_function || input.len == 0 || memchr(input.p, ':', input.len) || input.p[0] == '^')
        return 0;
    mg_pb r = mg_pb_new(sc->args, 0);
    mg_pb_field f;
    while (mg_pb_next(&r, &f) > 0) {
        if (!mg_pb_is_len(&f, 2))
            continue;
        mg_pb a = mg_pb_new(f.bytes, 0);
        mg_pb_field g;
        while (mg_pb_next(&a, &g) > 0)
            if (mg_pb_is_len(&g, 1) && tf_str_cmp(mg_pb_str(&g), input) == 0)
                return 1;
    }
    return 0;
}

static int tf_is_asset(const tf_ctx *c, mg_str input)
{
    mg_str node = tf_node_part(input);
    const mg_str *a = c->assets.items;
    for (size_t i = 0; i < c->assets.n; i++)
        if (tf_str_cmp(a[i], node) == 0)
            return 1;
    return 0;
}

static void tf_report(tf_ctx *c, const char *threat, const tf_node *n, const tf_scope *sc, const char *what)
{
    if (!tf_first(c, threat, n->op))
        return;
    char ob[96], nb[96];
    mg_pb_show(n->op, ob, sizeof ob);
    mg_pb_show(n->name, nb, sizeof nb);
    mg_find(c->s, threat, n->at, ob, "op `%s` (node `%s` in %s) %s", ob, nb, sc->where, what);
}

static void tf_judge(tf_ctx *c, const tf_node *n, const tf_scope *sc)
{
    if (n->op.len == 0) {
        char nb[96];
        tf_malformed(c, n->at, "node `%s` has no op; TensorFlow rejects the graph", mg_pb_show(n->name, nb, sizeof nb));
        return;
    }
    const tf_op *op = tf_lookup(n->op);
    if (!op) {
        if (tf_find_fn(c, n->op))
            return; /* a direct call of a function in the library */
        tf_report(c, "MG-TF-302", n, sc,
                  "is not in TensorFlow's public op set: a custom op from a native library the runtime must load");
        return;
    }
    switch (op->kind) {
    case TF_PYTHON:
        tf_report(c, "MG-TF-301", n, sc,
                  "calls back into Python: the function it runs is whatever the loading process registered");
        break;
    case TF_FILE:
        tf_report(c, "MG-TF-300", n, sc, "reads, lists or writes files on the machine that runs the model");
        break;
    case TF_NET:
        tf_report(c, "MG-TF-300", n, sc, "contacts a network service named by the graph");
        break;
    case TF_CKPT_WRITE:
        if ((sc->reach & TF_REACH_OTHER) || !(sc->reach & TF_REACH_SAVE))
            tf_report(c, "MG-TF-300", n, sc, "writes checkpoint files outside the SavedModel's save op (saver_def)");
        break;
    case TF_CKPT_READ:
        if ((sc->reach & TF_REACH_OTHER) || !(sc->reach & TF_REACH_RESTORE))
            tf_report(c, "MG-TF-300", n, sc, "reads checkpoint files outside the SavedModel's restore op (saver_def)");
        break;
    case TF_VOCAB:
        if (!tf_is_arg(sc, n->input1) && !tf_is_asset(c, n->input1))
            tf_report(c, "MG-TF-300", n, sc,
                      "reads a vocabulary file whose name is built in the graph, not a registered asset");
        break;
    case TF_PRINT:
        if (n->output_stream.len >= 7 && memcmp(n->output_stream.p, "file://", 7) == 0)
            tf_report(c, "MG-TF-300", n, sc, "prints into a file (output_stream file://)");
        break;
    default:
        break;
    }
}

/* ---- saver ---- */

/* Records that a function is reached with `bit` (TF_REACH_* bits) and
 * queues its body for the bits it did not have yet, so each function is
 * walked at most once per bit however the calls chain. */
typedef struct tf_mark {
    tf_ctx *c;
    unsigned bit;
} tf_mark;

static void tf_reach_fn(void *arg, mg_str name)
{
    tf_mark *m = arg;
    tf_fn *f = tf_find_fn(m->c, name);
    unsigned added = f ? m->bit & ~f->reach : 0;
    if (!added)
        return; /* not a function, or nothing new: each bit is walked once */
    f->reach |= added;
    tf_work *w = mg_vec_push(&m->c->work);
    if (!w) {
        m->c->stop = 1;
        return;
    }
    w->fn = (size_t)(f - (tf_fn *)m->c->fns.items);
    w->bit = added;
}

static unsigned tf_node_reach(const tf_ctx *c, mg_str name)
{
    if (c->save_node.len && tf_str_cmp(name, c->save_node) == 0)
        return TF_REACH_SAVE;
    if (c->restore_node.len && tf_str_cmp(name, c->restore_node) == 0)
        return TF_REACH_RESTORE;
    if (c->scope.len && name.len > c->scope.len && memcmp(name.p, c->scope.p, c->scope.len) == 0)
        return TF_REACH_SAVE | TF_REACH_RESTORE; /* a TF1 saver scope holds both */
    return TF_REACH_OTHER;
}

static void tf_mark_calls(tf_ctx *c, const tf_node *n, unsigned bit)
{
    tf_mark m = {c, bit};
    tf_node_funcs(n, tf_reach_fn, &m);
    tf_reach_fn(&m, n->op); /* a direct call */
}

/* Propagates reach bits through the functions' own calls. */
static void tf_reach_closure(tf_ctx *c)
{
    while (c->work.n && !c->stop) {
        tf_work w = ((tf_work *)c->work.items)[--c->work.n];
        const tf_fn *fn = (const tf_fn *)c->fns.items + w.fn;
        mg_pb r = mg_pb_new(fn->body, fn->at);
        mg_pb_field f;
        while (!c->stop && mg_pb_next(&r, &f) > 0) {
            if (!mg_pb_is_len(&f, 3))
                continue;
            tf_node n;
            mg_pb sub;
            if (tf_open(c, &sub, &r, &f) != 0 || tf_read_node(c, &sub, &n) != 0)
                return;
            tf_mark_calls(c, &n, w.bit);
        }
    }
}

/* ---- walking a GraphDef ---- */

static void tf_collect_library(tf_ctx *c, mg_pb *lib)
{
    mg_pb_field f;
    while (!c->stop && mg_pb_next(lib, &f) > 0) {
        if (!mg_pb_is_len(&f, 1))
            continue;
        mg_pb fd;
        if (tf_open(c, &fd, lib, &f) != 0)
            return;
        tf_fn fn = {{"", 0}, f.bytes, f.vat, 0u};
        mg_pb_field g;
        while (mg_pb_next(&fd, &g) > 0) {
            if (!mg_pb_is_len(&g, 1))
                continue;
            mg_pb sig = mg_pb_new(g.bytes, g.vat);
            mg_pb_field h;
            while (mg_pb_next(&sig, &h) > 0)
                if (mg_pb_is_len(&h, 1))
                    fn.name = mg_pb_str(&h);
            if (tf_wire_error(c, &sig))
                return;
        }
        if (tf_wire_error(c, &fd))
            return;
        tf_fn *slot = mg_vec_push(&c->fns);
        if (!slot) {
            mg_limit(c->s, MG_LIM_MEMORY, f.at, "the memory limit was reached");
            c->stop = 1;
            return;
        }
        *slot = fn;
    }
    tf_wire_error(c, lib);
}

/* First pass over the graph_def occurrences: the function library. */
static void tf_collect(tf_ctx *c)
{
    for (size_t i = 0; i < c->ngraphs && !c->stop; i++) {
        mg_pb g = mg_pb_new(c->graphs[i], c->graph_at[i]);
        mg_pb_field f;
        while (!c->stop && mg_pb_next(&g, &f) > 0) {
            if (!mg_pb_is_len(&f, 2))
                continue;
            mg_pb lib;
            if (tf_open(c, &lib, &g, &f) == 0)
                tf_collect_library(c, &lib);
        }
        tf_wire_error(c, &g);
    }
    if (c->fns.n)
        qsort(c->fns.items, c->fns.n, sizeof(tf_fn), tf_fn_cmp);
}

static int tf_tick(tf_ctx *c, uint64_t at)
{
    if (++c->nodes % 4096 == 0 && mg_scan_expired(c->s, at)) {
        c->stop = 1;
        return -1;
    }
    return 0;
}

/* Main graph nodes: mark the saver's functions (pass 0) or judge (pass 1). */
static void tf_graph_nodes(tf_ctx *c, int judge)
{
    for (size_t i = 0; i < c->ngraphs && !c->stop; i++) {
        mg_pb g = mg_pb_new(c->graphs[i], c->graph_at[i]);
        mg_pb_field f;
        while (!c->stop && mg_pb_next(&g, &f) > 0) {
            if (!mg_pb_is_len(&f, 1))
                continue;
            mg_pb sub;
            tf_node n;
            if (tf_open(c, &sub, &g, &f) != 0 || tf_read_node(c, &sub, &n) != 0 || tf_tick(c, f.at) != 0)
                return;
            unsigned reach = tf_node_reach(c, n.name);
            if (!judge) {
                tf_mark_calls(c, &n, reach);
                continue;
            }
            tf_scope sc = {"the graph", reach, {NULL, 0}, 0};
            tf_judge(c, &n, &sc);
        }
        tf_wire_error(c, &g);
    }
}

static void tf_function_nodes(tf_ctx *c, const tf_fn *fn)
{
    char where[160], nb[120];
    snprintf(where, sizeof where, "function `%s`", mg_pb_show(fn->name, nb, sizeof nb));
    tf_scope sc = {where, fn->reach, {NULL, 0}, 1};
    mg_pb r = mg_pb_new(fn->body, fn->at);
    mg_pb_field f;
    while (!c->stop && mg_pb_next(&r, &f) > 0) {
        if (mg_pb_is_len(&f, 1))
            sc.args = f.bytes; /* the signature (OpDef) */
    }
    r = mg_pb_new(fn->body, fn->at);
    while (!c->stop && mg_pb_next(&r, &f) > 0) {
        if (!mg_pb_is_len(&f, 3))
            continue;
        mg_pb sub;
        tf_node n;
        if (tf_open(c, &sub, &r, &f) != 0 || tf_read_node(c, &sub, &n) != 0 || tf_tick(c, f.at) != 0)
            return;
        tf_judge(c, &n, &sc);
    }
    tf_wire_error(c, &r);
}

/* Everything gathered for one graph (a MetaGraphDef's or a bare GraphDef). */
static void tf_walk(tf_ctx *c)
{
    c->fns.n = 0;
    c->work.n = 0;
    tf_collect(c);
    if (c->stop)
        return;
    tf_graph_nodes(c, 0);
    tf_reach_closure(c);
    tf_graph_nodes(c, 1);
    const tf_fn *fns = c->fns.items;
    for (size_t i = 0; i < c->fns.n && !c->stop; i++)
        tf_function_nodes(c, &fns[i]);
}

static void tf_add_graph(tf_ctx *c, const mg_pb_field *f)
{
    if (c->ngraphs >= TF_MAX_GRAPHS) {
        mg_limit(c->s, MG_LIM_MEMBERS, f->at, "a meta graph repeats graph_def more often than the scanner follows");
        c->stop = 1;
        return;
    }
    c->graphs[c->ngraphs] = f->bytes;
    c->graph_at[c->ngraphs] = f->vat;
    c->ngraphs++;
}

/* SaverDef {2 save_tensor_name, 3 restore_op_name}: last values win. */
static void tf_saver_def(tf_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (mg_pb_next(r, &f) > 0) {
        if (mg_pb_is_len(&f, 2))
            c->save_node = tf_node_part(mg_pb_str(&f));
        else if (mg_pb_is_len(&f, 3))
            c->restore_node = tf_node_part(mg_pb_str(&f));
    }
    tf_wire_error(c, r);
    /* TF1 savers: every node under the restore op's name scope */
    c->scope = (mg_str){"", 0};
    for (size_t i = c->restore_node.len; i > 0; i--)
        if (c->restore_node.p[i - 1] == '/') {
            c->scope = (mg_str){c->restore_node.p, i};
            break;
        }
}

/* AssetFileDef {1 tensor_info {1 name}}: the tensor TF1 loaders feed with
 * the asset's path. */
static void tf_asset(tf_ctx *c, mg_pb *r)
{
    mg_pb_field f;
    while (mg_pb_next(r, &f) > 0) {
        if (!mg_pb_is_len(&f, 1))
            continue;
        mg_pb ti = mg_pb_new(f.bytes, f.vat);
        mg_pb_field g;
        while (mg_pb_next(&ti, &g) > 0) {
            if (!mg_pb_is_len(&g, 1))
                continue;
            mg_str *slot = mg_vec_push(&c->assets);
            if (slot)
                *slot = tf_node_part(mg_pb_str(&g));
        }
        tf_wire_error(c, &ti);
    }
    tf_wire_error(c, r);
}

static void tf_meta_graph(tf_ctx *c, mg_pb *r)
{
    c->ngraphs = 0;
    c->assets.n = 0;
    c->save_node = c->restore_node = c->scope = (mg_str){"", 0};
    mg_pb_field f;
    while (!c->stop && mg_pb_next(r, &f) > 0) {
        mg_pb sub;
        if (mg_pb_is_len(&f, 2)) {
            tf_add_graph(c, &f);
        } else if (mg_pb_is_len(&f, 3)) {
            if (tf_open(c, &sub, r, &f) == 0)
                tf_saver_def(c, &sub);
        } else if (mg_pb_is_len(&f, 6)) {
            if (tf_open(c, &sub, r, &f) == 0)
                tf_asset(c, &sub);
        }
    }
    if (tf_wire_error(c, r) || c->stop)
        return;
    tf_walk(c);
}

/* ---- detection ---- */

enum { TF_PROBE_HEAD = 4096 };

static int tf_text(mg_span all, mg_span b)
{
    size_t start = (size_t)(b.p - all.p);
    for (size_t i = 0; i < b.len && start + i < TF_PROBE_HEAD; i++)
        if (b.p[i] < 0x20 || b.p[i] == 0x7f)
            return 0;
    return 1;
}

/* The first fields of a message inside the window must be fields `ok` (a
 * bitmask by field number) with wire type LEN, or `vok` with varints. */
static int tf_fields_ok(mg_span all, mg_span msg, uint32_t ok, uint32_t vok)
{
    mg_pb r = mg_pb_new(msg, 0);
    mg_pb_field f;
    int rc;
    while ((size_t)(msg.p - all.p) + r.off < TF_PROBE_HEAD && (rc = mg_pb_next(&r, &f)) > 0) {
        if (f.num >= 32)
            return 0;
        if (f.wire == MG_PB_LEN && (ok >> f.num & 1))
            continue;
        if (f.wire == MG_PB_VARINT && (vok >> f.num & 1))
            continue;
        return 0;
    }
    return 1;
}

/* A NodeDef {1 name, 2 op, 3 input, 4 device, 5 attr, 6, 7}: name and op
 * are text (checked in the window). */
static int tf_nodedef_ok(mg_span all, mg_span msg)
{
    if (!tf_fields_ok(all, msg, 0xfe, 0))
        return 0;
    mg_pb r = mg_pb_new(msg, 0);
    mg_pb_field f;
    int op = 0;
    while ((size_t)(msg.p - all.p) + r.off < TF_PROBE_HEAD && mg_pb_next(&r, &f) > 0) {
        if ((f.num == 1 || f.num == 2) && !tf_text(all, f.bytes))
            return 0;
        op |= f.num == 2;
    }
    return op || (size_t)(msg.p - all.p) + r.off >= TF_PROBE_HEAD;
}

/* 1 when the field at `off` is meta_graphs (2, LEN) and its first byte is a
 * MetaGraphDef tag (fields 1-7, LEN), even if its length runs past the end. */
static int tf_meta_start(mg_span data, size_t off)
{
    uint64_t tag = 0, len = 0;
    if (mg_pb_varint(data, &off, &tag) != MG_PB_OK || tag != (2u << 3 | MG_PB_LEN))
        return 0;
    if (mg_pb_varint(data, &off, &len) != MG_PB_OK || off >= data.len)
        return 0;
    uint8_t b = data.p[off];
    return (b & 7) == MG_PB_LEN && (b >> 3) >= 1 && (b >> 3) <= 7;
}

/*
 * No magic: a SavedModel starts with saved_model_schema_version = 1 then a
 * MetaGraphDef (fields 1-7, all messages); a frozen GraphDef starts with
 * NodeDefs whose name and op are text. ONNX files start with a varint
 * ir_version followed by text, which neither shape accepts.
 */
static int tf_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_pb r = mg_pb_new(data, 0);
    mg_pb_field f;
    if (mg_pb_next(&r, &f) <= 0)
        return 0;
    if (f.num == 1 && f.wire == MG_PB_VARINT) { /* SavedModel */
        if (f.v != 1)
            return 0;
        size_t second = r.off;
        int rc = mg_pb_next(&r, &f);
        if (rc < 0) /* cut short or broken: claimed if a MetaGraphDef starts */
            return tf_meta_start(data, second) ? 50 : 0;
        if (rc == 0 || f.num != 2 || f.wire != MG_PB_LEN)
            return 0;
        return tf_fields_ok(data, f.bytes, 0xfe, 0) ? 60 : 0;
    }
    if (f.num == 1 && f.wire == MG_PB_LEN) { /* GraphDef */
        if (!tf_nodedef_ok(data, f.bytes))
            return 0;
        /* the rest: more nodes, library (2), versions (4), debug info (5), version (3) */
        int rc;
        while (r.off < TF_PROBE_HEAD && (rc = mg_pb_next(&r, &f)) > 0) {
            if (f.num == 1 && f.wire == MG_PB_LEN)
                continue; /* later nodes may be broken: the scan reports that */
            if ((f.num == 2 || f.num == 4 || f.num == 5) && f.wire == MG_PB_LEN)
                continue;
            if (f.num == 3 && f.wire == MG_PB_VARINT)
                continue;
            return 0;
        }
        return 55;
    }
    return 0;
}

/* ---- scan ---- */

static int tf_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    pthread_once(&tf_once, tf_init);
    tf_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.in = in;
    mg_vec_init(&c.fns, sizeof(tf_fn), &s->mem);
    mg_vec_init(&c.assets, sizeof(mg_str), &s->mem);
    mg_vec_init(&c.seen, sizeof(tf_seen), &s->mem);
    mg_vec_init(&c.work, sizeof(tf_work), &s->mem);
    mg_pb r = mg_pb_new(in, 0);
    mg_pb_field f;
    int saved_model = in.len > 0 && in.p[0] == 0x08;
    mg_set_format(s, saved_model ? "tf-savedmodel" : "tf-graphdef");
    if (in.len > 0x7fffffffu)
        mg_find(s, "MG-TF-400", 0, NULL,
                "the model is %llu bytes: protobuf readers refuse messages over 2 GiB, so TensorFlow cannot load it",
                (unsigned long long)in.len);
    if (saved_model) {
        while (!c.stop && mg_pb_next(&r, &f) > 0) {
            mg_pb mg;
            if (mg_pb_is_len(&f, 2) && tf_open(&c, &mg, &r, &f) == 0)
                tf_meta_graph(&c, &mg);
        }
        tf_wire_error(&c, &r);
    } else {
        /* a bare GraphDef: the whole input is the one graph */
        c.graphs[0] = in;
        c.graph_at[0] = 0;
        c.ngraphs = 1;
        tf_walk(&c);
    }
    mg_vec_free(&c.fns);
    mg_vec_free(&c.assets);
    mg_vec_free(&c.seen);
    mg_vec_free(&c.work);
    return 0;
}

const mg_module mg_module_tf = {"tf", tf_probe, tf_scan, 0};
