/*
 * engine.c - engine lifetime, options and limits. All limits live here, in
 * one place, with their defaults (ClamAV's lesson: one struct, not constants
 * scattered through parsers).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void mg_limits_default(mg_limits *l)
{
    l->max_file_size = 64ull << 30;
    l->max_depth = 8;
    l->max_members = 100000;
    l->max_inflated = 4ull << 30;
    l->max_ratio = 200;
    l->max_pickle_ops = 200000000;
    l->max_memory = 48ull << 20;
    l->max_time_ms = 60000;
    l->max_findings = 1000;
}

void mg_options_default(mg_options *o)
{
    memset(o, 0, sizeof *o);
    mg_limits_default(&o->limits);
    o->threads = 1;
    o->hash_files = 1;
}

extern const struct {
    const char *text;
    const size_t *len;
} mg_data_index[];

/* "<pickle rules version>+<digest of every rules data file>": operator and
 * layer lists change verdicts too, so stored verdicts must see them change. */
static void make_rules_version(mg_engine *e)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && mg_data_index[i].text; i++)
        ok = EVP_DigestUpdate(ctx, mg_data_index[i].text, *mg_data_index[i].len);
    ok = ok && EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    snprintf(e->rules_version, sizeof e->rules_version, "%s+%02x%02x%02x%02x%02x%02x", mg_rules_version(e->rules),
             ok ? md[0] : 0, ok ? md[1] : 0, ok ? md[2] : 0, ok ? md[3] : 0, ok ? md[4] : 0, ok ? md[5] : 0);
}

int mg_engine_new(mg_engine **out, const mg_options *opts, char *err, size_t errlen)
{
    if (!out)
        return MG_EINVAL;
    *out = NULL;
    mg_engine *e = calloc(1, sizeof *e);
    if (!e)
        return MG_ENOMEM;
    if (opts)
        e->opts = *opts;
    else
        mg_options_default(&e->opts);
    const char *text = e->opts.rules_text ? e->opts.rules_text : mg_data_pickle_rules;
    size_t len = e->opts.rules_text ? e->opts.rules_len : mg_data_pickle_rules_len;
    e->opts.rules_text = NULL; /* borrowed only for the call */
    int rc = mg_rules_parse(&e->rules, text, len, err, errlen);
    if (rc != MG_OK) {
        free(e);
        return rc;
    }
    make_rules_version(e);
    *out = e;
    return MG_OK;
}

void mg_engine_free(mg_engine *e)
{
    if (!e)
        return;
    mg_rules_free(e->rules);
    free(e);
}

const char *mg_engine_rules_version(const mg_engine *e)
{
    return e->rules_version;
}

uint64_t mg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
