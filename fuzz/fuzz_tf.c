/*
 * fuzz_tf.c - libFuzzer target for the TensorFlow SavedModel / GraphDef reader (protobuf, saver analysis): any bytes
 * through the whole engine. Seeded with fuzz/corpus/tf (small benign, malicious and malformed models from
 * tests/corpus/tf).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.pb");
    return 0;
}
