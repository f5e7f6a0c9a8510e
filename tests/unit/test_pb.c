/*
 * test_pb.c - the protobuf wire reader: varints at their limits, lengths
 * past the end, bad tags and wire types, groups, nesting depth, and that
 * errors are sticky and carry the offset.
 */
#include <string.h>

#include "test.h"
#include "util/pb.h"

void test_pb_varints(void);
void test_pb_fields_and_errors(void);
void test_pb_depth(void);

#define SPAN(lit) ((mg_span){(const uint8_t *)(lit), sizeof(lit) - 1})

void test_pb_varints(void)
{
    size_t off = 0;
    uint64_t v = 0;
    CHECK(mg_pb_varint(SPAN("\x96\x01"), &off, &v) == MG_PB_OK && v == 150 && off == 2);
    off = 0; /* the largest value: ten bytes, the last holding one bit */
    CHECK(mg_pb_varint(SPAN("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), &off, &v) == MG_PB_OK && v == UINT64_MAX);
    off = 0; /* bits past 64 */
    CHECK(mg_pb_varint(SPAN("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"), &off, &v) != MG_PB_OK);
    off = 0; /* eleven bytes */
    CHECK(mg_pb_varint(SPAN("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"), &off, &v) != MG_PB_OK);
    off = 0; /* cut inside */
    CHECK(mg_pb_varint(SPAN("\x80\x80"), &off, &v) != MG_PB_OK);
}

void test_pb_fields_and_errors(void)
{
    /* field 1 varint 8, field 2 "ab", field 5 fixed32 */
    mg_pb r = mg_pb_new(SPAN("\x08\x08\x12\x02"
                             "ab"
                             "\x2d\x01\x02\x03\x04"),
                        100);
    mg_pb_field f;
    CHECK(mg_pb_next(&r, &f) > 0 && f.num == 1 && f.wire == MG_PB_VARINT && f.v == 8 && f.at == 100);
    CHECK(mg_pb_next(&r, &f) > 0 && mg_pb_is_len(&f, 2) && f.bytes.len == 2 && memcmp(f.bytes.p, "ab", 2) == 0);
    CHECK(f.vat == 104);
    CHECK(mg_pb_next(&r, &f) > 0 && f.num == 5 && f.wire == MG_PB_I32);
    CHECK(mg_pb_next(&r, &f) == 0 && r.err == MG_PB_OK);
    /* a length past the end of the message */
    r = mg_pb_new(SPAN("\x12\x05"
                       "ab"),
                  0);
    CHECK(mg_pb_next(&r, &f) < 0 && r.err == MG_PB_TRUNCATED && r.err_at == 0);
    CHECK(mg_pb_next(&r, &f) < 0); /* sticky */
    /* field number 0, wire types 6 and 7, and groups */
    r = mg_pb_new(SPAN("\x00\x01"), 0);
    CHECK(mg_pb_next(&r, &f) < 0 && r.err == MG_PB_BAD_TAG);
    r = mg_pb_new(SPAN("\x0e\x01"), 0);
    CHECK(mg_pb_next(&r, &f) < 0 && r.err == MG_PB_BAD_WIRETYPE);
    r = mg_pb_new(SPAN("\x0b\x0c"), 0);
    CHECK(mg_pb_next(&r, &f) < 0 && r.err == MG_PB_GROUP);
    CHECK(strlen(mg_pb_strerror(MG_PB_GROUP)) > 0);
}

void test_pb_depth(void)
{
    /* field 1 holding field 1 holding field 1 ... : opening past the budget fails */
    unsigned char buf[64];
    size_t n = 0;
    for (int i = 0; i < 20; i++) {
        buf[n++] = 0x0a;
        buf[n++] = (unsigned char)(2 * (19 - i));
    }
    mg_pb r = mg_pb_new((mg_span){buf, n}, 0), sub;
    mg_pb_field f;
    int opened = 0;
    while (mg_pb_next(&r, &f) > 0 && mg_pb_open(&sub, &r, &f, 5) == 0) {
        r = sub;
        opened++;
    }
    CHECK(opened == 5);
    CHECK(r.err == MG_PB_TOO_DEEP); /* the sixth level is refused, and says why */
}
