/*
 * yaml.c - YAML documents, and the Hydra/OmegaConf configs of NeMo models
 * (model_config.yaml inside a `.nemo` tar, which archive.c hands us).
 * Spec: YAML 1.1 (yaml.org/spec/1.1), read by libyaml's event parser;
 * Hydra's instantiate (hydra/_internal/instantiate/_instantiate2.py) and
 * NeMo's Serialization.from_config_dict (nemo/core/classes/common.py).
 *
 * Layout: a stream of documents of mappings, sequences and scalars, with
 * anchors (&a) and aliases (*a) that reuse a node, and tags (!!str).
 *
 * Attacks: a mapping with `_target_: os.system` (or builtins.exec,
 * subprocess.Popen, pickle.loads...) is imported and called by
 * hydra.utils.instantiate when NeMo restores the model (CVE-2025-23304);
 * `_args_` passes positional arguments and `_partial_: true` wraps the
 * callable for later; NeMo's legacy `cls:` + `params:` form does the same
 * through import_class_by_path. `!!python/object/apply:` tags run code
 * under PyYAML's unsafe loaders. Aliases that expand exponentially
 * ("billion laughs") exhaust the loader that copies them (OmegaConf).
 *
 * How we read it: one pass over libyaml's events with a stack of open
 * collections. Aliases are never expanded: an aliased scalar is resolved
 * from a bounded anchor table (so `_target_: *t` is judged), and each
 * anchor's expanded node count is carried, so an explosive document is
 * measured in constant work per event. Every `_target_` is judged against
 * the allowlist in src/lib/rules/hydra_targets.txt. Plain YAML that fails
 * to parse is not a finding (YAML is common and harmless); YAML that
 * mentions `_target_` and fails to parse is MG-NEMO-400.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "../internal.h"
#include "../util/banned.h"

extern const char mg_data_hydra_targets_txt[];
extern const size_t mg_data_hydra_targets_txt_len;

/* ---- the allowlist, parsed once ---- */

enum { HY_MAX_RULES = 512 };
enum hy_kind { HY_ALLOW, HY_DENY, HY_DENYNAME };

typedef struct hy_rule {
    enum hy_kind kind;
    mg_str pat;
    int sub; /* `x.*`: paths below x */
} hy_rule;

static hy_rule hy_rules[HY_MAX_RULES];
static size_t hy_n;
static pthread_once_t hy_once = PTHREAD_ONCE_INIT;

static void hy_add(mg_str line)
{
    static const struct {
        const char *w;
        enum hy_kind k;
    } kinds[] = {{"allow ", HY_ALLOW}, {"deny ", HY_DENY}, {"denyname ", HY_DENYNAME}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].w);
        if (line.len <= n || memcmp(line.p, kinds[i].w, n) != 0 || hy_n >= HY_MAX_RULES)
            continue;
        mg_str pat = {line.p + n, line.len - n};
        int sub = pat.len > 2 && memcmp(pat.p + pat.len - 2, ".*", 2) == 0;
        if (sub)
            pat.len -= 2;
        hy_rules[hy_n++] = (hy_rule){kinds[i].k, pat, sub};
        return;
    }
}

static void hy_init(void)
{
    const char *t = mg_data_hydra_targets_txt;
    size_t len = mg_data_hydra_targets_txt_len, i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && t[j] != '\n')
            j++;
        size_t a = i, b = j;
        while (a < b && (t[a] == ' ' || t[a] == '\t'))
            a++;
        while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\r'))
            b--;
        if (b > a && t[a] != '#')
            hy_add((mg_str){t + a, b - a});
        i = j + 1;
    }
}

static int hy_match(const hy_rule *r, const char *s, size_t n)
{
    if (!r->sub)
        return n == r->pat.len && memcmp(s, r->pat.p, n) == 0;
    return n > r->pat.len + 1 && memcmp(s, r->pat.p, r->pat.len) == 0 && s[r->pat.len] == '.';
}

/* NULL when `target` may be instantiated, else why not. */
static const char *hy_judge(const char *target)
{
    size_t n = strlen(target);
    if (n == 0)
        return "an empty target";
    for (size_t i = 0; i < n; i++) {
        char c = target[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return "not a plain dotted Python path";
    }
    const char *last = strrchr(target, '.');
    last = last ? last + 1 : target;
    for (size_t i = 0; i < hy_n; i++) {
        if (hy_rules[i].kind == HY_DENY && hy_match(&hy_rules[i], target, n))
            return "on the denylist (loaders, hooks, importers)";
        if (hy_rules[i].kind == HY_DENYNAME && mg_str_eq(hy_rules[i].pat, last))
            return "a loader or importer (nested models, checkpoints or classes by name)";
    }
    for (size_t i = 0; i < hy_n; i++)
        if (hy_rules[i].kind == HY_ALLOW && hy_match(&hy_rules[i], target, n))
            return NULL;
    return "outside the allowlist of NeMo and PyTorch classes";
}

/* ---- probe ---- */

static int yaml_probe(mg_span d, mg_str name)
{
    (void)name;
    size_t n = d.len < 4096 ? d.len : 4096, i = 0;
    for (size_t k = 0; k < n; k++)
        if (d.p[k] == 0 || (d.p[k] < 0x20 && d.p[k] != '\t' && d.p[k] != '\n' && d.p[k] != '\r') || d.p[k] == 0x7f)
            return 0; /* binary */
    if (n >= 3 && memcmp(d.p, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    /* skip blank and comment lines */
    while (i < n) {
        size_t j = i;
        while (j < n && (d.p[j] == ' ' || d.p[j] == '\t' || d.p[j] == '\r'))
            j++;
        if (j < n && d.p[j] == '\n') {
            i = j + 1;
            continue;
        }
        if (j < n && d.p[j] == '#') {
            while (j < n && d.p[j] != '\n')
                j++;
            i = j + 1;
            continue;
        }
        i = j;
        break;
    }
    if (i >= n)
        return 0;
    if (n - i >= 3 && (memcmp(d.p + i, "---", 3) == 0 || memcmp(d.p + i, "%YA", 3) == 0))
        return 25;
    /* `key:` followed by a blank or the end of the line */
    size_t k = i;
    while (k < n && ((d.p[k] >= 'a' && d.p[k] <= 'z') || (d.p[k] >= 'A' && d.p[k] <= 'Z') ||
                     (d.p[k] >= '0' && d.p[k] <= '9') || d.p[k] == '_' || d.p[k] == '-' || d.p[k] == '.'))
        k++;
    if (k > i && k < n && d.p[k] == ':' &&
        (k + 1 == n || d.p[k + 1] == ' ' || d.p[k + 1] == '\n' || d.p[k + 1] == '\r'))
        return 20;
    return 0;
}

/* ---- the walk ---- */

enum {
    YW_MAX_DEPTH = 512,
    YW_MAX_ANCHORS = 1024,
    YW_MAX_SCALAR = 1024,   /* anchored scalars kept for alias resolution */
    YW_MAX_NODES = 1000000, /* alias-expanded nodes before "billion laughs" */
    YW_KEY = 32,
};

typedef struct yanchor {
    char *name;
    char *scalar; /* NULL for collections */
    uint64_t size;
} yanchor;

typedef struct yframe {
    int map, want_key;
    char key[YW_KEY]; /* last key of a mapping when it is short and a scalar */
    uint64_t size;
    char *anchor;
    /* hydra */
    char *target, *cls;
    const char *why;
    uint64_t target_off, cls_off;
    int partial, args, params;
} yframe;

typedef struct yw {
    mg_scan *s;
    mg_vec frames;  /* yframe */
    mg_vec anchors; /* yanchor */
    uint64_t events;
    int saw_target, bomb, broken;
} yw;

static yframe *yw_top(yw *w)
{
    return w->frames.n ? &((yframe *)w->frames.items)[w->frames.n - 1] : NULL;
}

static char *yw_copy(yw *w, const char *p, size_t n)
{
    return mg_arena_strndup(&w->s->work, p, n);
}

static void yw_clip(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = 0;
}

static yanchor *yw_anchor(yw *w, const char *name)
{
    yanchor *a = w->anchors.items;
    for (size_t i = w->anchors.n; i-- > 0;)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

static void yw_set_anchor(yw *w, const char *name, const char *scalar, size_t slen, uint64_t size)
{
    if (!name)
        return;
    if (w->anchors.n >= YW_MAX_ANCHORS) {
        mg_limit(w->s, MG_LIM_OPS, 0, "the YAML document defines more than 1024 anchors");
        return;
    }
    yanchor *a = mg_vec_push(&w->anchors);
    if (!a)
        return;
    a->name = yw_copy(w, name, strlen(name));
    a->scalar = scalar && slen <= YW_MAX_SCALAR ? yw_copy(w, scalar, slen) : NULL;
    a->size = size;
    if (!a->name)
        w->anchors.n--;
}

static void yw_tag(yw *w, const yaml_char_t *tag, uint64_t off)
{
    static const char py[] = "tag:yaml.org,2002:python/";
    if (!tag || strncmp((const char *)tag, py, sizeof py - 1) != 0)
        return;
    char t[200];
    yw_clip(t, sizeof t, (const char *)tag + sizeof py - 1);
    mg_find(w->s, "MG-NEMO-100", off, t,
            "YAML tag `!!python/%s` constructs Python objects (imports and calls) under PyYAML's unsafe loaders; "
            "no model config needs it",
            t);
}

/* A scalar value under `key` of the mapping `f`. */
static void yw_pair(yw *w, yframe *f, const char *val, size_t vlen, uint64_t off)
{
    if (strcmp(f->key, "_target_") == 0 && val) {
        w->saw_target = 1;
        f->target = yw_copy(w, val, vlen < 512 ? vlen : 512);
        f->target_off = off;
        /* judged on the whole value (copied bounded for the message only) */
        char *full = yw_copy(w, val, vlen);
        f->why = full ? hy_judge(full) : "too long to judge";
    } else if (strcmp(f->key, "_partial_") == 0 && val) {
        f->partial = strcmp(val, "true") == 0 || strcmp(val, "True") == 0 || strcmp(val, "TRUE") == 0 ||
                     strcmp(val, "yes") == 0 || strcmp(val, "on") == 0;
    } else if (strcmp(f->key, "cls") == 0 && val) {
        f->cls = yw_copy(w, val, vlen < 512 ? vlen : 512);
        f->cls_off = off;
    }
    if (strcmp(f->key, "_args_") == 0)
        f->args = 1;
    if (strcmp(f->key, "params") == 0)
        f->params = 1;
}

/* The mapping `f` is complete: report what it instantiates. */
static void yw_hydra(yw *w, yframe *f)
{
    if (f->target && f->why) {
        char t[520];
        yw_clip(t, sizeof t, f->target);
        mg_find(w->s, "MG-NEMO-100", f->target_off, t,
                "Hydra `_target_: %s` is %s; restoring the model imports it and calls it with the mapping's other "
                "keys%s%s (CVE-2025-23304)",
                t, f->why, f->args ? " and the positional `_args_`" : "",
                f->partial ? ", wrapped in functools.partial (`_partial_: true`) to be called later" : "");
    }
    if (f->cls && f->params) {
        w->saw_target = 1;
        const char *why = hy_judge(f->cls);
        if (why) {
            char t[520];
            yw_clip(t, sizeof t, f->cls);
            mg_find(w->s, "MG-NEMO-100", f->cls_off, t,
                    "NeMo `cls: %s` with `params` is %s; NeMo imports it by path and calls it with `params`", t, why);
        }
    }
}

/* A node (of expanded size `size`, scalar text `val` or NULL) is complete. */
static void yw_node(yw *w, uint64_t size, const char *val, size_t vlen, uint64_t off)
{
    yframe *p = yw_top(w);
    if (!p)
        return;
    p->size = p->size > UINT64_MAX - size ? UINT64_MAX : p->size + size;
    if (p->size > YW_MAX_NODES && !w->bomb) {
        w->bomb = 1;
        mg_find(w->s, "MG-NEMO-400", off, NULL,
                "YAML aliases expand to more than %d nodes (a \"billion laughs\" bomb): loaders that copy aliases, "
                "such as OmegaConf, run out of memory",
                YW_MAX_NODES);
    }
    if (!p->map)
        return;
    if (p->want_key) {
        p->want_key = 0;
        p->key[0] = 0;
        if (val && vlen < YW_KEY) {
            memcpy(p->key, val, vlen);
            p->key[vlen] = 0;
        }
        return;
    }
    yw_pair(w, p, val, vlen, off);
    p->want_key = 1;
}

static int yw_push(yw *w, int map, const yaml_char_t *anchor, uint64_t off)
{
    if (w->frames.n >= YW_MAX_DEPTH) {
        mg_limit(w->s, MG_LIM_DEPTH, off, "the YAML document is nested deeper than 512 levels");
        return -1;
    }
    yframe *f = mg_vec_push(&w->frames);
    if (!f)
        return mg_limit(w->s, MG_LIM_MEMORY, off, "the memory limit was reached");
    f->map = map;
    f->want_key = map;
    f->anchor = anchor ? yw_copy(w, (const char *)anchor, strlen((const char *)anchor)) : NULL;
    return 0;
}

static void yw_pop(yw *w, uint64_t off)
{
    yframe *f = yw_top(w);
    if (!f)
        return;
    yframe done = *f;
    w->frames.n--;
    if (done.map)
        yw_hydra(w, &done);
    uint64_t size = done.size == UINT64_MAX ? UINT64_MAX : done.size + 1;
    yw_set_anchor(w, done.anchor, NULL, 0, size);
    yw_node(w, size, NULL, 0, off);
}

static int yw_event(yw *w, yaml_event_t *e)
{
    uint64_t off = e->start_mark.index;
    switch (e->type) {
    case YAML_SCALAR_EVENT: {
        yw_tag(w, e->data.scalar.tag, off);
        const char *v = (const char *)e->data.scalar.value;
        size_t n = e->data.scalar.length;
        if (e->data.scalar.anchor)
            yw_set_anchor(w, (const char *)e->data.scalar.anchor, v, n, 1);
        yw_node(w, 1, v, n, off);
        break;
    }
    case YAML_ALIAS_EVENT: {
        yanchor *a = yw_anchor(w, (const char *)e->data.alias.anchor);
        if (!a) {
            w->broken = 1;
            return -1; /* PyYAML: "found undefined alias" */
        }
        yw_node(w, a->size, a->scalar, a->scalar ? strlen(a->scalar) : 0, off);
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        yw_tag(w, e->data.sequence_start.tag, off);
        return yw_push(w, 0, e->data.sequence_start.anchor, off);
    case YAML_MAPPING_START_EVENT:
        yw_tag(w, e->data.mapping_start.tag, off);
        return yw_push(w, 1, e->data.mapping_start.anchor, off);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        yw_pop(w, off);
        break;
    case YAML_DOCUMENT_START_EVENT:
        w->anchors.n = 0; /* anchors are per document */
        break;
    default:
        break;
    }
    return 0;
}

static int has_target_text(mg_span in)
{
    static const char k[] = "_target_";
    for (size_t i = 0; i + sizeof k - 1 <= in.len; i++)
        if (in.p[i] == '_' && memcmp(in.p + i, k, sizeof k - 1) == 0)
            return 1;
    return 0;
}

static int yaml_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    pthread_once(&hy_once, hy_init);
    mg_set_format(s, "yaml");
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return mg_limit(s, MG_LIM_MEMORY, 0, "libyaml could not start");
    yaml_parser_set_input_string(&p, in.p, in.len);
    yw w = {.s = s};
    mg_vec_init(&w.frames, sizeof(yframe), &s->mem);
    mg_vec_init(&w.anchors, sizeof(yanchor), &s->mem);
    int done = 0, failed = 0;
    uint64_t err_off = 0;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            failed = 1;
            err_off = p.problem_mark.index;
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        int rc = yw_event(&w, &e);
        if (rc != 0 && w.broken) {
            failed = 1;
            err_off = e.start_mark.index;
        }
        yaml_event_delete(&e);
        if (rc != 0)
            break;
        if ((++w.events & 0xfff) == 0 && mg_scan_expired(s, err_off))
            break;
    }
    if (failed && (w.saw_target || has_target_text(in)))
        mg_find(s, "MG-NEMO-400", err_off, NULL,
                "the config mentions Hydra `_target_` but is not valid YAML (%s): the scan cannot tell what NeMo "
                "would instantiate",
                w.broken ? "an alias names an anchor that was never defined" : (p.problem ? p.problem : "parse error"));
    yaml_parser_delete(&p);
    mg_vec_free(&w.frames);
    mg_vec_free(&w.anchors);
    return 0;
}

const mg_module mg_module_yaml = {"yaml", yaml_probe, yaml_scan, 0};
