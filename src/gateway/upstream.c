/*
 * upstream.c - the gateway's calls to the hub it fronts. Three kinds:
 * API calls proxied for the client (revision, tree, paths-info), a HEAD of
 * a file to learn its commit, size and digest, and the download of a whole
 * file into the blob cache.
 *
 * Every call asks `Accept: * / *` and `Accept-Encoding: identity`: a hub
 * that sees the Xet file-info type in Accept answers with a pointer to its
 * content store instead of bytes, and a compressed answer would not be the
 * bytes whose digest we check. API calls and HEADs never follow redirects:
 * a relative one (a renamed repo) goes back to the client, who asks the
 * gateway again. Only the download follows the hub's redirect to its LFS
 * CDN, and the client's token never leaves the hub's origin (net_follow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "util/banned.h"

int up_init(gw_upstream *u, const char *endpoint, long timeout_s, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    size_t n = strlen(endpoint);
    while (n && endpoint[n - 1] == '/')
        n--;
    if (!(strncmp(endpoint, "http://", 7) == 0 || strncmp(endpoint, "https://", 8) == 0) || strchr(endpoint, '?') ||
        strchr(endpoint, '#') || strchr(endpoint, '@')) {
        snprintf(err, errlen, "the upstream %s is not an http(s) URL without user, query or fragment", endpoint);
        return -1;
    }
    if (!(u->base = strndup(endpoint, n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    u->timeout_s = timeout_s > 0 ? timeout_s : 30;
    return 0;
}

void up_free(gw_upstream *u)
{
    free(u->base);
    memset(u, 0, sizeof *u);
}

/* The headers every upstream call carries, plus a body type. */
static struct curl_slist *base_headers(const char *ctype)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: */*"), *t;
    if (!h || !(t = curl_slist_append(h, "Accept-Encoding: identity")))
        goto fail;
    h = t;
    if (ctype) {
        char line[256];
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        if (!(t = curl_slist_append(h, line)))
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* One request without redirects, `auth` added (the URL is the hub's). */
static int call(const gw_upstream *u, net_request *rq, const char *ctype, const char *auth, net_response *rs, char *err,
                size_t errlen)
{
    struct curl_slist *h = base_headers(ctype), *t = h;
    if (h && auth)
        t = curl_slist_append(h, auth);
    if (!h || !t) {
        curl_slist_free_all(h);
        snprintf(err, errlen, "out of memory");
        return SRC_ENOMEM;
    }
    rq->headers = t;
    rq->timeout_s = u->timeout_s;
    int rc = net_perform(rq, rs, err, errlen);
    curl_slist_free_all(t);
    return rc;
}

int up_api(const gw_upstream *u, const char *method, const char *path_query, const char *ctype, const char *body,
           size_t len, const char *auth, net_response *rs, char *err, size_t errlen)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", u->base, path_query) < 0) {
        memset(rs, 0, sizeof *rs);
        return SRC_ENOMEM;
    }
    net_request rq = {
        .method = method, .url = url, .max_body = GW_API_MAX, .fd = -1, .post_body = body, .post_len = len};
    int rc = call(u, &rq, ctype, auth, rs, err, errlen);
    free(url);
    return rc;
}

static char *file_url(const gw_upstream *u, gw_type type, const char *repo, const char *rev, const char *file)
{
    char *erev = gw_pct(rev, 0), *efile = gw_pct(file, 1), *url = NULL;
    if (erev && efile && asprintf(&url, "%s/%s%s/resolve/%s/%s", u->base, gw_type_prefix(type), repo, erev, efile) < 0)
        url = NULL;
    free(erev);
    free(efile);
    return url;
}

int up_head(const gw_upstream *u, const gw_route *r, const char *rev, const char *auth, net_response *rs, char *err,
            size_t errlen)
{
    char *url = file_url(u, r->type, r->repo, rev, r->file);
    if (!url) {
        memset(rs, 0, sizeof *rs);
        return SRC_ENOMEM;
    }
    net_request rq = {.method = "HEAD", .url = url, .fd = -1};
    int rc = call(u, &rq, NULL, auth, rs, err, errlen);
    free(url);
    return rc;
}

int up_fetch(const gw_upstream *u, gw_type type, const char *repo, const char *commit, const char *file,
             const char *auth, int fd, int (*on_data)(void *, const char *, size_t), void *arg,
             const volatile int *cancel, net_response *rs, char *err, size_t errlen)
{
    char *url = file_url(u, type, repo, commit, file);
    struct curl_slist *h = base_headers(NULL);
    int rc = SRC_ENOMEM;
    memset(rs, 0, sizeof *rs);
    if (url && h) {
        net_request rq = {.url = url,
                          .headers = h,
                          .fd = fd,
                          .timeout_s = u->timeout_s,
                          .on_data = on_data,
                          .on_data_arg = arg,
                          .cancel = cancel};
        rc = net_follow(&rq, auth, GW_MAX_HOPS, 0, rs, err, errlen);
    }
    curl_slist_free_all(h);
    free(url);
    return rc;
}
