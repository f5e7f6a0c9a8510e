/*
 * hub_probe.c - a small driver of the remote sources (src/sources), built by
 * tests/e2e/hub_test.py under the sanitizers: opens one model URI, lists it,
 * reads the ranges given on the command line into files, and prints what
 * happened as one JSON document, so the test can check the back-end itself
 * (listing, ranges, redirects, errors) besides the CLI scans.
 *
 *   hub_probe [--endpoint URL] [--token T] [--timeout S] [--max-files N]
 *             URI [PATH OFF LEN OUTFILE]...
 *
 * Each read writes bytes [OFF, OFF+LEN) of PATH at offset OFF of OUTFILE.
 * Output: {"rc", "err", "ns", "name", "rev", "type", "objects": [{path, size,
 * etag, sha256}], "reads": [{path, off, len, rc, err}]}; exit 0 when it ran.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/source.h"

static void put_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) /* bytes >= 0x80 pass: paths are UTF-8 */
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int find(const src_remote *r, const char *path)
{
    for (size_t i = 0; i < src_count(r); i++)
        if (strcmp(src_object_at(r, i)->path, path) == 0)
            return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    src_config cfg = {0};
    int a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (strcmp(argv[a], "--endpoint") == 0)
            cfg.hub_endpoint = argv[a + 1];
        else if (strcmp(argv[a], "--token") == 0)
            cfg.hub_token = argv[a + 1];
        else if (strcmp(argv[a], "--timeout") == 0)
            cfg.timeout_s = strtol(argv[a + 1], NULL, 10);
        else if (strcmp(argv[a], "--max-files") == 0)
            cfg.max_files = (uint32_t)strtoul(argv[a + 1], NULL, 10);
        else
            return fprintf(stderr, "unknown option %s\n", argv[a]), 2;
    }
    if (a >= argc || (argc - a - 1) % 4)
        return fprintf(stderr, "usage: hub_probe [options] URI [PATH OFF LEN OUTFILE]...\n"), 2;
    char err[512] = "";
    src_remote *r = NULL;
    int rc = src_open(&r, &cfg, argv[a], err, sizeof err);
    printf("{\"rc\": %d, \"err\": ", rc);
    put_str(err);
    if (rc == SRC_OK) {
        printf(", \"ns\": ");
        put_str(src_namespace(r));
        printf(", \"name\": ");
        put_str(src_name(r));
        printf(", \"rev\": ");
        put_str(src_revision(r));
        printf(", \"type\": ");
        put_str(src_repo_type(r));
        printf(", \"objects\": [");
        for (size_t i = 0; i < src_count(r); i++) {
            const src_object *o = src_object_at(r, i);
            printf("%s{\"path\": ", i ? ", " : "");
            put_str(o->path);
            printf(", \"size\": %" PRIu64 ", \"etag\": ", o->size);
            put_str(o->etag);
            printf(", \"sha256\": ");
            put_str(o->sha256);
            putchar('}');
        }
        printf("], \"reads\": [");
        for (int k = a + 1; k + 3 < argc; k += 4) {
            uint64_t off = strtoull(argv[k + 1], NULL, 10), len = strtoull(argv[k + 2], NULL, 10);
            int i = find(r, argv[k]), fd = open(argv[k + 3], O_WRONLY | O_CREAT, 0600);
            int rrc = -100;
            err[0] = 0;
            if (i >= 0 && fd >= 0)
                rrc = src_read(r, (size_t)i, off, len, fd, err, sizeof err);
            if (fd >= 0)
                close(fd);
            printf("%s{\"path\": ", k > a + 1 ? ", " : "");
            put_str(argv[k]);
            printf(", \"off\": %" PRIu64 ", \"len\": %" PRIu64 ", \"rc\": %d, \"err\": ", off, len, rrc);
            put_str(err);
            putchar('}');
        }
        putchar(']');
        src_close(r);
    }
    printf("}\n");
    return 0;
}
