/*
 * fuzz_joblib.c - libFuzzer target for joblib pickles with inline numpy buffers (NumpyArrayWrapper sizes, alignment padding, object arrays) and their compressed forms.
 * Seeded with fuzz/corpus/joblib/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.joblib");
    return 0;
}
