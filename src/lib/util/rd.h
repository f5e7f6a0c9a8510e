/*
 * rd.h - the one way hostile bytes are read.
 *
 * Every parser sees its input as an mg_span (pointer + length, usually a
 * read-only mmap of the file) and walks it with an mg_rd cursor. All checks
 * compare integer offsets against the remaining length (`n <= len - off`),
 * never pointers (`p + n <= end` can wrap and compilers may delete such a
 * check: the YARA/ClamAV lesson). A failed read sets `bad` and returns zero
 * values, so a parser can read a whole header and test once.
 */
#ifndef MG_RD_H
#define MG_RD_H

#include <stdint.h>
#include <string.h>

typedef struct mg_span {
    const uint8_t *p;
    size_t len;
} mg_span;

/* A string from input: never NUL-terminated, always carries its length. */
typedef struct mg_str {
    const char *p;
    size_t len;
} mg_str;

static inline mg_str mg_str_c(const char *s)
{
    return (mg_str){s, s ? strlen(s) : 0};
}
static inline int mg_str_eq(mg_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && memcmp(a.p, b, n) == 0;
}

typedef struct mg_rd {
    mg_span s;
    size_t off;
    int bad; /* a read went past the end */
} mg_rd;

static inline mg_rd mg_rd_new(mg_span s)
{
    return (mg_rd){s, 0, 0};
}
static inline size_t mg_rd_left(const mg_rd *r)
{
    return r->s.len - r->off;
}
static inline int mg_rd_has(const mg_rd *r, size_t n)
{
    return !r->bad && n <= r->s.len - r->off;
}

/* Sub-span of n bytes at the cursor, advancing; empty span and `bad` on overrun. */
static inline mg_span mg_rd_take(mg_rd *r, size_t n)
{
    if (!mg_rd_has(r, n)) {
        r->bad = 1;
        return (mg_span){NULL, 0};
    }
    mg_span out = {r->s.p + r->off, n};
    r->off += n;
    return out;
}

static inline int mg_rd_skip(mg_rd *r, uint64_t n)
{
    if (r->bad || n > (uint64_t)(r->s.len - r->off)) {
        r->bad = 1;
        return -1;
    }
    r->off += (size_t)n;
    return 0;
}

static inline uint8_t mg_rd_u8(mg_rd *r)
{
    if (!mg_rd_has(r, 1)) {
        r->bad = 1;
        return 0;
    }
    return r->s.p[r->off++];
}

/* Little-endian unsigned integer of n <= 8 bytes. */
static inline uint64_t mg_rd_le(mg_rd *r, unsigned n)
{
    if (!mg_rd_has(r, n)) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)r->s.p[r->off + i] << (8 * i);
    r->off += n;
    return v;
}

static inline uint64_t mg_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Span helpers with the same offset discipline. */
static inline mg_span mg_span_sub(mg_span s, size_t off, size_t n)
{
    if (off > s.len || n > s.len - off)
        return (mg_span){NULL, 0};
    return (mg_span){s.p + off, n};
}
static inline mg_span mg_span_from(mg_span s, size_t off)
{
    if (off > s.len)
        return (mg_span){NULL, 0};
    return (mg_span){s.p + off, s.len - off};
}
static inline int mg_span_starts(mg_span s, const void *magic, size_t n)
{
    return s.len >= n && memcmp(s.p, magic, n) == 0;
}

#endif
