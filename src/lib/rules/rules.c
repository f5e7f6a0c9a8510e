/*
 * rules.c - parses the pickle rules text (rules/pickle.rules, whose header
 * defines the syntax and the matching order) and judges imports with it.
 *
 * The rules are parsed once per engine into hash tables keyed by
 * "module\x1fname", so judging an import costs a few lookups (one per parent
 * module for the denylist) whatever the size of the lists.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../util/banned.h"

enum rule_kind { R_ALLOW, R_DENY, R_LOADER };

typedef struct rule {
    enum rule_kind kind;
    char *module, *name, *why;
    int glob;
} rule;

typedef struct alias {
    char *from, *to;
} alias;

struct mg_rules {
    char version[64];
    rule *rules;
    size_t nrules;
    alias *aliases;
    size_t naliases;
    /* open-addressing table of indexes into rules for exact keys, +1 (0 = empty) */
    uint32_t *slots;
    size_t nslots;
    size_t *globs; /* indexes of glob allow rules */
    size_t nglobs;
};

static uint64_t hash_key(const char *m, size_t mlen, const char *n, size_t nlen)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < mlen; i++)
        h = (h ^ (uint8_t)m[i]) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
    for (size_t i = 0; i < nlen; i++)
        h = (h ^ (uint8_t)n[i]) * 1099511628211ull;
    return h;
}

/* Finds the exact rule (module, name) of `kind`; NULL when absent. */
static const rule *lookup(const mg_rules *r, enum rule_kind kind, const char *m, size_t mlen, const char *n,
                          size_t nlen)
{
    if (!r->nslots)
        return NULL;
    size_t mask = r->nslots - 1;
    for (size_t i = hash_key(m, mlen, n, nlen) & mask;; i = (i + 1) & mask) {
        uint32_t v = r->slots[i];
        if (!v)
            return NULL;
        const rule *ru = &r->rules[v - 1];
        if (ru->kind == kind && strlen(ru->module) == mlen && strlen(ru->name) == nlen &&
            memcmp(ru->module, m, mlen) == 0 && memcmp(ru->name, n, nlen) == 0)
            return ru;
    }
}

static int build_table(mg_rules *r)
{
    size_t n = 16;
    while (n < r->nrules * 2 + 2)
        n *= 2;
    r->slots = calloc(n, sizeof *r->slots);
    r->globs = calloc(r->nrules + 1, sizeof *r->globs);
    if (!r->slots || !r->globs)
        return MG_ENOMEM;
    r->nslots = n;
    for (size_t k = 0; k < r->nrules; k++) {
        rule *ru = &r->rules[k];
        if (ru->glob) {
            r->globs[r->nglobs++] = k;
            continue;
        }
        size_t i = hash_key(ru->module, strlen(ru->module), ru->name, strlen(ru->name)) & (n - 1);
        while (r->slots[i])
            i = (i + 1) & (n - 1);
        r->slots[i] = (uint32_t)(k + 1);
    }
    return MG_OK;
}

/* Splits the next whitespace-separated word off *p (bounded by end). */
static int next_word(const char **p, const char *end, const char **w, size_t *wlen)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    if (*p >= end || **p == '#')
        return 0;
    *w = *p;
    while (*p < end && **p != ' ' && **p != '\t')
        (*p)++;
    *wlen = (size_t)(*p - *w);
    return 1;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static int parse_line(mg_rules *r, const char *p, const char *end, int lineno, char *err, size_t errlen)
{
    const char *w[3];
    size_t wl[3];
    int nw = 0;
    const char *q = p;
    while (nw < 3 && next_word(&q, end, &w[nw], &wl[nw]))
        nw++;
    const char *extra;
    size_t extralen;
    if (nw == 0)
        return 0;
    if (next_word(&q, end, &extra, &extralen)) {
        snprintf(err, errlen, "rules line %d: too many words before the '#' comment", lineno);
        return MG_ERULES;
    }
    const char *hash = memchr(p, '#', (size_t)(end - p));
    if (wl[0] == 7 && memcmp(w[0], "version", 7) == 0 && nw == 2) {
        if (wl[1] >= sizeof r->version)
            goto bad;
        memcpy(r->version, w[1], wl[1]);
        r->version[wl[1]] = 0;
        return 0;
    }
    if (wl[0] == 5 && memcmp(w[0], "alias", 5) == 0 && nw == 3) {
        alias *a = realloc(r->aliases, (r->naliases + 1) * sizeof *a);
        if (!a)
            return MG_ENOMEM;
        r->aliases = a;
        a[r->naliases].from = dupn(w[1], wl[1]);
        a[r->naliases].to = dupn(w[2], wl[2]);
        r->naliases++;
        return 0;
    }
    enum rule_kind kind;
    if (wl[0] == 5 && memcmp(w[0], "allow", 5) == 0)
        kind = R_ALLOW;
    else if (wl[0] == 4 && memcmp(w[0], "deny", 4) == 0)
        kind = R_DENY;
    else if (wl[0] == 6 && memcmp(w[0], "loader", 6) == 0)
        kind = R_LOADER;
    else
        goto bad;
    if (nw != 3)
        goto bad;
    if (!hash || hash + 1 >= end) {
        snprintf(err, errlen, "rules line %d: every entry needs a '# justification'", lineno);
        return MG_ERULES;
    }
    rule *ru = realloc(r->rules, (r->nrules + 1) * sizeof *ru);
    if (!ru)
        return MG_ENOMEM;
    r->rules = ru;
    ru = &r->rules[r->nrules++];
    ru->kind = kind;
    ru->module = dupn(w[1], wl[1]);
    ru->name = dupn(w[2], wl[2]);
    const char *j = hash + 1;
    while (j < end && *j == ' ')
        j++;
    ru->why = dupn(j, (size_t)(end - j));
    ru->glob = kind == R_ALLOW && (strpbrk(ru->module, "*?[") || strpbrk(ru->name, "*?["));
    if (!ru->module || !ru->name || !ru->why)
        return MG_ENOMEM;
    if (kind != R_ALLOW && (strpbrk(ru->module, "*?[") ||
                            (strpbrk(ru->name, "?[") || (strchr(ru->name, '*') && strcmp(ru->name, "*") != 0)))) {
        snprintf(err, errlen, "rules line %d: only allow entries may use wildcards", lineno);
        return MG_ERULES;
    }
    return 0;
bad:
    snprintf(err, errlen,
             "rules line %d: expected 'version V', 'alias FROM TO' or 'allow|deny|loader MODULE NAME # why'", lineno);
    return MG_ERULES;
}

int mg_rules_parse(mg_rules **out, const char *text, size_t len, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    mg_rules *r = calloc(1, sizeof *r);
    if (!r)
        return MG_ENOMEM;
    int rc = 0, lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        rc = parse_line(r, p, le, lineno, err, errlen);
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && !r->version[0]) {
        snprintf(err, errlen, "rules: no 'version' line");
        rc = MG_ERULES;
    }
    if (rc == 0)
        rc = build_table(r);
    if (rc != 0) {
        mg_rules_free(r);
        return rc;
    }
    *out = r;
    return MG_OK;
}

void mg_rules_free(mg_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrules; i++) {
        free(r->rules[i].module);
        free(r->rules[i].name);
        free(r->rules[i].why);
    }
    for (size_t i = 0; i < r->naliases; i++) {
        free(r->aliases[i].from);
        free(r->aliases[i].to);
    }
    free(r->rules);
    free(r->aliases);
    free(r->slots);
    free(r->globs);
    free(r);
}

const char *mg_rules_version(const mg_rules *r)
{
    return r->version;
}

const char *mg_verdict_name(mg_verdict v)
{
    switch (v) {
    case MG_V_ALLOWED:
        return "allowed";
    case MG_V_LOADER:
        return "nested-loader";
    case MG_V_SUSPICIOUS:
        return "suspicious";
    case MG_V_DANGEROUS:
        return "dangerous";
    case MG_V_INTROSPECT:
        return "dangerous";
    }
    return "suspicious";
}

/* Rewrites module through the alias table into buf (module or first part). */
static mg_str canon_module(const mg_rules *r, mg_str m, char *buf, size_t buflen)
{
    size_t first = 0;
    while (first < m.len && m.p[first] != '.')
        first++;
    for (size_t i = 0; i < r->naliases; i++) {
        const alias *a = &r->aliases[i];
        size_t fl = strlen(a->from), tl = strlen(a->to);
        if (fl == m.len && memcmp(a->from, m.p, fl) == 0 && tl < buflen) {
            memcpy(buf, a->to, tl);
            return (mg_str){buf, tl};
        }
        if (fl == first && memcmp(a->from, m.p, fl) == 0 && tl + (m.len - first) < buflen) {
            memcpy(buf, a->to, tl);
            memcpy(buf + tl, m.p + first, m.len - first);
            return (mg_str){buf, tl + m.len - first};
        }
    }
    return m;
}

/* A name with a part of the form __x__ walks object internals. */
static int has_dunder_part(mg_str n)
{
    size_t i = 0;
    while (i <= n.len) {
        size_t j = i;
        while (j < n.len && n.p[j] != '.')
            j++;
        size_t l = j - i;
        if (l > 4 && n.p[i] == '_' && n.p[i + 1] == '_' && n.p[j - 1] == '_' && n.p[j - 2] == '_')
            return 1;
        i = j + 1;
    }
    return 0;
}

/* Denied if the module or any parent module has a `*` rule or a rule for the
 * name's first dotted part. */
static const rule *deny_match(const mg_rules *r, mg_str m, mg_str n)
{
    size_t first = 0;
    while (first < n.len && n.p[first] != '.')
        first++;
    size_t mlen = m.len;
    for (;;) {
        const rule *ru = lookup(r, R_DENY, m.p, mlen, "*", 1);
        if (!ru)
            ru = lookup(r, R_DENY, m.p, mlen, n.p, first);
        if (!ru && first != n.len)
            ru = lookup(r, R_DENY, m.p, mlen, n.p, n.len);
        if (ru)
            return ru;
        while (mlen > 0 && m.p[mlen - 1] != '.')
            mlen--;
        if (mlen == 0)
            return NULL;
        mlen--; /* drop the dot */
    }
}

static int glob_match(const char *pat, mg_str s)
{
    char buf[512];
    if (s.len >= sizeof buf || memchr(s.p, 0, s.len))
        return 0;
    memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    return fnmatch(pat, buf, 0) == 0;
}

mg_verdict mg_rules_judge(const mg_rules *r, mg_str module, mg_str name, const char **why)
{
    char mbuf[512];
    mg_str m = canon_module(r, module, mbuf, sizeof mbuf);
    const rule *ru;
    if (why)
        *why = NULL;
    if ((ru = lookup(r, R_ALLOW, m.p, m.len, name.p, name.len))) {
        if (why)
            *why = ru->why;
        return MG_V_ALLOWED;
    }
    if ((ru = lookup(r, R_LOADER, m.p, m.len, name.p, name.len))) {
        if (why)
            *why = ru->why;
        return MG_V_LOADER;
    }
    if ((ru = deny_match(r, m, name))) {
        if (why)
            *why = ru->why;
        return MG_V_DANGEROUS;
    }
    if (has_dunder_part(name))
        return MG_V_INTROSPECT;
    int dotted = memchr(name.p, '.', name.len) != NULL;
    for (size_t i = 0; i < r->nglobs; i++) {
        ru = &r->rules[r->globs[i]];
        if (dotted && !strchr(ru->name, '.'))
            continue;
        if (glob_match(ru->module, m) && glob_match(ru->name, name)) {
            if (why)
                *why = ru->why;
            return MG_V_ALLOWED;
        }
    }
    return MG_V_SUSPICIOUS;
}
