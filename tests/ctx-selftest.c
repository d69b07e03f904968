/* SPDX-License-Identifier: MIT */
/*
 * ctx-selftest.c — standalone check of the per-arch context switch
 * (lib/arch/<arch>.S against lib/ctx.h). Plain C and libc only, so it can be
 * cross-built and run under qemu-user:
 *
 *   gcc -O2 -Wall -Wextra -Werror tests/ctx-selftest.c lib/arch/x86_64-sysv.S
 *   aarch64-linux-gnu-gcc -O2 -static -mbranch-protection=standard \
 *       tests/ctx-selftest.c lib/arch/aarch64-aapcs64.S
 *
 * Prints "ctx-selftest: N passed, M failed" and exits non-zero on failure.
 */
#include "../lib/arch/ctx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE (64 * 1024)
#define ROUNDS 1000

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "ctx-selftest: %s:%d: check failed: %s\n",         \
                    __func__, __LINE__, #cond);                                \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Hides a value from the optimiser, so alignment of an object whose type says
 * "16-aligned" is really tested instead of folded to a constant. */
static inline uintptr_t opaque(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("" : "+r"(v));
    return v;
}

static inline uintptr_t current_sp(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    return sp;
}

/* Overwrites every callee-saved register the compiler lets us name, so that
 * whatever the other context kept in them must come back from its frame. */
static __attribute__((noinline)) void scribble(void)
{
#if defined(__x86_64__)
    __asm__ volatile("movq $-1, %%rbx\n\t"
                     "movq $-2, %%r12\n\t"
                     "movq $-3, %%r13\n\t"
                     "movq $-4, %%r14\n\t"
                     "movq $-5, %%r15\n\t"
                     :
                     :
                     : "rbx", "r12", "r13", "r14", "r15");
#elif defined(__aarch64__)
    __asm__ volatile("mov x19, #-1\n\t"
                     "mov x20, #-2\n\t"
                     "mov x21, #-3\n\t"
                     "mov x22, #-4\n\t"
                     "mov x23, #-5\n\t"
                     "mov x24, #-6\n\t"
                     "mov x25, #-7\n\t"
                     "mov x26, #-8\n\t"
                     "mov x27, #-9\n\t"
                     "mov x28, #-10\n\t"
                     "fmov d8, #-1.0\n\t"
                     "fmov d9, #-2.0\n\t"
                     "fmov d10, #-3.0\n\t"
                     "fmov d11, #-4.0\n\t"
                     "fmov d12, #-5.0\n\t"
                     "fmov d13, #-6.0\n\t"
                     "fmov d14, #-7.0\n\t"
                     "fmov d15, #-8.0\n\t"
                     :
                     :
                     : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
                       "x27", "x28", "v8", "v9", "v10", "v11", "v12", "v13",
                       "v14", "v15");
#endif
}

/* ---- 1. cr__ctx_make lays out the frame ctx.h describes ---------------- */

static void never_run(void *arg) { (void)arg; abort(); }

static void test_make_layout(void)
{
    void **stack = malloc(STACK_SIZE);
    CHECK(stack != NULL);
    if (!stack)
        return;
    char *hi = (char *)stack + STACK_SIZE - 8; /* deliberately misaligned top */
    int arg;
    void **sp = cr__ctx_make(hi, never_run, &arg);
    uintptr_t top = (uintptr_t)sp + CR_CTX_FRAME_WORDS * sizeof(void *);

    CHECK(top % 16 == 0);
    CHECK(top <= (uintptr_t)hi && (uintptr_t)hi - top < 16);
    CHECK(sp[CR_CTX_FN_SLOT] == (void *)never_run);
    CHECK(sp[CR_CTX_ARG_SLOT] == (void *)&arg);
    CHECK(sp[CR_CTX_PC_SLOT] == (void *)cr__ctx_entry);
    CHECK(CR_CTX_FN_SLOT != CR_CTX_ARG_SLOT && CR_CTX_FN_SLOT != CR_CTX_PC_SLOT &&
          CR_CTX_ARG_SLOT != CR_CTX_PC_SLOT);
#if defined(__aarch64__)
    /* AArch64's sp must be 16-aligned at all times, so the saved sp too. */
    CHECK((uintptr_t)sp % 16 == 0);
    CHECK(CR_CTX_FRAME_WORDS == 22 && CR_CTX_FN_SLOT == 8 &&
          CR_CTX_ARG_SLOT == 9 && CR_CTX_PC_SLOT == 19);
#endif
    for (int i = 0; i < CR_CTX_FRAME_WORDS; i++)
        if (i != CR_CTX_FN_SLOT && i != CR_CTX_ARG_SLOT && i != CR_CTX_PC_SLOT)
            CHECK(sp[i] == NULL);
    free(stack);
}

/* ---- 2. first entry, ping-pong, values live across switches ----------- */

struct pingpong {
    void *main_sp, *co_sp;
    char *stack_lo, *stack_hi;
    int entered;
    int bad_stack, bad_align, bad_transfer, bad_locals;
    char fmt[64];
};

#define DONE ((void *)(uintptr_t)0xd0e)

static void pingpong_fn(void *arg)
{
    struct pingpong *pp = arg;
    pp->entered++;

    /* Running on our stack, 16-aligned as the ABI requires at a call. */
    char probe[32] __attribute__((aligned(16)));
    uintptr_t p = opaque(probe), sp = current_sp();
    if (p < (uintptr_t)pp->stack_lo || p >= (uintptr_t)pp->stack_hi ||
        sp < (uintptr_t)pp->stack_lo || sp >= (uintptr_t)pp->stack_hi)
        pp->bad_stack++;
    if (p % 16 || opaque(__builtin_frame_address(0)) % 16 || sp % 16)
        pp->bad_align++;
    /* Variadic call with doubles: on x86-64 the callee spills xmm with movaps
     * to its stack, which faults on a misaligned stack. */
    snprintf(pp->fmt, sizeof pp->fmt, "%.3f %.1f", 1.0 / 3.0, 2.5);

    /* Live values of our own, held across every switch. */
    uint64_t a = 0x1111, b = 0x2222, c = 0x3333, d = 0x4444, e = 0x5555,
             f = 0x6666, g = 0x7777, h = 0x8888, k = 0x9999, m = 0xaaaa;
    double x = 1.5, y = 2.25, z = -3.0, w = 0.125, u = 10.0, v = -0.5,
           q = 7.0, r = 0.75;

    for (uintptr_t j = 0; j < ROUNDS; j++) {
        scribble();
        void *t = cr__ctx_switch(&pp->co_sp, pp->main_sp, (void *)(2 * j));
        if (t != (void *)(2 * j + 1))
            pp->bad_transfer++;
        a = a * 3 + j; b ^= a; c += b >> 3; d = d * 5 + c; e -= d;
        f += e ^ j; g = g * 7 + f; h ^= g << 1; k += h; m = m * 9 + k;
        x = x * 0.5 + 1.0; y += x; z = z * 0.25 - y; w += z * 0.5;
        u = u * 0.75 + w; v -= u * 0.125; q += v; r = r * 0.5 + q;
    }

    /* Same arithmetic without switches: results must agree. */
    uint64_t A = 0x1111, B = 0x2222, C = 0x3333, D = 0x4444, E = 0x5555,
             F = 0x6666, G = 0x7777, H = 0x8888, K = 0x9999, M = 0xaaaa;
    double X = 1.5, Y = 2.25, Z = -3.0, W = 0.125, U = 10.0, V = -0.5,
           Q = 7.0, R = 0.75;
    for (uintptr_t j = 0; j < ROUNDS; j++) {
        __asm__ volatile("" ::: "memory");
        A = A * 3 + j; B ^= A; C += B >> 3; D = D * 5 + C; E -= D;
        F += E ^ j; G = G * 7 + F; H ^= G << 1; K += H; M = M * 9 + K;
        X = X * 0.5 + 1.0; Y += X; Z = Z * 0.25 - Y; W += Z * 0.5;
        U = U * 0.75 + W; V -= U * 0.125; Q += V; R = R * 0.5 + Q;
    }
    if (a != A || b != B || c != C || d != D || e != E || f != F || g != G ||
        h != H || k != K || m != M || x != X || y != Y || z != Z || w != W ||
        u != U || v != V || q != Q || r != R)
        pp->bad_locals++;

    scribble();
    cr__ctx_switch(&pp->co_sp, pp->main_sp, DONE);
    abort(); /* never resumed */
}

static void test_pingpong(void)
{
    struct pingpong pp;
    memset(&pp, 0, sizeof pp);
    pp.stack_lo = malloc(STACK_SIZE);
    CHECK(pp.stack_lo != NULL);
    if (!pp.stack_lo)
        return;
    pp.stack_hi = pp.stack_lo + STACK_SIZE;
    pp.co_sp = cr__ctx_make(pp.stack_hi, pingpong_fn, &pp);

    /* Live values of main's, across every switch. */
    volatile uint64_t seed = 12345;
    uint64_t a = seed, b = seed * 2, c = seed * 3, d = seed * 4, e = seed * 5,
             f = seed * 6, g = seed * 7, h = seed * 8;
    double x = (double)seed, y = x / 3, z = x * 1.5, w = -x, u = x / 7,
           v = x * x, q = 0.5, r = 0.25;
    int bad_transfer = 0;

    /* The first switch starts the coroutine: its transfer value is dropped
     * (x0/rdi carry arg instead), it answers 0. */
    void *t = cr__ctx_switch(&pp.main_sp, pp.co_sp, (void *)0xbad);
    for (uintptr_t j = 0; j < ROUNDS; j++) {
        if (t != (void *)(2 * j))
            bad_transfer++;
        a += j; b ^= a; c = c * 3 + b; d -= c; e += d >> 2; f ^= e;
        g = g * 5 + f; h += g;
        x += 1.0; y = y * 0.5 + x; z -= y; w = w * 0.25 + z; u += w;
        v = v * 0.5 + u; q += v * 0.125; r = r * 0.5 + q;
        scribble();
        t = cr__ctx_switch(&pp.main_sp, pp.co_sp, (void *)(2 * j + 1));
    }
    CHECK(t == DONE);
    CHECK(bad_transfer == 0);

    uint64_t A = seed, B = seed * 2, C = seed * 3, D = seed * 4, E = seed * 5,
             F = seed * 6, G = seed * 7, H = seed * 8;
    double X = (double)seed, Y = X / 3, Z = X * 1.5, W = -X, U = X / 7,
           V = X * X, Q = 0.5, R = 0.25;
    for (uintptr_t j = 0; j < ROUNDS; j++) {
        __asm__ volatile("" ::: "memory");
        A += j; B ^= A; C = C * 3 + B; D -= C; E += D >> 2; F ^= E;
        G = G * 5 + F; H += G;
        X += 1.0; Y = Y * 0.5 + X; Z -= Y; W = W * 0.25 + Z; U += W;
        V = V * 0.5 + U; Q += V * 0.125; R = R * 0.5 + Q;
    }
    CHECK(a == A && b == B && c == C && d == D && e == E && f == F &&
          g == G && h == H);
    CHECK(x == X && y == Y && z == Z && w == W && u == U && v == V &&
          q == Q && r == R);

    CHECK(pp.entered == 1);
    CHECK(pp.bad_stack == 0);
    CHECK(pp.bad_align == 0);
    CHECK(strcmp(pp.fmt, "0.333 2.5") == 0);
    CHECK(pp.bad_transfer == 0);
    CHECK(pp.bad_locals == 0);
    free(pp.stack_lo);
}

/* ---- 3. a ring of coroutines switching straight to each other ---------- */

#define RING 3
#define LAPS 100

struct ring {
    void *main_sp;
    void *sp[RING];
    int id[RING];
    int next_expected[RING];
    int bad;
};
static struct ring ring;

static void ring_fn(void *arg)
{
    int me = *(int *)arg;
    uintptr_t token = (uintptr_t)cr__ctx_switch(&ring.sp[me], ring.main_sp, 0);
    for (;;) {
        if ((int)(token % RING) != me || (int)(token / RING) != ring.next_expected[me])
            ring.bad++;
        ring.next_expected[me]++;
        token++;
        int to = (me + 1) % RING;
        void *target = token >= RING * LAPS ? ring.main_sp : ring.sp[to];
        token = (uintptr_t)cr__ctx_switch(&ring.sp[me], target, (void *)token);
    }
}

static void test_ring(void)
{
    char *stacks[RING];
    memset(&ring, 0, sizeof ring);
    for (int i = 0; i < RING; i++) {
        stacks[i] = malloc(STACK_SIZE);
        CHECK(stacks[i] != NULL);
        if (!stacks[i])
            return;
        ring.id[i] = i;
        ring.sp[i] = cr__ctx_make(stacks[i] + STACK_SIZE, ring_fn, &ring.id[i]);
        /* Start each one; it parks itself right away. */
        CHECK(cr__ctx_switch(&ring.main_sp, ring.sp[i], 0) == NULL);
    }
    void *t = cr__ctx_switch(&ring.main_sp, ring.sp[0], (void *)0);
    CHECK(t == (void *)(uintptr_t)(RING * LAPS));
    CHECK(ring.bad == 0);
    for (int i = 0; i < RING; i++) {
        CHECK(ring.next_expected[i] == LAPS);
        free(stacks[i]);
    }
}

/* ---- 4. exact register check, independent of the compiler's choices ----
 * Both sides load known values into every callee-saved register (frame
 * pointer included), switch, and read them back after being resumed: each
 * side's values sit in the registers while the other side runs, so anything
 * the switch fails to save or restore shows up as a mismatch. */

#if defined(__aarch64__)
#define RC_REGS 19 /* x19-x28, x29, d8-d15 */
#elif defined(__x86_64__)
#define RC_REGS 6 /* rbx r12 r13 r14 r15 rbp */
#endif

struct regcheck {
    void **save_sp;
    void *to_sp;
    void *transfer;
    void *result;
    uint64_t in[RC_REGS];
    uint64_t out[RC_REGS];
};
_Static_assert(offsetof(struct regcheck, in) == 32, "asm offsets");
_Static_assert(offsetof(struct regcheck, out) == 32 + 8 * RC_REGS, "asm offsets");

#if defined(__aarch64__)
/* The struct pointer and the real x29 ride on the stack across the call
 * (a 16-byte push keeps sp aligned). x29 is handled by hand because the
 * compiler may not let us list it as clobbered. */
static __attribute__((noinline)) void regcheck_switch(struct regcheck *rc)
{
    register struct regcheck *p __asm__("x0") = rc;
    __asm__ volatile(
        "stp    x0, x29, [sp, #-16]!\n\t"
        "ldp    x19, x20, [x0, #32]\n\t"
        "ldp    x21, x22, [x0, #48]\n\t"
        "ldp    x23, x24, [x0, #64]\n\t"
        "ldp    x25, x26, [x0, #80]\n\t"
        "ldp    x27, x28, [x0, #96]\n\t"
        "ldr    x29, [x0, #112]\n\t"
        "ldp    d8,  d9,  [x0, #120]\n\t"
        "ldp    d10, d11, [x0, #136]\n\t"
        "ldp    d12, d13, [x0, #152]\n\t"
        "ldp    d14, d15, [x0, #168]\n\t"
        "ldp    x1, x2, [x0, #8]\n\t"
        "ldr    x0, [x0, #0]\n\t"
        "bl     cr__ctx_switch\n\t"
        "ldr    x9, [sp]\n\t"
        "str    x0, [x9, #24]\n\t"
        "stp    x19, x20, [x9, #184]\n\t"
        "stp    x21, x22, [x9, #200]\n\t"
        "stp    x23, x24, [x9, #216]\n\t"
        "stp    x25, x26, [x9, #232]\n\t"
        "stp    x27, x28, [x9, #248]\n\t"
        "str    x29, [x9, #264]\n\t"
        "stp    d8,  d9,  [x9, #272]\n\t"
        "stp    d10, d11, [x9, #288]\n\t"
        "stp    d12, d13, [x9, #304]\n\t"
        "stp    d14, d15, [x9, #320]\n\t"
        "ldr    x29, [sp, #8]\n\t"
        "add    sp, sp, #16\n\t"
        : "+r"(p)
        :
        : "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
          "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x20",
          "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30",
          "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",
          "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",
          "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
          "v29", "v30", "v31", "cc", "memory");
}
#elif defined(__x86_64__)
/* Steps over the red zone and realigns rsp before the call; the old rsp, the
 * real rbp and the struct pointer ride on the stack. */
static __attribute__((noinline)) void regcheck_switch(struct regcheck *rc)
{
    __asm__ volatile(
        "movq   %%rsp, %%rax\n\t"
        "leaq   -128(%%rsp), %%rsp\n\t"
        "andq   $-16, %%rsp\n\t"
        "pushq  %%rax\n\t"
        "pushq  %%rbp\n\t"
        "pushq  %%rdi\n\t"
        "pushq  %%rdi\n\t"
        "movq   32(%%rdi), %%rbx\n\t"
        "movq   40(%%rdi), %%r12\n\t"
        "movq   48(%%rdi), %%r13\n\t"
        "movq   56(%%rdi), %%r14\n\t"
        "movq   64(%%rdi), %%r15\n\t"
        "movq   72(%%rdi), %%rbp\n\t"
        "movq   16(%%rdi), %%rdx\n\t"
        "movq   8(%%rdi), %%rsi\n\t"
        "movq   0(%%rdi), %%rdi\n\t"
        "call   cr__ctx_switch\n\t"
        "movq   (%%rsp), %%rcx\n\t"
        "movq   %%rax, 24(%%rcx)\n\t"
        "movq   %%rbx, 80(%%rcx)\n\t"
        "movq   %%r12, 88(%%rcx)\n\t"
        "movq   %%r13, 96(%%rcx)\n\t"
        "movq   %%r14, 104(%%rcx)\n\t"
        "movq   %%r15, 112(%%rcx)\n\t"
        "movq   %%rbp, 120(%%rcx)\n\t"
        "addq   $16, %%rsp\n\t"
        "popq   %%rbp\n\t"
        "popq   %%rsp\n\t"
        : "+D"(rc)
        :
        : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "rbx", "r12",
          "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)",
          "st(6)", "st(7)", "cc", "memory");
}
#endif

#define RC_ROUNDS 8

static void *rc_co_sp, *rc_main_sp;
static int rc_co_bad, rc_co_rounds;

static void regcheck_run(struct regcheck *rc, void **save_sp, void *to_sp,
                         uintptr_t transfer, uint64_t pattern)
{
    memset(rc, 0, sizeof *rc);
    rc->save_sp = save_sp;
    rc->to_sp = to_sp;
    rc->transfer = (void *)transfer;
    for (int i = 0; i < RC_REGS; i++)
        rc->in[i] = pattern * (uint64_t)(i + 1) ^ (uint64_t)i << 56;
    regcheck_switch(rc);
}

static int regcheck_mismatches(const struct regcheck *rc, const char *who)
{
    int bad = 0;
    for (int i = 0; i < RC_REGS; i++)
        if (rc->out[i] != rc->in[i]) {
            fprintf(stderr, "ctx-selftest: %s: callee-saved #%d: %#llx != %#llx\n",
                    who, i, (unsigned long long)rc->out[i],
                    (unsigned long long)rc->in[i]);
            bad++;
        }
    return bad;
}

static void regcheck_fn(void *arg)
{
    (void)arg;
    struct regcheck rc;
    for (uintptr_t r = 0;; r++) {
        /* Hands 0x200+r to main; main answers 0x100+r+1. */
        regcheck_run(&rc, &rc_co_sp, rc_main_sp, 0x200 + r,
                     0xfedcba9876543210ull + r);
        if (rc.result != (void *)(0x100 + r + 1))
            rc_co_bad++;
        rc_co_bad += regcheck_mismatches(&rc, "coroutine");
        rc_co_rounds++;
    }
}

static void test_regcheck(void)
{
    char *stack = malloc(STACK_SIZE);
    CHECK(stack != NULL);
    if (!stack)
        return;
    rc_co_bad = rc_co_rounds = 0;
    rc_co_sp = cr__ctx_make(stack + STACK_SIZE, regcheck_fn, NULL);
    CHECK(cr__ctx_switch(&rc_main_sp, rc_co_sp, NULL) == (void *)0x200);

    struct regcheck rc;
    for (uintptr_t r = 1; r <= RC_ROUNDS; r++) {
        regcheck_run(&rc, &rc_main_sp, rc_co_sp, 0x100 + r,
                     0x0123456789abcdefull + r);
        CHECK(rc.result == (void *)(0x200 + r));
        failures += regcheck_mismatches(&rc, "main");
    }
    CHECK(rc_co_rounds == RC_ROUNDS);
    CHECK(rc_co_bad == 0);
    free(stack);
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"make_layout", test_make_layout},
        {"pingpong", test_pingpong},
        {"ring", test_ring},
        {"regcheck", test_regcheck},
    };
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        tests[i].fn();
        if (failures == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "ctx-selftest: FAIL %s\n", tests[i].name);
        }
    }
    printf("ctx-selftest: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
