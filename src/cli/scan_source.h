/* scan_source.h - remote model URIs for `modelgate scan` (scan_source.c). */
#ifndef MG_SCAN_SOURCE_H
#define MG_SCAN_SOURCE_H

#include "../sources/source.h"
#include "modelgate.h"

typedef struct scan_source_result {
    char *revision;           /* the hub commit the files were read at, or NULL */
    const char *hub_endpoint; /* the hub hf:// and https:// URIs went to */
    uint64_t bytes_read, bytes_total;
    unsigned requests;
} scan_source_result;

/* The hub settings from the environment (S3: src_s3_config_from_env). */
void scan_source_config(src_config *cfg);
/* Stages and scans `uri` into *out. MG_OK with a report (an ERROR report
 * when the source failed); MG_EINVAL (printed) when the URI is not one. */
int scan_source(mg_report **out, const mg_engine *eng, const char *uri, scan_source_result *res);
void scan_source_result_free(scan_source_result *res);

#endif
