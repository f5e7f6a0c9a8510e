/*
 * text.c - text files of a model folder: Python source (modeling_*.py,
 * tokenization_*.py, handler.py, scripts), Markdown model cards (README.md
 * with YAML front matter), license texts (LICENSE), Jinja chat templates
 * (chat_template.jinja), and anything else that is plain UTF-8 text.
 *
 * Layout: UTF-8 text without NUL bytes. What kind of text it is comes from
 * its content, never its name, in this order:
 *   - a model card: front matter, a first line `---`, YAML, a line `---`
 *     (Hugging Face's model card metadata, huggingface_hub's ModelCard);
 *   - Python: a `#!` line naming python, or statement lines at column 0
 *     (`import x`, `from x import y`, `def f(`, `class C(`/`class C:`,
 *     `if __name__`, `try:`) or calls of eval/exec/compile/__import__, and
 *     no Markdown fence (``` at column 0 is not Python);
 *   - a license: the distinctive phrases of a license text in its first
 *     8 KiB (src/lib/rules/licenses.txt);
 *   - a Jinja template: a text starting with `{{`, `{%` or `{#`, or with
 *     `{% %}` blocks that use `messages` as chat templates do;
 *   - Markdown (fences, `#` headings), or plain text.
 * The probe claims model cards (30) and column-0 Python (22) above the
 * YAML reader's guesses (25 for `---`, 20 for `key:`), everything else low
 * (8) so that every binary format and JSON win.
 *
 * Attacks: Python files are what trust_remote_code runs (auto_map in
 * config.json names them); a modeling file that also calls os.system,
 * subprocess, eval of decoded data, sockets or ctypes runs that when the
 * model loads. A chat_template.jinja file is the tokenizer's chat template
 * (template injection). Model card metadata and LICENSE files say under
 * which license the model may be used: facts for the license policies.
 *
 * How we read it: Python with a small lexer of our own that skips comments
 * and string literals (docstrings mentioning os.system are not calls) but
 * reads the code inside f-string braces, follows import aliases (`import
 * subprocess as sp`, `from os import system as run`, star imports), and
 * reports each reference to a name of src/lib/rules/python_calls.txt
 * (MG-HF-102) with its line and byte offset. Front matter goes through
 * libyaml's event parser (no tree, aliases never expanded), bounded to
 * 256 KiB. Templates go to the Jinja analyser (util/jinja.h), which also
 * reports templates that do not parse. Otherwise nothing here is a finding
 * about the text itself: a text file cannot be malformed in a way a loader
 * cares about.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "../internal.h"
#include "../util/utf8.h"
#include "../util/banned.h"
#include "../util/jinja.h"

extern const char mg_data_python_calls_txt[];
extern const size_t mg_data_python_calls_txt_len;
extern const char mg_data_licenses_txt[];
extern const size_t mg_data_licenses_txt_len;

enum {
    T_PROBE = 4096,           /* bytes the probe reads */
    T_CLASSIFY = 64 * 1024,   /* bytes read to tell Python from prose */
    T_LICENSE = 8 * 1024,     /* bytes searched for license phrases */
    T_FRONT_MAX = 256 * 1024, /* front matter larger than this is not read */
    T_YAML_EVENTS = 20000,    /* events of the front matter */
    T_FACT_MAX = 200,         /* bytes of a fact value */
    PY_MAX_ALIASES = 256,     /* import bindings followed per file */
    PY_MAX_STARS = 16,        /* `from m import *` modules followed */
    PY_MAX_FINDINGS = 64,     /* MG-HF-102 findings per file */
    PY_MAX_SAME = 3,          /* findings per name */
    PY_MAX_CHAIN = 12,        /* parts of a dotted name */
    PY_MAX_NEST = 4,          /* f-strings inside f-strings */
    PY_TICK = 1 << 16,        /* tokens between time checks */
};

/* ---- rules: data files parsed once per process ---- */

typedef struct py_rule {
    mg_str pat;  /* dotted name, or its prefix */
    int prefix;  /* pattern ended with `*` */
    int call;    /* `name()`: calls of the bare builtin only */
    mg_str what; /* completes the message */
} py_rule;

typedef struct lic_rule {
    mg_str id;
    int alias;
    mg_str ph[4]; /* match: phrases that must all appear; alias: the spelling */
    int nph;
} lic_rule;

static py_rule py_rules[128];
static size_t py_nrules;
static lic_rule lic_rules[192];
static size_t lic_nrules;
static pthread_once_t rules_once = PTHREAD_ONCE_INIT;

/* Splits the next line of `text` into tab-separated fields (at most 3). */
static size_t next_line(const char *text, size_t len, size_t i, mg_str *f, int *nf)
{
    size_t j = i;
    while (j < len && text[j] != '\n')
        j++;
    *nf = 0;
    if (j > i && text[i] != '#') {
        size_t a = i;
        for (size_t k = i; k <= j && *nf < 3; k++)
            if (k == j || text[k] == '\t') {
                size_t e = k;
                while (e > a && (text[e - 1] == ' ' || text[e - 1] == '\r'))
                    e--;
                f[(*nf)++] = (mg_str){text + a, e - a};
                a = k + 1;
            }
    }
    return j + 1;
}

static void parse_rules(void)
{
    mg_str f[3];
    int nf;
    const char *t = mg_data_python_calls_txt;
    size_t len = mg_data_python_calls_txt_len;
    for (size_t i = 0; i < len;) {
        i = next_line(t, len, i, f, &nf);
        if (nf != 2 || f[0].len < 2 || py_nrules >= sizeof py_rules / sizeof py_rules[0])
            continue;
        py_rule *r = &py_rules[py_nrules++];
        r->pat = f[0];
        r->what = f[1];
        if (r->pat.p[r->pat.len - 1] == '*') {
            r->prefix = 1;
            r->pat.len--;
        } else if (r->pat.len > 2 && memcmp(r->pat.p + r->pat.len - 2, "()", 2) == 0) {
            r->call = 1;
            r->pat.len -= 2;
        }
    }
    t = mg_data_licenses_txt;
    len = mg_data_licenses_txt_len;
    for (size_t i = 0; i < len;) {
        i = next_line(t, len, i, f, &nf);
        if (nf != 3 || lic_nrules >= sizeof lic_rules / sizeof lic_rules[0])
            continue;
        lic_rule *r = &lic_rules[lic_nrules++];
        r->id = f[0];
        r->alias = mg_str_eq(f[1], "alias");
        /* phrases separated by " && " */
        size_t a = 0;
        for (size_t k = 0; k <= f[2].len && r->nph < 4; k++)
            if (k == f[2].len || (f[2].len - k >= 4 && memcmp(f[2].p + k, " && ", 4) == 0)) {
                r->ph[r->nph++] = (mg_str){f[2].p + a, k - a};
                a = k + 4;
                k += 3;
            }
    }
}

/* ---- probe ---- */

static size_t skip_bom(mg_span d)
{
    return d.len >= 3 && memcmp(d.p, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* End of the line starting at i (the offset of its '\n', or len). */
static size_t line_end(mg_span d, size_t i)
{
    const uint8_t *nl = i < d.len ? memchr(d.p + i, '\n', d.len - i) : NULL;
    return nl ? (size_t)(nl - d.p) : d.len;
}

/* 1 when the line [i, e) is `---` (trailing blanks and \r allowed). */
static int dashes(mg_span d, size_t i, size_t e)
{
    if (e - i < 3 || memcmp(d.p + i, "---", 3) != 0)
        return 0;
    for (size_t k = i + 3; k < e; k++)
        if (d.p[k] != ' ' && d.p[k] != '\t' && d.p[k] != '\r')
            return 0;
    return 1;
}

/* Front matter: [*fm_off, *fm_off + *fm_len) between a first line `---` and
 * the next line `---`, within T_FRONT_MAX bytes. */
static int front_matter(mg_span d, size_t *fm_off, size_t *fm_len)
{
    size_t i = skip_bom(d), e = line_end(d, i);
    if (e >= d.len || !dashes(d, i, e))
        return 0;
    size_t start = e + 1;
    for (size_t k = start; k < d.len && k - start <= T_FRONT_MAX;) {
        size_t le = line_end(d, k);
        if (dashes(d, k, le)) {
            *fm_off = start;
            *fm_len = k - start;
            return 1;
        }
        k = le + 1;
    }
    return 0;
}

/* A model card: front matter followed by a Markdown body. It is claimed
 * above YAML readers; a YAML file that merely starts with `---` (a NeMo or
 * Hydra config, several YAML documents) has no Markdown after it and is left
 * to them. */
static int model_card(mg_span head)
{
    size_t off, len;
    if (!front_matter(head, &off, &len))
        return 0;
    size_t body = line_end(head, off + len) + 1;
    if (body >= head.len)
        return 1; /* metadata only: nothing else reads it */
    const uint8_t *b = head.p + body;
    size_t n = head.len - body;
    return b[0] == '#' || b[0] == '<' || memmem(b, n, "\n#", 2) || memmem(b, n, "```", 3) || memmem(b, n, "](", 2) ||
           memmem(b, n, "\n<", 2);
}

static int python_head(mg_span head);

static int text_probe(mg_span data, mg_str name)
{
    (void)name;
    mg_span head = {data.p, data.len < T_PROBE ? data.len : T_PROBE};
    for (size_t i = skip_bom(head); i < head.len;) {
        uint8_t c = head.p[i];
        if (c < 0x80) {
            /* NUL and most control bytes mean binary; tabs, line and page
             * breaks and ESC (colours in logs) occur in text */
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b)
                return 0;
            i++;
            continue;
        }
        int n = mg_utf8_seq(head.p + i, head.len - i);
        if (n < 0 && head.len < data.len)
            break; /* a character cut by the window */
        if (n <= 0)
            return 0;
        i += (size_t)n;
    }
    if (model_card(head))
        return 30; /* YAML readers claim `---` at 25 */
    return python_head(head) ? 22 : 8;
}

/* ---- Python ---- */

enum ptype { P_EOF, P_NAME, P_DOT, P_LPAREN, P_NL, P_OP };

typedef struct ptok {
    enum ptype t;
    size_t off;
    mg_str text; /* P_NAME */
    uint8_t ch;  /* P_OP */
    unsigned line;
    int col0; /* starts its line */
} ptok;

typedef struct alias {
    mg_str name;
    mg_str target;
} alias;

typedef struct same {
    mg_str name;
    unsigned n;
} same;

typedef struct py {
    mg_scan *s;
    mg_span in;
    size_t off, end;
    size_t line_start;
    unsigned line;
    int analyse; /* 0: only classify */
    int nest;    /* f-strings being read inside f-strings */
    /* classification */
    unsigned stmt_lines, fences;
    /* analysis */
    alias *aliases;
    size_t naliases;
    mg_str stars[PY_MAX_STARS];
    size_t nstars;
    same seen[64];
    size_t nseen;
    unsigned found;
    unsigned long tokens;
    int stop;
    ptok peek;
    int have_peek;
} py;

static int ident_start(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int ident_char(uint8_t c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

static int starts_with(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    return n >= k && memcmp(p, w, k) == 0;
}

static size_t skip_ident(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && ident_char(p[i]))
        i++;
    return i;
}

static size_t skip_blank(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

/* `a.b [as c], d ...` up to the end of the line, a comment or `;`: what
 * follows `import` in Python ("import the weights" in prose is not). */
static int import_list(const uint8_t *p, size_t n, size_t i)
{
    for (;;) {
        for (;;) { /* a dotted name */
            if (i >= n || !ident_start(p[i]))
                return 0;
            i = skip_ident(p, n, i);
            if (i >= n || p[i] != '.')
                break;
            i++;
        }
        i = skip_blank(p, n, i);
        if (starts_with(p + i, n - i, "as ")) {
            i = skip_blank(p, n, i + 3);
            if (i >= n || !ident_start(p[i]))
                return 0;
            i = skip_blank(p, n, skip_ident(p, n, i));
        }
        if (i < n && p[i] == ',') {
            i = skip_blank(p, n, i + 1);
            continue;
        }
        return i >= n || p[i] == '#' || p[i] == ';' || p[i] == '\r';
    }
}

/* A line at column 0 that only Python writes: `import x`, `from x import`,
 * `def f(`, `async def f(`, `class C(`/`class C:`, `if __name__`. */
static int py_statement(const uint8_t *p, size_t n)
{
    size_t i;
    if (starts_with(p, n, "import "))
        return import_list(p, n, 7);
    if (starts_with(p, n, "from ")) {
        i = 5;
        while (i < n && (ident_char(p[i]) || p[i] == '.'))
            i++;
        return i > 5 && starts_with(p + i, n - i, " import ");
    }
    if (starts_with(p, n, "async def "))
        p += 6, n -= 6;
    if (starts_with(p, n, "def ") && n > 4 && ident_start(p[4])) {
        i = skip_blank(p, n, skip_ident(p, n, 4));
        return i < n && p[i] == '(';
    }
    if (starts_with(p, n, "class ") && n > 6 && ident_start(p[6])) {
        i = skip_blank(p, n, skip_ident(p, n, 6));
        return i < n && (p[i] == '(' || p[i] == ':');
    }
    if (starts_with(p, n, "try:")) { /* import guards open many modules */
        i = skip_blank(p, n, 4);
        return i >= n || p[i] == '#' || p[i] == '\r';
    }
    return starts_with(p, n, "if __name__");
}

/* The probe's view: a line at column 0 of the window that only Python
 * writes. YAML cannot have one (outside block scalars, which are indented),
 * so such a file is claimed above the YAML reader's `key:` guess: a module
 * that starts with `try:` must still be read as Python. */
static int python_head(mg_span head)
{
    for (size_t i = 0; i < head.len;) {
        size_t e = line_end(head, i);
        if (py_statement(head.p + i, e - i))
            return 1;
        i = e + 1;
    }
    return 0;
}

static void py_col0(py *p, size_t off)
{
    size_t e = line_end(p->in, off);
    const uint8_t *l = p->in.p + off;
    size_t n = e - off < 512 ? e - off : 512; /* a statement shows in its first bytes */
    if (starts_with(l, n, "```") || starts_with(l, n, "~~~"))
        p->fences++;
    else if (py_statement(l, n))
        p->stmt_lines++;
}

static void py_run(py *p);

/* Reads the code inside the braces of an f-string body [b, e). */
static void py_fstring(py *p, size_t b, size_t e, unsigned line)
{
    if (!p->analyse || p->nest >= PY_MAX_NEST)
        return;
    const uint8_t *s = p->in.p;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '\n')
            line++;
        if (s[i] != '{')
            continue;
        if (i + 1 < e && s[i + 1] == '{') {
            i++;
            continue;
        }
        size_t j = i + 1;
        int depth = 0;
        uint8_t q = 0;
        for (; j < e; j++) {
            if (q) {
                if (s[j] == q)
                    q = 0;
            } else if (s[j] == '\'' || s[j] == '"') {
                q = s[j];
            } else if (s[j] == '{' || s[j] == '[' || s[j] == '(') {
                depth++;
            } else if (s[j] == '}' || s[j] == ']' || s[j] == ')') {
                if (depth-- == 0)
                    break;
            }
        }
        /* the field is read by a nested run over [i+1, j) of the same
         * input; it shares the findings state, the cursor is restored */
        py saved = *p;
        p->off = i + 1;
        p->end = j;
        p->line = line;
        p->line_start = 0;
        p->have_peek = 0;
        p->nest++;
        py_run(p);
        saved.found = p->found;
        saved.nseen = p->nseen;
        memcpy(saved.seen, p->seen, sizeof saved.seen);
        saved.tokens = p->tokens;
        saved.stop = p->stop;
        *p = saved;
        for (; i < j; i++)
            line += s[i] == '\n';
    }
}

/* A string literal starting at p->off (on its quote); `f` for f-strings. */
static void py_string(py *p, int f)
{
    const uint8_t *s = p->in.p;
    uint8_t q = s[p->off];
    int triple = p->end - p->off >= 3 && s[p->off + 1] == q && s[p->off + 2] == q;
    p->off += triple ? 3 : 1;
    size_t body = p->off;
    unsigned line = p->line;
    while (p->off < p->end) {
        uint8_t c = s[p->off];
        if (c == '\\') {
            if (p->off + 1 < p->end && s[p->off + 1] == '\n') {
                p->line++;
                p->line_start = p->off + 2;
            }
            p->off += 2;
            continue;
        }
        if (c == '\n') {
            if (!triple)
                break; /* unterminated: Python stops compiling here */
            p->line++;
            p->line_start = p->off + 1;
        }
        if (c == q && (!triple || (p->end - p->off >= 3 && s[p->off + 1] == q && s[p->off + 2] == q)))
            break;
        p->off++;
    }
    if (p->off > p->end)
        p->off = p->end;
    size_t stop = p->off;
    if (p->off < p->end && s[p->off] == q)
        p->off += triple ? 3 : 1;
    if (p->off > p->end)
        p->off = p->end;
    if (f)
        py_fstring(p, body, stop, line);
}

/* A string prefix: r, u, b, f, br, rb, fr, rf in any case. */
static int str_prefix(const uint8_t *s, size_t n, int *f)
{
    *f = 0;
    if (n == 0 || n > 2)
        return 0;
    int r = 0, b = 0, u = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i] | 0x20;
        if (c == 'r')
            r++;
        else if (c == 'b')
            b++;
        else if (c == 'f')
            (*f)++;
        else if (c == 'u')
            u++;
        else
            return 0;
    }
    return r <= 1 && b <= 1 && *f <= 1 && u <= 1 && !(b && *f) && !(u && n > 1);
}

/* The next token. Strings, comments, numbers and blanks are skipped (the
 * code inside f-string braces is read on the way); `t` is written only at
 * the end, since reading an f-string runs the lexer on the same state. */
static void py_lex(py *p, ptok *out)
{
    const uint8_t *s = p->in.p;
    for (;;) {
        ptok t = {.t = P_EOF, .off = p->off, .line = p->line};
        if (p->stop || p->off >= p->end) {
            *out = t;
            return;
        }
        size_t o = p->off;
        uint8_t c = s[o];
        t.col0 = o == p->line_start;
        if (c == '\n') {
            p->off++;
            p->line++;
            p->line_start = p->off;
            t.t = P_NL;
            *out = t;
            return;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
            p->off++;
            continue;
        }
        if (t.col0 && !p->analyse)
            py_col0(p, o);
        if (c == '\\' && o + 1 < p->end && (s[o + 1] == '\n' || s[o + 1] == '\r')) {
            p->off++; /* a continuation: the newline is read as blank */
            continue;
        }
        if (c == '#') {
            size_t e = line_end(p->in, o);
            p->off = e < p->end ? e : p->end;
            continue;
        }
        if (c == '"' || c == '\'') {
            py_string(p, 0);
            continue;
        }
        if (ident_start(c)) {
            size_t e = skip_ident(s, p->end, o);
            int f;
            if (e < p->end && (s[e] == '"' || s[e] == '\'') && str_prefix(s + o, e - o, &f)) {
                p->off = e;
                py_string(p, f);
                continue;
            }
            p->off = e;
            t.t = P_NAME;
            t.text = (mg_str){(const char *)s + o, e - o};
            *out = t;
            return;
        }
        if (c >= '0' && c <= '9') {
            while (p->off < p->end && (ident_char(s[p->off]) || s[p->off] == '.'))
                p->off++;
            continue;
        }
        p->off++;
        if (c == '.' && p->off < p->end && s[p->off] >= '0' && s[p->off] <= '9')
            continue; /* .5 */
        t.t = c == '.' ? P_DOT : c == '(' ? P_LPAREN : P_OP;
        t.ch = c;
        *out = t;
        return;
    }
}

static void py_next(py *p, ptok *t)
{
    if (p->have_peek) {
        *t = p->peek;
        p->have_peek = 0;
        return;
    }
    if (p->s && (++p->tokens & (PY_TICK - 1)) == 0 && mg_scan_expired(p->s, p->off))
        p->stop = 1;
    py_lex(p, t);
}

static const ptok *py_peek(py *p)
{
    if (!p->have_peek) {
        py_next(p, &p->peek);
        p->have_peek = 1;
    }
    return &p->peek;
}

static int is_name(const ptok *t, const char *w)
{
    return t->t == P_NAME && mg_str_eq(t->text, w);
}

static int is_op(const ptok *t, uint8_t c)
{
    return t->t == P_OP && t->ch == c;
}

/* A dotted name a.b.c at the cursor, as one string (in the arena). */
static mg_str py_dotted(py *p, ptok *first)
{
    mg_str parts[PY_MAX_CHAIN];
    size_t n = 0, total = 0;
    parts[n++] = first->text;
    total += first->text.len;
    while (n < PY_MAX_CHAIN && py_peek(p)->t == P_DOT) {
        ptok dot, nm;
        py_next(p, &dot);
        if (py_peek(p)->t != P_NAME)
            break;
        py_next(p, &nm);
        parts[n++] = nm.text;
        total += nm.text.len + 1;
    }
    char *o = mg_arena_alloc(&p->s->work, total + 1);
    if (!o) {
        p->stop = 1;
        return (mg_str){NULL, 0};
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            o[w++] = '.';
        memcpy(o + w, parts[i].p, parts[i].len);
        w += parts[i].len;
    }
    o[w] = 0;
    return (mg_str){o, w};
}

static void add_alias(py *p, mg_str name, mg_str target)
{
    if (!name.p || !target.p || p->naliases >= PY_MAX_ALIASES)
        return;
    p->aliases[p->naliases++] = (alias){name, target};
}

static mg_str head_of(mg_str dotted)
{
    const char *dot = memchr(dotted.p, '.', dotted.len);
    return (mg_str){dotted.p, dot ? (size_t)(dot - dotted.p) : dotted.len};
}

/* import a.b.c [as x], d ... */
static void py_import(py *p)
{
    for (;;) {
        ptok t;
        py_next(p, &t);
        if (t.t != P_NAME)
            return;
        mg_str full = py_dotted(p, &t);
        if (is_name(py_peek(p), "as")) {
            ptok as, nm;
            py_next(p, &as);
            py_next(p, &nm);
            if (nm.t == P_NAME)
                add_alias(p, nm.text, full);
        } else if (full.p) {
            mg_str h = head_of(full);
            add_alias(p, h, h);
        }
        if (!is_op(py_peek(p), ','))
            return;
        py_next(p, &t);
    }
}

static mg_str join(py *p, mg_str a, mg_str b)
{
    char *o = mg_arena_alloc(&p->s->work, a.len + b.len + 2);
    if (!o) {
        p->stop = 1;
        return (mg_str){NULL, 0};
    }
    memcpy(o, a.p, a.len);
    o[a.len] = '.';
    memcpy(o + a.len + 1, b.p, b.len);
    o[a.len + 1 + b.len] = 0;
    return (mg_str){o, a.len + 1 + b.len};
}

/* from [.]a.b import x [as y], (z, w) | * */
static void py_from(py *p)
{
    ptok t;
    int relative = 0;
    while (py_peek(p)->t == P_DOT) {
        py_next(p, &t);
        relative = 1;
    }
    mg_str mod = {NULL, 0};
    if (py_peek(p)->t == P_NAME && !is_name(py_peek(p), "import")) {
        py_next(p, &t);
        mod = py_dotted(p, &t);
    }
    if (!is_name(py_peek(p), "import"))
        return;
    py_next(p, &t);
    if (relative || !mod.p)
        return; /* the repository's own modules: scanned as files */
    if (is_op(py_peek(p), '*')) {
        py_next(p, &t);
        if (p->nstars < PY_MAX_STARS)
            p->stars[p->nstars++] = mod;
        return;
    }
    int paren = py_peek(p)->t == P_LPAREN;
    if (paren)
        py_next(p, &t);
    for (;;) {
        while (paren && py_peek(p)->t == P_NL)
            py_next(p, &t);
        py_next(p, &t);
        if (t.t != P_NAME)
            return;
        mg_str target = join(p, mod, t.text), name = t.text;
        if (is_name(py_peek(p), "as")) {
            ptok as, nm;
            py_next(p, &as);
            py_next(p, &nm);
            if (nm.t != P_NAME)
                return;
            name = nm.text;
        }
        add_alias(p, name, target);
        while (paren && py_peek(p)->t == P_NL)
            py_next(p, &t);
        if (!is_op(py_peek(p), ','))
            return;
        py_next(p, &t);
    }
}

static const py_rule *py_match(mg_str name, int call, int bare)
{
    for (size_t i = 0; i < py_nrules; i++) {
        const py_rule *r = &py_rules[i];
        if (r->call) {
            if (bare && call && name.len == r->pat.len && memcmp(name.p, r->pat.p, name.len) == 0)
                return r;
            continue;
        }
        if (r->prefix ? name.len >= r->pat.len && memcmp(name.p, r->pat.p, r->pat.len) == 0
                      : name.len == r->pat.len && memcmp(name.p, r->pat.p, name.len) == 0)
            return r;
    }
    return NULL;
}

static const alias *find_alias(const py *p, mg_str name)
{
    for (size_t i = p->naliases; i-- > 0;)
        if (p->aliases[i].name.len == name.len && memcmp(p->aliases[i].name.p, name.p, name.len) == 0)
            return &p->aliases[i];
    return NULL;
}

/* exec(base64.b64decode(...)) and friends: the argument decodes a payload. */
static int decoded_arg(const py *p, size_t from)
{
    static const char *const decoders[] = {
        "b64decode", "b32decode",     "b16decode", "a85decode", "b85decode",     "decodebytes",   "decompress",
        "fromhex",   "codecs.decode", "rot13",     "rot_13",    "marshal.loads", "bytes.fromhex", "unhexlify"};
    if (from >= p->end)
        return 0;
    size_t n = p->end - from < 400 ? p->end - from : 400;
    for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++)
        if (memmem(p->in.p + from, n, decoders[i], strlen(decoders[i])))
            return 1;
    return 0;
}

static int seen_enough(py *p, mg_str name)
{
    for (size_t i = 0; i < p->nseen; i++)
        if (p->seen[i].name.len == name.len && memcmp(p->seen[i].name.p, name.p, name.len) == 0)
            return ++p->seen[i].n > PY_MAX_SAME;
    if (p->nseen < sizeof p->seen / sizeof p->seen[0])
        p->seen[p->nseen++] = (same){name, 1};
    return 0;
}

/* Resolves a dotted reference through the imports and reports it when a
 * rule names it. `call`: followed by `(` (at `paren`). */
static void py_judge(py *p, const ptok *first, mg_str written, int call, size_t paren)
{
    if (!written.p)
        return;
    mg_str head = head_of(written);
    int bare = head.len == written.len;
    mg_str canon = {NULL, 0};
    const py_rule *r = NULL;
    const alias *a = find_alias(p, head);
    if (a) {
        canon = bare ? a->target : join(p, a->target, (mg_str){written.p + head.len + 1, written.len - head.len - 1});
        if (canon.p)
            r = py_match(canon, call, 0);
    } else if (bare) {
        r = py_match(written, call, 1); /* builtins: eval(), exec(), ... */
        canon = written;
        for (size_t i = 0; !r && i < p->nstars; i++) {
            canon = join(p, p->stars[i], written);
            if (canon.p)
                r = py_match(canon, call, 0);
        }
    }
    if (!r || p->found >= PY_MAX_FINDINGS || seen_enough(p, canon))
        return;
    p->found++;
    char wr[120], cn[160], what[120];
    snprintf(wr, sizeof wr, "%.*s", (int)written.len, written.p);
    snprintf(cn, sizeof cn, "%.*s", (int)canon.len, canon.p);
    snprintf(what, sizeof what, "%.*s", (int)r->what.len, r->what.p);
    int decoded = call && r->call && decoded_arg(p, paren);
    char via[200] = "";
    if (strcmp(wr, cn) != 0)
        snprintf(via, sizeof via, " (that is `%s`)", cn);
    mg_find(p->s, "MG-HF-102", first->off, cn, "line %u: `%s`%s %s%s%s", first->line, wr, via, what,
            decoded ? ", from data it decodes first: an obfuscated payload" : "",
            p->found == PY_MAX_FINDINGS ? " (further references are not listed)" : "");
}

static void py_run(py *p)
{
    ptok t, prev = {.t = P_NL};
    int line_raise = 0;
    for (;;) {
        py_next(p, &t);
        if (t.t == P_EOF)
            return;
        if (!p->analyse) {
            /* `__import__(`, `exec(`, `eval(`: code, even without imports */
            if (t.t == P_NAME && prev.t != P_DOT && py_peek(p)->t == P_LPAREN && py_match(t.text, 1, 1))
                p->stmt_lines++;
            prev = t;
            continue;
        }
        if (t.t == P_NL) {
            line_raise = 0;
            prev = t;
            continue;
        }
        if (t.t != P_NAME) {
            prev = t;
            continue;
        }
        if (is_name(&t, "raise"))
            line_raise = 1;
        if (is_name(&t, "import")) {
            py_import(p);
        } else if (is_name(&t, "from") && !line_raise && !is_name(&prev, "yield")) {
            py_from(p);
        } else if (prev.t != P_DOT && !is_name(&prev, "def") && !is_name(&prev, "class")) {
            mg_str written = py_dotted(p, &t);
            const ptok *nx = py_peek(p);
            py_judge(p, &t, written, nx->t == P_LPAREN, nx->off + 1);
        }
        prev = t;
    }
}

/* ---- model cards: YAML front matter ---- */

/* Copies a value for a fact: control bytes dropped, at most T_FACT_MAX bytes. */
static void fact_text(char *out, size_t n, const uint8_t *v, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len && w + 1 < n; i++)
        if (v[i] >= 0x20 && v[i] != 0x7f)
            out[w++] = (char)v[i];
    while (w && out[w - 1] == ' ')
        w--;
    out[w] = 0;
}

/* Model card spelling -> license id: lowercase, single spaces, then the
 * aliases of licenses.txt; otherwise the lowercase text with `-` for spaces. */
static void license_id(char *out, size_t n, const char *v)
{
    char low[T_FACT_MAX + 1];
    size_t w = 0;
    for (const char *c = v; *c && w + 1 < sizeof low; c++) {
        char ch = *c >= 'A' && *c <= 'Z' ? (char)(*c + 32) : *c;
        if (ch == ' ' || ch == '\t') {
            if (w == 0 || low[w - 1] == ' ')
                continue;
            ch = ' ';
        }
        low[w++] = ch;
    }
    while (w && low[w - 1] == ' ')
        w--;
    low[w] = 0;
    for (size_t i = 0; i < lic_nrules; i++) {
        const lic_rule *r = &lic_rules[i];
        if (r->alias && r->ph[0].len == w && memcmp(r->ph[0].p, low, w) == 0) {
            snprintf(out, n, "%.*s", (int)r->id.len, r->id.p);
            return;
        }
    }
    for (size_t i = 0; i < w; i++)
        if (low[i] == ' ')
            low[i] = '-';
    snprintf(out, n, "%s", low);
}

static void card_fact(mg_scan *s, const char *key, const uint8_t *v, size_t len)
{
    char val[T_FACT_MAX + 1];
    fact_text(val, sizeof val, v, len);
    if (!val[0])
        return;
    if (strcmp(key, "license") == 0) {
        char id[T_FACT_MAX + 1];
        license_id(id, sizeof id, val);
        if (id[0])
            mg_fact(s, "license", id);
        return;
    }
    mg_fact(s, key, val);
}

static const char *card_key(const uint8_t *k, size_t n)
{
    static const char *const keys[] = {"license", "license_name", "base_model", "library_name", "pipeline_tag"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
            return keys[i];
    return NULL;
}

/* Walks the events of the front matter's top-level mapping: scalar values of
 * the keys above become facts; for a list, its first item (a card listing
 * two licenses or several base models is recorded by its first). */
static void read_front_matter(mg_scan *s, mg_span fm)
{
    /* libyaml allocates with malloc: its tokens and buffers stay within a
     * few times the input, charged here up front */
    size_t charge = fm.len * 8 + 65536;
    if (mg_mem_charge(&s->mem, charge) != 0)
        return;
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) {
        mg_mem_release(&s->mem, charge);
        return;
    }
    yaml_parser_set_input_string(&yp, fm.p, fm.len);
    int depth = 0, want_key = 1, coll_is_key = 0, seq_first = 0;
    const char *key = NULL;
    for (int n = 0; n < T_YAML_EVENTS; n++) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev))
            break;
        yaml_event_type_t type = ev.type;
        if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
            if (depth == 0 && type != YAML_MAPPING_START_EVENT)
                type = YAML_STREAM_END_EVENT; /* not a mapping: no metadata */
            else if (depth == 1) {
                coll_is_key = want_key;
                seq_first = !want_key && type == YAML_SEQUENCE_START_EVENT && key;
                if (want_key)
                    key = NULL;
            }
            depth++;
        } else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) {
            if (--depth == 1) {
                want_key = coll_is_key ? 0 : 1;
                seq_first = 0;
            }
            if (depth <= 0)
                type = YAML_STREAM_END_EVENT;
        } else if (type == YAML_SCALAR_EVENT) {
            const uint8_t *v = ev.data.scalar.value;
            size_t len = ev.data.scalar.length;
            if (depth == 1 && want_key) {
                key = card_key(v, len);
                want_key = 0;
            } else if (depth == 1) {
                if (key)
                    card_fact(s, key, v, len);
                want_key = 1;
            } else if (depth == 2 && seq_first) {
                card_fact(s, key, v, len);
                seq_first = 0;
            }
        } else if (type == YAML_ALIAS_EVENT && depth == 1) {
            want_key = !want_key;
        } else if (type == YAML_DOCUMENT_END_EVENT) {
            type = YAML_STREAM_END_EVENT;
        }
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&yp);
    mg_mem_release(&s->mem, charge);
}

/* ---- licenses ---- */

/* The first matching license of the text's first T_LICENSE bytes, compared
 * in lowercase with runs of blanks as one space. */
static const lic_rule *license_text(mg_span d)
{
    char norm[T_LICENSE + 1];
    size_t w = 0;
    for (size_t i = 0; i < d.len && i < T_LICENSE; i++) {
        uint8_t c = d.p[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            if (w && norm[w - 1] != ' ')
                norm[w++] = ' ';
            continue;
        }
        norm[w++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    for (size_t i = 0; i < lic_nrules; i++) {
        const lic_rule *r = &lic_rules[i];
        if (r->alias)
            continue;
        int all = r->nph > 0;
        for (int k = 0; all && k < r->nph; k++)
            all = r->ph[k].len && memmem(norm, w, r->ph[k].p, r->ph[k].len) != NULL;
        if (all)
            return r;
    }
    return NULL;
}

/* ---- the scan ---- */

static int shebang_python(mg_span d)
{
    if (!mg_span_starts(d, "#!", 2))
        return 0;
    size_t e = line_end(d, 0);
    return memmem(d.p, e, "python", 6) != NULL;
}

static int is_python(mg_scan *s, mg_span d, size_t start)
{
    if (shebang_python(d))
        return 1;
    py p = {.s = s, .in = d, .off = start, .end = d.len < T_CLASSIFY ? d.len : T_CLASSIFY, .line = 1};
    p.line_start = start;
    py_run(&p);
    return p.stmt_lines > 0 && p.fences == 0;
}

static void scan_python(mg_scan *s, mg_span d, size_t start)
{
    mg_set_format(s, "python");
    py p = {.s = s, .in = d, .off = start, .end = d.len, .line = 1, .analyse = 1};
    p.line_start = start;
    p.aliases = mg_arena_calloc(&s->work, PY_MAX_ALIASES, sizeof *p.aliases);
    if (!p.aliases) {
        mg_limit(s, MG_LIM_MEMORY, 0, "the analysis memory limit was reached");
        return;
    }
    py_run(&p);
}

/* A chat template saved as a file: it starts with a Jinja delimiter (after
 * blanks), or has `{% ... %}` blocks and uses `messages` the way chat
 * templates do (`for message in messages`, `messages[0]`,
 * `messages|length`). Text that only mentions Jinja syntax (a changelog,
 * documentation) is not a template. */
static int looks_jinja(mg_span d, size_t start, int anywhere)
{
    size_t n = d.len - start < T_CLASSIFY ? d.len - start : T_CLASSIFY;
    const uint8_t *b = d.p + start;
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (n - i >= 2 && b[i] == '{' && (b[i + 1] == '{' || b[i + 1] == '%' || b[i + 1] == '#'))
        return 1;
    if (!anywhere)
        return 0;
    static const char *const uses[] = {"in messages", "messages[", "messages|", "= messages"};
    int chat = 0;
    for (size_t k = 0; k < sizeof uses / sizeof uses[0] && !chat; k++)
        chat = memmem(b, n, uses[k], strlen(uses[k])) != NULL;
    const uint8_t *open = memmem(b, n, "{%", 2);
    return chat && open && memmem(open, n - (size_t)(open - b), "%}", 2) != NULL;
}

static int looks_markdown(mg_span d, size_t start)
{
    size_t n = d.len - start < T_CLASSIFY ? d.len - start : T_CLASSIFY;
    const uint8_t *b = d.p + start;
    return (n >= 2 && (memcmp(b, "# ", 2) == 0 || memcmp(b, "##", 2) == 0)) || memmem(b, n, "\n# ", 3) ||
           memmem(b, n, "\n## ", 4) || memmem(b, n, "\n```", 4) || memmem(b, n, "](http", 6);
}

static int text_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    pthread_once(&rules_once, parse_rules);
    size_t start = skip_bom(in), fm_off, fm_len;
    if (front_matter(in, &fm_off, &fm_len)) {
        mg_set_format(s, "markdown");
        read_front_matter(s, mg_span_sub(in, fm_off, fm_len));
        return 0;
    }
    if (is_python(s, in, start)) {
        scan_python(s, in, start);
        return 0;
    }
    const lic_rule *lic = license_text(mg_span_from(in, start));
    if (lic) {
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)lic->id.len, lic->id.p);
        mg_set_format(s, "license");
        mg_fact(s, "license", id);
        return 0;
    }
    /* a template that starts like one, even with `# Tools` headings in its
     * text; then Markdown; then templates found further in */
    int md = looks_markdown(in, start);
    if (looks_jinja(in, start, !md)) {
        mg_set_format(s, "jinja");
        mg_jinja_check(s, (mg_str){(const char *)in.p + start, in.len - start}, start, "chat template file",
                       "MG-HF-103", "MG-HF-400");
        return 0;
    }
    mg_set_format(s, md ? "markdown" : "text");
    return 0;
}

const mg_module mg_module_text = {"text", text_probe, text_scan, 0};
