/*
 * error.c — text for the negative errno codes coring returns.
 */
#include "core/internal.h"
#include <string.h>

const char *cr_strerror(int err)
{
    if (err >= 0)
        return "Success";
    const char *s = strerrordesc_np(-err);
    return s ? s : "Unknown error";
}
