/*
 * fuzz_yaml.c - libFuzzer target for the YAML module: libyaml's events,
 * the anchor table, alias-expansion accounting and the Hydra `_target_`
 * judge. Seeded with fuzz/corpus/yaml.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.yaml");
    return 0;
}
