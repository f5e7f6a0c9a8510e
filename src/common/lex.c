/*
 * lex.c - shared checks for hostile text (lex.h): hub names, hex digits,
 * decimal numbers with overflow checks.
 */
#include "lex.h"

int lex_hub_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > LEX_HUB_NAME_MAX || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.'))
            return 0;
    }
    return 1;
}

int lex_hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int lex_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -1;
    *p = s;
    *out = v;
    return 0;
}
