/*
 * fuzz_jinja.c - libFuzzer target for the Jinja analyser (util/jinja.c).
 *
 * The input is the text of a template. It is wrapped as the only metadata
 * value (tokenizer.chat_template) of an otherwise empty GGUF v3 file and
 * scanned through the whole engine, so the analyser is reached the way real
 * files reach it, with no test-only entry point in the library; the fixed
 * GGUF wrapper costs nothing to the fuzzer, which mutates only the template.
 * Seeds in fuzz/corpus/jinja are bare templates (real chat templates and
 * injection payloads).
 */
#include <string.h>

#include "fuzz_common.h"

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key[] = "tokenizer.chat_template";
    size_t klen = sizeof key - 1;
    /* magic, version, tensor count, kv count, key, value type, string length, text */
    size_t head = 4 + 4 + 8 + 8 + 8 + klen + 4 + 8;
    uint8_t *buf = malloc(head + size);
    if (!buf)
        return 0;
    uint8_t *p = buf;
    memcpy(p, "GGUF", 4);
    put_le(p + 4, 3, 4);
    put_le(p + 8, 0, 8);
    put_le(p + 16, 1, 8);
    put_le(p + 24, klen, 8);
    memcpy(p + 32, key, klen);
    p += 32 + klen;
    put_le(p, 8, 4); /* GGUF_TYPE_STRING */
    put_le(p + 4, size, 8);
    if (size)
        memcpy(p + 12, data, size);
    fuzz_scan(buf, head + size, "fuzz.gguf");
    free(buf);
    return 0;
}
