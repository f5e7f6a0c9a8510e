/*
 * sigv4.c - AWS Signature Version 4, header form, for S3 (see sigv4.h).
 *
 * The four steps of the spec, each a function below:
 *   canonical request = METHOD \n encoded-path \n sorted-encoded-query \n
 *                       canonical-headers \n signed-headers \n payload-hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n date \n scope \n hex(sha256(canonical request))
 *   signing key       = HMAC chain "AWS4"+secret -> yyyymmdd -> region -> service -> "aws4_request"
 *   signature         = hex(HMAC(signing key, string to sign))
 * Every string built here is capped (SV_MAX): inputs come from object keys
 * and continuation tokens, which an upstream chooses.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define SV_MAX       (256u << 10) /* any one string we build; keys are <= 1 KiB, tokens a few hundred bytes */
#define SV_MAX_QUERY 16           /* parameters per request; S3 listing uses 4 */

/* A growable string that refuses to pass SV_MAX (then `bad` is set). */
typedef struct sv_buf {
    char *p;
    size_t len, cap;
    int bad;
} sv_buf;

static void sv_add(sv_buf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (n > SV_MAX - b->len) { /* guards the sum below; b->len <= SV_MAX always */
        b->bad = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sv_str(sv_buf *b, const char *s)
{
    sv_add(b, s, strlen(s));
}

/* Hands over the finished string (b is left empty), or NULL, nothing leaked,
 * when a cap or malloc failed. */
static char *sv_take(sv_buf *b)
{
    char *p = b->p;
    int bad = b->bad;
    *b = (sv_buf){0};
    if (bad || !p) {
        free(p);
        return bad ? NULL : strdup("");
    }
    return p;
}

static int sv_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

char *sigv4_encode(const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n > SV_MAX / 3)
        return NULL;
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (sv_unreserved(c) || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

void sigv4_date(char out[17], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = 0;
}

/* A header value must not smuggle a line break or control byte into the request. */
static int header_ok(const char *v)
{
    if (!v || !*v || strlen(v) > 8192)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

typedef struct sv_pair {
    char *k, *v; /* encoded */
} sv_pair;

static int pair_cmp(const void *a, const void *b)
{
    const sv_pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* Keys and values encoded ('/' too), then sorted by encoded key, then value. */
char *sigv4_query(const sigv4_param *q, size_t n)
{
    sv_pair pairs[SV_MAX_QUERY] = {{0}};
    sv_buf b = {0};
    char *out = NULL;
    if (n > SV_MAX_QUERY)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!q[i].key || !q[i].value)
            goto out;
        pairs[i].k = sigv4_encode(q[i].key, strlen(q[i].key), 0);
        pairs[i].v = sigv4_encode(q[i].value, strlen(q[i].value), 0);
        if (!pairs[i].k || !pairs[i].v)
            goto out;
    }
    qsort(pairs, n, sizeof pairs[0], pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sv_str(&b, "&");
        sv_str(&b, pairs[i].k);
        sv_str(&b, "=");
        sv_str(&b, pairs[i].v);
    }
    out = sv_take(&b);
out:
    free(b.p);
    for (size_t i = 0; i < n && i < SV_MAX_QUERY; i++) {
        free(pairs[i].k);
        free(pairs[i].v);
    }
    return out;
}

/* Headers in the sorted order the spec wants (host < range < x-amz-content-sha256
 * < x-amz-date < x-amz-security-token); values carry no blanks to trim. */
static void canonical_headers(sv_buf *cr, sv_buf *names, const sigv4_input *in, const char *hash, const sigv4_creds *c)
{
    const char *h[5][2] = {{"host", in->host},
                           {"range", in->range},
                           {"x-amz-content-sha256", hash},
                           {"x-amz-date", in->amz_date},
                           {"x-amz-security-token", c->session_token}};
    for (size_t i = 0; i < 5; i++) {
        if (!h[i][1])
            continue;
        sv_str(cr, h[i][0]);
        sv_str(cr, ":");
        sv_str(cr, h[i][1]);
        sv_str(cr, "\n");
        if (names->len)
            sv_str(names, ";");
        sv_str(names, h[i][0]);
    }
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) && n == 32 ? 0 : -1;
}

/* hex(HMAC(HMAC(HMAC(HMAC("AWS4"+secret, day), region), service), "aws4_request"), sts) */
static int signature(const sigv4_creds *c, const char *day, const char *sts, char out[65])
{
    char k0[300];
    unsigned char k[32], sig[32];
    int n = snprintf(k0, sizeof k0, "AWS4%s", c->secret_key);
    int rc = -1;
    if (n < 0 || (size_t)n >= sizeof k0)
        goto out;
    if (hmac(k0, (size_t)n, day, k) || hmac(k, 32, c->region, k) || hmac(k, 32, c->service, k) ||
        hmac(k, 32, "aws4_request", k) || hmac(k, 32, sts, sig))
        goto out;
    hex_of(sig, 32, out);
    rc = 0;
out:
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

/* Scope parts go between '/' separators: plain tokens only. */
static int scope_part_ok(const char *v)
{
    if (!header_ok(v) || strlen(v) > 128)
        return 0;
    for (const char *p = v; *p; p++)
        if (*p == '/' || *p == ' ')
            return 0;
    return 1;
}

static int inputs_ok(const sigv4_input *in, const sigv4_creds *c, const char *hash)
{
    if (!header_ok(in->method) || !header_ok(in->host) || !header_ok(hash) || !in->path || in->path[0] != '/')
        return 0;
    if (!scope_part_ok(c->access_key) || !scope_part_ok(c->region) || !scope_part_ok(c->service))
        return 0;
    if (!c->secret_key || strlen(c->secret_key) > 256)
        return 0;
    if ((in->range && !header_ok(in->range)) || (c->session_token && !header_ok(c->session_token)))
        return 0;
    const char *d = in->amz_date; /* YYYYMMDDTHHMMSSZ */
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (size_t i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

int sigv4_sign(sigv4_output *out, const sigv4_input *in, const sigv4_creds *c)
{
    memset(out, 0, sizeof *out);
    const char *hash = in->payload_hash ? in->payload_hash : SIGV4_EMPTY_SHA256;
    if (!inputs_ok(in, c, hash))
        return -1;
    char day[9], sig[65], crhash[65];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    memcpy(day, in->amz_date, 8);
    day[8] = 0;
    sv_buf cr = {0}, names = {0}, sts = {0}, auth = {0};
    out->path = sigv4_encode(in->path, strlen(in->path), 1);
    out->query = sigv4_query(in->query, in->nquery);
    if (!out->path || !out->query)
        goto fail;
    sv_str(&cr, in->method);
    sv_str(&cr, "\n");
    sv_str(&cr, out->path);
    sv_str(&cr, "\n");
    sv_str(&cr, out->query);
    sv_str(&cr, "\n");
    canonical_headers(&cr, &names, in, hash, c);
    sv_str(&cr, "\n");
    sv_add(&cr, names.p ? names.p : "", names.len);
    sv_str(&cr, "\n");
    sv_str(&cr, hash);
    out->signed_headers = sv_take(&names);
    out->canonical_request = sv_take(&cr);
    if (!out->signed_headers || !out->canonical_request)
        goto fail;
    SHA256((const unsigned char *)out->canonical_request, strlen(out->canonical_request), digest);
    hex_of(digest, sizeof digest, crhash);
    char scope[320];
    int n = snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", day, c->region, c->service);
    if (n < 0 || (size_t)n >= sizeof scope)
        goto fail;
    sv_str(&sts, "AWS4-HMAC-SHA256\n");
    sv_str(&sts, in->amz_date);
    sv_str(&sts, "\n");
    sv_str(&sts, scope);
    sv_str(&sts, "\n");
    sv_str(&sts, crhash);
    out->string_to_sign = sv_take(&sts);
    if (!out->string_to_sign || signature(c, day, out->string_to_sign, sig))
        goto fail;
    sv_str(&auth, "AWS4-HMAC-SHA256 Credential=");
    sv_str(&auth, c->access_key);
    sv_str(&auth, "/");
    sv_str(&auth, scope);
    sv_str(&auth, ",SignedHeaders=");
    sv_str(&auth, out->signed_headers);
    sv_str(&auth, ",Signature=");
    sv_str(&auth, sig);
    out->authorization = sv_take(&auth);
    if (!out->authorization)
        goto fail;
    return 0;
fail:
    sigv4_output_free(out);
    return -1;
}

void sigv4_output_free(sigv4_output *out)
{
    free(out->path);
    free(out->query);
    free(out->canonical_request);
    free(out->string_to_sign);
    free(out->authorization);
    free(out->signed_headers);
    memset(out, 0, sizeof *out);
}
