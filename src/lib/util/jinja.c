/*
 * jinja.c - placeholder for the Jinja template analyser (jinja.h); being
 * written. Reports nothing yet.
 */
#include "jinja.h"

int mg_jinja_check(mg_scan *s, mg_str tmpl, uint64_t offset, const char *what, const char *exec_threat,
                   const char *bad_threat)
{
    (void)s;
    (void)tmpl;
    (void)offset;
    (void)what;
    (void)exec_threat;
    (void)bad_threat;
    return 0;
}
