/*
 * fuzz_hub_tree.c - libFuzzer target for the hub's file list (hub.c): one
 * page of GET /api/models/NS/NAME/tree/REV as a hostile hub could send it
 * (types, paths, sizes, LFS records, duplicate keys, deep nesting), parsed
 * into a remote's objects with a small file cap. Seeded with
 * fuzz/corpus/hub_tree (pages like the Hub's, and broken ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/sources/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    src_remote r;
    memset(&r, 0, sizeof r);
    r.cfg.max_files = 64;
    char err[256];
    size_t entries = 0;
    int rc = hub_tree_page(&r, (const char *)data, size, &entries, 256, err, sizeof err);
    /* every listed object must be usable as its contract says */
    volatile size_t n = 0;
    for (size_t i = 0; i < r.n; i++) {
        const src_object *o = &r.objs[i];
        if (rc == 0 && (!o->path[0] || o->path[0] == '/' || (o->sha256 && strlen(o->sha256) != 64)))
            abort();
        n += strlen(o->path) + (o->etag ? strlen(o->etag) : 0);
        free(o->path);
        free(o->etag);
        free(o->sha256);
    }
    free(r.objs);
    (void)n;
    return 0;
}
