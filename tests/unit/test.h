/*
 * test.h - a minimal unit-test harness: CHECK records a failure with its line
 * and keeps going; each test is a function registered in main.c.
 */
#ifndef MG_TEST_H
#define MG_TEST_H

#include <stdio.h>

extern int test_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                               \
            test_failed = 1;                                                                                           \
        }                                                                                                              \
    } while (0)

#endif
