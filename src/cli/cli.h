/*
 * cli.h - what the `modelgate` subcommands share: the command table, output
 * writers and small helpers. The CLI is the only layer that prints, exits,
 * reads the environment and picks defaults from the machine (threads).
 */
#ifndef MG_CLI_H
#define MG_CLI_H

#include <stdio.h>

#include "../common/stamp.h"
#include "modelgate.h"

/* Exit codes (report.md): the contract scripts depend on. */
enum { EXIT_ALLOWED = 0, EXIT_BLOCKED = 1, EXIT_ERROR = 2 };

int cmd_scan(int argc, char **argv);
int cmd_threats(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_rescan(int argc, char **argv);
int cmd_gateway(int argc, char **argv);
void help_scan(FILE *out);
void help_threats(FILE *out);
void help_policy(FILE *out);
void help_serve(FILE *out);
void help_token(FILE *out);
void help_rescan(FILE *out);
void help_gateway(FILE *out);

/* Loads a policy file (or the defaults when path is NULL); prints the
 * problem and returns NULL when the file is invalid. */
mg_policy *load_policy(const char *path);
/* Reads a whole file (at most `max` bytes); NULL with errno on failure. */
char *read_file(const char *path, size_t max, size_t *len);

typedef enum { FMT_TEXT, FMT_JSON, FMT_SARIF } out_format;

typedef struct scan_view {
    const mg_report *report;
    const mg_evaluation *ev;
    const mg_policy *policy;
    const mg_engine *engine;
    const mg_model_info *info;
    const char *model_uri;
    const char *outcome; /* ALLOWED / BLOCKED / ERROR */
    const char *rules_version;
    char uuid[37];
    char created_at[40], updated_at[40];
    int show_globals;
    int color;
    int quiet;
} scan_view;

int write_json(FILE *out, const scan_view *v);
int write_sarif(FILE *out, const scan_view *v);
int write_text(FILE *out, const scan_view *v);

#endif
