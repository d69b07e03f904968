/* SPDX-License-Identifier: MIT */
/*
 * debug.h — debug mode (debug.c): slow-task warnings, errors nobody
 * retrieved, task dumps, loop statistics. Loop thread only.
 */
#ifndef CORING_CORE_DEBUG_H
#define CORING_CORE_DEBUG_H

#include "core/common.h"

/* The loop's debug mode (debug.c owns every field). */
struct cr__debug_state {
    bool debug;
    int64_t slow_ns;            /* warn when a task runs longer */
    cr_debug_fn debug_fn;       /* NULL: stderr */
    void *debug_arg;
    cr_exception_handler exc_fn; /* NULL: cr_loop_default_exception_handler */
    void *exc_arg;
    bool lean_bind_told;         /* the lazy-binding line was logged (once per loop) */
};

CR_HIDDEN void cr__debug_init(cr_loop *l, const cr_loop_opts *opts);
CR_HIDDEN void cr__debug_log(cr_loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0, -EINVAL (NULL) or -EPERM (another thread owns l): introspection calls. */
CR_HIDDEN int cr__loop_owner_ok(cr_loop *l);
/* Debug mode, at a loop's first lean task: one line naming a loaded object
 * that binds its functions lazily (bindcheck.c), if there is one. */
CR_HIDDEN void cr__debug_lean_binding(cr_loop *l);

#endif
