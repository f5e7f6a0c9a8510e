/*
 * policy.h - the policy set inside the library: the table of policies with
 * their remediation, and the structure evaluate.c and report_json.c read.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include "../internal.h"

enum { MG_NPOLICIES = 13 };

typedef enum mg_scope { MG_SCOPE_ALL = 0, MG_SCOPE_HUGGINGFACE = 1 } mg_scope;

/* What a policy judges: threats that name it in the catalog, or facts. */
typedef enum mg_policy_kind {
    PK_THREATS,
    PK_FORMAT,
    PK_LICENSE_EXISTS,
    PK_LICENSE_VALID,
    PK_ORG,
    PK_MODEL,
    PK_UNCHANGED,
} mg_policy_kind;

typedef struct mg_policy_def {
    const char *id;   /* stable id used in policy files: "license-valid" */
    const char *name; /* report.md name: "License Is Valid For Use" */
    mg_severity severity;
    mg_policy_state state;
    mg_scope scope;
    mg_policy_kind kind;
    const char *description;
    const char *steps[4]; /* NULL-terminated */
    const char *url;
} mg_policy_def;

extern const mg_policy_def mg_policy_defs[MG_NPOLICIES];

typedef struct mg_strlist {
    char **v;
    size_t n;
} mg_strlist;

struct mg_policy {
    mg_severity threshold;
    struct {
        mg_policy_state state;
        mg_severity severity;
        mg_scope scope;
    } p[MG_NPOLICIES];
    mg_strlist approved_formats, approved_licenses, denied_orgs, denied_models;
    char digest[7 + 64 + 1];
};

int mg_policy_index_by_name(const char *name);
int mg_strlist_has(const mg_strlist *l, const char *s);
char *mg_policy_to_yaml_canonical(const mg_policy *p);

#endif
