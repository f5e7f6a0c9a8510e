/*
 * fuzz_pickle.c - libFuzzer target for the pickle machine: any bytes, scanned
 * as a buffer through the whole engine (detection, pickle streams, trailing
 * data, nested payloads). Must never crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>

#include "modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mg_engine *eng;
    if (!eng) {
        mg_options o;
        mg_options_default(&o);
        o.hash_files = 0;
        o.record_globals = 1;
        o.limits.max_time_ms = 5000;
        o.limits.max_memory = 16u << 20;
        if (mg_engine_new(&eng, &o, NULL, 0) != MG_OK)
            abort();
    }
    mg_report *r = NULL;
    if (mg_scan_buffer(&r, eng, data, size, "fuzz") != MG_OK)
        abort();
    /* touch every result so a dangling pointer would be caught */
    size_t n = 0;
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        for (size_t k = 0; k < f->nfindings; k++)
            n += f->findings[k].message[0] + f->findings[k].location[0];
    }
    (void)n;
    mg_report_free(r);
    return 0;
}
