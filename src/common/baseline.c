/* baseline.c - see baseline.h. */
#include <stdlib.h>
#include <string.h>

#include "baseline.h"

void baseline_free(baseline *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->paths[i]);
        free(b->sha256[i]);
    }
    free(b->paths);
    free(b->sha256);
    memset(b, 0, sizeof *b);
}

int baseline_from_report(const json_t *report, baseline *b)
{
    memset(b, 0, sizeof *b);
    const json_t *files = json_object_get(report, "files");
    size_t n = json_array_size(files);
    b->paths = calloc(n + 1, sizeof *b->paths);
    b->sha256 = calloc(n + 1, sizeof *b->sha256);
    int oom = !b->paths || !b->sha256;
    for (size_t i = 0; !oom && i < n; i++) {
        const json_t *f = json_array_get(files, i);
        const char *p = json_string_value(json_object_get(f, "path"));
        const char *h = json_string_value(json_object_get(f, "sha256"));
        if (!p || !h)
            continue; /* an unhashed file ("") matches itself: it is not "added" */
        b->paths[b->n] = strdup(p);
        b->sha256[b->n] = strdup(h);
        b->n++;
        oom = !b->paths[b->n - 1] || !b->sha256[b->n - 1];
    }
    if (oom)
        baseline_free(b);
    return oom ? -1 : 0;
}
