/*
 * fuzz_json.c - libFuzzer target for the JSON reader (Python's json grammar,
 * duplicate keys, shallow reads of large documents) and the config checks
 * (auto_map, chat templates, weight_map, diffusers, sentence-transformers,
 * peft). Seeded with fuzz/corpus/json (configs from tests/corpus/hfrepo).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "config.json");
    return 0;
}
