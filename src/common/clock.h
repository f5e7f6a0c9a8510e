/*
 * clock.h - monotonic time for the service's waits: timeouts, intervals and
 * the naps of its background threads. CLOCK_MONOTONIC, so a wall-clock jump
 * (NTP, an admin's `date`) neither fires nor stalls them.
 */
#ifndef MG_CLOCK_H
#define MG_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
double mono_now(void);
/* A CLOCK_MONOTONIC time in seconds as a timespec (pthread_cond_timedwait). */
struct timespec mono_at(double t);
/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC. */
int mono_cond_init(pthread_cond_t *cv);
/* Waits on cv (made by mono_cond_init) for `ms` milliseconds or until *stop
 * is set and cv signalled; returns *stop. Takes and releases mu. */
int mono_nap(pthread_mutex_t *mu, pthread_cond_t *cv, const int *stop, long ms);

#endif
