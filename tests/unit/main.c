/*
 * main.c - unit test runner: runs every registered test, prints `ok` or
 * `FAIL` per test and a closing "N passed, N failed" line.
 */
#include <stdio.h>

#include "test.h"

int test_failed;

// clang-format off
#define TESTS(X)                                                                              \
    X(rd_bounds) X(arena_budget) X(vec_budget) X(buf_max)                                     \
    X(rules_order) X(rules_aliases) X(rules_parents) X(rules_dunder) X(rules_glob_no_walk)    \
    X(rules_syntax_errors) X(pickle_plausible) X(scan_buffer_api) X(scan_threads)             \
    X(limits_reported) X(threat_catalog) X(pb_varints) X(pb_fields_and_errors) X(pb_depth)   \
    X(sigv4_get_object) X(sigv4_list_objects) X(sigv4_encoding) X(sigv4_refusals) X(aws_env) \
    X(s3_list_xml) X(s3_list_xml_refusals) X(s3_error_xml) X(store_verdicts) X(store_decisions) \
    X(store_sessions) X(store_policy_history) X(store_overview) X(store_tokens) X(store_scan_life)      \
    X(store_listings) X(store_models) X(store_policies) X(store_concurrent_open) X(store_threads)      \
    X(store_pg_connection) X(store_pg_queue) X(ratelimit_buckets)
// clang-format on

#define DECL(name) void test_##name(void);
TESTS(DECL)

int main(void)
{
    int passed = 0, failed = 0;
#define RUN(name)                                                                                                      \
    test_failed = 0;                                                                                                   \
    test_##name();                                                                                                     \
    printf("%s %s\n", test_failed ? "FAIL" : "ok", #name);                                                             \
    if (test_failed)                                                                                                   \
        failed++;                                                                                                      \
    else                                                                                                               \
        passed++;
    TESTS(RUN)
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
