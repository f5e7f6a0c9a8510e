/*
 * internal.h - what the parts of libmodelgate share and nothing outside sees:
 * the engine and report structures, the per-scan context handed to format
 * modules, the module interface, findings, and the rules interface.
 */
#ifndef MG_INTERNAL_H
#define MG_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "modelgate.h"
#include "util/arena.h"
#include "util/rd.h"

/* ---- rules (rules/rules.c) ---- */
typedef struct mg_rules mg_rules;

typedef enum mg_verdict {
    MG_V_ALLOWED = 0, /* on the allowlist */
    MG_V_LOADER,      /* allowed loader: its bytes argument is scanned as a nested model */
    MG_V_SUSPICIOUS,  /* not on the allowlist (HIGH) */
    MG_V_DANGEROUS,   /* on the denylist (CRITICAL) */
    MG_V_INTROSPECT,  /* dunder attribute walk (CRITICAL) */
} mg_verdict;

int mg_rules_parse(mg_rules **out, const char *text, size_t len, char *err, size_t errlen);
void mg_rules_free(mg_rules *r);
const char *mg_rules_version(const mg_rules *r);
/* Judges module.name (raw, as written in the stream). `why` gets the rule's
 * justification (static for the engine's life) or NULL. `canon` (optional)
 * receives "module.name" after aliasing, written into `canon_buf`. */
mg_verdict mg_rules_judge(const mg_rules *r, mg_str module, mg_str name, const char **why);
const char *mg_verdict_name(mg_verdict v);
/* Data files of src/lib/rules/ compiled in by mk/embed.sh (mg_data_<file>). */
extern const char mg_data_pickle_rules[];
extern const size_t mg_data_pickle_rules_len;

/* ---- engine and report ---- */
struct mg_engine {
    mg_options opts;
    mg_rules *rules;
    char rules_version[96];
};

typedef struct mg_file_rec {
    mg_file pub;
    mg_arena arena;      /* every string of this file's results */
    mg_vec findings;     /* mg_finding */
    mg_vec globals;      /* mg_global */
    mg_vec facts;        /* mg_fact_kv */
    mg_vec needs;        /* mg_range: sparse scans only */
    uint32_t limit_hits; /* bitmask of limits already reported */
    int summarised;      /* max_findings reached */
} mg_file_rec;

struct mg_report {
    const mg_engine *eng;
    mg_vec files; /* mg_file_rec * */
};

mg_file_rec *mg_report_add_file(mg_report *r, const char *path);
void mg_file_rec_finish(mg_file_rec *f);

/* ---- one scan of one top-level file ---- */
enum mg_limit_kind {
    MG_LIM_SIZE = 1,
    MG_LIM_DEPTH = 2,
    MG_LIM_MEMBERS = 4,
    MG_LIM_INFLATED = 8,
    MG_LIM_RATIO = 16,
    MG_LIM_OPS = 32,
    MG_LIM_MEMORY = 64,
    MG_LIM_TIME = 128,
};

typedef struct mg_scan {
    const mg_engine *eng;
    const mg_limits *lim;
    mg_file_rec *out;
    mg_mem mem;         /* analysis memory budget (limits.max_memory) */
    mg_arena work;      /* scratch for the whole scan, freed at the end */
    unsigned depth;     /* 0 for the file itself */
    const char *loc;    /* location inside the file ("" at top level) */
    const char *module; /* name of the format module reading the current level */
    uint64_t inflated;  /* bytes produced by decompression so far */
    uint64_t deadline;  /* monotonic ms after which the scan stops */
    const uint8_t *map; /* the file's read-only mapping (NULL for buffers and small files) */
    size_t map_len;
    size_t released; /* bytes of the mapping already given back (see mg_release) */
    int timed_out;
    /* sparse scans: what is present, and the file as a whole (offsets of
     * spans inside it are file offsets); sparse is NULL for complete files */
    const mg_sparse *sparse;
    const uint8_t *base;
    size_t base_len;
} mg_scan;

/* Sparse scans (see mg_sparse). Offsets are relative to `in`; spans that do
 * not lie in the file itself (inflated members) come from present bytes and
 * are always present. mg_present only asks; mg_need records the range as
 * needed and returns 0; mg_have asks and records what is missing. */
int mg_present(mg_scan *s, mg_span in, uint64_t off, uint64_t len);
int mg_need(mg_scan *s, mg_span in, uint64_t off, uint64_t len);
int mg_have(mg_scan *s, mg_span in, uint64_t off, uint64_t len);
/* What every probe may read: the first 4 KiB and the last 64 KiB + an end
 * record (zip), plus the zip64 records before it. */
enum { MG_PROBE_HEAD = 4096, MG_PROBE_TAIL = 65535 + 22 + 76 };

/* Adds a finding. Severity comes from the threat catalog. `op` may be NULL. */
void mg_find(mg_scan *s, const char *threat, uint64_t offset, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Same with a va_list, for modules that wrap mg_find in printf-style helpers:
 * the message is formatted once, into the report. */
void mg_findv(mg_scan *s, const char *threat, uint64_t offset, const char *op, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
/* Same, at an explicit location (for members found while walking a container). */
void mg_find_at(mg_scan *s, const char *loc, const char *threat, uint64_t offset, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Reports a limit once per file (MG-FMT-401). Returns -1 for `return mg_limit(...)`. */
int mg_limit(mg_scan *s, enum mg_limit_kind kind, uint64_t offset, const char *what);
/* Records a pickle import with its verdict (only when record_globals is on). */
void mg_record_global(mg_scan *s, mg_str module, mg_str name, mg_verdict v, uint64_t offset);
/* Gives back the pages of the file mapping below `in.p + upto` once they are
 * read, so resident memory stays flat however large the file (the page cache
 * keeps them; touching them again just faults them back in). */
void mg_release(mg_scan *s, mg_span in, size_t upto);
/* Starts a new pass over the mapping: pages read again are released again. */
void mg_release_reset(mg_scan *s);
/* Records a fact about the model learnt from a file ("license" -> "mit",
 * "base_model" -> "org/name"): policies judge facts as well as threats. */
void mg_fact(mg_scan *s, const char *key, const char *value);
/* Names the file's format (only at the top level: members keep the file's). */
void mg_set_format(mg_scan *s, const char *format);
/* 1 when the wall-clock budget is spent (reports it once). */
int mg_scan_expired(mg_scan *s, uint64_t offset);

/*
 * Scans nested content (an archive member, bytes a pickle passes to a
 * loader) through detection, with depth and location accounted. `name` is
 * the member name (used for messages and the location, never for routing).
 */
int mg_scan_child(mg_scan *s, mg_span data, const char *name, uint64_t offset);
/* Same with the module chosen by the caller: for members a loader reads as a
 * given format by name (PyTorch's data.pkl), whatever the bytes look like. */
struct mg_module;
int mg_scan_child_as(mg_scan *s, const struct mg_module *m, mg_span data, const char *name, uint64_t offset);

/* ---- format modules ---- */
typedef struct mg_module {
    const char *name;
    /* 0..100 confidence that `data` is this format; pure, no allocation. Reads
     * at most the first 4 KiB and the last 64 KiB (end records), never more. */
    int (*probe)(mg_span data, mg_str name);
    /* Reads `in` and reports findings; recursion only through mg_scan_child. */
    int (*scan)(mg_scan *s, mg_span in, mg_str name);
    /* 1 when `scan` asks mg_have before reading, so it may be given a file
     * that is only partly present (sparse scans); 0: such a file is needed whole */
    int sparse;
} mg_module;

#define MG_MODULE(n) extern const mg_module mg_module_##n;
#include "formats/module_list.h"
#undef MG_MODULE

/* Picks the module with the highest confidence; NULL when none claims it. */
const mg_module *mg_detect(mg_span data, mg_str name);

/* ---- format analyses shared between containers ---- */
/* Checks a Keras model config (the JSON of config.json in a .keras zip, the
 * model_config attribute of an .h5 file, or a bare config): formats/keras.c. */
void mg_keras_config(mg_scan *s, mg_span json, uint64_t offset);

/* ---- pickle machine, shared by every pickle carrier (formats/pickle.c) ---- */
typedef struct mg_pickle_result {
    uint64_t end; /* offset just past the STOP (or where parsing stopped) */
    int stopped;  /* reached STOP */
    int broken;   /* malformed (already reported) */
    uint64_t nops;
} mg_pickle_result;

/* What a container format needs to see while its pickle runs: PyTorch's
 * persistent ids ('storage', StorageType, key, ...) and the strings pushed. */
typedef struct mg_pickle_persid {
    mg_str kind;        /* "storage" */
    mg_str type_module; /* "torch" */
    mg_str type_name;   /* "FloatStorage" */
    mg_str key;         /* "0" */
} mg_pickle_persid;

typedef struct mg_pickle_hooks {
    void (*persid)(void *ctx, const mg_pickle_persid *p);
    void (*string)(void *ctx, mg_str s);
    void *ctx;
} mg_pickle_hooks;

/* Analyses one pickle stream starting at `off` of `in`; offsets in findings are
 * relative to `in`. Never fails on bad input: breakage is a finding. `hooks`
 * may be NULL. */
int mg_pickle_stream(mg_scan *s, mg_span in, uint64_t off, const mg_pickle_hooks *hooks, mg_pickle_result *res);
/* Scans `in` from `off` for further complete pickle streams that no loader
 * would read (junk after STOP, gaps in containers). Bounded. */
void mg_pickle_scan_trailing(mg_scan *s, mg_span in, size_t off);
/* 1 when `in` at `off` plausibly begins a pickle stream (structure check). */
int mg_pickle_plausible(mg_span in, size_t off);

uint64_t mg_now_ms(void);

#endif
