/*
 * decisions.c - /api/v1/gateway/decisions: the Hub gateway's audit trail.
 * Every request the gateway decides (a revision API call, a resolve or raw
 * download) is one row: who asked (a digest of the token, never the token),
 * from where, for which repo, revision, commit and file, the outcome and the
 * scan behind it. Listed newest first and paginated like scans (page.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/lex.h"
#include "api.h"

typedef struct decision_filter {
    store_filter f;
    page_req pg;
    char since[40];
    char ns[97], name[97];
} decision_filter;

/* ?repo=NS/NAME (or a legacy one-segment NAME) into the filter; -1 when
 * it is not one. */
static int repo_parse(const char *repo, decision_filter *df)
{
    const char *slash = strchr(repo, '/');
    if (!slash) {
        size_t n = strlen(repo);
        if (!lex_hub_name_ok(repo, n))
            return -1;
        df->ns[0] = 0;
        memcpy(df->name, repo, n + 1);
        df->f.ns = df->ns;
        df->f.name = df->name;
        return 0;
    }
    size_t nl = (size_t)(slash - repo), ml = strlen(slash + 1);
    if (!lex_hub_name_ok(repo, nl) || !lex_hub_name_ok(slash + 1, ml))
        return -1; /* also refuses a second '/': it is not in the name's alphabet */
    memcpy(df->ns, repo, nl);
    df->ns[nl] = 0;
    memcpy(df->name, slash + 1, ml + 1);
    df->f.ns = df->ns;
    df->f.name = df->name;
    return 0;
}

/* ?outcome=, ?repo=, ?since=; -1 after answering 400. */
static int parse_filters(const srv_request *req, decision_filter *df, srv_response *resp)
{
    const char *outcome = req->arg(req, "outcome"), *repo = req->arg(req, "repo"), *since = req->arg(req, "since");
    static const char *const outcomes[] = {"ALLOWED", "BLOCKED", "ERROR"};
    for (size_t i = 0; outcome && i < 3 && !df->f.outcome; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            df->f.outcome = outcomes[i];
    if (outcome && !df->f.outcome) {
        fail(resp, 400, "outcome must be ALLOWED, BLOCKED or ERROR");
        return -1;
    }
    if (repo && repo_parse(repo, df) != 0) {
        fail(resp, 400, "repo must be NAMESPACE/NAME (or a legacy one-segment NAME)");
        return -1;
    }
    if (since && since_parse(since, df->since) != 0) {
        fail(resp, 400, "since must be an RFC 3339 time such as 2025-03-01T00:00:00Z");
        return -1;
    }
    df->f.since = since ? df->since : NULL;
    return 0;
}

/* A stored text as JSON, null for NULL. A revision or path is whatever a
 * client sent the gateway: bytes that are not UTF-8 (which JSON cannot
 * carry) come out as '?', so one odd row cannot break the listing. */
static json_t *text(const char *s)
{
    json_t *j = s ? json_string(s) : json_null();
    char *copy = j ? NULL : strdup(s);
    if (j || !copy)
        return j;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *decision_doc(const store_decision *d)
{
    const char *const keys[] = {"uuid",   "created_at", "caller", "client_addr", "repo_type", "repo",  "revision",
                                "commit", "path",       "action", "outcome",     "scan_uuid", "reason"};
    const char *const vals[] = {d->uuid,    d->created_at, d->caller,     d->client_addr, d->repo_type,
                                d->repo,    d->revision,   d->commit_sha, d->path,        d->action,
                                d->outcome, d->scan_uuid,  d->reason};
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_set_new(o, keys[i], text(vals[i])) != 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

static int list_row(void *arg, const store_decision *d)
{
    page_acc *a = arg;
    return page_full(a) ? 0 : page_add(a, decision_doc(d), d->created_at, d->uuid);
}

void decisions_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    decision_filter df;
    memset(&df, 0, sizeof df);
    if (parse_filters(req, &df, resp) != 0 || page_parse(req, &df.pg, resp) != 0)
        return;
    page_acc a;
    int rc = page_start(&df.pg, &df.f, &a) == 0 ? store_decision_list(ctx->store, &df.f, list_row, &a) : STORE_ENOMEM;
    page_respond(resp, "decisions", &a, rc);
}
