/*
 * uri.c - the model URIs a scan may name, checked before the scan is
 * accepted (so a caller hears "no" at once, not from a queued job).
 *
 * Local paths and file:// URIs are the first attack surface: a caller names
 * a path on the server. The path is resolved (realpath: `..` and symbolic
 * links followed) and must land inside one of the configured roots; the
 * resolved path, never the caller's text, is what gets scanned. A path that
 * does not exist gets the same answer as one outside the roots, so the API
 * is not an oracle for which files exist elsewhere on the machine.
 *
 * Remote URIs are the second (SSRF): a caller must never make the service
 * fetch a URL of its choosing. Only three shapes are accepted, and none of
 * them names a host the operator did not configure:
 *   s3://BUCKET[/PREFIX]      the configured S3 endpoint (or AWS's)
 *   hf://NS/NAME[@REV]        the configured hub endpoint
 *   https://HUB/NS/NAME[/...] only on the hub endpoint itself: the same
 *                             scheme, host, port and base path (so http://
 *                             only when the endpoint is http://)
 * The check is syntactic; src_scan (src/sources) then lists and reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/lex.h"
#include "api.h"

/* The local path a file:// URI or plain path names, malloc'd and
 * percent-decoded; NULL with `why` set when malformed. */
static char *local_path(const char *uri, const char **why)
{
    if (strncmp(uri, "file://", 7) != 0) {
        char *p = strdup(uri);
        *why = p ? NULL : "out of memory";
        return p;
    }
    const char *p = uri + 7;
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/') {
        *why = "file:// URI must name an absolute local path (file:///path)";
        return NULL;
    }
    char *out = malloc(strlen(p) + 1), *o = out;
    for (; out && *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = lex_hexval(p[1])) >= 0 && (lo = lex_hexval(p[2])) >= 0 && (hi | lo)) {
            *o++ = (char)(hi * 16 + lo); /* %00 is left as text: it would cut the path */
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    if (out)
        *o = 0;
    *why = out ? NULL : "out of memory";
    return out;
}

static int under_root(const srv_ctx *ctx, const char *real)
{
    for (size_t i = 0; i < ctx->nroots; i++) {
        const char *root = ctx->roots[i];
        size_t n = strlen(root);
        if (strcmp(root, "/") == 0)
            return 1;
        if (strncmp(real, root, n) == 0 && (real[n] == 0 || real[n] == '/'))
            return 1;
    }
    return 0;
}

/* ---- remote shapes ---- */

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* An S3 bucket name: 3-63 of [a-z0-9.-], starting and ending alphanumeric. */
static int s3_bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63 || !is_alnum(b[0]) || !is_alnum(b[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' || b[i] == '-'))
            return 0;
    return 1;
}

/* No path segment is "." or ".." (a remote path never walks up). */
static int segments_ok(const char *p)
{
    while (*p) {
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* A revision: 1-255 printable characters without blanks, no . or ..
 * segments. */
static int rev_ok(const char *r)
{
    size_t n = strlen(r);
    for (size_t i = 0; i < n; i++)
        if (r[i] <= ' ' || r[i] >= 0x7f)
            return 0;
    return n >= 1 && n <= 255 && r[0] != '/' && segments_ok(r);
}

/* The length of a leading `datasets` or `spaces` segment (the repository
 * type, as on the Hub), else 0. */
static size_t hub_type_len(const char *p)
{
    size_t n = strcspn(p, "/@");
    return (n == 8 && strncmp(p, "datasets", 8) == 0) || (n == 6 && strncmp(p, "spaces", 6) == 0) ? n : 0;
}

/* [datasets/|spaces/]NS/NAME, or a model's legacy one-segment NAME, followed
 * by nothing, "@REV" (hf) or "/..." (https: src/sources/hub.c then tells
 * NAME/tree/REV from NS/NAME/tree/REV by counting segments). */
static const char *hub_repo_ok(const char *p, int allow_at, int allow_rest)
{
    static const char shape[] = "hub URIs name a repository as NS/NAME, datasets/NS/NAME or spaces/NS/NAME "
                                "(a model also as NAME)";
    size_t tl = hub_type_len(p);
    if (tl && p[tl] != '/')
        return shape; /* hf://datasets, hf://spaces@main: a type without a repository */
    const char *q = tl ? p + tl + 1 : p;
    size_t first = strcspn(q, "/@");
    if (!lex_hub_name_ok(q, first))
        return shape;
    const char *rest = q + first;
    if (*rest == '/' && (tl || !allow_rest)) { /* the NAME of NS/NAME */
        const char *nm = rest + 1;
        size_t nl = strcspn(nm, "/@");
        if (!lex_hub_name_ok(nm, nl))
            return shape;
        rest = nm + nl;
    } else if (tl) {
        return shape; /* a dataset or space always has a namespace */
    }
    if (*rest == '@' && allow_at)
        return rev_ok(rest + 1) ? NULL : "hf:// revision after @ must be 1-255 printable characters without blanks";
    if (*rest == '/' && allow_rest)
        return segments_ok(rest + 1) ? NULL : "hub model URI path may not contain . or .. segments";
    return *rest ? "hub model URI has unexpected text after the repository" : NULL;
}

/* Length of "scheme://authority" of an http(s) URL; 0 when malformed
 * (no authority, or user info that could disguise the host). */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    size_t a = strcspn(p + 3, "/?#");
    if (a == 0 || memchr(p + 3, '@', a))
        return 0;
    return (size_t)(p + 3 - url) + a;
}

/* An http(s) URL of a repository on the configured hub endpoint. */
static const char *hub_url_ok(const srv_ctx *ctx, const char *uri)
{
    const char *hub = ctx->src && ctx->src->hub_endpoint ? ctx->src->hub_endpoint : "https://huggingface.co";
    size_t ho = origin_len(hub), uo = origin_len(uri), hl = strlen(hub);
    while (hl > ho && hub[hl - 1] == '/')
        hl--; /* the base path without its trailing slash */
    if (!ho)
        return "the configured hub endpoint is malformed";
    if (ho != uo || strncasecmp(hub, uri, ho) != 0 || strncmp(hub + ho, uri + ho, hl - ho) != 0 || uri[hl] != '/')
        return "http(s) model URIs must be on the configured hub endpoint (same scheme, host and port)";
    if (strpbrk(uri, "?#"))
        return "hub model URIs name a repository as HUB/NS/NAME[/tree/REV], without query or fragment";
    return hub_repo_ok(uri + hl + 1, 0, 1);
}

static const char *remote_ok(const srv_ctx *ctx, const char *uri)
{
    if (strncmp(uri, "s3://", 5) == 0) {
        const char *b = uri + 5;
        size_t bl = strcspn(b, "/");
        if (!s3_bucket_ok(b, bl))
            return "s3:// URI must name a bucket (3-63 characters of a-z, 0-9, '.', '-')";
        return segments_ok(b + bl) ? NULL : "s3:// prefix may not contain . or .. segments";
    }
    if (strncmp(uri, "hf://", 5) == 0)
        return hub_repo_ok(uri + 5, 1, 0);
    return hub_url_ok(ctx, uri);
}

/* Bytes the URI may not contain whatever its kind. */
static int has_control(const char *uri)
{
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

unsigned uri_check(const srv_ctx *ctx, const char *uri, char **path, const char **why)
{
    *path = NULL;
    *why = NULL;
    if (strlen(uri) > SRV_MAX_URI || has_control(uri)) {
        *why = "model_uri is too long or contains control characters";
        return 400;
    }
    if (src_is_remote(uri)) {
        *why = remote_ok(ctx, uri);
        return *why ? 400 : 0;
    }
    if (strstr(uri, "://") && strncmp(uri, "file://", 7) != 0) {
        *why = "unsupported model_uri scheme: expected a local path, file://, s3://, hf:// or https://<hub host>/";
        return 400;
    }
    char *p = local_path(uri, why);
    if (!p)
        return strcmp(*why, "out of memory") == 0 ? 500 : 400;
    char *real = realpath(p, NULL);
    free(p);
    if (!real || !under_root(ctx, real)) {
        free(real);
        *why = "model_uri is not an existing path under a configured --root";
        return 403;
    }
    *path = real;
    return 0;
}
