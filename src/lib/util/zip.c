/*
 * zip.c - the central-directory reader (zip.h). Spec: PKWARE APPNOTE.TXT
 * 6.3.x, sections 4.3.6 (local header), 4.3.12 (central directory),
 * 4.3.14-16 (zip64 end records), 4.5.3 (zip64 extra field).
 */
#include "zip.h"

#include <string.h>

#include "banned.h"

enum {
    LOCAL_SIG = 0x04034b50,
    CENTRAL_SIG = 0x02014b50,
    EOCD_SIG = 0x06054b50,
    EOCD64_SIG = 0x06064b50,
    LOC64_SIG = 0x07064b50,
    EOCD_LEN = 22,
    CENTRAL_LEN = 46,
    LOCAL_LEN = 30,
};

int mg_zip_entry_is_link(const mg_zip_entry *e)
{
    /* made_by high byte 3 = Unix: the high 16 bits of ext_attr are st_mode */
    return (e->made_by >> 8) == 3 && ((e->ext_attr >> 16) & 0170000) == 0120000;
}

/* The last end record in the final 64 KiB + 22 bytes, as miniz and Python's
 * zipfile both search for it. */
static int64_t find_eocd(mg_span in)
{
    if (in.len < EOCD_LEN)
        return -1;
    size_t lo = in.len > 65535 + EOCD_LEN ? in.len - 65535 - EOCD_LEN : 0;
    for (size_t i = in.len - EOCD_LEN + 1; i-- > lo;)
        if (in.p[i] == 'P' && mg_le(in.p + i, 4) == EOCD_SIG)
            return (int64_t)i;
    return -1;
}

int mg_zip_probe(mg_span in)
{
    if (in.len >= 4 && mg_le(in.p, 4) == LOCAL_SIG)
        return 2;
    int64_t e = find_eocd(in);
    if (e < 0)
        return 0;
    /* Python's zipfile takes the last end record in the final 64 KiB wherever
     * it is, with junk before and after: so do we, when its directory fits */
    uint64_t count = mg_le(in.p + e + 10, 2), size = mg_le(in.p + e + 12, 4);
    int zip64 = e >= 20 && mg_le(in.p + e - 20, 4) == LOC64_SIG;
    return zip64 || (size <= (uint64_t)e && count * CENTRAL_LEN <= size) ? 1 : 0;
}

static int fail(mg_zip *z, const char *why, uint64_t off)
{
    z->error = why;
    z->error_off = off;
    return -1;
}

/* Zip64 end records: the locator sits 20 bytes before the classic record. */
static int read_zip64_end(mg_zip *z, mg_span in, uint64_t *count)
{
    if (z->eocd_off < 20)
        return fail(z, "zip64 end locator missing", z->eocd_off);
    mg_rd r = mg_rd_new(in);
    r.off = (size_t)z->eocd_off - 20;
    if (mg_rd_le(&r, 4) != LOC64_SIG)
        return fail(z, "zip64 end locator missing", r.off - 4);
    mg_rd_le(&r, 4);
    uint64_t claimed = mg_rd_le(&r, 8); /* where miniz (PyTorch) looks for the record */
    /* like Python's zipfile, find the record right before the locator rather
     * than at the offset the locator claims (prepended data shifts that) */
    if (z->eocd_off < 20 + 56)
        return fail(z, "zip64 end record out of range", z->eocd_off - 20);
    uint64_t rec = z->eocd_off - 20 - 56;
    r.off = (size_t)rec;
    if (mg_rd_le(&r, 4) != EOCD64_SIG)
        return fail(z, "zip64 end record signature", rec);
    mg_rd_skip(&r, 8 + 2 + 2 + 4 + 4 + 8);
    *count = mg_rd_le(&r, 8);
    z->cd_size = mg_rd_le(&r, 8);
    z->cd_off = mg_rd_le(&r, 8);
    z->zip64 = 1;
    /* two end records: one reader takes one, the other reader the other */
    if (claimed != rec && claimed <= in.len - 4 && mg_le(in.p + claimed, 4) == EOCD64_SIG)
        z->zip64_other = claimed;
    return r.bad ? fail(z, "zip64 end record truncated", rec) : 0;
}

/* Applies a zip64 extra field (id 1) to the fields that were saturated. */
static void apply_zip64_extra(mg_zip_entry *e, mg_span extra)
{
    mg_rd r = mg_rd_new(extra);
    while (mg_rd_left(&r) >= 4) {
        uint16_t id = (uint16_t)mg_rd_le(&r, 2), len = (uint16_t)mg_rd_le(&r, 2);
        mg_span body = mg_rd_take(&r, len);
        if (r.bad)
            return;
        if (id != 1)
            continue;
        mg_rd b = mg_rd_new(body);
        if (e->usize == 0xffffffffu && mg_rd_left(&b) >= 8)
            e->usize = mg_rd_le(&b, 8);
        if (e->csize == 0xffffffffu && mg_rd_left(&b) >= 8)
            e->csize = mg_rd_le(&b, 8);
        if (e->local_off == 0xffffffffu && mg_rd_left(&b) >= 8)
            e->local_off = mg_rd_le(&b, 8);
        return;
    }
}

static void read_local(mg_zip_entry *e, mg_span in)
{
    mg_rd r = mg_rd_new(in);
    if (e->local_off > in.len || mg_rd_skip(&r, e->local_off) != 0 || mg_rd_le(&r, 4) != LOCAL_SIG) {
        e->local_bad = 1;
        return;
    }
    mg_rd_le(&r, 2);
    e->local_flags = (uint16_t)mg_rd_le(&r, 2);
    e->local_method = (uint16_t)mg_rd_le(&r, 2);
    mg_rd_le(&r, 4 + 4);
    e->local_csize = mg_rd_le(&r, 4);
    e->local_usize = mg_rd_le(&r, 4);
    uint16_t nlen = (uint16_t)mg_rd_le(&r, 2), xlen = (uint16_t)mg_rd_le(&r, 2);
    mg_span name = mg_rd_take(&r, nlen);
    mg_rd_skip(&r, xlen);
    if (r.bad) {
        e->local_bad = 1;
        return;
    }
    e->local_name = (mg_str){(const char *)name.p, name.len};
    e->data_off = r.off;
    /* the data itself must fit in the file: guards every later read of it */
    if (e->csize > in.len - e->data_off)
        e->local_bad = 1;
}

int mg_zip_read(mg_zip *z, mg_span in, mg_arena *a, size_t max_entries)
{
    memset(z, 0, sizeof *z);
    int64_t eo = find_eocd(in);
    if (eo < 0)
        return fail(z, "no end of central directory record", in.len);
    z->eocd_off = (uint64_t)eo;
    mg_rd r = mg_rd_new(in);
    r.off = (size_t)eo + 10;
    uint64_t count = mg_rd_le(&r, 2);
    z->cd_size = mg_rd_le(&r, 4);
    z->cd_off = mg_rd_le(&r, 4);
    /* a zip64 locator right before the end record wins, as in both readers */
    int has64 = z->eocd_off >= 20 && mg_le(in.p + z->eocd_off - 20, 4) == LOC64_SIG;
    if (has64 || count == 0xffff || z->cd_size == 0xffffffffu || z->cd_off == 0xffffffffu)
        if (read_zip64_end(z, in, &count) != 0)
            return -1;
    uint64_t cd_end = z->zip64 ? z->eocd_off - 20 - 56 : z->eocd_off;
    /* Python's zipfile shifts every offset by the bytes in front of the
     * central directory that it does not account for (prepended data) */
    if (z->eocd_off >= (z->zip64 ? 76u : 0u) && z->cd_off <= cd_end && z->cd_size <= cd_end - z->cd_off)
        z->concat = cd_end - z->cd_size - z->cd_off;
    /* with prepended data only the reader that shifts offsets can read the
     * archive at all, so read it the way that reader does */
    if (z->concat && z->cd_off <= UINT64_MAX - z->concat)
        z->cd_off += z->concat;
    if (z->cd_off > in.len || z->cd_size > in.len - z->cd_off)
        return fail(z, "central directory out of range", z->eocd_off);
    if (count > max_entries)
        return -2;
    /* each record is at least 46 bytes: the count must fit the directory */
    if (count > z->cd_size / CENTRAL_LEN)
        return fail(z, "more entries declared than the central directory holds", z->eocd_off);
    z->entries = mg_arena_calloc(a, count ? count : 1, sizeof(mg_zip_entry));
    if (!z->entries)
        return fail(z, "out of memory", 0);
    mg_rd cd = mg_rd_new(mg_span_sub(in, (size_t)z->cd_off, (size_t)z->cd_size));
    for (uint64_t i = 0; i < count; i++) {
        mg_zip_entry *e = &z->entries[z->n];
        e->cd_off = z->cd_off + cd.off;
        if (mg_rd_le(&cd, 4) != CENTRAL_SIG)
            return fail(z, "bad central directory record", e->cd_off);
        e->made_by = (uint16_t)mg_rd_le(&cd, 2);
        mg_rd_le(&cd, 2);
        e->flags = (uint16_t)mg_rd_le(&cd, 2);
        e->method = (uint16_t)mg_rd_le(&cd, 2);
        mg_rd_le(&cd, 4);
        e->crc = (uint32_t)mg_rd_le(&cd, 4);
        e->csize = mg_rd_le(&cd, 4);
        e->usize = mg_rd_le(&cd, 4);
        uint16_t nlen = (uint16_t)mg_rd_le(&cd, 2), xlen = (uint16_t)mg_rd_le(&cd, 2),
                 clen = (uint16_t)mg_rd_le(&cd, 2);
        mg_rd_le(&cd, 2 + 2);
        e->ext_attr = (uint32_t)mg_rd_le(&cd, 4);
        e->local_off = mg_rd_le(&cd, 4);
        mg_span name = mg_rd_take(&cd, nlen), extra = mg_rd_take(&cd, xlen);
        mg_rd_skip(&cd, clen);
        if (cd.bad)
            return fail(z, "central directory record truncated", e->cd_off);
        e->name = (mg_str){(const char *)name.p, name.len};
        apply_zip64_extra(e, extra);
        if (z->concat && e->local_off <= UINT64_MAX - z->concat)
            e->local_off += z->concat;
        read_local(e, in);
        z->n++;
    }
    return 0;
}
