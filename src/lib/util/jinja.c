/*
 * jinja.c - static analysis of Jinja2 templates (jinja.h). Templates are
 * never rendered: they are lexed and parsed by the grammar of Jinja2's own
 * lexer.py and parser.py, and the parser evaluates what it can of each
 * expression at parse time (constant strings, numbers, lists) so that names
 * built from pieces are seen whole.
 *
 * Why: chat templates (GGUF tokenizer.chat_template, tokenizer_config.json)
 * are rendered by Jinja2 when a model is used. Jinja2 outside its sandbox
 * lets a template walk Python internals: ''.__class__.__mro__[1]
 * .__subclasses__(), cycler.__init__.__globals__.os.popen('id'),
 * self._TemplateReference__context... (CVE-2024-34359 in llama-cpp-python;
 * the same in vLLM and SGLang). Even the sandbox only refuses names that
 * start with '_', so that is what every path to internals has in common.
 *
 * What is flagged as `exec_threat`:
 *   - an attribute or subscript whose name starts with '_' (x.__class__,
 *     x['__globals__'], x|attr('__init__'), map(attribute='__class__'),
 *     selectattr('a.__b__'), '{0.__class__}'.format(x)), including names
 *     folded from constants: 'a' ~ 'b', +, * n, % and |format, |join,
 *     |replace, |reverse and [::-1], |lower, escapes such as '\x5f', dict()
 *     keyword names, str methods, and variables set to such strings;
 *   - any attribute or constant subscript taken on a known SSTI gadget used
 *     as a value (cycler, joiner, namespace, lipsum, self, config, request,
 *     url_for, get_flashed_messages, range, dict) rather than called;
 *   - import, include, extends and from (they reach other templates).
 * What is flagged as `bad_threat`:
 *   - a template that does not parse, or exceeds the budgets (length,
 *     tokens, nesting);
 *   - a subscript or attr() name computed at render time from strings the
 *     template builds (loops appending characters, |string of objects), a
 *     subscript on a gadget with a key chosen at render time;
 *   - a Python internal name ('__class__') stored in a variable or passed
 *     to a call, where it can only serve a later lookup.
 * Ordinary idioms pass: message['role'], messages[0]['content'],
 * loop.index0, ns = namespace(...) and {% set ns.x = ... %}, .strip(),
 * .items(), |trim, |tojson, raise_exception('...'), '[::-1]' on data.
 *
 * How: the lexer turns the text into tokens (raw blocks become text,
 * comments vanish); the parser is recursive descent with a depth budget.
 * Values of variables are tracked in textual order, plus what each variable
 * was ever assigned anywhere (so a use before the assignment in a loop is
 * still seen); the parse is repeated silently until that knowledge is
 * stable (at most JJ_PASSES times), and the last pass reports.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jinja.h"
#include "banned.h"

#define JJ_MAX_LEN      (1u << 20) /* template bytes analysed */
#define JJ_MAX_TOKENS   200000u
#define JJ_MAX_DEPTH    80u        /* statement and expression nesting together */
#define JJ_MAX_STR      65536u     /* a folded constant longer than this is "built" */
#define JJ_FOLD_BUDGET  (8u << 20) /* bytes of folded constants per template, all passes */
#define JJ_MAX_LIST     4096u
#define JJ_MAX_ARGS     16u
#define JJ_MAX_FINDINGS 16u
#define JJ_PASSES       4u

/* ---- tokens ---- */

enum jt { T_EOF, T_ERR, T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP };
/* two-character operators get codes of their own */
enum { OP_FLOORDIV = 'F', OP_POW = 'P', OP_EQ = 'E', OP_NE = 'N', OP_LE = 'L', OP_GE = 'G' };

typedef struct jtok {
    uint8_t type;
    uint8_t op;
    uint8_t lstrip, rstrip; /* T_TEXT: whitespace control on either side */
    uint32_t pos, len;
} jtok;

/* ---- values the parser folds ---- */

enum jk {
    J_UNK,    /* unknown at parse time (data, numbers, objects) */
    J_STR,    /* a constant string */
    J_INT,    /* a constant integer */
    J_LIST,   /* a list, tuple or dict (its keys) of known length */
    J_BUILT,  /* a string the template builds at render time from unknown parts */
    J_GADGET, /* a Jinja global that leads to Python internals */
    J_NS,     /* namespace(...) result: its keyword arguments */
    J_MACRO,  /* a macro defined by the template */
    J_BOUND,  /* a method of a string, waiting for its call */
};

typedef struct jv jv;
struct jv {
    uint8_t kind;
    uint8_t dunder; /* may hold a Python internal name (a variable once set to one) */
    uint8_t tuple;  /* J_LIST written as a tuple (matters to %) */
    uint8_t gadget; /* J_GADGET: index in jj_gadgets */
    uint32_t sym;   /* J_MACRO: symbol slot */
    const char *s;  /* J_STR bytes; J_BOUND method name */
    size_t n;
    int64_t i;
    jv *items; /* J_LIST items, J_NS values, J_BOUND receiver */
    const mg_str *keys;
    uint32_t nitems;
    mg_str var; /* the variable the value was read from (for ns.attr) */
};

static const char *const jj_gadgets[] = {
    "cycler", "joiner", "namespace", "lipsum", "self", "config", "request", "url_for", "get_flashed_messages",
    "range",  "dict"};
enum { G_NAMESPACE = 2, G_DICT = 10 };

typedef struct jsym {
    mg_str name; /* empty: free slot */
    jv cur;
    uint8_t has_cur, ever_built, ever_dunder, bound;
    const mg_str *params; /* macros */
    uint32_t nparams;
    uint8_t is_macro;
} jsym;

/* A {% set x %}...{% endset %} body being collected. */
typedef struct jcap {
    mg_buf buf;
    int built;
} jcap;

typedef struct jp {
    mg_scan *s;
    const char *t;
    size_t len;
    uint64_t base;
    const char *what, *exec_id, *bad_id;
    jtok *tok;
    size_t ntok, i;
    unsigned depth, loops;
    int err, budget;
    uint32_t err_pos;
    char err_msg[200];
    int lex_err; /* the lexer stopped: the token list ends with T_ERR */
    char lex_msg[200];
    int report;
    unsigned nfind;
    jsym *syms;
    size_t nslots, nsyms;
    unsigned changed;
    size_t folded; /* bytes of constants folded so far (JJ_FOLD_BUDGET) */
} jp;

/* ---- findings ---- */

__attribute__((format(printf, 5, 0))) static void jj_vfind(jp *p, const char *id, uint32_t pos, const char *op,
                                                           const char *fmt, va_list ap)
{
    if (!p->report || p->nfind >= JJ_MAX_FINDINGS)
        return;
    p->nfind++;
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mg_find(p->s, id, p->base + pos, op, "%s %s (template byte %u)", p->what, msg, (unsigned)pos);
}

__attribute__((format(printf, 4, 5))) static void jj_exec(jp *p, uint32_t pos, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jj_vfind(p, p->exec_id, pos, op, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 4, 5))) static void jj_bad(jp *p, uint32_t pos, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jj_vfind(p, p->bad_id, pos, op, fmt, ap);
    va_end(ap);
}

/* A printable, bounded copy of a name for messages. */
static const char *jj_show(char *buf, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        buf[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    if (n && k + 4 >= cap) {
        buf[k++] = '.';
        buf[k++] = '.';
    }
    buf[k] = 0;
    return buf;
}

/* ---- lexer ---- */

static int jl_push(jp *p, mg_vec *v, uint8_t type, uint8_t op, size_t pos, size_t len)
{
    if (v->n >= JJ_MAX_TOKENS) {
        p->budget = 1;
        return -1;
    }
    jtok *t = mg_vec_push(v);
    if (!t)
        return -1;
    t->type = type;
    t->op = op;
    t->pos = (uint32_t)pos;
    t->len = (uint32_t)len;
    return 0;
}

static int jl_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int jl_namec(unsigned char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80 ||
           (!first && c >= '0' && c <= '9');
}

static int jl_starts(const jp *p, size_t at, const char *s)
{
    size_t n = strlen(s);
    return at <= p->len && n <= p->len - at && memcmp(p->t + at, s, n) == 0;
}

/* After "{%" at `at`: the end of "{% raw %}" (with - or + markers) or 0. */
static size_t jl_raw_open(const jp *p, size_t at, const char *word)
{
    size_t j = at + 2;
    if (j < p->len && (p->t[j] == '-' || p->t[j] == '+'))
        j++;
    while (j < p->len && jl_space(p->t[j]))
        j++;
    if (!jl_starts(p, j, word))
        return 0;
    j += strlen(word);
    if (j < p->len && jl_namec((unsigned char)p->t[j], 0))
        return 0;
    while (j < p->len && jl_space(p->t[j]))
        j++;
    if (j < p->len && (p->t[j] == '-' || p->t[j] == '+'))
        j++;
    return jl_starts(p, j, "%}") ? j + 2 : 0;
}

static void jl_error(jp *p, size_t pos, const char *msg)
{
    if (p->lex_err)
        return;
    p->lex_err = 1;
    p->err_pos = (uint32_t)pos;
    snprintf(p->lex_msg, sizeof p->lex_msg, "%s", msg);
}

/* Lexes the inside of {{ }} or {% %} from `pos`; returns the position after the end marker. */
static size_t jl_tag(jp *p, mg_vec *v, size_t pos, int block)
{
    char stack[64];
    size_t depth = 0;
    for (;;) {
        while (pos < p->len && jl_space(p->t[pos]))
            pos++;
        if (pos >= p->len) {
            jl_error(p, pos, block ? "ends inside a {% %} tag" : "ends inside a {{ }} tag");
            return pos;
        }
        /* the end marker counts only when brackets are balanced (lexer.py) */
        if (depth == 0) {
            size_t j = pos + ((p->t[pos] == '-' || p->t[pos] == '+') ? 1 : 0);
            if (jl_starts(p, j, block ? "%}" : "}}")) {
                jl_push(p, v, block ? T_BEND : T_VEND, p->t[pos] == '-', pos, j + 2 - pos);
                return j + 2;
            }
        }
        unsigned char c = (unsigned char)p->t[pos];
        size_t start = pos;
        if (jl_namec(c, 1)) {
            while (pos < p->len && jl_namec((unsigned char)p->t[pos], 0))
                pos++;
            if (jl_push(p, v, T_NAME, 0, start, pos - start) < 0)
                return p->len;
            continue;
        }
        if (c >= '0' && c <= '9') {
            int is_float = 0;
            if (c == '0' && pos + 1 < p->len && p->t[pos + 1] && strchr("bBoOxX", p->t[pos + 1])) {
                pos += 2;
                while (pos < p->len && (jl_namec((unsigned char)p->t[pos], 0)))
                    pos++;
            } else {
                while (pos < p->len && ((p->t[pos] >= '0' && p->t[pos] <= '9') || p->t[pos] == '_'))
                    pos++;
                /* "x.0.1" is two subscripts: no fraction right after a '.' token */
                int after_dot =
                    v->n && ((jtok *)v->items)[v->n - 1].type == T_OP && ((jtok *)v->items)[v->n - 1].op == '.';
                if (!after_dot && pos + 1 < p->len && p->t[pos] == '.' && p->t[pos + 1] >= '0' &&
                    p->t[pos + 1] <= '9') {
                    is_float = 1;
                    pos++;
                    while (pos < p->len && ((p->t[pos] >= '0' && p->t[pos] <= '9') || p->t[pos] == '_'))
                        pos++;
                }
                if (!after_dot && pos < p->len && (p->t[pos] == 'e' || p->t[pos] == 'E')) {
                    size_t j = pos + 1;
                    if (j < p->len && (p->t[j] == '+' || p->t[j] == '-'))
                        j++;
                    if (j < p->len && p->t[j] >= '0' && p->t[j] <= '9') {
                        is_float = 1;
                        pos = j;
                        while (pos < p->len && ((p->t[pos] >= '0' && p->t[pos] <= '9') || p->t[pos] == '_'))
                            pos++;
                    }
                }
            }
            if (jl_push(p, v, is_float ? T_FLOAT : T_INT, 0, start, pos - start) < 0)
                return p->len;
            continue;
        }
        if (c == '\'' || c == '"') {
            pos++;
            while (pos < p->len && p->t[pos] != (char)c)
                pos += p->t[pos] == '\\' ? 2 : 1;
            if (pos >= p->len) {
                jl_error(p, start, "has an unterminated string");
                return p->len;
            }
            pos++;
            if (jl_push(p, v, T_STRING, 0, start, pos - start) < 0)
                return p->len;
            continue;
        }
        static const char two[][3] = {"//", "**", "==", "!=", "<=", ">="};
        static const char code[] = {OP_FLOORDIV, OP_POW, OP_EQ, OP_NE, OP_LE, OP_GE};
        uint8_t op = 0;
        size_t oplen = 1;
        for (size_t k = 0; k < sizeof code; k++)
            if (jl_starts(p, pos, two[k])) {
                op = (uint8_t)code[k];
                oplen = 2;
            }
        if (!op && c && strchr("+-/*%~[](){}<>=.:|,;", c))
            op = c;
        if (!op) {
            jl_error(p, pos, "has an unexpected character");
            return p->len;
        }
        if (op == '(' || op == '[' || op == '{') {
            if (depth >= sizeof stack) {
                p->budget = 1;
                jl_error(p, pos, "nests brackets deeper than the analysis budget");
                return p->len;
            }
            stack[depth++] = (char)op;
        } else if (op == ')' || op == ']' || op == '}') {
            char want = op == ')' ? '(' : op == ']' ? '[' : '{';
            if (depth == 0 || stack[depth - 1] != want) {
                jl_error(p, pos, "has an unbalanced bracket");
                return p->len;
            }
            depth--;
        }
        if (jl_push(p, v, T_OP, op, pos, oplen) < 0)
            return p->len;
        pos += oplen;
    }
}

/* Marks whitespace control on the text tokens next to tags ({%- and -%}). */
static void jl_strip_marks(jp *p, jtok *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].type != T_TEXT)
            continue;
        if (i > 0 && (t[i - 1].type == T_VEND || t[i - 1].type == T_BEND) && t[i - 1].op)
            t[i].lstrip = 1;
        if (i + 1 < n && (t[i + 1].type == T_VBEGIN || t[i + 1].type == T_BBEGIN) && t[i + 1].op)
            t[i].rstrip = 1;
    }
}

static int jl_lex(jp *p)
{
    mg_vec v;
    mg_vec_init(&v, sizeof(jtok), &p->s->mem);
    size_t pos = 0;
    while (pos < p->len && !p->lex_err && !p->budget) {
        size_t k = pos;
        while (k + 1 < p->len && !(p->t[k] == '{' && (p->t[k + 1] == '{' || p->t[k + 1] == '%' || p->t[k + 1] == '#')))
            k++;
        if (k + 1 >= p->len) {
            jl_push(p, &v, T_TEXT, 0, pos, p->len - pos);
            break;
        }
        if (k > pos && jl_push(p, &v, T_TEXT, 0, pos, k - pos) < 0)
            break;
        char kind = p->t[k + 1];
        if (kind == '#') {
            size_t j = k + 2;
            while (j + 1 < p->len && !(p->t[j] == '#' && p->t[j + 1] == '}'))
                j++;
            if (j + 1 >= p->len) {
                jl_error(p, k, "has an unterminated comment");
                break;
            }
            pos = j + 2;
            continue;
        }
        size_t raw = kind == '%' ? jl_raw_open(p, k, "raw") : 0;
        if (raw) {
            size_t j = raw, end = 0;
            for (; j + 1 < p->len; j++)
                if (p->t[j] == '{' && p->t[j + 1] == '%' && (end = jl_raw_open(p, j, "endraw")) != 0)
                    break;
            if (!end) {
                jl_error(p, k, "has a raw block without endraw");
                break;
            }
            if (j > raw && jl_push(p, &v, T_TEXT, 0, raw, j - raw) < 0)
                break;
            pos = end;
            continue;
        }
        int block = kind == '%';
        size_t j = k + 2;
        uint8_t strip = 0;
        if (j < p->len && (p->t[j] == '-' || p->t[j] == '+')) {
            strip = p->t[j] == '-';
            j++;
        }
        if (jl_push(p, &v, block ? T_BBEGIN : T_VBEGIN, strip, k, j - k) < 0)
            break;
        pos = jl_tag(p, &v, j, block);
    }
    if (p->budget)
        jl_error(p, pos, "has more tokens than the analysis budget");
    if (jl_push(p, &v, p->lex_err ? T_ERR : T_EOF, 0, p->lex_err ? p->err_pos : p->len, 0) < 0 && !v.n)
        return -1;
    /* the last token must be EOF or ERR even when the budget refused a push */
    jtok *t = v.items;
    t[v.n - 1].type = p->lex_err ? T_ERR : T_EOF;
    t[v.n - 1].pos = p->lex_err ? p->err_pos : (uint32_t)p->len;
    jl_strip_marks(p, t, v.n);
    /* the tokens live as long as the scan: copy them into the arena */
    p->tok = mg_arena_alloc(&p->s->work, v.n * sizeof(jtok));
    if (p->tok)
        memcpy(p->tok, v.items, v.n * sizeof(jtok));
    p->ntok = v.n;
    mg_vec_free(&v);
    return p->tok ? 0 : -1;
}

/* ---- parser plumbing ---- */

static jtok *cur(jp *p)
{
    return &p->tok[p->i];
}
static jtok *peek(jp *p, size_t k)
{
    return &p->tok[p->i + k < p->ntok ? p->i + k : p->ntok - 1];
}
static void adv(jp *p)
{
    if (p->i + 1 < p->ntok)
        p->i++;
}
static int is_op(jp *p, int op)
{
    return cur(p)->type == T_OP && cur(p)->op == op;
}
static int tok_is(const jp *p, const jtok *t, const char *name)
{
    size_t n = strlen(name);
    return t->type == T_NAME && t->len == n && memcmp(p->t + t->pos, name, n) == 0;
}
static int is_name(jp *p, const char *name)
{
    return tok_is(p, cur(p), name);
}
static mg_str tok_str(const jp *p, const jtok *t)
{
    return (mg_str){p->t + t->pos, t->len};
}

/* A syntax error: remembered once, and the cursor jumps to the end so every loop stops. */
__attribute__((format(printf, 3, 4))) static void fail(jp *p, uint32_t pos, const char *fmt, ...)
{
    if (!p->err) {
        p->err = 1;
        if (p->tok[p->i].type == T_ERR) { /* the parser ran into where the lexer stopped: its reason wins */
            p->err_pos = p->tok[p->i].pos;
            snprintf(p->err_msg, sizeof p->err_msg, "%s", p->lex_msg);
        } else {
            p->err_pos = pos;
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err_msg, sizeof p->err_msg, fmt, ap);
            va_end(ap);
        }
    }
    p->i = p->ntok - 1;
}

static const char *tok_desc(jp *p, char *buf, size_t cap)
{
    jtok *t = cur(p);
    switch (t->type) {
    case T_EOF:
    case T_ERR:
        return "the end of the template";
    case T_VEND:
        return "'}}'";
    case T_BEND:
        return "'%}'";
    default: {
        char tmp[40];
        snprintf(buf, cap, "'%s'", jj_show(tmp, sizeof tmp, p->t + t->pos, t->len));
        return buf;
    }
    }
}

static void expect_op(jp *p, int op)
{
    if (is_op(p, op)) {
        adv(p);
        return;
    }
    char b[64];
    fail(p, cur(p)->pos, "expected '%c', got %s", op, tok_desc(p, b, sizeof b));
}

static void expect_type(jp *p, int type, const char *what)
{
    if (cur(p)->type == type) {
        adv(p);
        return;
    }
    char b[64];
    fail(p, cur(p)->pos, "expected %s, got %s", what, tok_desc(p, b, sizeof b));
}

static mg_str expect_name(jp *p)
{
    if (cur(p)->type == T_NAME) {
        mg_str s = tok_str(p, cur(p));
        adv(p);
        return s;
    }
    char b[64];
    fail(p, cur(p)->pos, "expected a name, got %s", tok_desc(p, b, sizeof b));
    return (mg_str){"", 0};
}

static int enter(jp *p)
{
    if (++p->depth > JJ_MAX_DEPTH) {
        p->budget = 1;
        fail(p, cur(p)->pos, "nests deeper than the analysis budget (%u)", JJ_MAX_DEPTH);
        return -1;
    }
    return 0;
}
static void leave(jp *p)
{
    p->depth--;
}

/* ---- values ---- */

static jv v_unk(void)
{
    jv v;
    memset(&v, 0, sizeof v);
    return v;
}
static jv v_kind(int kind)
{
    jv v = v_unk();
    v.kind = (uint8_t)kind;
    return v;
}
static jv v_int(int64_t i)
{
    jv v = v_kind(J_INT);
    v.i = i;
    return v;
}

/* A constant string (copied into the arena); "built" when too long or out of memory. */
static jv v_str(jp *p, const char *s, size_t n)
{
    /* folding `'a' ~ 'a' ~ ...` is quadratic: past the budget, strings are "built" */
    if (n > JJ_MAX_STR || n > JJ_FOLD_BUDGET - p->folded)
        return v_kind(J_BUILT);
    p->folded += n;
    char *c = mg_arena_alloc(&p->s->work, n + 1);
    if (!c)
        return v_kind(J_BUILT);
    if (n)
        memcpy(c, s, n);
    c[n] = 0;
    jv v = v_kind(J_STR);
    v.s = c;
    v.n = n;
    return v;
}

/* Charges folding work to the template's budget; 0 when it fits. */
static int fold_take(jp *p, size_t n)
{
    if (n > JJ_FOLD_BUDGET - p->folded)
        return -1;
    p->folded += n;
    return 0;
}

static jv v_list(jp *p, const jv *items, size_t n, int tuple)
{
    if (n > JJ_MAX_LIST)
        return v_unk();
    jv v = v_kind(J_LIST);
    v.tuple = (uint8_t)tuple;
    if (n) {
        v.items = mg_arena_alloc(&p->s->work, n * sizeof(jv));
        if (!v.items)
            return v_unk();
        memcpy(v.items, items, n * sizeof(jv));
    }
    v.nitems = (uint32_t)n;
    return v;
}

/* Python internal names: "__x__" (special names are lowercase: '__END__'
 * is a marker, not one) and class-private "_Class__x". Used where a string
 * is stored, passed or used as a key, rather than as an attribute name
 * (where any leading '_' counts, as in Jinja's sandbox). */
static int is_internal(const char *s, size_t n)
{
    if (n < 3 || s[0] != '_')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!jl_namec((unsigned char)s[i], 0) || (unsigned char)s[i] >= 0x80)
            return 0;
    if (s[1] == '_') {
        for (size_t i = 2; i < n; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                return 0;
        return n >= 5 && s[n - 1] == '_' && s[n - 2] == '_' && s[2] != '_';
    }
    for (size_t i = 2; i + 1 < n; i++)
        if (s[i] == '_' && s[i + 1] == '_')
            return 1;
    return 0;
}

static int v_internal(const jv *v)
{
    if (v->kind == J_STR)
        return is_internal(v->s, v->n);
    if (v->kind == J_LIST)
        for (uint32_t k = 0; k < v->nitems; k++)
            if (v_internal(&v->items[k]))
                return 1;
    return v->dunder;
}

/* Either of two values (a conditional, `or`, |default): keep what matters most. */
static jv v_either(jv a, jv b)
{
    if (a.kind == J_STR && b.kind == J_STR && a.n == b.n && memcmp(a.s, b.s, a.n) == 0)
        return a;
    if (v_internal(&a) && a.kind == J_STR)
        return a;
    if (v_internal(&b) && b.kind == J_STR)
        return b;
    if (a.kind == J_GADGET)
        return a;
    if (b.kind == J_GADGET)
        return b;
    jv r = v_unk();
    if (a.kind == J_BUILT || b.kind == J_BUILT)
        r.kind = J_BUILT;
    r.dunder = (uint8_t)(a.dunder | b.dunder | v_internal(&a) | v_internal(&b));
    return r;
}

/* The text of a constant (str() of a string or an integer); 0 when not constant. */
static int v_text(const jv *v, char *ibuf, size_t cap, const char **s, size_t *n)
{
    if (v->kind == J_STR) {
        *s = v->s;
        *n = v->n;
        return 1;
    }
    if (v->kind == J_INT) {
        int k = snprintf(ibuf, cap, "%lld", (long long)v->i);
        *s = ibuf;
        *n = (size_t)(k < 0 ? 0 : k);
        return 1;
    }
    return 0;
}

static int v_stringish(const jv *v)
{
    return v->kind == J_STR || v->kind == J_BUILT;
}

/* Result of an operation on strings whose value cannot be folded. */
static jv v_built_from(const jv *a, const jv *b)
{
    jv r = v_kind(J_BUILT);
    r.dunder = (uint8_t)(a->dunder | (b ? b->dunder : 0));
    return r;
}

/* ---- UTF-8 code points, for per-character operations on constants ---- */

static size_t u8_next(const char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + len > n)
        len = 1;
    for (size_t k = 1; k < len; k++)
        if (((unsigned char)s[i + k] & 0xc0) != 0x80)
            len = 1;
    *cp = c;
    if (len > 1) {
        *cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++)
            *cp = (*cp << 6) | ((unsigned char)s[i + k] & 0x3f);
    }
    return len;
}

static size_t u8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Character boundaries of a constant: offsets of each character start, plus
 * the end. Pure ASCII (the usual case) needs no table: *ascii is set and
 * character k is byte k. */
static size_t *u8_index(jp *p, const char *s, size_t n, size_t *count, int *ascii)
{
    *ascii = 1;
    for (size_t i = 0; i < n && *ascii; i++)
        *ascii = (unsigned char)s[i] < 0x80;
    *count = n;
    if (*ascii)
        return NULL;
    if (fold_take(p, (n + 1) * sizeof(size_t)) < 0)
        return NULL;
    size_t *ix = mg_arena_alloc(&p->s->work, (n + 1) * sizeof(size_t));
    if (!ix)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        ix[k++] = i;
        i += u8_next(s, n, i, &cp);
    }
    ix[k] = n;
    *count = k;
    return ix;
}

/* Character `i` (Python indexing, negative from the end) of a string or list. */
static jv v_index(jp *p, const jv *o, int64_t i)
{
    if (o->kind == J_LIST) {
        int64_t n = o->nitems;
        if (i < 0)
            i += n;
        return i >= 0 && i < n ? o->items[i] : v_unk();
    }
    size_t cnt;
    int ascii;
    size_t *ix = u8_index(p, o->s, o->n, &cnt, &ascii);
    if (!ix && !ascii)
        return v_kind(J_BUILT);
    if (i < 0)
        i += (int64_t)cnt;
    if (i < 0 || (uint64_t)i >= cnt)
        return v_unk();
    return ascii ? v_str(p, o->s + i, 1) : v_str(p, o->s + ix[i], ix[i + 1] - ix[i]);
}

/* Python slicing [a:b:c] of a constant string or list. */
static jv v_slice(jp *p, const jv *o, const jv *sl)
{
    int64_t n;
    size_t *ix = NULL;
    int ascii = 1;
    if (o->kind == J_STR) {
        size_t cnt;
        ix = u8_index(p, o->s, o->n, &cnt, &ascii);
        if (!ix && !ascii)
            return v_kind(J_BUILT);
        n = (int64_t)cnt;
    } else {
        n = o->nitems;
    }
    for (int k = 0; k < 3; k++)
        if (sl[k].kind != J_INT && sl[k].kind != J_UNK)
            return o->kind == J_STR ? v_kind(J_BUILT) : v_unk();
    int64_t step = sl[2].kind == J_INT ? sl[2].i : 1;
    if (step == 0)
        return v_unk();
    int64_t lo, hi;
    if (step > 0) {
        lo = sl[0].kind == J_INT ? sl[0].i : 0;
        hi = sl[1].kind == J_INT ? sl[1].i : n;
        lo = lo < 0 ? (lo + n < 0 ? 0 : lo + n) : (lo > n ? n : lo);
        hi = hi < 0 ? (hi + n < 0 ? 0 : hi + n) : (hi > n ? n : hi);
    } else {
        lo = sl[0].kind == J_INT ? sl[0].i : n - 1;
        hi = sl[1].kind == J_INT ? sl[1].i : -1 - n;
        lo = lo < 0 ? (lo + n < 0 ? -1 : lo + n) : (lo >= n ? n - 1 : lo);
        hi = hi < 0 ? (hi + n < 0 ? -1 : hi + n) : (hi >= n ? n - 1 : hi);
    }
    if (o->kind == J_LIST) {
        jv tmp[64];
        size_t k = 0;
        for (int64_t i = lo; (step > 0 ? i < hi : i > hi) && k < 64; i += step)
            tmp[k++] = o->items[i];
        return v_list(p, tmp, k, 0);
    }
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
        if (ascii)
            mg_buf_addc(&b, o->s[i]);
        else
            mg_buf_add(&b, o->s + ix[i], ix[i + 1] - ix[i]);
    }
    jv r = b.oom ? v_kind(J_BUILT) : v_str(p, b.p ? b.p : "", b.len);
    mg_buf_free(&b);
    return r;
}

static jv v_reverse(jp *p, const jv *o)
{
    jv sl[3] = {v_unk(), v_unk(), v_int(-1)};
    return v_slice(p, o, sl);
}

/* ---- symbols ---- */

static uint64_t sym_hash(mg_str n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n.len; i++)
        h = (h ^ (unsigned char)n.p[i]) * 1099511628211ull;
    return h;
}

/* The slot of `name`, creating it when `create`; NULL when absent or full. */
static jsym *sym_get(jp *p, mg_str name, int create)
{
    if (!p->syms || name.len == 0)
        return NULL;
    size_t mask = p->nslots - 1;
    for (size_t i = (size_t)sym_hash(name) & mask, probes = 0; probes < p->nslots; i = (i + 1) & mask, probes++) {
        jsym *y = &p->syms[i];
        if (y->name.len == 0) {
            if (!create)
                return NULL;
            if (p->nsyms * 4 >= p->nslots * 3) {
                p->budget = 1;
                return NULL;
            }
            char *c = mg_arena_strndup(&p->s->work, name.p, name.len);
            if (!c)
                return NULL;
            y->name = (mg_str){c, name.len};
            p->nsyms++;
            return y;
        }
        if (y->name.len == name.len && memcmp(y->name.p, name.p, name.len) == 0)
            return y;
    }
    return NULL;
}

/* "ns.attr" for namespace attributes, in a caller's buffer. */
static mg_str sym_dotted(char *buf, size_t cap, mg_str a, mg_str b)
{
    if (a.len + b.len + 1 >= cap)
        return (mg_str){"", 0};
    memcpy(buf, a.p, a.len);
    buf[a.len] = '.';
    memcpy(buf + a.len + 1, b.p, b.len);
    return (mg_str){buf, a.len + b.len + 1};
}

/* What a template ever stored in a variable, across passes (only grows). */
static void sym_merge(jp *p, jsym *y, const jv *v)
{
    uint8_t built = v->kind == J_BUILT, dunder = (uint8_t)v_internal(v);
    if (v->kind == J_LIST)
        for (uint32_t k = 0; k < v->nitems; k++)
            built |= v->items[k].kind == J_BUILT;
    if ((built && !y->ever_built) || (dunder && !y->ever_dunder) || !y->bound)
        p->changed++;
    y->ever_built |= built;
    y->ever_dunder |= dunder;
    y->bound = 1;
}

static void sym_read(jp *p, jsym *y, jv *out)
{
    (void)p;
    jv v = y->has_cur ? y->cur : v_unk();
    if (y->ever_built && v.kind != J_STR && v.kind != J_GADGET)
        v.kind = J_BUILT;
    if (y->ever_dunder)
        v.dunder = 1;
    *out = v;
}

static void assign(jp *p, mg_str name, jv v, uint32_t pos);

static void assign_ns_fields(jp *p, mg_str name, const jv *v, uint32_t pos)
{
    for (uint32_t k = 0; k < v->nitems; k++) {
        char buf[256];
        mg_str key = sym_dotted(buf, sizeof buf, name, v->keys[k]);
        if (key.len)
            assign(p, key, v->items[k], pos);
    }
}

static void assign(jp *p, mg_str name, jv v, uint32_t pos)
{
    if (v.kind == J_STR && is_internal(v.s, v.n)) {
        char b[64];
        jj_bad(p, pos, jj_show(b, sizeof b, v.s, v.n), "stores the Python internal name '%s' in a variable", b);
    }
    jsym *y = sym_get(p, name, 1);
    if (!y)
        return;
    v.var = (mg_str){"", 0};
    y->cur = v;
    y->has_cur = 1;
    sym_merge(p, y, &v);
    if (v.kind == J_NS)
        assign_ns_fields(p, name, &v, pos);
}

/* Binding where the value is one of a list's items (for loops). */
static void bind_each(jp *p, mg_str name, const jv *iter)
{
    jsym *y = sym_get(p, name, 1);
    if (!y)
        return;
    jv v = v_unk();
    if (iter->kind == J_BUILT)
        v.kind = J_BUILT;
    v.dunder = (uint8_t)v_internal(iter);
    y->cur = v;
    y->has_cur = 1;
    sym_merge(p, y, &v);
}

static int gadget_of(mg_str name)
{
    for (size_t g = 0; g < sizeof jj_gadgets / sizeof jj_gadgets[0]; g++)
        if (mg_str_eq(name, jj_gadgets[g]))
            return (int)g;
    return -1;
}

static jv read_name(jp *p, mg_str name)
{
    jv v = v_unk();
    jsym *y = sym_get(p, name, 0);
    int g = gadget_of(name);
    if (y && y->bound) {
        sym_read(p, y, &v);
        if (y->is_macro) {
            v.kind = J_MACRO;
            v.sym = (uint32_t)(y - p->syms);
        }
    } else if (g >= 0) {
        v.kind = J_GADGET;
        v.gadget = (uint8_t)g;
    }
    v.var = name;
    return v;
}

/* ---- checks ---- */

/* An attribute name (x.name, attr('name'), one part of 'a.b' paths). */
static void check_attr_name(jp *p, const jv *obj, const char *name, size_t n, uint32_t pos, const char *how)
{
    char b[64];
    if (n && name[0] == '_') {
        jj_exec(p, pos, jj_show(b, sizeof b, name, n), "reaches Python internals: %s '%s'", how, b);
        return;
    }
    if (obj && obj->kind == J_GADGET)
        jj_exec(p, pos, jj_gadgets[obj->gadget], "takes attribute '%s' of '%s', a known template-injection gadget",
                jj_show(b, sizeof b, name, n), jj_gadgets[obj->gadget]);
}

/* A name given as a value (attr('x'), attribute='a.b'): constant or not. */
static void check_attr_value(jp *p, const jv *obj, const jv *name, uint32_t pos, const char *how, int dotted)
{
    if (name->dunder) {
        jj_exec(p, pos, how, "reaches Python internals: %s with a name that holds a Python internal name", how);
        return;
    }
    if (name->kind == J_STR) {
        size_t start = 0;
        for (size_t i = 0; i <= name->n; i++)
            if (i == name->n || (dotted && name->s[i] == '.')) {
                check_attr_name(p, obj, name->s + start, i - start, pos, how);
                start = i + 1;
            }
        return;
    }
    if (name->kind == J_INT)
        return;
    if (v_internal(name))
        jj_exec(p, pos, how, "reaches Python internals: %s with a name that holds a Python internal name", how);
    else
        jj_bad(p, pos, how, "uses %s with a name chosen at render time", how);
}

/* A subscript key (Jinja falls back from x[key] to getattr(x, key)). */
static void check_key(jp *p, const jv *obj, const jv *key, uint32_t pos)
{
    char b[64];
    if (key->dunder) {
        jj_exec(p, pos, "[]", "reaches Python internals: a subscript whose key holds a Python internal name");
        return;
    }
    if (key->kind == J_STR) {
        /* x['_k'] is a dict lookup first; Jinja falls back to getattr, so
         * internal names are code, other private-looking keys suspicious */
        if (is_internal(key->s, key->n))
            jj_exec(p, pos, jj_show(b, sizeof b, key->s, key->n), "reaches Python internals: subscript ['%s']", b);
        else if (key->n && key->s[0] == '_')
            jj_bad(p, pos, jj_show(b, sizeof b, key->s, key->n), "uses the private-looking subscript ['%s']", b);
        else if (obj->kind == J_GADGET)
            jj_exec(p, pos, jj_gadgets[obj->gadget], "takes item '%s' of '%s', a known template-injection gadget",
                    jj_show(b, sizeof b, key->s, key->n), jj_gadgets[obj->gadget]);
        return;
    }
    if (v_internal(key))
        jj_exec(p, pos, "[]", "reaches Python internals: a subscript whose key holds a Python internal name");
    else if (key->kind == J_BUILT)
        jj_bad(p, pos, "[]", "uses a subscript key the template builds at render time (a way to spell internal names)");
    else if (obj->kind == J_GADGET)
        jj_bad(p, pos, jj_gadgets[obj->gadget],
               "subscripts '%s', a known template-injection gadget, with a key "
               "chosen at render time",
               jj_gadgets[obj->gadget]);
}

/* Arguments passed to calls and filters we do not fold: internal names
 * there serve only a lookup somewhere else. */
static void check_passed(jp *p, const jv *args, size_t n, uint32_t pos)
{
    for (size_t k = 0; k < n; k++)
        if (args[k].kind == J_STR && is_internal(args[k].s, args[k].n)) {
            char b[64];
            jj_bad(p, pos, jj_show(b, sizeof b, args[k].s, args[k].n), "passes the Python internal name '%s' to a call",
                   b);
        }
}

/* ---- string folding ---- */

typedef struct jargs {
    jv pos[JJ_MAX_ARGS];
    size_t npos;
    mg_str kname[JJ_MAX_ARGS];
    jv kval[JJ_MAX_ARGS];
    size_t nkw;
    int dyn; /* *args or **kwargs: arguments unknown */
    uint32_t at;
} jargs;

static const jv *kwarg(const jargs *a, const char *name)
{
    for (size_t k = 0; k < a->nkw; k++)
        if (mg_str_eq(a->kname[k], name))
            return &a->kval[k];
    return NULL;
}

static const jv *arg_at(const jargs *a, size_t i, const char *name)
{
    if (i < a->npos)
        return &a->pos[i];
    return name ? kwarg(a, name) : NULL;
}

static jv concat2(jp *p, const jv *a, const jv *b)
{
    char ia[32], ib[32];
    const char *sa, *sb;
    size_t na, nb;
    if (!v_text(a, ia, sizeof ia, &sa, &na) || !v_text(b, ib, sizeof ib, &sb, &nb))
        return v_built_from(a, b);
    if (na + nb > JJ_MAX_STR || na + nb > JJ_FOLD_BUDGET - p->folded)
        return v_kind(J_BUILT);
    p->folded += na + nb;
    char *c = mg_arena_alloc(&p->s->work, na + nb + 1);
    if (!c)
        return v_kind(J_BUILT);
    memcpy(c, sa, na);
    memcpy(c + na, sb, nb);
    c[na + nb] = 0;
    jv r = v_kind(J_STR);
    r.s = c;
    r.n = na + nb;
    return r;
}

static jv repeat(jp *p, const jv *s, int64_t times)
{
    if (times <= 0)
        return v_str(p, "", 0);
    if (s->n == 0)
        return v_str(p, "", 0);
    if ((uint64_t)times > JJ_MAX_STR / s->n)
        return v_kind(J_BUILT);
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    for (int64_t k = 0; k < times; k++)
        mg_buf_add(&b, s->s, s->n);
    jv r = b.oom ? v_kind(J_BUILT) : v_str(p, b.p ? b.p : "", b.len);
    mg_buf_free(&b);
    return r;
}

/* One conversion of Python's % or str.format: s, c, d, x, o (others: not folded). */
static int fmt_one(mg_buf *b, char conv, const jv *arg)
{
    char tmp[40];
    const char *s;
    size_t n;
    switch (conv) {
    case 's':
        if (!v_text(arg, tmp, sizeof tmp, &s, &n))
            return -1;
        return mg_buf_add(b, s, n);
    case 'c':
        if (arg->kind == J_INT && arg->i >= 0 && arg->i <= 0x10ffff) {
            size_t k = u8_put(tmp, (uint32_t)arg->i);
            return mg_buf_add(b, tmp, k);
        }
        if (arg->kind == J_STR) {
            uint32_t cp;
            if (arg->n && u8_next(arg->s, arg->n, 0, &cp) == arg->n)
                return mg_buf_add(b, arg->s, arg->n);
        }
        return -1;
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        if (arg->kind != J_INT)
            return -1;
        snprintf(tmp, sizeof tmp,
                 conv == 'x'   ? "%llx"
                 : conv == 'X' ? "%llX"
                 : conv == 'o' ? "%llo"
                               : "%lld",
                 (long long)arg->i);
        return mg_buf_add(b, tmp, strlen(tmp));
    default:
        return -1;
    }
}

/* Python's `fmt % args` (and Jinja's |format filter). */
static jv percent(jp *p, const jv *fmt, const jv *args, size_t nargs)
{
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    size_t ai = 0;
    int ok = 1;
    for (size_t i = 0; ok && i < fmt->n; i++) {
        char ch = fmt->s[i];
        if (ch != '%') {
            mg_buf_addc(&b, ch);
            continue;
        }
        if (++i >= fmt->n) {
            ok = 0;
            break;
        }
        if (fmt->s[i] == '%') {
            mg_buf_addc(&b, '%');
            continue;
        }
        /* flags, width, precision and mapping keys: not folded */
        if (!strchr("scdiuxXo", fmt->s[i]) || ai >= nargs || fmt_one(&b, fmt->s[i], &args[ai++]) < 0)
            ok = 0;
    }
    if (ai != nargs)
        ok = 0;
    jv r = ok && !b.oom ? v_str(p, b.p ? b.p : "", b.len) : v_built_from(fmt, NULL);
    mg_buf_free(&b);
    return r;
}

/* str.format: folds {} {0} {name} with :c :s :d specs, and flags fields
 * that walk attributes or items ('{0.__class__}'), which str.format does
 * outside the sandbox. */
static jv strformat(jp *p, const jv *fmt, const jargs *a)
{
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    int ok = !a->dyn;
    size_t autoi = 0;
    const char *s = fmt->s;
    size_t n = fmt->n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '}' && i + 1 < n && s[i + 1] == '}') {
            mg_buf_addc(&b, '}');
            i++;
            continue;
        }
        if (s[i] != '{') {
            mg_buf_addc(&b, s[i]);
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            mg_buf_addc(&b, '{');
            i++;
            continue;
        }
        size_t j = i + 1, f0 = j;
        while (j < n && s[j] != '}' && s[j] != '.' && s[j] != '[' && s[j] != '!' && s[j] != ':')
            j++;
        mg_str field = {s + f0, j - f0};
        /* attribute and item chains inside the field */
        int chain = 0;
        while (j < n && (s[j] == '.' || s[j] == '[')) {
            char open = s[j++];
            size_t k0 = j;
            while (j < n && s[j] != '}' && s[j] != '.' && s[j] != '[' && s[j] != ']' && s[j] != '!' && s[j] != ':')
                j++;
            if (j > k0 && s[k0] == '_') {
                char bb[64];
                jj_exec(p, a->at, jj_show(bb, sizeof bb, s + k0, j - k0),
                        "reaches Python internals: str.format field walks '%s'", bb);
            }
            if (open == '[' && j < n && s[j] == ']')
                j++;
            chain = 1;
        }
        char conv = 's';
        if (j + 1 < n && s[j] == '!') {
            if (s[j + 1] != 's')
                ok = 0;
            j += 2;
        }
        if (j < n && s[j] == ':') {
            size_t k0 = ++j;
            while (j < n && s[j] != '}')
                j++;
            if (j - k0 == 1 && strchr("scd", s[k0]))
                conv = s[k0];
            else if (j > k0)
                ok = 0;
        }
        if (j >= n || chain)
            ok = 0;
        const jv *arg = NULL;
        if (field.len == 0)
            arg = arg_at(a, autoi++, NULL);
        else if (field.len == 1 && field.p[0] >= '0' && field.p[0] <= '9')
            arg = arg_at(a, (size_t)(field.p[0] - '0'), NULL);
        else
            for (size_t k = 0; k < a->nkw; k++)
                if (a->kname[k].len == field.len && memcmp(a->kname[k].p, field.p, field.len) == 0)
                    arg = &a->kval[k];
        if (ok && (!arg || fmt_one(&b, conv, arg) < 0))
            ok = 0;
        i = j;
    }
    jv r = ok && !b.oom ? v_str(p, b.p ? b.p : "", b.len) : v_built_from(fmt, NULL);
    mg_buf_free(&b);
    return r;
}

static jv replace(jp *p, const jv *s, const jv *old, const jv *new, const jv *count)
{
    if (s->kind != J_STR || old->kind != J_STR || new->kind != J_STR || (count && count->kind != J_INT))
        return v_built_from(s, NULL);
    int64_t left = count ? count->i : -1;
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    for (size_t i = 0; i <= s->n;) {
        if (left != 0 && (old->n == 0 || (i + old->n <= s->n && memcmp(s->s + i, old->s, old->n) == 0))) {
            mg_buf_add(&b, new->s, new->n);
            if (left > 0)
                left--;
            if (old->n) {
                i += old->n;
                continue;
            }
        }
        if (i < s->n)
            mg_buf_addc(&b, s->s[i]);
        i++;
    }
    jv r = b.oom ? v_kind(J_BUILT) : v_str(p, b.p ? b.p : "", b.len);
    mg_buf_free(&b);
    return r;
}

static jv join(jp *p, const jv *list, const jv *sep)
{
    if (list->kind == J_STR)
        return *list; /* joining a string's characters gives it back (without a separator) */
    if (list->kind != J_LIST)
        return v_built_from(list, NULL);
    mg_buf b;
    mg_buf_init(&b, JJ_MAX_STR);
    int ok = 1;
    char tmp[32];
    const char *ss = "", *s;
    size_t sn = 0, n;
    if (sep && !v_text(sep, tmp, sizeof tmp, &ss, &sn))
        ok = 0;
    for (uint32_t k = 0; ok && k < list->nitems; k++) {
        char t2[32];
        if (k)
            mg_buf_add(&b, ss, sn);
        if (v_text(&list->items[k], t2, sizeof t2, &s, &n))
            mg_buf_add(&b, s, n);
        else
            ok = 0;
    }
    jv r = ok && !b.oom ? v_str(p, b.p ? b.p : "", b.len) : v_kind(J_BUILT);
    if (!ok)
        r.dunder = (uint8_t)v_internal(list);
    mg_buf_free(&b);
    return r;
}

static jv chars(jp *p, const jv *s)
{
    size_t cnt;
    int ascii;
    size_t *ix = u8_index(p, s->s, s->n, &cnt, &ascii);
    if ((!ix && !ascii) || cnt > JJ_MAX_LIST || fold_take(p, (cnt ? cnt : 1) * sizeof(jv)) < 0)
        return v_kind(J_BUILT);
    jv *items = mg_arena_alloc(&p->s->work, (cnt ? cnt : 1) * sizeof(jv));
    if (!items)
        return v_kind(J_BUILT);
    for (size_t k = 0; k < cnt; k++)
        items[k] = ascii ? v_str(p, s->s + k, 1) : v_str(p, s->s + ix[k], ix[k + 1] - ix[k]);
    jv r = v_kind(J_LIST);
    r.items = items;
    r.nitems = (uint32_t)cnt;
    return r;
}

static jv casemap(jp *p, const jv *s, int mode) /* 0 lower, 1 upper, 2 swap, 3 capitalize */
{
    jv r = v_str(p, s->s, s->n);
    if (r.kind != J_STR)
        return r;
    char *c = (char *)r.s;
    for (size_t i = 0; i < r.n; i++) {
        int lo = c[i] >= 'a' && c[i] <= 'z', up = c[i] >= 'A' && c[i] <= 'Z';
        int to_up = mode == 1 || (mode == 2 && lo) || (mode == 3 && i == 0);
        int to_lo = mode == 0 || (mode == 2 && up) || (mode == 3 && i > 0);
        if (to_up && lo)
            c[i] = (char)(c[i] - 'a' + 'A');
        else if (to_lo && up)
            c[i] = (char)(c[i] - 'A' + 'a');
    }
    return r;
}

static jv strip(jp *p, const jv *s, const jv *set, int left, int right)
{
    const char *chars_ = " \t\n\r\f\v";
    size_t nc = 6;
    if (set && set->kind == J_STR) {
        chars_ = set->s;
        nc = set->n;
    } else if (set && set->kind != J_UNK) {
        return v_built_from(s, NULL);
    }
    size_t a = 0, b = s->n;
    while (left && a < b && memchr(chars_, s->s[a], nc))
        a++;
    while (right && b > a && memchr(chars_, s->s[b - 1], nc))
        b--;
    return v_str(p, s->s + a, b - a);
}

/* Methods of constant strings (and what they give on built strings). */
static jv str_method(jp *p, const jv *recv, mg_str m, const jargs *a)
{
    const jv *a0 = arg_at(a, 0, NULL), *a1 = arg_at(a, 1, NULL), *a2 = arg_at(a, 2, NULL);
    if (recv->kind != J_STR || a->dyn)
        return v_built_from(recv, NULL);
    if (mg_str_eq(m, "format"))
        return strformat(p, recv, a);
    if (mg_str_eq(m, "join") && a0)
        return join(p, a0, recv);
    if (mg_str_eq(m, "replace") && a0 && a1)
        return replace(p, recv, a0, a1, a2);
    if (mg_str_eq(m, "lower") || mg_str_eq(m, "casefold"))
        return casemap(p, recv, 0);
    if (mg_str_eq(m, "upper"))
        return casemap(p, recv, 1);
    if (mg_str_eq(m, "swapcase"))
        return casemap(p, recv, 2);
    if (mg_str_eq(m, "capitalize"))
        return casemap(p, recv, 3);
    if (mg_str_eq(m, "strip"))
        return strip(p, recv, a0, 1, 1);
    if (mg_str_eq(m, "lstrip"))
        return strip(p, recv, a0, 1, 0);
    if (mg_str_eq(m, "rstrip"))
        return strip(p, recv, a0, 0, 1);
    if ((mg_str_eq(m, "removeprefix") || mg_str_eq(m, "removesuffix")) && a0 && a0->kind == J_STR) {
        int pre = m.p[6] == 'p';
        if (a0->n <= recv->n && memcmp(pre ? recv->s : recv->s + recv->n - a0->n, a0->s, a0->n) == 0)
            return v_str(p, pre ? recv->s + a0->n : recv->s, recv->n - a0->n);
        return *recv;
    }
    if (mg_str_eq(m, "startswith") || mg_str_eq(m, "endswith") || mg_str_eq(m, "find") || mg_str_eq(m, "count") ||
        mg_str_eq(m, "index") || mg_str_eq(m, "isdigit") || mg_str_eq(m, "isspace"))
        return v_unk();
    return v_built_from(recv, NULL);
}

/* ---- filters ---- */

static int filter_is(mg_str n, const char *const *names)
{
    for (; *names; names++)
        if (mg_str_eq(n, *names))
            return 1;
    return 0;
}

/* The attribute arguments of Jinja's filters (make_attrgetter: dotted paths). */
static void filter_attrs(jp *p, mg_str f, const jargs *a, uint32_t pos)
{
    static const struct {
        const char *filter;
        int posi; /* positional index of the attribute, -1 none */
    } t[] = {{"selectattr", 0}, {"rejectattr", 0}, {"groupby", 0}, {"sum", 0}, {"map", -1},
             {"sort", 2},       {"unique", 1},     {"min", 1},     {"max", 1}, {"join", -1}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        if (!mg_str_eq(f, t[k].filter))
            continue;
        const jv *v = kwarg(a, "attribute");
        if (!v && t[k].posi >= 0 && (size_t)t[k].posi < a->npos)
            v = &a->pos[t[k].posi];
        if (v)
            check_attr_value(p, NULL, v, pos, "a filter's attribute", 1);
    }
    /* map('attr', name) applies attr() to each item */
    if (mg_str_eq(f, "map") && a->npos >= 2 && a->pos[0].kind == J_STR && a->pos[0].n == 4 &&
        memcmp(a->pos[0].s, "attr", 4) == 0)
        check_attr_value(p, NULL, &a->pos[1], pos, "map('attr')", 0);
}

static jv apply_filter(jp *p, mg_str f, jv in, const jargs *a, uint32_t pos)
{
    static const char *const checked[] = {
        "attr",  "map",    "selectattr", "rejectattr", "groupby", "sum",    "sort",       "unique", "min",  "max",
        "join",  "format", "replace",    "default",    "d",       "string", "list",       "first",  "last", "reverse",
        "lower", "upper",  "trim",       "safe",       "e",       "escape", "capitalize", "int",    NULL};
    const jv *a0 = arg_at(a, 0, NULL);
    filter_attrs(p, f, a, pos);
    if (!filter_is(f, checked))
        check_passed(p, a->pos, a->npos, pos);
    if (mg_str_eq(f, "attr")) {
        if (a0)
            check_attr_value(p, &in, a0, pos, "attr()", 0);
        return in.kind == J_BUILT || in.kind == J_STR ? v_kind(J_BUILT) : v_unk();
    }
    if (in.kind == J_GADGET)
        return mg_str_eq(f, "string") ? v_kind(J_BUILT) : v_unk();
    if (mg_str_eq(f, "default") || mg_str_eq(f, "d"))
        return in.kind == J_UNK && !in.dunder && a0 ? v_either(in, *a0) : in;
    if (mg_str_eq(f, "safe") ||
        ((mg_str_eq(f, "e") || mg_str_eq(f, "escape")) && in.kind == J_STR && !memchr(in.s, '<', in.n) &&
         !memchr(in.s, '&', in.n) && !memchr(in.s, '>', in.n) && !memchr(in.s, '\'', in.n) && !memchr(in.s, '"', in.n)))
        return in;
    if (in.kind == J_STR || in.kind == J_INT) {
        if (mg_str_eq(f, "string"))
            return concat2(p, &in, &(jv){.kind = J_STR, .s = "", .n = 0});
        if (in.kind == J_INT)
            return mg_str_eq(f, "int") ? in : v_built_from(&in, NULL);
        if (mg_str_eq(f, "format"))
            return a->dyn ? v_kind(J_BUILT) : percent(p, &in, a->pos, a->npos);
        if (mg_str_eq(f, "replace") && a0 && arg_at(a, 1, NULL))
            return replace(p, &in, a0, arg_at(a, 1, NULL), arg_at(a, 2, "count"));
        if (mg_str_eq(f, "list"))
            return chars(p, &in);
        if (mg_str_eq(f, "join")) {
            jv cs = chars(p, &in);
            return a0 ? join(p, &cs, a0) : in;
        }
        if (mg_str_eq(f, "first"))
            return in.n ? v_index(p, &in, 0) : v_unk();
        if (mg_str_eq(f, "last"))
            return in.n ? v_index(p, &in, -1) : v_unk();
        if (mg_str_eq(f, "reverse"))
            return v_reverse(p, &in);
        if (mg_str_eq(f, "lower"))
            return casemap(p, &in, 0);
        if (mg_str_eq(f, "upper"))
            return casemap(p, &in, 1);
        if (mg_str_eq(f, "capitalize"))
            return casemap(p, &in, 3);
        if (mg_str_eq(f, "trim"))
            return strip(p, &in, a0, 1, 1);
        if (mg_str_eq(f, "int"))
            return v_unk();
        return v_kind(J_BUILT);
    }
    if (in.kind == J_LIST) {
        if (mg_str_eq(f, "join"))
            return join(p, &in, arg_at(a, 0, "d"));
        if (mg_str_eq(f, "list"))
            return in;
        if (mg_str_eq(f, "first"))
            return in.nitems ? in.items[0] : v_unk();
        if (mg_str_eq(f, "last"))
            return in.nitems ? in.items[in.nitems - 1] : v_unk();
        if (mg_str_eq(f, "reverse"))
            return v_reverse(p, &in);
        if (mg_str_eq(f, "map") && a0 && a0->kind == J_STR && in.nitems <= 256) {
            mg_str sub = {a0->s, a0->n};
            static const char *const simple[] = {"lower", "upper", "string", "trim", "capitalize", NULL};
            if (filter_is(sub, simple)) {
                jv out[256];
                jargs none;
                memset(&none, 0, sizeof none);
                for (uint32_t k = 0; k < in.nitems; k++)
                    out[k] = apply_filter(p, sub, in.items[k], &none, pos);
                return v_list(p, out, in.nitems, 0);
            }
        }
        if (mg_str_eq(f, "length") || mg_str_eq(f, "count"))
            return v_int(in.nitems);
        jv r = v_kind(J_BUILT);
        r.dunder = (uint8_t)v_internal(&in);
        return r;
    }
    if (in.kind == J_BUILT)
        return mg_str_eq(f, "length") || mg_str_eq(f, "count") || mg_str_eq(f, "int") ? v_unk() : in;
    /* unknown data: string-producing filters make render-time strings */
    static const char *const to_str[] = {"string", "join", "format", "replace", "reverse", "first", "last", NULL};
    if (filter_is(f, to_str))
        return v_built_from(&in, NULL);
    jv r = v_unk();
    r.dunder = in.dunder;
    return r;
}

/* ---- calls ---- */

static jv call_value(jp *p, jv fn, const jargs *a)
{
    if (fn.kind == J_BOUND) {
        mg_str m = {fn.s, fn.n};
        return str_method(p, fn.items, m, a);
    }
    check_passed(p, a->pos, a->npos, a->at);
    check_passed(p, a->kval, a->nkw, a->at);
    if (fn.kind == J_GADGET && fn.gadget == G_NAMESPACE && !a->dyn) {
        jv r = v_kind(J_NS);
        r.nitems = (uint32_t)a->nkw;
        r.items = mg_arena_alloc(&p->s->work, (a->nkw ? a->nkw : 1) * sizeof(jv));
        mg_str *keys = mg_arena_alloc(&p->s->work, (a->nkw ? a->nkw : 1) * sizeof(mg_str));
        if (!r.items || !keys)
            return v_unk();
        memcpy(r.items, a->kval, a->nkw * sizeof(jv));
        memcpy(keys, a->kname, a->nkw * sizeof(mg_str));
        r.keys = keys;
        return r;
    }
    if (fn.kind == J_GADGET && fn.gadget == G_DICT && !a->dyn && a->npos == 0) {
        /* dict(__cla=1, ss__=2)|join spells a name from keyword names */
        jv keys[JJ_MAX_ARGS];
        for (size_t k = 0; k < a->nkw; k++)
            keys[k] = v_str(p, a->kname[k].p, a->kname[k].len);
        return v_list(p, keys, a->nkw, 0);
    }
    if (fn.kind == J_MACRO) {
        /* what the callers pass is what the parameters may hold */
        jsym *y = &p->syms[fn.sym];
        for (size_t k = 0; k < a->npos && k < y->nparams; k++) {
            jsym *q = sym_get(p, y->params[k], 1);
            if (q)
                sym_merge(p, q, &a->pos[k]);
        }
        for (size_t k = 0; k < a->nkw; k++) {
            jsym *q = sym_get(p, a->kname[k], 1);
            if (q)
                sym_merge(p, q, &a->kval[k]);
        }
        return v_kind(J_BUILT);
    }
    return fn.kind == J_BUILT ? v_kind(J_BUILT) : v_unk();
}

/* ---- expressions (the precedence levels of Jinja's parser.py) ---- */

static jv expr(jp *p, int with_condexpr);
static jv unary(jp *p, int with_filter);
static jv primary(jp *p);
static jv postfix(jp *p, jv v);
static jv filter_expr(jp *p, jv v);
static jv tuple(jp *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens);

static void call_args(jp *p, jargs *a)
{
    memset(a, 0, sizeof *a);
    a->at = cur(p)->pos;
    expect_op(p, '(');
    while (!p->err && !is_op(p, ')')) {
        if (a->npos || a->nkw || a->dyn) {
            expect_op(p, ',');
            if (is_op(p, ')'))
                break;
        }
        if (is_op(p, '*') || (cur(p)->type == T_OP && cur(p)->op == OP_POW)) {
            adv(p);
            expr(p, 1);
            a->dyn = 1;
        } else if (cur(p)->type == T_NAME && peek(p, 1)->type == T_OP && peek(p, 1)->op == '=') {
            mg_str k = tok_str(p, cur(p));
            adv(p);
            adv(p);
            jv v = expr(p, 1);
            if (a->nkw < JJ_MAX_ARGS) {
                a->kname[a->nkw] = k;
                a->kval[a->nkw++] = v;
            } else {
                a->dyn = 1;
            }
        } else {
            jv v = expr(p, 1);
            if (a->npos < JJ_MAX_ARGS)
                a->pos[a->npos++] = v;
            else
                a->dyn = 1;
        }
    }
    expect_op(p, ')');
}

static mg_str dotted_name(jp *p)
{
    mg_str n = expect_name(p);
    while (!p->err && is_op(p, '.')) {
        adv(p);
        mg_str more = expect_name(p);
        n.len = (size_t)(more.p + more.len - n.p);
    }
    return n;
}

static jv filter_chain(jp *p, jv v, int start_inline)
{
    while (!p->err && (start_inline || is_op(p, '|'))) {
        if (!start_inline)
            adv(p);
        start_inline = 0;
        uint32_t at = cur(p)->pos;
        mg_str f = dotted_name(p);
        jargs a;
        memset(&a, 0, sizeof a);
        a.at = at;
        if (is_op(p, '('))
            call_args(p, &a);
        v = apply_filter(p, f, v, &a, at);
    }
    return v;
}

static jv test(jp *p, jv v)
{
    (void)v;
    adv(p); /* is */
    if (is_name(p, "not"))
        adv(p);
    dotted_name(p);
    jtok *t = cur(p);
    if (is_op(p, '(')) {
        jargs a;
        call_args(p, &a);
    } else if ((t->type == T_NAME || t->type == T_STRING || t->type == T_INT || t->type == T_FLOAT ||
                (t->type == T_OP && (t->op == '(' || t->op == '[' || t->op == '{'))) &&
               !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
        if (is_name(p, "is"))
            fail(p, t->pos, "you cannot chain multiple tests with is");
        postfix(p, primary(p));
    }
    return v_unk();
}

static jv filter_expr(jp *p, jv v)
{
    for (;;) {
        if (p->err)
            return v;
        if (is_op(p, '|')) {
            v = filter_chain(p, v, 0);
        } else if (is_name(p, "is")) {
            v = test(p, v);
        } else if (is_op(p, '(')) {
            jargs a;
            call_args(p, &a);
            v = call_value(p, v, &a);
        } else {
            return v;
        }
    }
}

/* x.name and x.0 */
static jv getattr_(jp *p, jv obj, mg_str name, uint32_t pos)
{
    check_attr_name(p, &obj, name.p, name.len, pos, "attribute");
    if (obj.var.len) {
        char buf[256];
        jsym *y = sym_get(p, sym_dotted(buf, sizeof buf, obj.var, name), 0);
        if (y && y->bound) {
            jv v;
            sym_read(p, y, &v);
            v.var = (mg_str){"", 0};
            return v;
        }
    }
    if (v_stringish(&obj)) {
        jv m = v_kind(J_BOUND);
        m.s = name.p;
        m.n = name.len;
        m.items = mg_arena_alloc(&p->s->work, sizeof(jv));
        if (!m.items)
            return v_kind(J_BUILT);
        m.items[0] = obj;
        return m;
    }
    jv r = v_unk();
    r.dunder = obj.dunder;
    return r;
}

static jv subscript_value(jp *p, jv obj, jv key, uint32_t pos)
{
    check_key(p, &obj, &key, pos);
    if (key.kind == J_INT && (obj.kind == J_STR || obj.kind == J_LIST))
        return v_index(p, &obj, key.i);
    if (key.kind == J_STR && obj.var.len) {
        char buf[256];
        jsym *y = sym_get(p, sym_dotted(buf, sizeof buf, obj.var, (mg_str){key.s, key.n}), 0);
        if (y && y->bound) {
            jv v;
            sym_read(p, y, &v);
            v.var = (mg_str){"", 0};
            return v;
        }
    }
    if (obj.kind == J_BUILT)
        return obj;
    jv r = v_unk();
    r.dunder = obj.dunder;
    return r;
}

/* One item of [...]: an expression or a slice a:b:c. */
static int subscribed(jp *p, jv *key, jv sl[3])
{
    sl[0] = sl[1] = sl[2] = v_unk();
    if (!is_op(p, ':')) {
        *key = expr(p, 1);
        if (!is_op(p, ':'))
            return 0;
        sl[0] = *key;
    }
    adv(p);
    if (!is_op(p, ':') && !is_op(p, ']') && !is_op(p, ','))
        sl[1] = expr(p, 1);
    if (is_op(p, ':')) {
        adv(p);
        if (!is_op(p, ']') && !is_op(p, ','))
            sl[2] = expr(p, 1);
    }
    return 1;
}

static jv subscript(jp *p, jv obj)
{
    uint32_t pos = cur(p)->pos;
    if (is_op(p, '.')) {
        adv(p);
        jtok *t = cur(p);
        if (t->type == T_NAME) {
            adv(p);
            return getattr_(p, obj, tok_str(p, t), t->pos);
        }
        if (t->type == T_INT) {
            adv(p);
            int64_t i = 0;
            for (uint32_t k = 0; k < t->len && i < 1000000000; k++)
                if (p->t[t->pos + k] >= '0' && p->t[t->pos + k] <= '9')
                    i = i * 10 + (p->t[t->pos + k] - '0');
            return subscript_value(p, obj, v_int(i), t->pos);
        }
        char b[64];
        fail(p, t->pos, "expected a name or number after '.', got %s", tok_desc(p, b, sizeof b));
        return v_unk();
    }
    adv(p); /* [ */
    jv key = v_unk(), sl[3], result = v_unk();
    size_t nargs = 0;
    int slice = 0;
    while (!p->err && !is_op(p, ']')) {
        if (nargs)
            expect_op(p, ',');
        if (is_op(p, ']'))
            break;
        slice = subscribed(p, &key, sl);
        nargs++;
    }
    expect_op(p, ']');
    if (nargs == 1 && slice) {
        if (obj.kind == J_STR || obj.kind == J_LIST)
            result = v_slice(p, &obj, sl);
        else if (obj.kind == J_BUILT)
            result = obj;
        return result;
    }
    if (nargs == 1)
        return subscript_value(p, obj, key, pos);
    return v_unk();
}

static jv postfix(jp *p, jv v)
{
    for (;;) {
        if (p->err)
            return v;
        if (is_op(p, '.') || is_op(p, '[')) {
            v = subscript(p, v);
        } else if (is_op(p, '(')) {
            jargs a;
            call_args(p, &a);
            v = call_value(p, v, &a);
        } else {
            return v;
        }
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A string literal's value: Python's unicode-escape decoding, as lexer.py does. */
static int unescape(jp *p, const jtok *t, mg_buf *b)
{
    const char *s = p->t + t->pos + 1;
    size_t n = t->len - 2;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            mg_buf_addc(b, s[i]);
            continue;
        }
        char e = s[++i];
        const char *simple = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
        const char *hit = NULL;
        for (const char *q = simple; *q; q += 2)
            if (*q == e)
                hit = q;
        if (hit) {
            mg_buf_addc(b, hit[1]);
            continue;
        }
        if (e == '\n')
            continue;
        uint32_t cp = 0;
        if (e >= '0' && e <= '7') {
            size_t k = 0;
            for (; k < 3 && i < n && s[i] >= '0' && s[i] <= '7'; k++, i++)
                cp = cp * 8 + (uint32_t)(s[i] - '0');
            i--;
        } else if (e == 'x' || e == 'u' || e == 'U') {
            size_t want = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            for (size_t k = 0; k < want; k++) {
                int h = i + 1 < n ? hexval(s[i + 1]) : -1;
                if (h < 0) {
                    fail(p, t->pos, "has a truncated \\%c escape in a string", e);
                    return -1;
                }
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10ffff) {
                fail(p, t->pos, "has an escape beyond Unicode in a string");
                return -1;
            }
        } else if (e == 'N') {
            size_t j = i + 1;
            if (j >= n || s[j] != '{') {
                fail(p, t->pos, "has a malformed \\N escape in a string");
                return -1;
            }
            size_t k = j + 1;
            while (k < n && s[k] != '}')
                k++;
            if (k >= n) {
                fail(p, t->pos, "has a malformed \\N escape in a string");
                return -1;
            }
            static const struct {
                const char *name;
                uint32_t cp;
            } names[] = {{"LOW LINE", '_'},
                         {"FULL STOP", '.'},
                         {"SPACE", ' '},
                         {"LEFT SQUARE BRACKET", '['},
                         {"RIGHT SQUARE BRACKET", ']'}};
            cp = 0xfffd;
            for (size_t q = 0; q < sizeof names / sizeof names[0]; q++)
                if (strlen(names[q].name) == k - j - 1 && strncasecmp(names[q].name, s + j + 1, k - j - 1) == 0)
                    cp = names[q].cp;
            i = k;
        } else {
            mg_buf_addc(b, '\\');
            mg_buf_addc(b, e);
            continue;
        }
        char u[4];
        mg_buf_add(b, u, u8_put(u, cp));
    }
    return 0;
}

static jv number(jp *p, const jtok *t)
{
    int64_t v = 0;
    const char *s = p->t + t->pos;
    int base = 10;
    size_t i = 0;
    if (t->len > 2 && s[0] == '0' && strchr("bBoOxX", s[1])) {
        base = s[1] == 'b' || s[1] == 'B' ? 2 : s[1] == 'o' || s[1] == 'O' ? 8 : 16;
        i = 2;
    }
    for (; i < t->len; i++) {
        if (s[i] == '_')
            continue;
        int d = hexval(s[i]);
        if (d < 0 || d >= base) {
            fail(p, t->pos, "has a malformed number");
            return v_unk();
        }
        if (v > (INT64_MAX - d) / base)
            return v_unk();
        v = v * base + d;
    }
    return v_int(v);
}

static jv primary(jp *p)
{
    jtok *t = cur(p);
    if (t->type == T_NAME) {
        adv(p);
        mg_str n = tok_str(p, t);
        static const char *const lits[] = {"true", "false", "True", "False", "none", "None", NULL};
        if (filter_is(n, lits))
            return v_unk();
        if (n.len >= 2 && n.p[0] == '_' && n.p[1] == '_') {
            char b[64];
            jj_bad(p, t->pos, jj_show(b, sizeof b, n.p, n.len), "reads the variable '%s', a Python internal name", b);
        }
        return read_name(p, n);
    }
    if (t->type == T_STRING) {
        mg_buf b;
        mg_buf_init(&b, JJ_MAX_STR);
        while (cur(p)->type == T_STRING && !p->err) {
            unescape(p, cur(p), &b);
            adv(p);
        }
        jv v = b.oom ? v_kind(J_BUILT) : v_str(p, b.p ? b.p : "", b.len);
        mg_buf_free(&b);
        return v;
    }
    if (t->type == T_INT) {
        adv(p);
        return number(p, t);
    }
    if (t->type == T_FLOAT) {
        adv(p);
        return v_unk();
    }
    if (is_op(p, '(')) {
        adv(p);
        jv v = tuple(p, 0, 1, NULL, 1);
        expect_op(p, ')');
        return v;
    }
    if (is_op(p, '[') || is_op(p, '{')) {
        int dict = is_op(p, '{');
        int close = dict ? '}' : ']';
        adv(p);
        jv items[32];
        size_t n = 0, total = 0;
        while (!p->err && !is_op(p, close)) {
            if (total)
                expect_op(p, ',');
            if (is_op(p, close))
                break;
            jv k = expr(p, 1);
            if (dict) {
                expect_op(p, ':');
                expr(p, 1);
            }
            if (n < 32)
                items[n++] = k;
            total++;
        }
        expect_op(p, close);
        return total == n ? v_list(p, items, n, 0) : v_unk();
    }
    char b[64];
    fail(p, t->pos, "expected an expression, got %s", tok_desc(p, b, sizeof b));
    return v_unk();
}

static jv unary(jp *p, int with_filter)
{
    if (enter(p) < 0)
        return v_unk();
    jv v;
    if (is_op(p, '-') || is_op(p, '+')) {
        int neg = is_op(p, '-');
        adv(p);
        v = unary(p, 0);
        if (v.kind == J_INT && neg && v.i != INT64_MIN)
            v.i = -v.i;
        else if (v.kind != J_INT)
            v = v_unk();
    } else {
        v = primary(p);
    }
    v = postfix(p, v);
    if (with_filter)
        v = filter_expr(p, v);
    leave(p);
    return v;
}

static jv binop(jp *p, int op, jv a, jv b)
{
    switch (op) {
    case '~':
        return concat2(p, &a, &b);
    case '+':
        if (a.kind == J_INT && b.kind == J_INT && !__builtin_add_overflow(a.i, b.i, &a.i))
            return a;
        if (a.kind == J_STR && b.kind == J_STR)
            return concat2(p, &a, &b);
        if (a.kind == J_LIST && b.kind == J_LIST && a.nitems + b.nitems <= 64) {
            jv items[128];
            if (a.nitems)
                memcpy(items, a.items, a.nitems * sizeof(jv));
            if (b.nitems)
                memcpy(items + a.nitems, b.items, b.nitems * sizeof(jv));
            return v_list(p, items, a.nitems + b.nitems, 0);
        }
        if (v_stringish(&a) || v_stringish(&b))
            return v_built_from(&a, &b);
        return v_unk();
    case '*':
        if (a.kind == J_INT && b.kind == J_STR)
            return repeat(p, &b, a.i);
        if (a.kind == J_STR && b.kind == J_INT)
            return repeat(p, &a, b.i);
        if (a.kind == J_INT && b.kind == J_INT && !__builtin_mul_overflow(a.i, b.i, &a.i))
            return a;
        if (v_stringish(&a) || v_stringish(&b))
            return v_built_from(&a, &b);
        return v_unk();
    case '%':
        if (a.kind == J_STR) {
            if (b.kind == J_LIST && b.tuple)
                return percent(p, &a, b.items, b.nitems);
            return percent(p, &a, &b, 1);
        }
        if (a.kind == J_INT && b.kind == J_INT && b.i > 0)
            return v_int(a.i % b.i);
        if (a.kind == J_BUILT)
            return v_built_from(&a, &b);
        return v_unk();
    case '-':
        if (a.kind == J_INT && b.kind == J_INT && !__builtin_sub_overflow(a.i, b.i, &a.i))
            return a;
        return v_unk();
    default:
        return v_unk();
    }
}

static jv pow_(jp *p)
{
    jv a = unary(p, 1);
    while (!p->err && cur(p)->type == T_OP && cur(p)->op == OP_POW) {
        adv(p);
        unary(p, 1);
        a = v_unk();
    }
    return a;
}

static jv math2(jp *p)
{
    jv a = pow_(p);
    while (!p->err && cur(p)->type == T_OP &&
           (cur(p)->op == '*' || cur(p)->op == '/' || cur(p)->op == OP_FLOORDIV || cur(p)->op == '%')) {
        int op = cur(p)->op;
        adv(p);
        jv b = pow_(p);
        a = binop(p, op, a, b);
    }
    return a;
}

static jv concat_(jp *p)
{
    jv a = math2(p);
    while (!p->err && is_op(p, '~')) {
        adv(p);
        jv b = math2(p);
        a = binop(p, '~', a, b);
    }
    return a;
}

static jv math1(jp *p)
{
    jv a = concat_(p);
    while (!p->err && (is_op(p, '+') || is_op(p, '-'))) {
        int op = cur(p)->op;
        adv(p);
        jv b = concat_(p);
        a = binop(p, op, a, b);
    }
    return a;
}

static int cmp_op(jp *p)
{
    jtok *t = cur(p);
    if (t->type == T_OP)
        return t->op == OP_EQ || t->op == OP_NE || t->op == '<' || t->op == '>' || t->op == OP_LE || t->op == OP_GE;
    if (is_name(p, "in"))
        return 1;
    return is_name(p, "not") && tok_is(p, peek(p, 1), "in") ? 2 : 0;
}

static jv compare(jp *p)
{
    jv a = math1(p);
    int k;
    while (!p->err && (k = cmp_op(p)) != 0) {
        adv(p);
        if (k == 2)
            adv(p);
        math1(p);
        a = v_unk();
    }
    return a;
}

static jv not_(jp *p)
{
    if (is_name(p, "not")) {
        if (enter(p) < 0)
            return v_unk();
        adv(p);
        not_(p);
        leave(p);
        return v_unk();
    }
    return compare(p);
}

static jv and_(jp *p)
{
    jv a = not_(p);
    while (!p->err && is_name(p, "and")) {
        adv(p);
        jv b = not_(p);
        a = v_either(a, b);
    }
    return a;
}

static jv or_(jp *p)
{
    jv a = and_(p);
    while (!p->err && is_name(p, "or")) {
        adv(p);
        jv b = and_(p);
        a = v_either(a, b);
    }
    return a;
}

static jv expr(jp *p, int with_condexpr)
{
    if (enter(p) < 0)
        return v_unk();
    jv a = or_(p);
    while (with_condexpr && !p->err && is_name(p, "if")) {
        adv(p);
        or_(p);
        jv c = v_unk();
        if (is_name(p, "else")) {
            adv(p);
            c = expr(p, 1);
        }
        a = v_either(a, c);
    }
    leave(p);
    return a;
}

static int tuple_end(jp *p, const char *extra_end)
{
    jtok *t = cur(p);
    if (t->type == T_VEND || t->type == T_BEND || t->type == T_EOF || t->type == T_ERR || is_op(p, ')'))
        return 1;
    return extra_end && is_name(p, extra_end);
}

static jv tuple(jp *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens)
{
    jv items[32];
    size_t n = 0, total = 0;
    int is_tuple = 0;
    for (;;) {
        if (p->err)
            return v_unk();
        if (total)
            expect_op(p, ',');
        if (tuple_end(p, extra_end))
            break;
        jv v = simplified ? postfix(p, primary(p)) : expr(p, with_condexpr);
        if (n < 32)
            items[n++] = v;
        total++;
        if (is_op(p, ','))
            is_tuple = 1;
        else
            break;
    }
    if (!is_tuple) {
        if (total)
            return items[0];
        if (!explicit_parens) {
            char b[64];
            fail(p, cur(p)->pos, "expected an expression, got %s", tok_desc(p, b, sizeof b));
        }
    }
    return total == n ? v_list(p, items, n, 1) : v_unk();
}

/* ---- statements ---- */

typedef struct jtarget {
    mg_str name;
    mg_str attr; /* {% set ns.attr = ... %} */
    uint32_t pos;
} jtarget;

/* Assignment targets: names, ns.attr, tuples of names, in parentheses or not. */
static size_t targets(jp *p, jtarget *out, size_t cap, int with_ns, const char *extra_end)
{
    size_t n = 0;
    int paren = is_op(p, '(');
    if (paren)
        adv(p);
    for (;;) {
        if (p->err)
            return n;
        jtarget t = {.pos = cur(p)->pos};
        t.name = expect_name(p);
        if (with_ns && is_op(p, '.')) {
            adv(p);
            t.attr = expect_name(p);
        }
        if (n < cap)
            out[n++] = t;
        if (!is_op(p, ','))
            break;
        adv(p);
        if ((paren && is_op(p, ')')) || (extra_end && is_name(p, extra_end)) || is_op(p, '='))
            break;
    }
    if (paren)
        expect_op(p, ')');
    return n;
}

static void assign_target(jp *p, const jtarget *t, jv v)
{
    if (!t->attr.len) {
        assign(p, t->name, v, t->pos);
        return;
    }
    char buf[256];
    mg_str key = sym_dotted(buf, sizeof buf, t->name, t->attr);
    if (key.len)
        assign(p, key, v, t->pos);
}

static void assign_targets(jp *p, const jtarget *t, size_t n, jv v)
{
    if (n == 1) {
        assign_target(p, &t[0], v);
        return;
    }
    for (size_t k = 0; k < n; k++)
        assign_target(p, &t[k], v.kind == J_LIST && v.nitems == n ? v.items[k] : v_either(v_unk(), v));
}

static int body(jp *p, const char *const *ends, jcap *cap);

static void end_tag(jp *p)
{
    expect_type(p, T_BEND, "'%}'");
}

/* A statement whose body runs to one of `ends`; returns the end reached. */
static int block_body(jp *p, const char *const *ends, jcap *cap)
{
    end_tag(p);
    int k = body(p, ends, cap);
    return k;
}

static void st_if(jp *p, jcap *cap)
{
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    tuple(p, 0, 0, NULL, 0);
    for (;;) {
        int k = block_body(p, ends, cap);
        if (k == 0) {
            tuple(p, 0, 0, NULL, 0);
            continue;
        }
        if (k == 1) {
            static const char *const endif[] = {"endif", NULL};
            block_body(p, endif, cap);
        }
        break;
    }
    end_tag(p);
}

static void st_for(jp *p, jcap *cap)
{
    jtarget t[16];
    size_t n = targets(p, t, 16, 0, "in");
    if (!is_name(p, "in")) {
        char b[64];
        fail(p, cur(p)->pos, "expected 'in' in a for loop, got %s", tok_desc(p, b, sizeof b));
        return;
    }
    adv(p);
    jv iter = tuple(p, 0, 0, "recursive", 0);
    for (size_t k = 0; k < n; k++)
        bind_each(p, t[k].name, &iter);
    if (is_name(p, "if")) {
        adv(p);
        expr(p, 1);
    }
    if (is_name(p, "recursive"))
        adv(p);
    static const char *const ends[] = {"endfor", "else", NULL};
    p->loops++;
    int k = block_body(p, ends, cap);
    p->loops--;
    if (k == 1) {
        static const char *const endfor[] = {"endfor", NULL};
        block_body(p, endfor, cap);
    }
    end_tag(p);
}

static void st_set(jp *p)
{
    jtarget t[16];
    size_t n = targets(p, t, 16, 1, NULL);
    if (is_op(p, '=')) {
        adv(p);
        jv v = tuple(p, 0, 1, NULL, 0);
        assign_targets(p, t, n, v);
        end_tag(p);
        return;
    }
    /* block set: {% set x | filters %}body{% endset %}; the filters are
     * read once here (silently) and applied to the body's value below */
    size_t fstart = p->i;
    int report = p->report;
    p->report = 0;
    if (is_op(p, '|'))
        filter_chain(p, v_unk(), 0);
    p->report = report;
    size_t fend = p->i;
    jcap cap;
    mg_buf_init(&cap.buf, JJ_MAX_STR);
    cap.built = 0;
    static const char *const ends[] = {"endset", NULL};
    block_body(p, ends, &cap);
    end_tag(p);
    jv v = v_kind(J_BUILT);
    if (!cap.built && !cap.buf.oom) {
        jv raw = v_str(p, cap.buf.p ? cap.buf.p : "", cap.buf.len);
        v = raw.kind == J_STR ? strip(p, &raw, NULL, 1, 1) : raw;
    }
    mg_buf_free(&cap.buf);
    if (fend > fstart) { /* the filters again, now on the body's value */
        size_t save = p->i;
        p->i = fstart;
        v = filter_chain(p, v, 0);
        p->i = save;
    }
    if (n)
        assign_target(p, &t[0], v);
}

static void params(jp *p, mg_str *out, uint32_t *n, uint32_t cap)
{
    *n = 0;
    expect_op(p, '(');
    while (!p->err && !is_op(p, ')')) {
        if (*n)
            expect_op(p, ',');
        if (is_op(p, ')'))
            break;
        uint32_t pos = cur(p)->pos;
        mg_str name = expect_name(p);
        jv def = v_unk();
        if (is_op(p, '=')) {
            adv(p);
            def = expr(p, 1);
        }
        assign(p, name, def, pos);
        if (*n < cap)
            out[(*n)++] = name;
    }
    expect_op(p, ')');
}

static void st_macro(jp *p)
{
    mg_str name = expect_name(p);
    mg_str ps[JJ_MAX_ARGS];
    uint32_t np = 0;
    params(p, ps, &np, JJ_MAX_ARGS);
    jsym *y = sym_get(p, name, 1);
    if (y) {
        if (!y->is_macro || !y->bound)
            p->changed++;
        y->is_macro = 1;
        y->bound = 1;
        y->has_cur = 0;
        mg_str *copy = np ? mg_arena_alloc(&p->s->work, np * sizeof(mg_str)) : NULL;
        if (copy)
            memcpy(copy, ps, np * sizeof(mg_str));
        y->params = copy;
        y->nparams = copy ? np : 0;
    }
    static const char *const ends[] = {"endmacro", NULL};
    unsigned loops = p->loops;
    p->loops = 0;
    block_body(p, ends, NULL);
    p->loops = loops;
    end_tag(p);
}

static void st_call(jp *p, jcap *cap)
{
    if (is_op(p, '(')) {
        mg_str ps[JJ_MAX_ARGS];
        uint32_t np;
        params(p, ps, &np, JJ_MAX_ARGS);
    }
    expr(p, 1);
    static const char *const ends[] = {"endcall", NULL};
    block_body(p, ends, cap);
    end_tag(p);
}

static void st_simple_block(jp *p, const char *end, jcap *cap)
{
    const char *ends[] = {end, NULL};
    block_body(p, ends, cap);
    if (strcmp(end, "endblock") == 0 && cur(p)->type == T_NAME)
        adv(p);
    end_tag(p);
}

static void st_with(jp *p, jcap *cap)
{
    size_t n = 0;
    while (!p->err && cur(p)->type != T_BEND) {
        if (n++)
            expect_op(p, ',');
        jtarget t[16];
        size_t nt = targets(p, t, 16, 0, NULL);
        expect_op(p, '=');
        jv v = expr(p, 1);
        assign_targets(p, t, nt, v);
    }
    st_simple_block(p, "endwith", cap);
}

/* extends, include, import, from: the template reaches other templates. */
static void st_load(jp *p, mg_str tag, uint32_t pos)
{
    char b[32];
    jj_exec(p, pos, jj_show(b, sizeof b, tag.p, tag.len), "uses '%s', which loads other templates", b);
    while (cur(p)->type != T_BEND && cur(p)->type != T_EOF && cur(p)->type != T_ERR)
        adv(p);
    end_tag(p);
}

static void statement(jp *p, jcap *cap)
{
    jtok *t = cur(p);
    if (t->type != T_NAME) {
        char b[64];
        fail(p, t->pos, "expected a tag name, got %s", tok_desc(p, b, sizeof b));
        return;
    }
    mg_str tag = tok_str(p, t);
    adv(p);
    if (enter(p) < 0)
        return;
    if (mg_str_eq(tag, "if")) {
        st_if(p, cap);
    } else if (mg_str_eq(tag, "for")) {
        st_for(p, cap);
    } else if (mg_str_eq(tag, "set")) {
        st_set(p);
    } else if (mg_str_eq(tag, "macro")) {
        st_macro(p);
    } else if (mg_str_eq(tag, "call")) {
        st_call(p, cap);
    } else if (mg_str_eq(tag, "filter")) {
        filter_chain(p, v_unk(), 1);
        st_simple_block(p, "endfilter", cap);
    } else if (mg_str_eq(tag, "with")) {
        st_with(p, cap);
    } else if (mg_str_eq(tag, "autoescape")) {
        expr(p, 1);
        st_simple_block(p, "endautoescape", cap);
    } else if (mg_str_eq(tag, "block")) {
        expect_name(p);
        if (is_name(p, "scoped"))
            adv(p);
        if (is_name(p, "required"))
            adv(p);
        st_simple_block(p, "endblock", cap);
    } else if (mg_str_eq(tag, "generation")) {
        st_simple_block(p, "endgeneration", cap);
    } else if (mg_str_eq(tag, "break") || mg_str_eq(tag, "continue")) {
        if (!p->loops)
            fail(p, t->pos, "uses '%s' outside a loop", mg_str_eq(tag, "break") ? "break" : "continue");
        end_tag(p);
    } else if (mg_str_eq(tag, "do")) {
        tuple(p, 0, 1, NULL, 0);
        end_tag(p);
    } else if (mg_str_eq(tag, "extends") || mg_str_eq(tag, "include") || mg_str_eq(tag, "import") ||
               mg_str_eq(tag, "from")) {
        st_load(p, tag, t->pos);
    } else {
        char b[64];
        fail(p, t->pos, "has an unknown tag '%s'", jj_show(b, sizeof b, tag.p, tag.len));
    }
    leave(p);
}

static void cap_text(jp *p, jcap *cap, const jtok *t)
{
    const char *s = p->t + t->pos;
    size_t n = t->len;
    if (t->lstrip)
        while (n && jl_space(*s))
            s++, n--;
    if (t->rstrip)
        while (n && jl_space(s[n - 1]))
            n--;
    mg_buf_add(&cap->buf, s, n);
}

/* Template content up to one of `ends` (NULL: the end of the template).
 * Returns the index of the end tag reached (its name consumed), or -1. */
static int body(jp *p, const char *const *ends, jcap *cap)
{
    for (;;) {
        jtok *t = cur(p);
        switch (t->type) {
        case T_TEXT:
            if (cap)
                cap_text(p, cap, t);
            adv(p);
            break;
        case T_VBEGIN: {
            adv(p);
            jv v = tuple(p, 0, 1, NULL, 0);
            expect_type(p, T_VEND, "'}}'");
            if (cap) {
                char tmp[32];
                const char *s;
                size_t n;
                if (v_text(&v, tmp, sizeof tmp, &s, &n))
                    mg_buf_add(&cap->buf, s, n);
                else
                    cap->built = 1;
            }
            break;
        }
        case T_BBEGIN: {
            jtok *name = peek(p, 1);
            for (int k = 0; ends && ends[k]; k++)
                if (tok_is(p, name, ends[k])) {
                    adv(p);
                    adv(p);
                    return k;
                }
            adv(p);
            if (cap)
                cap->built = 1;
            statement(p, cap);
            break;
        }
        case T_EOF:
        case T_ERR:
            if (t->type == T_ERR)
                fail(p, t->pos, "%s", p->lex_msg);
            else if (ends && !p->err) {
                int last = 0;
                while (ends[last + 1])
                    last++;
                fail(p, t->pos, "ends before '%s'", ends[last]);
            }
            return -1;
        default: {
            char b[64];
            fail(p, t->pos, "has an unexpected %s", tok_desc(p, b, sizeof b));
            return -1;
        }
        }
        if (p->err)
            return -1;
    }
}

/* After a syntax error: names of internals in the part that was not parsed. */
static void sweep(jp *p, size_t from)
{
    for (size_t i = from; i + 1 < p->ntok; i++) {
        jtok *t = &p->tok[i], *n = &p->tok[i + 1];
        char b[64];
        if (t->type == T_OP && t->op == '.' && n->type == T_NAME && p->t[n->pos] == '_')
            jj_exec(p, n->pos, jj_show(b, sizeof b, p->t + n->pos, n->len),
                    "names Python internals ('.%s') in a part that does not parse", b);
        if (t->type == T_STRING && t->len >= 7 && is_internal(p->t + t->pos + 1, t->len - 2))
            jj_exec(p, t->pos, jj_show(b, sizeof b, p->t + t->pos + 1, t->len - 2),
                    "names Python internals ('%s') in a part that does not parse", b);
    }
}

/* One pass over the whole template; variables start unset in textual order. */
static void run(jp *p)
{
    p->i = 0;
    p->depth = 0;
    p->loops = 0;
    p->changed = 0;
    p->err = 0;
    for (size_t k = 0; k < p->nslots; k++)
        p->syms[k].has_cur = 0;
    body(p, NULL, NULL);
}

int mg_jinja_check(mg_scan *s, mg_str tmpl, uint64_t offset, const char *what, const char *exec_threat,
                   const char *bad_threat)
{
    jp p;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.t = tmpl.p;
    p.len = tmpl.len;
    p.base = offset;
    p.what = what;
    p.exec_id = exec_threat;
    p.bad_id = bad_threat;
    p.report = 1;
    if (tmpl.len > JJ_MAX_LEN) {
        jj_bad(&p, 0, NULL, "is %zu bytes, more than the %u the analysis reads: not checked", tmpl.len, JJ_MAX_LEN);
        return (int)p.nfind;
    }
    p.report = 0;
    if (jl_lex(&p) < 0) {
        p.report = 1;
        jj_bad(&p, 0, NULL, "could not be analysed within the memory limit");
        return (int)p.nfind;
    }
    size_t names = 0;
    for (size_t k = 0; k < p.ntok; k++)
        names += p.tok[k].type == T_NAME;
    p.nslots = 64;
    while (p.nslots < 4 * (names + 16) && p.nslots < (1u << 16))
        p.nslots *= 2;
    p.syms = mg_arena_calloc(&s->work, p.nslots, sizeof(jsym));
    if (!p.syms) {
        p.report = 1;
        jj_bad(&p, 0, NULL, "could not be analysed within the memory limit");
        return (int)p.nfind;
    }
    for (unsigned pass = 0; pass < JJ_PASSES; pass++) {
        run(&p);
        if (!p.changed)
            break;
    }
    p.report = 1;
    run(&p);
    if (p.err) {
        size_t at = p.i;
        for (size_t k = 0; k < p.ntok; k++)
            if (p.tok[k].pos >= p.err_pos) {
                at = k;
                break;
            }
        if (p.budget)
            jj_bad(&p, p.err_pos, NULL, "exceeds the analysis budget: %s; not fully checked", p.err_msg);
        else
            jj_bad(&p, p.err_pos, NULL, "does not parse: %s", p.err_msg);
        sweep(&p, at);
    } else if (p.budget) {
        jj_bad(&p, 0, NULL, "has more variables than the analysis budget: not fully checked");
    }
    return (int)p.nfind;
}
