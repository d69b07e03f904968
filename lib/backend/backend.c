/*
 * backend.c — choosing a loop's backend and saying why set-up failed.
 *
 * Owns: the thread's set-up error line (cr_setup_error), and the choice of
 * backend for a new loop. io_uring is the only backend so far; the choice
 * is made here so that a second one (epoll) joins in one place.
 *
 * Any thread (set-up runs on the thread that calls cr_loop_new).
 */
#include "backend/backend.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char setup_error[256];

const char *cr_setup_error(void) { return setup_error; }

void cr__set_setup_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(setup_error, sizeof setup_error, fmt, ap);
    va_end(ap);
}

int cr__be_init(cr__backend *b, const cr_loop_opts *opts)
{
    memset(b, 0, sizeof *b);
    setup_error[0] = 0;
    const struct cr__backend_ops *ops = &cr__uring_ops;
    int rc = ops->init(b, opts);
    if (rc < 0)
        return rc;
    b->ops = ops;
    return 0;
}

void cr__be_exit(cr__backend *b)
{
    if (b->ops && b->impl)
        b->ops->exit(b);
}
