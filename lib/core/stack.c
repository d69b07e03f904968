/* SPDX-License-Identifier: MIT */
/*
 * stack.c — coroutine stacks: size classes carved from pooled slabs,
 * guarded, populated in bulk, trimmed when idle. docs/memory.md draws the
 * pages.
 *
 * Layout of one guarded stack (addresses grow up):
 *
 *     [ guard ][ usable stack, size bytes ................ ]
 *              ^lo                                        ^hi
 *
 * A lean task's struct lives at the top of its own slot (task.c), so a lean
 * task costs a quarter page and nothing else.
 *
 * Classes (index = CR_STACK_*): 0 is the loop's stack_size (64 KiB unless
 * set); 8K, 16K and 64K are guarded stacks of those sizes; LEAN is a 1 KiB
 * slot with no guard, four to a page, whose overflow is caught by a canary at
 * lo that task.c checks at every park and resume. Every class carves its
 * stacks from 4 MiB slabs (one mmap each). Guards are installed with
 * MADV_GUARD_INSTALL (Linux 6.13+), which costs no VMA, so a slab stays one
 * mapping and a million stacks fit under the default vm.max_map_count. Older
 * kernels fall back to mprotect(PROT_NONE) (two VMAs a stack). An explicit
 * cr_task_opts.stack_size that matches no class gets a mapping of its own.
 *
 * First touch is dear (~10-30 µs a page on the VMs we measure on; see
 * /work/shared/BENCHMARKING.md): a slab's slots are handed out in address
 * order (a bump index), and when the index passes the populated ones, the top
 * pages of the next `batch` slots are populated in one call
 * (process_madvise(MADV_POPULATE_WRITE) over an iovec of top pages; one
 * madvise over the range for the lean class, whose slots are contiguous).
 * `batch` doubles while a burst lasts (4 → 64 slots; 16 → 1024 lean), so a
 * loop that makes one task populates little and a burst of a million pays a
 * syscall per 64 stacks instead of a fault per stack. The populated slots not
 * yet handed out are the warm reserve.
 *
 * Freed stacks go on their class's free list (LIFO: the warmest first).
 * Putting one back costs no syscall: every ~100 ms the loop calls
 * cr__stack_trim, which drops the pages (MADV_DONTNEED) of the free stacks
 * beyond `stack_cache` that sat unused for that whole period, sorted by
 * address and coalesced into few madvise calls. Lean stacks are not trimmed
 * one by one (four share a page, and a free slot's neighbours may be live):
 * a lean slab goes back whole, in one madvise, once no slot of it was live
 * or handed out for a whole period. A lean burst's memory thus goes back
 * when the burst is over; a slab with one long-lived task keeps its pages.
 *
 * A lean slot outlives its loop when the task struct in it is still referenced:
 * cr__stack_pool_free unmaps the slabs with no live stack and orphans the
 * others; the put of an orphan slab's last stack unmaps it.
 *
 * A guarded overflow runs into the guard and takes SIGSEGV; the handler (on
 * an alternate signal stack, since the task's own is exhausted) prints one
 * line naming the task and lets the default action kill the process.
 *
 * Touched only by the loop's thread (the handler reads the thread's own state;
 * an orphan slab by whoever drops the last task in it).
 */
#include "core/internal.h"
#include "compat.h"
#include "arch/ctx.h"
#include "core/san.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <assert.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define PIDFD_SELF_PROCESS (-10001) /* Linux 6.15: "this process" for process_madvise */

#define CR__GUARD (16 * 1024)
#define SMALL_GUARD 4096
#define PAGE 4096u
#define SLAB_BYTES (4u << 20)
#define ALTSTACK_BYTES (64 * 1024)
#define LEAN_SLOT 1024u

static_assert(CR_CTX_FN_SLOT < CR_CTX_FRAME_WORDS && CR_CTX_ARG_SLOT < CR_CTX_FRAME_WORDS &&
                  CR_CTX_PC_SLOT < CR_CTX_FRAME_WORDS,
              "ctx.h slots must lie inside the saved frame");
#if defined(__aarch64__)
static_assert((CR_CTX_FRAME_WORDS * sizeof(void *)) % 16 == 0,
              "AArch64 frames keep sp 16-byte aligned");
#endif

struct cr__slab {
    struct cr__stack_class *cls; /* NULL once orphaned (its loop was freed) */
    uint32_t idx;     /* in pool->slabv */
    char *base;
    size_t len;
    size_t count;     /* slots */
    size_t carved;    /* slots [0, carved) have been handed out at least once */
    size_t populated; /* slots [0, populated) had their top page populated */
    size_t live;      /* slots handed out and not put back */
    bool used;        /* a slot was handed out since the last trim check */
    bool clean;       /* given back whole (lean): nothing handed out since */
};

int cr__stack_force_mprotect;
/* Atomic: loops on several threads probe it at once (a data race under TSan). */
static _Atomic int guard_mode; /* 0 = not probed, 1 = MADV_GUARD_INSTALL, 2 = mprotect */
/* 0 = process_madvise(PIDFD_SELF) works or untried, 1 = use one madvise a
 * stack, 2 = no MADV_POPULATE_WRITE at all (kernel < 5.14): let them fault. */
static _Atomic int populate_mode;

/* The largest stack a task may ask for. Larger sizes are clamped just above
 * it (so the rounding and guard + size cannot wrap around to a tiny
 * stack) and cr__stack_get refuses them with -ENOMEM. */
#define STACK_MAX ((size_t)1 << 30)

size_t cr__stack_round(size_t size)
{
    size_t page = 4096;
    if (size < 16 * 1024)
        size = 16 * 1024;
    if (size > STACK_MAX)
        size = STACK_MAX + page;
    return (size + page - 1) & ~(page - 1);
}

static int install_guard(char *g, size_t len)
{
    if (!cr__stack_force_mprotect && guard_mode != 2) {
        if (madvise(g, len, MADV_GUARD_INSTALL) == 0) {
            guard_mode = 1;
            return 0;
        }
        if (errno != EINVAL)
            return -errno;
        guard_mode = 2; /* kernel older than 6.13 */
    }
    return mprotect(g, len, PROT_NONE) ? -errno : 0;
}

static void *map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t len)
{
    cr__san_stack_reset(p, len); /* the next owner of these addresses starts clean */
    munmap(p, len);
}

static void class_setup(struct cr__stack_pool *p, unsigned i)
{
    struct cr__stack_class *c = &p->cls[i];
    switch (i) {
    case CR_STACK_LEAN:
#if defined(CR_ASAN) || defined(CR_TSAN)
        /* Sanitizer frames are many times larger: a lean task gets a small
         * guarded stack instead (the canary is then not used). */
        c->size = 16 * 1024, c->guard = SMALL_GUARD;
#else
        c->size = LEAN_SLOT, c->guard = 0, c->lean = true;
        (void)cr__lazy_bound_object(); /* computed now, not in the abort path */
#endif
        break;
    case CR_STACK_8K: c->size = 8 * 1024, c->guard = SMALL_GUARD; break;
    case CR_STACK_16K: c->size = 16 * 1024, c->guard = SMALL_GUARD; break;
    case CR_STACK_64K: c->size = 64 * 1024, c->guard = CR__GUARD; break;
    default: c->size = p->stack_size, c->guard = CR__GUARD; break;
    }
    c->stride = c->guard + c->size;
    c->batch = c->lean ? 16 : 4;
}

/* Free-list entries name a slab and a slot in 8 bytes: a 16-byte (lo, slab)
 * pair added 25 B per task to the peak RSS of 100k sleepers. */
static char *entry_lo(const struct cr__stack_pool *p, const struct cr__stack_class *c, uint64_t e,
                      struct cr__slab **slab)
{
    struct cr__slab *s = p->slabv[e >> 32];
    if (slab)
        *slab = s;
    return s->base + (size_t)(uint32_t)e * c->stride + c->guard;
}

static int push_free(struct cr__stack_class *c, char *lo, struct cr__slab *s)
{
    if (c->nfree == c->free_cap) {
        size_t cap = c->free_cap ? c->free_cap * 2 : 64;
        uint64_t *v = realloc(c->free, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        c->free = v;
        c->free_cap = cap;
    }
    size_t slot = (size_t)(lo - c->guard - s->base) / c->stride;
    c->free[c->nfree++] = (uint64_t)s->idx << 32 | slot;
    return 0;
}

/* A new slab for c; its guards are installed at once (one madvise each: the
 * per-stack cost is the page-table page, not the call, as we measured). */
static int grow(struct cr__stack_pool *p, struct cr__stack_class *c)
{
    size_t count = SLAB_BYTES / c->stride;
    if (count < 4)
        count = 4;
    if (p->nslab == p->slab_cap) {
        uint32_t cap = p->slab_cap ? p->slab_cap * 2 : 16;
        struct cr__slab **v = realloc(p->slabv, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        p->slabv = v;
        p->slab_cap = cap;
    }
    struct cr__slab *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->len = count * c->stride;
    s->base = map(s->len);
    if (!s->base) {
        free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; c->guard && i < count; i++) {
        int rc = install_guard(s->base + i * c->stride, c->guard);
        if (rc < 0) {
            munmap(s->base, s->len);
            free(s);
            return rc;
        }
    }
    s->cls = c;
    s->count = count;
    s->idx = p->nslab;
    p->slabv[p->nslab++] = s;
    c->cur = s;
    return 0;
}

/* Populate the pages a new task touches first — the top page of each of the
 * slots [from, from + n) of s — in one or few calls instead of a fault each
 * (a fault costs ~10-30 µs here, populating ~1-1.5 µs a page). */
static void populate(struct cr__stack_class *c, struct cr__slab *s, size_t from, size_t n)
{
    int mode = populate_mode;
    if (mode == 2)
        return;
    if (c->lean) { /* contiguous slots: one range */
        char *lo = (char *)((uintptr_t)(s->base + from * c->stride) & ~(uintptr_t)(PAGE - 1));
        char *hi = s->base + (from + n) * c->stride;
        if (madvise(lo, (size_t)(hi - lo), MADV_POPULATE_WRITE) < 0 && errno == EINVAL)
            populate_mode = 2;
        return;
    }
    struct iovec iov[64];
    while (n) {
        size_t k = n < 64 ? n : 64;
        for (size_t i = 0; i < k; i++) {
            char *hi = s->base + (from + i) * c->stride + c->stride;
            iov[i] = (struct iovec){hi - PAGE, PAGE};
        }
        if (mode == 0 && syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, k,
                                 MADV_POPULATE_WRITE, 0) < 0 &&
            (errno == EINVAL || errno == EBADF || errno == ENOSYS || errno == EPERM))
            populate_mode = mode = 1; /* kernel < 6.15: no PIDFD_SELF */
        if (mode == 1)
            for (size_t i = 0; i < k; i++)
                if (madvise(iov[i].iov_base, PAGE, MADV_POPULATE_WRITE) < 0 && errno == EINVAL) {
                    populate_mode = 2;
                    return;
                }
        from += k;
        n -= k;
    }
}

static int carve(struct cr__stack_pool *p, struct cr__stack_class *c, cr__stack *out)
{
    struct cr__slab *s = c->cur;
    if (!s || s->carved == s->count) {
        int rc = grow(p, c);
        if (rc < 0)
            return rc;
        s = c->cur;
    }
    size_t i = s->carved++;
    if (i >= s->populated) {
        size_t n = s->count - i < c->batch ? s->count - i : c->batch;
        populate(c, s, i, n);
        s->populated = i + n;
        if (c->batch < (c->lean ? 1024u : 64u))
            c->batch *= 2; /* a burst: populate further ahead next time */
    }
    out->lo = s->base + i * c->stride + c->guard;
    out->slab = s;
    return 0;
}

static struct cr__stack_class *class_of(struct cr__stack_pool *p, size_t size, unsigned cls)
{
    if (size) {
        for (unsigned i = 0; i < CR__NCLASS; i++) {
            if (!p->cls[i].stride)
                class_setup(p, i);
            if (!p->cls[i].lean && p->cls[i].size == size)
                return &p->cls[i];
        }
        return NULL;
    }
    if (!cls || cls >= CR__NCLASS)
        cls = p->default_class < CR__NCLASS ? p->default_class : 0;
    if (!p->cls[cls].stride)
        class_setup(p, cls);
    return &p->cls[cls];
}

bool cr__stack_is_lean(cr_loop *l, size_t size, unsigned cls)
{
    if (size)
        return false;
    struct cr__stack_class *c = class_of(&l->stacks, 0, cls);
    return c->lean;
}

int cr__stack_get(cr_loop *l, size_t size, unsigned cls, cr__stack *out)
{
    struct cr__stack_pool *p = &l->stacks;
    if (size)
        size = cr__stack_round(size);
    else if (p->stack_size > STACK_MAX && (!cls || cls >= CR__NCLASS) && !p->default_class)
        return -ENOMEM;
    if (size > STACK_MAX)
        return -ENOMEM;
    struct cr__stack_class *c = class_of(p, size, cls);
    if (c) {
        if (c->nfree) {
            out->lo = entry_lo(p, c, c->free[--c->nfree], &out->slab);
            if (c->nclean > c->nfree)
                c->nclean = c->nfree;
            if (c->low_water > c->nfree)
                c->low_water = c->nfree;
        } else {
            int rc = carve(p, c, out);
            if (rc < 0)
                return rc;
        }
        out->slab->live++;
        out->slab->used = true;
        out->slab->clean = false;
        out->size = (uint32_t)c->size;
        out->guard = (uint32_t)c->guard;
    } else {
        char *g = map(CR__GUARD + size);
        if (!g)
            return -ENOMEM;
        int rc = install_guard(g, CR__GUARD);
        if (rc < 0) {
            munmap(g, CR__GUARD + size);
            return rc;
        }
        out->lo = g + CR__GUARD;
        out->slab = NULL;
        out->size = (uint32_t)size;
        out->guard = CR__GUARD;
    }
    cr__san_stack_get(out->lo, out->size);
    if (!out->guard) {
        uint64_t v = CR__CANARY ^ (uint64_t)(uintptr_t)out->lo;
        ((uint64_t *)(void *)out->lo)[0] = v;
        ((uint64_t *)(void *)out->lo)[1] = ~v;
    }
    return 0;
}

void cr__stack_put(cr__stack *st)
{
    if (!st->lo)
        return;
    cr__stack s = *st; /* st itself may live in the stack being put */
    struct cr__slab *slab = s.slab;
    if (!slab) {
        unmap(s.lo - s.guard, s.guard + s.size);
        return;
    }
    cr__san_stack_put(s.lo, s.size); /* ASan: the dead task struct is poisoned */
    slab->live--;
    struct cr__stack_class *c = slab->cls;
    if (!c) { /* orphaned: its loop is gone */
        if (!slab->live) {
            unmap(slab->base, slab->len);
            free(slab);
        }
        return;
    }
    if (push_free(c, s.lo, slab) < 0 && s.guard)
        madvise(s.lo, s.size, MADV_DONTNEED); /* lost to the slab until loop free */
}

static int by_address(const void *a, const void *b)
{
    char *x = *(char *const *)a, *y = *(char *const *)b;
    return x < y ? -1 : x > y;
}

#define TRIM_PERIOD_NS 100000000

static void trim_class(struct cr__stack_pool *p, struct cr__stack_class *c, unsigned cache)
{
    /* Entries below low_water were not touched for a whole period. */
    size_t idle = c->low_water < c->nfree ? c->low_water : c->nfree;
    c->low_water = c->nfree;
    if (c->lean || idle <= cache || idle <= c->nclean)
        return;
    size_t from = c->nclean, to = idle - cache;
    if (to <= from)
        return;
    size_t n = to - from;
    char **v = malloc(n * sizeof *v);
    if (v) {
        for (size_t i = 0; i < n; i++)
            v[i] = entry_lo(p, c, c->free[from + i], NULL);
        qsort(v, n, sizeof *v, by_address);
    }
    /* With MADV_GUARD_INSTALL guards survive MADV_DONTNEED, so neighbouring
     * stacks (and the guards between them) go in one call. */
    for (size_t i = 0; i < n;) {
        char *lo = v ? v[i] : entry_lo(p, c, c->free[from + i], NULL);
        size_t j = i + 1;
        while (v && guard_mode == 1 && j < n && v[j] == v[j - 1] + c->stride)
            j++;
        char *hi = (v ? v[j - 1] : lo) + c->size;
        madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
        i = j;
    }
    free(v);
    c->nclean = to;
}

/* A lean slab with no live slot that handed none out for a whole period goes
 * back whole (its free list entries stay: a reused slot faults in again, and
 * gets its canary at every get anyway). Its populated reserve is gone too. */
static void trim_lean_slabs(struct cr__stack_pool *p)
{
    for (uint32_t i = 0; i < p->nslab; i++) {
        struct cr__slab *s = p->slabv[i];
        if (!s->cls || !s->cls->lean)
            continue;
        if (!s->live && !s->used && !s->clean) {
            madvise(s->base, s->len, MADV_DONTNEED);
            s->clean = true;
            s->populated = s->carved;
        }
        s->used = false;
    }
}

void cr__stack_trim(cr_loop *l, int64_t now)
{
    if (now < l->stacks.next_trim)
        return;
    l->stacks.next_trim = now + TRIM_PERIOD_NS;
    bool lean = false;
    for (unsigned i = 0; i < CR__NCLASS; i++)
        if (l->stacks.cls[i].stride) {
            trim_class(&l->stacks, &l->stacks.cls[i], l->stacks.stack_cache);
            lean |= l->stacks.cls[i].lean;
        }
    if (lean)
        trim_lean_slabs(&l->stacks);
}

size_t cr__stack_lean_resident_slabs(cr_loop *l)
{
    size_t n = 0;
    for (uint32_t i = 0; i < l->stacks.nslab; i++) {
        struct cr__slab *s = l->stacks.slabv[i];
        n += s->cls && s->cls->lean && !s->clean;
    }
    return n;
}

void cr__stack_pool_free(cr_loop *l)
{
    for (uint32_t i = 0; i < l->stacks.nslab; i++) {
        struct cr__slab *s = l->stacks.slabv[i];
        if (s->live) {
            s->cls = NULL; /* tasks still referenced live in it: their last put unmaps it */
            continue;
        }
        unmap(s->base, s->len);
        free(s);
    }
    free(l->stacks.slabv);
    l->stacks.slabv = NULL;
    l->stacks.nslab = l->stacks.slab_cap = 0;
    for (unsigned i = 0; i < CR__NCLASS; i++) {
        struct cr__stack_class *c = &l->stacks.cls[i];
        free(c->free);
        c->free = NULL;
        c->nfree = c->free_cap = c->nclean = c->low_water = 0;
        c->cur = NULL;
    }
}

/* ---- overflow reporting ---- */

static struct sigaction old_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;
static __thread bool altstack_ready;
static pthread_key_t altstack_key;

static size_t put(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, size_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 23);
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    return at;
}

void cr__stack_overflow(const char *name, uint64_t id, size_t size)
{
    char buf[512];
    size_t n = put(buf, 0, sizeof buf, "coring: stack overflow in task '");
    if (name)
        n = put(buf, n, sizeof buf, name);
    else {
        n = put(buf, n, sizeof buf, "Task-");
        n = put_num(buf, n, sizeof buf, id);
    }
    n = put(buf, n, sizeof buf, "' (lean stack of ");
    n = put_num(buf, n, sizeof buf, size);
    n = put(buf, n, sizeof buf, " bytes: its canary was overwritten; use a larger stack class");
    /* The likeliest cause in a program that was not linked -z now. Already
     * computed when the class was set up, so nothing is looked up here. */
    const char *lazy = cr__lazy_bound_object();
    if (lazy) {
        n = put(buf, n, sizeof buf, ", or bind symbols at load: ");
        n = put(buf, n, sizeof buf, lazy);
        n = put(buf, n, sizeof buf, " binds lazily");
    }
    n = put(buf, n, sizeof buf, ")\n");
    ssize_t w = write(2, buf, n);
    (void)w;
    abort();
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    cr_loop *l = cr__tls_running;
    cr__task *t = l ? l->current : NULL;
    char *a = si->si_addr;
    if (t && t->stack.lo && a >= t->stack.lo - t->stack.guard && a < t->stack.lo) {
        char buf[256];
        size_t n = put(buf, 0, sizeof buf, "coring: stack overflow in task '");
        if (t->name)
            n = put(buf, n, sizeof buf, t->name);
        else {
            n = put(buf, n, sizeof buf, "Task-");
            n = put_num(buf, n, sizeof buf, t->id);
        }
        n = put(buf, n, sizeof buf, "' (stack of ");
        n = put_num(buf, n, sizeof buf, t->stack.size);
        n = put(buf, n, sizeof buf, " bytes; raise cr_task_opts.stack_size)\n");
        ssize_t w = write(2, buf, n);
        (void)w;
    }
    /* Put the previous disposition back and return: the faulting instruction
     * runs again and the fault takes its ordinary course. */
    sigaction(SIGSEGV, &old_segv, NULL);
    if (!(old_segv.sa_flags & SA_SIGINFO) && old_segv.sa_handler != SIG_DFL &&
        old_segv.sa_handler != SIG_IGN)
        old_segv.sa_handler(sig);
    else if ((old_segv.sa_flags & SA_SIGINFO) && old_segv.sa_sigaction)
        old_segv.sa_sigaction(sig, si, uc);
}

static void free_altstack(void *p)
{
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(p, ALTSTACK_BYTES);
}

static void install_handler(void)
{
    pthread_key_create(&altstack_key, free_altstack);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

void cr__stack_thread_init(void)
{
    if (altstack_ready)
        return;
    pthread_once(&segv_once, install_handler);
    altstack_ready = true;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return; /* the program has its own */
    size_t len = ALTSTACK_BYTES;
    void *p = map(len);
    if (!p)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = len, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) == 0)
        pthread_setspecific(altstack_key, p);
    else
        munmap(p, len);
}

bool cr__stack_guard_pages(void)
{
    if (guard_mode == 0 && !cr__stack_force_mprotect) {
        /* Not probed yet: try one guard on a scratch mapping. */
        long page = sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            guard_mode = madvise(p, (size_t)page, MADV_GUARD_INSTALL) == 0 ? 1 : 2;
            munmap(p, (size_t)page * 2);
        }
    }
    return guard_mode == 1;
}
