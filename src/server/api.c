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
 * Every route except /healthz needs a token; the table names the least role
 * that may call it. An unknown path is 404, a known path with another method
 * 405, a token whose role is too weak 403.
 */
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

/* The role of the request's bearer token; ROLE_NONE after answering 401
 * (or 500 when the store failed). */
static store_role authenticate(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    const char *h = req->authorization;
    store_role role = ROLE_NONE;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        /* tokens are STORE_TOKEN_LEN characters: anything longer is not one */
        int rc = strlen(tok) <= STORE_TOKEN_LEN ? store_token_lookup(ctx->store, tok, &role) : STORE_ENOTFOUND;
        if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
            fail(resp, 500, "token store unavailable");
            return ROLE_NONE;
        }
    }
    if (role == ROLE_NONE)
        fail(resp, 401, "missing or invalid bearer token (Authorization: Bearer <token>)");
    return role;
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
    const char *path; /* a trailing "{uuid}" matches one segment */
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
    {"GET", "/api/v1/models", ROLE_READER, models_list, NULL},
    {"GET", "/api/v1/models/{uuid}", ROLE_READER, models_get, NULL},
    {"GET", "/api/v1/policies", ROLE_READER, policies_get, NULL},
    {"PUT", "/api/v1/policies", ROLE_ADMIN, policies_put, "only an admin token may change the policies"},
    {"GET", "/api/v1/threats", ROLE_READER, threats_get, NULL},
    {"POST", "/api/v1/tokens", ROLE_ADMIN, tokens_create, "only an admin token may create tokens"},
    {"GET", "/api/v1/gateway/decisions", ROLE_READER, decisions_list, NULL},
};
enum { NROUTES = sizeof routes / sizeof routes[0] };

/* Whether `path` matches the route's path; *param gets the {uuid} segment. */
static int path_matches(const route *r, const char *path, const char **param)
{
    const char *brace = strstr(r->path, "{uuid}");
    *param = NULL;
    if (!brace)
        return strcmp(r->path, path) == 0;
    size_t n = (size_t)(brace - r->path);
    if (strncmp(r->path, path, n) != 0 || !path[n] || strchr(path + n, '/'))
        return 0;
    *param = path + n;
    return 1;
}

static int same_method(const route *r, const char *method)
{
    /* HEAD is GET without the body (libmicrohttpd drops the body) */
    return strcmp(r->method, method) == 0 || (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

void api_handle(const srv_ctx *ctx, const srv_request *req, srv_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 500;
    const route *hit = NULL, *known = NULL;
    const char *param = NULL;
    for (size_t i = 0; i < NROUTES && !hit; i++) {
        const char *p;
        if (!path_matches(&routes[i], req->path, &p))
            continue;
        known = &routes[i];
        param = p;
        if (same_method(&routes[i], req->method))
            hit = &routes[i];
    }
    const route *r = hit ? hit : known;
    store_role role = r && r->role == ROLE_NONE ? ROLE_ADMIN : authenticate(ctx, req, resp);
    if (role == ROLE_NONE)
        return; /* answered 401 (before saying whether the endpoint exists) */
    if (!known)
        fail(resp, 404, "no such endpoint");
    else if (!hit)
        fail(resp, 405, "method not allowed");
    else if (role < hit->role)
        fail(resp, 403, hit->denied ? hit->denied : "this token's role may not call this endpoint");
    else
        hit->fn(ctx, req, param, resp);
}
