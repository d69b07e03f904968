/* SPDX-License-Identifier: MIT */
/*
 * internal.h — the core in one include: every module of lib/core/ (common
 * rules, handles, timers, futures, stacks, tasks, debug, the loop). Files
 * outside core include this plus the headers of the other modules they use
 * (thread/inbox.h, os/signal.h, io/io.h, ...).
 */
#ifndef CORING_INTERNAL_H
#define CORING_INTERNAL_H

#include "core/common.h"
#include "core/handle.h"
#include "core/timer.h"
#include "core/future.h"
#include "core/stack.h"
#include "core/task.h"
#include "core/debug.h"
#include "core/loop.h"

#endif
