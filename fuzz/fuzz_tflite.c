/*
 * fuzz_tflite.c - libFuzzer target for the TFLite FlatBuffer reader: any bytes through the whole
 * engine. Seeded with fuzz/corpus/tflite (small benign, malicious and
 * malformed models from tests/corpus/tflite).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.tflite");
    return 0;
}
