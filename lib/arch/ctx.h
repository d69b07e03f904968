/* SPDX-License-Identifier: MIT */
/*
 * ctx.h — the machine context of a coroutine, shared by C and the per-arch
 * assembly in lib/arch/.
 *
 * A suspended coroutine is just a stack pointer: everything the ABI says a
 * callee must preserve is pushed on its own stack by cr__ctx_switch, and the
 * resume address sits above it. The frame layouts are drawn at the top of each
 * .S file; the numbers below must match them (checked by static_assert in
 * stack.c, and by tests/test-ctx.c at run time).
 *
 * Floating-point control state (x86-64 MXCSR and x87 control word, AArch64
 * FPCR) is NOT saved per switch: it is treated as thread-wide state, like the C
 * floating-point environment. A task that changes rounding modes must restore
 * them before it suspends. New contexts inherit whatever the thread has.
 */
#ifndef CORING_CTX_H
#define CORING_CTX_H

#include <stddef.h>

#if defined(__x86_64__)
/* r15 r14 r13 r12 rbx rbp rip */
#define CR_CTX_FRAME_WORDS 7
#define CR_CTX_FN_SLOT 3  /* r12: entry function */
#define CR_CTX_ARG_SLOT 2 /* r13: its argument */
#define CR_CTX_PC_SLOT 6  /* rip */
#elif defined(__aarch64__)
/* d8-d15 x19-x28 x29 x30 + pad: see lib/arch/aarch64-aapcs64.S */
#define CR_CTX_FRAME_WORDS 22
#define CR_CTX_FN_SLOT 8  /* x19 */
#define CR_CTX_ARG_SLOT 9 /* x20 */
#define CR_CTX_PC_SLOT 19 /* x30 (lr) */
#else
#error "coring: no context switch for this architecture"
#endif

/* Saves the callee-saved registers on the current stack, stores the stack
 * pointer in *save_sp, switches to to_sp and resumes there. The value returned
 * in the resumed context is `transfer`. */
void *cr__ctx_switch(void **save_sp, void *to_sp, void *transfer)
    __attribute__((visibility("hidden")));

/* First code run on a new context: calls fn(arg) taken from the frame. fn must
 * never return (it switches away for the last time instead). */
void cr__ctx_entry(void) __attribute__((visibility("hidden")));

/* Lays out an initial frame at the top of [stack_lo, stack_hi) so that the first
 * cr__ctx_switch to the returned sp calls fn(arg) on a 16-byte aligned stack. */
static inline void *cr__ctx_make(void *stack_hi, void (*fn)(void *), void *arg)
{
    unsigned long top = (unsigned long)stack_hi & ~15ul;
    /* Once the frame is popped the sp is `top`, 16-byte aligned: x86-64's
     * cr__ctx_entry then `call`s fn as the ABI wants; AArch64's sp must be
     * aligned at all times (its frame is an even number of words). */
    void **sp = (void **)(top - CR_CTX_FRAME_WORDS * sizeof(void *));
    for (int i = 0; i < CR_CTX_FRAME_WORDS; i++)
        sp[i] = 0;
    sp[CR_CTX_FN_SLOT] = (void *)fn;
    sp[CR_CTX_ARG_SLOT] = arg;
    sp[CR_CTX_PC_SLOT] = (void *)cr__ctx_entry;
    return sp;
}

#endif
