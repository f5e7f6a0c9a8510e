/*
 * fuzz_gateway_route.c - libFuzzer target for what the gateway reads from a
 * request line and its headers before anything else (src/gateway/route.c):
 * the raw path (repo type, repo id, revision, file, percent escapes), the
 * Range header against a file size, and the text it puts into headers.
 * Input: one method byte, then "path\nrange". Seeded with
 * fuzz/corpus/gateway_route (paths the Hub clients send, and broken ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/gateway/gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_route(const gw_route *r)
{
    if (r->kind == GW_NONE || r->kind == GW_HEALTH)
        return;
    /* a routed repo id is never empty, and a file never escapes the repo */
    if (!r->name[0] || !r->repo[0])
        abort();
    if ((r->kind == GW_RESOLVE || r->kind == GW_RAW) && (!r->file[0] || r->file[0] == '/' || strstr(r->file, "/../") ||
                                                         strncmp(r->file, "../", 3) == 0 || strcmp(r->file, "..") == 0))
        abort();
    for (const char *p = r->rev; *p; p++)
        if ((unsigned char)*p < 0x20)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT"};
    if (size < 1 || size > 16384)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    char *nl = strchr(s, '\n');
    const char *range = NULL;
    if (nl) {
        *nl = 0;
        range = nl + 1;
    }
    gw_route r;
    gw_route_parse(methods[data[0] % 4], s, &r);
    check_route(&r);
    uint64_t off = 0, len = 0, fsize = (uint64_t)data[0] * 977;
    int rc = gw_range_parse(range, fsize, &off, &len);
    if (rc == 0 && (len == 0 || off >= fsize || off + len > fsize))
        abort();
    char line[64];
    gw_header_text(s, line, sizeof line);
    for (const char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
    char *enc = gw_pct(s, data[0] & 1);
    if (enc && strpbrk(enc, " ?#\r\n"))
        abort();
    free(enc);
    free(s);
    return 0;
}
