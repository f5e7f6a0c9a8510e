/*
 * rescan.c - re-evaluation: when the rules or the policy in force change,
 * every stored model whose newest scan was judged with other rules or
 * another policy is scanned again (same model_uri, license and labels), and
 * a model whose verdict changed is reported: a line on stderr, the
 * modelgate_verdict_changes_total counter, and a POST to the configured
 * webhook.
 *
 * In the service a thread does the walk: at start, and again after every
 * PUT /api/v1/policies. It queues the re-scans on the pool's background
 * queue, which workers take from only when no user scan waits, a few at a
 * time, and waits for them before it looks again, so a burst of policy
 * changes never queues the same model twice. `modelgate rescan` does the
 * same walk offline, running each scan in its own thread.
 *
 * A re-scan is an ordinary scan (a row in the store, the report of the CLI)
 * and is stored before it runs: a service stopped meanwhile runs it after
 * the next start, as a plain scan (the verdict it replaces is not kept).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../common/stamp.h"
#include "api.h"

enum { WEBHOOK_TIMEOUT_S = 5 };

/* ---- reporting a changed verdict ---- */

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* POSTs `body` to `url` (http or https only, no redirects); failures are
 * logged and otherwise ignored: a webhook is a courtesy, not a gate. */
static void post_webhook(const char *url, const char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = c ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    if (!c || !hdr) {
        fprintf(stderr, "modelgate: webhook: out of memory\n");
        curl_easy_cleanup(c);
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        fprintf(stderr, "modelgate: webhook %s: %s\n", url, curl_easy_strerror(rc));
    else if (status < 200 || status > 299)
        fprintf(stderr, "modelgate: webhook %s: answered HTTP %ld\n", url, status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

void verdict_changed(const srv_ctx *ctx, const srv_job *job)
{
    if (!job->prev_outcome[0] || !job->outcome[0] || strcmp(job->prev_outcome, job->outcome) == 0)
        return; /* a scan someone asked for, or the same verdict */
    fprintf(stderr, "modelgate: verdict changed: %s %s -> %s\n", job->model_uri, job->prev_outcome, job->outcome);
    metrics_verdict_changed(ctx->metrics);
    if (!ctx->webhook_url || !*ctx->webhook_url)
        return;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "model_uri", job->model_uri, "model_uuid", job->model_uuid,
                            "previous", job->prev_outcome, "current", job->outcome, "scan_uuid", job->uuid);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body)
        post_webhook(ctx->webhook_url, body);
    else
        fprintf(stderr, "modelgate: webhook: out of memory\n");
    free(body);
}

void rescan_describe(const srv_job *job, const char **model_uri, const char **prev, const char **cur)
{
    *model_uri = job->model_uri;
    *prev = job->prev_outcome;
    *cur = job->outcome;
}

/* ---- which models are stale ---- */

typedef struct stale {
    srv_job **jobs;
    size_t n, cap;
    const char *rules, *digest;
    int oom;
} stale;

/* Turns a stale model's newest scan into a job for a new scan of it. */
static int collect(void *arg, const store_latest *row)
{
    stale *s = arg;
    if (strcmp(row->rules_version, s->rules) == 0 && strcmp(row->policy_digest, s->digest) == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        srv_job **j = realloc(s->jobs, cap * sizeof *j);
        if (!j)
            return s->oom = STORE_ENOMEM;
        s->jobs = j;
        s->cap = cap;
    }
    char uuid[37], created[40];
    uuid_v4(uuid);
    rfc3339_now(created, sizeof created);
    srv_job *job = job_new(uuid, created, row->model_uri, row->license, row->labels, NULL);
    if (!job)
        return s->oom = STORE_ENOMEM;
    snprintf(job->prev_outcome, sizeof job->prev_outcome, "%s", row->eval_outcome);
    s->jobs[s->n++] = job;
    return 0;
}

static void stale_free(stale *s)
{
    for (size_t i = 0; i < s->n; i++)
        job_unref(s->jobs[i]);
    free(s->jobs);
    memset(s, 0, sizeof *s);
}

/* The models whose newest scan was judged with other rules or policy. */
static int find_stale(const srv_ctx *ctx, stale *s)
{
    const policy_ref *pol = policies_acquire(ctx->policies);
    memset(s, 0, sizeof *s);
    s->rules = mg_engine_rules_version(ctx->engine);
    s->digest = mg_policy_digest(policy_of(pol));
    int rc = store_model_latest(ctx->store, collect, s);
    policies_release(ctx->policies, pol);
    if (rc != STORE_OK)
        stale_free(s);
    return rc;
}

int rescan_offline(const srv_ctx *ctx, rescan_changed_fn changed, void *arg, size_t *nscanned)
{
    stale s;
    *nscanned = 0;
    int rc = find_stale(ctx, &s);
    for (size_t i = 0; rc == STORE_OK && i < s.n; i++) {
        srv_job *job = s.jobs[i];
        rc = job_store(ctx, job); /* PENDING, like an accepted POST /scans */
        if (rc != STORE_OK)
            break;
        job_run(ctx, job);
        (*nscanned)++;
        if (job->outcome[0] && strcmp(job->outcome, job->prev_outcome) != 0)
            changed(arg, job);
    }
    stale_free(&s);
    return rc;
}

/* ---- the service's thread ---- */

struct srv_rescan {
    const srv_ctx *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int requested, stop;
    pthread_t thread;
};

/* Waits up to 50 ms, or until stopped; 1 when stopped. */
static int nap(srv_rescan *r)
{
    return mono_nap(&r->mu, &r->cv, &r->stop, 50);
}

/* Queues every stale model's re-scan and waits until all are done. */
static void walk(srv_rescan *r)
{
    const srv_ctx *ctx = r->ctx;
    stale s;
    if (find_stale(ctx, &s) != STORE_OK) {
        fprintf(stderr, "modelgate: re-evaluation: cannot read the stored models\n");
        return;
    }
    if (s.n)
        fprintf(stderr, "modelgate: re-evaluating %zu model%s (rules or policy changed)\n", s.n, s.n == 1 ? "" : "s");
    size_t queued = 0;
    for (; queued < s.n; queued++) {
        if (job_store(ctx, s.jobs[queued]) != STORE_OK) {
            fprintf(stderr, "modelgate: re-evaluation: cannot store a scan; stopped\n");
            break;
        }
        while (pool_push_background(ctx->pool, s.jobs[queued]) != 0)
            if (nap(r) || pool_stopping(ctx->pool))
                goto out; /* stored PENDING: runs after the next start */
    }
    for (size_t i = 0; i < queued; i++)
        while (!pool_job_done(ctx->pool, s.jobs[i]))
            if (nap(r))
                goto out;
out:
    stale_free(&s);
}

static void *rescan_main(void *arg)
{
    srv_rescan *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (!r->requested) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        r->requested = 0;
        pthread_mutex_unlock(&r->mu);
        walk(r);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int rescan_start(srv_rescan **out, const srv_ctx *ctx)
{
    *out = NULL;
    srv_rescan *r = calloc(1, sizeof *r);
    if (!r)
        return MG_ENOMEM;
    r->ctx = ctx;
    r->requested = 1; /* the look at start */
    pthread_mutex_init(&r->mu, NULL);
    mono_cond_init(&r->cv);
    if (pthread_create(&r->thread, NULL, rescan_main, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return MG_ENOMEM;
    }
    *out = r;
    return MG_OK;
}

void rescan_request(srv_rescan *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->requested = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void rescan_stop(srv_rescan *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
