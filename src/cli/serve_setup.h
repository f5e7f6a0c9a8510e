/*
 * serve_setup.h - the parts of `modelgate serve`'s start-up that `modelgate
 * rescan` shares (cmd_serve.c), so both read roots and remote sources the
 * same way and judge a model identically.
 */
#ifndef MG_CLI_SERVE_SETUP_H
#define MG_CLI_SERVE_SETUP_H

#include "../sources/source.h"
#include "config.h"

/* Resolves every configured root (realpath) into out[i] (malloc'd); -1
 * after printing which root does not exist. */
int serve_resolve_roots(const serve_config *cfg, char **out);
/* The remote sources' settings from the config and the AWS conventions;
 * -1 after printing the problem. */
int serve_source_config(const serve_config *cfg, src_config *src);

#endif
