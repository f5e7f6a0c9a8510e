/*
 * session.c - the dashboard's sign-in: a session cookie in place of the
 * bearer token (docs/rest.md, "Dashboard and sessions").
 *
 * POST /api/v1/session trades a token for a session: the browser keeps a
 * random value in an HttpOnly cookie (no script in the page can read it, so
 * the token never lives in the page), the store keeps the value's SHA-256
 * with the token's role and a CSRF token (sqlite_session.c). GET tells the
 * page who it is signed in as; DELETE ends the session in the store, so the
 * cookie stops working at once, wherever a copy of it is.
 *
 * A browser attaches the cookie to requests other sites make it send, so a
 * session's state-changing requests must prove they come from the
 * dashboard itself: SameSite=Strict already keeps the cookie off cross-site
 * requests in current browsers; on top, each POST, PUT, PATCH or DELETE
 * must repeat the session's CSRF token in X-CSRF-Token (a foreign page
 * cannot read it), and an Origin header, when the browser sends one, must
 * name this service. Bearer-token requests carry no ambient credential and
 * need neither.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define COOKIE_NAME  "mg_session"
#define COOKIE_ATTRS "; Path=/; HttpOnly; SameSite=Strict; Max-Age="

/* The mg_session value of a Cookie header: 1 with `out` filled, 0 when
 * there is none, -1 when there is one that this service never set (not 64
 * lowercase hex digits). */
static int cookie_value(const char *header, char out[STORE_COOKIE_LEN + 1])
{
    const size_t name_len = sizeof COOKIE_NAME - 1;
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > name_len && strncmp(p, COOKIE_NAME "=", name_len + 1) == 0) {
            const char *v = p + name_len + 1;
            size_t vl = n - name_len - 1;
            if (vl != STORE_COOKIE_LEN || strspn(v, "0123456789abcdef") < vl)
                return -1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 1;
        }
        p = end;
    }
    return 0;
}

static void set_cookie(srv_response *resp, const char *value, long max_age)
{
    snprintf(resp->set_cookie, sizeof resp->set_cookie, COOKIE_NAME "=%s" COOKIE_ATTRS "%ld", value, max_age);
}

store_role session_authenticate(const srv_ctx *ctx, const srv_request *req, srv_auth *auth, srv_response *resp)
{
    char value[STORE_COOKIE_LEN + 1];
    int got = req->cookie ? cookie_value(req->cookie, value) : 0;
    store_session s;
    int rc = got == 1 ? store_session_lookup(ctx->store, value, &s) : STORE_ENOTFOUND;
    if (rc == STORE_OK && s.role != ROLE_NONE) {
        auth->role = s.role;
        auth->session = 1;
        memcpy(auth->caller, s.caller, sizeof auth->caller);
        memcpy(auth->csrf, s.csrf, sizeof auth->csrf);
        memcpy(auth->expires_at, s.expires_at, sizeof auth->expires_at);
        return s.role;
    }
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        fail(resp, 500, "session store unavailable");
        return ROLE_NONE;
    }
    if (got) {
        fail(resp, 401, "the session has expired or was ended; sign in again");
        set_cookie(resp, "", 0); /* a dead cookie is dropped by the browser */
    } else {
        fail(resp, 401, "missing or invalid bearer token (Authorization: Bearer <token>) or session cookie");
    }
    return ROLE_NONE;
}

int session_origin_ok(const srv_request *req)
{
    const char *o = req->origin;
    if (!o)
        return 1; /* not a browser, or a same-origin GET: nothing to compare */
    const char *rest = strncmp(o, "http://", 7) == 0 ? o + 7 : strncmp(o, "https://", 8) == 0 ? o + 8 : NULL;
    return rest && req->host && *req->host && strcasecmp(rest, req->host) == 0;
}

int session_check_request(const srv_request *req, const srv_auth *auth, srv_response *resp)
{
    if (!auth->session || strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return 0;
    const char *t = req->csrf_token;
    if (!t || strlen(t) != STORE_COOKIE_LEN || CRYPTO_memcmp(t, auth->csrf, STORE_COOKIE_LEN) != 0) {
        fail(resp, 403, "missing or wrong CSRF token");
        return -1;
    }
    if (!session_origin_ok(req)) {
        fail(resp, 403, "cross-origin request refused: Origin is not this service");
        return -1;
    }
    return 0;
}

void session_author(const srv_auth *auth, char out[64])
{
    snprintf(out, 64, "%s (%s)", auth->caller[0] ? auth->caller : "unknown", store_role_name(auth->role));
}

/* ---- /api/v1/session ---- */

static void answer_session(srv_response *resp, store_role role, const char *csrf, const char *expires_at)
{
    respond(resp, 200,
            json_pack("{s:s, s:s, s:s}", "role", store_role_name(role), "csrf_token", csrf, "expires_at", expires_at));
}

void session_create(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    if (!session_origin_ok(req)) {
        fail(resp, 403, "cross-origin request refused: Origin is not this service");
        return;
    }
    json_t *doc = parse_json_body(req, resp);
    if (!doc)
        return;
    const char *tok = json_string_value(json_object_get(doc, "token"));
    char cookie[STORE_COOKIE_LEN + 1];
    store_session s;
    /* tokens are STORE_TOKEN_LEN characters: anything longer is not one */
    int rc = !json_is_object(doc) || !tok    ? MG_EINVAL
             : strlen(tok) > STORE_TOKEN_LEN ? STORE_ENOTFOUND
                                             : store_session_create(ctx->store, tok, SRV_SESSION_S, cookie, &s);
    if (rc == MG_EINVAL)
        fail(resp, 400, "the body must be {\"token\": \"mg_...\"}");
    else if (rc == STORE_ENOTFOUND)
        fail(resp, 401, "unknown token");
    else if (rc != STORE_OK)
        fail(resp, 500, "could not open a session");
    else {
        answer_session(resp, s.role, s.csrf, s.expires_at);
        if (resp->status == 200)
            set_cookie(resp, cookie, SRV_SESSION_S);
    }
    json_decref(doc);
}

void session_get(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    const srv_auth *a = req->auth;
    if (!a->session)
        fail(resp, 401, "no session: this request has no session cookie (sign in with POST /api/v1/session)");
    else
        answer_session(resp, a->role, a->csrf, a->expires_at);
}

void session_delete(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    char value[STORE_COOKIE_LEN + 1];
    if (!req->auth->session || cookie_value(req->cookie, value) != 1)
        fail(resp, 401, "no session: this request has no session cookie");
    else if (store_session_delete(ctx->store, value) != STORE_OK)
        fail(resp, 500, "session store unavailable");
    else {
        respond(resp, 204, NULL);
        set_cookie(resp, "", 0);
    }
}
