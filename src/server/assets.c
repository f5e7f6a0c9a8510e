/*
 * assets.c - the dashboard's files: every file under web/, compiled into the
 * command by mk/embed_dir.sh (see the Makefile), served at GET / (web/
 * index.html) and GET /ui/<path> (web/<path>).
 *
 * They need no token: they are the same for everyone and hold no data (the
 * pages fetch it from /api/v1 with the session cookie). A path is looked up
 * by its exact name in the compiled table, so nothing else can be named: no
 * file system access, no `..`, no directory listing. The answer carries the
 * Content-Security-Policy and the other headers every answer of this port
 * carries (http.c).
 */
#include <string.h>

#include "api.h"

/* The table mk/embed_dir.sh writes, with the same struct. */
struct mg_web_file {
    const char *path;
    const unsigned char *bytes;
    size_t len;
    const char *type;
};
extern const struct mg_web_file mg_web_files[];
extern const size_t mg_web_nfiles;

static const struct mg_web_file *asset_find(const char *name)
{
    for (size_t i = 0; i < mg_web_nfiles; i++)
        if (strcmp(mg_web_files[i].path, name) == 0)
            return &mg_web_files[i];
    return NULL;
}

int assets_handle(const srv_request *req, srv_response *resp)
{
    const char *name = strcmp(req->path, "/") == 0          ? "index.html"
                       : strncmp(req->path, "/ui/", 4) == 0 ? req->path + 4
                                                            : NULL;
    if (!name)
        return 0;
    const struct mg_web_file *f = asset_find(name);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        fail(resp, 405, "method not allowed");
    else if (!f)
        fail(resp, 404, "no such file");
    else {
        resp->status = 200;
        resp->static_body = f->bytes;
        resp->static_len = f->len;
        resp->content_type = f->type;
    }
    return 1;
}
