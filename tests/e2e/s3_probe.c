/*
 * s3_probe.c - drives the S3 source (src/sources) directly, for
 * tests/e2e/s3_test.py: list a model and read byte ranges of its files, with
 * the S3 settings taken from the AWS variables the way the command takes
 * them (src_s3_config_from_env).
 *
 *   s3_probe [--page-keys N] [--max-pages N] [--max-files N] [--timeout S] list URI
 *   s3_probe [options] read URI PATH OFF LEN OUT [PATH OFF LEN OUT]...
 *
 * Prints "rc N" (a SRC_* code), then "err MESSAGE" on failure, or for list
 * "ns", "name", "rev", "count" and one "obj PATH<TAB>SIZE<TAB>ETAG" line per
 * file. Each read writes [OFF, OFF+LEN) at offset OFF of OUT. Exit status 0
 * when rc is 0, else 1.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/source.h"

static int usage(void)
{
    fprintf(stderr, "usage: s3_probe [--page-keys N] [--max-pages N] [--max-files N] [--timeout S] "
                    "list URI | read URI PATH OFF LEN OUT...\n");
    return 2;
}

static int fail(int rc, const char *err)
{
    printf("rc %d\nerr %s\n", rc, err);
    return 1;
}

static void print_list(const src_remote *r)
{
    const char *rev = src_revision(r);
    printf("rc 0\nns %s\nname %s\nrev %s\ncount %zu\n", src_namespace(r), src_name(r), rev ? rev : "-", src_count(r));
    for (size_t i = 0; i < src_count(r); i++) {
        const src_object *o = src_object_at(r, i);
        printf("obj %s\t%" PRIu64 "\t%s\n", o->path, o->size, o->etag ? o->etag : "-");
    }
}

static int read_one(src_remote *r, char **spec, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < src_count(r) && strcmp(src_object_at(r, i)->path, spec[0]) != 0)
        i++;
    if (i == src_count(r)) {
        snprintf(err, errlen, "no file %s in the listing", spec[0]);
        return SRC_ENOTFOUND;
    }
    int fd = open(spec[3], O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s", spec[3]);
        return SRC_EINVAL;
    }
    int rc = src_read(r, i, strtoull(spec[1], NULL, 10), strtoull(spec[2], NULL, 10), fd, err, errlen);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    src_config cfg = {0};
    char err[1024] = "";
    int a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        unsigned long v = strtoul(argv[a + 1], NULL, 10);
        if (strcmp(argv[a], "--page-keys") == 0)
            cfg.s3_page_keys = (uint32_t)v;
        else if (strcmp(argv[a], "--max-pages") == 0)
            cfg.max_pages = (uint32_t)v;
        else if (strcmp(argv[a], "--max-files") == 0)
            cfg.max_files = (uint32_t)v;
        else if (strcmp(argv[a], "--timeout") == 0)
            cfg.timeout_s = (long)v;
        else
            return usage();
    }
    if (argc - a < 2)
        return usage();
    const char *cmd = argv[a], *uri = argv[a + 1];
    int reading = strcmp(cmd, "read") == 0;
    if ((!reading && strcmp(cmd, "list") != 0) || (reading && ((argc - a - 2) == 0 || (argc - a - 2) % 4 != 0)))
        return usage();
    int rc = src_s3_config_from_env(&cfg, err, sizeof err);
    if (rc != SRC_OK)
        return fail(rc, err);
    src_remote *r = NULL;
    rc = src_open(&r, &cfg, uri, err, sizeof err);
    if (rc != SRC_OK)
        return fail(rc, err);
    if (!reading) {
        print_list(r);
    } else {
        for (int i = a + 2; rc == SRC_OK && i + 3 < argc; i += 4)
            rc = read_one(r, argv + i, err, sizeof err);
        if (rc == SRC_OK)
            printf("rc 0\n");
    }
    src_close(r);
    return rc == SRC_OK ? 0 : fail(rc, err);
}
