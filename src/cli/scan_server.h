/*
 * scan_server.h - `modelgate scan --server URL`: the scan runs in a modelgate
 * service (docs/rest.md) instead of this process; cmd_scan.c hands over here.
 */
#ifndef MG_CLI_SCAN_SERVER_H
#define MG_CLI_SCAN_SERVER_H

#include "cli.h"

typedef struct server_scan {
    const char *url;     /* the service's base URL: http(s)://HOST:PORT[/PREFIX] */
    const char *token;   /* bearer token, or NULL */
    const char *license; /* sent with every scan, or NULL */
    const char *output;  /* file for the reports, or NULL for standard output */
    out_format fmt;
    int quiet; /* text: only the outcome line */
} server_scan;

/* Has the service scan each of uris[0..n) (one scan each, sent as given) and
 * prints the reports. Returns the exit code: the worst of the scans
 * (0 ALLOWED, 1 BLOCKED, 2 ERROR or no answer). */
int scan_server(const server_scan *ss, char **uris, int n);

#endif
