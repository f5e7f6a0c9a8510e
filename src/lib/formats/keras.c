/*
 * keras.c - Keras model configs: the JSON of config.json in a `.keras` zip,
 * the `model_config` and `training_config` attributes of a Keras `.h5`
 * file, or a bare config. Not a format module: the containers that carry a
 * config call mg_keras_config() (zip.c, hdf5.c, json.c).
 *
 * Layout: a tree of serialized objects. Keras 3 writes
 *   {"module": "keras.layers", "class_name": "Dense", "config": {...},
 *    "registered_name": null, "build_config": {...}, "compile_config": {...}}
 * and tf.keras 2 the shorter {"class_name": "Dense", "config": {...}}.
 * Objects nest everywhere: a Functional model's "layers", a wrapper's
 * "layer", initializers, regularizers, activations, losses, metrics and
 * optimizers in "compile_config", whole models inside layers. Functions are
 * {"class_name": "function", "config": "<name>", "module": "<module>"}.
 * Spec: keras/src/saving/serialization_lib.py (Keras 3),
 * tf_keras/src/saving/legacy/serialization.py (tf.keras 2).
 *
 * Attacks: Keras 3 imports `module` with importlib and takes the named
 * attribute, so a config can name any function of any importable module
 * (CVE-2025-1550), Keras's own download helper (keras.utils.get_file,
 * CVE-2025-8747) or keras.config.enable_unsafe_deserialization followed by
 * a Lambda (CVE-2025-9906). Lambda layers carry marshalled Python bytecode
 * (CVE-2024-3660; .h5 ignores safe_mode, CVE-2025-9905). TorchModuleWrapper
 * unpickles a torch module with weights_only=False (CVE-2025-49655).
 * StringLookup and friends read a vocabulary file or URL named by the
 * config (CVE-2025-12058). Duplicate keys let two JSON readers see two
 * configs.
 *
 * How we read it: jansson (duplicates rejected, then re-read as Python does,
 * last key wins), then a walk of the whole tree with a depth and node
 * budget. Every serialized object is judged allowlist-first by its module
 * and name against src/lib/rules/keras_modules.txt and keras_layers.txt
 * (see docs/formats/keras.md for the decision table). Findings carry the
 * offset of the first occurrence of the offending name in the JSON text.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

extern const char mg_data_keras_layers_txt[];
extern const size_t mg_data_keras_layers_txt_len;
extern const char mg_data_keras_modules_txt[];
extern const size_t mg_data_keras_modules_txt_len;

/* ---- the rules, parsed once for all engines and threads ---- */

enum { KR_MAX_NAMES = 1024, KR_MAX_MODS = 256 };
enum kmod_kind { KM_KERAS, KM_FAMILY, KM_DENY, KM_DENYNAME };

typedef struct kr_mod {
    enum kmod_kind kind;
    mg_str pat; /* without the trailing ".*" */
    int sub;    /* pattern ended in ".*": covers submodules */
} kr_mod;

static mg_str kr_names[KR_MAX_NAMES];
static size_t kr_nnames;
static kr_mod kr_mods[KR_MAX_MODS];
static size_t kr_nmods;
static pthread_once_t kr_once = PTHREAD_ONCE_INIT;

static int kr_cmp(const void *a, const void *b)
{
    const mg_str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Calls fn for every line of `text` without comments and surrounding blanks. */
static void kr_lines(const char *text, size_t len, void (*fn)(mg_str line))
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t a = i, b = j;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (b > a && text[a] != '#')
            fn((mg_str){text + a, b - a});
        i = j + 1;
    }
}

static void kr_add_name(mg_str line)
{
    if (kr_nnames < KR_MAX_NAMES)
        kr_names[kr_nnames++] = line;
}

static void kr_add_mod(mg_str line)
{
    static const struct {
        const char *word;
        enum kmod_kind kind;
    } kinds[] = {{"keras ", KM_KERAS}, {"family ", KM_FAMILY}, {"deny ", KM_DENY}, {"denyname ", KM_DENYNAME}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t n = strlen(kinds[k].word);
        if (line.len <= n || memcmp(line.p, kinds[k].word, n) != 0 || kr_nmods >= KR_MAX_MODS)
            continue;
        mg_str pat = {line.p + n, line.len - n};
        int sub = pat.len > 2 && memcmp(pat.p + pat.len - 2, ".*", 2) == 0;
        if (sub)
            pat.len -= 2;
        kr_mods[kr_nmods++] = (kr_mod){kinds[k].kind, pat, sub};
        return;
    }
}

static void kr_init(void)
{
    kr_lines(mg_data_keras_layers_txt, mg_data_keras_layers_txt_len, kr_add_name);
    qsort(kr_names, kr_nnames, sizeof kr_names[0], kr_cmp);
    kr_lines(mg_data_keras_modules_txt, mg_data_keras_modules_txt_len, kr_add_mod);
}

static int kr_known(const char *name)
{
    /* tf.keras 2.11+ saves its optimizers as registered objects "Custom>Adam" */
    if (strncmp(name, "Custom>", 7) == 0)
        name += 7;
    mg_str key = mg_str_c(name);
    return bsearch(&key, kr_names, kr_nnames, sizeof kr_names[0], kr_cmp) != NULL;
}

/* `s` equals the pattern, or (for `x.*`) starts with "x.". */
static int kr_pat_match(const kr_mod *m, const char *s)
{
    size_t n = strlen(s);
    if (n == m->pat.len && memcmp(s, m->pat.p, n) == 0)
        return 1;
    return m->sub && n > m->pat.len && memcmp(s, m->pat.p, m->pat.len) == 0 && s[m->pat.len] == '.';
}

/* The kind of the first rule of `kind` matching module or module.name. */
static int kr_match(enum kmod_kind kind, const char *module, const char *full)
{
    for (size_t i = 0; i < kr_nmods; i++)
        if (kr_mods[i].kind == kind && (kr_pat_match(&kr_mods[i], module) || kr_pat_match(&kr_mods[i], full)))
            return 1;
    return 0;
}

static int kr_denyname(const char *name)
{
    for (size_t i = 0; i < kr_nmods; i++)
        if (kr_mods[i].kind == KM_DENYNAME && mg_str_eq(kr_mods[i].pat, name))
            return 1;
    return 0;
}

/* ---- the walk ---- */

enum { KW_MAX_DEPTH = 256, KW_MAX_NODES = 4000000, KW_SEEN_SLOTS = 4096, KW_JSON_COST = 24 };

typedef struct kw {
    mg_scan *s;
    mg_span text;  /* the JSON, for offsets */
    uint64_t base; /* offset of the JSON in the scanned input */
    size_t nodes;
    int stopped;
    int in_lambda;     /* inside a Lambda layer's config: its bytecode is already reported */
    const char **seen; /* KW_SEEN_SLOTS distinct findings, in the arena */
    size_t nseen;
} kw;

/* Offset of the first occurrence of "needle" (quoted, as in the JSON). */
static uint64_t kw_where(const kw *k, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || n + 2 > k->text.len)
        return k->base;
    for (size_t i = 0; i + n + 2 <= k->text.len; i++)
        if (k->text.p[i] == '"' && memcmp(k->text.p + i + 1, needle, n) == 0 && k->text.p[i + 1 + n] == '"')
            return k->base + i;
    return k->base;
}

/* 1 the first time `key` is reported for this config: a model with a
 * hundred custom layers of one class gets one finding, not a hundred. The
 * set is a small open-addressing table; once it or the file's findings are
 * full, nothing more is reported (the report would drop it anyway). */
static int kw_first(kw *k, const char *key)
{
    mg_file_rec *f = k->s->out;
    if (f->findings.n >= k->s->lim->max_findings) {
        f->summarised = 1;
        return 0;
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *c = key; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    size_t i = (size_t)h & (KW_SEEN_SLOTS - 1);
    while (k->seen[i]) {
        if (strcmp(k->seen[i], key) == 0)
            return 0;
        i = (i + 1) & (KW_SEEN_SLOTS - 1);
    }
    if (k->nseen >= KW_SEEN_SLOTS / 2)
        return 0;
    char *c = mg_arena_strndup(&k->s->work, key, strlen(key));
    if (!c)
        return 0;
    k->seen[i] = c;
    k->nseen++;
    return 1;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Printable, bounded copy of an input string for messages. */
static void kw_clip(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = 0;
}

static void kw_dangerous(kw *k, const char *module, const char *name, const char *why)
{
    char m[200], nm[200], key[420];
    kw_clip(m, sizeof m, module);
    kw_clip(nm, sizeof nm, name);
    snprintf(key, sizeof key, "100:%s.%s", m, nm);
    if (!kw_first(k, key))
        return;
    mg_find(k->s, "MG-KERAS-100", kw_where(k, name), key + 4,
            "the config names `%s.%s`: %s; Keras imports it while loading the model, safe_mode or not", m, nm, why);
}

static void kw_unknown(kw *k, const char *module, const char *name, const char *why)
{
    char m[200], nm[200], key[420];
    kw_clip(m, sizeof m, module ? module : "");
    kw_clip(nm, sizeof nm, name);
    snprintf(key, sizeof key, "302:%s%s%s", m, module ? "." : "", nm);
    if (!kw_first(k, key))
        return;
    mg_find(k->s, "MG-KERAS-302", kw_where(k, name), key + 4,
            "the config names `%s`%s%s%s, which is not a Keras built-in: %s", nm, module ? " from module `" : "", m,
            module ? "`" : "", why);
}

__attribute__((format(printf, 3, 4))) static void kw_malformed(kw *k, const char *needle, const char *fmt, ...)
{
    char msg[400], key[420];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(key, sizeof key, "400:%s", msg);
    if (!kw_first(k, key))
        return;
    mg_find(k->s, "MG-KERAS-400", needle ? kw_where(k, needle) : k->base, NULL, "malformed Keras config: %s", msg);
}

static int kw_is_keras_module(const char *module)
{
    return kr_match(KM_KERAS, module, module);
}

/*
 * Judges one callable reference: `module` as written (NULL when absent or
 * null), `name` the class name or, for functions, the function name.
 * See docs/formats/keras.md for the table this implements.
 */
static void kw_judge(kw *k, const char *module, const char *name, int is_fn)
{
    if (!name)
        return;
    if (!module) {
        /* no module: Keras looks the name up among its own objects and the
         * user's registered custom objects only; nothing is imported */
        if (!kr_known(name))
            kw_unknown(k, NULL, name,
                       is_fn ? "a custom function; loading needs it registered by user code"
                             : "a custom object; loading needs its class registered by user code (custom_objects)");
        return;
    }
    char full[600];
    snprintf(full, sizeof full, "%s.%s", module, name);
    if (strcmp(module, "builtins") == 0 && is_fn && kr_known(name))
        return; /* Keras's own encoding of its built-in functions (serialization_lib BUILTIN_MODULES) */
    if (kr_match(KM_DENY, module, full)) {
        kw_dangerous(k, module, name, "a known-dangerous module or function (code, files, processes, network)");
        return;
    }
    int keras = kw_is_keras_module(module), family = !keras && kr_match(KM_FAMILY, module, module);
    if ((keras || family) && kr_denyname(name)) {
        kw_dangerous(k, module, name,
                     "a Keras function that downloads files, loads other models or turns safe_mode off "
                     "(CVE-2025-8747, CVE-2025-9906)");
        return;
    }
    if (keras) {
        if (!kr_known(name))
            kw_unknown(k, module, name, "an object of a Keras module that Keras does not export as a built-in");
        return;
    }
    if (family) {
        if (is_fn)
            kw_unknown(k, module, name, "a function of a Keras-team library, not a Keras built-in");
        return;
    }
    if (is_fn)
        kw_dangerous(k, module, name,
                     "a function from a module outside Keras, which Keras imports and hands to the model to call "
                     "(CVE-2025-1550: any installed function is reachable)");
    else
        kw_unknown(k, module, name,
                   "a custom class from a module outside Keras; Keras imports that module (running its import-time "
                   "code) and calls the class's from_config");
}

static void kw_value(kw *k, json_t *v, unsigned depth);

/* Lambda layers: Keras 2 writes "function": [base64 marshal, defaults,
 * closure] with "function_type": "lambda", or a name with "function_type":
 * "function" and "module"; Keras 3 writes {"class_name": "__lambda__"} or a
 * function object. */
static void kw_lambda(kw *k, json_t *obj, json_t *cfg)
{
    const char *lname = jstr(cfg, "name");
    char nm[120];
    kw_clip(nm, sizeof nm, lname ? lname : "?");
    json_t *fn = json_object_get(cfg, "function");
    const char *ftype = jstr(cfg, "function_type");
    const char *detail = "its function could not be identified";
    char ref[400] = "";
    if (json_is_array(fn) || (json_is_string(fn) && ftype && strcmp(ftype, "lambda") == 0))
        detail = "its function is serialized Python bytecode (base64 marshal, CVE-2024-3660)";
    else if (json_is_object(fn) && jstr(fn, "class_name") && strcmp(jstr(fn, "class_name"), "__lambda__") == 0)
        detail = "its function is serialized Python bytecode (Keras 3 `__lambda__`)";
    else if (json_is_object(fn) && jstr(fn, "class_name") && strcmp(jstr(fn, "class_name"), "function") == 0) {
        const char *fm = jstr(fn, "module");
        char a[180], b[180];
        kw_clip(a, sizeof a, fm ? fm : "");
        kw_clip(b, sizeof b, jstr(fn, "config") ? jstr(fn, "config") : "?");
        snprintf(ref, sizeof ref, "its function is a reference to `%s%s%s`", a, fm ? "." : "", b);
        detail = ref;
    } else if (json_is_string(fn)) {
        const char *fm = jstr(cfg, "module");
        char a[180], b[180];
        kw_clip(a, sizeof a, fm ? fm : "");
        kw_clip(b, sizeof b, json_string_value(fn));
        snprintf(ref, sizeof ref, "its function is a reference to `%s%s%s`", a, fm ? "." : "", b);
        detail = ref;
        /* Keras 2 resolves a named function in sys.modules[module]: judge it */
        if (fm && strcmp(fm, "__main__") != 0)
            kw_judge(k, fm, json_string_value(fn), 1);
    } else if (fn && !json_is_null(fn)) {
        kw_malformed(k, "function", "Lambda `function` has an unexpected JSON type");
    }
    char key[200];
    snprintf(key, sizeof key, "300:%s", nm);
    if (kw_first(k, key))
        mg_find(k->s, "MG-KERAS-300", kw_where(k, "Lambda"), "Lambda",
                "Lambda layer `%s`: %s; it runs arbitrary Python when the model is called (and at load with "
                "safe_mode=False or from .h5, CVE-2025-9905)",
                nm, detail);
    (void)obj;
}

/* Base64 as Python's b64decode sees it (non-alphabet bytes skipped). */
static mg_span kw_b64(mg_scan *s, const char *in, size_t n)
{
    uint8_t *out = mg_arena_alloc(&s->work, n / 4 * 3 + 3);
    if (!out)
        return (mg_span){NULL, 0};
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+' || c == '-' ? 62
                : c == '/' || c == '_' ? 63
                : c == '='             ? -2
                                       : -1;
        if (v == -2)
            break;
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (mg_span){out, o};
}

/* TorchModuleWrapper: the config's "module" is torch.save(module) in base64
 * (older Keras: raw bytes); from_config runs torch.load(weights_only=False). */
static void kw_torch(kw *k, json_t *cfg)
{
    uint64_t off = kw_where(k, "TorchModuleWrapper");
    if (kw_first(k, "100:TorchModuleWrapper"))
        mg_find(k->s, "MG-KERAS-100", off, "TorchModuleWrapper",
                "TorchModuleWrapper layer: Keras unpickles its torch module with torch.load(weights_only=False) "
                "while loading (CVE-2025-49655); the pickle runs code");
    json_t *m = json_object_get(cfg, "module");
    if (json_is_object(m)) /* {"class_name": "__bytes__", "config": {"value": ...}} */
        m = json_object_get(json_object_get(m, "config"), "value");
    if (!json_is_string(m))
        return;
    mg_span b = kw_b64(k->s, json_string_value(m), json_string_length(m));
    if (b.len)
        mg_scan_child(k->s, b, "TorchModuleWrapper.module", off);
}

/* Preprocessing layers that read their vocabulary from a path or URL at
 * load (tf.io.gfile: local files, gs://, s3://, hdfs://): CVE-2025-12058. */
static void kw_vocab(kw *k, const char *cls, json_t *cfg)
{
    static const char *const keys[] = {"vocabulary", "vocabulary_path", "idf_weights"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = jstr(cfg, keys[i]);
        if (!v)
            continue;
        char p[300], key[360];
        kw_clip(p, sizeof p, v);
        snprintf(key, sizeof key, "102:%s", p);
        if (!kw_first(k, key))
            continue;
        mg_find(k->s, "MG-KERAS-102", kw_where(k, v), cls,
                "%s layer takes its `%s` from %s `%s`: Keras reads it while loading the model (file read or "
                "request to a server chosen by the model, CVE-2025-12058)",
                cls, keys[i], strstr(v, "://") ? "the URL" : "the path", p);
    }
}

/* tf.keras 2 op layers name a TF API function ("nn.relu", "io.read_file"). */
static void kw_tfop(kw *k, json_t *cfg)
{
    const char *fn = jstr(cfg, "function");
    if (!fn)
        return;
    static const char *const py[] = {"py_function", "numpy_function", "compat.v1.py_func", "load_library",
                                     "load_op_library"};
    static const char *const io[] = {"io.",      "compat.v1.io.", "io.gfile.", "compat.v1.gfile.",
                                     "summary.", "saved_model."};
    char f[200];
    kw_clip(f, sizeof f, fn);
    for (size_t i = 0; i < sizeof py / sizeof py[0]; i++)
        if (strcmp(fn, py[i]) == 0 && kw_first(k, "300:tfop"))
            mg_find(k->s, "MG-KERAS-300", kw_where(k, fn), fn,
                    "TFOpLambda layer calls `tf.%s`, which runs Python or loads native code when the model is called",
                    f);
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
        if (strncmp(fn, io[i], strlen(io[i])) == 0 && kw_first(k, "102:tfop"))
            mg_find(k->s, "MG-KERAS-102", kw_where(k, fn), fn,
                    "TFOpLambda layer calls `tf.%s`, which reads or writes files when the model is called", f);
}

/* Layer-specific checks on a serialized object with class `cls`. */
static void kw_special(kw *k, const char *cls, json_t *obj, json_t *cfg)
{
    if (strcmp(cls, "Lambda") == 0 && json_is_object(cfg))
        kw_lambda(k, obj, cfg);
    else if (strcmp(cls, "TorchModuleWrapper") == 0)
        kw_torch(k, json_is_object(cfg) ? cfg : obj);
    else if ((strcmp(cls, "StringLookup") == 0 || strcmp(cls, "IntegerLookup") == 0 ||
              strcmp(cls, "TextVectorization") == 0 || strcmp(cls, "IndexLookup") == 0) &&
             json_is_object(cfg))
        kw_vocab(k, cls, cfg);
    else if (strcmp(cls, "TFSMLayer") == 0 && json_is_object(cfg)) {
        const char *p = jstr(cfg, "filepath");
        char f[300];
        kw_clip(f, sizeof f, p ? p : "?");
        mg_find(k->s, "MG-KERAS-102", kw_where(k, "TFSMLayer"), "TFSMLayer",
                "TFSMLayer loads a TensorFlow SavedModel from `%s` while the model loads: a graph the scan "
                "never saw",
                f);
    } else if ((strcmp(cls, "TFOpLambda") == 0 || strcmp(cls, "SlicingOpLambda") == 0) && json_is_object(cfg))
        kw_tfop(k, cfg);
    else if (strcmp(cls, "__lambda__") == 0 && !k->in_lambda && kw_first(k, "300:__lambda__"))
        mg_find(k->s, "MG-KERAS-300", kw_where(k, "__lambda__"), "__lambda__",
                "the config holds a serialized Python lambda (`__lambda__`, marshalled bytecode) used as a "
                "function; it runs when the model calls it, and at load with safe_mode=False");
}

/* Shapes Keras insists on: a model's layers are a list, a wrapper's layer an object. */
static void kw_shape(kw *k, const char *cls, json_t *cfg)
{
    if (!json_is_object(cfg))
        return;
    if (strcmp(cls, "Sequential") == 0 || strcmp(cls, "Functional") == 0 || strcmp(cls, "Model") == 0) {
        json_t *layers = json_object_get(cfg, "layers");
        if (layers && !json_is_array(layers))
            kw_malformed(k, "layers", "the `layers` of a `%.100s` model are not a list", cls);
    }
    if (strcmp(cls, "TimeDistributed") == 0 || strcmp(cls, "Bidirectional") == 0) {
        json_t *layer = json_object_get(cfg, "layer");
        if (!json_is_object(layer))
            kw_malformed(k, cls, "the wrapped `layer` of a `%.100s` is not an object", cls);
    }
}

/* A dict with "class_name": a serialized Keras object. */
static void kw_object(kw *k, json_t *obj)
{
    json_t *cn = json_object_get(obj, "class_name");
    if (!json_is_string(cn)) {
        kw_malformed(k, "class_name", "`class_name` is not a string");
        return;
    }
    const char *cls = json_string_value(cn);
    json_t *mod = json_object_get(obj, "module");
    if (mod && !json_is_string(mod) && !json_is_null(mod)) {
        kw_malformed(k, cls, "the `module` of `%.100s` is not a string", cls);
        return;
    }
    const char *module = json_string_value(mod);
    json_t *cfg = json_object_get(obj, "config");
    if (strcmp(cls, "function") == 0) {
        if (!json_is_string(cfg)) {
            kw_malformed(k, "function", "a function object has no function name in `config`");
            return;
        }
        kw_judge(k, module, json_string_value(cfg), 1);
    } else if (strcmp(cls, "__typespec__") == 0) {
        const char *spec = jstr(obj, "spec_name");
        if (spec)
            kw_judge(k, module, spec, 0);
    } else if (strcmp(cls, "__lambda__") != 0) {
        kw_judge(k, module, cls, 0);
    }
    kw_special(k, cls, obj, cfg);
    kw_shape(k, cls, cfg);
}

/* Losses and metrics given by name ("mse", "my_loss"): tf.keras 2 and
 * compile_config store function names; an unknown one is user code. */
static void kw_named_callable(kw *k, json_t *v, unsigned depth)
{
    if (depth > 8)
        return;
    if (json_is_string(v)) {
        const char *n = json_string_value(v);
        if (!kr_known(n))
            kw_unknown(k, NULL, n, "a custom loss or metric function; compiling the model needs it from user code");
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            kw_named_callable(k, json_array_get(v, i), depth + 1);
    } else if (json_is_object(v) && !json_object_get(v, "class_name")) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            kw_named_callable(k, json_object_iter_value(it), depth + 1);
    }
}

static int kw_budget(kw *k, unsigned depth)
{
    if (k->stopped)
        return 0;
    if (depth > KW_MAX_DEPTH) {
        k->stopped = 1;
        mg_limit(k->s, MG_LIM_DEPTH, k->base, "the Keras config is nested deeper than 256 levels");
        return 0;
    }
    if (++k->nodes > KW_MAX_NODES) {
        k->stopped = 1;
        mg_limit(k->s, MG_LIM_OPS, k->base, "the Keras config has more than 4 million values");
        return 0;
    }
    if ((k->nodes & 0xfff) == 0 && mg_scan_expired(k->s, k->base)) {
        k->stopped = 1;
        return 0;
    }
    return 1;
}

static void kw_value(kw *k, json_t *v, unsigned depth)
{
    if (!kw_budget(k, depth))
        return;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            kw_value(k, json_array_get(v, i), depth + 1);
        return;
    }
    if (!json_is_object(v))
        return;
    int lambda = 0;
    if (json_object_get(v, "class_name")) {
        kw_object(k, v);
        const char *cls = jstr(v, "class_name");
        lambda = cls && strcmp(cls, "Lambda") == 0;
    }
    int saved = k->in_lambda;
    k->in_lambda |= lambda;
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        const char *ck = json_object_iter_key(it);
        json_t *e = json_object_iter_value(it);
        if (strcmp(ck, "loss") == 0 || strcmp(ck, "metrics") == 0 || strcmp(ck, "weighted_metrics") == 0)
            kw_named_callable(k, e, 0);
        kw_value(k, e, depth + 1);
    }
    k->in_lambda = saved;
}

void mg_keras_config(mg_scan *s, mg_span json, uint64_t offset)
{
    pthread_once(&kr_once, kr_init);
    /* jansson allocates outside the arena: charge a bound on what it can
     * take (a value costs at most ~KW_JSON_COST bytes per input byte) */
    uint64_t cost = (uint64_t)json.len * KW_JSON_COST + 4096;
    if (cost > SIZE_MAX || mg_mem_charge(&s->mem, (size_t)cost) != 0) {
        mg_limit(s, MG_LIM_MEMORY, offset, "the Keras config is too large for the analysis memory limit");
        return;
    }
    kw k = {.s = s, .text = json, .base = offset};
    k.seen = mg_arena_calloc(&s->work, KW_SEEN_SLOTS, sizeof *k.seen);
    if (!k.seen) {
        mg_mem_release(&s->mem, (size_t)cost);
        mg_limit(s, MG_LIM_MEMORY, offset, "the memory limit was reached");
        return;
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)json.p, json.len, JSON_REJECT_DUPLICATES, &err);
    if (!root && strstr(err.text, "duplicate")) {
        mg_find(s, "MG-KERAS-400", offset + (uint64_t)(err.position > 0 ? err.position : 0), NULL,
                "malformed Keras config: %s; Python's json keeps the last copy, other readers the first, so two "
                "readers can load two different models",
                err.text);
        root = json_loadb((const char *)json.p, json.len, 0, &err);
    }
    if (!root) {
        mg_find(s, "MG-KERAS-400", offset + (uint64_t)(err.position > 0 ? err.position : 0), NULL,
                "malformed Keras config: not valid JSON (%s, line %d)", err.text, err.line);
        goto out;
    }
    if (!json_is_object(root)) {
        kw_malformed(&k, NULL, "the config is not a JSON object");
        goto out;
    }
    const char *ver = jstr(root, "keras_version");
    if (ver) {
        char v[64];
        kw_clip(v, sizeof v, ver);
        mg_fact(s, "keras_version", v);
    }
    kw_value(&k, root, 0);
out:
    json_decref(root);
    mg_mem_release(&s->mem, (size_t)cost);
}
