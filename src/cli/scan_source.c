/*
 * scan_source.c - `modelgate scan URI` for models that live elsewhere:
 * s3://bucket/prefix/, hf://ns/name[@rev] and https://<hub>/ns/name. The
 * files are staged by byte ranges (src/sources/stage.c) and judged like a
 * local folder. A source that cannot be listed or read makes an ERROR report
 * naming the reason: a remote model is never allowed by default.
 *
 * Where the command reads its settings (the library never does):
 * MODELGATE_HUB_ENDPOINT (else HF_ENDPOINT, else https://huggingface.co),
 * MODELGATE_HUB_TOKEN (else HF_TOKEN), and the AWS conventions for S3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sources/stage.h"
#include "scan_source.h"

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (!v || !*v)
        v = getenv(b);
    return v && *v ? v : NULL;
}

void scan_source_config(src_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->hub_endpoint = env2("MODELGATE_HUB_ENDPOINT", "HF_ENDPOINT");
    cfg->hub_token = env2("MODELGATE_HUB_TOKEN", "HF_TOKEN");
}

int scan_source(mg_report **out, const mg_engine *eng, const char *uri, scan_source_result *res)
{
    memset(res, 0, sizeof *res);
    src_config cfg;
    scan_source_config(&cfg);
    char err[512] = "";
    int rc = src_s3_config_from_env(&cfg, err, sizeof err);
    src_result sr = {0};
    if (rc == SRC_OK)
        rc = src_scan(out, eng, &cfg, uri, &sr, err, sizeof err);
    res->hub_endpoint = cfg.hub_endpoint ? cfg.hub_endpoint : "https://huggingface.co";
    res->revision = sr.revision;
    sr.revision = NULL;
    res->bytes_read = sr.bytes_read;
    res->bytes_total = sr.bytes_total;
    res->requests = sr.requests;
    src_result_free(&sr);
    if (rc == SRC_OK)
        return MG_OK;
    if (rc == SRC_EINVAL && !*out) {
        fprintf(stderr, "modelgate scan: %s\n", err);
        return MG_EINVAL;
    }
    /* the model could not be read: an ERROR report, never an ALLOWED one */
    mg_report_free(*out);
    *out = NULL;
    int mrc = mg_report_new(out, eng);
    if (mrc == MG_OK)
        mrc = mg_report_add_error(*out, uri, err[0] ? err : "the source could not be read");
    return mrc;
}

void scan_source_result_free(scan_source_result *res)
{
    free(res->revision);
    res->revision = NULL;
}
