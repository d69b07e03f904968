/* SPDX-License-Identifier: MIT */
/*
 * san.h — telling ASan and TSan about our stack switches.
 *
 * Both sanitizers track "the current stack". Without these annotations ASan
 * reports false overflows on reused coroutine stacks (stale redzones) and
 * TSan mixes up the happens-before state of different tasks. Every switch
 * between the loop and a task goes through these four calls, and every
 * stack handed out or taken back through the last three; in a normal build
 * they compile to nothing.
 */
#ifndef CORING_SAN_H
#define CORING_SAN_H

#include "core/internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define CR_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CR_TSAN 1
#endif

#ifdef CR_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
void __asan_poison_memory_region(void const volatile *addr, size_t size);
#endif
#ifdef CR_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* On the loop's stack, about to resume t. */
static inline void cr__san_enter_task(cr_loop *l, cr__task *t)
{
    (void)l;
    (void)t;
#ifdef CR_ASAN
    __sanitizer_start_switch_fiber(&l->san_fake, t->stack.lo, t->stack.size);
#endif
#ifdef CR_TSAN
    if (!t->san_fiber)
        t->san_fiber = __tsan_create_fiber(0);
    l->san_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(t->san_fiber, 0);
#endif
}

/* Back on the loop's stack after a task switched out. */
static inline void cr__san_back_in_loop(cr_loop *l, cr__task *t)
{
    (void)l;
    (void)t;
#ifdef CR_ASAN
    __sanitizer_finish_switch_fiber(l->san_fake, NULL, NULL);
#endif
#ifdef CR_TSAN
    if (t->state == CR__T_DONE && t->san_fiber) {
        __tsan_destroy_fiber(t->san_fiber);
        t->san_fiber = NULL;
    }
#endif
}

/* First thing on the task's stack after a switch in. */
static inline void cr__san_in_task(cr_loop *l, cr__task *t)
{
    (void)l;
    (void)t;
#ifdef CR_ASAN
    __sanitizer_finish_switch_fiber(t->san_fake, &l->san_stack_lo, &l->san_stack_size);
#endif
}

/* On the task's stack, about to switch to the loop (for good if done). */
static inline void cr__san_leave_task(cr_loop *l, cr__task *t, bool done)
{
    (void)l;
    (void)t;
    (void)done;
#ifdef CR_ASAN
    __sanitizer_start_switch_fiber(done ? NULL : &t->san_fake, l->san_stack_lo,
                                   l->san_stack_size);
#endif
#ifdef CR_TSAN
    __tsan_switch_to_fiber(l->san_fiber, 0);
#endif
}

/* Memory leaves our hands (an unmapped stack or slab): forget its redzones. */
static inline void cr__san_stack_reset(void *lo, size_t size)
{
    (void)lo;
    (void)size;
#ifdef CR_ASAN
    __asan_unpoison_memory_region(lo, size);
#endif
}

/* A stack is handed to a new task: forget the redzones of frames that died
 * in it and the poison its last put laid. */
static inline void cr__san_stack_get(void *lo, size_t size) { cr__san_stack_reset(lo, size); }

/* A stack goes back to the pool. The task struct lived at its top, so ASan
 * poisons the whole stack: a use of a task after its last unref is reported
 * (there is no heap free to catch it any more). */
static inline void cr__san_stack_put(void *lo, size_t size)
{
    (void)lo;
    (void)size;
#ifdef CR_ASAN
    __asan_poison_memory_region(lo, size);
#endif
}

#endif
