/*
 * zip.h - a zip central-directory reader of our own.
 *
 * Hand-written on purpose (STYLE.md): PyTorch reads checkpoints with miniz
 * through the central directory, ignoring CRCs and most flag bits, while
 * Python's zipfile (used by Keras, NumPy's npz and most scanners) checks
 * CRCs, refuses encrypted entries and tolerates data prepended to the
 * archive. An attacker picks the reader that sees something else, so this
 * reader records every place where readers would disagree instead of
 * choosing one silently.
 */
#ifndef MG_ZIP_H
#define MG_ZIP_H

#include "arena.h"
#include "rd.h"

typedef struct mg_zip_entry {
    mg_str name;        /* as the central directory names it */
    mg_str local_name;  /* as the local header names it */
    uint64_t cd_off;    /* offset of the central directory record */
    uint64_t local_off; /* offset of the local header */
    uint64_t data_off;  /* offset of the (compressed) data */
    uint64_t csize, usize;
    uint32_t crc;
    uint16_t method, flags, made_by;
    uint32_t ext_attr;
    uint16_t local_method, local_flags;
    uint64_t local_csize, local_usize;
    int local_bad; /* the local header is missing or runs past the end */
} mg_zip_entry;

typedef struct mg_zip {
    mg_zip_entry *entries;
    size_t n;
    uint64_t eocd_off, cd_off, cd_size;
    int zip64;
    uint64_t concat;      /* bytes Python's zipfile would shift offsets by (prepended data) */
    uint64_t zip64_other; /* a second zip64 end record where the locator points, or 0 */
    const char *error;    /* set when the archive cannot be read */
    uint64_t error_off;
} mg_zip;

/* Reads the end record and central directory of `in`. Returns 0, or -1 with
 * z->error set (malformed) or -2 when more than max_entries entries. */
int mg_zip_read(mg_zip *z, mg_span in, mg_arena *a, size_t max_entries);

/* 2 when `in` starts with a local header, 1 when only an end record in the
 * last 64 KiB says it is a zip (Python's zipfile opens such files), else 0. */
int mg_zip_probe(mg_span in);

/* 1 when the entry is a symbolic link (Unix mode in the external attributes). */
int mg_zip_entry_is_link(const mg_zip_entry *e);

#endif
