/*
 * models.c - /api/v1/models: the models the service has scanned, and for
 * one model its versions (a hub revision, or a content digest for local and
 * S3 models) with the newest verdict of each. A model appears with its first
 * finished scan; identity (model_uuid, model_version_uuid) is the one the
 * report carries.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"

static json_t *model_doc(const store_model *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "uuid", m->uuid, "model_uri", m->model_uri, "namespace",
                     m->namespace_, "model_name", m->model_name, "created_at", m->created_at, "updated_at",
                     m->updated_at);
}

static int list_row(void *arg, const store_model *m)
{
    page_acc *a = arg;
    return page_full(a) ? 0 : page_add(a, model_doc(m), m->created_at, m->uuid);
}

void models_list(const srv_ctx *ctx, const srv_request *req, const char *param, srv_response *resp)
{
    page_req pg;
    if (page_parse(req, &pg, resp) != 0)
        return;
    store_filter f = {0};
    page_acc a;
    int rc = page_start(&pg, &f, &a) == 0 ? store_model_list(ctx->store, &f, list_row, &a) : STORE_ENOMEM;
    page_respond(resp, "models", &a, rc);
}

typedef struct model_get_acc {
    json_t *model, *versions;
} model_get_acc;

static int got_model(void *arg, const store_model *m)
{
    model_get_acc *a = arg;
    a->model = model_doc(m);
    return a->model ? 0 : MG_ENOMEM;
}

static int got_version(void *arg, const store_version *v)
{
    model_get_acc *a = arg;
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "model_version_uuid", v->model_version_uuid, "revision", v->revision,
                  "latest_scan", "uuid", v->scan_uuid, "eval_outcome", v->eval_outcome, "created_at", v->created_at);
    return o && json_array_append_new(a->versions, o) == 0 ? 0 : MG_ENOMEM;
}

void models_get(const srv_ctx *ctx, const srv_request *req, const char *uuid, srv_response *resp)
{
    model_get_acc a = {NULL, json_array()};
    int rc = !a.versions     ? MG_ENOMEM
             : is_uuid(uuid) ? store_model_get(ctx->store, uuid, SRV_MAX_VERSIONS, got_model, got_version, &a)
                             : STORE_ENOTFOUND;
    if (rc == STORE_OK && json_object_set(a.model, "versions", a.versions) == 0)
        respond(resp, 200, json_incref(a.model));
    else if (rc == STORE_ENOTFOUND)
        fail(resp, 404, "no such model");
    else
        fail(resp, 500, "store unavailable");
    json_decref(a.model);
    json_decref(a.versions);
}
