/*
 * fuzz_torch_legacy.c - libFuzzer target for legacy PyTorch checkpoints:
 * the five stacked pickles, persistent ids and storages skipped by size.
 * Seeded with legacy checkpoints written by python3-torch.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.pt");
    return 0;
}
