/*
 * pb.c - the protobuf wire reader (see pb.h for the encoding). Offsets are
 * integers compared against the remaining length, never pointers.
 */
#include "pb.h"

#include "banned.h"

mg_pb mg_pb_new(mg_span s, uint64_t base)
{
    mg_pb r = {s, 0, base, 0, MG_PB_OK, 0};
    return r;
}

int mg_pb_varint(mg_span s, size_t *off, uint64_t *out)
{
    uint64_t v = 0;
    size_t o = *off;
    for (unsigned i = 0; i < 10; i++) {
        if (o >= s.len) /* the varint runs past the end of its message */
            return MG_PB_TRUNCATED;
        uint8_t b = s.p[o++];
        /* the tenth byte may only carry bit 63 */
        if (i == 9 && b > 1)
            return MG_PB_BAD_VARINT;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *off = o;
            *out = v;
            return MG_PB_OK;
        }
    }
    return MG_PB_BAD_VARINT; /* an eleventh byte would follow */
}

static int pb_fail(mg_pb *r, int err, size_t at)
{
    if (r->err == MG_PB_OK) {
        r->err = err;
        r->err_at = r->base + at;
    }
    return -1;
}

int mg_pb_next(mg_pb *r, mg_pb_field *f)
{
    if (r->err != MG_PB_OK)
        return -1;
    if (r->off >= r->s.len)
        return 0;
    size_t at = r->off;
    uint64_t tag = 0;
    int e = mg_pb_varint(r->s, &r->off, &tag);
    if (e != MG_PB_OK)
        return pb_fail(r, e, at);
    uint64_t num = tag >> 3;
    unsigned wire = (unsigned)(tag & 7);
    /* field numbers are 1 .. 2^29-1; anything else is not a tag */
    if (num == 0 || num > 0x1fffffffu)
        return pb_fail(r, MG_PB_BAD_TAG, at);
    f->num = (uint32_t)num;
    f->wire = wire;
    f->v = 0;
    f->bytes = (mg_span){NULL, 0};
    f->at = r->base + at;
    size_t vat = r->off;
    switch (wire) {
    case MG_PB_VARINT:
        e = mg_pb_varint(r->s, &r->off, &f->v);
        if (e != MG_PB_OK)
            return pb_fail(r, e, vat);
        break;
    case MG_PB_I64:
    case MG_PB_I32: {
        size_t n = wire == MG_PB_I64 ? 8 : 4;
        if (n > r->s.len - r->off) /* the fixed value runs past the end */
            return pb_fail(r, MG_PB_TRUNCATED, at);
        f->v = mg_le(r->s.p + r->off, (unsigned)n);
        r->off += n;
        break;
    }
    case MG_PB_LEN: {
        uint64_t len = 0;
        e = mg_pb_varint(r->s, &r->off, &len);
        if (e != MG_PB_OK)
            return pb_fail(r, e, vat);
        /* the declared length must fit in what is left of this message
         * (the error points at the field's tag) */
        if (len > (uint64_t)(r->s.len - r->off))
            return pb_fail(r, MG_PB_TRUNCATED, at);
        f->bytes = (mg_span){r->s.p + r->off, (size_t)len};
        vat = r->off;
        r->off += (size_t)len;
        break;
    }
    case 3:
    case 4:
        return pb_fail(r, MG_PB_GROUP, at);
    default:
        return pb_fail(r, MG_PB_BAD_WIRETYPE, at);
    }
    f->vat = r->base + vat;
    return 1;
}

int mg_pb_open(mg_pb *sub, mg_pb *parent, const mg_pb_field *f, unsigned max_depth)
{
    if (parent->depth + 1 > max_depth) {
        pb_fail(parent, MG_PB_TOO_DEEP, (size_t)(f->at - parent->base));
        return -1;
    }
    *sub = mg_pb_new(f->bytes, f->vat);
    sub->depth = parent->depth + 1;
    return 0;
}

void mg_pb_pass_error(mg_pb *parent, const mg_pb *sub)
{
    if (sub->err != MG_PB_OK && parent->err == MG_PB_OK) {
        parent->err = sub->err;
        parent->err_at = sub->err_at;
    }
}

int mg_pb_packed_next(mg_span packed, size_t *off, uint64_t *out)
{
    if (*off >= packed.len)
        return 0;
    return mg_pb_varint(packed, off, out) == MG_PB_OK ? 1 : -1;
}

const char *mg_pb_strerror(int err)
{
    switch (err) {
    case MG_PB_OK:
        return "no error";
    case MG_PB_TRUNCATED:
        return "a field runs past the end of its message (truncated or a false length)";
    case MG_PB_BAD_VARINT:
        return "a varint is longer than 10 bytes or overflows 64 bits";
    case MG_PB_BAD_TAG:
        return "a field tag has field number 0 or one above 2^29-1";
    case MG_PB_GROUP:
        return "a field uses the obsolete group wire type, which these formats never use";
    case MG_PB_BAD_WIRETYPE:
        return "a field tag has wire type 6 or 7, which do not exist";
    case MG_PB_TOO_DEEP:
        return "messages nest deeper than protobuf parsers accept (100 levels)";
    default:
        return "malformed protobuf";
    }
}

const char *mg_pb_show(mg_str s, char *buf, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (o + 4 >= n) { /* room for "..." and the NUL */
            buf[o++] = '.';
            buf[o++] = '.';
            buf[o++] = '.';
            break;
        }
        unsigned char c = (unsigned char)s.p[i];
        buf[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[o] = 0;
    return buf;
}
