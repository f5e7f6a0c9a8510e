/*
 * fuzz_zip.c - libFuzzer target for the zip central-directory reader and the
 * zip module (PyTorch, TorchScript, npz flavours). Seeded with real
 * checkpoints and the malicious zip fixtures.
 */

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.pt");
    return 0;
}
