/*
 * fuzz_s3_list.c - libFuzzer target for the S3 answers the S3 source parses
 * (src/sources/s3_xml.c): every input is read both as a ListObjectsV2 page
 * and as an <Error>. The parser lives in the command, so this target links
 * s3_xml.o (Makefile) instead of scanning through the engine. Seeded with
 * fuzz/corpus/s3_list (real s3rver and S3 shapes, pagination, escapes).
 */
#include <stdint.h>
#include <string.h>

#include "../src/sources/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte it is given, so a dangling or unterminated key shows. */
static int touch(void *ctx, const char *key, uint64_t size, const char *etag)
{
    size_t *sum = ctx;
    *sum += strlen(key) + (size_t)(size & 1) + (etag ? strlen(etag) : 0);
    return *sum > ((size_t)1 << 40); /* never: but the return path is exercised */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static s3_list_page page;
    char err[256], code[128], msg[512];
    volatile size_t sum = 0;
    size_t s = 0;
    if (s3_list_parse((const char *)data, size, touch, &s, &page, err, sizeof err) == 0)
        sum += strlen(page.next_token) + page.entries;
    if (s3_error_parse((const char *)data, size, code, sizeof code, msg, sizeof msg) == 0)
        sum += strlen(code) + strlen(msg);
    sum += s;
    (void)sum;
    return 0;
}
