/*
 * fuzz_text.c - libFuzzer target for the text module: the Python lexer
 * (strings, f-strings, imports, aliases), model card front matter through
 * libyaml, license recognition and Jinja template files. Seeded with
 * fuzz/corpus/text.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "modeling.py");
    return 0;
}
