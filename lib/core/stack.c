/*
 * stack.c — coroutine stacks: mmap'd, guarded, pooled per loop.
 *
 * Layout of one stack (addresses grow up):
 *
 *     [ guard, CR__GUARD bytes ][ usable stack, size bytes ........ ]
 *                               ^lo                                 ^hi
 *
 * Stacks of the loop's default size are carved out of slabs (one mmap holds
 * many stacks). Guards are installed with MADV_GUARD_INSTALL (Linux 6.13+),
 * which costs no VMA, so a slab stays one mapping and neighbouring slabs merge:
 * a million stacks fit under the default vm.max_map_count. Older kernels fall
 * back to mprotect(PROT_NONE), which splits the mapping (two VMAs a stack).
 * Odd-sized stacks (cr_task_opts.stack_size) get a mapping of their own.
 *
 * Freed default stacks go back on the loop's free list (LIFO, so the warmest
 * stack is reused first). Putting one back costs no syscall: every ~100 ms the
 * loop calls cr__stack_trim, which drops the pages (MADV_DONTNEED) of the free
 * stacks beyond `stack_cache` that sat unused for that whole period — the
 * bottom of the LIFO — sorted by address and coalesced into few madvise calls.
 * A burst of a million tasks thus gives its memory back within ~200 ms of
 * ending, without taxing the burst itself. Slabs are unmapped with the loop.
 *
 * An overflow runs into the guard and takes SIGSEGV; the handler (on an
 * alternate signal stack, since the task's own is exhausted) prints one line
 * naming the task and lets the default action kill the process.
 *
 * Touched only by the loop's thread (the handler reads the thread's own state).
 */
#include "core/internal.h"
#include "compat.h"
#include "arch/ctx.h"
#include "core/san.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <assert.h>

#define CR__GUARD (16 * 1024)
#define SLAB_BYTES (4u << 20)
#define ALTSTACK_BYTES (64 * 1024)

static_assert(CR_CTX_FN_SLOT < CR_CTX_FRAME_WORDS && CR_CTX_ARG_SLOT < CR_CTX_FRAME_WORDS &&
                  CR_CTX_PC_SLOT < CR_CTX_FRAME_WORDS,
              "ctx.h slots must lie inside the saved frame");
#if defined(__aarch64__)
static_assert((CR_CTX_FRAME_WORDS * sizeof(void *)) % 16 == 0,
              "AArch64 frames keep sp 16-byte aligned");
#endif

struct cr__slab {
    struct cr__slab *next;
    void *base;
    size_t len;
};

int cr__stack_force_mprotect;
/* Atomic: loops on several threads probe it at once (a data race under TSan). */
static _Atomic int guard_mode; /* 0 = not probed, 1 = MADV_GUARD_INSTALL, 2 = mprotect */

/* The largest stack a task may ask for. Larger sizes are clamped just above
 * it (so the rounding and CR__GUARD + size cannot wrap around to a tiny
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

static int install_guard(char *g)
{
    if (!cr__stack_force_mprotect && guard_mode != 2) {
        if (madvise(g, CR__GUARD, MADV_GUARD_INSTALL) == 0) {
            guard_mode = 1;
            return 0;
        }
        if (errno != EINVAL)
            return -errno;
        guard_mode = 2; /* kernel older than 6.13 */
    }
    return mprotect(g, CR__GUARD, PROT_NONE) ? -errno : 0;
}

static void *map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int push_free(cr_loop *l, char *lo)
{
    if (l->stacks.nfree == l->stacks.free_cap) {
        size_t cap = l->stacks.free_cap ? l->stacks.free_cap * 2 : 64;
        char **v = realloc(l->stacks.free_stacks, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->stacks.free_stacks = v;
        l->stacks.free_cap = cap;
    }
    l->stacks.free_stacks[l->stacks.nfree++] = lo;
    return 0;
}

static int grow(cr_loop *l)
{
    size_t stride = CR__GUARD + l->stacks.stack_size;
    size_t count = SLAB_BYTES / stride;
    if (count < 4)
        count = 4;
    struct cr__slab *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->len = count * stride;
    s->base = map(s->len);
    if (!s->base) {
        free(s);
        return -ENOMEM;
    }
    s->next = l->stacks.slabs;
    l->stacks.slabs = s;
    /* Push in reverse so the lowest addresses are handed out first. */
    for (size_t i = count; i-- > 0;) {
        char *g = (char *)s->base + i * stride;
        int rc = install_guard(g);
        if (rc == 0)
            rc = push_free(l, g + CR__GUARD);
        if (rc < 0)
            return rc; /* stacks pushed so far stay usable; the slab is freed with the loop */
    }
    return 0;
}

int cr__stack_get(cr_loop *l, size_t size, cr__stack *out)
{
    size = size ? cr__stack_round(size) : l->stacks.stack_size;
    if (size > STACK_MAX)
        return -ENOMEM;
    if (size == l->stacks.stack_size) {
        if (!l->stacks.nfree) {
            int rc = grow(l);
            if (rc < 0 && !l->stacks.nfree)
                return rc;
        }
        out->lo = l->stacks.free_stacks[--l->stacks.nfree];
        if (l->stacks.nclean > l->stacks.nfree)
            l->stacks.nclean = l->stacks.nfree;
        if (l->stacks.low_water > l->stacks.nfree)
            l->stacks.low_water = l->stacks.nfree;
    } else {
        char *g = map(CR__GUARD + size);
        if (!g)
            return -ENOMEM;
        int rc = install_guard(g);
        if (rc < 0) {
            munmap(g, CR__GUARD + size);
            return rc;
        }
        out->lo = g + CR__GUARD;
    }
    out->size = size;
    out->hi = out->lo + size;
    return 0;
}

void cr__stack_put(cr_loop *l, cr__stack *s)
{
    if (!s->lo)
        return;
    cr__san_stack_reset(s->lo, s->size);
    if (s->size != l->stacks.stack_size) {
        munmap(s->lo - CR__GUARD, CR__GUARD + s->size);
    } else if (push_free(l, s->lo) < 0) {
        madvise(s->lo, s->size, MADV_DONTNEED); /* lost to the slab until loop free */
    }
    s->lo = s->hi = NULL;
}

static int by_address(const void *a, const void *b)
{
    char *x = *(char *const *)a, *y = *(char *const *)b;
    return x < y ? -1 : x > y;
}

#define TRIM_PERIOD_NS 100000000

void cr__stack_trim(cr_loop *l, int64_t now)
{
    if (now < l->stacks.next_trim)
        return;
    l->stacks.next_trim = now + TRIM_PERIOD_NS;
    /* Entries below low_water were not touched for a whole period. */
    size_t idle = l->stacks.low_water < l->stacks.nfree ? l->stacks.low_water : l->stacks.nfree;
    l->stacks.low_water = l->stacks.nfree;
    if (idle <= l->stacks.stack_cache || idle <= l->stacks.nclean)
        return;
    size_t from = l->stacks.nclean, to = idle - l->stacks.stack_cache;
    if (to <= from)
        return;
    size_t n = to - from;
    char **v = malloc(n * sizeof *v);
    if (v) {
        memcpy(v, l->stacks.free_stacks + from, n * sizeof *v);
        qsort(v, n, sizeof *v, by_address);
    }
    /* With MADV_GUARD_INSTALL guards survive MADV_DONTNEED, so neighbouring
     * stacks (and the guards between them) go in one call. */
    size_t stride = CR__GUARD + l->stacks.stack_size;
    for (size_t i = 0; i < n;) {
        char *lo = v ? v[i] : l->stacks.free_stacks[from + i];
        size_t j = i + 1;
        while (v && guard_mode == 1 && j < n && v[j] == v[j - 1] + stride)
            j++;
        char *hi = (v ? v[j - 1] : lo) + l->stacks.stack_size;
        madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
        i = j;
    }
    free(v);
    l->stacks.nclean = to;
}

void cr__stack_pool_free(cr_loop *l)
{
    for (struct cr__slab *s = l->stacks.slabs, *n; s; s = n) {
        n = s->next;
        munmap(s->base, s->len);
        free(s);
    }
    l->stacks.slabs = NULL;
    free(l->stacks.free_stacks);
    l->stacks.free_stacks = NULL;
    l->stacks.nfree = l->stacks.free_cap = 0;
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

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    cr_loop *l = cr__tls_running;
    cr__task *t = l ? l->current : NULL;
    char *a = si->si_addr;
    if (t && t->stack.lo && a >= t->stack.lo - CR__GUARD && a < t->stack.lo) {
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
