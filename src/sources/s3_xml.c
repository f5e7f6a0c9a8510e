/*
 * s3_xml.c - reads S3's XML answers with expat (see s3_xml.h).
 *
 * A ListObjectsV2 page looks like
 *   <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 *     <Name>bucket</Name><Prefix>team-a/bert/</Prefix><KeyCount>2</KeyCount>
 *     <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
 *     <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
 *     <Contents><Key>team-a/bert/config.json</Key><LastModified>…</LastModified>
 *       <ETag>"9b2cf535f27731c974343645a3985328"</ETag><Size>612</Size>
 *       <StorageClass>STANDARD</StorageClass></Contents>
 *     …
 *   </ListBucketResult>
 * and an error  <Error><Code>NoSuchBucket</Code><Message>…</Message>…</Error>.
 * Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 *
 * The answer comes from the network, so: expat (a streaming parser) without
 * namespace processing (we match local names as S3 writes them, with a
 * default xmlns); a DOCTYPE or any entity declaration stops the parse (S3
 * never sends one; refusing it rules out entity expansion bombs and external
 * entities); nesting is capped; every collected text is capped (keys,
 * tokens, ETags) and a value over its cap is an error, never truncated into
 * a different key.
 */
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "s3_xml.h"

#define X_DEPTH_MAX 16 /* a listing nests 4 deep (Contents > Owner > ID) */

enum { F_NONE, F_KEY, F_SIZE, F_ETAG, F_TRUNCATED, F_TOKEN, F_CODE, F_MESSAGE };

typedef struct xs {
    XML_Parser p;
    int error_doc; /* parsing an <Error> instead of a listing */
    int depth, in_contents;
    int field; /* the element whose text is being collected */
    char text[S3_KEY_MAX + 1];
    size_t tlen;
    /* the current <Contents> */
    char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX + 1];
    uint64_t size;
    int has_key, has_size, has_etag;
    /* results */
    s3_entry_fn fn;
    void *ctx;
    s3_list_page *page;
    int stop; /* -1: malformed (err set); else the callback's value */
    char *err;
    size_t errlen;
    char code[128], message[512];
} xs;

static void x_fail(xs *x, const char *why)
{
    if (x->stop)
        return;
    x->stop = -1;
    snprintf(x->err, x->errlen, "malformed S3 answer (line %lu): %s", (unsigned long)XML_GetCurrentLineNumber(x->p),
             why);
    XML_StopParser(x->p, XML_FALSE);
}

/* The cap of each collected field: its destination's size. */
static size_t field_cap(int f)
{
    switch (f) {
    case F_KEY:
        return S3_KEY_MAX;
    case F_ETAG:
        return S3_ETAG_MAX;
    case F_TOKEN:
        return S3_TOKEN_MAX;
    case F_CODE:
    case F_MESSAGE:
        return S3_KEY_MAX; /* only shown, and truncated again on copy */
    default:
        return 64; /* sizes, booleans */
    }
}

static int list_field(const xs *x, const char *name)
{
    if (x->depth == 2 && strcmp(name, "IsTruncated") == 0)
        return F_TRUNCATED;
    if (x->depth == 2 && strcmp(name, "NextContinuationToken") == 0)
        return F_TOKEN;
    if (x->depth == 3 && x->in_contents) {
        if (strcmp(name, "Key") == 0)
            return x->has_key ? -1 : F_KEY;
        if (strcmp(name, "Size") == 0)
            return x->has_size ? -1 : F_SIZE;
        if (strcmp(name, "ETag") == 0)
            return x->has_etag ? -1 : F_ETAG;
    }
    return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xs *x = ud;
    (void)attrs;
    if (x->stop)
        return;
    if (++x->depth > X_DEPTH_MAX) {
        x_fail(x, "nested too deeply");
        return;
    }
    if (x->depth == 1) {
        if (strcmp(name, x->error_doc ? "Error" : "ListBucketResult") != 0) {
            x_fail(x, x->error_doc ? "not an <Error>" : "not a <ListBucketResult>");
            return;
        }
        return;
    }
    x->tlen = 0;
    if (x->error_doc) {
        x->field = x->depth != 2                  ? F_NONE
                   : strcmp(name, "Code") == 0    ? F_CODE
                   : strcmp(name, "Message") == 0 ? F_MESSAGE
                                                  : F_NONE;
        return;
    }
    if (x->depth == 2 && strcmp(name, "Contents") == 0) {
        x->in_contents = 1;
        x->has_key = x->has_size = x->has_etag = 0;
        return;
    }
    x->field = list_field(x, name);
    if (x->field < 0)
        x_fail(x, "an entry repeats <Key>, <Size> or <ETag>");
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    xs *x = ud;
    if (x->stop || x->field == F_NONE || len <= 0)
        return;
    size_t n = (size_t)len, cap = field_cap(x->field);
    int shown_only = x->field == F_CODE || x->field == F_MESSAGE; /* truncating those is harmless */
    if (n > cap - x->tlen && !shown_only) {                       /* x->tlen <= cap always */
        x_fail(x, "a value is longer than its limit");
        return;
    }
    if (n > cap - x->tlen)
        n = cap - x->tlen;
    memcpy(x->text + x->tlen, s, n);
    x->tlen += n;
    x->text[x->tlen] = 0;
}

/* Decimal digits only, no sign, no blanks; overflow is an error. */
static int parse_size(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
            return -1;
    }
    *out = v;
    return 0;
}

/* Copies printable ASCII; anything else shows as '?'. */
static void printable(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        dst[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (cap)
        dst[k] = 0;
}

static void end_field(xs *x)
{
    const char *t = x->text;
    size_t n = x->tlen;
    switch (x->field) {
    case F_KEY:
        if (n == 0) {
            x_fail(x, "an empty <Key>");
            return;
        }
        memcpy(x->key, t, n + 1);
        x->has_key = 1;
        break;
    case F_SIZE:
        if (parse_size(t, n, &x->size)) {
            x_fail(x, "<Size> is not a byte count");
            return;
        }
        x->has_size = 1;
        break;
    case F_ETAG:
        memcpy(x->etag, t, n + 1);
        x->has_etag = 1;
        break;
    case F_TRUNCATED:
        if (n == 4 && memcmp(t, "true", 4) == 0)
            x->page->truncated = 1;
        else if (n == 5 && memcmp(t, "false", 5) == 0)
            x->page->truncated = 0;
        else
            x_fail(x, "<IsTruncated> is neither true nor false");
        break;
    case F_TOKEN:
        memcpy(x->page->next_token, t, n + 1);
        break;
    case F_CODE:
        printable(x->code, sizeof x->code, t, n);
        break;
    case F_MESSAGE:
        printable(x->message, sizeof x->message, t, n);
        break;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    xs *x = ud;
    (void)name;
    if (x->stop)
        return;
    if (x->field != F_NONE)
        end_field(x);
    x->field = F_NONE;
    if (!x->stop && x->depth == 2 && x->in_contents) {
        x->in_contents = 0;
        if (!x->has_key || !x->has_size) {
            x_fail(x, "an entry without <Key> or <Size>");
            return;
        }
        x->page->entries++;
        int rc = x->fn ? x->fn(x->ctx, x->key, x->size, x->has_etag ? x->etag : NULL) : 0;
        if (rc) {
            x->stop = rc;
            XML_StopParser(x->p, XML_FALSE);
        }
    }
    x->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    x_fail(ud, "a DOCTYPE (refused: S3 never sends one)");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
                              const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
                              const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid, (void)notation;
    x_fail(ud, "an entity declaration");
}

/* One parse of a whole document; 0, or x->stop (-1 with err set, or the callback's code). */
static int x_run(xs *x, const char *doc, size_t len)
{
    if (len > INT_MAX) {
        snprintf(x->err, x->errlen, "S3 answer too large");
        return -1;
    }
    x->p = XML_ParserCreate(NULL);
    if (!x->p) {
        snprintf(x->err, x->errlen, "out of memory");
        return -1;
    }
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
    XML_SetEntityDeclHandler(x->p, on_entity);
    XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(x->p, doc, (int)len, 1);
    if (st != XML_STATUS_OK && !x->stop) {
        x->stop = -1;
        snprintf(x->err, x->errlen, "malformed S3 answer (line %lu): %s", (unsigned long)XML_GetCurrentLineNumber(x->p),
                 XML_ErrorString(XML_GetErrorCode(x->p)));
    }
    XML_ParserFree(x->p);
    return x->stop;
}

int s3_list_parse(const char *xml, size_t len, s3_entry_fn fn, void *ctx, s3_list_page *page, char *err, size_t errlen)
{
    xs *x = calloc(1, sizeof *x); /* ~9 KiB of buffers: off the stack */
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(page, 0, sizeof *page);
    x->fn = fn, x->ctx = ctx, x->page = page, x->err = err, x->errlen = errlen;
    int rc = x_run(x, xml, len);
    free(x);
    return rc;
}

int s3_error_parse(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
    char err[64];
    xs *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->error_doc = 1, x->err = err, x->errlen = sizeof err;
    int rc = x_run(x, xml, len);
    if (rc == 0 && x->code[0]) {
        snprintf(code, codelen, "%s", x->code);
        snprintf(msg, msglen, "%s", x->message);
    } else {
        rc = -1;
    }
    free(x);
    return rc;
}
