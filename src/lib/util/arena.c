/*
 * arena.c - bump arena, budgeted vectors and bounded text buffers (arena.h).
 */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

int mg_mem_charge(mg_mem *m, size_t n)
{
    if (!m)
        return 0;
    if (n > m->max || m->used > m->max - n) {
        m->hit = 1;
        return -1;
    }
    m->used += n;
    if (m->used > m->peak)
        m->peak = m->used;
    return 0;
}

void mg_mem_release(mg_mem *m, size_t n)
{
    if (m)
        m->used = n > m->used ? 0 : m->used - n;
}

struct mg_arena_chunk {
    mg_arena_chunk *next;
    size_t size;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_MIN_CHUNK = 16 * 1024 };

void mg_arena_init(mg_arena *a, mg_mem *mem)
{
    memset(a, 0, sizeof *a);
    a->mem = mem;
}

void *mg_arena_alloc(mg_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    if (!a->head || need > a->cap - a->used) {
        size_t minc = a->min_chunk ? a->min_chunk : ARENA_MIN_CHUNK;
        size_t csize = need > minc ? need : minc;
        /* grow chunk sizes with the arena so big scans make few mallocs */
        if (a->total / 4 > csize && a->total / 4 < 4u * 1024 * 1024)
            csize = a->total / 4;
        if (csize > SIZE_MAX - sizeof(mg_arena_chunk))
            return NULL;
        if (mg_mem_charge(a->mem, csize) != 0)
            return NULL;
        mg_arena_chunk *c = malloc(sizeof *c + csize);
        if (!c) {
            mg_mem_release(a->mem, csize);
            return NULL;
        }
        c->next = a->head;
        c->size = csize;
        a->head = c;
        a->used = 0;
        a->cap = csize;
        a->total += csize;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

void *mg_arena_calloc(mg_arena *a, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n))
        return NULL;
    void *p = mg_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *mg_arena_strndup(mg_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = mg_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *mg_arena_printf(mg_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = mg_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void mg_arena_free(mg_arena *a)
{
    mg_arena_chunk *c = a->head;
    while (c) {
        mg_arena_chunk *next = c->next;
        mg_mem_release(a->mem, c->size);
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = a->cap = a->total = 0;
}

void mg_vec_init(mg_vec *v, size_t item_size, mg_mem *mem)
{
    memset(v, 0, sizeof *v);
    v->size = item_size;
    v->mem = mem;
}

int mg_vec_reserve(mg_vec *v, size_t extra)
{
    if (extra <= v->cap - v->n)
        return 0;
    size_t want;
    if (__builtin_add_overflow(v->n, extra, &want))
        return -1;
    size_t ncap = v->cap ? v->cap : 16;
    while (ncap < want) {
        if (__builtin_mul_overflow(ncap, (size_t)2, &ncap))
            return -1;
    }
    size_t bytes, old = v->cap * v->size;
    if (__builtin_mul_overflow(ncap, v->size, &bytes))
        return -1;
    if (mg_mem_charge(v->mem, bytes - old) != 0)
        return -1;
    void *p = realloc(v->items, bytes);
    if (!p) {
        mg_mem_release(v->mem, bytes - old);
        return -1;
    }
    v->items = p;
    v->cap = ncap;
    return 0;
}

void *mg_vec_push(mg_vec *v)
{
    if (mg_vec_reserve(v, 1) != 0)
        return NULL;
    void *slot = (unsigned char *)v->items + v->n * v->size;
    memset(slot, 0, v->size);
    v->n++;
    return slot;
}

void mg_vec_free(mg_vec *v)
{
    mg_mem_release(v->mem, v->cap * v->size);
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

void mg_buf_init(mg_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

int mg_buf_add(mg_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return -1;
    if (n > b->max || b->len > b->max - n) {
        b->oom = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *q = realloc(b->p, ncap);
        if (!q) {
            b->oom = 1;
            return -1;
        }
        b->p = q;
        b->cap = ncap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int mg_buf_addc(mg_buf *b, char c)
{
    return mg_buf_add(b, &c, 1);
}

int mg_buf_addf(mg_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return mg_buf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = mg_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

const char *mg_buf_cstr(mg_buf *b)
{
    return b->p ? b->p : "";
}

void mg_buf_free(mg_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
