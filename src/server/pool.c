/*
 * pool.c - the scan workers and their bounded queue.
 *
 * POST /api/v1/scans stores the scan as PENDING and queues it here; a fixed
 * number of worker threads take scans in order and run them (job.c). The
 * queue is bounded: a request that finds it full is answered 429 with a
 * Retry-After estimate, before anything is stored (pool_reserve holds a
 * place while the row is written, so a stored PENDING scan always has its
 * place in the queue).
 *
 * A request that asked to wait (?wait=true) does not hold an HTTP thread:
 * the HTTP layer parks its connection and registers a callback with
 * pool_wait, called exactly once, when the scan is done or when its
 * deadline passes (a timer thread watches the deadlines), whichever comes
 * first. Callbacks always run without the pool's lock held: they call into
 * libmicrohttpd, whose threads call into the pool.
 *
 * Re-evaluations after a policy or rules change (rescan.c) wait in a second
 * queue that workers take from only when no user scan waits.
 *
 * Shutdown leaves queued scans PENDING in the store; pool_recover re-queues
 * them (and re-runs the ones a crash interrupted) on the next start.
 *
 * On a store with a shared queue (PostgreSQL) the queue is the database
 * instead, for every process on it: a pushed scan is only remembered here
 * (its row is PENDING already) and the workers of any process claim rows
 * with a lease (store_queue_claim) that a "keeper" thread renews while
 * they scan. The keeper also looks up, every SHARED_POLL_MS, the scans this
 * process queued that a worker elsewhere finished, and marks them done
 * here, so a request waiting for one is answered. A process of role api
 * has no workers at all.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "api.h"

struct srv_pool {
    const srv_ctx *ctx;
    pthread_mutex_t mu;
    pthread_cond_t work;        /* workers: a job was queued, or stop */
    pthread_cond_t timer;       /* the timer: a waiter was added, or stop */
    srv_job *head, *tail;       /* the queue */
    srv_job *bg_head, *bg_tail; /* re-evaluations: run when the queue is empty */
    size_t bg_depth;
    size_t depth, reserved, capacity, running;
    int stopping, timer_exit;
    srv_job *waiting; /* jobs a request waits for (doubly linked) */
    double avg_s;     /* moving average of scan durations, for Retry-After */
    pthread_t *workers;
    unsigned nworkers;
    pthread_t timer_thread;
    int timer_started;
    /* the shared queue (store_has_queue): jobs this process queued and
     * waits for (linked by next), the job each worker holds */
    int shared;
    srv_job *tracked;
    srv_job **held;
    char owner[96];         /* lease owner: host, pid and this pool's address */
    size_t cluster_waiting; /* scans waiting in the database, as the keeper last counted */
    size_t cluster_running;
    size_t pushed;             /* scans this process queued since that count */
    double recounted;          /* when pool_reserve last counted the queue itself */
    pthread_mutex_t listen_mu; /* one idle worker LISTENs, the others nap */
    pthread_cond_t keeper;
    pthread_t keeper_thread;
    int keeper_started;
};

enum {
    SHARED_LEASE_S = 8,     /* a claimed scan's lease: another worker takes it this long after its worker died */
    SHARED_RENEW_MS = 2000, /* the keeper renews leases this often */
    SHARED_POLL_MS = 150,   /* and looks for scans finished elsewhere this often */
    SHARED_IDLE_MS = 1000,  /* an idle worker looks at the queue at least this often */
    SHARED_COUNT_MS = 500,  /* the keeper counts the whole queue this often (the limit's lag) */
};

/* ---- waiters (under mu) ---- */

typedef void (*notify_fn)(void *arg);

static void waiter_link(srv_pool *p, srv_job *j)
{
    j->wprev = NULL;
    j->wnext = p->waiting;
    if (p->waiting)
        p->waiting->wprev = j;
    p->waiting = j;
}

/* Unlinks j and hands back its callback (NULL when none is set). */
static notify_fn waiter_take(srv_pool *p, srv_job *j, void **arg)
{
    notify_fn fn = j->notify;
    *arg = j->notify_arg;
    if (!fn)
        return NULL;
    if (j->wprev)
        j->wprev->wnext = j->wnext;
    else
        p->waiting = j->wnext;
    if (j->wnext)
        j->wnext->wprev = j->wprev;
    j->wprev = j->wnext = NULL;
    j->notify = NULL;
    return fn;
}

/* Fires one waiter whose deadline passed (or any, when `all`); 0 when none
 * is left. Called with mu held; releases it around the callback. */
static int fire_one(srv_pool *p, int all)
{
    double now = mono_now();
    for (srv_job *j = p->waiting; j; j = j->wnext) {
        if (!all && j->deadline > now)
            continue;
        void *arg;
        notify_fn fn = waiter_take(p, j, &arg);
        pthread_mutex_unlock(&p->mu);
        fn(arg);
        pthread_mutex_lock(&p->mu);
        return 1;
    }
    return 0;
}

static double earliest_deadline(const srv_pool *p)
{
    double t = 0;
    for (const srv_job *j = p->waiting; j; j = j->wnext)
        if (t == 0 || j->deadline < t)
            t = j->deadline;
    return t;
}

static void *timer_main(void *arg)
{
    srv_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->timer_exit) {
        while (fire_one(p, 0))
            ;
        if (p->timer_exit)
            break;
        if (!p->waiting) {
            pthread_cond_wait(&p->timer, &p->mu);
        } else {
            struct timespec at = mono_at(earliest_deadline(p));
            pthread_cond_timedwait(&p->timer, &p->mu, &at);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void pool_wait(srv_pool *p, srv_job *job, unsigned wait_s, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&p->mu);
    int now = job->done || p->stopping;
    if (!now) {
        job->notify = fn;
        job->notify_arg = arg;
        job->deadline = mono_now() + wait_s;
        waiter_link(p, job);
        pthread_cond_signal(&p->timer);
    }
    pthread_mutex_unlock(&p->mu);
    if (now)
        fn(arg);
}

int pool_job_done(srv_pool *p, srv_job *job)
{
    pthread_mutex_lock(&p->mu);
    int done = job->done;
    pthread_mutex_unlock(&p->mu);
    return done;
}

/* ---- the queue ---- */

/* Scans waiting, as the limit counts them (mu held): this process's queue,
 * or on a shared queue the whole database's. */
static size_t waiting(const srv_pool *p)
{
    return p->shared ? p->cluster_waiting + p->pushed : p->depth;
}

static int reserve_rc(const srv_pool *p)
{
    return p->stopping ? -2 : waiting(p) + p->reserved >= p->capacity ? -1 : 0;
}

static int count_queue(srv_pool *p, store_queue_info *out);

int pool_reserve(srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int rc = reserve_rc(p);
    /* a shared queue that looks full from the last count: the database
     * decides, at most every 50 ms (under a flood of 429s the count would
     * otherwise run once per request) */
    if (rc == -1 && p->shared && mono_now() - p->recounted > 0.05) {
        p->recounted = mono_now();
        pthread_mutex_unlock(&p->mu);
        count_queue(p, NULL);
        pthread_mutex_lock(&p->mu);
        rc = reserve_rc(p);
    }
    if (rc == 0)
        p->reserved++;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pool_unreserve(srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->reserved)
        p->reserved--;
    pthread_mutex_unlock(&p->mu);
}

/* Appends with mu held; the queue takes a reference. */
static void enqueue(srv_pool *p, srv_job *job)
{
    job->next = NULL;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->depth++;
    job_ref(job);
    pthread_cond_signal(&p->work);
}

/* Shared queue: remembers a job whose row is PENDING until it is done
 * (here or elsewhere); mu held. */
static void track(srv_pool *p, srv_job *job)
{
    job->next = p->tracked;
    p->tracked = job;
    if (job->background)
        p->bg_depth++;
    else
        p->depth++;
    job_ref(job);
    pthread_cond_broadcast(&p->work);
}

/* Shared queue: a scan someone queued already under the same key is not
 * queued twice (store_scan_joined); the job follows the scan it joined. */
static void join(srv_pool *p, srv_job *job)
{
    char uuid[37];
    if (store_scan_joined(p->ctx->store, job->uuid, job->model_uri, job->queue_key, uuid) == STORE_OK &&
        strcmp(uuid, job->uuid) != 0) {
        fprintf(stderr, "modelgate: scan %s joins scan %s of %s\n", job->uuid, uuid, job->model_uri);
        pthread_mutex_lock(&p->mu); /* a tracked job: claims read its uuid */
        memcpy(job->uuid, uuid, sizeof uuid);
        pthread_mutex_unlock(&p->mu);
    }
}

static notify_fn untrack(srv_pool *p, srv_job *job, void **arg, int *drop);

int pool_add(srv_pool *p, srv_job *job)
{
    /* shared queue: tracked before its row exists, so that a claim in this
     * process finds the job (and a gateway caller's token) however soon */
    if (p->shared) {
        pthread_mutex_lock(&p->mu);
        track(p, job);
        pthread_mutex_unlock(&p->mu);
    }
    int rc = job_store(p->ctx, job);
    pthread_mutex_lock(&p->mu);
    if (p->reserved)
        p->reserved--;
    void *arg;
    int drop = 0;
    if (rc != STORE_OK && p->shared)
        untrack(p, job, &arg, &drop);
    else if (rc == STORE_OK && p->shared)
        p->pushed++;
    else if (rc == STORE_OK)
        enqueue(p, job);
    pthread_mutex_unlock(&p->mu);
    if (drop)
        job_unref(job);
    if (rc == STORE_OK && p->shared) {
        join(p, job);
        store_queue_notify(p->ctx->store); /* a lost one costs a poll interval */
    }
    return rc;
}

int pool_push_background(srv_pool *p, srv_job *job)
{
    if (p->shared)
        join(p, job);
    pthread_mutex_lock(&p->mu);
    int rc = p->stopping || p->bg_depth >= (p->nworkers ? p->nworkers : 1) ? -1 : 0;
    if (rc == 0 && p->shared) {
        job->background = 1;
        track(p, job);
    } else if (rc == 0) {
        job->next = NULL;
        if (p->bg_tail)
            p->bg_tail->next = job;
        else
            p->bg_head = job;
        p->bg_tail = job;
        p->bg_depth++;
        job_ref(job);
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0 && p->shared)
        store_queue_notify(p->ctx->store);
    return rc;
}

int pool_stopping(srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* The next job: a user scan first, else a re-evaluation. */
static srv_job *dequeue(srv_pool *p)
{
    srv_job *j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->depth--;
    } else {
        j = p->bg_head;
        p->bg_head = j->next;
        if (!p->bg_head)
            p->bg_tail = NULL;
        p->bg_depth--;
    }
    j->next = NULL;
    return j;
}

/* Marks a job done and wakes the request waiting for it, if any. */
static void job_done(srv_pool *p, srv_job *job, double secs)
{
    pthread_mutex_lock(&p->mu);
    p->running--;
    p->avg_s = p->avg_s * 0.8 + secs * 0.2;
    job->done = 1;
    void *arg;
    notify_fn fn = waiter_take(p, job, &arg);
    pthread_mutex_unlock(&p->mu);
    if (fn)
        fn(arg);
}

static void *shared_main(void *arg);

static void *worker_main(void *arg)
{
    srv_pool *p = arg;
    if (p->shared)
        return shared_main(arg);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->bg_head && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        srv_job *job = dequeue(p);
        p->running++;
        pthread_mutex_unlock(&p->mu);
        double t0 = mono_now();
        job_run(p->ctx, job);
        job_done(p, job, mono_now() - t0);
        job_unref(job);
    }
}

void pool_stats(srv_pool *p, size_t *depth, size_t *capacity, size_t *running, store_queue_info *q)
{
    /* what is shown is counted now, not up to 0.5 s ago */
    int counted = (q || p->shared) && count_queue(p, q) == STORE_OK;
    pthread_mutex_lock(&p->mu);
    *depth = waiting(p);
    *capacity = p->capacity;
    *running = p->running;
    pthread_mutex_unlock(&p->mu);
    if (q && !counted)
        *q = (store_queue_info){(long)*depth, (long)*running, ""};
}

const char *pool_owner(srv_pool *p)
{
    return p->shared ? p->owner : NULL;
}

unsigned pool_retry_after(srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    /* the time the scans ahead need on average, over the workers (on a
     * shared queue: those busy anywhere, as counted last) */
    size_t workers = p->shared ? p->cluster_running : p->nworkers;
    double s = p->avg_s * ((double)waiting(p) / (double)(workers ? workers : 1) + 1.0);
    pthread_mutex_unlock(&p->mu);
    return s < 1 ? 1 : s > 3600 ? 3600 : (unsigned)(s + 0.999);
}

/* ---- the shared queue (a store with store_has_queue) ---- */

/* Unlinks a tracked job and marks it done, once (mu held): hands back the
 * waiter's callback and whether the caller drops the list's reference. */
static notify_fn untrack(srv_pool *p, srv_job *job, void **arg, int *drop)
{
    *drop = 0;
    *arg = NULL;
    srv_job **at = &p->tracked;
    while (*at && *at != job)
        at = &(*at)->next;
    if (!*at || job->done)
        return NULL;
    *at = job->next;
    job->next = NULL;
    if (job->background)
        p->bg_depth--;
    else
        p->depth--;
    job->done = 1;
    *drop = 1;
    return waiter_take(p, job, arg);
}

static void shared_done(srv_pool *p, srv_job *job)
{
    void *arg;
    int drop;
    pthread_mutex_lock(&p->mu);
    notify_fn fn = untrack(p, job, &arg, &drop);
    pthread_mutex_unlock(&p->mu);
    if (fn)
        fn(arg);
    if (drop)
        job_unref(job);
}

/* The claimed row as a job: the one this process queued (it keeps what was
 * never stored: a resolved path, a gateway caller's token, the verdict a
 * re-evaluation compares with), or a new one. */
typedef struct claimed {
    srv_pool *p;
    srv_job *job;
    int attempts;
    int policy_version; /* the newest stored, as the claim read it */
} claimed;

static srv_job *tracked_job(srv_pool *p, const char *uuid)
{
    for (srv_job *j = p->tracked; j; j = j->next)
        if (strcmp(j->uuid, uuid) == 0 && !j->done)
            return job_ref(j);
    return NULL;
}

static int take_claimed(void *arg, const store_scan *row)
{
    claimed *c = arg;
    srv_pool *p = c->p;
    pthread_mutex_lock(&p->mu);
    c->job = tracked_job(p, row->uuid);
    if (c->job)
        c->job->claimed = 1; /* the keeper leaves it to us */
    pthread_mutex_unlock(&p->mu);
    if (!c->job)
        c->job = job_new(row->uuid, row->created_at, row->model_uri, row->license, row->labels, NULL);
    if (!c->job)
        return STORE_ENOMEM;
    c->job->claimed = 1;
    c->attempts = row->attempts;
    c->policy_version = row->policy_version;
    return STORE_OK;
}

/* Waits for work: one idle worker LISTENs, the others nap on `work`. */
static void shared_idle(srv_pool *p)
{
    if (pthread_mutex_trylock(&p->listen_mu) == 0) {
        if (store_queue_wait(p->ctx->store, SHARED_IDLE_MS) != STORE_OK)
            usleep(SHARED_IDLE_MS * 1000 / 4); /* the database is away: poll */
        pthread_mutex_unlock(&p->listen_mu);
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (!p->stopping) {
        struct timespec at = mono_at(mono_now() + SHARED_IDLE_MS / 1000.0);
        pthread_cond_timedwait(&p->work, &p->mu, &at);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Runs one claimed job, holding its lease (the keeper renews it). */
static void shared_run(srv_pool *p, claimed *c)
{
    srv_job *job = c->job;
    size_t slot = 0;
    pthread_mutex_lock(&p->mu);
    while (slot < p->nworkers && p->held[slot])
        slot++;
    if (slot < p->nworkers)
        p->held[slot] = job;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    double t0 = mono_now();
    /* a worker never sees a PUT made elsewhere: a scan is judged by the
     * newest policy stored when it was claimed */
    const policy_ref *pol = policies_acquire(p->ctx->policies);
    int stale = policy_version_of(pol) != c->policy_version;
    policies_release(p->ctx->policies, pol);
    if (stale)
        policy_refresh(p->ctx);
    if (c->attempts > SRV_MAX_ATTEMPTS) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the scan was interrupted %d times (its worker stopped or crashed while it ran); not run again",
                 c->attempts - 1);
        job_fail(p->ctx, job, msg);
    } else {
        job_run(p->ctx, job);
    }
    pthread_mutex_lock(&p->mu);
    if (slot < p->nworkers)
        p->held[slot] = NULL;
    p->running--;
    p->avg_s = p->avg_s * 0.8 + (mono_now() - t0) * 0.2;
    pthread_mutex_unlock(&p->mu);
    shared_done(p, job);
}

static void *shared_main(void *arg)
{
    srv_pool *p = arg;
    while (!pool_stopping(p)) {
        claimed c = {p, NULL, 0, 0};
        int rc = store_queue_claim(p->ctx->store, p->owner, SHARED_LEASE_S, take_claimed, &c);
        if (rc == STORE_OK && c.job) {
            shared_run(p, &c);
            job_unref(c.job);
        } else {
            job_unref(c.job);
            shared_idle(p);
        }
    }
    return NULL;
}

/* What the keeper learns of a tracked job from the store. */
typedef struct finished {
    char *report;
    char outcome[16], model_uuid[37];
} finished;

static int read_finished(void *arg, const store_scan *row)
{
    finished *f = arg;
    if (row->state != SCAN_DONE || !row->report)
        return STORE_ENOTFOUND;
    f->report = strdup(row->report);
    snprintf(f->outcome, sizeof f->outcome, "%s", row->eval_outcome);
    snprintf(f->model_uuid, sizeof f->model_uuid, "%s", row->model_uuid);
    return f->report ? STORE_OK : STORE_ENOMEM;
}

enum { POLL_BATCH = 256 };

/* The tracked jobs of one look, and which of them the store says are done. */
typedef struct poll_batch {
    srv_job *jobs[POLL_BATCH];
    const char *uuids[POLL_BATCH];
    unsigned char done[POLL_BATCH];
    size_t n;
} poll_batch;

static int mark_done(void *arg, const char *uuid)
{
    poll_batch *b = arg;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->uuids[i], uuid) == 0)
            b->done[i] = 1;
    return STORE_OK;
}

/* Marks done the tracked jobs a worker elsewhere finished: one query says
 * which, then their reports are read. A worker here that took one
 * meanwhile (claimed) writes its result itself. */
static void keeper_poll(srv_pool *p)
{
    poll_batch b;
    b.n = 0;
    pthread_mutex_lock(&p->mu);
    for (srv_job *j = p->tracked; j && b.n < POLL_BATCH; j = j->next)
        if (!j->claimed && !j->done) {
            b.jobs[b.n] = job_ref(j);
            b.uuids[b.n] = b.jobs[b.n]->uuid;
            b.done[b.n++] = 0;
        }
    pthread_mutex_unlock(&p->mu);
    if (b.n && store_queue_done(p->ctx->store, b.uuids, b.n, mark_done, &b) != STORE_OK)
        memset(b.done, 0, sizeof b.done); /* the next look asks again */
    for (size_t i = 0; i < b.n; i++) {
        srv_job *j = b.jobs[i];
        finished f = {NULL, "", ""};
        if (b.done[i] && store_scan_get(p->ctx->store, j->uuid, read_finished, &f) == STORE_OK) {
            pthread_mutex_lock(&p->mu);
            int ours = !j->claimed && !j->done && !j->report;
            if (ours) {
                j->report = f.report;
                f.report = NULL;
                memcpy(j->outcome, f.outcome, sizeof f.outcome);
                memcpy(j->model_uuid, f.model_uuid, sizeof f.model_uuid);
            }
            pthread_mutex_unlock(&p->mu);
            /* a re-evaluation this process queued and a worker elsewhere
             * ran: only this process knows the verdict before it */
            if (ours) {
                verdict_changed(p->ctx, j);
                shared_done(p, j);
            }
        }
        free(f.report);
        job_unref(j);
    }
}

/* Renews the lease of every scan a worker here holds. */
static void keeper_renew(srv_pool *p)
{
    for (unsigned i = 0; i < p->nworkers; i++) {
        char uuid[37] = "";
        pthread_mutex_lock(&p->mu);
        if (p->held[i])
            snprintf(uuid, sizeof uuid, "%s", p->held[i]->uuid);
        pthread_mutex_unlock(&p->mu);
        if (uuid[0] && store_queue_renew(p->ctx->store, uuid, p->owner, SHARED_LEASE_S) == STORE_ENOTFOUND)
            fprintf(stderr, "modelgate: scan %s: lease lost (another worker may run it too)\n", uuid);
    }
}

/* Counts the whole queue, for the limit, Retry-After and /metrics. A
 * failed count keeps the last one. Scans pushed while the count ran may be
 * counted twice until the next: the limit errs on the full side, and
 * pool_reserve counts again before it refuses. */
static int count_queue(srv_pool *p, store_queue_info *out)
{
    store_queue_info local = {0}, *q = out ? out : &local;
    pthread_mutex_lock(&p->mu);
    size_t before = p->pushed;
    pthread_mutex_unlock(&p->mu);
    int rc = store_queue_stats(p->ctx->store, q);
    if (rc != STORE_OK || !p->shared)
        return rc;
    pthread_mutex_lock(&p->mu);
    p->cluster_waiting = q->waiting > 0 ? (size_t)q->waiting : 0;
    p->cluster_running = q->running > 0 ? (size_t)q->running : 0;
    p->pushed -= before;
    pthread_mutex_unlock(&p->mu);
    return STORE_OK;
}

static void *keeper_main(void *arg)
{
    srv_pool *p = arg;
    double next_renew = mono_now() + SHARED_RENEW_MS / 1000.0, next_count = 0;
    do {
        if (mono_now() >= next_count) {
            count_queue(p, NULL);
            next_count = mono_now() + SHARED_COUNT_MS / 1000.0;
        }
        keeper_poll(p);
        if (mono_now() >= next_renew) {
            keeper_renew(p);
            policy_refresh(p->ctx); /* new scans' queue keys, GET /policies */
            next_renew = mono_now() + SHARED_RENEW_MS / 1000.0;
        }
    } while (!mono_nap(&p->mu, &p->keeper, &p->timer_exit, SHARED_POLL_MS));
    return NULL;
}

static int shared_init(srv_pool *p, unsigned workers)
{
    p->shared = 1;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(p->owner, sizeof p->owner, "%.63s:%ld:%p", host, (long)getpid(), (void *)p);
    if (!(p->held = calloc(workers ? workers : 1, sizeof *p->held)) || pthread_mutex_init(&p->listen_mu, NULL) ||
        mono_cond_init(&p->keeper))
        return -1;
    p->keeper_started = pthread_create(&p->keeper_thread, NULL, keeper_main, p) == 0;
    return p->keeper_started ? 0 : -1;
}

/* ---- life ---- */

static int init_sync(srv_pool *p)
{
    int rc = pthread_mutex_init(&p->mu, NULL) | mono_cond_init(&p->work) | mono_cond_init(&p->timer);
    return rc ? -1 : 0;
}

int pool_new(srv_pool **out, const srv_ctx *ctx, unsigned workers, unsigned capacity)
{
    *out = NULL;
    srv_pool *p = calloc(1, sizeof *p);
    if (!p || init_sync(p) != 0 || !(p->workers = calloc(workers ? workers : 1, sizeof *p->workers))) {
        free(p);
        return MG_ENOMEM;
    }
    p->ctx = ctx;
    p->capacity = capacity;
    p->avg_s = 1.0;
    if (store_has_queue(ctx->store) && shared_init(p, workers) != 0) {
        pool_stop(p);
        pool_free(p);
        return MG_ENOMEM;
    }
    for (; p->nworkers < workers; p->nworkers++)
        if (pthread_create(&p->workers[p->nworkers], NULL, worker_main, p) != 0)
            break;
    p->timer_started = pthread_create(&p->timer_thread, NULL, timer_main, p) == 0;
    if (p->nworkers < workers || !p->timer_started) {
        pool_stop(p);
        pool_free(p);
        return MG_ENOMEM;
    }
    *out = p;
    return MG_OK;
}

/* A recovered scan: a job to queue, or to store as ERROR. */
typedef struct recovered {
    srv_job **jobs;
    int *attempts;
    size_t n, cap;
    int oom;
} recovered;

static int collect(void *ctx, const store_scan *row)
{
    recovered *r = ctx;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        srv_job **j = realloc(r->jobs, cap * sizeof *j);
        int *a = j ? realloc(r->attempts, cap * sizeof *a) : NULL;
        if (j)
            r->jobs = j;
        if (!j || !a)
            return r->oom = MG_ENOMEM;
        r->attempts = a;
        r->cap = cap;
    }
    srv_job *job = job_new(row->uuid, row->created_at, row->model_uri, row->license, row->labels, NULL);
    if (!job)
        return r->oom = MG_ENOMEM;
    r->attempts[r->n] = row->attempts;
    r->jobs[r->n++] = job;
    return 0;
}

int pool_recover(srv_pool *p, size_t *requeued, size_t *failed)
{
    recovered r = {0};
    *requeued = *failed = 0;
    if (p->shared)
        return STORE_OK; /* leases: a dead worker's scan is claimed again, a live one's is left alone */
    int rc = store_scan_unfinished(p->ctx->store, collect, &r);
    if (rc == STORE_OK)
        rc = store_scan_requeue(p->ctx->store); /* RUNNING means: a worker of this process runs it */
    for (size_t i = 0; i < r.n; i++) {
        if (rc == STORE_OK && r.attempts[i] >= SRV_MAX_ATTEMPTS) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "the scan was interrupted %d times (the service stopped or crashed while it ran); "
                     "not run again",
                     r.attempts[i]);
            *failed += job_fail(p->ctx, r.jobs[i], msg) == 0;
        } else if (rc == STORE_OK) {
            pthread_mutex_lock(&p->mu);
            enqueue(p, r.jobs[i]); /* beyond capacity if need be: these were accepted */
            pthread_mutex_unlock(&p->mu);
            (*requeued)++;
        }
        job_unref(r.jobs[i]);
    }
    free(r.jobs);
    free(r.attempts);
    return rc;
}

void pool_stop(srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int already = p->stopping;
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    if (already)
        return;
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_lock(&p->mu);
    p->timer_exit = 1;
    pthread_cond_signal(&p->timer);
    if (p->shared)
        pthread_cond_signal(&p->keeper);
    pthread_mutex_unlock(&p->mu);
    if (p->timer_started)
        pthread_join(p->timer_thread, NULL);
    if (p->keeper_started)
        pthread_join(p->keeper_thread, NULL);
    p->keeper_started = 0;
    pthread_mutex_lock(&p->mu);
    while (fire_one(p, 1))
        ;
    pthread_mutex_unlock(&p->mu);
}

void pool_free(srv_pool *p)
{
    if (!p)
        return;
    while (p->head || p->bg_head)
        job_unref(dequeue(p)); /* still PENDING in the store */
    while (p->tracked) {
        srv_job *j = p->tracked;
        p->tracked = j->next;
        job_unref(j);
    }
    if (p->shared) {
        pthread_mutex_destroy(&p->listen_mu);
        pthread_cond_destroy(&p->keeper);
    }
    free(p->held);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->timer);
    free(p->workers);
    free(p);
}
