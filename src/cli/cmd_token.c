/*
 * cmd_token.c - `modelgate token create --role admin|scanner|reader
 * [--data DIR | --store URL]`: creates an API token in the service's store
 * and prints it as the last line (scripts read it from there). The token is
 * shown once: the store keeps only its SHA-256. Safe to run beside a
 * running service on the same store (SQLite WAL: the write waits for the
 * lock; PostgreSQL: any number of writers).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "cli.h"

void help_token(FILE *out)
{
    fprintf(out, "usage: modelgate token create --role admin|scanner|reader [--data DIR | --store URL]\n"
                 "\n"
                 "Creates an API token for the service and prints it as the last line.\n"
                 "Roles: admin (policies and tokens), scanner (create and read scans), reader (read).\n"
                 "  -r, --role ROLE   the token's role (required)\n"
                 "  -d, --data DIR    the service's data directory (default ./var)\n"
                 "      --store URL   the service's PostgreSQL store (postgresql://USER@HOST/DB);\n"
                 "                    default: $MODELGATE_STORE, else the data directory\n");
}

static int token_create(const char *role_name, const char *data, const char *location)
{
    store_role role = store_role_parse(role_name);
    if (role == ROLE_NONE) {
        fprintf(stderr, "modelgate token: --role must be admin, scanner or reader\n");
        return EXIT_ERROR;
    }
    char err[300], tok[STORE_TOKEN_LEN + 1];
    mg_store *st;
    if (store_open(&st, location ? location : data, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "modelgate token: store: %s\n", err);
        return EXIT_ERROR;
    }
    int rc = store_token_create(st, role, tok);
    char where[300];
    /* a URL is not printed: it may hold a password */
    if (!location || store_describe(st, where, sizeof where) != STORE_OK)
        snprintf(where, sizeof where, "%s", data);
    store_close(st);
    if (rc != STORE_OK) {
        fprintf(stderr, "modelgate token: could not store the token (error %d)\n", rc);
        return EXIT_ERROR;
    }
    printf("created a %s token in %s (shown once):\n%s\n", role_name, where, tok);
    return 0;
}

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, 0, 'r'},
        {"data", required_argument, 0, 'd'},
        {"store", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        help_token(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : EXIT_ERROR;
    }
    const char *role = NULL, *data = "./var", *location = getenv("MODELGATE_STORE");
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "r:d:h", opts, NULL)) != -1) {
        if (c == 'r')
            role = optarg;
        else if (c == 'd')
            data = optarg;
        else if (c == 'S')
            location = optarg;
        else {
            help_token(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : EXIT_ERROR;
        }
    }
    if (!role || optind < argc - 1) {
        fprintf(stderr, "modelgate token create: %s\n\n", role ? "unexpected argument" : "--role is required");
        help_token(stderr);
        return EXIT_ERROR;
    }
    return token_create(role, data, location && *location ? location : NULL);
}
