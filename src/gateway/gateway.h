/*
 * gateway.h - the Hugging Face Hub-compatible gateway (issue 7): clients set
 * HF_ENDPOINT (or hubUrl) to it and change nothing else. Every repo is
 * scanned at one commit before a byte of it is served, a repo that fails
 * the policy is refused with 403 and the report, and the bytes served are
 * fetched, verified against their digest and served by the gateway itself.
 *
 * It runs in the same process as the scan pool and the store (src/server):
 * its scans are ordinary scans, its verdicts live in the store, and `serve
 * --gateway` or `modelgate gateway` starts it next to (or instead of) the
 * REST API. Protocol notes: ../shared/design/hub-and-s3.md.
 */
#ifndef MG_GATEWAY_H
#define MG_GATEWAY_H

#include <stdint.h>

#include "../server/server.h"

typedef struct gw_config {
    const char *addr; /* IPv4 or IPv6 literal */
    uint16_t port;
    const char *data_dir;     /* the blob cache lives in DATA/blobs */
    uint64_t blob_cache_size; /* bytes of verified content kept on disk (LRU); 0: nothing kept */
    unsigned revision_ttl;    /* seconds a branch -> commit answer is reused */
    int fail_open;            /* serve models whose scan failed (dangerous; logged each time) */
} gw_config;

typedef struct gw gw;

/* Starts serving; `ctx` (engine, store, policies, pool, src->hub_endpoint
 * as the upstream) is borrowed for the gateway's life. On failure `err`
 * says why. */
int gw_start(gw **out, const gw_config *cfg, const srv_ctx *ctx, char *err, size_t errlen);
/* Stops accepting connections and aborts upstream downloads (their clients'
 * transfers break); requests waiting for a scan go on until the pool stops
 * and answers them. NULL is fine. */
void gw_quiesce(gw *g);
/* Waits for the requests in flight and frees everything (after the pool
 * stopped). NULL is fine. */
void gw_stop(gw *g);

#endif
