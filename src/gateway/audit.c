/*
 * audit.c - the gateway's audit trail, written behind the requests.
 *
 * Every decision is a row in the store (store_decision_add_many), but a
 * request must not wait for the disk: one insert with its own transaction
 * costs ~170 us here (a flush per commit) and holds the store's lock, which
 * every scan and REST read also needs. Requests append a copy of their
 * record to a bounded queue; one thread writes what has gathered in one
 * transaction, at once when it wakes (so rows land within milliseconds).
 * A full queue makes requests wait (an audit trail is not dropped to keep
 * up), and gw_stop writes everything left before it returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "util/banned.h"

enum { QUEUE_MAX = 4096, BATCH_MAX = 512, NFIELDS = 13 };

/* A record with its strings in one allocation. */
typedef struct rec {
    char *s[NFIELDS]; /* NULL fields stay NULL */
    char buf[];
} rec;

struct gw_audit {
    mg_store *store;
    pthread_mutex_t mu;
    pthread_cond_t more, room;
    rec **q; /* ring of QUEUE_MAX */
    size_t head, len;
    int stopping;
    pthread_t thread;
    int started;
};

static rec *rec_new(const store_decision *d)
{
    const char *f[NFIELDS] = {d->uuid,    d->created_at, d->caller,     d->client_addr, d->repo_type,
                              d->repo,    d->revision,   d->commit_sha, d->path,        d->action,
                              d->outcome, d->scan_uuid,  d->reason};
    size_t total = 0;
    for (int i = 0; i < NFIELDS; i++)
        total += f[i] ? strlen(f[i]) + 1 : 0;
    rec *r = malloc(sizeof *r + total);
    if (!r)
        return NULL;
    char *p = r->buf;
    for (int i = 0; i < NFIELDS; i++) {
        r->s[i] = NULL;
        if (f[i]) {
            size_t n = strlen(f[i]) + 1;
            memcpy(p, f[i], n);
            r->s[i] = p;
            p += n;
        }
    }
    return r;
}

static store_decision rec_view(const rec *r)
{
    store_decision d = {r->s[0], r->s[1], r->s[2], r->s[3],  r->s[4],  r->s[5], r->s[6],
                        r->s[7], r->s[8], r->s[9], r->s[10], r->s[11], r->s[12]};
    return d;
}

/* Writes up to BATCH_MAX queued records; called without the lock held. */
static void write_batch(gw_audit *a, rec **batch, size_t n)
{
    static __thread store_decision d[BATCH_MAX]; /* 53 KB: off the stack */
    for (size_t i = 0; i < n && i < BATCH_MAX; i++)
        d[i] = rec_view(batch[i]);
    if (store_decision_add_many(a->store, d, n) != STORE_OK)
        fprintf(stderr, "modelgate: gateway: could not record %zu decision%s in the store\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
}

static void *writer(void *arg)
{
    gw_audit *a = arg;
    rec *batch[BATCH_MAX];
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->len && !a->stopping)
            pthread_cond_wait(&a->more, &a->mu);
        if (!a->len && a->stopping)
            break;
        size_t n = 0;
        while (a->len && n < BATCH_MAX) {
            batch[n++] = a->q[a->head];
            a->head = (a->head + 1) % QUEUE_MAX;
            a->len--;
        }
        pthread_cond_broadcast(&a->room);
        pthread_mutex_unlock(&a->mu);
        write_batch(a, batch, n);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int audit_new(gw_audit **out, mg_store *st)
{
    gw_audit *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a || !(a->q = calloc(QUEUE_MAX, sizeof *a->q))) {
        free(a);
        return -1;
    }
    a->store = st;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->more, NULL);
    pthread_cond_init(&a->room, NULL);
    if (pthread_create(&a->thread, NULL, writer, a) != 0) {
        audit_free(a);
        return -1;
    }
    a->started = 1;
    *out = a;
    return 0;
}

void audit_add(gw_audit *a, const store_decision *d)
{
    rec *r = rec_new(d);
    if (!r) {
        fprintf(stderr, "modelgate: gateway: out of memory: a decision on %s was not recorded\n", d->repo);
        return;
    }
    pthread_mutex_lock(&a->mu);
    while (a->len == QUEUE_MAX && !a->stopping)
        pthread_cond_wait(&a->room, &a->mu);
    if (a->len == QUEUE_MAX) { /* stopping with a full queue: write it here */
        pthread_mutex_unlock(&a->mu);
        write_batch(a, &r, 1);
        return;
    }
    a->q[(a->head + a->len) % QUEUE_MAX] = r;
    a->len++;
    pthread_cond_signal(&a->more);
    pthread_mutex_unlock(&a->mu);
}

void audit_free(gw_audit *a)
{
    if (!a)
        return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stopping = 1;
        pthread_cond_broadcast(&a->more);
        pthread_cond_broadcast(&a->room);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL); /* it writes what is left first */
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->more);
    pthread_cond_destroy(&a->room);
    free(a->q);
    free(a);
}
