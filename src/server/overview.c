/*
 * overview.c - GET /api/v1/overview: the dashboard's first page in one
 * request. What judges (scanner, rules and policy versions), how busy the
 * queue is, the scans of the last day and the last week by outcome, the
 * newest BLOCKED scans with the policies that blocked them (read from
 * their reports by the store), and the gateway's decisions of the last day.
 *
 * "The last day" is the 24 hours before the request (scans accepted since
 * then, whatever their state now); a PENDING count is scans accepted and not
 * finished yet.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "api.h"

enum { OVERVIEW_BLOCKED = 10, DAY_S = 86400 };

/* The instant `ago` seconds before now in the stored form of created_at
 * (RFC 3339 UTC with microseconds), so the store compares it as text. */
static void stamp_ago(long ago, char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = tv.tv_sec - ago;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", base, (long)tv.tv_usec);
}

/* {"ALLOWED": n, "BLOCKED": n, "ERROR": n[, "PENDING": n]} */
static json_t *counts_doc(const store_counts *c, int with_pending)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "ALLOWED", (json_int_t)c->allowed, "BLOCKED", (json_int_t)c->blocked,
                          "ERROR", (json_int_t)c->error);
    if (o && with_pending && json_object_set_new(o, "PENDING", json_integer((json_int_t)c->pending)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* The policy names of a store_blocked row (a JSON array text); names that
 * are not strings are left out. */
static json_t *policy_names(const char *text)
{
    json_t *in = json_loads(text, 0, NULL), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v)
    {
        if (out && json_is_string(v) && json_array_append(out, v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    json_decref(in);
    return out;
}

static int blocked_row(void *arg, const store_blocked *b)
{
    json_t *arr = arg;
    json_t *names = policy_names(b->policies);
    json_t *o =
        names ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "uuid", b->uuid, "model_uri", b->model_uri, "namespace",
                          b->namespace_, "model_name", b->model_name, "created_at", b->created_at, "policies", names)
              : NULL;
    return o && json_array_append_new(arr, o) == 0 ? 0 : MG_ENOMEM;
}

/* Scans of the last day and week, gateway decisions of the last day; 0 or
 * a store error. */
static int counts(const srv_ctx *ctx, json_t **scans, json_t **gateway)
{
    char day[40], week[40];
    stamp_ago(DAY_S, day);
    stamp_ago(7L * DAY_S, week);
    store_counts d, w, g;
    int rc = store_scan_counts(ctx->store, day, &d);
    if (rc == STORE_OK)
        rc = store_scan_counts(ctx->store, week, &w);
    if (rc == STORE_OK)
        rc = store_decision_counts(ctx->store, day, &g);
    if (rc != STORE_OK)
        return rc;
    *scans = json_pack("{s:o, s:o}", "last_day", counts_doc(&d, 1), "last_week", counts_doc(&w, 1));
    *gateway = json_pack("{s:o}", "last_day", counts_doc(&g, 0));
    return *scans && *gateway ? STORE_OK : MG_ENOMEM;
}

void overview_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    json_t *scans = NULL, *gateway = NULL, *blocked = json_array();
    int rc = blocked ? counts(ctx, &scans, &gateway) : MG_ENOMEM;
    if (rc == STORE_OK)
        rc = store_scan_blocked(ctx->store, OVERVIEW_BLOCKED, blocked_row, blocked);
    if (rc != STORE_OK) {
        json_decref(scans);
        json_decref(gateway);
        json_decref(blocked);
        fail(resp, 500, rc == MG_ENOMEM ? "out of memory" : "store unavailable");
        return;
    }
    size_t depth = 0, capacity = 0, running = 0;
    if (ctx->pool)
        pool_stats(ctx->pool, &depth, &capacity, &running, NULL);
    const policy_ref *p = policies_acquire(ctx->policies);
    json_t *doc = json_pack("{s:s, s:s, s:{s:i, s:s}, s:{s:I, s:I, s:I}, s:o, s:o, s:o}", "scanner_version", MG_VERSION,
                            "rules_version", mg_engine_rules_version(ctx->engine), "policy", "version",
                            policy_version_of(p), "digest", mg_policy_digest(policy_of(p)), "queue", "depth",
                            (json_int_t)depth, "capacity", (json_int_t)capacity, "running", (json_int_t)running,
                            "scans", scans, "latest_blocked", blocked, "gateway", gateway);
    policies_release(ctx->policies, p);
    if (doc)
        respond(resp, 200, doc);
    else
        fail(resp, 500, "out of memory");
}
