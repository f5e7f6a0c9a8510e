/*
 * archive.c - tar, 7z, cpio and ar archives and single compressed streams
 * (gzip, bzip2, xz, lzma, zstd, lz4, and joblib's raw zlib), read through
 * libarchive (and zlib for raw zlib, which libarchive does not read).
 *
 * Layout: an archive is a sequence of members with names, types (file,
 * directory, symlink, hardlink) and data; a compressed stream is one member.
 * Specs: POSIX pax/ustar, 7z (7-Zip's 7zFormat.txt), RFC 1950/1952, the xz,
 * zstd and lz4 frame formats.
 *
 * Attacks: a PyTorch checkpoint wrapped in 7z to dodge zip-only scanners
 * (nullifAI); a pickle compressed so that byte-level scanners see noise
 * (joblib's compressed dumps); members named `../x` or absolute, symlinks
 * and hardlinks that make extraction write or read outside its folder;
 * duplicate members (the first is inspected, the last is extracted: NeMo);
 * decompression bombs.
 *
 * How we read it: members are decompressed into memory files (never the
 * heap) within the inflate-size and ratio budgets, then routed by content
 * through mg_scan_child, nested to the depth limit.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../internal.h"
#include "../util/banned.h"
#include "../util/member.h"

static int is_tar(mg_span d)
{
    if (d.len >= 512 && memcmp(d.p + 257, "ustar", 5) == 0)
        return 1;
    if (d.len < 512 || d.p[0] == 0)
        return 0;
    /* v7 tar: the header checksum (octal at 148) matches the header bytes */
    unsigned long sum = 0, want = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : d.p[i];
    size_t i = 148;
    while (i < 156 && d.p[i] == ' ')
        i++;
    int digits = 0;
    for (; i < 156 && d.p[i] >= '0' && d.p[i] <= '7'; i++, digits++)
        want = want * 8 + (unsigned long)(d.p[i] - '0');
    return digits > 0 && sum == want;
}

/* Two header bytes are weak evidence (random data passes one time in a few
 * hundred), so the first 4 KiB must also inflate without error. */
static int is_zlib(mg_span d)
{
    if (d.len < 8 || (d.p[0] & 0x0f) != 8 || (d.p[0] >> 4) > 7 || ((d.p[0] << 8) | d.p[1]) % 31 != 0 || (d.p[1] & 0x20))
        return 0; /* a preset dictionary (FDICT) is never used by model files */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return 0;
    unsigned char out[16384];
    zs.next_in = (Bytef *)(uintptr_t)d.p;
    zs.avail_in = (uInt)(d.len < 4096 ? d.len : 4096);
    int rc = Z_OK;
    while (rc == Z_OK && zs.avail_in) {
        zs.next_out = out;
        zs.avail_out = sizeof out;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR)
            rc = Z_OK;
        if (rc == Z_OK && zs.avail_out == sizeof out && zs.avail_in)
            break; /* no progress */
    }
    uLong produced = zs.total_out;
    inflateEnd(&zs);
    return (rc == Z_OK || rc == Z_STREAM_END) && produced > 0;
}

static int archive_probe(mg_span d, mg_str name)
{
    (void)name;
    if (mg_span_starts(d, "\x37\x7a\xbc\xaf\x27\x1c", 6) || mg_span_starts(d, "\x1f\x8b", 2) ||
        mg_span_starts(d, "\xfd\x37\x7a\x58\x5a\x00", 6) || mg_span_starts(d, "\x28\xb5\x2f\xfd", 4) ||
        mg_span_starts(d, "\x04\x22\x4d\x18", 4) || mg_span_starts(d, "!<arch>\n", 8) ||
        mg_span_starts(d, "070707", 6) || mg_span_starts(d, "070701", 6) || mg_span_starts(d, "070702", 6))
        return 85;
    if (d.len >= 4 && memcmp(d.p, "BZh", 3) == 0 && d.p[3] >= '1' && d.p[3] <= '9')
        return 85;
    if (is_tar(d))
        return 80;
    /* lzma-alone: properties byte (lc/lp/pb, 0x5d for the defaults), then a
     * power-of-two dictionary size */
    if (d.len >= 13 && d.p[0] == 0x5d && d.p[1] == 0 && d.p[2] == 0 && d.p[5] == 0xff)
        return 30;
    if (d.len >= 13 && d.p[0] == 0x5d && d.p[1] == 0 && d.p[2] == 0 && d.p[3] < 0x10 && d.p[4] == 0)
        return 30;
    if (is_zlib(d))
        return 20; /* two bytes of evidence: anything stronger wins */
    return 0;
}

/* Budget for one member's output: the per-scan inflate limit and the ratio
 * to the compressed input. */
typedef struct budget {
    mg_scan *s;
    uint64_t in_len;
    int blown;
} budget;

static int budget_take(budget *b, size_t n, const char *nm)
{
    mg_scan *s = b->s;
    uint64_t cap = (b->in_len + 1) * (uint64_t)s->lim->max_ratio;
    if (n > s->lim->max_inflated - s->inflated || s->inflated + n > cap + (1u << 20)) {
        if (!b->blown)
            mg_find(s, "MG-ARV-404", 0, nm,
                    "`%s` inflates past the decompression limits (%llu bytes so far from %llu): a bomb, "
                    "not read further",
                    nm, (unsigned long long)(s->inflated + n), (unsigned long long)b->in_len);
        b->blown = 1;
        return -1;
    }
    s->inflated += n;
    return 0;
}

/* Scans a spooled member: the spool's mapping stands in for the file's so
 * pages are released behind the cursor. */
static void scan_spool(mg_scan *s, mg_spool *sp, const char *nm)
{
    mg_span d;
    if (mg_spool_map(sp, &d) != 0) {
        mg_find(s, "MG-ARV-400", 0, nm, "member `%s` could not be mapped for scanning", nm);
        return;
    }
    const uint8_t *map = s->map;
    size_t map_len = s->map_len, released = s->released;
    s->map = d.p;
    s->map_len = d.len;
    s->released = 0;
    mg_scan_child(s, d, nm, 0);
    s->map = map;
    s->map_len = map_len;
    s->released = released;
}

typedef struct zlib_sink {
    mg_scan *s;
    mg_span in;
    budget *b;
    mg_spool *sp;
} zlib_sink;

static int zlib_write(void *ctx, const uint8_t *p, size_t n)
{
    zlib_sink *z = ctx;
    return budget_take(z->b, n, "zlib stream") != 0 || mg_spool_write(z->sp, p, n) != 0;
}

static void zlib_consumed(void *ctx, size_t used)
{
    zlib_sink *z = ctx;
    if (used > (1u << 20))
        mg_release(z->s, z->in, used - (1u << 20));
}

static int scan_zlib(mg_scan *s, mg_span in)
{
    mg_spool sp;
    if (mg_spool_open(&sp) != 0)
        return mg_limit(s, MG_LIM_MEMORY, 0, "no memory file for decompression");
    budget b = {s, in.len, 0};
    zlib_sink z = {s, in, &b, &sp};
    mg_inflate_io io = {zlib_write, zlib_consumed, &z};
    uint64_t used = 0;
    int rc = mg_inflate(in, 15, &io, &used);
    if (rc == MG_INFLATE_BAD || (rc == MG_INFLATE_STOPPED && !b.blown))
        mg_find(s, "MG-ARV-400", used, NULL, "the zlib stream is corrupt or truncated");
    mg_set_format(s, "zlib");
    if (!b.blown)
        scan_spool(s, &sp, "zlib");
    mg_spool_close(&sp);
    return 0;
}

static void check_entry(mg_scan *s, struct archive_entry *e, mg_nameset *seen, mg_str name, const char *nm, size_t idx)
{
    const char *why = mg_member_path_problem(name);
    if (why)
        mg_find(s, "MG-ARV-403", idx, nm, "member `%s` has %s: extracting the archive writes outside its folder", nm,
                why);
    const char *link = archive_entry_symlink(e);
    const char *hard = archive_entry_hardlink(e);
    if (link || hard)
        mg_find(s, "MG-ARV-403", idx, nm,
                "member `%s` is a %s link to `%.200s`: extraction can make later members write or read "
                "elsewhere",
                nm, link ? "symbolic" : "hard", link ? link : hard);
    if (archive_entry_filetype(e) == AE_IFREG && mg_nameset_add(seen, name) == 1)
        mg_find(s, "MG-ARV-402", idx, nm,
                "member `%s` appears twice: a reader that takes the first copy and an extractor that keeps "
                "the last see different files",
                nm);
}

/* The names must outlive the set: libarchive reuses its entry buffer. */
static mg_str keep_name(mg_scan *s, const char *p)
{
    size_t n = p ? strlen(p) : 0;
    char *c = mg_arena_strndup(&s->work, p ? p : "", n);
    return (mg_str){c ? c : "", c ? n : 0};
}

static int read_member(mg_scan *s, struct archive *a, mg_span in, budget *b, mg_spool *sp, const char *nm)
{
    unsigned char buf[65536];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof buf);
        if (n == 0)
            return 0;
        if (n < 0) {
            mg_find(s, "MG-ARV-400", 0, nm, "member `%s` cannot be decompressed: %.200s", nm,
                    archive_error_string(a) ? archive_error_string(a) : "error");
            return -1;
        }
        if (budget_take(b, (size_t)n, nm) != 0 || mg_spool_write(sp, buf, (size_t)n) != 0)
            return -1;
        if (mg_scan_expired(s, 0))
            return -1;
        /* compressed input already consumed is not needed again */
        la_int64_t used = archive_filter_bytes(a, -1);
        if (used > (1 << 20))
            mg_release(s, in, (size_t)used - (1u << 20));
    }
}

static int archive_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)name;
    if (archive_probe(in, name) == 20)
        return scan_zlib(s, in);
    struct archive *a = archive_read_new();
    if (!a)
        return mg_limit(s, MG_LIM_MEMORY, 0, "libarchive could not start");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_cpio(a);
    archive_read_support_format_ar(a);
    archive_read_support_format_raw(a);
    budget b = {s, in.len, 0};
    mg_nameset seen;
    mg_nameset_init(&seen, &s->mem);
    struct archive_entry *e;
    size_t count = 0;
    int r = archive_read_open_memory(a, in.p, in.len);
    while (r == ARCHIVE_OK && !b.blown && !s->timed_out) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            break;
        r = ARCHIVE_OK;
        if (count == 0) {
            int raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
            const char *fmt = raw ? archive_filter_name(a, 0) : archive_format_name(a);
            mg_set_format(s, fmt && strcmp(fmt, "none") != 0 ? fmt : "archive");
        }
        if (++count > s->lim->max_members) {
            mg_limit(s, MG_LIM_MEMBERS, 0, "the archive has more members than the member limit");
            break;
        }
        int raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
        mg_str nmstr = keep_name(s, raw ? "data" : archive_entry_pathname(e));
        char nm[512];
        mg_member_printable(nm, sizeof nm, nmstr);
        if (!raw)
            check_entry(s, e, &seen, nmstr, nm, count - 1);
        if (archive_entry_filetype(e) != AE_IFREG && !raw)
            continue;
        mg_spool sp;
        if (mg_spool_open(&sp) != 0) {
            mg_limit(s, MG_LIM_MEMORY, 0, "no memory file for decompression");
            break;
        }
        if (read_member(s, a, in, &b, &sp, nm) == 0)
            scan_spool(s, &sp, nm);
        mg_spool_close(&sp);
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_EOF && !b.blown)
        mg_find(s, "MG-ARV-400", 0, NULL, "the archive is corrupt or truncated: %.200s",
                archive_error_string(a) ? archive_error_string(a) : "unknown error");
    if (count == 0 && r == ARCHIVE_EOF)
        mg_set_format(s, archive_format_name(a) ? archive_format_name(a) : "archive");
    mg_nameset_free(&seen);
    archive_read_free(a);
    return 0;
}

const mg_module mg_module_archive = {"archive", archive_probe, archive_scan, 0};
