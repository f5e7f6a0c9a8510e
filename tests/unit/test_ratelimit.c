/*
 * test_ratelimit.c - the REST API's per-token rate limits (ratelimit.c):
 * a burst passes and the next request gets the seconds to wait, callers do
 * not share buckets, requests without a caller and a service without limits
 * are never refused, and the table of buckets stays bounded: with every
 * bucket busy, the least recently used one gives way.
 */
#include <stdio.h>
#include <time.h>

#include "server/api.h"
#include "test.h"

void test_ratelimit_buckets(void);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void test_ratelimit_buckets(void)
{
    srv_ratelimit *rl = (srv_ratelimit *)1;
    CHECK(ratelimit_new(&rl, 0, 5) == MG_OK && rl == NULL); /* rate 0: no limit */
    CHECK(ratelimit_take(NULL, "token:aaaaaaaaaaaa") == 0);
    ratelimit_free(NULL);

    CHECK(ratelimit_new(&rl, 1, 3) == MG_OK && rl);
    if (!rl)
        return;
    double t0 = now_s();
    unsigned got[4];
    for (size_t i = 0; i < 4; i++)
        got[i] = ratelimit_take(rl, "token:aaaaaaaaaaaa");
    CHECK(got[0] == 0 && got[1] == 0 && got[2] == 0 && got[3] == 1); /* burst 3, then 1 s to wait */
    CHECK(ratelimit_take(rl, "token:bbbbbbbbbbbb") == 0);            /* another caller */
    CHECK(ratelimit_take(rl, "") == 0 && ratelimit_take(rl, NULL) == 0);

    /* 5000 busy callers (one request each, rate 1 s): more than the table
     * holds, so the oldest buckets give way; the newest keep their state */
    char caller[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(caller, sizeof caller, "token:%012d", i);
        ratelimit_take(rl, caller);
        ratelimit_take(rl, caller);
        ratelimit_take(rl, caller);
    }
    CHECK(ratelimit_take(rl, "token:000000004999") == 1);
    if (now_s() - t0 < 0.9) /* else every bucket has refilled meanwhile and says nothing */
        CHECK(ratelimit_take(rl, "token:aaaaaaaaaaaa") == 0);
    ratelimit_free(rl);
}
