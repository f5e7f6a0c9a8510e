/*
 * utf8.h - UTF-8 validation with the rules of Python's strict decoder, which
 * is what loaders use on the text they read (configs, model cards).
 */
#ifndef MG_UTF8_H
#define MG_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the multi-byte sequence at `b` (2..4), 0 when invalid
 * (overlong, surrogate, above U+10FFFF), -1 when the input ends inside it. */
static inline int mg_utf8_seq(const uint8_t *b, size_t left)
{
    uint8_t c = b[0];
    if (c < 0xc2 || c > 0xf4)
        return 0;
    int n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (left < 2)
        return -1;
    if (b[1] < lo || b[1] > hi)
        return 0;
    for (int i = 2; i < n; i++) {
        if ((size_t)i >= left)
            return -1;
        if ((b[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

#endif
