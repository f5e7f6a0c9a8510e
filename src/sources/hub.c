/* hub.c - placeholder until the hub back-end lands: claims no URI. */
#include "internal.h"

int src_hub_open(src_remote *r, const char *uri, char *err, size_t errlen)
{
    (void)r, (void)uri, (void)err, (void)errlen;
    return SRC_EINVAL;
}
