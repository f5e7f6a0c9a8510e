/*
 * pg_queue.c - the shared job queue on PostgreSQL: scans are rows, and any
 * number of worker processes take them from the database.
 *
 * A worker claims the oldest scan that waits (PENDING), or whose worker
 * died (RUNNING with a lease that ran out), in one UPDATE whose row is
 * chosen FOR UPDATE SKIP LOCKED, so two workers claiming at once never get
 * the same scan and never wait on each other. The claim leases the scan to
 * the worker for a few seconds; the worker renews the lease while it scans.
 * Leases are compared with the database's clock only (now()), so the
 * clocks of the machines do not matter.
 *
 * A process that queued a scan NOTIFYs the channel below; idle workers
 * LISTEN on it with a connection of their own (store_queue_wait), and poll
 * anyway when it says nothing, so a lost notification (a restarted
 * database) only delays a scan by the poll interval.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "pg_int.h"
#include "util/banned.h"

#define CHANNEL "modelgate_scans"

/* Hands the claimed row on with the policy version the claim read. */
typedef struct claim_cb {
    store_scan_fn fn;
    void *ctx;
    int policy_version;
} claim_cb;

static int with_policy(void *arg, const store_scan *row)
{
    const claim_cb *c = arg;
    store_scan r = *row;
    r.policy_version = c->policy_version;
    return c->fn(c->ctx, &r);
}

int pg_queue_claim(mg_store *base, const char *owner, int lease_s, store_scan_fn fn, void *ctx)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", lease_s);
    const char *args[] = {owner, secs};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "UPDATE scans SET state = 'RUNNING', attempts = attempts + 1, lease_owner = $1,"
                      " lease_until = now() + make_interval(secs => $2::int)"
                      " WHERE uuid = (SELECT uuid FROM scans WHERE (state = 'PENDING'"
                      " AND (affinity IS NULL OR affinity = $1 OR affinity_until < now()))"
                      " OR (state = 'RUNNING' AND lease_until < now())"
                      " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
                      " RETURNING " PG_SCAN_COLS ", (SELECT coalesce(max(version), 0) FROM policies)",
                      args, 2, &r);
    if (rc != STORE_OK)
        return rc;
    int one = PQntuples(r) == 1;
    claim_cb cb = {fn, ctx, one ? pg_int(r, 0, PQnfields(r) - 1) : 0};
    rc = one ? pg_each_scan(r, 0, with_policy, &cb) : STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

int pg_queue_stats(mg_store *base, store_queue_info *out)
{
    PGresult *r;
    int rc = pg_fetch(pg_of(base), QUEUE_STATS_SQL, NULL, 0, &r);
    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 1) {
        out->waiting = pg_int(r, 0, 0);
        out->running = pg_int(r, 0, 1);
        snprintf(out->oldest, sizeof out->oldest, "%s", pg_val(r, 0, 2));
    }
    PQclear(r);
    return STORE_OK;
}

/* The uuids as one text[] literal: {a,b,c}. A uuid is hex and dashes, so
 * it needs no quoting; anything else is refused rather than escaped. */
static char *uuid_array(const char *const *uuids, size_t n)
{
    size_t len = 3 + n * 37;
    char *out = n && n < (SIZE_MAX - 3) / 37 ? malloc(len) : NULL;
    if (!out)
        return NULL;
    size_t at = 0;
    out[at++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(uuids[i]);
        if (k != 36 || strspn(uuids[i], "0123456789abcdef-") != 36) {
            free(out);
            return NULL;
        }
        if (i)
            out[at++] = ',';
        memcpy(out + at, uuids[i], k);
        at += k;
    }
    out[at++] = '}';
    out[at] = 0;
    return out;
}

int pg_queue_done(mg_store *base, const char *const *uuids, size_t n, int (*fn)(void *ctx, const char *uuid), void *ctx)
{
    if (n == 0)
        return STORE_OK;
    char *arr = uuid_array(uuids, n);
    if (!arr)
        return STORE_ENOMEM;
    const char *args[] = {arr};
    PGresult *r;
    int rc =
        pg_fetch(pg_of(base), "SELECT uuid FROM scans WHERE uuid = ANY($1::text[]) AND state = 'DONE'", args, 1, &r);
    free(arr);
    if (rc != STORE_OK)
        return rc;
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++)
        rc = fn(ctx, pg_val(r, i, 0));
    PQclear(r);
    return rc;
}

int pg_queue_renew(mg_store *base, const char *uuid, const char *owner, int lease_s)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", lease_s);
    const char *args[] = {uuid, owner, secs};
    PGresult *r;
    int rc = pg_fetch(pg_of(base),
                      "UPDATE scans SET lease_until = now() + make_interval(secs => $3::int)"
                      " WHERE uuid = $1 AND lease_owner = $2 AND state = 'RUNNING' RETURNING 1",
                      args, 3, &r);
    if (rc != STORE_OK)
        return rc;
    rc = PQntuples(r) == 1 ? STORE_OK : STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

int pg_queue_notify(mg_store *base)
{
    return pg_fetch(pg_of(base), "NOTIFY " CHANNEL, NULL, 0, NULL);
}

/* The LISTEN connection, (re)made when missing or broken; NULL when the
 * server cannot be reached. */
static PGconn *listener(pg_store *st)
{
    if (st->listen && PQstatus(st->listen) == CONNECTION_OK)
        return st->listen;
    PQfinish(st->listen);
    st->listen = pg_connect(st->url);
    if (!st->listen || PQstatus(st->listen) != CONNECTION_OK ||
        pg_query(st->listen, "LISTEN " CHANNEL, NULL, 0, NULL) != STORE_OK) {
        PQfinish(st->listen);
        st->listen = NULL;
    }
    return st->listen;
}

/* Drops the notifications already received; 1 when there was one. */
static int drain(PGconn *c)
{
    int got = 0;
    for (PGnotify *n; (n = PQnotifies(c)) != NULL; got = 1)
        PQfreemem(n);
    return got;
}

int pg_queue_wait(mg_store *base, int ms)
{
    pg_store *st = pg_of(base);
    PGconn *c = listener(st);
    if (!c)
        return STORE_EDB;
    if (PQconsumeInput(c) && drain(c))
        return STORE_OK;
    int fd = PQsocket(c);
    if (fd < 0 || fd >= FD_SETSIZE)
        return STORE_EDB;
    fd_set in;
    FD_ZERO(&in);
    FD_SET(fd, &in);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    int n = select(fd + 1, &in, NULL, NULL, &tv);
    if (n < 0 && errno != EINTR)
        return STORE_EDB;
    if (n > 0 && !PQconsumeInput(c))
        return STORE_EDB; /* broken: made again on the next call */
    drain(c);
    return STORE_OK;
}
