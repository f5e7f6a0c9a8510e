/*
 * fuzz_hdf5.c - libFuzzer target for the HDF5 reader (superblocks, object
 * headers, continuation chains, global heaps, group B-trees) and the Keras
 * configs it hands to mg_keras_config. Seeded with fuzz/corpus/hdf5.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.h5");
    return 0;
}
