/*
 * test_util.c - the bounds-checked reader, the arena and the budgets.
 */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "util/arena.h"
#include "util/rd.h"

void test_rd_bounds(void);
void test_arena_budget(void);
void test_vec_budget(void);
void test_buf_max(void);

void test_rd_bounds(void)
{
    const uint8_t data[] = {1, 2, 3, 4, 5};
    mg_rd r = mg_rd_new((mg_span){data, sizeof data});
    CHECK(mg_rd_u8(&r) == 1);
    CHECK(mg_rd_le(&r, 2) == 0x0302);
    CHECK(!r.bad);
    CHECK(mg_rd_le(&r, 4) == 0); /* only 2 bytes left */
    CHECK(r.bad);
    r = mg_rd_new((mg_span){data, sizeof data});
    CHECK(mg_rd_skip(&r, UINT64_MAX) == -1); /* a huge skip cannot wrap the offset */
    CHECK(r.bad && r.off == 0);
    r = mg_rd_new((mg_span){data, sizeof data});
    mg_span t = mg_rd_take(&r, 5);
    CHECK(t.len == 5 && !r.bad);
    t = mg_rd_take(&r, 1);
    CHECK(t.p == NULL && r.bad);
    CHECK(mg_span_sub((mg_span){data, 5}, 4, 2).p == NULL);
    CHECK(mg_span_sub((mg_span){data, 5}, SIZE_MAX, 2).p == NULL);
    CHECK(mg_span_sub((mg_span){data, 5}, 3, 2).len == 2);
}

void test_arena_budget(void)
{
    mg_mem mem = {.max = 64 * 1024};
    mg_arena a;
    mg_arena_init(&a, &mem);
    void *p = mg_arena_alloc(&a, 100);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(mg_arena_alloc(&a, 1 << 20) == NULL); /* over the budget */
    CHECK(mem.hit);
    CHECK(mg_arena_alloc(&a, SIZE_MAX) == NULL);
    char *s = mg_arena_printf(&a, "%s-%d", "x", 42);
    CHECK(s && strcmp(s, "x-42") == 0);
    mg_arena_free(&a);
    CHECK(mem.used == 0);
}

void test_vec_budget(void)
{
    mg_mem mem = {.max = 4096};
    mg_vec v;
    mg_vec_init(&v, sizeof(uint64_t), &mem);
    int pushed = 0;
    while (mg_vec_push(&v))
        pushed++;
    CHECK(pushed > 0 && pushed <= 512);
    CHECK(mem.hit);
    CHECK(mg_vec_reserve(&v, SIZE_MAX) == -1);
    mg_vec_free(&v);
    CHECK(mem.used == 0);
}

void test_buf_max(void)
{
    mg_buf b;
    mg_buf_init(&b, 8);
    CHECK(mg_buf_add(&b, "12345678", 8) == 0);
    CHECK(mg_buf_addc(&b, 'x') == -1);
    CHECK(b.oom && b.len == 8);
    CHECK(strcmp(mg_buf_cstr(&b), "12345678") == 0);
    mg_buf_free(&b);
}
