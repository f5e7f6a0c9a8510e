/*
 * verdicts.c - the gateway's decision on a repo at a commit: ALLOWED,
 * BLOCKED or ERROR, with the report behind it.
 *
 * A verdict is keyed by (model URI at the commit, rules version, policy
 * digest): a commit's files cannot change, so the verdict holds until the
 * rules or the policy do. It is looked up in memory first (the decision on
 * a cached verdict must take well under a millisecond), then in the store
 * (verdicts survive restarts), and only then scanned. However many requests
 * ask for a new key at once, the first one queues one scan and the others
 * wait for that same job (a "single flight"): fifty clients pulling a new
 * repo cause one scan. A scan runs on the service's pool and goes on when
 * the client that caused it gives up waiting; its retry finds the verdict.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../common/stamp.h"
#include "../server/api.h"
#include "gw.h"
#include "util/banned.h"

enum {
    MAX_ENTRIES = 8192, /* verdicts kept in memory; older ones are re-read from the store */
    ERROR_TTL_S = 30,   /* an ERROR (upstream down, scan failed) is retried after this */
    POLICY_CHECK_S = 2, /* how often the store is asked for a policy another process stored */
};

typedef enum { V_LOOKUP, V_RUNNING, V_DONE } v_state;

typedef struct v_entry {
    char *key;
    v_state state;
    srv_job *job;   /* V_RUNNING */
    gw_verdict v;   /* V_DONE; the report only kept for refusals */
    uint64_t seq;   /* insertion order, for eviction */
    double expires; /* V_DONE ERROR verdicts: when to scan again; 0 never */
    struct v_entry *next;
} v_entry;

struct gw_verdicts {
    const srv_ctx *ctx;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    v_entry *head;
    size_t n;
    uint64_t seq;
    double next_reload;
};

int verdicts_new(gw_verdicts **out, const srv_ctx *ctx)
{
    gw_verdicts *v = calloc(1, sizeof *v);
    if (!v)
        return -1;
    v->ctx = ctx;
    pthread_mutex_init(&v->mu, NULL);
    mono_cond_init(&v->changed);
    *out = v;
    return 0;
}

void verdict_clear(gw_verdict *out)
{
    free(out->report);
    memset(out, 0, sizeof *out);
}

static void entry_free(v_entry *e)
{
    job_unref(e->job);
    verdict_clear(&e->v);
    free(e->key);
    free(e);
}

void verdicts_free(gw_verdicts *v)
{
    if (!v)
        return;
    for (v_entry *e = v->head, *n; e; e = n) {
        n = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->changed);
    free(v);
}

static void unlink_entry(gw_verdicts *v, v_entry *e);

/* The entry for key; an expired ERROR verdict is dropped (so it is redone). */
static v_entry *find(gw_verdicts *v, const char *key)
{
    for (v_entry *e = v->head; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            if (e->state == V_DONE && e->expires && mono_now() >= e->expires) {
                unlink_entry(v, e);
                entry_free(e);
                return NULL;
            }
            return e;
        }
    return NULL;
}

static void unlink_entry(gw_verdicts *v, v_entry *e)
{
    for (v_entry **p = &v->head; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            v->n--;
            return;
        }
}

/* Keeps memory bounded: the oldest finished verdicts go (the store has them). */
static void trim(gw_verdicts *v)
{
    while (v->n > MAX_ENTRIES) {
        v_entry *old = NULL;
        for (v_entry *e = v->head; e; e = e->next)
            if (e->state == V_DONE && (!old || e->seq < old->seq))
                old = e;
        if (!old)
            return;
        unlink_entry(v, old);
        entry_free(old);
    }
}

/* ---- the one line a refusal shows ---- */

/* "Blocked by modelgate: <policy>: <first issue>" from a report document. */
static void reason_of(const char *report, const char *outcome, const char *fallback, char *out, size_t n)
{
    json_t *doc = report ? json_loads(report, 0, NULL) : NULL;
    json_t *viol = json_array_get(json_object_get(doc, "policy_violations"), 0);
    const char *policy = json_string_value(json_object_get(viol, "policy_name"));
    const char *issue = json_string_value(json_array_get(json_object_get(viol, "compliance_issues"), 0));
    if (strcmp(outcome, "ALLOWED") == 0)
        out[0] = 0;
    else if (policy)
        snprintf(out, n, "Blocked by modelgate: %s: %s", policy, issue ? issue : "see the report");
    else
        snprintf(out, n, "Blocked by modelgate: the scan ended in %s%s%s", outcome, fallback && *fallback ? ": " : "",
                 fallback ? fallback : "");
    json_decref(doc);
}

static void set_done(v_entry *e, const char *outcome, const char *uuid, const char *report, const char *why)
{
    snprintf(e->v.outcome, sizeof e->v.outcome, "%s", outcome);
    snprintf(e->v.scan_uuid, sizeof e->v.scan_uuid, "%s", uuid);
    reason_of(report, outcome, why, e->v.reason, sizeof e->v.reason);
    free(e->v.report);
    e->v.report = report && strcmp(outcome, "ALLOWED") != 0 ? strdup(report) : NULL;
    e->expires = strcmp(outcome, "ERROR") == 0 ? mono_now() + ERROR_TTL_S : 0;
    e->state = V_DONE;
}

/* ---- the store ---- */

typedef struct found {
    char outcome[16], uuid[37];
    char *report;
} found;

static int on_stored(void *arg, const store_scan *row)
{
    found *f = arg;
    snprintf(f->outcome, sizeof f->outcome, "%s", row->eval_outcome);
    snprintf(f->uuid, sizeof f->uuid, "%s", row->uuid);
    f->report = row->report ? strdup(row->report) : NULL;
    return 0;
}

/* ---- scans ---- */

/* Queues the scan of model_uri; NULL when the queue is full or stopping. */
static srv_job *start_scan(const srv_ctx *ctx, const char *model_uri, const char *token)
{
    char uuid[37], created[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    srv_job *job = job_new(uuid, created, model_uri, NULL, NULL, NULL);
    if (!job)
        return NULL;
    if (token && !(job->hub_token = strdup(token))) {
        job_unref(job);
        return NULL;
    }
    if (pool_reserve(ctx->pool) != 0) {
        job_unref(job);
        return NULL;
    }
    if (pool_add(ctx->pool, job) != STORE_OK) {
        job_unref(job);
        return NULL;
    }
    return job;
}

/* The pool calls this when the job is done (or after SRV_WAIT_MAX_S, or
 * when it stops): the requests waiting on `changed` look again. */
static void on_job_event(void *arg)
{
    gw_verdicts *v = arg;
    pthread_mutex_lock(&v->mu);
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->mu);
}

static char *model_uri_of(const gw_route *r, const char *commit)
{
    char *s = NULL;
    return asprintf(&s, "hf://%s%s@%s", gw_type_prefix(r->type), r->repo, commit) < 0 ? NULL : s;
}

static char *key_of(const srv_ctx *ctx, const char *uri)
{
    const policy_ref *pol = policies_acquire(ctx->policies);
    char *k = NULL;
    if (asprintf(&k, "%s\n%s\n%s", uri, mg_engine_rules_version(ctx->engine), mg_policy_digest(policy_of(pol))) < 0)
        k = NULL;
    policies_release(ctx->policies, pol);
    return k;
}

static void copy_out(const v_entry *e, gw_verdict *out)
{
    memcpy(out, &e->v, sizeof *out);
    out->report = e->v.report ? strdup(e->v.report) : NULL;
}

/* The first asker: the store, else a scan. Returns with the entry RUNNING
 * or DONE, or removed (the scan could not be queued). */
static void resolve_entry(gw_verdicts *v, v_entry *e, const char *uri, const char *token)
{
    const srv_ctx *ctx = v->ctx;
    found f = {{0}, {0}, NULL};
    const policy_ref *pol = policies_acquire(ctx->policies);
    int rc = store_verdict_find(ctx->store, uri, mg_engine_rules_version(ctx->engine), mg_policy_digest(policy_of(pol)),
                                on_stored, &f);
    policies_release(ctx->policies, pol);
    if (rc == STORE_OK && strcmp(f.outcome, "ERROR") == 0)
        rc = STORE_ENOTFOUND; /* a stored failure is not a verdict on the files: scan again */
    srv_job *job = rc == STORE_OK ? NULL : start_scan(ctx, uri, token);
    pthread_mutex_lock(&v->mu);
    if (rc == STORE_OK) {
        set_done(e, f.outcome, f.uuid, f.report, NULL);
    } else if (job) {
        e->job = job_ref(job);
        e->state = V_RUNNING;
    } else {
        unlink_entry(v, e);
        entry_free(e);
    }
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->mu);
    free(f.report);
    if (job) { /* one pool waiter per job (the pool keeps one); everyone else waits on `changed` */
        pool_wait(ctx->pool, job, SRV_WAIT_MAX_S, on_job_event, v);
        job_unref(job);
    }
}

/* A `modelgate gateway` shares its store with a `serve` whose admins change
 * the policy: the newest stored set is put in force within POLICY_CHECK_S. */
void verdicts_policy_check(gw_verdicts *v)
{
    double now = mono_now();
    pthread_mutex_lock(&v->mu);
    int due = now >= v->next_reload;
    if (due)
        v->next_reload = now + POLICY_CHECK_S;
    pthread_mutex_unlock(&v->mu);
    if (due)
        policy_refresh(v->ctx);
}

void verdicts_get(gw_verdicts *v, const gw_route *r, const char *commit, const char *token, unsigned wait_s,
                  gw_verdict *out)
{
    memset(out, 0, sizeof *out);
    char *uri = model_uri_of(r, commit), *key = uri ? key_of(v->ctx, uri) : NULL;
    double deadline = mono_now() + wait_s;
    if (!key) {
        snprintf(out->reason, sizeof out->reason, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&v->mu);
    v_entry *e = find(v, key);
    if (!e && (e = calloc(1, sizeof *e)) && (e->key = strdup(key))) {
        e->state = V_LOOKUP;
        e->seq = ++v->seq;
        e->next = v->head;
        v->head = e;
        v->n++;
        trim(v);
        pthread_mutex_unlock(&v->mu);
        resolve_entry(v, e, uri, token);
        pthread_mutex_lock(&v->mu);
    } else if (e && !e->key) {
        free(e);
        e = NULL;
    }
    /* everyone else waits while the first one looks in the store, and all
     * of them while the scan runs; a second's nap at most between looks,
     * in case a wake-up is missed */
    while ((e = find(v, key)) && e->state != V_DONE) {
        if (e->state == V_RUNNING && pool_job_done(v->ctx->pool, e->job)) {
            srv_job *job = e->job;
            set_done(e, job->outcome[0] ? job->outcome : "ERROR", job->uuid, job->report, job->err);
            e->job = NULL;
            job_unref(job);
            break;
        }
        double now = mono_now();
        if (now >= deadline)
            break;
        struct timespec ts = mono_at(now + 1.0 < deadline ? now + 1.0 : deadline);
        pthread_cond_timedwait(&v->changed, &v->mu, &ts);
    }
    if (e && e->state == V_DONE)
        copy_out(e, out);
    else if (!e)
        snprintf(out->reason, sizeof out->reason, "the scan queue is full; retry later");
    else
        snprintf(out->reason, sizeof out->reason, "the scan of this commit is still running; retry shortly");
    pthread_mutex_unlock(&v->mu);
done:
    free(uri);
    free(key);
}
