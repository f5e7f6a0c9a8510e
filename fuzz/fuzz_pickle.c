/*
 * fuzz_pickle.c - libFuzzer target for the pickle machine: any bytes through
 * the whole engine (detection, pickle streams, trailing data, nested
 * payloads). Seeded with tests/corpus/pickle and fuzz/dict/pickle.dict.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.pkl");
    return 0;
}
