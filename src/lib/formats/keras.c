/*
 * keras.c - placeholder for the Keras config analysis (mg_keras_config in
 * internal.h), called by the containers that carry Keras configs: the zip
 * module for .keras files, the HDF5 module for .h5 files, the JSON module
 * for bare configs. Being written.
 */
#include "../internal.h"

void mg_keras_config(mg_scan *s, mg_span json, uint64_t offset)
{
    (void)s;
    (void)json;
    (void)offset;
}
