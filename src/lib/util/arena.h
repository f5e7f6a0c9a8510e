/*
 * arena.h - per-scan memory: a bump arena and budgeted growable buffers.
 *
 * Parsers never free: everything a scan allocates comes from its arena and is
 * released at once when the scan ends (STYLE.md, convention 5). All memory a
 * scan takes, arena chunks and growable buffers alike, is charged to one
 * mg_mem budget (limits.max_memory), so hostile input cannot make the
 * scanner's memory grow without bound: an allocation past the budget fails,
 * `hit` is set, and the caller reports the limit as a finding.
 */
#ifndef MG_ARENA_H
#define MG_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct mg_mem {
    uint64_t used;
    uint64_t max;
    uint64_t peak;
    int hit; /* an allocation was refused for the budget */
} mg_mem;

int mg_mem_charge(mg_mem *m, size_t n); /* 0 if it fits, -1 (and hit) if not */
void mg_mem_release(mg_mem *m, size_t n);

typedef struct mg_arena_chunk mg_arena_chunk;
typedef struct mg_arena {
    mg_mem *mem; /* NULL: unbudgeted (report strings) */
    mg_arena_chunk *head;
    size_t used, cap; /* in the head chunk */
    size_t total;     /* bytes of all chunks, released on free */
    size_t min_chunk; /* first chunk size (0: 16 KiB); small for per-file records */
} mg_arena;

void mg_arena_init(mg_arena *a, mg_mem *mem);
void *mg_arena_alloc(mg_arena *a, size_t n); /* 16-byte aligned, NULL when out of budget */
void *mg_arena_calloc(mg_arena *a, size_t count, size_t size);
char *mg_arena_strndup(mg_arena *a, const char *s, size_t n);
char *mg_arena_printf(mg_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mg_arena_free(mg_arena *a);

/*
 * A growable array of fixed-size items whose capacity is charged to a budget.
 * Used for stacks and tables whose size input drives.
 */
typedef struct mg_vec {
    void *items;
    size_t n, cap, size;
    mg_mem *mem;
} mg_vec;

void mg_vec_init(mg_vec *v, size_t item_size, mg_mem *mem);
/* Ensures room for `extra` more items; 0 or -1 (budget / overflow / ENOMEM). */
int mg_vec_reserve(mg_vec *v, size_t extra);
void *mg_vec_push(mg_vec *v); /* returns a zeroed slot, or NULL */
void mg_vec_free(mg_vec *v);

/* A growable text buffer with a maximum (curl's dynbuf idea). */
typedef struct mg_buf {
    char *p;
    size_t len, cap, max;
    int oom;
} mg_buf;

void mg_buf_init(mg_buf *b, size_t max);
int mg_buf_add(mg_buf *b, const void *p, size_t n);
int mg_buf_addc(mg_buf *b, char c);
int mg_buf_addf(mg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *mg_buf_cstr(mg_buf *b); /* "" when empty */
void mg_buf_free(mg_buf *b);

#endif
