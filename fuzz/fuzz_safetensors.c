/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader: any bytes
 * through the whole engine (detection, header length, JSON, tensor layout).
 * Seeded with fuzz/corpus/safetensors (benign and malformed headers).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.safetensors");
    return 0;
}
