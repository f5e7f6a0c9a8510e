/*
 * fuzz_keras.c - libFuzzer target for the Keras config analysis
 * (mg_keras_config): any bytes as the JSON a container hands over, through
 * a scan context set up as scan.c sets one up. Seeded with fuzz/corpus/keras.
 */
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mg_engine *eng = fuzz_engine();
    mg_report *r = NULL;
    if (mg_report_new(&r, eng) != MG_OK)
        abort();
    mg_file_rec *f = mg_report_add_file(r, "config.json");
    if (!f)
        abort();
    mg_scan s;
    memset(&s, 0, sizeof s);
    s.eng = eng;
    s.lim = &eng->opts.limits;
    s.out = f;
    s.mem.max = s.lim->max_memory;
    mg_arena_init(&s.work, &s.mem);
    s.loc = "";
    s.module = "keras";
    s.deadline = mg_now_ms() + s.lim->max_time_ms;
    mg_keras_config(&s, (mg_span){data, size}, 0);
    mg_arena_free(&s.work);
    mg_file_rec_finish(f);
    volatile size_t n = 0;
    for (size_t k = 0; k < f->pub.nfindings; k++)
        n += (size_t)f->pub.findings[k].message[0];
    (void)n;
    mg_report_free(r);
    return 0;
}
