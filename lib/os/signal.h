/* SPDX-License-Identifier: MIT */
/*
 * signal.h — what cr_run (core/run.c) asks of the signal module: its SIGINT
 * policy (first: cancel main; second: stop at once). Loop thread only.
 */
#ifndef CORING_OS_SIGNAL_H
#define CORING_OS_SIGNAL_H

#include "core/loop.h"

/* cr_run's SIGINT handling: start before the main task runs, stop after. */
CR_HIDDEN int cr__sigint_start(cr_loop *l, cr_task *main_task);
CR_HIDDEN bool cr__sigint_stop(cr_loop *l); /* true if a second SIGINT stopped the loop */
/* Restores SIGINT; returns -EINTR if SIGINT ended the run, else rc. */
CR_HIDDEN int cr__sigint_end(cr_loop *l, int rc);

#endif
