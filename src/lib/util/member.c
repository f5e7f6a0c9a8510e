/*
 * member.c - member-name checks, name sets and spools (member.h).
 */
#include "member.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "banned.h"

const char *mg_member_path_problem(mg_str n)
{
    if (n.len == 0)
        return "an empty name";
    if (memchr(n.p, 0, n.len))
        return "a NUL byte in the name";
    if (n.p[0] == '/' || n.p[0] == '\\')
        return "an absolute path";
    if (n.len >= 2 && n.p[1] == ':' && isalpha((unsigned char)n.p[0]))
        return "a drive letter";
    size_t i = 0;
    while (i < n.len) {
        size_t j = i;
        while (j < n.len && n.p[j] != '/' && n.p[j] != '\\')
            j++;
        if (j - i == 2 && n.p[i] == '.' && n.p[i + 1] == '.')
            return "a `..` path part";
        i = j + 1;
    }
    return NULL;
}

void mg_member_printable(char *buf, size_t n, mg_str s)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len && o + 5 < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = 0;
}

static uint64_t hash_ci(mg_str s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)tolower((unsigned char)s.p[i])) * 1099511628211ull;
    return h;
}

void mg_nameset_init(mg_nameset *s, mg_mem *mem)
{
    memset(s, 0, sizeof *s);
    s->mem = mem;
}

static int grow(mg_nameset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    if (mg_mem_charge(s->mem, cap * sizeof(mg_str)) != 0)
        return -1;
    mg_str *t = calloc(cap, sizeof(mg_str));
    if (!t) {
        mg_mem_release(s->mem, cap * sizeof(mg_str));
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].p)
            continue;
        size_t j = hash_ci(s->slots[i]) & (cap - 1);
        while (t[j].p)
            j = (j + 1) & (cap - 1);
        t[j] = s->slots[i];
    }
    mg_mem_release(s->mem, s->cap * sizeof(mg_str));
    free(s->slots);
    s->slots = t;
    s->cap = cap;
    return 0;
}

int mg_nameset_add(mg_nameset *s, mg_str name)
{
    static const char empty[1];
    if (!name.p)
        name.p = empty;
    if ((s->n + 1) * 2 > s->cap && grow(s) != 0)
        return -1;
    size_t j = hash_ci(name) & (s->cap - 1);
    while (s->slots[j].p) {
        if (s->slots[j].len == name.len && strncasecmp(s->slots[j].p, name.p, name.len) == 0 &&
            memchr(name.p, 0, name.len) == NULL)
            return 1;
        if (s->slots[j].len == name.len && memcmp(s->slots[j].p, name.p, name.len) == 0)
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = name;
    s->n++;
    return 0;
}

void mg_nameset_free(mg_nameset *s)
{
    mg_mem_release(s->mem, s->cap * sizeof(mg_str));
    free(s->slots);
    memset(s, 0, sizeof *s);
}

int mg_spool_open(mg_spool *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->fd = memfd_create("modelgate-spool", MFD_CLOEXEC);
    return sp->fd < 0 ? -1 : 0;
}

int mg_spool_write(mg_spool *sp, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(sp->fd, c, n);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
        sp->len += (uint64_t)w;
    }
    return 0;
}

int mg_spool_map(mg_spool *sp, mg_span *out)
{
    static const uint8_t empty[1];
    if (sp->len == 0) {
        *out = (mg_span){empty, 0};
        return 0;
    }
    if (sp->len > SIZE_MAX)
        return -1;
    sp->map = mmap(NULL, (size_t)sp->len, PROT_READ, MAP_PRIVATE, sp->fd, 0);
    if (sp->map == MAP_FAILED) {
        sp->map = NULL;
        return -1;
    }
    *out = (mg_span){sp->map, (size_t)sp->len};
    return 0;
}

void mg_spool_close(mg_spool *sp)
{
    if (sp->map)
        munmap(sp->map, (size_t)sp->len);
    if (sp->fd >= 0)
        close(sp->fd);
    memset(sp, 0, sizeof *sp);
    sp->fd = -1;
}

int mg_inflate(mg_span in, int window_bits, const mg_inflate_io *io, uint64_t *total_in)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, window_bits) != Z_OK)
        return MG_INFLATE_BAD;
    unsigned char out[65536];
    size_t off = 0;
    int zr = Z_OK, stopped = 0;
    while (zr == Z_OK) {
        /* small steps, so consumed input can be released as we go */
        size_t chunk = in.len - off > (4u << 20) ? (4u << 20) : in.len - off;
        zs.next_in = (Bytef *)(uintptr_t)(in.p + off);
        zs.avail_in = (uInt)chunk;
        do {
            zs.next_out = out;
            zs.avail_out = sizeof out;
            zr = inflate(&zs, Z_NO_FLUSH);
            size_t got = sizeof out - zs.avail_out;
            if (got && (zr == Z_OK || zr == Z_STREAM_END) && io->write(io->ctx, out, got) != 0) {
                stopped = 1;
                zr = Z_MEM_ERROR;
            }
        } while (zr == Z_OK && zs.avail_out == 0);
        off += chunk - zs.avail_in;
        if (io->consumed)
            io->consumed(io->ctx, off);
        if (zr == Z_OK && off >= in.len)
            zr = Z_DATA_ERROR; /* the input ended inside the stream */
    }
    if (total_in)
        *total_in = zs.total_in;
    inflateEnd(&zs);
    return stopped ? MG_INFLATE_STOPPED : zr == Z_STREAM_END ? MG_INFLATE_OK : MG_INFLATE_BAD;
}
