/*
 * modelgate.h - the one public header of libmodelgate.
 *
 * libmodelgate reads machine-learning model files as hostile bytes and says
 * what they would do when loaded, without ever executing or deserializing
 * them. An engine holds the immutable configuration (limits, rules) and may
 * be shared by many threads; every scan builds its own report.
 *
 * Conventions (after libgit2): opaque handles, `out` parameters first,
 * `_new`/`_free` pairs, 0 on success and a negative MG_E* code otherwise.
 * Malformed input is never an error code: it is a finding in the report.
 * The library never prints, exits, reads the environment or touches the
 * network.
 */
#ifndef MODELGATE_H
#define MODELGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MG_VERSION "0.1.0"

/* Error codes returned by functions (never for malformed input). */
enum {
    MG_OK = 0,
    MG_EINVAL = -1, /* bad argument from the caller */
    MG_ENOMEM = -2, /* allocation failed */
    MG_EIO = -3,    /* the path could not be opened or read */
    MG_ERULES = -4, /* the rules data could not be parsed */
};

/* Severities, ordered: a larger value is worse. */
typedef enum mg_severity {
    MG_SEV_NONE = 0,
    MG_SEV_LOW = 1,
    MG_SEV_MEDIUM = 2,
    MG_SEV_HIGH = 3,
    MG_SEV_CRITICAL = 4,
} mg_severity;

/* "LOW", "MEDIUM", ...; "NONE" for MG_SEV_NONE. Static storage. */
const char *mg_severity_name(mg_severity sev);
/* Parses a severity name (case-insensitive); returns -1 when unknown. */
int mg_severity_parse(const char *name);

/*
 * Every budget the engine enforces on input-driven work. A limit that is hit
 * is reported as a finding (threat MG-FMT-401) and the file is never allowed.
 * mg_limits_default() fills the defaults documented beside each field.
 */
typedef struct mg_limits {
    uint64_t max_file_size;  /* bytes of one file or member: 64 GiB */
    uint32_t max_depth;      /* container/nesting depth: 8 */
    uint32_t max_members;    /* members of one archive: 100000 */
    uint64_t max_inflated;   /* bytes produced by decompression per scan: 4 GiB */
    uint32_t max_ratio;      /* decompression ratio before a bomb is declared: 200 */
    uint64_t max_pickle_ops; /* opcodes per pickle stream: 200 million */
    uint64_t max_memory;     /* bytes of analysis memory per scan: 48 MiB */
    uint32_t max_time_ms;    /* wall time per file: 60000 */
    uint32_t max_findings;   /* findings per file before summarising: 1000 */
} mg_limits;

void mg_limits_default(mg_limits *limits);

typedef struct mg_options {
    mg_limits limits;
    /* Rules text to judge with (see src/lib/rules/); NULL uses the rules
     * compiled into the library. Borrowed for the duration of mg_engine_new. */
    const char *rules_text;
    size_t rules_len;
    /* Worker threads for directory scans (0 or 1: the calling thread only). */
    unsigned threads;
    /* Compute the sha256 of every file (costs a full read of each file). */
    int hash_files;
    /* Record every pickle import with its verdict (for --show-globals). */
    int record_globals;
    /* Called after each file of a directory scan, possibly from several
     * threads at once (NULL: no progress). Must not call back into the engine. */
    void (*progress)(void *ctx, size_t done, size_t total, const char *path);
    void *progress_ctx;
} mg_options;

void mg_options_default(mg_options *opts);

typedef struct mg_engine mg_engine;
typedef struct mg_report mg_report;

/* Creates an engine. On MG_ERULES, `err` (if not NULL, `errlen` bytes) gets a
 * message naming the line of the rules text at fault. */
int mg_engine_new(mg_engine **out, const mg_options *opts, char *err, size_t errlen);
void mg_engine_free(mg_engine *engine);
/* The version string of the rules the engine judges with. Lives as long as
 * the engine. */
const char *mg_engine_rules_version(const mg_engine *engine);

/*
 * Scans a file or a directory (recursively; symbolic links are reported, not
 * followed outside the tree). Files in the report are named relative to
 * `path` when it is a directory, and by `path` itself otherwise. A path that
 * cannot be opened is a file with status ERROR in the report, not an error
 * code: the report always says what happened to each input.
 */
int mg_scan_path(mg_report **out, const mg_engine *engine, const char *path);
/* Scans a memory buffer that lives at least as long as the call. */
int mg_scan_buffer(mg_report **out, const mg_engine *engine, const void *data, size_t len, const char *name);
/* Adds another path's results to an existing report (for many CLI args). */
int mg_scan_path_into(mg_report *report, const mg_engine *engine, const char *path);

/*
 * Sparse scans: the files under `path` are only partly present (a remote
 * model fetched by byte ranges: src/sources/stage.c). Before reading a byte
 * range of a file the engine asks `present`; a range that is missing is
 * listed in the file's `needs` instead of being read, and the caller fetches
 * those ranges and scans again until no file needs anything. A report with
 * needs (mg_report_need_count > 0) is incomplete: never judge it. Formats
 * whose verdict needs only parts (safetensors and GGUF headers, zip central
 * directories and the members the engine reads) ask for parts; any other
 * file is needed whole.
 */
typedef struct mg_range {
    uint64_t off, len;
} mg_range;

typedef struct mg_sparse {
    /* 1 when bytes [off, off+len) of `path` (as the report names it) are present */
    int (*present)(void *ctx, const char *path, uint64_t off, uint64_t len);
    /* the file's sha256 (lowercase hex) when known without reading it, or NULL */
    const char *(*sha256)(void *ctx, const char *path);
    void *ctx;
} mg_sparse;

int mg_scan_path_sparse(mg_report **out, const mg_engine *engine, const char *path, const mg_sparse *sparse);
/* The same over a buffer named `name` (the path `present` is asked about). */
int mg_scan_buffer_sparse(mg_report **out, const mg_engine *engine, const void *data, size_t len, const char *name,
                          const mg_sparse *sparse);
/* Ranges still needed, over every file of the report (0 for complete scans). */
size_t mg_report_need_count(const mg_report *report);

int mg_report_new(mg_report **out, const mg_engine *engine);
void mg_report_free(mg_report *report);

typedef enum mg_file_status {
    MG_FILE_SCANNED = 0, /* read completely (findings may still exist) */
    MG_FILE_ERROR = 1,   /* could not be read: never counts as clean */
    MG_FILE_SKIPPED = 2, /* not scanned on purpose (e.g. a symlink out of the tree) */
} mg_file_status;

const char *mg_file_status_name(mg_file_status st);

/* One finding. All strings are NUL-terminated and live as long as the report. */
typedef struct mg_finding {
    const char *threat; /* "MG-PKL-100" */
    mg_severity severity;
    const char *module;   /* the format module that found it: "pickle" */
    const char *op;       /* the operator/import involved ("posix.system"), or "" */
    const char *message;  /* one sentence a person understands */
    const char *location; /* where inside the file: "archive/data.pkl" or "" */
    uint64_t offset;      /* byte offset inside `location` (or the file) */
} mg_finding;

/* One import seen in a pickle, with the engine's verdict on it. */
typedef struct mg_global {
    const char *name;    /* "module.qualname" as written in the stream */
    const char *verdict; /* "allowed", "dangerous", "suspicious", "nested-loader" */
    const char *location;
    uint64_t offset;
} mg_global;

/* A fact about the model learnt from a file: ("license", "mit"). */
typedef struct mg_fact_kv {
    const char *key;
    const char *value;
} mg_fact_kv;

typedef struct mg_file {
    const char *path;   /* relative to the scanned directory, or as given */
    const char *format; /* detected by content: "pickle", "unknown", ... */
    uint64_t size;
    const char *sha256; /* lowercase hex, or "" when hashing was off or impossible */
    mg_file_status status;
    const char *error; /* why status is ERROR, else "" */
    size_t nfindings;
    const mg_finding *findings;
    size_t nglobals;
    const mg_global *globals;
    size_t nfacts;
    const mg_fact_kv *facts;
    /* sparse scans only: byte ranges the engine needed but were not present */
    size_t nneeds;
    const struct mg_range *needs;
} mg_file;

size_t mg_report_file_count(const mg_report *report);
const mg_file *mg_report_file(const mg_report *report, size_t i);
/* Highest severity of any finding in the report (MG_SEV_NONE when clean). */
mg_severity mg_report_max_severity(const mg_report *report);
/* Number of files with status ERROR. */
size_t mg_report_error_count(const mg_report *report);
/* Records that `path` could not be read at all (a remote source that did
 * not answer, say): a file with status ERROR and `message` as its error, so
 * the evaluation's outcome is ERROR, never ALLOWED. */
int mg_report_add_error(mg_report *report, const char *path, const char *message);

/* The threat catalog: every id the engine can emit. */
typedef struct mg_threat {
    const char *id;
    mg_severity severity;
    const char *title;
    const char *policy; /* the default policy this threat violates */
} mg_threat;

size_t mg_threat_count(void);
const mg_threat *mg_threat_at(size_t i);
const mg_threat *mg_threat_find(const char *id);

/* ---- policies, evaluation and the report document (report.md) ---- */

typedef enum mg_policy_state {
    MG_POLICY_BLOCKING = 0, /* a violation at or above the threshold blocks */
    MG_POLICY_ALLOWING = 1, /* violations are reported as warnings only */
    MG_POLICY_DISABLED = 2, /* not evaluated, not counted */
} mg_policy_state;

/* A policy set: the global threshold and every policy's state, severity,
 * scope and parameters. Immutable once built; safe to share across threads. */
typedef struct mg_policy mg_policy;

/* The default set of report.md. */
int mg_policy_default(mg_policy **out);
/* Parses a policy file (YAML). Anything invalid is an error naming the line
 * and the problem in `err`; there is no silent fallback to defaults. Keys
 * left out keep their defaults. */
int mg_policy_parse(mg_policy **out, const char *yaml, size_t len, char *err, size_t errlen);
/* The policy set as a policy file (with comments); malloc'd, caller frees. */
char *mg_policy_to_yaml(const mg_policy *p);
/* "sha256:<hex>" of the canonical form: every report keeps the digest it was
 * judged by. Lives as long as the policy. */
const char *mg_policy_digest(const mg_policy *p);
void mg_policy_free(mg_policy *p);

/* Number of policies and their identities (stable ids such as
 * "license-valid", and the report.md names). */
size_t mg_policy_count(void);
const char *mg_policy_id(size_t i);
const char *mg_policy_name(size_t i);

/* What the caller knows about the model beyond its files. */
typedef struct mg_model_info {
    const char *model_uri;               /* as given: path, file://, hf://, https://huggingface.co/..., s3:// */
    const char *license;                 /* license given by the caller, used when the files name none (or NULL) */
    const char *uuid;                    /* report uuid (the caller's: the library has no randomness) */
    const char *created_at, *updated_at; /* RFC 3339 UTC with microseconds */
    /* baseline: file path -> sha256 of the last ALLOWED scan of this model
     * version (for "Model Is Unchanged Since Approval"); n == 0 when none */
    size_t nbaseline;
    const char *const *baseline_paths;
    const char *const *baseline_sha256;
    /* remote models: the commit the files were read at (a hub's resolved
     * sha), which replaces the revision the URI names; NULL otherwise */
    const char *revision;
    /* a hub other than huggingface.co ("https://hub.example.com"): its
     * https URIs name hub models too (identity, `huggingface` scope) */
    const char *hub_endpoint;
} mg_model_info;

typedef struct mg_file_issue {
    const char *file;
    const char *threat; /* threat id, or NULL for a fact (format, license, ...) */
} mg_file_issue;

typedef struct mg_violation {
    const char *policy_id;
    const char *policy_name;
    mg_severity severity;
    int blocking; /* counts toward BLOCKED */
    const char *description;
    const char *const *steps;
    size_t nsteps;
    const char *url;
    const char *const *compliance_issues;
    size_t nissues;
    const mg_file_issue *issues_by_file;
    size_t nby_file;
} mg_violation;

typedef struct mg_evaluation mg_evaluation;

/* Judges a report against a policy set. The evaluation borrows file names
 * from the report: free it before the report. */
/* Whether the policy refuses model NS/NAME by its name alone (denied_orgs,
 * denied_models, where that policy blocks): 1 with `why` set to "<policy
 * name>: <sentence>", else 0. Lets a gateway refuse before it reads a byte. */
int mg_policy_denies(const mg_policy *p, const char *ns, const char *name, char *why, size_t n);

int mg_evaluate(mg_evaluation **out, const mg_report *report, const mg_policy *policy, const mg_model_info *info);
void mg_evaluation_free(mg_evaluation *ev);
const char *mg_evaluation_outcome(const mg_evaluation *ev); /* ALLOWED, BLOCKED, ERROR */
size_t mg_evaluation_violation_count(const mg_evaluation *ev);
const mg_violation *mg_evaluation_violation(const mg_evaluation *ev, size_t i);
size_t mg_evaluation_warning_count(const mg_evaluation *ev);
const mg_violation *mg_evaluation_warning(const mg_evaluation *ev, size_t i);
/* Identity derived from the URI and the files (deterministic: the CLI and
 * the service derive the same values). */
const char *mg_evaluation_field(const mg_evaluation *ev, const char *name);
/* "namespace", "model_name", "revision", "license", "model_uuid",
 * "model_version_uuid", "global_threshold_snapshot" */

/* The report document of report.md as JSON text (malloc'd, caller frees).
 * flags: MG_JSON_GLOBALS adds every pickle import per file. */
enum { MG_JSON_GLOBALS = 1 };
char *mg_report_json(const mg_report *report, const mg_evaluation *ev, const mg_policy *policy, const mg_engine *engine,
                     const mg_model_info *info, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
