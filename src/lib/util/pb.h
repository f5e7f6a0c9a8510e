/*
 * pb.h - a bounded reader of the protobuf wire format (ONNX, TensorFlow).
 *
 * Spec: https://protobuf.dev/programming-guides/encoding/. A message is a
 * sequence of fields; each starts with a varint tag (field number << 3 |
 * wire type) followed by the value: a varint (wire type 0), 8 bytes (1), a
 * varint length and that many bytes (2: strings, bytes, nested messages and
 * packed repeated scalars) or 4 bytes (5). Wire types 3 and 4 (groups) are
 * obsolete; neither ONNX nor TensorFlow uses them, so they are malformed here.
 *
 * The reader never copies: a length-delimited value is a span of the input,
 * so a 4 GB initializer costs a varint read and an offset addition. Every
 * offset is relative to the span the reader was opened on, and `base` keeps
 * the absolute position of that span in the scanned input so that findings
 * carry file offsets. Nested messages are opened with mg_pb_open, which
 * counts depth against a budget (protobuf's own parsers stop at 100).
 */
#ifndef MG_PB_H
#define MG_PB_H

#include <stddef.h>
#include <stdint.h>

#include "rd.h"

enum mg_pb_wire { MG_PB_VARINT = 0, MG_PB_I64 = 1, MG_PB_LEN = 2, MG_PB_I32 = 5 };

/* Why a read failed; the reader keeps the first error and its offset. */
enum mg_pb_err {
    MG_PB_OK = 0,
    MG_PB_TRUNCATED,    /* a tag or value runs past the end of its message */
    MG_PB_BAD_VARINT,   /* more than 10 bytes, or bits past 64 */
    MG_PB_BAD_TAG,      /* field number 0 or above 2^29-1 */
    MG_PB_GROUP,        /* wire type 3 or 4 (groups) */
    MG_PB_BAD_WIRETYPE, /* wire type 6 or 7 */
    MG_PB_TOO_DEEP,     /* nesting past the depth budget */
};

typedef struct mg_pb {
    mg_span s;       /* the message's bytes */
    size_t off;      /* cursor, relative to s */
    uint64_t base;   /* absolute offset of s.p[0] in the scanned input */
    unsigned depth;  /* 0 for the outermost message */
    int err;         /* enum mg_pb_err, sticky */
    uint64_t err_at; /* absolute offset of the first error */
} mg_pb;

typedef struct mg_pb_field {
    uint32_t num;  /* field number */
    unsigned wire; /* enum mg_pb_wire */
    uint64_t v;    /* value of a varint or fixed field */
    mg_span bytes; /* value of a length-delimited field (a view, never copied) */
    uint64_t at;   /* absolute offset of the tag */
    uint64_t vat;  /* absolute offset of the value (after the length) */
} mg_pb_field;

/* A reader over `s`, which starts at absolute offset `base`. */
mg_pb mg_pb_new(mg_span s, uint64_t base);

/* Reads the next field: 1 when one was read, 0 at the end of the message,
 * -1 when the bytes are malformed (r->err and r->err_at say why and where;
 * every later call returns -1 too). */
int mg_pb_next(mg_pb *r, mg_pb_field *f);

/* A reader over the message held by length-delimited field `f` of `parent`,
 * one level deeper. Returns -1 (and sets MG_PB_TOO_DEEP on `parent`) when
 * that would exceed `max_depth`. */
int mg_pb_open(mg_pb *sub, mg_pb *parent, const mg_pb_field *f, unsigned max_depth);

/* Copies a sub-reader's error into its parent (the first error wins). */
void mg_pb_pass_error(mg_pb *parent, const mg_pb *sub);

/* Decodes one varint at `*off` of `s` (at most 10 bytes), advancing `*off`.
 * Returns 0, or an enum mg_pb_err. */
int mg_pb_varint(mg_span s, size_t *off, uint64_t *out);

/* Iterates the varints of a packed repeated field: 1 per value, 0 at the
 * end, -1 when malformed. `*off` starts at 0. */
int mg_pb_packed_next(mg_span packed, size_t *off, uint64_t *out);

/* The field's bytes as a string view. */
static inline mg_str mg_pb_str(const mg_pb_field *f)
{
    return (mg_str){(const char *)f->bytes.p, f->bytes.len};
}

/* A short English description of an error ("a length runs past the end of
 * its message", ...), for findings. */
const char *mg_pb_strerror(int err);

/* Writes a printable, NUL-terminated copy of a string from the input into
 * `buf` (size `n` >= 4) for messages: bytes outside printable ASCII become
 * '?', and a string too long for `buf` ends in "...". Returns `buf`. Also
 * used by the FlatBuffer reader (tflite.c) for its strings. */
const char *mg_pb_show(mg_str s, char *buf, size_t n);

/* Protobuf parsers stop at this nesting depth (google::protobuf's default
 * recursion limit); a deeper message fails to load in every runtime. */
#define MG_PB_MAX_DEPTH 100u

/* 1 when `f` is field `num` with the length-delimited wire type. */
static inline int mg_pb_is_len(const mg_pb_field *f, uint32_t num)
{
    return f->num == num && f->wire == MG_PB_LEN;
}

#endif
