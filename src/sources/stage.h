/*
 * stage.h - scanning a remote model (stage.c): list it through its source,
 * fetch only the byte ranges the engine needs for a verdict into sparse local
 * files, and scan those. Safetensors and GGUF headers, zip central
 * directories and the members the engine reads are fetched; tensor bytes are
 * not. Formats the engine cannot judge from parts are fetched whole.
 */
#ifndef MG_SOURCES_STAGE_H
#define MG_SOURCES_STAGE_H

#include "modelgate.h"
#include "source.h"

typedef struct src_result {
    char *revision;       /* hub: the resolved 40-hex commit; NULL otherwise (malloc'd) */
    char *ns, *name;      /* identity from the source (malloc'd) */
    uint64_t bytes_total; /* sum of the model's file sizes */
    uint64_t bytes_read;  /* bytes actually fetched */
    unsigned requests;    /* ranged requests made */
} src_result;

/* Scans the remote model `uri` into *out (a report whose files are named
 * relative to the model root). Returns SRC_OK, or a SRC_E* code with `err`
 * set when the source could not be listed or read: the caller then records
 * an ERROR report (mg_report_add_error), never an ALLOWED one. */
int src_scan(mg_report **out, const mg_engine *engine, const src_config *cfg, const char *uri, src_result *res,
             char *err, size_t errlen);
void src_result_free(src_result *res);

#endif
