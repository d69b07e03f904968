/*
 * backend.c — choosing a loop's backend and saying why set-up failed.
 *
 * Owns: the thread's set-up error line (cr_setup_error), and the choice of
 * backend for a new loop: cr_loop_opts.backend, else CORING_BACKEND, else
 * io_uring if it sets up and its syscalls get through (uring.c probes
 * io_uring_enter/register too: some seccomp filters allow set-up and refuse
 * the rest), else epoll. A forced backend that fails fails the loop, with
 * the reason in cr_setup_error(); an automatic fallback says why in one
 * debug line (CR_LOOP_DEBUG or CORING_DEBUG=1).
 *
 * Any thread (set-up runs on the thread that calls cr_loop_new).
 */
#include "core/internal.h"
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

/* debug.c's rule, read before the loop has its debug settings. */
static bool debug_wanted(const cr_loop_opts *opts)
{
    const char *env = getenv("CORING_DEBUG");
    return (opts && (opts->flags & CR_LOOP_DEBUG)) || (env && !strcmp(env, "1"));
}

int cr__be_init(cr__backend *b, const cr_loop_opts *opts)
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
    char why[300];
    const struct cr__backend_ops *ops = want == CR_BACKEND_EPOLL ? &cr__epoll_ops : &cr__uring_ops;
    int rc = ops->init(b, opts);
    if (rc == 0) {
        snprintf(why, sizeof why, "using %s (%s)", ops->name,
                 want == CR_BACKEND_AUTO ? "set-up and syscall probe worked" : by);
    } else if (want == CR_BACKEND_AUTO) {
        /* io_uring refused: say why, then the fallback. */
        snprintf(why, sizeof why, "%s: using epoll", setup_error);
        ops = &cr__epoll_ops;
        setup_error[0] = 0;
        memset(b, 0, sizeof *b);
        rc = ops->init(b, opts);
    }
    if (rc < 0)
        return rc;
    b->ops = ops;
    if (debug_wanted(opts)) {
        /* b is the loop's own (loop.c embeds it): its debug channel, which
         * has no handler yet, so this line goes to stderr. */
        cr__debug_log(CR_CONTAINER_OF(b, cr_loop, be), "backend: %s", why);
    }
    return 0;
}

void cr__be_exit(cr__backend *b)
{
    if (b->ops && b->impl)
        b->ops->exit(b);
}

const char *cr_loop_backend(const cr_loop *loop) { return loop ? cr__be_name(&loop->be) : NULL; }
