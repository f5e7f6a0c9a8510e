/*
 * test_rules.c - judgement order, aliases, parent modules, dunder walks,
 * wildcards that must not admit attribute walks, and rules syntax errors.
 * Uses a small rules text of its own so the tests pin the semantics, not
 * the current contents of pickle.rules.
 */
#include <string.h>

#include "internal.h"
#include "test.h"

void test_rules_order(void);
void test_rules_aliases(void);
void test_rules_parents(void);
void test_rules_dunder(void);
void test_rules_glob_no_walk(void);
void test_rules_syntax_errors(void);

static const char text[] = "version t1\n"
                           "alias posix os\n"
                           "alias __builtin__ builtins\n"
                           "allow uuid UUID # plain value type\n"
                           "allow numpy.random._pickle __bit_generator_ctor # numpy rng state\n"
                           "allow sklearn.tree.* [A-Z]* # estimator classes\n"
                           "deny uuid * # runs commands\n"
                           "deny os * # system access\n"
                           "deny asyncio * # subprocess transports\n"
                           "deny builtins eval # code\n"
                           "loader torch.storage _load_from_bytes # nested torch data\n";

static mg_verdict judge(mg_rules *r, const char *m, const char *n)
{
    return mg_rules_judge(r, mg_str_c(m), mg_str_c(n), NULL);
}

static mg_rules *load(void)
{
    mg_rules *r = NULL;
    char err[128];
    CHECK(mg_rules_parse(&r, text, strlen(text), err, sizeof err) == MG_OK);
    return r;
}

void test_rules_order(void)
{
    mg_rules *r = load();
    if (!r)
        return;
    CHECK(strcmp(mg_rules_version(r), "t1") == 0);
    CHECK(judge(r, "uuid", "UUID") == MG_V_ALLOWED); /* exact allow beats module deny */
    CHECK(judge(r, "uuid", "_get_command_stdout") == MG_V_DANGEROUS);
    CHECK(judge(r, "numpy.random._pickle", "__bit_generator_ctor") == MG_V_ALLOWED);
    CHECK(judge(r, "torch.storage", "_load_from_bytes") == MG_V_LOADER);
    CHECK(judge(r, "mylib", "helper") == MG_V_SUSPICIOUS);
    CHECK(judge(r, "builtins", "eval") == MG_V_DANGEROUS);
    CHECK(judge(r, "builtins", "list") == MG_V_SUSPICIOUS); /* not allowed by this text */
    mg_rules_free(r);
}

void test_rules_aliases(void)
{
    mg_rules *r = load();
    if (!r)
        return;
    CHECK(judge(r, "posix", "system") == MG_V_DANGEROUS);
    CHECK(judge(r, "posix.path", "join") == MG_V_DANGEROUS);
    CHECK(judge(r, "__builtin__", "eval") == MG_V_DANGEROUS);
    CHECK(judge(r, "posixpath", "join") == MG_V_SUSPICIOUS); /* alias is per dotted part */
    mg_rules_free(r);
}

void test_rules_parents(void)
{
    mg_rules *r = load();
    if (!r)
        return;
    CHECK(judge(r, "asyncio.unix_events", "_UnixSubprocessTransport._start") == MG_V_DANGEROUS);
    CHECK(judge(r, "os.path", "exists") == MG_V_DANGEROUS);
    CHECK(judge(r, "osx", "thing") == MG_V_SUSPICIOUS);             /* a prefix must end at a dot */
    CHECK(judge(r, "builtins", "eval.__call__") == MG_V_DANGEROUS); /* first dotted part */
    mg_rules_free(r);
}

void test_rules_dunder(void)
{
    mg_rules *r = load();
    if (!r)
        return;
    CHECK(judge(r, "numpy", "__builtins__") == MG_V_INTROSPECT);
    CHECK(judge(r, "builtins", "print.__class__.__base__") == MG_V_INTROSPECT);
    CHECK(judge(r, "__main__", "Net") == MG_V_SUSPICIOUS); /* a dunder module is not a walk */
    CHECK(judge(r, "numpy.random._pickle", "__randomstate_ctor") == MG_V_SUSPICIOUS);
    mg_rules_free(r);
}

void test_rules_glob_no_walk(void)
{
    mg_rules *r = load();
    if (!r)
        return;
    CHECK(judge(r, "sklearn.tree._classes", "DecisionTreeClassifier") == MG_V_ALLOWED);
    CHECK(judge(r, "sklearn.tree._classes", "DecisionTreeClassifier.fit") == MG_V_SUSPICIOUS);
    CHECK(judge(r, "sklearn.tree._classes", "Tree.__init__") == MG_V_INTROSPECT);
    CHECK(judge(r, "sklearn.tree._classes", "helper") == MG_V_SUSPICIOUS);
    mg_rules_free(r);
}

void test_rules_syntax_errors(void)
{
    mg_rules *r = NULL;
    char err[160];
    const char *no_why = "version 1\nallow a b\n";
    CHECK(mg_rules_parse(&r, no_why, strlen(no_why), err, sizeof err) == MG_ERULES);
    CHECK(strstr(err, "line 2") != NULL);
    const char *no_version = "allow a b # x\n";
    CHECK(mg_rules_parse(&r, no_version, strlen(no_version), err, sizeof err) == MG_ERULES);
    const char *bad_kind = "version 1\npermit a b # x\n";
    CHECK(mg_rules_parse(&r, bad_kind, strlen(bad_kind), err, sizeof err) == MG_ERULES);
    const char *deny_glob = "version 1\ndeny o* x # y\n";
    CHECK(mg_rules_parse(&r, deny_glob, strlen(deny_glob), err, sizeof err) == MG_ERULES);
    CHECK(r == NULL);
}
