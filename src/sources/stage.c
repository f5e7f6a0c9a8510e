/* stage.c - placeholder until range staging lands: every remote URI is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

int src_scan(mg_report **out, const mg_engine *engine, const src_config *cfg, const char *uri, src_result *res,
             char *err, size_t errlen)
{
    (void)engine, (void)cfg, (void)uri;
    *out = NULL;
    memset(res, 0, sizeof *res);
    snprintf(err, errlen, "remote sources are not available yet");
    return SRC_EINVAL;
}

void src_result_free(src_result *res)
{
    free(res->revision);
    free(res->ns);
    free(res->name);
}
