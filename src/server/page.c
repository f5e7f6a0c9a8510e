/*
 * page.c - pagination of listings: ?limit and an opaque ?cursor.
 *
 * Listings are ordered newest first by (created_at, uuid), and a cursor is
 * the position of the last row a page returned: base64url of
 * "<created_at> <uuid>". The next page asks the store for rows strictly
 * before that position (keyset pagination), so pages never skip or repeat a
 * row when new rows arrive, and a deep page costs what the first one does.
 * A cursor is decoded strictly (its shape is checked field by field): it
 * comes from the client and ends up as a bound SQL parameter.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

enum { CURSOR_TEXT_MAX = 39 + 1 + 36, CURSOR_MAX = 128 };

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z": the shape of every stored created_at. */
static int is_stamp(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (n < sizeof shape || n > 39 || s[n - 1] != 'Z')
        return 0;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
            return 0;
    size_t i = sizeof shape - 1;
    if (i < n - 1 && s[i] == '.')
        for (i++; i < n - 1; i++)
            if (s[i] < '0' || s[i] > '9')
                return 0;
    return i == n - 1;
}

json_t *page_cursor(const char *created_at, const char *uuid)
{
    char text[CURSOR_TEXT_MAX + 1];
    unsigned char enc[CURSOR_MAX];
    int n = snprintf(text, sizeof text, "%s %s", created_at, uuid);
    if (n < 0 || (size_t)n >= sizeof text)
        return NULL;
    int m = EVP_EncodeBlock(enc, (const unsigned char *)text, n); /* 4 * ceil(76 / 3) = 104 < CURSOR_MAX */
    while (m > 0 && enc[m - 1] == '=')
        m--;
    for (int i = 0; i < m; i++)
        enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    return json_stringn((const char *)enc, (size_t)m);
}

/* Decodes a cursor into pg; -1 when it is not one this service made. */
static int cursor_decode(const char *s, page_req *pg)
{
    size_t n = strlen(s);
    unsigned char b64[CURSOR_MAX + 4], text[CURSOR_MAX];
    if (n == 0 || n > CURSOR_MAX || n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return -1;
        b64[i] = (unsigned char)(c == '-' ? '+' : c == '_' ? '/' : c);
    }
    size_t pad = (4 - n % 4) % 4;
    memset(b64 + n, '=', pad);
    int m = EVP_DecodeBlock(text, b64, (int)(n + pad));
    if (m < (int)pad)
        return -1;
    size_t len = (size_t)m - pad; /* DecodeBlock counts the padding as zero bytes */
    const unsigned char *sp = memchr(text, ' ', len);
    if (!sp)
        return -1;
    size_t tl = (size_t)(sp - text), ul = len - tl - 1;
    if (!is_stamp((const char *)text, tl) || ul != 36)
        return -1;
    memcpy(pg->created_at, text, tl);
    pg->created_at[tl] = 0;
    memcpy(pg->uuid, sp + 1, 36);
    pg->uuid[36] = 0;
    return is_uuid(pg->uuid) ? 0 : -1;
}

int page_limit(const srv_request *req, int *limit, srv_response *resp)
{
    *limit = SRV_LIST_DEFAULT;
    const char *l = req->arg(req, "limit");
    if (l) {
        char *end;
        errno = 0;
        long v = strtol(l, &end, 10);
        if (errno || end == l || *end || v < 1 || v > SRV_LIST_MAX) {
            fail(resp, 400, "limit must be an integer from 1 to 1000");
            return -1;
        }
        *limit = (int)v;
    }
    return 0;
}

int page_parse(const srv_request *req, page_req *pg, srv_response *resp)
{
    memset(pg, 0, sizeof *pg);
    if (page_limit(req, &pg->limit, resp) != 0)
        return -1;
    const char *c = req->arg(req, "cursor");
    if (c && *c && cursor_decode(c, pg) != 0) {
        fail(resp, 400, "cursor is not one this service returned (use next_cursor as given)");
        return -1;
    }
    return 0;
}

int page_start(const page_req *pg, store_filter *f, page_acc *a)
{
    memset(a, 0, sizeof *a);
    a->limit = pg->limit;
    f->limit = pg->limit + 1;
    f->after_created_at = pg->created_at[0] ? pg->created_at : NULL;
    f->after_uuid = pg->uuid[0] ? pg->uuid : NULL;
    return (a->arr = json_array()) ? 0 : -1;
}

int page_full(page_acc *a)
{
    if ((int)json_array_size(a->arr) < a->limit)
        return 0;
    a->more = 1;
    return 1;
}

int page_add(page_acc *a, json_t *o, const char *created_at, const char *uuid)
{
    snprintf(a->last_created, sizeof a->last_created, "%s", created_at);
    snprintf(a->last_uuid, sizeof a->last_uuid, "%s", uuid);
    return o && json_array_append_new(a->arr, o) == 0 ? 0 : MG_ENOMEM;
}

void page_respond(srv_response *resp, const char *key, page_acc *a, int store_rc)
{
    if (store_rc != STORE_OK) {
        json_decref(a->arr);
        fail(resp, 500, "store unavailable");
        return;
    }
    json_t *next = a->more ? page_cursor(a->last_created, a->last_uuid) : json_null();
    respond(resp, 200, json_pack("{s:o, s:o}", key, a->arr, "next_cursor", next));
}
