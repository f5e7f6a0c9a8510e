/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: any bytes through the
 * whole engine (header, metadata of every type, nested arrays, tensor infos,
 * chat templates handed to the Jinja analyser). Seeded with fuzz/corpus/gguf.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.gguf");
    return 0;
}
