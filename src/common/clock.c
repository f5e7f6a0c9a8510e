/* clock.c - see clock.h. */
#include "clock.h"

double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timespec mono_at(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int mono_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

int mono_nap(pthread_mutex_t *mu, pthread_cond_t *cv, const int *stop, long ms)
{
    struct timespec at = mono_at(mono_now() + (double)ms / 1000.0);
    pthread_mutex_lock(mu);
    if (!*stop)
        pthread_cond_timedwait(cv, mu, &at);
    int stopped = *stop;
    pthread_mutex_unlock(mu);
    return stopped;
}
