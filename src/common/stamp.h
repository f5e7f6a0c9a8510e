/*
 * stamp.h - report uuids (random, version 4) and RFC 3339 UTC timestamps with
 * microseconds, as report.md specifies.
 */
#ifndef MG_STAMP_H
#define MG_STAMP_H

#include <stddef.h>

void uuid_v4(char out[37]);
void rfc3339_now(char *out, size_t n);

#endif
