/*
 * json.c - JSON documents: the configuration files of a Hugging Face model
 * folder (config.json, generation_config.json, tokenizer_config.json,
 * chat_template.json, adapter_config.json, diffusers' model_index.json,
 * sentence-transformers' modules.json), sharded-checkpoint indexes
 * (model.safetensors.index.json), bare Keras configs, tokenizer.json, and
 * JSON Lines data. Spec: RFC 8259, read the way Python's json module reads it
 * (Lib/json/decoder.py), because transformers, diffusers, peft and
 * sentence-transformers all load these files with json.load.
 *
 * Layout: one JSON value. What a document is comes from its top-level keys
 * (its shape), never from its file name:
 *   - model config: "model_type", "architectures", "auto_map",
 *     "_name_or_path", "transformers_version", "_class_name",
 *     "_diffusers_version", "custom_pipelines" or "peft_type";
 *   - tokenizer config: "chat_template" or "tokenizer_class";
 *   - sharded-checkpoint index: "weight_map" (tensor name -> shard file);
 *   - Keras config: "class_name" with "config", or "module" with
 *     "registered_name";
 *   - sentence-transformers modules: a list of {"path", "type", ...}.
 *
 * Attacks: "auto_map" names Python modules shipped in the repository (or,
 * with "org/repo--module.Class", in another repository) that transformers
 * imports when the caller passes trust_remote_code=True; "custom_pipelines",
 * diffusers components naming a module other than diffusers/transformers,
 * sentence-transformers module types and peft's "auto_mapping" do the same.
 * A chat template is Jinja rendered at every chat request (server-side
 * template injection, CVE-2024-34359). A sharded index can name shard files
 * outside the folder ("../../x", "/etc/x"). A key written twice is read as
 * the last value by Python and as the first (or refused) by other readers: a
 * parser differential. A file Python's json refuses (trailing commas,
 * comments, a byte-order mark, invalid UTF-8) fails to load, and a scanner
 * that skips it passes a broken model.
 *
 * How we read it: with a parser of our own rather than jansson, for four
 * reasons: it must accept exactly what Python accepts (NaN, Infinity,
 * integers of any size up to Python's 4300-digit limit, lone surrogate
 * escapes, "\u0000"), which jansson refuses; its memory must be charged to
 * the scan's budget, which jansson's process-wide allocator hooks cannot do
 * per scan; it must validate a 30 MB tokenizer.json without building its
 * vocabulary; and it must see duplicate keys instead of silently keeping one.
 * Documents up to 256 KiB are built whole (every object checked for
 * duplicate keys); larger ones are validated first with only their top level
 * built, and built whole only when one of the keys the checks read is there
 * (a 30 MB tokenizer.json has none).
 * Nesting is limited to 512 levels (Python's recursion limit refuses about
 * 1000) and every step counts against the scan's time budget.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/utf8.h"
#include "../util/banned.h"
#include "../util/jinja.h"
#include "../util/member.h"

extern const char mg_data_diffusers_libraries_txt[];
extern const size_t mg_data_diffusers_libraries_txt_len;

enum {
    J_MAX_DEPTH = 512,      /* deeper nesting is a limit finding */
    J_SMALL = 256 * 1024,   /* documents built whole (all duplicates checked) */
    J_PROBE = 4096,         /* bytes the probe may read */
    J_TICK = 1 << 14,       /* values between time checks */
    J_MAX_DUPS = 16,        /* duplicate-key findings per document */
    J_MAX_SHARDS = 16,      /* bad shard-name findings per index */
    J_PY_MAX_DIGITS = 4300, /* sys.int_info.default_max_str_digits */
};

/* ---- the reader ---- */

typedef enum jkind { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ } jkind;

typedef struct jnode jnode;
struct jnode {
    jkind kind;
    size_t off, end; /* the value's bytes: [off, end) */
    mg_str str;      /* J_STR: the decoded text */
    mg_str key;      /* members of an object: the decoded key */
    size_t key_off;
    size_t n; /* members of an array or object */
    jnode *kids, *next;
};

typedef struct jp {
    mg_scan *s; /* NULL while probing: no allocation, no findings */
    mg_span in;
    size_t off;
    unsigned build;  /* values at depth < build get their members built */
    const char *err; /* why the input is not JSON; NULL while it is */
    size_t err_off;
    int eof;  /* the input ended inside a value */
    int stop; /* a limit was reached (already reported) */
    unsigned steps;
    unsigned *dups;    /* duplicate-key findings so far (shared by every pass) */
    unsigned dup_from; /* objects at this depth and deeper are checked for duplicates */
} jp;

static int jp_fail(jp *p, size_t off, const char *why)
{
    if (!p->err) {
        p->err = why;
        p->err_off = off;
        p->eof = off >= p->in.len;
    }
    return -1;
}

static int jp_eof(jp *p, const char *where)
{
    return jp_fail(p, p->in.len, where);
}

static void jp_ws(jp *p)
{
    const uint8_t *b = p->in.p;
    while (p->off < p->in.len && (b[p->off] == ' ' || b[p->off] == '\n' || b[p->off] == '\r' || b[p->off] == '\t'))
        p->off++;
}

/* 1 when none of the 8 bytes ends a plain run: no quote, backslash, control
 * byte or non-ASCII byte (the classic "has byte less than" word tricks). */
static int plain8(const uint8_t *b)
{
    uint64_t x;
    memcpy(&x, b, 8);
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), k = x ^ (ones * '\\');
    uint64_t bad = (x & high) | ((x - ones * 0x20) & ~x & high) | ((q - ones) & ~q & high) | ((k - ones) & ~k & high);
    return bad == 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static unsigned hex4(const uint8_t *b)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 4 | (unsigned)hexval(b[i]);
    return v;
}

static size_t put_utf8(uint8_t *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) { /* lone surrogates too, as Python keeps them */
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escapes of a string already validated: [b, b+n) is the text
 * between the quotes. The result is never longer than the input. */
static mg_str decode(mg_arena *a, const uint8_t *b, size_t n)
{
    uint8_t *o = mg_arena_alloc(a, n ? n : 1);
    if (!o)
        return (mg_str){NULL, 0};
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (b[i] != '\\') {
            o[w++] = b[i++];
            continue;
        }
        uint8_t e = b[i + 1];
        i += 2;
        switch (e) {
        case 'b':
            o[w++] = '\b';
            break;
        case 'f':
            o[w++] = '\f';
            break;
        case 'n':
            o[w++] = '\n';
            break;
        case 'r':
            o[w++] = '\r';
            break;
        case 't':
            o[w++] = '\t';
            break;
        case 'u': {
            unsigned cp = hex4(b + i);
            i += 4;
            /* a high surrogate followed by an escaped low one is one code
             * point; any other surrogate stays alone, as in Python */
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= n && b[i] == '\\' && b[i + 1] == 'u') {
                unsigned lo = hex4(b + i + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            w += put_utf8(o + w, cp);
            break;
        }
        default:
            o[w++] = e;
            break; /* " \ / */
        }
    }
    return (mg_str){(const char *)o, w};
}

/* A string at the cursor (on its opening quote). `out` receives the decoded
 * text when not NULL (pointing into the input when there is no escape). */
static int jp_string(jp *p, mg_str *out)
{
    const uint8_t *b = p->in.p;
    size_t len = p->in.len, start = ++p->off;
    int esc = 0;
    for (;;) {
        while (len - p->off >= 8 && plain8(b + p->off))
            p->off += 8;
        if (p->off >= len)
            return jp_eof(p, "the document ends inside a string");
        uint8_t c = b[p->off];
        if (c == '"')
            break;
        if (c == '\\') {
            esc = 1;
            if (len - p->off < 2)
                return jp_eof(p, "the document ends inside a string");
            uint8_t e = b[p->off + 1];
            if (e == 'u') {
                if (len - p->off < 6)
                    return jp_eof(p, "the document ends inside a string");
                for (int i = 2; i < 6; i++)
                    if (hexval(b[p->off + (size_t)i]) < 0)
                        return jp_fail(p, p->off, "a \\u escape needs four hex digits");
                p->off += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                p->off += 2;
            } else {
                return jp_fail(p, p->off, "invalid escape in a string");
            }
        } else if (c < 0x20) {
            return jp_fail(p, p->off, "a raw control character inside a string (Python's json refuses it)");
        } else if (c >= 0x80) {
            int n = mg_utf8_seq(b + p->off, len - p->off);
            if (n < 0)
                return jp_eof(p, "the document ends inside a UTF-8 sequence");
            if (n == 0)
                return jp_fail(p, p->off, "invalid UTF-8 (Python cannot read the file as text)");
            p->off += (size_t)n;
        } else {
            p->off++;
        }
    }
    size_t n = p->off - start;
    p->off++; /* the closing quote */
    if (out) {
        if (!esc) {
            *out = (mg_str){(const char *)b + start, n};
        } else {
            *out = decode(&p->s->work, b + start, n);
            if (!out->p) {
                p->stop = 1;
                return mg_limit(p->s, MG_LIM_MEMORY, start, "the analysis memory limit was reached");
            }
        }
    }
    return 0;
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as Python's NUMBER_RE. */
static int jp_number(jp *p)
{
    const uint8_t *b = p->in.p;
    size_t len = p->in.len, start = p->off;
    if (b[p->off] == '-')
        p->off++;
    if (p->off >= len)
        return jp_eof(p, "the document ends inside a number");
    if (!is_digit(b[p->off]))
        return jp_fail(p, p->off, "a number needs a digit");
    size_t d0 = p->off;
    if (b[p->off] == '0')
        p->off++;
    else
        while (p->off < len && is_digit(b[p->off]))
            p->off++;
    size_t digits = p->off - d0;
    int integer = 1;
    if (p->off < len && b[p->off] == '.') {
        integer = 0;
        p->off++;
        if (p->off >= len)
            return jp_eof(p, "the document ends inside a number");
        if (!is_digit(b[p->off]))
            return jp_fail(p, p->off, "a fraction needs a digit");
        while (p->off < len && is_digit(b[p->off]))
            p->off++;
    }
    if (p->off < len && (b[p->off] == 'e' || b[p->off] == 'E')) {
        integer = 0;
        p->off++;
        if (p->off < len && (b[p->off] == '+' || b[p->off] == '-'))
            p->off++;
        if (p->off >= len)
            return jp_eof(p, "the document ends inside a number");
        if (!is_digit(b[p->off]))
            return jp_fail(p, p->off, "an exponent needs a digit");
        while (p->off < len && is_digit(b[p->off]))
            p->off++;
    }
    /* the probe may see a number cut by the end of its window: fine */
    if (integer && digits > J_PY_MAX_DIGITS)
        return jp_fail(p, start, "an integer longer than 4300 digits (Python 3.11+ refuses to convert it)");
    return 0;
}

static int jp_word(jp *p, const char *w)
{
    size_t n = strlen(w), left = p->in.len - p->off;
    size_t k = left < n ? left : n;
    if (memcmp(p->in.p + p->off, w, k) != 0)
        return jp_fail(p, p->off, "not a JSON value");
    if (k < n)
        return jp_eof(p, "the document ends inside a literal");
    p->off += n;
    return 0;
}

static jnode *jp_node(jp *p, size_t off)
{
    jnode *n = mg_arena_calloc(&p->s->work, 1, sizeof *n);
    if (!n) {
        p->stop = 1;
        mg_limit(p->s, MG_LIM_MEMORY, off, "the analysis memory limit was reached");
    }
    return n;
}

static int jp_deep(jp *p)
{
    p->stop = 1;
    if (p->s)
        mg_limit(p->s, MG_LIM_DEPTH, p->off, "JSON nested deeper than 512 levels");
    return -1;
}

static void printable(char *buf, size_t n, mg_str s)
{
    mg_member_printable(buf, n, s);
}

static int key_cmp(const void *a, const void *b)
{
    const jnode *x = *(const jnode *const *)a, *y = *(const jnode *const *)b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.p, y->key.p, n);
    if (c)
        return c;
    if (x->key.len != y->key.len)
        return x->key.len < y->key.len ? -1 : 1;
    return x->key_off < y->key_off ? -1 : 1;
}

static void report_dup(jp *p, const jnode *first, const jnode *again)
{
    if (*p->dups >= J_MAX_DUPS)
        return;
    (*p->dups)++;
    char k[160];
    printable(k, sizeof k, again->key);
    mg_find(p->s, "MG-HF-400", again->key_off, k,
            "key `%s` appears twice in one object (first at byte %zu): Python's json keeps the last value, "
            "other readers keep the first or refuse the file, so a scanner and a loader can read different "
            "settings",
            k, first->key_off);
}

/* Keys written twice (exact comparison of the decoded keys, as a dict does). */
static void check_dups(jp *p, jnode *obj)
{
    if (obj->n < 2)
        return;
    if (obj->n <= 16) {
        for (jnode *a = obj->kids; a; a = a->next)
            for (jnode *b = a->next; b; b = b->next)
                if (a->key.len == b->key.len && memcmp(a->key.p, b->key.p, a->key.len) == 0) {
                    report_dup(p, a, b);
                    break;
                }
        return;
    }
    jnode **v = mg_arena_alloc(&p->s->work, obj->n * sizeof *v);
    if (!v) {
        p->stop = 1;
        mg_limit(p->s, MG_LIM_MEMORY, obj->off, "the analysis memory limit was reached");
        return;
    }
    size_t i = 0;
    for (jnode *a = obj->kids; a && i < obj->n; a = a->next)
        v[i++] = a;
    qsort(v, i, sizeof *v, key_cmp);
    for (size_t k = 1; k < i; k++)
        if (v[k]->key.len == v[k - 1]->key.len && memcmp(v[k]->key.p, v[k - 1]->key.p, v[k]->key.len) == 0)
            report_dup(p, v[k - 1], v[k]);
}

static int jp_value(jp *p, unsigned depth, jnode **out);

static int jp_object(jp *p, unsigned depth, jnode *n)
{
    if (depth >= J_MAX_DEPTH)
        return jp_deep(p);
    int build = n && depth < p->build;
    jnode **tail = n ? &n->kids : NULL;
    p->off++;
    jp_ws(p);
    if (p->off < p->in.len && p->in.p[p->off] == '}') {
        p->off++;
        return 0;
    }
    for (;;) {
        jp_ws(p);
        if (p->off >= p->in.len)
            return jp_eof(p, "the document ends inside an object");
        if (p->in.p[p->off] != '"')
            return jp_fail(p, p->off, "an object key must be a string in double quotes (no trailing commas)");
        size_t koff = p->off;
        mg_str key = {0};
        if (jp_string(p, build ? &key : NULL) != 0)
            return -1;
        jp_ws(p);
        if (p->off >= p->in.len)
            return jp_eof(p, "the document ends inside an object");
        if (p->in.p[p->off] != ':')
            return jp_fail(p, p->off, "expected `:` after an object key");
        p->off++;
        jnode *v = NULL;
        if (jp_value(p, depth + 1, build ? &v : NULL) != 0)
            return -1;
        if (build) {
            v->key = key;
            v->key_off = koff;
            *tail = v;
            tail = &v->next;
        }
        if (n)
            n->n++;
        jp_ws(p);
        if (p->off >= p->in.len)
            return jp_eof(p, "the document ends inside an object");
        uint8_t c = p->in.p[p->off++];
        if (c == '}')
            break;
        if (c != ',')
            return jp_fail(p, p->off - 1, "expected `,` or `}` in an object");
    }
    if (build && depth >= p->dup_from)
        check_dups(p, n);
    return p->stop ? -1 : 0;
}

static int jp_array(jp *p, unsigned depth, jnode *n)
{
    if (depth >= J_MAX_DEPTH)
        return jp_deep(p);
    int build = n && depth < p->build;
    jnode **tail = n ? &n->kids : NULL;
    p->off++;
    jp_ws(p);
    if (p->off < p->in.len && p->in.p[p->off] == ']') {
        p->off++;
        return 0;
    }
    for (;;) {
        jnode *v = NULL;
        if (jp_value(p, depth + 1, build ? &v : NULL) != 0)
            return -1;
        if (build) {
            *tail = v;
            tail = &v->next;
        }
        if (n)
            n->n++;
        jp_ws(p);
        if (p->off >= p->in.len)
            return jp_eof(p, "the document ends inside an array");
        uint8_t c = p->in.p[p->off++];
        if (c == ']')
            break;
        if (c != ',')
            return jp_fail(p, p->off - 1, "expected `,` or `]` in an array");
    }
    return 0;
}

static int jp_tick(jp *p)
{
    if (!p->s || (++p->steps & (J_TICK - 1)) != 0)
        return 0;
    if (mg_scan_expired(p->s, p->off)) {
        p->stop = 1;
        return -1;
    }
    mg_release(p->s, p->in, p->off);
    return 0;
}

static int jp_value(jp *p, unsigned depth, jnode **out)
{
    if (jp_tick(p) != 0)
        return -1;
    jp_ws(p);
    if (p->off >= p->in.len)
        return jp_eof(p, "the document ends where a value should start");
    size_t start = p->off;
    jnode *n = NULL;
    if (out) {
        if (!(n = *out = jp_node(p, start)))
            return -1;
        n->off = start;
    }
    jkind k;
    int rc;
    const uint8_t *b = p->in.p;
    switch (b[start]) {
    case '{':
        k = J_OBJ;
        rc = jp_object(p, depth, n);
        break;
    case '[':
        k = J_ARR;
        rc = jp_array(p, depth, n);
        break;
    case '"':
        k = J_STR;
        rc = jp_string(p, n ? &n->str : NULL);
        break;
    case 't':
        k = J_TRUE;
        rc = jp_word(p, "true");
        break;
    case 'f':
        k = J_FALSE;
        rc = jp_word(p, "false");
        break;
    case 'n':
        k = J_NULL;
        rc = jp_word(p, "null");
        break;
    case 'N': /* Python's json reads NaN and (-)Infinity, and writes them by default */
        k = J_NUM;
        rc = jp_word(p, "NaN");
        break;
    case 'I':
        k = J_NUM;
        rc = jp_word(p, "Infinity");
        break;
    case '-':
        k = J_NUM;
        rc = p->in.len - start > 1 && b[start + 1] == 'I' ? jp_word(p, "-Infinity") : jp_number(p);
        break;
    default:
        k = J_NUM;
        rc = is_digit(b[start]) ? jp_number(p) : jp_fail(p, start, "not a JSON value");
        break;
    }
    if (n) {
        n->kind = k;
        n->end = p->off;
        if (k == J_NUM)
            n->str = (mg_str){(const char *)b + start, p->off - start};
    }
    return rc;
}

/* Builds in full a value that was read shallowly (large documents): the
 * document was validated before, so only a limit can stop this. Objects
 * shallower than `dup_from` were checked for duplicates already. */
static jnode *jp_rebuild(jp *top, const jnode *v, unsigned depth, unsigned dup_from)
{
    jp p = {.s = top->s, .in = top->in, .off = v->off, .build = ~0u, .dups = top->dups, .dup_from = dup_from};
    jnode *n = NULL;
    if (jp_value(&p, depth, &n) != 0 || !n)
        return NULL;
    n->key = v->key;
    n->key_off = v->key_off;
    n->next = v->next;
    return n;
}

/* ---- probe ---- */

/* After a complete first value: the end, or JSON Lines (more values on
 * new lines) is JSON. Anything else is "Extra data" for Python: claimed
 * weakly as a broken document, unless the value was only `{}` or `[]` (a
 * Pascal `{ }` comment, a template), which is no sign of JSON at all. */
static int probe_rest(jp *p, int bom, int substantial)
{
    for (;;) {
        size_t before = p->off;
        jp_ws(p);
        if (p->off >= p->in.len)
            return bom ? 30 : 60;
        int newline = memchr(p->in.p + before, '\n', p->off - before) != NULL;
        uint8_t c = p->in.p[p->off];
        if (!newline || (c != '{' && c != '[')) {
            if (!substantial)
                return 0;
            return 30;
        }
        if (jp_value(p, 0, NULL) != 0)
            return p->eof || p->stop ? (bom ? 30 : 60) : 30;
    }
}

static int json_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_span head = {data.p, data.len < J_PROBE ? data.len : J_PROBE};
    size_t i = 0;
    int bom = head.len >= 3 && memcmp(head.p, "\xef\xbb\xbf", 3) == 0;
    if (bom)
        i = 3;
    while (i < head.len && (head.p[i] == ' ' || head.p[i] == '\n' || head.p[i] == '\r' || head.p[i] == '\t'))
        i++;
    if (i >= head.len || (head.p[i] != '{' && head.p[i] != '['))
        return 0;
    /* JSON is text: control bytes other than whitespace mean binary data
     * that happens to start with a bracket */
    for (size_t k = i; k < head.len && k < i + 512; k++)
        if (head.p[k] < 0x20 && head.p[k] != '\n' && head.p[k] != '\r' && head.p[k] != '\t')
            return 0;
    uint8_t open = head.p[i];
    size_t j = i + 1;
    while (j < head.len && (head.p[j] == ' ' || head.p[j] == '\n' || head.p[j] == '\r' || head.p[j] == '\t'))
        j++;
    /* what may follow the opening bracket of a document meant as JSON:
     * "[tool]" (INI), "{%" (templates), "{'a'" (a Python dict printed to a
     * text file) are not, and nothing reads them with json.load */
    int meant = j >= head.len || (open == '{' ? head.p[j] == '"' || head.p[j] == '}'
                                              : strchr("{[\"-0123456789]", head.p[j]) != NULL && head.p[j]);
    if (!meant)
        return 0;
    jp p = {.in = head, .off = i};
    int rc = jp_value(&p, 0, NULL);
    /* a valid start cut by the window (or too deep to follow here): JSON. A
     * document that breaks inside the window is still claimed, weakly, so it
     * is reported as malformed rather than as text. */
    if (rc != 0)
        return !bom && (p.eof || p.stop) ? 60 : 30;
    int empty = 1; /* `{}` or `[]`, blanks aside */
    for (size_t k = i + 1; k + 1 < p.off && empty; k++)
        empty = head.p[k] && strchr(" \t\r\n", head.p[k]) != NULL;
    return probe_rest(&p, bom, !empty);
}

/* ---- the checks ---- */

typedef struct jdoc {
    mg_scan *s;
    jp *p;
} jdoc;

static int key_is(const jnode *m, const char *k)
{
    return mg_str_eq(m->key, k);
}

static const jnode *member(const jnode *obj, const char *k)
{
    const jnode *found = NULL;
    for (const jnode *m = obj && obj->kind == J_OBJ ? obj->kids : NULL; m; m = m->next)
        if (key_is(m, k))
            found = m; /* the last one, as Python keeps */
    return found;
}

static const char *kind_name(jkind k)
{
    static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
    return names[k];
}

static int has_str(mg_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.p + i, needle, n) == 0)
            return 1;
    return 0;
}

static int starts(mg_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

/* One class reference ("module.Class" or "org/repo--module.Class") that a
 * loader imports from Python files of the repository (or another one). */
static void code_ref(jdoc *d, const jnode *v, const char *what, const char *slot)
{
    char ref[200];
    printable(ref, sizeof ref, v->str);
    if (has_str(v->str, "--")) {
        mg_find(d->s, "MG-HF-101", v->off, ref,
                "%s `%s` loads `%s`: the part before `--` names another repository, whose Python code runs "
                "with trust_remote_code=True and can change after this scan",
                what, slot, ref);
        return;
    }
    mg_find(d->s, "MG-HF-100", v->off, ref,
            "%s `%s` loads `%s`: a Python module shipped with the model that runs with trust_remote_code=True", what,
            slot, ref);
}

__attribute__((format(printf, 3, 4))) static void malformed(jdoc *d, const jnode *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_findv(d->s, "MG-HF-400", v->off, NULL, fmt, ap);
    va_end(ap);
}

/* auto_map: {AutoClass: "module.Class" | [slow, fast] | null}, or the legacy
 * tokenizer form [slow, fast] (transformers reads it as AutoTokenizer). */
static void check_refs(jdoc *d, const jnode *v, const char *what, const char *slot)
{
    if (v->kind == J_NULL)
        return;
    if (v->kind == J_STR) {
        code_ref(d, v, what, slot);
        return;
    }
    if (v->kind == J_ARR) {
        for (const jnode *e = v->kids; e; e = e->next)
            if (e->kind == J_STR)
                code_ref(d, e, what, slot);
            else if (e->kind != J_NULL)
                malformed(d, e, "%s `%s` lists a value that is neither a class reference nor null", what, slot);
        return;
    }
    malformed(d, v, "%s `%s` is neither a class reference, a list of them, nor null", what, slot);
}

static void check_auto_map(jdoc *d, const jnode *m)
{
    if (m->kind == J_ARR) {
        check_refs(d, m, "auto_map", "AutoTokenizer");
        return;
    }
    if (m->kind != J_OBJ) {
        malformed(d, m, "auto_map is a %s, not an object of class references", kind_name(m->kind));
        return;
    }
    for (const jnode *e = m->kids; e; e = e->next) {
        char slot[120];
        printable(slot, sizeof slot, e->key);
        check_refs(d, e, "auto_map", slot);
    }
}

/* custom_pipelines: {task: {"impl": "module.Class", "pt": [...], ...}} */
static void check_custom_pipelines(jdoc *d, const jnode *m)
{
    if (m->kind != J_OBJ) {
        malformed(d, m, "custom_pipelines is a %s, not an object", kind_name(m->kind));
        return;
    }
    for (const jnode *t = m->kids; t; t = t->next) {
        char task[120];
        printable(task, sizeof task, t->key);
        const jnode *impl = member(t, "impl");
        if (impl && impl->kind == J_STR)
            code_ref(d, impl, "custom pipeline", task);
        else
            malformed(d, t, "custom pipeline `%s` has no `impl` class reference", task);
    }
}

static void check_templates(jdoc *d, const jnode *m)
{
    if (m->kind == J_STR) {
        mg_jinja_check(d->s, m->str, m->off + 1, "chat_template", "MG-HF-103", "MG-HF-400");
        return;
    }
    if (m->kind == J_ARR) {
        for (const jnode *e = m->kids; e; e = e->next) {
            const jnode *nm = member(e, "name"), *t = member(e, "template");
            if (!t || t->kind != J_STR) {
                malformed(d, e, "chat_template lists an entry without a `template` string");
                continue;
            }
            char name[100] = "?";
            if (nm && nm->kind == J_STR)
                printable(name, sizeof name, nm->str);
            char *what = mg_arena_printf(&d->s->work, "chat_template `%s`", name);
            mg_jinja_check(d->s, t->str, t->off + 1, what ? what : "chat_template", "MG-HF-103", "MG-HF-400");
        }
        return;
    }
    if (m->kind != J_NULL)
        malformed(d, m, "chat_template is a %s, not a template or a list of named templates", kind_name(m->kind));
}

/* weight_map: {tensor: "model-00001-of-00004.safetensors"}; the loader opens
 * os.path.join(folder, shard), so a shard name decides which file is read. */
static void check_weight_map(jdoc *d, const jnode *m)
{
    if (m->kind != J_OBJ) {
        malformed(d, m, "weight_map is a %s, not an object of tensor names to shard files", kind_name(m->kind));
        return;
    }
    unsigned reported = 0, bad_types = 0;
    mg_str last = {NULL, 0};
    for (const jnode *e = m->kids; e; e = e->next) {
        if (e->kind != J_STR) {
            if (bad_types++ == 0) {
                char t[120];
                printable(t, sizeof t, e->key);
                malformed(d, e, "weight_map entry `%s` is not a shard file name", t);
            }
            continue;
        }
        const char *why = mg_member_path_problem(e->str);
        if (!why || reported >= J_MAX_SHARDS)
            continue;
        if (last.p && last.len == e->str.len && memcmp(last.p, e->str.p, last.len) == 0)
            continue; /* consecutive tensors of one bad shard: once */
        last = e->str;
        reported++;
        char shard[200], t[120];
        printable(shard, sizeof shard, e->str);
        printable(t, sizeof t, e->key);
        mg_find(d->s, "MG-SFT-403", e->off, shard,
                "weight_map sends tensor `%s` to shard `%s`, which has %s: loading the checkpoint reads a file "
                "outside the model folder",
                t, shard, why);
    }
}

static int list_has(const char *text, size_t len, mg_str word)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t e = j;
        while (e > i && (text[e - 1] == ' ' || text[e - 1] == '\r' || text[e - 1] == '\t'))
            e--;
        if (text[i] != '#' && e - i == word.len && memcmp(text + i, word.p, word.len) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

/* model_index.json: {"_class_name": "XPipeline" | ["module", "Class"],
 * component: [library, class], ...}. diffusers imports `library` when it is
 * not one of its pipeline modules: a module file of the component folder
 * (custom code) or any installed package. */
static void check_diffusers(jdoc *d, const jnode *root)
{
    const jnode *cls = member(root, "_class_name");
    if (cls && cls->kind == J_ARR && cls->n == 2 && cls->kids->kind == J_STR) {
        char mod[120];
        printable(mod, sizeof mod, cls->kids->str);
        mg_find(d->s, "MG-HF-100", cls->off, mod,
                "_class_name names the custom pipeline module `%s`: diffusers runs `%s.py` from the repository", mod,
                mod);
    }
    for (const jnode *c = root->kids; c; c = c->next) {
        if (c->kind != J_ARR || c->n != 2 || (c->key.len && c->key.p[0] == '_'))
            continue;
        const jnode *lib = c->kids, *klass = c->kids->next;
        if (lib->kind != J_STR || (klass->kind != J_STR && klass->kind != J_NULL))
            continue;
        if (list_has(mg_data_diffusers_libraries_txt, mg_data_diffusers_libraries_txt_len, lib->str))
            continue;
        char comp[100], l[120];
        printable(comp, sizeof comp, c->key);
        printable(l, sizeof l, lib->str);
        mg_find(d->s, "MG-HF-100", lib->off, l,
                "component `%s` comes from `%s`, which is neither diffusers, transformers nor a diffusers "
                "pipeline module: diffusers runs `%s/%s.py` from the repository or imports an installed "
                "package of that name",
                comp, l, comp, l);
    }
}

/* peft's adapter_config.json "auto_mapping": peft imports parent_library and
 * takes base_model_class from it. */
static void check_peft(jdoc *d, const jnode *m)
{
    const jnode *lib = member(m, "parent_library");
    if (!lib || lib->kind != J_STR)
        return;
    if (starts(lib->str, "transformers.") || starts(lib->str, "diffusers.") || starts(lib->str, "peft."))
        return;
    char l[160];
    printable(l, sizeof l, lib->str);
    mg_find(d->s, "MG-HF-100", lib->off, l, "auto_mapping makes peft import `%s`%s", l,
            starts(lib->str, "transformers_modules.")
                ? ": remote code of the base model, run with trust_remote_code=True"
                : ", a module outside transformers and diffusers");
}

/* sentence-transformers' modules.json: [{"idx", "name", "path", "type"}]:
 * each type is imported ("module.Class"), from the repository when it is not
 * sentence-transformers' own. */
static int check_st_modules(jdoc *d, const jnode *root)
{
    int seen = 0;
    for (const jnode *e = root->kids; e; e = e->next) {
        const jnode *t = member(e, "type"), *path = member(e, "path");
        if (!t || !path || t->kind != J_STR)
            continue;
        seen = 1;
        if (starts(t->str, "sentence_transformers."))
            continue;
        char ty[160];
        printable(ty, sizeof ty, t->str);
        mg_find(d->s, "MG-HF-100", t->off, ty,
                "sentence-transformers module type `%s` is not part of sentence-transformers: it is imported from "
                "the repository (custom code) or from an installed package",
                ty);
    }
    return seen;
}

/* A fact value from input: printable ASCII of a plain identifier-like shape. */
static int fact_value(char *out, size_t n, mg_str v, int allow_slash)
{
    if (v.len == 0 || v.len >= n)
        return 0;
    int slashes = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        if (c == '/' && allow_slash && i > 0 && i + 1 < v.len)
            ok = ++slashes == 1;
        if (!ok)
            return 0;
        out[i] = c;
    }
    out[v.len] = 0;
    return !allow_slash || slashes == 1;
}

static void facts(jdoc *d, const jnode *root)
{
    char v[128];
    const jnode *mt = member(root, "model_type");
    if (mt && mt->kind == J_STR && fact_value(v, sizeof v, mt->str, 0))
        mg_fact(d->s, "model_type", v);
    /* peft adapters name their base model; a local path is no fact */
    const jnode *base = member(root, "base_model_name_or_path");
    if (base && base->kind == J_STR && member(root, "peft_type") && base->str.len && base->str.p[0] != '.' &&
        fact_value(v, sizeof v, base->str, 1))
        mg_fact(d->s, "base_model", v);
}

/* Top-level keys that make a document a model config, and the other keys a
 * check reads. A document with none of them is plain data (tokenizer.json,
 * vocab.json): it is validated, nothing more. */
static const char *const model_keys[] = {
    "model_type",  "architectures",      "auto_map",         "_name_or_path", "transformers_version",
    "_class_name", "_diffusers_version", "custom_pipelines", "peft_type",
};
static const char *const other_keys[] = {
    "chat_template",     "tokenizer_class", "weight_map",      "auto_mapping",
    "trust_remote_code", "class_name",      "registered_name",
};

static int any_key(const jnode *root, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (member(root, keys[i]))
            return 1;
    return 0;
}

static int watched_key(const jnode *root)
{
    return any_key(root, model_keys, sizeof model_keys / sizeof model_keys[0]) ||
           any_key(root, other_keys, sizeof other_keys / sizeof other_keys[0]);
}

/* Shape decides the format name: the approved-format policy keys on it. */
static void analyse_object(jdoc *d, const jnode *root)
{
    int hf = any_key(root, model_keys, sizeof model_keys / sizeof model_keys[0]);
    int tok = member(root, "chat_template") || member(root, "tokenizer_class");
    int idx = member(root, "weight_map") != NULL;
    int keras = !hf && ((member(root, "class_name") && member(root, "config")) ||
                        (member(root, "module") && member(root, "registered_name")));
    mg_set_format(d->s, tok     ? "tokenizer-config"
                        : idx   ? "safetensors-index"
                        : hf    ? "hf-config"
                        : keras ? "keras-config"
                                : "json");
    for (const jnode *m = root->kids; m; m = m->next) {
        if (key_is(m, "auto_map"))
            check_auto_map(d, m);
        else if (key_is(m, "custom_pipelines"))
            check_custom_pipelines(d, m);
        else if (key_is(m, "chat_template"))
            check_templates(d, m);
        else if (key_is(m, "weight_map"))
            check_weight_map(d, m);
        else if (key_is(m, "auto_mapping"))
            check_peft(d, m);
        else if (key_is(m, "trust_remote_code") && m->kind == J_TRUE)
            mg_find(d->s, "MG-HF-100", m->off, "trust_remote_code",
                    "the file sets trust_remote_code to true: the model expects its own Python code to run");
    }
    const jnode *dv = member(root, "_diffusers_version");
    const jnode *cls = member(root, "_class_name");
    if (dv && cls &&
        (cls->kind == J_ARR ||
         (cls->kind == J_STR && cls->str.len >= 8 && memcmp(cls->str.p + cls->str.len - 8, "Pipeline", 8) == 0)))
        check_diffusers(d, root);
    facts(d, root);
    /* the zip module analyses the config of a .keras archive itself */
    if (keras && d->s->depth == 0)
        mg_keras_config(d->s, d->p->in, 0);
}

/* JSON Lines: one value per line after the first (datasets, logs). */
static int json_lines(mg_scan *s, jp *p)
{
    size_t line = 1;
    while (p->off < p->in.len) {
        size_t before = p->off;
        jp_ws(p);
        if (p->off >= p->in.len)
            break;
        if (!memchr(p->in.p + before, '\n', p->off - before))
            return -1; /* two values on one line: not JSON Lines */
        for (size_t i = before; i < p->off; i++)
            line += p->in.p[i] == '\n';
        if (jp_value(p, 0, NULL) != 0) {
            if (!p->stop)
                mg_find(s, "MG-HF-400", p->err_off, NULL, "line %zu of a JSON Lines file is not JSON: %s", line,
                        p->err);
            return 0;
        }
    }
    return 0;
}

static int json_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    mg_set_format(s, "json");
    unsigned dups = 0;
    jp p = {.s = s, .in = in, .build = in.len <= J_SMALL ? ~0u : 1u, .dups = &dups};
    if (in.len >= 3 && memcmp(in.p, "\xef\xbb\xbf", 3) == 0) {
        mg_find(s, "MG-HF-400", 0, NULL,
                "the file starts with a UTF-8 byte-order mark: Python's json.loads refuses it, so the model "
                "does not load");
        p.off = 3;
    }
    jnode *root = NULL;
    if (jp_value(&p, 0, &root) != 0) {
        if (!p.stop)
            mg_find(s, "MG-HF-400", p.err_off, NULL, "not valid JSON as Python reads it: %s", p.err);
        return 0;
    }
    size_t after = p.off;
    jp_ws(&p);
    if (p.off < in.len) {
        size_t extra = p.off;
        p.off = after;
        if (json_lines(s, &p) == 0) {
            mg_set_format(s, "jsonl");
            return 0;
        }
        mg_find(s, "MG-HF-400", extra, NULL, "data after the JSON value (Python's json: \"Extra data\")");
        return 0;
    }
    jdoc d = {s, &p};
    int small = p.build == ~0u;
    if (root->kind == J_OBJ) {
        /* a large document was read shallowly: it is built whole only when a
         * check reads it, so a tokenizer.json vocabulary is never built */
        if (!watched_key(root))
            return 0;
        if (!small && !(root = jp_rebuild(&p, root, 0, 1))) /* the top level was checked */
            return 0;
        analyse_object(&d, root);
    } else if (root->kind == J_ARR && root->kids) {
        /* sentence-transformers reads every entry's "type" and "path": the
         * first entry shows whether this is its modules list */
        const jnode *first = small ? root->kids : jp_rebuild(&p, root->kids, 1, ~0u);
        if (!first || !member(first, "type") || !member(first, "path"))
            return 0;
        if (!small && !(root = jp_rebuild(&p, root, 0, 0)))
            return 0;
        if (check_st_modules(&d, root))
            mg_set_format(s, "hf-config");
    }
    return 0;
}

const mg_module mg_module_json = {"json", json_probe, json_scan, 0};
