/*
 * sigv4.h - AWS Signature Version 4 for S3 requests (sigv4.c), header form.
 *
 * Our own signer rather than CURLOPT_AWS_SIGV4: curl signs the query string
 * exactly as given (no sorting, no re-encoding) and leaves out the
 * x-amz-content-sha256 header S3 requires, so a caller had to build the
 * canonical form anyway. Here the caller hands over raw path and query
 * values; the signer encodes them once, and the same encoded strings go
 * into the URL and into the signature, so they cannot disagree.
 *
 * Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
#ifndef MG_SOURCES_SIGV4_H
#define MG_SOURCES_SIGV4_H

#include <stddef.h>
#include <time.h>

/* SHA-256 of the empty body: the payload hash of every GET and HEAD. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct sigv4_param {
    const char *key, *value; /* raw, not yet percent-encoded */
} sigv4_param;

typedef struct sigv4_creds {
    const char *access_key, *secret_key;
    const char *session_token; /* NULL: none; else sent and signed as x-amz-security-token */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
} sigv4_creds;

typedef struct sigv4_input {
    const char *method;       /* "GET", "HEAD" */
    const char *host;         /* the Host header exactly as sent: "bucket.s3.region.amazonaws.com", "127.0.0.1:4569" */
    const char *path;         /* raw path starting with '/': "/bucket/my key.bin" */
    const sigv4_param *query; /* raw pairs in any order */
    size_t nquery;
    const char *range;        /* Range header value to sign ("bytes=0-9"), or NULL: not signed */
    const char *payload_hash; /* x-amz-content-sha256 value; NULL: SIGV4_EMPTY_SHA256 */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ" (UTC): an input, so tests can pin it */
} sigv4_input;

/* Everything malloc'd; sigv4_output_free releases it. */
typedef struct sigv4_output {
    char *path;              /* encoded path, for the URL */
    char *query;             /* canonical query ("" when none), for the URL after '?' */
    char *canonical_request; /* kept for tests and debugging */
    char *string_to_sign;
    char *authorization;  /* value of the Authorization header */
    char *signed_headers; /* "host;x-amz-content-sha256;x-amz-date" */
} sigv4_output;

/* Signs `in`. 0 on success; -1 when an input is missing, too long, or holds
 * bytes that cannot go into a header (CR, LF, control characters). */
int sigv4_sign(sigv4_output *out, const sigv4_input *in, const sigv4_creds *c);
void sigv4_output_free(sigv4_output *out);

/* Percent-encodes n bytes AWS-style: every byte but A-Za-z0-9-_.~ becomes
 * %XX (uppercase hex); '/' is kept when keep_slash. malloc'd, NULL on OOM. */
char *sigv4_encode(const char *s, size_t n, int keep_slash);

/* The canonical query of n raw pairs: each key and value encoded ('/' too),
 * sorted by key, then value, joined with '&'. What the URL carries, signed or
 * not (anonymous requests use it too). malloc'd; NULL on OOM or n > 16. */
char *sigv4_query(const sigv4_param *q, size_t n);

/* Formats t as "YYYYMMDDTHHMMSSZ" into out[17]. */
void sigv4_date(char out[17], time_t t);

#endif
