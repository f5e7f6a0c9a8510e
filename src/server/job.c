/*
 * job.c - one accepted scan, from its queue entry to its stored report.
 *
 * A scan here is exactly the CLI's scan (cmd_scan.c): mg_scan_path (or
 * src_scan for a remote model), mg_evaluate, and the document of
 * mg_report_json, stored verbatim and served verbatim, so the CLI, the API
 * and the store can never disagree about a report.
 *
 * Whatever goes wrong, the scan ends with a report: a source that does not
 * answer, a path that vanished or left the roots since the scan was queued,
 * an engine error. Each becomes a report with the model as a file in status
 * ERROR (mg_report_add_error), judged like any other, so its outcome is
 * ERROR and never ALLOWED.
 *
 * A job is shared by the queue, the worker and a request waiting for it;
 * the last reference frees it.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../common/baseline.h"
#include "../common/stamp.h"
#include "../sources/stage.h"
#include "api.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

srv_job *job_new(const char *uuid, const char *created_at, const char *model_uri, const char *license,
                 const char *labels, const char *path)
{
    srv_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    atomic_init(&j->refs, 1);
    snprintf(j->uuid, sizeof j->uuid, "%s", uuid);
    snprintf(j->created_at, sizeof j->created_at, "%s", created_at);
    j->model_uri = strdup(model_uri);
    j->license = dup_or_null(license);
    j->labels = dup_or_null(labels);
    j->path = dup_or_null(path);
    if (!j->model_uri || (license && !j->license) || (labels && !j->labels) || (path && !j->path)) {
        job_unref(j);
        return NULL;
    }
    return j;
}

srv_job *job_ref(srv_job *job)
{
    atomic_fetch_add(&job->refs, 1);
    return job;
}

void job_unref(srv_job *job)
{
    if (!job || atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    free(job->model_uri);
    free(job->license);
    free(job->labels);
    free(job->path);
    free(job->hub_token);
    free(job->report);
    free(job);
}

/* "RULES POLICY CALLER": what the caller sent besides the URI (license and
 * labels, any text) as the first 16 hex digits of a SHA-256, so that the
 * key stays short; "-" when neither was sent. */
static void queue_key(const srv_ctx *ctx, const char *license, const char *labels, char *out, size_t n)
{
    char lic[17] = "-";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *h = (license || labels) ? EVP_MD_CTX_new() : NULL;
    int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(h, license ? license : "", license ? strlen(license) + 1 : 0) &&
             EVP_DigestUpdate(h, labels ? labels : "", labels ? strlen(labels) + 1 : 0) &&
             EVP_DigestFinal_ex(h, md, &len) && len >= 8;
    EVP_MD_CTX_free(h);
    for (int i = 0; ok && i < 8; i++)
        snprintf(lic + 2 * i, 3, "%02x", md[i]);
    const policy_ref *pol = policies_acquire(ctx->policies);
    snprintf(out, n, "%.40s %.80s %s", mg_engine_rules_version(ctx->engine), mg_policy_digest(policy_of(pol)), lic);
    policies_release(ctx->policies, pol);
}

void policy_refresh(const srv_ctx *ctx)
{
    if (policies_reload(ctx->policies) == 1) {
        char pol[160];
        policies_describe(ctx->policies, pol, sizeof pol);
        fprintf(stderr, "modelgate: now judging with %s (stored by another process)\n", pol);
    }
}

int job_store(const srv_ctx *ctx, srv_job *job)
{
    queue_key(ctx, job->license, job->labels, job->queue_key, sizeof job->queue_key);
    store_scan row = {
        .uuid = job->uuid,
        .model_uri = job->model_uri,
        .license = job->license,
        .labels = job->labels,
        .created_at = job->created_at,
        .queue_key = job->queue_key,
        .affinity = job->hub_token && ctx->pool ? pool_owner(ctx->pool) : NULL,
        .join_waiting = ctx->pool && pool_owner(ctx->pool), /* pool_add then joins what is there */
    };
    return store_scan_add(ctx->store, &row);
}

/* A report whose only file is the model itself, in status ERROR. */
static mg_report *error_report(const srv_ctx *ctx, const char *model_uri, const char *message)
{
    mg_report *rep = NULL;
    if (mg_report_new(&rep, ctx->engine) != MG_OK)
        return NULL;
    if (mg_report_add_error(rep, model_uri, message) != MG_OK) {
        mg_report_free(rep);
        return NULL;
    }
    return rep;
}

/* What a scan produced besides its report. */
typedef struct scan_out {
    uint64_t bytes_read;
    char *revision; /* a hub's resolved commit, or NULL */
} scan_out;

static uint64_t bytes_scanned(const mg_report *rep)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < mg_report_file_count(rep); i++) {
        const mg_file *f = mg_report_file(rep, i);
        if (f->status == MG_FILE_SCANNED && __builtin_add_overflow(sum, f->size, &sum))
            return UINT64_MAX;
    }
    return sum;
}

static mg_report *scan_local(const srv_ctx *ctx, srv_job *job, scan_out *out)
{
    char *path = job->path;
    const char *why = NULL;
    if (!path && uri_check(ctx, job->model_uri, &path, &why) != 0)
        return error_report(ctx, job->model_uri, "model_uri is no longer an existing path under a configured root");
    mg_report *rep = NULL;
    int rc = mg_scan_path(&rep, ctx->engine, path);
    if (path != job->path)
        free(path);
    if (rc != MG_OK) {
        mg_report_free(rep);
        return error_report(ctx, job->model_uri, rc == MG_ENOMEM ? "out of memory while scanning" : "the scan failed");
    }
    out->bytes_read = bytes_scanned(rep);
    return rep;
}

static mg_report *scan_remote(const srv_ctx *ctx, srv_job *job, scan_out *out)
{
    mg_report *rep = NULL;
    src_result res;
    memset(&res, 0, sizeof res);
    job->err[0] = 0;
    src_config cfg = *ctx->src;
    if (job->hub_token) /* a gateway caller's token reads what that caller may read */
        cfg.hub_token = job->hub_token;
    int rc = src_scan(&rep, ctx->engine, &cfg, job->model_uri, &res, job->err, sizeof job->err);
    out->bytes_read = res.bytes_read;
    out->revision = res.revision;
    res.revision = NULL;
    src_result_free(&res);
    if (rc == SRC_OK && rep)
        return rep;
    mg_report_free(rep);
    job->src_rc = rc != SRC_OK ? rc : SRC_EUPSTREAM;
    if (!job->err[0])
        snprintf(job->err, sizeof job->err, "the remote source failed (code %d)", rc);
    return error_report(ctx, job->model_uri, job->err);
}

static const char *field(const mg_evaluation *ev, const char *name)
{
    const char *v = mg_evaluation_field(ev, name);
    return v ? v : "";
}

/* The files of a model's last ALLOWED scan, for "Model Is Unchanged Since
 * Approval"; STORE_ENOMEM when they could not be copied. */
static int read_baseline(void *ctx, const store_scan *row)
{
    json_t *doc = row->report ? json_loads(row->report, 0, NULL) : NULL;
    int rc = baseline_from_report(doc, ctx) == 0 ? STORE_OK : STORE_ENOMEM;
    json_decref(doc);
    return rc;
}

/* A hub model's version is a commit, whose files cannot change: its
 * baseline is the last ALLOWED scan of that version. A local folder or an S3
 * prefix has no commit; its version is a digest of its content, so a changed
 * file is a new version and only the model as a whole can have been
 * approved: its baseline is the model's last ALLOWED scan, of any version. */
static int load_baseline(const srv_ctx *ctx, const srv_job *job, const mg_evaluation *ev, baseline *b)
{
    int by_model = !src_is_remote(job->model_uri) || strncmp(job->model_uri, "s3://", 5) == 0;
    const char *version = by_model ? NULL : field(ev, "model_version_uuid");
    int rc = store_scan_last_allowed(ctx->store, field(ev, "model_uuid"), version, read_baseline, b);
    if (rc == STORE_ENOTFOUND)
        rc = STORE_OK;
    if (rc != STORE_OK)
        baseline_free(b);
    return rc;
}

/* Judges `rep`: the model's identity comes first (the baseline is looked up
 * by it), then the judgement with the baseline when there is one. */
static int judge(const srv_ctx *ctx, const srv_job *job, const mg_report *rep, const mg_policy *policy,
                 mg_model_info *info, mg_evaluation **ev, baseline *b)
{
    if (mg_evaluate(ev, rep, policy, info) != MG_OK)
        return STORE_ENOMEM;
    int rc = load_baseline(ctx, job, *ev, b);
    if (rc != STORE_OK || b->n == 0)
        return rc;
    info->nbaseline = b->n;
    info->baseline_paths = (const char *const *)b->paths;
    info->baseline_sha256 = (const char *const *)b->sha256;
    mg_evaluation_free(*ev);
    *ev = NULL;
    return mg_evaluate(ev, rep, policy, info) == MG_OK ? STORE_OK : STORE_ENOMEM;
}

/* Judges a finished report with `policy` and stores it; job->report gets
 * the document. `outcome` gets ALLOWED/BLOCKED/ERROR. */
static int judge_and_store(const srv_ctx *ctx, srv_job *job, const mg_report *rep, const mg_policy *policy,
                           const scan_out *so, char outcome[16])
{
    char updated[40];
    rfc3339_now(updated, sizeof updated);
    /* a hub scan's identity is the commit the files were read at, not the
     * branch the URI names; the hub endpoint makes its URLs hub models */
    mg_model_info info = {
        .model_uri = job->model_uri,
        .license = job->license,
        .uuid = job->uuid,
        .created_at = job->created_at,
        .updated_at = updated,
        .revision = so->revision,
        .hub_endpoint = ctx->src ? ctx->src->hub_endpoint : NULL,
    };
    mg_evaluation *ev = NULL;
    char *doc = NULL;
    baseline base = {0};
    int rc = judge(ctx, job, rep, policy, &info, &ev, &base);
    if (rc != STORE_OK)
        goto out;
    rc = STORE_ENOMEM;
    if (!(doc = mg_report_json(rep, ev, policy, ctx->engine, &info, 0)))
        goto out;
    snprintf(outcome, 16, "%s", mg_evaluation_outcome(ev));
    snprintf(job->model_uuid, sizeof job->model_uuid, "%s", field(ev, "model_uuid"));
    store_scan row = {
        .uuid = job->uuid,
        .model_uri = job->model_uri,
        .model_uuid = field(ev, "model_uuid"),
        .model_version_uuid = field(ev, "model_version_uuid"),
        .revision = field(ev, "revision"),
        .namespace_ = field(ev, "namespace"),
        .model_name = field(ev, "model_name"),
        .eval_outcome = outcome,
        .license = job->license,
        .labels = job->labels,
        .created_at = job->created_at,
        .report = doc,
    };
    rc = store_scan_put(ctx->store, &row);
    if (rc == STORE_OK) {
        job->report = doc;
        doc = NULL;
    }
out:
    free(doc);
    mg_evaluation_free(ev);
    baseline_free(&base);
    return rc;
}

/* Judges and stores `rep` under `policy`; counts and logs it. */
static void finish(const srv_ctx *ctx, srv_job *job, mg_report *rep, const mg_policy *policy, const scan_out *so,
                   double t0)
{
    char outcome[16] = "ERROR";
    int rc = rep ? judge_and_store(ctx, job, rep, policy, so, outcome) : STORE_ENOMEM;
    double secs = mono_now() - t0;
    if (rc != STORE_OK) {
        /* the row stays PENDING/RUNNING: the next start runs it again */
        fprintf(stderr, "modelgate: scan %s could not be stored (error %d)\n", job->uuid, rc);
        return;
    }
    metrics_scan(ctx->metrics, outcome, secs, so->bytes_read);
    fprintf(stderr, "modelgate: scan %s %s in %.3f s (%s)\n", job->uuid, outcome, secs, job->model_uri);
    snprintf(job->outcome, sizeof job->outcome, "%s", outcome);
    verdict_changed(ctx, job);
}

void job_run(const srv_ctx *ctx, srv_job *job)
{
    double t0 = mono_now();
    int attempts = 0;
    /* a scan claimed from the shared queue is RUNNING already */
    int rc = job->claimed ? STORE_OK : store_scan_start(ctx->store, job->uuid, &attempts);
    if (rc == STORE_ENOTFOUND)
        return; /* finished by an earlier run: nothing to do */
    if (rc != STORE_OK)
        fprintf(stderr, "modelgate: scan %s: could not mark it running (error %d)\n", job->uuid, rc);
    /* the policy in force when the scan starts judges it, whatever an admin
     * puts in force meanwhile (on a shared queue the claim brought the
     * newest stored one in first: pool.c) */
    const policy_ref *pol = policies_acquire(ctx->policies);
    scan_out so = {0, NULL};
    mg_report *rep = src_is_remote(job->model_uri) ? scan_remote(ctx, job, &so) : scan_local(ctx, job, &so);
    finish(ctx, job, rep, policy_of(pol), &so, t0);
    policies_release(ctx->policies, pol);
    mg_report_free(rep);
    free(so.revision);
}

int job_fail(const srv_ctx *ctx, srv_job *job, const char *message)
{
    scan_out so = {0, NULL};
    const policy_ref *pol = policies_acquire(ctx->policies);
    mg_report *rep = error_report(ctx, job->model_uri, message);
    finish(ctx, job, rep, policy_of(pol), &so, mono_now());
    policies_release(ctx->policies, pol);
    mg_report_free(rep);
    return job->report ? 0 : -1;
}
