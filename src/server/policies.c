/*
 * policies.c - the policy set in force and the admin resources:
 * GET/PUT /api/v1/policies, GET /api/v1/policies/versions,
 * GET /api/v1/threats, POST /api/v1/tokens.
 *
 * Policy sets are versioned in the store: every PUT (validated exactly as
 * `modelgate policy check` validates a file) stores a new version with who
 * stored it, and a restart loads the newest. Version 0 is the built-in
 * default set, in force until the first PUT.
 *
 * Swapping is atomic for scans: a worker takes a counted reference to the
 * set when it judges a scan and keeps that set until it has stored the
 * report, so a report is always judged by one set and carries that set's
 * digest, whatever an admin does meanwhile. The old set is freed when its
 * last user lets go. A new set re-evaluates the stored models (rescan.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct policy_ref {
    mg_policy *policy;
    int version; /* 0: the built-in defaults */
    char created_at[40];
    int refs; /* under srv_policies.mu */
};

struct srv_policies {
    pthread_mutex_t mu;
    policy_ref *cur;
    mg_store *store;
};

static policy_ref *ref_new(mg_policy *p, int version, const char *created_at)
{
    policy_ref *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->policy = p;
    r->version = version;
    r->refs = 1;
    snprintf(r->created_at, sizeof r->created_at, "%s", created_at ? created_at : "");
    return r;
}

static void ref_drop(policy_ref *r)
{
    if (--r->refs == 0) {
        mg_policy_free(r->policy);
        free(r);
    }
}

const policy_ref *policies_acquire(srv_policies *ps)
{
    pthread_mutex_lock(&ps->mu);
    policy_ref *r = ps->cur;
    r->refs++;
    pthread_mutex_unlock(&ps->mu);
    return r;
}

void policies_release(srv_policies *ps, const policy_ref *ref)
{
    pthread_mutex_lock(&ps->mu);
    ref_drop((policy_ref *)ref);
    pthread_mutex_unlock(&ps->mu);
}

const mg_policy *policy_of(const policy_ref *ref)
{
    return ref->policy;
}

int policy_version_of(const policy_ref *ref)
{
    return ref->version;
}

/* Makes `r` the set in force (it comes with its own reference). */
static void policies_swap(srv_policies *ps, policy_ref *r)
{
    pthread_mutex_lock(&ps->mu);
    policy_ref *old = ps->cur;
    ps->cur = r;
    ref_drop(old);
    pthread_mutex_unlock(&ps->mu);
}

/* The newest stored set, or the defaults when none was stored; NULL with
 * *unchanged set when its version is `known` (nothing parsed). */
static policy_ref *load_newer(mg_store *st, int known, int *unchanged, char *err, size_t errlen)
{
    char *yaml = NULL, created[40] = "";
    int version = 0;
    mg_policy *p = NULL;
    int rc = store_policy_latest(st, &yaml, &version, created);
    *unchanged = (rc == STORE_ENOTFOUND && known == 0) || (rc == STORE_OK && version == known);
    if (*unchanged) {
        free(yaml);
        return NULL;
    }
    if (rc == STORE_ENOTFOUND) {
        version = 0;
        rc = mg_policy_default(&p) == MG_OK ? STORE_OK : STORE_ENOMEM;
    } else if (rc == STORE_OK) {
        char perr[256] = "";
        if (mg_policy_parse(&p, yaml, strlen(yaml), perr, sizeof perr) != MG_OK) {
            snprintf(err, errlen, "stored policy version %d does not parse any more: %s", version, perr);
            rc = STORE_EDB;
        }
    } else {
        snprintf(err, errlen, "cannot read the stored policies (error %d)", rc);
    }
    free(yaml);
    policy_ref *r = rc == STORE_OK ? ref_new(p, version, created) : NULL;
    if (!r)
        mg_policy_free(p);
    return r;
}

int policies_new(srv_policies **out, mg_store *st, char *err, size_t errlen)
{
    *out = NULL;
    snprintf(err, errlen, "out of memory");
    srv_policies *ps = calloc(1, sizeof *ps);
    if (!ps)
        return MG_ENOMEM;
    ps->store = st;
    pthread_mutex_init(&ps->mu, NULL);
    int unchanged;
    ps->cur = load_newer(st, -1, &unchanged, err, errlen);
    if (!ps->cur) {
        policies_free(ps);
        return MG_EINVAL;
    }
    *out = ps;
    return MG_OK;
}

int policies_reload(srv_policies *ps)
{
    char err[300];
    pthread_mutex_lock(&ps->mu);
    int known = ps->cur->version;
    pthread_mutex_unlock(&ps->mu);
    int unchanged;
    policy_ref *r = load_newer(ps->store, known, &unchanged, err, sizeof err);
    if (!r)
        return unchanged ? 0 : -1;
    policies_swap(ps, r);
    return 1;
}

void policies_free(srv_policies *ps)
{
    if (!ps)
        return;
    if (ps->cur)
        ref_drop(ps->cur);
    pthread_mutex_destroy(&ps->mu);
    free(ps);
}

void policies_describe(srv_policies *ps, char *out, size_t n)
{
    const policy_ref *r = policies_acquire(ps);
    snprintf(out, n, "policy version %d%s, %s", r->version, r->version ? "" : " (defaults)",
             mg_policy_digest(r->policy));
    policies_release(ps, r);
}

/* ---- GET/PUT /api/v1/policies ---- */

/* {"version", "digest", "created_at", "yaml"}: the set in force. */
static void answer_policy(srv_policies *ps, srv_response *resp)
{
    const policy_ref *r = policies_acquire(ps);
    char *yaml = mg_policy_to_yaml(r->policy);
    json_t *doc = yaml
                      ? json_pack("{s:i, s:s, s:s?, s:s}", "version", r->version, "digest", mg_policy_digest(r->policy),
                                  "created_at", r->created_at[0] ? r->created_at : NULL, "yaml", yaml)
                      : NULL;
    policies_release(ps, r);
    free(yaml);
    if (doc)
        respond(resp, 200, doc);
    else
        fail(resp, 500, "out of memory");
}

void policies_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    answer_policy(ctx->policies, resp);
}

void policies_put(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    if (memchr(req->body, 0, req->body_len)) {
        fail(resp, 400, "the policy file contains a NUL byte");
        return;
    }
    mg_policy *p = NULL;
    char err[300] = "";
    int rc = mg_policy_parse(&p, req->body, req->body_len, err, sizeof err);
    if (rc != MG_OK) {
        char msg[340];
        snprintf(msg, sizeof msg, "invalid policy: %s", rc == MG_ENOMEM ? "out of memory" : err);
        fail(resp, rc == MG_ENOMEM ? 500 : 400, msg);
        return;
    }
    int version = 0;
    char created[40] = "", author[64];
    session_author(req->auth, author);
    if (store_policy_add(ctx->store, req->body, mg_policy_digest(p), author, &version, created) != STORE_OK) {
        mg_policy_free(p);
        fail(resp, 500, "could not store the policy");
        return;
    }
    policy_ref *r = ref_new(p, version, created);
    if (!r) {
        /* stored: a restart puts it in force even though switching now failed */
        mg_policy_free(p);
        fail(resp, 500, "the policy was stored but could not be put in force; restart the service");
        return;
    }
    policies_swap(ctx->policies, r);
    fprintf(stderr, "modelgate: policy version %d in force (%s)\n", version, mg_policy_digest(p));
    rescan_request(ctx->rescan); /* models judged by the previous set are judged again */
    answer_policy(ctx->policies, resp);
}

/* ---- GET /api/v1/policies/versions ---- */

typedef struct versions_acc {
    json_t *arr;
    int limit, more, last;
} versions_acc;

static int version_row(void *arg, const store_policy *p)
{
    versions_acc *a = arg;
    if ((int)json_array_size(a->arr) == a->limit) {
        a->more = 1; /* the extra row asked for: there is a next page */
        return 0;
    }
    a->last = p->version;
    json_t *o = json_pack("{s:i, s:s, s:s, s:s?, s:s}", "version", p->version, "digest", p->digest, "created_at",
                          p->created_at, "author", p->author, "yaml", p->yaml);
    return o && json_array_append_new(a->arr, o) == 0 ? 0 : MG_ENOMEM;
}

/* ?cursor: the version the previous page ended at (the next_cursor this
 * listing returned, a decimal number); 0 when none, -1 when malformed. */
static int versions_cursor(const srv_request *req)
{
    const char *c = req->arg(req, "cursor");
    if (!c || !*c)
        return 0;
    size_t n = strlen(c);
    if (n > 9 || strspn(c, "0123456789") != n || c[0] == '0')
        return -1; /* at most 9 digits: fits an int */
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (c[i] - '0');
    return v;
}

void policies_versions(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    int limit, before = versions_cursor(req);
    if (page_limit(req, &limit, resp) != 0)
        return;
    if (before < 0) {
        fail(resp, 400, "cursor is not one this service returned (use next_cursor as given)");
        return;
    }
    versions_acc a = {.arr = json_array(), .limit = limit};
    if (!a.arr || store_policy_list(ctx->store, before, limit + 1, version_row, &a) != STORE_OK) {
        json_decref(a.arr);
        fail(resp, 500, "store unavailable");
        return;
    }
    char next[16];
    snprintf(next, sizeof next, "%d", a.last);
    respond(resp, 200,
            json_pack("{s:o, s:o}", "versions", a.arr, "next_cursor", a.more ? json_string(next) : json_null()));
}

/* ---- GET /api/v1/threats ---- */

void threats_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < mg_threat_count(); i++) {
        const mg_threat *t = mg_threat_at(i);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", t->id, "severity", mg_severity_name(t->severity), "title",
                              t->title, "policy", t->policy);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr)
        respond(resp, 200, json_pack("{s:o}", "threats", arr));
    else
        fail(resp, 500, "out of memory");
}

/* ---- POST /api/v1/tokens ---- */

void tokens_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    json_t *doc = parse_json_body(req, resp);
    if (!doc)
        return;
    store_role role = store_role_parse(json_string_value(json_object_get(doc, "role")));
    char tok[STORE_TOKEN_LEN + 1];
    if (!json_is_object(doc) || role == ROLE_NONE)
        fail(resp, 400, "role must be \"admin\", \"scanner\" or \"reader\"");
    else if (store_token_create(ctx->store, role, tok) != STORE_OK)
        fail(resp, 500, "could not store the token");
    else
        respond(resp, 201, json_pack("{s:s, s:s}", "token", tok, "role", store_role_name(role)));
    json_decref(doc);
}
