/*
 * policy.c - the policy set: the default policies of report.md, the policy
 * file (YAML through libyaml) in both directions, and its digest.
 *
 * A policy file names policies by stable id and may leave anything out
 * (defaults apply); everything it does say is validated and a mistake is an
 * error naming the line, never a silent fallback:
 *
 *   global_threshold: MEDIUM
 *   policies:
 *     license-valid:
 *       state: BLOCKING
 *       severity: MEDIUM
 *       approved_licenses: [apache-2.0]
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "../util/banned.h"
#include "policy.h"

#define DOCS "docs/policies.md#"

const mg_policy_def mg_policy_defs[MG_NPOLICIES] = {
    {"load-time-code-execution",
     "Detected No Arbitrary Code Execution At Model Load Time",
     MG_SEV_CRITICAL,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model does not contain any potentially malicious operations",
     {"Ensure that the model does not contain any potentially malicious operations",
      "Use model formats that disallow arbitrary code execution", NULL},
     DOCS "detected-no-arbitrary-code-execution-at-model-load-time"},
    {"load-time-suspicious-code",
     "Detected No Suspicious Code At Model Load Time",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model only references code that its framework needs to load it",
     {"Check the reported imports: each must be something the framework itself needs",
      "Re-export the weights to safetensors, which carries no code", NULL},
     DOCS "detected-no-suspicious-code-at-model-load-time"},
    {"runtime-code-execution",
     "Detected No Arbitrary Code Execution At Model Runtime",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model does not run code or native libraries when it is used",
     {"Remove Lambda layers, Python callbacks, custom native operators and executables from the model",
      "Replace them with built-in layers and operators of the framework", NULL},
     DOCS "detected-no-arbitrary-code-execution-at-model-runtime"},
    {"known-operators",
     "Model Uses Only Known Framework Operators",
     MG_SEV_MEDIUM,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model uses only the operators and layers its framework ships",
     {"Replace custom operators and layers with built-in ones", "Or review the custom code and approve it explicitly",
      NULL},
     DOCS "model-uses-only-known-framework-operators"},
    {"architectural-backdoor",
     "Detected No Architectural Backdoor",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model graph has no path that routes a trigger around the model",
     {"Inspect the graph for parallel branches that bypass the model", "Obtain the model from its original author",
      NULL},
     DOCS "detected-no-architectural-backdoor"},
    {"well-formed",
     "Model Files Are Well-Formed",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that every model file is well-formed and reads the same in every loader",
     {"Re-create the file with the framework's own save function",
      "Do not ship archives with duplicate, traversing or linked members", NULL},
     DOCS "model-files-are-well-formed"},
    {"no-remote-code",
     "Model Does Not Require Remote Code",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_THREATS,
     "Ensure that the model can be loaded without trust_remote_code",
     {"Remove auto_map and custom pipelines from the configuration",
      "Use an architecture supported by the library itself", NULL},
     DOCS "model-does-not-require-remote-code"},
    {"approved-format",
     "Model Is Stored In Approved File Format",
     MG_SEV_MEDIUM,
     MG_POLICY_ALLOWING,
     MG_SCOPE_ALL,
     PK_FORMAT,
     "Ensure that the model is stored in an approved file format",
     {"Convert the weights to an approved format such as safetensors", NULL},
     DOCS "model-is-stored-in-approved-file-format"},
    {"license-exists",
     "License Exists",
     MG_SEV_MEDIUM,
     MG_POLICY_BLOCKING,
     MG_SCOPE_HUGGINGFACE,
     PK_LICENSE_EXISTS,
     "Ensure that the model declares a license",
     {"Add a license to the model card metadata or a LICENSE file", NULL},
     DOCS "license-exists"},
    {"license-valid",
     "License Is Valid For Use",
     MG_SEV_MEDIUM,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_LICENSE_VALID,
     "Ensure that the model's license is approved for use",
     {"Use a model under an approved license", "Or ask an administrator to approve this license", NULL},
     DOCS "license-is-valid-for-use"},
    {"org-not-blocked",
     "Organization Is Not Blocked",
     MG_SEV_CRITICAL,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_ORG,
     "Ensure that the model does not come from a blocked organization",
     {"Use a model from another organization", NULL},
     DOCS "organization-is-not-blocked"},
    {"model-not-blocked",
     "Model Is Not Blocked",
     MG_SEV_CRITICAL,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_MODEL,
     "Ensure that the model is not on the list of blocked models",
     {"Use another model", NULL},
     DOCS "model-is-not-blocked"},
    {"unchanged-since-approval",
     "Model Is Unchanged Since Approval",
     MG_SEV_HIGH,
     MG_POLICY_BLOCKING,
     MG_SCOPE_ALL,
     PK_UNCHANGED,
     "Ensure that the files of an approved model version have not changed since approval",
     {"Find out who changed the files and why", "Scan the changed model as a new version", NULL},
     DOCS "model-is-unchanged-since-approval"},
};

static const char *const default_formats[] = {
    "safetensors", "gguf",     "onnx",    "json", "hf-config", "tokenizer-config", "safetensors-index", "jsonl", "yaml",
    "text",        "markdown", "license", "npy",  NULL};
static const char *const default_licenses[] = {
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "isc", "cc0-1.0", "cc-by-4.0", "unlicense", NULL};

size_t mg_policy_count(void)
{
    return MG_NPOLICIES;
}
const char *mg_policy_id(size_t i)
{
    return i < MG_NPOLICIES ? mg_policy_defs[i].id : NULL;
}
const char *mg_policy_name(size_t i)
{
    return i < MG_NPOLICIES ? mg_policy_defs[i].name : NULL;
}

int mg_policy_index_by_name(const char *name)
{
    for (int i = 0; i < MG_NPOLICIES; i++)
        if (strcmp(mg_policy_defs[i].name, name) == 0 || strcmp(mg_policy_defs[i].id, name) == 0)
            return i;
    return -1;
}

/* ---- string lists ---- */

static void list_free(mg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int list_add(mg_strlist *l, const char *s)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static int list_set(mg_strlist *l, const char *const *items)
{
    list_free(l);
    for (; *items; items++)
        if (list_add(l, *items) != 0)
            return -1;
    return 0;
}

int mg_strlist_has(const mg_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* ---- lifetime and digest ---- */

void mg_policy_free(mg_policy *p)
{
    if (!p)
        return;
    list_free(&p->approved_formats);
    list_free(&p->approved_licenses);
    list_free(&p->denied_orgs);
    list_free(&p->denied_models);
    free(p);
}

static int finish(mg_policy *p)
{
    char *y = mg_policy_to_yaml_canonical(p);
    if (!y)
        return MG_ENOMEM;
    unsigned char md[32];
    unsigned int n = 0;
    int ok = EVP_Digest(y, strlen(y), md, &n, EVP_sha256(), NULL) && n == 32;
    free(y);
    if (!ok)
        return MG_ENOMEM;
    memcpy(p->digest, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(p->digest + 7 + 2 * i, 3, "%02x", md[i]);
    return MG_OK;
}

static mg_policy *new_default(void)
{
    mg_policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threshold = MG_SEV_MEDIUM;
    for (int i = 0; i < MG_NPOLICIES; i++) {
        p->p[i].state = mg_policy_defs[i].state;
        p->p[i].severity = mg_policy_defs[i].severity;
        p->p[i].scope = mg_policy_defs[i].scope;
    }
    if (list_set(&p->approved_formats, default_formats) || list_set(&p->approved_licenses, default_licenses)) {
        mg_policy_free(p);
        return NULL;
    }
    return p;
}

int mg_policy_default(mg_policy **out)
{
    mg_policy *p = new_default();
    if (!p || finish(p) != MG_OK) {
        mg_policy_free(p);
        return MG_ENOMEM;
    }
    *out = p;
    return MG_OK;
}

const char *mg_policy_digest(const mg_policy *p)
{
    return p->digest;
}

/* ---- YAML out ---- */

static const char *state_name(mg_policy_state s)
{
    return s == MG_POLICY_BLOCKING ? "BLOCKING" : s == MG_POLICY_ALLOWING ? "ALLOWING" : "DISABLED";
}

/* 1 when s can stand in a YAML flow list unquoted and read back the same. */
static int plain_item(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-' || *s == '/' || *s == '@' || *s == '+'))
            return 0;
    return 1;
}

/* A list item: plain when that is unambiguous (the usual names, so their
 * canonical form and digests stay as they were), else double-quoted with
 * escapes, so `a, b` or `x]` read back as the one item they are. */
static void emit_item(mg_buf *b, const char *s)
{
    if (plain_item(s)) {
        mg_buf_add(b, s, strlen(s));
        return;
    }
    mg_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            mg_buf_addf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            mg_buf_addf(b, "\\x%02x", *p);
        else
            mg_buf_add(b, (const char *)p, 1);
    }
    mg_buf_add(b, "\"", 1);
}

static void emit_list(mg_buf *b, const char *key, const mg_strlist *l)
{
    mg_buf_addf(b, "    %s: [", key);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            mg_buf_add(b, ", ", 2);
        emit_item(b, l->v[i]);
    }
    mg_buf_add(b, "]\n", 2);
}

static char *to_yaml(const mg_policy *p, int comments)
{
    mg_buf b;
    mg_buf_init(&b, 1u << 20);
    if (comments)
        mg_buf_addf(&b,
                    "# modelgate policy file (docs/policies.md). Edit it and pass it back with\n"
                    "# `modelgate scan --policy FILE`; check it with `modelgate policy check FILE`.\n"
                    "# digest: %s\n"
                    "# A violation blocks when its policy is BLOCKING and its severity is at or above\n"
                    "# global_threshold (LOW < MEDIUM < HIGH < CRITICAL).\n",
                    p->digest);
    mg_buf_addf(&b, "global_threshold: %s\npolicies:\n", mg_severity_name(p->threshold));
    for (int i = 0; i < MG_NPOLICIES; i++) {
        const mg_policy_def *d = &mg_policy_defs[i];
        if (comments)
            mg_buf_addf(&b, "  # %s\n", d->name);
        mg_buf_addf(&b, "  %s:\n    state: %s\n    severity: %s\n    scope: %s\n", d->id, state_name(p->p[i].state),
                    mg_severity_name(p->p[i].severity), p->p[i].scope == MG_SCOPE_HUGGINGFACE ? "huggingface" : "all");
        if (d->kind == PK_FORMAT)
            emit_list(&b, "approved_formats", &p->approved_formats);
        if (d->kind == PK_LICENSE_VALID)
            emit_list(&b, "approved_licenses", &p->approved_licenses);
        if (d->kind == PK_ORG)
            emit_list(&b, "denied_orgs", &p->denied_orgs);
        if (d->kind == PK_MODEL)
            emit_list(&b, "denied_models", &p->denied_models);
    }
    if (b.oom) {
        mg_buf_free(&b);
        return NULL;
    }
    return b.p; /* ownership passes to the caller */
}

char *mg_policy_to_yaml(const mg_policy *p)
{
    return to_yaml(p, 1);
}
char *mg_policy_to_yaml_canonical(const mg_policy *p)
{
    return to_yaml(p, 0);
}

/* ---- YAML in ---- */

typedef struct pctx {
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} pctx;

__attribute__((format(printf, 3, 4))) static int perr(pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "line %lu: %s", n ? (unsigned long)n->start_mark.line + 1 : 0ul, msg);
    return MG_EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_list(pctx *c, yaml_node_t *n, mg_strlist *out, const char *key)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(c, n, "`%s` must be a list, e.g. [a, b]", key);
    list_free(out);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *v = yaml_document_get_node(c->doc, *it);
        const char *s = scalar(v);
        if (!s || !*s)
            return perr(c, v, "`%s` items must be non-empty strings", key);
        if (list_add(out, s) != 0)
            return MG_ENOMEM;
    }
    return MG_OK;
}

static int parse_policy(pctx *c, mg_policy *p, int idx, yaml_node_t *body)
{
    const mg_policy_def *d = &mg_policy_defs[idx];
    if (body->type != YAML_MAPPING_NODE)
        return perr(c, body, "policy `%s` must be a mapping of state, severity, scope and parameters", d->id);
    for (yaml_node_pair_t *pr = body->data.mapping.pairs.start; pr < body->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key), *v = yaml_document_get_node(c->doc, pr->value);
        const char *key = scalar(k), *val = scalar(v);
        if (!key)
            return perr(c, k, "keys must be plain words");
        if (strcmp(key, "state") == 0) {
            if (val && strcasecmp(val, "BLOCKING") == 0)
                p->p[idx].state = MG_POLICY_BLOCKING;
            else if (val && strcasecmp(val, "ALLOWING") == 0)
                p->p[idx].state = MG_POLICY_ALLOWING;
            else if (val && strcasecmp(val, "DISABLED") == 0)
                p->p[idx].state = MG_POLICY_DISABLED;
            else
                return perr(c, v, "state of `%s` must be BLOCKING, ALLOWING or DISABLED", d->id);
        } else if (strcmp(key, "severity") == 0) {
            int sev = val ? mg_severity_parse(val) : -1;
            if (sev < 0)
                return perr(c, v, "severity of `%s` must be LOW, MEDIUM, HIGH or CRITICAL", d->id);
            p->p[idx].severity = (mg_severity)sev;
        } else if (strcmp(key, "scope") == 0) {
            if (val && strcmp(val, "all") == 0)
                p->p[idx].scope = MG_SCOPE_ALL;
            else if (val && strcmp(val, "huggingface") == 0)
                p->p[idx].scope = MG_SCOPE_HUGGINGFACE;
            else
                return perr(c, v, "scope of `%s` must be `all` or `huggingface`", d->id);
        } else if (strcmp(key, "name") == 0) {
            if (!val || strcmp(val, d->name) != 0)
                return perr(c, v, "policy `%s` is named \"%s\"", d->id, d->name);
        } else if (strcmp(key, "approved_formats") == 0 && d->kind == PK_FORMAT) {
            if (parse_list(c, v, &p->approved_formats, key))
                return MG_EINVAL;
        } else if (strcmp(key, "approved_licenses") == 0 && d->kind == PK_LICENSE_VALID) {
            if (parse_list(c, v, &p->approved_licenses, key))
                return MG_EINVAL;
        } else if (strcmp(key, "denied_orgs") == 0 && d->kind == PK_ORG) {
            if (parse_list(c, v, &p->denied_orgs, key))
                return MG_EINVAL;
        } else if (strcmp(key, "denied_models") == 0 && d->kind == PK_MODEL) {
            if (parse_list(c, v, &p->denied_models, key))
                return MG_EINVAL;
        } else {
            return perr(c, k, "`%s` is not a setting of policy `%s`", key, d->id);
        }
    }
    return MG_OK;
}

static int parse_root(pctx *c, mg_policy *p, yaml_node_t *root)
{
    if (!root)
        return perr(c, NULL, "the policy file is empty");
    if (root->type != YAML_MAPPING_NODE)
        return perr(c, root, "the policy file must be a mapping with global_threshold and policies");
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key), *v = yaml_document_get_node(c->doc, pr->value);
        const char *key = scalar(k);
        if (key && strcmp(key, "global_threshold") == 0) {
            int sev = scalar(v) ? mg_severity_parse(scalar(v)) : -1;
            if (sev < 0)
                return perr(c, v, "global_threshold must be LOW, MEDIUM, HIGH or CRITICAL");
            p->threshold = (mg_severity)sev;
        } else if (key && strcmp(key, "policies") == 0) {
            if (v->type != YAML_MAPPING_NODE)
                return perr(c, v, "`policies` must map policy ids to their settings");
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *pk = yaml_document_get_node(c->doc, q->key);
                const char *id = scalar(pk);
                int idx = id ? mg_policy_index_by_name(id) : -1;
                if (idx < 0)
                    return perr(c, pk, "unknown policy `%s` (see `modelgate policy show` for the ids)", id ? id : "?");
                int rc = parse_policy(c, p, idx, yaml_document_get_node(c->doc, q->value));
                if (rc)
                    return rc;
            }
        } else {
            return perr(c, k, "unknown key `%s` (expected global_threshold or policies)", key ? key : "?");
        }
    }
    return MG_OK;
}

int mg_policy_parse(mg_policy **out, const char *text, size_t len, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    if (len > (1u << 20)) {
        snprintf(err, errlen, "the policy file is larger than 1 MiB");
        return MG_EINVAL;
    }
    mg_policy *p = new_default();
    if (!p)
        return MG_ENOMEM;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        rc = MG_EINVAL;
    } else {
        pctx c = {&doc, err, errlen};
        rc = parse_root(&c, p, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc == MG_OK)
        rc = finish(p);
    if (rc != MG_OK) {
        mg_policy_free(p);
        return rc;
    }
    *out = p;
    return MG_OK;
}
