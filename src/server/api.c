/*
 * api.c - the REST API's front (docs/rest.md): the route table, bearer-token
 * authentication with roles, and the response helpers every resource uses.
 * The handlers live one file per resource: scans.c, models.c, policies.c
 * (policies, threats, tokens), metrics.c, decisions.c (the gateway's audit
 * trail).
 *
 * The route table below is the one list of endpoints: the router answers
 * exactly these, and tests/e2e/service_test.py checks that
 * docs/openapi.json (served at /api/v1/openapi.json) describes exactly these.
 * Every route except /healthz and signing in needs a token, or the
 * dashboard's session cookie (session.c) whose writes must carry its CSRF
 * token; the table names the least role that may call it. An unknown path
 * is 404, a known path with another method 405, a token whose role is too
 * weak 403, a caller over its rate limit 429. The dashboard's own files
 * (/ and /ui/..., assets.c) are not API routes: they are answered first,
 * without a token.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

/* docs/openapi.json, compiled in by mk/embed.sh (see the Makefile) */
extern const char mg_openapi_json[];
extern const size_t mg_openapi_json_len;

void respond(srv_response *resp, unsigned status, json_t *doc)
{
    resp->status = status;
    resp->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (doc && !resp->body)
        resp->status = 500;
    json_decref(doc);
}

char *api_error_body(const char *message)
{
    json_t *doc = json_pack("{s:s}", "error", message);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

void fail(srv_response *resp, unsigned status, const char *message)
{
    resp->status = status;
    resp->body = api_error_body(message);
}

json_t *parse_json_body(const srv_request *req, srv_response *resp)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        fail(resp, 400, msg);
    }
    return doc;
}

static int hexval(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !hexval(s[i]))
            return 0;
    }
    return s[36] == 0;
}

/* ---- authentication ---- */

/* "token:" and the first 12 hex digits of the token's SHA-256: how the
 * gateway's audit trail and the policy history name a caller. */
static void caller_of(const char *token, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) || mdlen < 6)
        memset(md, 0, 6);
    snprintf(out, 32, "token:%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4], md[5]);
}

/* The caller's role, from the bearer token, or else from the dashboard's
 * session cookie (session.c); ROLE_NONE after answering 401 (or 500 when
 * the store failed). */
static store_role authenticate(const srv_ctx *ctx, const srv_request *req, srv_response *resp, srv_auth *auth)
{
    const char *h = req->authorization;
    if (!h)
        return session_authenticate(ctx, req, auth, resp);
    store_role role = ROLE_NONE;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        /* tokens are STORE_TOKEN_LEN characters: anything longer is not one */
        int rc = strlen(tok) <= STORE_TOKEN_LEN ? store_token_lookup(ctx->store, tok, &role) : STORE_ENOTFOUND;
        if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
            fail(resp, 500, "token store unavailable");
            return ROLE_NONE;
        }
        if (role != ROLE_NONE)
            caller_of(tok, auth->caller);
    }
    if (role == ROLE_NONE)
        fail(resp, 401, "missing or invalid bearer token (Authorization: Bearer <token>)");
    auth->role = role;
    return role;
}

/* A caller over its rate limit (ratelimit.c) is answered 429 with
 * Retry-After; returns 1 then, else 0. Checked after authentication, so that a caller
 * without a valid token cannot spend another's budget. */
static int rate_limited(const srv_ctx *ctx, const srv_auth *auth, srv_response *resp)
{
    unsigned wait = ratelimit_take(ctx->ratelimit, auth->caller);
    if (!wait)
        return 0;
    metrics_rate_limited(ctx->metrics);
    char msg[160];
    snprintf(msg, sizeof msg, "rate limit: too many requests with this token; retry in %u s", wait);
    fail(resp, 429, msg);
    resp->retry_after = wait;
    return 1;
}

/* ---- routes ---- */

static void health(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    respond(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void openapi(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    resp->status = 200;
    resp->body = strndup(mg_openapi_json, mg_openapi_json_len);
    if (!resp->body)
        fail(resp, 500, "out of memory");
}

typedef struct route {
    const char *method;
    const char *path; /* "{uuid}" matches one segment (at the end, or before a fixed suffix) */
    store_role role;  /* least role allowed; ROLE_NONE: no token needed */
    api_handler fn;
    const char *denied; /* the 403 message */
} route;

static const route routes[] = {
    {"GET", "/healthz", ROLE_NONE, health, NULL},
    {"GET", "/metrics", ROLE_READER, metrics_get, NULL},
    {"GET", "/api/v1/openapi.json", ROLE_READER, openapi, NULL},
    {"POST", "/api/v1/scans", ROLE_SCANNER, scans_create,
     "this token's role cannot create scans (needs scanner or admin)"},
    {"GET", "/api/v1/scans", ROLE_READER, scans_list, NULL},
    {"GET", "/api/v1/scans/{uuid}", ROLE_READER, scans_get, NULL},
    {"GET", "/api/v1/scans/{uuid}/report.json", ROLE_READER, scans_report, NULL},
    {"GET", "/api/v1/models", ROLE_READER, models_list, NULL},
    {"GET", "/api/v1/models/{uuid}", ROLE_READER, models_get, NULL},
    {"GET", "/api/v1/policies", ROLE_READER, policies_get, NULL},
    {"PUT", "/api/v1/policies", ROLE_ADMIN, policies_put, "only an admin token may change the policies"},
    {"GET", "/api/v1/policies/versions", ROLE_ADMIN, policies_versions, "only an admin may read the policy history"},
    {"GET", "/api/v1/threats", ROLE_READER, threats_get, NULL},
    {"POST", "/api/v1/tokens", ROLE_ADMIN, tokens_create, "only an admin token may create tokens"},
    {"GET", "/api/v1/gateway/decisions", ROLE_READER, decisions_list, NULL},
    {"GET", "/api/v1/overview", ROLE_READER, overview_get, NULL},
    {"POST", "/api/v1/session", ROLE_NONE, session_create, NULL},
    {"GET", "/api/v1/session", ROLE_READER, session_get, NULL},
    {"DELETE", "/api/v1/session", ROLE_READER, session_delete, NULL},
};
enum { NROUTES = sizeof routes / sizeof routes[0] };

/* Whether `path` matches the route's path; `seg` gets the {uuid} segment
 * ("" when it is longer than a uuid: no handler finds it). */
static int path_matches(const route *r, const char *path, char seg[37])
{
    const char *brace = strstr(r->path, "{uuid}");
    seg[0] = 0;
    if (!brace)
        return strcmp(r->path, path) == 0;
    size_t n = (size_t)(brace - r->path);
    const char *suffix = brace + 6; /* "" or "/report.json" */
    if (strncmp(r->path, path, n) != 0 || !path[n])
        return 0;
    const char *slash = strchr(path + n, '/');
    size_t len = slash ? (size_t)(slash - (path + n)) : strlen(path + n);
    if (len == 0 || strcmp(path + n + len, suffix) != 0)
        return 0;
    if (len <= 36) {
        memcpy(seg, path + n, len);
        seg[len] = 0;
    }
    return 1;
}

static int same_method(const route *r, const char *method)
{
    /* HEAD is GET without the body (libmicrohttpd drops the body) */
    return strcmp(r->method, method) == 0 || (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

void api_handle(const srv_ctx *ctx, const srv_request *in, srv_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 500;
    if (assets_handle(in, resp))
        return; /* the dashboard's files: no token */
    const route *hit = NULL, *known = NULL;
    char param[37] = "";
    for (size_t i = 0; i < NROUTES && !hit; i++) {
        char seg[37];
        if (!path_matches(&routes[i], in->path, seg))
            continue;
        known = &routes[i];
        memcpy(param, seg, sizeof param);
        if (same_method(&routes[i], in->method))
            hit = &routes[i];
    }
    const route *r = hit ? hit : known;
    srv_auth auth = {.role = ROLE_ADMIN};
    srv_request req = *in;
    req.auth = &auth;
    if (!(r && r->role == ROLE_NONE)) {
        memset(&auth, 0, sizeof auth);
        if (authenticate(ctx, &req, resp, &auth) == ROLE_NONE)
            return; /* answered 401 (before saying whether the endpoint exists) */
        if (session_check_request(&req, &auth, resp) != 0)
            return; /* a session's write without its CSRF token, or from another origin: 403 */
        if (rate_limited(ctx, &auth, resp))
            return;
    }
    if (!known)
        fail(resp, 404, "no such endpoint");
    else if (!hit)
        fail(resp, 405, "method not allowed");
    else if (auth.role < hit->role)
        fail(resp, 403, hit->denied ? hit->denied : "this token's role may not call this endpoint");
    else
        hit->fn(ctx, &req, strstr(hit->path, "{uuid}") ? param : NULL, resp);
}
