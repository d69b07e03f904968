/* SPDX-License-Identifier: MIT */
/*
 * backend.c — choosing a loop's backend and saying why set-up failed.
 *
 * Owns: the thread's set-up error line (cr_setup_error), and the choice of
 * backend for a new loop: cr_loop_opts.backend, else CORING_BACKEND, else
 * io_uring if it sets up and its syscalls get through (uring.c probes
 * io_uring_enter/register too: some seccomp filters allow set-up and refuse
 * the rest), else epoll. A forced backend that fails fails the loop, with
 * the reason in cr_setup_error(); the choice and its reason go back to
 * cr_loop_new, which logs them in debug mode (CR_LOOP_DEBUG or
 * CORING_DEBUG=1) with the features the loop got.
 *
 * Any thread (set-up runs on the thread that calls cr_loop_new).
 */
#include "backend/backend.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* CR_BACKEND_* from the environment; -1 (and the error line) if unknown. */
static int backend_from_env(void)
{
    const char *v = getenv("CORING_BACKEND");
    if (!v || !*v || !strcmp(v, "auto"))
        return CR_BACKEND_AUTO;
    if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
        return CR_BACKEND_URING;
    if (!strcmp(v, "epoll"))
        return CR_BACKEND_EPOLL;
    cr__set_setup_error("CORING_BACKEND=%s: expected uring, epoll or auto", v);
    return -1;
}

int cr__be_init(cr__backend *b, const cr_loop_opts *opts, char *why, size_t whylen)
{
    memset(b, 0, sizeof *b);
    setup_error[0] = 0;
    int want = opts && opts->backend ? (int)opts->backend : backend_from_env();
    if (want < 0)
        return -EINVAL;
    if (want > CR_BACKEND_EPOLL) {
        cr__set_setup_error("cr_loop_opts.backend=%u: unknown backend", opts->backend);
        return -EINVAL;
    }
    const char *by = opts && opts->backend ? "cr_loop_opts.backend" : "CORING_BACKEND";
    const struct cr__backend_ops *ops = want == CR_BACKEND_EPOLL ? &cr__epoll_ops : &cr__uring_ops;
    int rc = ops->init(b, opts);
    if (rc == 0) {
        snprintf(why, whylen, "using %s (%s)", ops->name,
                 want == CR_BACKEND_AUTO ? "set-up and syscall probe worked" : by);
    } else if (want == CR_BACKEND_AUTO) {
        /* io_uring refused: say why, then the fallback. */
        snprintf(why, whylen, "%s: using epoll", setup_error);
        ops = &cr__epoll_ops;
        setup_error[0] = 0;
        memset(b, 0, sizeof *b);
        rc = ops->init(b, opts);
    }
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

