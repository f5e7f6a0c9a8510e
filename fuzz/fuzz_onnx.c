/*
 * fuzz_onnx.c - libFuzzer target for the ONNX reader (protobuf ModelProto walk, external data, ops): any bytes through
 * the whole engine. Seeded with fuzz/corpus/onnx (small benign, malicious and malformed models from tests/corpus/onnx).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.onnx");
    return 0;
}
