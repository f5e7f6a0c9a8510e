/*
 * hdf5.c - placeholder: this format module is being written. It claims no
 * input, so detection falls through to the other modules.
 */
#include "../internal.h"

static int hdf5_probe(mg_span data, mg_str name)
{
    (void)data;
    (void)name;
    return 0;
}

static int hdf5_scan(mg_scan *s, mg_span in, mg_str name)
{
    (void)s;
    (void)in;
    (void)name;
    return 0;
}

const mg_module mg_module_hdf5 = {"hdf5", hdf5_probe, hdf5_scan};
