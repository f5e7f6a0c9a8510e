/*
 * http.c - the HTTP front of the service on libmicrohttpd: a pool of worker
 * threads (one epoll/poll loop each), bounded request line and headers
 * (MHD's per-connection memory limit answers oversized headers itself),
 * bounded bodies, and an idle timeout.
 *
 * MHD calls the access handler several times per request: first with the
 * headers, then once per chunk of body, then once more with nothing left.
 * The body is collected into a buffer that never grows past SRV_MAX_BODY:
 * a declared Content-Length over the limit is refused with 413 before any
 * body is read; a chunked body that outgrows it is drained and refused at
 * the end. Only then does the request reach api_handle.
 *
 * Every answer carries the security headers (Content-Security-Policy and
 * friends, below): the dashboard is served from this port too.
 *
 * A request that waits for a scan (POST /api/v1/scans?wait=true) must not
 * hold one of the few HTTP threads for minutes: its connection is
 * suspended (MHD_suspend_connection) and resumed by the scan pool when the
 * scan is done or the wait times out; MHD then calls the handler again and
 * the answer is sent. The server counts parked connections so that it can
 * let them be answered before it stops.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"

struct srv_http {
    struct MHD_Daemon *daemon;
    const srv_ctx *ctx;
    atomic_int parked; /* suspended connections waiting for a scan */
};

/* Per-request state, from the first call of the access handler to the
 * completion callback. */
typedef struct http_req {
    char *body;
    size_t len, cap;
    int too_large;
    srv_job *job; /* parked: the scan this request waits for */
    int parked;   /* was parked: counted in srv_http.parked until completed */
    struct MHD_Connection *conn;
    struct srv_http *h;
} http_req;

/* On every answer of this port, API and dashboard alike: the dashboard runs
 * only scripts and styles it was served from here (no inline code, so text
 * from a hostile model file that ends up in the page cannot run), is never
 * framed, sends no Referer, and no answer is content-sniffed. */
static const char *const security_headers[][2] = {
    {"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

static void add_headers(struct MHD_Response *r, const srv_response *resp)
{
    for (size_t i = 0; i < sizeof security_headers / sizeof security_headers[0]; i++)
        MHD_add_response_header(r, security_headers[i][0], security_headers[i][1]);
    if (resp->body || resp->static_body)
        MHD_add_response_header(r, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (resp->set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", resp->set_cookie);
    if (resp->disposition[0])
        MHD_add_response_header(r, "Content-Disposition", resp->disposition);
}

static enum MHD_Result send_resp(struct srv_http *h, struct MHD_Connection *c, srv_response *resp)
{
    char *body = resp->body;
    metrics_http(h->ctx->metrics, resp->status);
    struct MHD_Response *r =
        resp->static_body
            ? MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_body, MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(body ? strlen(body) : 0, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (resp->static_body)
        free(body); /* not sent (a handler sets one or the other) */
    add_headers(r, resp);
    if (resp->retry_after) {
        char v[16];
        snprintf(v, sizeof v, "%u", resp->retry_after);
        MHD_add_response_header(r, "Retry-After", v);
    }
    enum MHD_Result rc = MHD_queue_response(c, resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_too_large(struct srv_http *h, struct MHD_Connection *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request body larger than %d bytes", SRV_MAX_BODY);
    srv_response resp = {.status = MHD_HTTP_CONTENT_TOO_LARGE, .body = api_error_body(msg)};
    return send_resp(h, c, &resp);
}

/* Appends a chunk, or marks the request too large (the rest is drained). */
static int body_append(http_req *r, const char *data, size_t n)
{
    if (r->too_large || n > (size_t)SRV_MAX_BODY - r->len) {
        r->too_large = 1;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2; /* bounded: len + n <= SRV_MAX_BODY */
        char *p = realloc(r->body, cap);
        if (!p)
            return -1;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
    return 0;
}

static int declared_too_large(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    char *end;
    unsigned long long v = strtoull(cl, &end, 10);
    return end == cl || *end || v > SRV_MAX_BODY;
}

static const char *query_arg(const srv_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Called once by the scan pool (any thread): the scan is done or the
 * wait timed out. */
static void unpark(void *arg)
{
    http_req *r = arg;
    MHD_resume_connection(r->conn);
}

/* Parks the connection until the pool calls unpark. */
static enum MHD_Result park(struct srv_http *h, struct MHD_Connection *c, http_req *r, srv_response *resp)
{
    r->job = resp->job;
    r->conn = c;
    r->h = h;
    r->parked = 1;
    atomic_fetch_add(&h->parked, 1);
    MHD_suspend_connection(c);
    pool_wait(h->ctx->pool, r->job, resp->wait_s, unpark, r);
    return MHD_YES;
}

/* The resumed request: answers from its scan. */
static enum MHD_Result answer_parked(struct srv_http *h, struct MHD_Connection *c, http_req *r)
{
    srv_response resp;
    srv_job *job = r->job;
    r->job = NULL;
    api_answer_job(h->ctx, job, &resp);
    return send_resp(h, c, &resp);
}

static enum MHD_Result dispatch(struct srv_http *h, struct MHD_Connection *c, const char *url, const char *method,
                                http_req *r)
{
    srv_request req = {
        .method = method,
        .path = url,
        .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE),
        .csrf_token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token"),
        .origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN),
        .host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .body = r->body ? r->body : "",
        .body_len = r->len,
        .arg = query_arg,
        .conn = c,
    };
    srv_response resp;
    api_handle(h->ctx, &req, &resp);
    if (resp.job)
        return park(h, c, r, &resp);
    return send_resp(h, c, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    http_req *r = *state;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *state = r;
        if (declared_too_large(c)) {
            r->too_large = 1;
            return send_too_large(cls, c); /* before reading the body: MHD closes the connection after */
        }
        return MHD_YES;
    }
    if (r->job)
        return answer_parked(cls, c, r);
    if (*upload_size) {
        int rc = body_append(r, upload, *upload_size);
        *upload_size = 0;
        return rc == 0 ? MHD_YES : MHD_NO;
    }
    if (r->too_large)
        return send_too_large(cls, c);
    return dispatch(cls, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
    http_req *r = *state;
    if (r) {
        if (r->parked)
            atomic_fetch_sub(&r->h->parked, 1);
        job_unref(r->job); /* only set if the connection closed while parked */
        free(r->body);
        free(r);
        *state = NULL;
    }
}

/* Fills `sa` from an address literal; returns its length, 0 when invalid. */
unsigned http_make_addr(const srv_listen *l, struct sockaddr_storage *sa, int *v6)
{
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, l->addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(l->port);
        *v6 = 0;
        return sizeof *a4;
    }
    if (inet_pton(AF_INET6, l->addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(l->port);
        *v6 = 1;
        return sizeof *a6;
    }
    return 0;
}

int http_start(srv_http **out, const srv_listen *l, const srv_ctx *ctx, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage sa;
    int v6 = 0;
    if (!http_make_addr(l, &sa, &v6)) {
        snprintf(err, errlen, "not an IP address: %s", l->addr);
        return MG_EINVAL;
    }
    srv_http *h = calloc(1, sizeof *h);
    if (!h)
        return MG_ENOMEM;
    h->ctx = ctx;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0);
    h->daemon =
        MHD_start_daemon(flags, l->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_THREAD_POOL_SIZE, l->threads ? l->threads : 1, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)SRV_MAX_HEADERS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u (address in use or not available)", l->addr, (unsigned)l->port);
        free(h);
        return MG_EIO;
    }
    *out = h;
    return MG_OK;
}

void http_quiesce(srv_http *h)
{
    if (h) {
        MHD_socket fd = MHD_quiesce_daemon(h->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void http_stop(srv_http *h)
{
    if (!h)
        return;
    /* the pool has resumed every parked request by now (pool_stop); let
     * them send their answers (5 s at most) */
    for (int i = 0; i < 500 && atomic_load(&h->parked) > 0; i++)
        usleep(10000);
    MHD_stop_daemon(h->daemon);
    free(h);
}
