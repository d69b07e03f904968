/* SPDX-License-Identifier: MIT */
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
    if (err == CR_ENONAME)
        return "Name or service not known";
    if (err < -4095)
        return "Unknown error"; /* no errno; and -INT_MIN would overflow */
    const char *s = strerrordesc_np(-err);
    return s ? s : "Unknown error";
}
