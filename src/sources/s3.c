/* s3.c - placeholder until the s3 back-end lands: claims no URI. */
#include "internal.h"

int src_s3_open(src_remote *r, const char *uri, char *err, size_t errlen)
{
    (void)r, (void)uri, (void)err, (void)errlen;
    return SRC_EINVAL;
}
