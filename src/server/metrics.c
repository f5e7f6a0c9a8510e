/*
 * metrics.c - GET /metrics: the service's counters in the Prometheus text
 * exposition format (version 0.0.4): scans by outcome, bytes read, scan
 * durations as a histogram, queue depth, capacity, the scans running and
 * the age of the oldest waiting scan, HTTP answers by status, requests refused by the
 * per-token rate limits, verdict changes, scans of watched models.
 *
 * Counters are lock-free atomics bumped by the scan workers and the HTTP
 * threads; they count since the process started, as Prometheus expects
 * (rate() handles restarts). The histogram keeps per-bucket counts and sums
 * them into the cumulative `le` buckets when rendered. The queue's figures
 * come from the store (store_queue_stats: one query over the unfinished
 * scans), so that they are the same on every process of a shared queue.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
enum { NBUCKETS = sizeof buckets / sizeof buckets[0], NSTATUS = 600 };
static const char *const outcomes[] = {"ALLOWED", "BLOCKED", "ERROR"};

struct srv_metrics {
    atomic_uint_least64_t scans[3]; /* by outcomes[] */
    atomic_uint_least64_t bytes_read;
    atomic_uint_least64_t bucket[NBUCKETS + 1]; /* the last one: above every bound */
    atomic_uint_least64_t duration_us, duration_count;
    atomic_uint_least64_t http[NSTATUS];
    atomic_uint_least64_t verdict_changes;
    atomic_uint_least64_t watch_rescans;
    atomic_uint_least64_t rate_limited;
};

int metrics_new(srv_metrics **out)
{
    *out = calloc(1, sizeof **out); /* all-zero bytes are zero atomics on every platform we build for */
    return *out ? MG_OK : MG_ENOMEM;
}

void metrics_free(srv_metrics *m)
{
    free(m);
}

void metrics_scan(srv_metrics *m, const char *outcome, double seconds, uint64_t bytes_read)
{
    for (size_t i = 0; i < 3; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            atomic_fetch_add(&m->scans[i], 1);
    atomic_fetch_add(&m->bytes_read, bytes_read);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add(&m->bucket[b], 1);
    atomic_fetch_add(&m->duration_us, (uint64_t)(seconds > 0 ? seconds * 1e6 : 0));
    atomic_fetch_add(&m->duration_count, 1);
}

void metrics_http(srv_metrics *m, unsigned status)
{
    if (m && status < NSTATUS)
        atomic_fetch_add(&m->http[status], 1);
}

void metrics_verdict_changed(srv_metrics *m)
{
    atomic_fetch_add(&m->verdict_changes, 1);
}

void metrics_watch_rescan(srv_metrics *m)
{
    atomic_fetch_add(&m->watch_rescans, 1);
}

void metrics_rate_limited(srv_metrics *m)
{
    if (m)
        atomic_fetch_add(&m->rate_limited, 1);
}

typedef unsigned long long ull;

/* Seconds since the oldest waiting scan was accepted (created, from
 * store_queue_stats); 0 when none waits. */
static double oldest_age(const char *created)
{
    struct tm tm = {0};
    unsigned us = 0;
    if (!created[0] || sscanf(created, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                              &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double age = (double)(now.tv_sec - timegm(&tm)) + (double)now.tv_nsec / 1e9 - (double)us / 1e6;
    return age > 0 ? age : 0;
}

static void render_scans(FILE *f, srv_metrics *m)
{
    fputs("# HELP modelgate_scans_total Scans finished, by outcome.\n# TYPE modelgate_scans_total counter\n", f);
    for (size_t i = 0; i < 3; i++)
        fprintf(f, "modelgate_scans_total{outcome=\"%s\"} %llu\n", outcomes[i], (ull)atomic_load(&m->scans[i]));
    fprintf(f,
            "# HELP modelgate_scan_bytes_read_total Bytes the scans read (local files, or fetched from remote "
            "sources).\n# TYPE modelgate_scan_bytes_read_total counter\nmodelgate_scan_bytes_read_total %llu\n",
            (ull)atomic_load(&m->bytes_read));
    fputs("# HELP modelgate_scan_duration_seconds Time from a worker taking a scan to its stored report.\n"
          "# TYPE modelgate_scan_duration_seconds histogram\n",
          f);
    ull cum = 0;
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += (ull)atomic_load(&m->bucket[b]);
        if (b < NBUCKETS)
            fprintf(f, "modelgate_scan_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b], cum);
        else
            fprintf(f, "modelgate_scan_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    fprintf(f, "modelgate_scan_duration_seconds_sum %.6f\nmodelgate_scan_duration_seconds_count %llu\n",
            (double)atomic_load(&m->duration_us) / 1e6, (ull)atomic_load(&m->duration_count));
}

static void render_service(FILE *f, srv_metrics *m, srv_pool *pool)
{
    size_t depth, cap, running;
    store_queue_info q; /* the store's figures, the same on every process of a shared queue */
    pool_stats(pool, &depth, &cap, &running, &q);
    fprintf(f,
            "# HELP modelgate_queue_oldest_seconds Age of the oldest scan waiting for a worker (0: none waits).\n"
            "# TYPE modelgate_queue_oldest_seconds gauge\nmodelgate_queue_oldest_seconds %.3f\n"
            "# HELP modelgate_queue_running Scans running now, on any process sharing the store.\n"
            "# TYPE modelgate_queue_running gauge\nmodelgate_queue_running %ld\n",
            oldest_age(q.oldest), q.running);
    fprintf(f,
            "# HELP modelgate_queue_depth Scans waiting for a worker.\n# TYPE modelgate_queue_depth gauge\n"
            "modelgate_queue_depth %zu\n"
            "# HELP modelgate_queue_capacity Scans the queue holds before answering 429.\n"
            "# TYPE modelgate_queue_capacity gauge\nmodelgate_queue_capacity %zu\n"
            "# HELP modelgate_scans_running Scans a worker is running now.\n# TYPE modelgate_scans_running gauge\n"
            "modelgate_scans_running %zu\n",
            depth, cap, running);
    fputs("# HELP modelgate_http_requests_total HTTP requests answered, by status.\n"
          "# TYPE modelgate_http_requests_total counter\n",
          f);
    for (unsigned s = 100; s < NSTATUS; s++) {
        ull n = (ull)atomic_load(&m->http[s]);
        if (n)
            fprintf(f, "modelgate_http_requests_total{status=\"%u\"} %llu\n", s, n);
    }
    fprintf(f,
            "# HELP modelgate_verdict_changes_total Stored model versions whose verdict changed on re-evaluation.\n"
            "# TYPE modelgate_verdict_changes_total counter\nmodelgate_verdict_changes_total %llu\n",
            (ull)atomic_load(&m->verdict_changes));
    fprintf(f,
            "# HELP modelgate_watch_rescans_total Scans of watched models queued because their files changed "
            "(or at start).\n# TYPE modelgate_watch_rescans_total counter\nmodelgate_watch_rescans_total %llu\n",
            (ull)atomic_load(&m->watch_rescans));
    fprintf(f,
            "# HELP modelgate_rate_limited_total Requests answered 429 because their token was over its rate "
            "limit.\n# TYPE modelgate_rate_limited_total counter\nmodelgate_rate_limited_total %llu\n",
            (ull)atomic_load(&m->rate_limited));
}

void metrics_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        fail(resp, 500, "out of memory");
        return;
    }
    render_scans(f, ctx->metrics);
    render_service(f, ctx->metrics, ctx->pool);
    if (fclose(f) != 0 || !text) {
        free(text);
        fail(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = text;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
