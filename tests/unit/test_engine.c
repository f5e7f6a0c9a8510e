/*
 * test_engine.c - the public API end to end on crafted buffers: detection,
 * findings with offsets, limits shown in the report, many threads sharing
 * one engine, and the threat catalog.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test.h"

void test_pickle_plausible(void);
void test_scan_buffer_api(void);
void test_scan_threads(void);
void test_limits_reported(void);
void test_threat_catalog(void);

#define S(lit) ((mg_span){(const uint8_t *)(lit), sizeof(lit) - 1})

void test_pickle_plausible(void)
{
    CHECK(mg_pickle_plausible(S("cos\nsystem\n(S'x'\ntR."), 0));
    CHECK(mg_pickle_plausible(S("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N."), 0));
    /* protocol 0 without an import is harmless and looks like prose: not claimed */
    CHECK(!mg_pickle_plausible(S("(dp0\nS'a'\np1\nI1\ns."), 0));
    CHECK(!mg_pickle_plausible(S("GIT v1.5.2.1 Release Notes\n"), 0));
    CHECK(mg_pickle_plausible(S("(dp0\nS'a'\np1\ncos\nsystem\np2\ns."), 0));
    CHECK(!mg_pickle_plausible(S("hello world\n"), 0));
    CHECK(!mg_pickle_plausible(S("{\"a\": 1}"), 0));
    CHECK(!mg_pickle_plausible(S("# README\n"), 0));
    CHECK(!mg_pickle_plausible(S("\x80\x09N."), 0)); /* protocol 9 does not exist */
    CHECK(!mg_pickle_plausible(S("lll."), 0));       /* LIST without MARK */
    /* the check walks the opcodes: a valid first opcode is not enough */
    CHECK(!mg_pickle_plausible(S("]\x00\x00\x80\x00\xff\xff\xff"), 0)); /* lzma-alone header */
    CHECK(!mg_pickle_plausible(S("Ihello world\n."), 0));               /* INT with prose */
    CHECK(mg_pickle_plausible(S("\x80\x02]q\x00(K\x01K\x02"
                                "e."),
                              0));
    /* a payload followed by junk is still a pickle */
    CHECK(mg_pickle_plausible(S("cos\nsystem\n(S'x'\ntR\xff\xff"), 0));
}

static const mg_finding *find(const mg_report *r, const char *threat)
{
    for (size_t i = 0; i < mg_report_file_count(r); i++) {
        const mg_file *f = mg_report_file(r, i);
        for (size_t k = 0; k < f->nfindings; k++)
            if (strcmp(f->findings[k].threat, threat) == 0)
                return &f->findings[k];
    }
    return NULL;
}

static mg_engine *engine(void)
{
    mg_options o;
    mg_options_default(&o);
    o.record_globals = 1;
    mg_engine *e = NULL;
    CHECK(mg_engine_new(&e, &o, NULL, 0) == MG_OK);
    return e;
}

void test_scan_buffer_api(void)
{
    mg_engine *e = engine();
    if (!e)
        return;
    static const char evil[] = "garbage-free prefix";
    (void)evil;
    /* payload at offset 0, then a broken stream: both reported */
    const char p[] = "cposix\nsystem\n(S'echo x'\ntR\xff\xff";
    mg_report *r = NULL;
    CHECK(mg_scan_buffer(&r, e, p, sizeof p - 1, "x.safetensors") == MG_OK);
    CHECK(r && mg_report_file_count(r) == 1);
    const mg_file *f = mg_report_file(r, 0);
    CHECK(strcmp(f->format, "pickle") == 0); /* content, not the name */
    CHECK(strlen(f->sha256) == 64);
    const mg_finding *fd = find(r, "MG-PKL-100");
    CHECK(fd && fd->offset == 0 && fd->severity == MG_SEV_CRITICAL && strcmp(fd->op, "posix.system") == 0);
    CHECK(strcmp(fd->module, "pickle") == 0);
    fd = find(r, "MG-PKL-400");
    CHECK(fd && fd->offset == sizeof p - 3);
    CHECK(f->nglobals == 1 && strcmp(f->globals[0].verdict, "dangerous") == 0);
    CHECK(mg_report_max_severity(r) == MG_SEV_CRITICAL);
    mg_report_free(r);
    /* an unknown format is scanned with no finding */
    CHECK(mg_scan_buffer(&r, e, "\x01\x02\x03\xfe\xff\x00", 6, "a.pkl") == MG_OK);
    CHECK(strcmp(mg_report_file(r, 0)->format, "unknown") == 0);
    CHECK(mg_report_max_severity(r) == MG_SEV_NONE);
    mg_report_free(r);
    CHECK(mg_scan_buffer(NULL, e, "x", 1, "x") == MG_EINVAL);
    mg_engine_free(e);
}

static const mg_engine *shared;

static void *thread_scan(void *arg)
{
    (void)arg;
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        const char p[] = "\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94.";
        mg_report *r = NULL;
        if (mg_scan_buffer(&r, shared, p, sizeof p - 1, "t") != MG_OK || !find(r, "MG-PKL-100"))
            bad = 1;
        mg_report_free(r);
    }
    return bad ? (void *)1 : NULL;
}

void test_scan_threads(void)
{
    mg_engine *e = engine();
    if (!e)
        return;
    shared = e;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_scan, NULL);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        CHECK(res == NULL);
    }
    mg_engine_free(e);
}

void test_limits_reported(void)
{
    mg_options o;
    mg_options_default(&o);
    o.limits.max_pickle_ops = 10;
    mg_engine *e = NULL;
    CHECK(mg_engine_new(&e, &o, NULL, 0) == MG_OK);
    if (!e)
        return;
    char p[64];
    memset(p, 'N', sizeof p);
    p[0] = '(';
    p[sizeof p - 2] = 'l';
    p[sizeof p - 1] = '.';
    mg_report *r = NULL;
    CHECK(mg_scan_buffer(&r, e, p, sizeof p, "ops") == MG_OK);
    const mg_finding *fd = find(r, "MG-FMT-401");
    CHECK(fd && fd->severity >= MG_SEV_HIGH);
    mg_report_free(r);
    mg_engine_free(e);
    /* memory: a stream of 1M empty tuples kept alive by a list */
    mg_options_default(&o);
    o.limits.max_memory = 1 << 20;
    CHECK(mg_engine_new(&e, &o, NULL, 0) == MG_OK);
    size_t n = 200000;
    char *big = malloc(n + 3);
    big[0] = '(';
    memset(big + 1, ')', n);
    big[n + 1] = 't';
    big[n + 2] = '.';
    CHECK(mg_scan_buffer(&r, e, big, n + 3, "mem") == MG_OK);
    CHECK(find(r, "MG-FMT-401") != NULL);
    mg_report_free(r);
    free(big);
    mg_engine_free(e);
}

void test_threat_catalog(void)
{
    CHECK(mg_threat_count() > 0);
    for (size_t i = 0; i < mg_threat_count(); i++) {
        const mg_threat *t = mg_threat_at(i);
        CHECK(mg_threat_find(t->id) == t);
        CHECK(t->severity >= MG_SEV_LOW && t->title[0] && t->policy[0]);
        CHECK(strncmp(t->id, "MG-", 3) == 0);
    }
    CHECK(mg_threat_find("MG-NOPE-000") == NULL);
    CHECK(mg_severity_parse("critical") == MG_SEV_CRITICAL && mg_severity_parse("x") == -1);
}
