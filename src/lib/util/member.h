/*
 * member.h - checks shared by every container reader (zip, tar, 7z, ...):
 * member names that escape the extraction folder, printable names for
 * messages, and names that appear twice.
 */
#ifndef MG_MEMBER_H
#define MG_MEMBER_H

#include "arena.h"
#include "rd.h"

/* Why extracting a member with this name writes outside its folder
 * (absolute path, drive letter, `..` part, NUL), or NULL when it does not. */
const char *mg_member_path_problem(mg_str name);

/* Copies `name` into buf with control bytes escaped (\xNN), NUL-terminated. */
void mg_member_printable(char *buf, size_t n, mg_str name);

/* A set of member names, compared ignoring ASCII case (the loosest reader
 * wins: miniz looks names up case-insensitively). */
typedef struct mg_nameset {
    mg_str *slots;
    size_t cap, n;
    mg_mem *mem;
} mg_nameset;

void mg_nameset_init(mg_nameset *s, mg_mem *mem);
/* Adds `name`; returns 1 when an equal name was already there, 0 when added,
 * -1 when out of budget. The set borrows the name's bytes. */
int mg_nameset_add(mg_nameset *s, mg_str name);
void mg_nameset_free(mg_nameset *s);

/*
 * A spool: bytes produced by decompression, kept in an anonymous memory file
 * (memfd) and mapped back for scanning, so a large member is never held in
 * the process heap and its pages can be released behind the scan cursor.
 */
typedef struct mg_spool {
    int fd;
    uint64_t len;
    void *map;
} mg_spool;

int mg_spool_open(mg_spool *sp);
int mg_spool_write(mg_spool *sp, const void *p, size_t n);
int mg_spool_map(mg_spool *sp, mg_span *out);
void mg_spool_close(mg_spool *sp);

/*
 * Inflates `in` (window_bits 15: a zlib stream; -15: raw deflate, as in zip
 * members) in steps, handing each piece of output to io->write (which keeps
 * the budget and may stop by returning nonzero) and reporting the input
 * consumed so far to io->consumed (so mapped input can be released).
 * Returns MG_INFLATE_OK at the end of the stream, MG_INFLATE_STOPPED when
 * write stopped it, MG_INFLATE_BAD when the data is corrupt or ends early.
 */
enum { MG_INFLATE_OK = 0, MG_INFLATE_STOPPED = 1, MG_INFLATE_BAD = 2 };
typedef struct mg_inflate_io {
    int (*write)(void *ctx, const uint8_t *p, size_t n);
    void (*consumed)(void *ctx, size_t bytes_in); /* may be NULL */
    void *ctx;
} mg_inflate_io;
int mg_inflate(mg_span in, int window_bits, const mg_inflate_io *io, uint64_t *total_in);

#endif
