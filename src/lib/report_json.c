/*
 * report_json.c - the report document of report.md, built in the library so
 * that the CLI, the service and the gateway emit exactly the same fields.
 * jansson escapes every string (names and messages come from hostile files).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *violation_json(const mg_violation *v)
{
    json_t *steps = json_array(), *issues = json_array(), *by = json_array();
    for (size_t i = 0; i < v->nsteps; i++)
        json_array_append_new(steps, json_string(v->steps[i]));
    for (size_t i = 0; i < v->nissues; i++)
        json_array_append_new(issues, json_string(v->compliance_issues[i]));
    for (size_t i = 0; i < v->nby_file; i++)
        json_array_append_new(by, json_pack("{s:s, s:o}", "file", v->issues_by_file[i].file, "threat",
                                            str_or_null(v->issues_by_file[i].threat)));
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:o, s:s}, s:o, s:o}", "policy_name", v->policy_name, "policy_id",
                     v->policy_id, "severity", mg_severity_name(v->severity), "remediation", "description",
                     v->description, "steps", steps, "url", v->url, "compliance_issues", issues, "issues_by_file", by);
}

static json_t *violations_json(const mg_evaluation *ev, int warnings)
{
    size_t n = warnings ? mg_evaluation_warning_count(ev) : mg_evaluation_violation_count(ev);
    if (!warnings && n == 0)
        return json_null(); /* report.md: null when none */
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a,
                              violation_json(warnings ? mg_evaluation_warning(ev, i) : mg_evaluation_violation(ev, i)));
    return a;
}

static json_t *file_json(const mg_file *f, unsigned flags)
{
    json_t *findings = json_array();
    for (size_t i = 0; i < f->nfindings; i++) {
        const mg_finding *d = &f->findings[i];
        json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "threat", d->threat,
                                                  "severity", mg_severity_name(d->severity), "message", d->message,
                                                  "offset", (json_int_t)d->offset, "location", d->location, "module",
                                                  d->module, "operator", d->op));
    }
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "path", f->path, "format", f->format, "size", (json_int_t)f->size,
                  "sha256", f->sha256, "status", mg_file_status_name(f->status), "findings", findings);
    if (f->status == MG_FILE_ERROR)
        json_object_set_new(o, "error", json_string(f->error));
    if (f->nfacts) {
        json_t *facts = json_object();
        for (size_t i = 0; i < f->nfacts; i++)
            json_object_set_new(facts, f->facts[i].key, json_string(f->facts[i].value));
        json_object_set_new(o, "facts", facts);
    }
    if (flags & MG_JSON_GLOBALS) {
        json_t *g = json_array();
        for (size_t i = 0; i < f->nglobals; i++)
            json_array_append_new(g, json_pack("{s:s, s:s, s:s, s:I}", "name", f->globals[i].name, "verdict",
                                               f->globals[i].verdict, "location", f->globals[i].location, "offset",
                                               (json_int_t)f->globals[i].offset));
        json_object_set_new(o, "globals", g);
    }
    return o;
}

char *mg_report_json(const mg_report *r, const mg_evaluation *ev, const mg_policy *p, const mg_engine *eng,
                     const mg_model_info *info, unsigned flags)
{
    if (!r || !ev || !p || !eng || !info)
        return NULL;
    json_t *files = json_array();
    for (size_t i = 0; i < mg_report_file_count(r); i++)
        json_array_append_new(files, file_json(mg_report_file(r, i), flags));
    const char *f = NULL;
    json_t *root = json_object();
    json_object_set_new(root, "uuid", str_or_null(info->uuid));
    json_object_set_new(root, "model_uri", json_string(info->model_uri));
    json_object_set_new(root, "namespace", str_or_null(mg_evaluation_field(ev, "namespace")));
    json_object_set_new(root, "model_name", str_or_null(mg_evaluation_field(ev, "model_name")));
    json_object_set_new(root, "revision", str_or_null(mg_evaluation_field(ev, "revision")));
    json_object_set_new(root, "license", str_or_null(mg_evaluation_field(ev, "license")));
    json_object_set_new(root, "eval_outcome", json_string(mg_evaluation_outcome(ev)));
    json_object_set_new(root, "global_threshold_snapshot",
                        str_or_null(mg_evaluation_field(ev, "global_threshold_snapshot")));
    f = mg_evaluation_field(ev, "enabled_policy_count_snapshot");
    json_object_set_new(root, "enabled_policy_count_snapshot", json_integer(f ? strtol(f, NULL, 10) : 0));
    json_object_set_new(root, "created_at", str_or_null(info->created_at));
    json_object_set_new(root, "updated_at", str_or_null(info->updated_at));
    json_object_set_new(root, "policy_violations", violations_json(ev, 0));
    json_object_set_new(root, "warnings", violations_json(ev, 1));
    json_object_set_new(root, "model_uuid", str_or_null(mg_evaluation_field(ev, "model_uuid")));
    json_object_set_new(root, "model_version_uuid", str_or_null(mg_evaluation_field(ev, "model_version_uuid")));
    json_object_set_new(root, "scanner_version", json_string(MG_VERSION));
    json_object_set_new(root, "rules_version", json_string(mg_engine_rules_version(eng)));
    json_object_set_new(root, "policy_digest", json_string(mg_policy_digest(p)));
    json_object_set_new(root, "files", files);
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    return out;
}
