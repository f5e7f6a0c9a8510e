/*
 * fuzz_common.h - the engine every fuzz target scans with: created once,
 * small limits so a slow input shows up as a limit finding, not a timeout.
 */
#ifndef MG_FUZZ_COMMON_H
#define MG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>

#include "modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline const mg_engine *fuzz_engine(void)
{
    static mg_engine *eng;
    if (!eng) {
        mg_options o;
        mg_options_default(&o);
        o.hash_files = 0;
        o.record_globals = 1;
        o.limits.max_time_ms = 5000;
        o.limits.max_memory = 16u << 20;
        o.limits.max_inflated = 64u << 20;
        if (mg_engine_new(&eng, &o, NULL, 0) != MG_OK)
            abort();
    }
    return eng;
}

/* Scans a buffer and touches every result so dangling pointers show. */
static inline void fuzz_scan(const uint8_t *data, size_t size, const char *name)
{
    mg_report *r = NULL;
    if (mg_scan_buffer(&r, fuzz_engine(), data, size, name) != MG_OK)
        abort();
    volatile size_t n = 0;
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        for (size_t k = 0; k < f->nfindings; k++)
            n += (size_t)f->findings[k].message[0] + (size_t)f->findings[k].location[0];
        for (size_t k = 0; k < f->nglobals; k++)
            n += (size_t)f->globals[k].name[0];
    }
    (void)n;
    mg_report_free(r);
}

#endif
