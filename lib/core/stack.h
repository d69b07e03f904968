/* SPDX-License-Identifier: MIT */
/*
 * stack.h — task stacks: size classes carved from pooled slabs, guarded (or,
 * for the lean class, canaried), populated in bulk, trimmed when idle
 * (stack.c). Loop thread only, except cr__stack_thread_init (each thread that
 * runs a loop) and cr__stack_put of a stack whose loop is gone (the thread
 * that drops the last reference to the task living in it).
 */
#ifndef CORING_CORE_STACK_H
#define CORING_CORE_STACK_H

#include "core/common.h"

struct cr__slab;

/* 24 bytes, as before the classes: cr__task stays one 256-byte malloc chunk
 * (hi is computed; 8 more bytes cost 16 B per task, a larger chunk). */
typedef struct cr__stack {
    char *lo;              /* usable [lo, lo + size); the guard (or the canary) at lo */
    struct cr__slab *slab; /* the slab it was carved from; NULL: its own mapping */
    uint32_t size;         /* at most 1 GiB */
    uint32_t guard;        /* bytes of guard just below lo; 0: a lean slot,
                            * with a canary at lo checked at park and resume */
} cr__stack;
static inline bool cr__stack_lean(const cr__stack *s) { return s->lo && !s->guard; }
static inline char *cr__stack_hi(const cr__stack *s) { return s->lo + s->size; }

/* A stack of `size` bytes (0: of class `cls`, CR_STACK_*; 0 and 0: the loop's
 * default). Sizes equal to a class's are carved from that class's slabs. */
CR_HIDDEN int cr__stack_get(cr_loop *l, size_t size, unsigned cls, cr__stack *out);
/* Would cr__stack_get(l, size, cls) hand out a lean slot? */
CR_HIDDEN bool cr__stack_is_lean(cr_loop *l, size_t size, unsigned cls);
/* Back to its class's free list, or unmapped (own mapping; slab of a freed
 * loop whose last stack this was). Needs no loop: a lean task's struct lives
 * at the top of its slot and may be freed after its loop (docs/memory.md). */
CR_HIDDEN void cr__stack_put(cr__stack *s);
/* Loop free: unmap every slab with no live stack; orphan the others (each is
 * unmapped by the put of its last stack). */
CR_HIDDEN void cr__stack_pool_free(cr_loop *l);
/* Every ~100 ms: drop the pages of free stacks beyond stack_cache that stayed
 * unused for a whole period. Cheap to call often. */
CR_HIDDEN void cr__stack_trim(cr_loop *l, int64_t now);
/* Test seam: lean slabs not given back whole by the trim. */
CR_HIDDEN size_t cr__stack_lean_resident_slabs(cr_loop *l);
CR_HIDDEN void cr__stack_thread_init(void); /* alt signal stack + SIGSEGV hook */
CR_HIDDEN size_t cr__stack_round(size_t size);
/* Guards by MADV_GUARD_INSTALL (probed on a first stack, else now). */
CR_HIDDEN bool cr__stack_guard_pages(void);
/* Test seam: >0 forces the guard to use mprotect instead of MADV_GUARD_INSTALL. */
CR_HIDDEN extern int cr__stack_force_mprotect;

/* The lean class's canary: two words at lo, bound to the address. */
#define CR__CANARY 0x5a17c0de0ddba11ull
static inline bool cr__stack_canary_ok(const cr__stack *s)
{
    const uint64_t *w = (const uint64_t *)(const void *)s->lo;
    uint64_t v = CR__CANARY ^ (uint64_t)(uintptr_t)s->lo;
    return w[0] == v && w[1] == ~v;
}
/* A lean stack's canary was found overwritten: one stderr line naming the
 * task (`name`, or Task-<id>), then abort(). */
CR_HIDDEN _Noreturn void cr__stack_overflow(const char *name, uint64_t id, size_t size);
/* The first loaded object (not libc or ld.so) with lazily bound PLT slots,
 * or NULL when everything that matters binds at load (bindcheck.c). Any
 * thread; computed once per process. */
CR_HIDDEN const char *cr__lazy_bound_object(void);

enum { CR__NCLASS = 5 }; /* index = CR_STACK_*; 0 = the loop's stack_size */

/* One size class: its geometry, free list and the slab being carved. */
struct cr__stack_class {
    size_t size, guard, stride; /* stride 0 = not set up yet */
    bool lean;
    uint64_t *free;       /* LIFO of (slab index << 32 | slot): 8 bytes a stack */
    size_t nfree, free_cap;
    size_t nclean;        /* bottom entries already trimmed */
    size_t low_water;     /* least nfree since the last trim check */
    struct cr__slab *cur; /* slab with slots never handed out, or NULL */
    unsigned batch;       /* slots whose top page the next populate covers */
};

/* The loop's pool of stacks (stack.c owns every field). */
struct cr__stack_pool {
    size_t stack_size;      /* class 0's */
    unsigned stack_cache;
    unsigned default_class; /* cr_loop_opts.stack_class */
    int64_t next_trim;      /* loop time of the next trim check */
    struct cr__stack_class cls[CR__NCLASS];
    struct cr__slab **slabv; /* every slab, by index */
    uint32_t nslab, slab_cap;
};

#endif
