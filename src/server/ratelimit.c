/*
 * ratelimit.c - per-token rate limits of the REST API (docs/rest.md): a
 * token bucket per caller, keyed by the caller's identity ("token:" and 12
 * hex digits of the token's SHA-256, the same for its dashboard sessions).
 * A bucket holds at most `burst` requests and refills at `rate` per second;
 * a request that finds it empty is answered 429 with the seconds until the
 * next one fits.
 *
 * The buckets live in this process's memory: with several API processes
 * each one limits on its own. Memory is bounded: at most RL_MAX_CALLERS
 * buckets. A bucket idle long enough to be full again says nothing a new
 * bucket would not, so such buckets are dropped by a sweep once a minute
 * and whenever the table is full; when every bucket is busy, the one used
 * least recently gives way (its caller then starts again from a full
 * bucket, which errs on the side of letting requests through).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

enum { RL_MAX_CALLERS = 4096, RL_HEADS = 1024, RL_SWEEP_S = 60 };

typedef struct rl_bucket {
    char caller[32];
    double tokens;
    double last; /* monotonic seconds of the last refill */
    struct rl_bucket *next;
} rl_bucket;

struct srv_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    double last_sweep;
    size_t count;
    rl_bucket *heads[RL_HEADS];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ratelimit_new(srv_ratelimit **out, unsigned rate, unsigned burst)
{
    *out = NULL;
    if (rate == 0)
        return MG_OK; /* no limit */
    srv_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return MG_ENOMEM;
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = rate;
    rl->burst = burst ? burst : rate; /* default: one second's worth */
    rl->last_sweep = mono_now();
    *out = rl;
    return MG_OK;
}

void ratelimit_free(srv_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t h = 0; h < RL_HEADS; h++) {
        for (rl_bucket *b = rl->heads[h], *next; b; b = next) {
            next = b->next;
            free(b);
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* FNV-1a over the caller's identity. */
static size_t head_of(const char *caller)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)caller; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % RL_HEADS;
}

/* Drops every bucket that has refilled to full; when none did and the
 * table is full, drops the least recently used one. Under the lock. */
static void sweep(srv_ratelimit *rl, double now)
{
    double full_after = rl->burst / rl->rate;
    rl_bucket **oldest = NULL;
    for (size_t h = 0; h < RL_HEADS; h++) {
        for (rl_bucket **pb = &rl->heads[h]; *pb;) {
            rl_bucket *b = *pb;
            if (now - b->last >= full_after) {
                *pb = b->next;
                free(b);
                rl->count--;
                continue;
            }
            if (!oldest || b->last < (*oldest)->last)
                oldest = pb;
            pb = &b->next;
        }
    }
    if (rl->count >= RL_MAX_CALLERS && oldest) {
        rl_bucket *b = *oldest;
        *oldest = b->next;
        free(b);
        rl->count--;
    }
    rl->last_sweep = now;
}

/* The caller's bucket, new (full) when it has none; NULL when out of
 * memory. Under the lock. */
static rl_bucket *bucket_of(srv_ratelimit *rl, const char *caller, double now)
{
    size_t h = head_of(caller);
    for (rl_bucket *b = rl->heads[h]; b; b = b->next)
        if (strcmp(b->caller, caller) == 0)
            return b;
    if (rl->count >= RL_MAX_CALLERS)
        sweep(rl, now);
    rl_bucket *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    snprintf(b->caller, sizeof b->caller, "%s", caller);
    b->tokens = rl->burst;
    b->last = now;
    b->next = rl->heads[h];
    rl->heads[h] = b;
    rl->count++;
    return b;
}

unsigned ratelimit_take(srv_ratelimit *rl, const char *caller)
{
    if (!rl || !caller || !*caller)
        return 0;
    double now = mono_now();
    unsigned wait = 0;
    pthread_mutex_lock(&rl->mu);
    if (now - rl->last_sweep >= RL_SWEEP_S)
        sweep(rl, now);
    rl_bucket *b = bucket_of(rl, caller, now);
    if (b) {
        double t = b->tokens + (now - b->last) * rl->rate;
        b->tokens = t < rl->burst ? t : rl->burst;
        b->last = now;
        if (b->tokens >= 1) {
            b->tokens -= 1;
        } else {
            /* seconds until one whole request has refilled, rounded up */
            double s = (1 - b->tokens) / rl->rate;
            wait = s >= 3600 ? 3600 : (unsigned)s;
            if (wait < 3600 && (double)wait < s)
                wait++;
            if (wait == 0)
                wait = 1;
        }
    } /* out of memory: let the request through rather than refuse every caller */
    pthread_mutex_unlock(&rl->mu);
    return wait;
}
