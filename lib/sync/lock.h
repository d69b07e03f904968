/* SPDX-License-Identifier: MIT */
/*
 * lock.h — struct cr_lock, shared by lock.c (which owns it) and
 * condition.c (which reads whether it is held and has waiters).
 * Loop thread only.
 */
#ifndef CORING_SYNC_LOCK_H
#define CORING_SYNC_LOCK_H

#include "sync/waitq.h"

struct cr_lock {
    bool locked;
    cr__waitq waiters; /* FIFO; waitq.h's hand-off protocol */
};

#endif
