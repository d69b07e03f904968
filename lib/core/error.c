/*
 * error.c — text for the negative errno codes coring returns.
 */
#include "core/internal.h"
#include <limits.h>
#include <string.h>

const char *cr_strerror(int err)
{
    if (err >= 0)
        return "Success";
    if (err == INT_MIN)
        return "Unknown error"; /* -INT_MIN does not exist */
    const char *s = strerrordesc_np(-err);
    return s ? s : "Unknown error";
}
