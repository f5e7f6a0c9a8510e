/*
 * cmd_policy.c - `modelgate policy show [--policy FILE]` prints the effective
 * policy as a policy file; `modelgate policy check FILE` validates one and
 * names the line of any mistake (exit 0 valid, 2 invalid).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void help_policy(FILE *out)
{
    fprintf(out, "usage: modelgate policy show [--policy FILE]\n"
                 "       modelgate policy check FILE\n\n"
                 "show   prints the effective policy (the built-in defaults, or FILE) as a policy file:\n"
                 "       edit it and pass it back with `modelgate scan --policy FILE`.\n"
                 "check  validates FILE; a mistake is reported with its line (exit 2).\n"
                 "See docs/policies.md for every policy, its parameters and the outcome rule.\n");
}

char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        errno = n > max ? EFBIG : EIO;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

mg_policy *load_policy(const char *path)
{
    mg_policy *p = NULL;
    if (!path) {
        if (mg_policy_default(&p) != MG_OK)
            fprintf(stderr, "modelgate: out of memory\n");
        return p;
    }
    size_t len;
    char *text = read_file(path, 1u << 20, &len);
    if (!text) {
        fprintf(stderr, "modelgate: cannot read policy file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char err[300];
    int rc = mg_policy_parse(&p, text, len, err, sizeof err);
    free(text);
    if (rc != MG_OK) {
        fprintf(stderr, "%s: %s\n", path, rc == MG_ENOMEM ? "out of memory" : err);
        return NULL;
    }
    return p;
}

int cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help_policy(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_ERROR : 0;
    }
    if (strcmp(argv[1], "show") == 0) {
        const char *file = NULL;
        if (argc == 4 && strcmp(argv[2], "--policy") == 0)
            file = argv[3];
        else if (argc != 2) {
            help_policy(stderr);
            return EXIT_ERROR;
        }
        mg_policy *p = load_policy(file);
        if (!p)
            return EXIT_ERROR;
        char *y = mg_policy_to_yaml(p);
        if (y)
            fputs(y, stdout);
        free(y);
        mg_policy_free(p);
        return y ? 0 : EXIT_ERROR;
    }
    if (strcmp(argv[1], "check") == 0 && argc == 3) {
        mg_policy *p = load_policy(argv[2]);
        if (!p)
            return EXIT_ERROR;
        printf("%s: valid (digest %s)\n", argv[2], mg_policy_digest(p));
        mg_policy_free(p);
        return 0;
    }
    help_policy(stderr);
    return EXIT_ERROR;
}
