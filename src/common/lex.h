/*
 * lex.h - small checks and scanners for hostile text that the sources, the
 * service and the gateway all apply, kept in one place so that a hub repo
 * name or a byte count means the same thing wherever it is read.
 */
#ifndef MG_COMMON_LEX_H
#define MG_COMMON_LEX_H

#include <stddef.h>
#include <stdint.h>

enum { LEX_HUB_NAME_MAX = 96 }; /* the Hub's limit for a namespace or repo name */

/* A hub namespace or repo name as the Hub allows them: [A-Za-z0-9._-], 1 to
 * LEX_HUB_NAME_MAX bytes, not starting with '.' or '-', no "..". Such names
 * go into URL paths unencoded, so nothing else may pass. */
int lex_hub_name_ok(const char *s, size_t n);
/* The value of a hex digit, -1 for anything else. */
int lex_hexval(char c);
/* Reads a decimal number at *p (at least one digit) and moves *p past it;
 * -1 when there is no digit or the value overflows 64 bits. */
int lex_u64(const char **p, uint64_t *out);

#endif
