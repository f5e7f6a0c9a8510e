/*
 * server.h - the scanner service: an HTTP front (http.c, libmicrohttpd) that
 * turns requests into srv_request records, and the REST API (api.c) that
 * answers them from the engine and the store.
 *
 * The split keeps HTTP mechanics (thread pool, size limits, connection
 * state) out of the handlers, so the handlers can be tested and grown
 * without touching libmicrohttpd, and the library stays free of network and
 * database code: everything here lives in the command.
 */
#ifndef MG_SERVER_H
#define MG_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "modelgate.h"
#include "../store/store.h"

/* Defaults and limits of the service, in one place. */
enum {
    SRV_MAX_BODY = 1 << 20,     /* request body bytes: larger bodies get 413 */
    SRV_MAX_HEADERS = 64 << 10, /* per-connection memory for the request line and headers */
    SRV_TIMEOUT_S = 120,        /* idle connection timeout */
    SRV_LIST_DEFAULT = 50,      /* GET /api/v1/scans without ?limit */
    SRV_LIST_MAX = 1000,        /* largest ?limit accepted */
};

/* What the handlers need. Everything is borrowed and outlives the server;
 * the engine and the policy are immutable and shared by every thread. */
typedef struct srv_ctx {
    mg_store *store;
    const mg_engine *engine;
    const mg_policy *policy;
    char **roots; /* resolved (realpath) folders local scans may read */
    size_t nroots;
} srv_ctx;

/* One request as the handlers see it. `arg` looks up a query argument. */
typedef struct srv_request {
    const char *method;
    const char *path;          /* without the query string */
    const char *authorization; /* the header, or NULL */
    const char *body;          /* NUL-terminated, may be "" */
    size_t body_len;
    const char *(*arg)(const struct srv_request *req, const char *key);
    void *conn; /* for `arg` */
} srv_request;

/* The answer: a status and a malloc'd JSON body (NULL: no body). */
typedef struct srv_response {
    unsigned status;
    char *body;
} srv_response;

/* Answers one request; never fails (an internal error is a 500 response). */
void api_handle(const srv_ctx *ctx, const srv_request *req, srv_response *resp);
/* A {"error": message} body (malloc'd), or NULL when out of memory. */
char *api_error_body(const char *message);

typedef struct srv_http srv_http;
typedef struct srv_listen {
    const char *addr; /* IPv4 or IPv6 literal */
    uint16_t port;
    unsigned threads; /* HTTP worker threads */
} srv_listen;

/* Starts serving on a thread pool; returns at once. On failure `err` says why. */
int http_start(srv_http **out, const srv_listen *listen, const srv_ctx *ctx, char *err, size_t errlen);
/* Stops accepting, finishes the requests in flight, frees the server. */
void http_stop(srv_http *h);

#endif
