/*
 * store.h - where the service keeps what must survive a restart: API tokens
 * (hashed), scans (the full report document of report.md) and the models they
 * belong to.
 *
 * The interface is deliberately small and speaks only C strings and plain
 * records, so a second backend (PostgreSQL, for scale-out) can implement the
 * same functions in its own file without touching the server. Each backend
 * owns its schema and numbered migrations and applies them on open.
 *
 * A store handle is shared by every HTTP worker thread; every function is
 * safe to call concurrently. Functions return 0 or a negative code.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stddef.h>

#include "modelgate.h"

enum {
    STORE_OK = 0,
    STORE_ENOMEM = MG_ENOMEM,
    STORE_EIO = MG_EIO,    /* the data directory could not be created or opened */
    STORE_ENOTFOUND = -20, /* no such token or scan */
    STORE_EDB = -21,       /* the database refused (corrupt, locked too long, full disk) */
    STORE_ESCHEMA = -22,   /* the database was written by a newer modelgate */
};

typedef struct mg_store mg_store;

/* Opens (creating if needed) the store in `dir` (SQLite: DIR/modelgate.db),
 * and applies every pending migration. On failure `err` says why. */
int store_open(mg_store **out, const char *dir, char *err, size_t errlen);
void store_close(mg_store *st);
/* The highest migration applied (for diagnostics and tests). */
int store_schema_version(mg_store *st, int *out);

/* Token roles, from most to least powerful. */
typedef enum store_role { ROLE_NONE = 0, ROLE_READER = 1, ROLE_SCANNER = 2, ROLE_ADMIN = 3 } store_role;
/* "admin", "scanner", "reader"; parse returns ROLE_NONE when unknown. */
const char *store_role_name(store_role role);
store_role store_role_parse(const char *name);

/* Number of tokens of any role (the service creates an admin token when 0). */
int store_token_count(mg_store *st, long *out);
/* Creates a random token of `role`; only its SHA-256 is stored. The token
 * text (NUL-terminated, "mg_" + 64 hex) is written to `out`. */
enum { STORE_TOKEN_LEN = 67 };
int store_token_create(mg_store *st, store_role role, char out[STORE_TOKEN_LEN + 1]);
/* The role of a presented token; STORE_ENOTFOUND when it is unknown. */
int store_token_lookup(mg_store *st, const char *token, store_role *role);

/* One scan as stored. Every field is borrowed for the duration of the call. */
typedef struct store_scan {
    const char *uuid;
    const char *model_uri;
    const char *model_uuid; /* may be "" when the report has none */
    const char *namespace_; /* identity of the model, for the models table */
    const char *model_name;
    const char *eval_outcome;
    const char *created_at; /* RFC 3339 UTC with microseconds: sorts as text */
    const char *report;     /* the report document, exactly as mg_report_json wrote it */
} store_scan;

/* Stores a scan and creates or touches its model, in one transaction. */
int store_scan_put(mg_store *st, const store_scan *scan);
/* The stored report of scan `uuid` (malloc'd, caller frees). */
int store_scan_get(mg_store *st, const char *uuid, char **report);
/* Calls `fn` for the newest `limit` scans, newest first (`report` is NULL in
 * the rows: listing never loads reports). A non-zero return from fn stops the
 * walk and is returned. */
typedef int (*store_scan_fn)(void *ctx, const store_scan *row);
int store_scan_list(mg_store *st, int limit, store_scan_fn fn, void *ctx);

#endif
