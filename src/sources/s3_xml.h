/*
 * s3_xml.h - the two S3 XML documents the S3 source reads (s3_xml.c): a
 * ListObjectsV2 page and an error answer. Kept apart from s3.c so the fuzz
 * target (fuzz/fuzz_s3_list.c) and the unit tests reach the parser without
 * the network.
 */
#ifndef MG_SOURCES_S3_XML_H
#define MG_SOURCES_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#define S3_KEY_MAX   4096 /* S3 keys are <= 1024 bytes; some compatible stores allow more */
#define S3_TOKEN_MAX 4096 /* continuation tokens are opaque; S3's run to a few hundred bytes */
#define S3_ETAG_MAX  256

/* Called once per <Contents>: key (UTF-8, NUL-free, NUL-terminated), its
 * size and ETag (NULL when absent). A nonzero return stops the parse and is
 * returned by s3_list_parse. */
typedef int (*s3_entry_fn)(void *ctx, const char *key, uint64_t size, const char *etag);

typedef struct s3_list_page {
    int truncated;                     /* <IsTruncated>true</IsTruncated> */
    char next_token[S3_TOKEN_MAX + 1]; /* <NextContinuationToken>, "" when absent */
    size_t entries;                    /* <Contents> seen */
} s3_list_page;

/* Parses one ListObjectsV2 answer of `len` bytes (any bytes: it need not be
 * NUL-terminated). 0 on success; -1 with `err` set when it is not a
 * well-formed <ListBucketResult>, declares a DOCTYPE or entities, nests too
 * deeply, or has an entry without <Key>/<Size> or with an out-of-range value;
 * else the callback's nonzero value. */
int s3_list_parse(const char *xml, size_t len, s3_entry_fn fn, void *ctx, s3_list_page *page, char *err, size_t errlen);

/* Pulls <Code> and <Message> out of an S3 <Error> answer into code/msg
 * (printable ASCII only, truncated to the buffers). 0 when it is one. */
int s3_error_parse(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen);

#endif
