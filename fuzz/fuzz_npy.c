/*
 * fuzz_npy.c - libFuzzer target for NumPy .npy headers (version, header length, descr, shape) and object arrays.
 * Seeded with fuzz/corpus/npy/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.npy");
    return 0;
}
