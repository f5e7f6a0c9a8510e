/*
 * baseline.h - the approved files of a model: path -> sha256, read from the
 * report of its last ALLOWED scan, for "Model Is Unchanged Since Approval".
 * The CLI reads that report from a file (--baseline), the service from its
 * store; both hand the result to mg_model_info.
 */
#ifndef MG_BASELINE_H
#define MG_BASELINE_H

#include <jansson.h>
#include <stddef.h>

typedef struct baseline {
    char **paths, **sha256;
    size_t n;
} baseline;

/* Fills `b` from the `files` of a report document (files without a path or
 * sha256 are left out). 0, or -1 when out of memory (b is then empty). */
int baseline_from_report(const json_t *report, baseline *b);
void baseline_free(baseline *b);

#endif
