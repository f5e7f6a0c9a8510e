/*
 * fuzz_exe.c - libFuzzer target for executable headers: ELF, PE, Mach-O
 * (thin and fat, not Java), APE/llamafile and #! scripts (a Python script is
 * also read as Python). Seeded with fuzz/corpus/exe.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "a.out");
    return 0;
}
