/*
 * output.c - the report as JSON (report.md), SARIF 2.1.0 and human text.
 * JSON is built with jansson so every string from a hostile file is escaped
 * by a library that has been fuzzed for years, not by hand.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int write_json(FILE *out, const scan_view *v)
{
    char *doc = mg_report_json(v->report, v->ev, v->policy, v->engine, v->info, v->show_globals ? MG_JSON_GLOBALS : 0);
    if (!doc)
        return -1;
    fputs(doc, out);
    fputc('\n', out);
    free(doc);
    return 0;
}

static const char *sarif_level(mg_severity s)
{
    return s >= MG_SEV_HIGH ? "error" : s == MG_SEV_MEDIUM ? "warning" : "note";
}

int write_sarif(FILE *out, const scan_view *v)
{
    json_t *rules = json_array(), *results = json_array();
    json_t *index = json_object(); /* threat id -> rule index */
    for (size_t i = 0; i < mg_report_file_count(v->report); i++) {
        const mg_file *f = mg_report_file(v->report, i);
        for (size_t k = 0; k < f->nfindings; k++) {
            const mg_finding *fd = &f->findings[k];
            json_t *idx = json_object_get(index, fd->threat);
            if (!idx) {
                const mg_threat *t = mg_threat_find(fd->threat);
                char help[256];
                snprintf(help, sizeof help, "https://github.com/modelgate/modelgate/blob/main/docs/threats/%s.md",
                         fd->threat);
                idx = json_integer((json_int_t)json_array_size(rules));
                json_object_set_new(index, fd->threat, idx);
                json_array_append_new(
                    rules, json_pack("{s:s, s:{s:s}, s:{s:s}, s:s, s:{s:s}, s:{s:s}}", "id", fd->threat,
                                     "shortDescription", "text", t ? t->title : fd->threat, "fullDescription", "text",
                                     t ? t->title : fd->threat, "helpUri", help, "help", "text", t ? t->policy : "",
                                     "defaultConfiguration", "level", sarif_level(fd->severity)));
            }
            char uri[4096];
            snprintf(uri, sizeof uri, "%s", f->path);
            json_t *loc = json_pack("{s:{s:{s:s}, s:{s:I}}}", "physicalLocation", "artifactLocation", "uri", uri,
                                    "region", "byteOffset", (json_int_t)(fd->location[0] ? 0 : fd->offset));
            if (fd->location[0])
                json_object_set_new(loc, "logicalLocations",
                                    json_pack("[{s:s, s:s}]", "name", fd->location, "kind", "member"));
            json_array_append_new(results,
                                  json_pack("{s:s, s:I, s:s, s:{s:s}, s:[o], s:{s:s, s:s, s:I}}", "ruleId", fd->threat,
                                            "ruleIndex", json_integer_value(idx), "level", sarif_level(fd->severity),
                                            "message", "text", fd->message, "locations", loc, "properties", "severity",
                                            mg_severity_name(fd->severity), "member", fd->location, "memberOffset",
                                            (json_int_t)fd->offset));
        }
    }
    json_decref(index);
    json_t *root = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o, s:{s:s, s:s}}]}", "$schema",
                             "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs", "tool",
                             "driver", "name", "modelgate", "version", MG_VERSION, "informationUri",
                             "https://github.com/modelgate/modelgate", "rules", rules, "results", results, "properties",
                             "eval_outcome", v->outcome, "rules_version", v->rules_version);
    if (!root)
        return -1;
    /* the decision travels with the results, for pipelines that read only SARIF */
    json_t *props = json_object_get(json_array_get(json_object_get(root, "runs"), 0), "properties");
    json_t *pv = json_array();
    for (size_t i = 0; i < mg_evaluation_violation_count(v->ev); i++)
        json_array_append_new(pv, json_string(mg_evaluation_violation(v->ev, i)->policy_name));
    json_object_set_new(props, "policy_violations", pv);
    json_object_set_new(props, "policy_digest", json_string(mg_policy_digest(v->policy)));
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

/* Text goes to a person: control bytes from hostile names are escaped so a
 * file name cannot rewrite the terminal. */
static void put_safe(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

static const char *sev_color(mg_severity s)
{
    return s == MG_SEV_CRITICAL ? "\033[1;31m" : s == MG_SEV_HIGH ? "\033[31m" : s == MG_SEV_MEDIUM ? "\033[33m" : "";
}

/* Violations grouped by policy (or warnings), each with its sentences. */
static void print_violations(FILE *out, const scan_view *v, int warnings)
{
    size_t n = warnings ? mg_evaluation_warning_count(v->ev) : mg_evaluation_violation_count(v->ev);
    for (size_t i = 0; i < n; i++) {
        const mg_violation *vi = warnings ? mg_evaluation_warning(v->ev, i) : mg_evaluation_violation(v->ev, i);
        fprintf(out, "\n%s%s%s %s: %s\n", v->color ? sev_color(vi->severity) : "", warnings ? "warning" : "VIOLATION",
                v->color ? "\033[0m" : "", mg_severity_name(vi->severity), vi->policy_name);
        for (size_t k = 0; k < vi->nissues; k++) {
            fputs("  - ", out);
            put_safe(out, vi->compliance_issues[k]);
            fputc('\n', out);
        }
        if (!warnings && vi->nsteps) {
            fputs("  fix: ", out);
            for (size_t k = 0; k < vi->nsteps; k++)
                fprintf(out, "%s%s", k ? "; " : "", vi->steps[k]);
            fputc('\n', out);
        }
    }
}

int write_text(FILE *out, const scan_view *v)
{
    const char *on = "", *off = "";
    if (v->color) {
        on = strcmp(v->outcome, "ALLOWED") == 0 ? "\033[1;32m" : "\033[1;31m";
        off = "\033[0m";
    }
    size_t nfiles = mg_report_file_count(v->report), nfind = 0;
    for (size_t i = 0; i < nfiles; i++)
        nfind += mg_report_file(v->report, i)->nfindings;
    fprintf(out, "%s%s%s  ", on, v->outcome, off);
    put_safe(out, v->model_uri);
    fprintf(out, "  (%zu file%s, %zu finding%s, threshold %s, rules %s)\n", nfiles, nfiles == 1 ? "" : "s", nfind,
            nfind == 1 ? "" : "s", mg_evaluation_field(v->ev, "global_threshold_snapshot"), v->rules_version);
    if (v->quiet)
        return 0;
    print_violations(out, v, 0);
    print_violations(out, v, 1);
    for (size_t i = 0; i < nfiles; i++) {
        const mg_file *f = mg_report_file(v->report, i);
        if (!f->nfindings && f->status == MG_FILE_SCANNED && !(v->show_globals && f->nglobals))
            continue;
        fprintf(out, "\n");
        put_safe(out, f->path);
        fprintf(out, "  [%s, %llu bytes, %s]\n", f->format, (unsigned long long)f->size,
                mg_file_status_name(f->status));
        if (f->status == MG_FILE_ERROR) {
            fprintf(out, "  error: ");
            put_safe(out, f->error);
            fprintf(out, "\n");
        }
        for (size_t k = 0; k < f->nfindings; k++) {
            const mg_finding *fd = &f->findings[k];
            fprintf(out, "  %s%-8s%s %s at ", v->color ? sev_color(fd->severity) : "", mg_severity_name(fd->severity),
                    v->color ? "\033[0m" : "", fd->threat);
            if (fd->location[0]) {
                put_safe(out, fd->location);
                fputc('@', out);
            } else {
                fputs("byte ", out);
            }
            fprintf(out, "%llu\n    ", (unsigned long long)fd->offset);
            put_safe(out, fd->message);
            fputc('\n', out);
        }
        if (v->show_globals && f->nglobals) {
            fprintf(out, "  imports:\n");
            for (size_t k = 0; k < f->nglobals; k++) {
                fprintf(out, "    %-14s ", f->globals[k].verdict);
                put_safe(out, f->globals[k].name);
                if (f->globals[k].location[0]) {
                    fputs("  (", out);
                    put_safe(out, f->globals[k].location);
                    fputc(')', out);
                }
                fprintf(out, " @%llu\n", (unsigned long long)f->globals[k].offset);
            }
        }
    }
    return 0;
}
