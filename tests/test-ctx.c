/* SPDX-License-Identifier: MIT */
/*
 * Description: the raw context switch (lib/ctx.h + lib/arch/<arch>.S), used
 * directly without a loop — first entry through cr__ctx_make, ping-pong with
 * transfer values, callee-saved registers preserved across a switch whose
 * other side trashes them, and the documented choice that the FP control word
 * (MXCSR) is thread-wide, not per context.
 */
#include "helpers.h"
#include "arch/ctx.h"
#include <stdint.h>
#include <sys/mman.h>

#define STACK (64 * 1024)

static char *stack_new(void)
{
    void *p = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

struct pp {
    void *main_sp, *co_sp;
    char *lo, *hi;
    void *arg_seen;
    int on_own_stack;
    uintptr_t entered;
};

static void echo_plus_one(void *arg)
{
    struct pp *p = arg;
    char local;
    p->arg_seen = arg;
    p->on_own_stack = &local >= p->lo && &local < p->hi;
    p->entered++;
    uintptr_t v = 100;
    for (;;)
        v = (uintptr_t)cr__ctx_switch(&p->co_sp, p->main_sp, (void *)(v + 1));
}

/* First switch enters fn(arg) on the new stack; each switch hands its transfer value across. */
Test(ctx, ping_pong_with_transfer_values)
{
    struct pp p = {0};
    p.lo = stack_new();
    p.hi = p.lo + STACK;
    p.co_sp = cr__ctx_make(p.hi, echo_plus_one, &p);
    cr_assert_eq(((uintptr_t)p.co_sp + CR_CTX_FRAME_WORDS * sizeof(void *)) % 16, 0,
                 "the frame ends on a 16-byte boundary");
    uintptr_t r = (uintptr_t)cr__ctx_switch(&p.main_sp, p.co_sp, NULL);
    cr_assert_eq(r, 101);
    cr_assert_eq(p.entered, 1);
    cr_assert_eq(p.arg_seen, &p);
    cr_assert(p.on_own_stack, "fn runs on the stack given to cr__ctx_make");
    for (uintptr_t i = 0; i < 10000; i++) {
        r = (uintptr_t)cr__ctx_switch(&p.main_sp, p.co_sp, (void *)i);
        cr_assert_eq(r, i + 1);
    }
    cr_assert_eq(p.entered, 1, "resumed, never re-entered");
    munmap(p.lo, STACK);
}

struct ring3 {
    void *sp[3];
    char log[16];
};

struct member {
    struct ring3 *r;
    int me;
};

static void ring_member(void *arg)
{
    struct member *m = arg;
    struct ring3 *r = m->r;
    for (;;) {
        r->log[strlen(r->log)] = (char)('0' + m->me);
        cr__ctx_switch(&r->sp[m->me], r->sp[(m->me + 1) % 3], NULL);
    }
}

/* Contexts switch among themselves, not only to and from main: 0 -> 1 -> 2 -> 0 ... */
Test(ctx, contexts_switch_among_themselves)
{
    struct ring3 r = {0};
    struct member m1 = {&r, 1}, m2 = {&r, 2};
    char *s1 = stack_new(), *s2 = stack_new();
    r.sp[1] = cr__ctx_make(s1 + STACK, ring_member, &m1);
    r.sp[2] = cr__ctx_make(s2 + STACK, ring_member, &m2);
    for (int round = 0; round < 3; round++) {
        r.log[strlen(r.log)] = '0';
        cr__ctx_switch(&r.sp[0], r.sp[1], NULL);
    }
    cr_assert_str_eq(r.log, "012012012");
    munmap(s1, STACK);
    munmap(s2, STACK);
}

#if defined(__x86_64__)
/*
 * probe(save, to, xfer, out[6]): sets rbx r12 r13 r14 r15 rbp to markers,
 * switches, and on return stores what those registers hold into out[].
 * scribble(save, to, xfer): sets the same registers to garbage and switches.
 * Both keep the real values of their caller's callee-saved registers.
 */
__asm__(".text\n"
        ".p2align 4\n"
        "ctx_test_probe:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    pushq %rcx\n" /* out; rsp is now 16-byte aligned for the call */
        "    movabsq $0x0b0b0b0b0b0b0b0b, %rbx\n"
        "    movabsq $0x1212121212121212, %r12\n"
        "    movabsq $0x1313131313131313, %r13\n"
        "    movabsq $0x1414141414141414, %r14\n"
        "    movabsq $0x1515151515151515, %r15\n"
        "    movabsq $0x0e0e0e0e0e0e0e0e, %rbp\n"
        "    call cr__ctx_switch\n"
        "    popq %rcx\n"
        "    movq %rbx, 0(%rcx)\n"
        "    movq %r12, 8(%rcx)\n"
        "    movq %r13, 16(%rcx)\n"
        "    movq %r14, 24(%rcx)\n"
        "    movq %r15, 32(%rcx)\n"
        "    movq %rbp, 40(%rcx)\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".p2align 4\n"
        "ctx_test_scribble:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    movq $-1, %rbx\n"
        "    movq $-2, %r12\n"
        "    movq $-3, %r13\n"
        "    movq $-4, %r14\n"
        "    movq $-5, %r15\n"
        "    movq $-6, %rbp\n"
        "    call cr__ctx_switch\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n");
void *ctx_test_probe(void **save, void *to, void *xfer, uint64_t out[6]);
void *ctx_test_scribble(void **save, void *to, void *xfer);

struct trash {
    void *main_sp, *co_sp;
};

static void trasher(void *arg)
{
    struct trash *t = arg;
    for (;;)
        ctx_test_scribble(&t->co_sp, t->main_sp, (void *)0x5a);
}

/* rbx, rbp, r12-r15 come back intact although the other context set them all to garbage. */
Test(ctx, callee_saved_registers_preserved)
{
    struct trash t = {0};
    char *s = stack_new();
    t.co_sp = cr__ctx_make(s + STACK, trasher, &t);
    for (int round = 0; round < 3; round++) {
        uint64_t out[6] = {0};
        void *r = ctx_test_probe(&t.main_sp, t.co_sp, NULL, out);
        cr_assert_eq(r, (void *)0x5a);
        cr_assert_eq(out[0], 0x0b0b0b0b0b0b0b0bull, "rbx");
        cr_assert_eq(out[1], 0x1212121212121212ull, "r12");
        cr_assert_eq(out[2], 0x1313131313131313ull, "r13");
        cr_assert_eq(out[3], 0x1414141414141414ull, "r14");
        cr_assert_eq(out[4], 0x1515151515151515ull, "r15");
        cr_assert_eq(out[5], 0x0e0e0e0e0e0e0e0eull, "rbp");
    }
    munmap(s, STACK);
}

struct fp {
    void *main_sp, *co_sp;
    unsigned seen;
};

static unsigned get_mxcsr(void)
{
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static void set_mxcsr(unsigned v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }

static void fp_changer(void *arg)
{
    struct fp *f = arg;
    f->seen = get_mxcsr();
    set_mxcsr((f->seen & ~0x6000u) | 0x6000u); /* round toward zero */
    cr__ctx_switch(&f->co_sp, f->main_sp, NULL);
    for (;;)
        cr__ctx_switch(&f->co_sp, f->main_sp, NULL);
}

/* MXCSR is thread-wide (ctx.h): a new context inherits it and a change made in one is seen by the other. */
Test(ctx, mxcsr_is_thread_wide)
{
    unsigned before = get_mxcsr();
    struct fp f = {0};
    char *s = stack_new();
    f.co_sp = cr__ctx_make(s + STACK, fp_changer, &f);
    cr__ctx_switch(&f.main_sp, f.co_sp, NULL);
    cr_assert_eq(f.seen, before, "the new context inherited the thread's MXCSR");
    cr_assert_eq(get_mxcsr() & 0x6000u, 0x6000u, "the change is not undone by the switch");
    set_mxcsr(before);
    munmap(s, STACK);
}
#endif
