/*
 * stack.h — task stacks: pooled, guarded, trimmed (stack.c). Loop thread
 * only, except cr__stack_thread_init (each thread that runs a loop).
 */
#ifndef CORING_CORE_STACK_H
#define CORING_CORE_STACK_H

#include "core/common.h"

typedef struct cr__stack {
    char *lo, *hi; /* usable [lo, hi); the guard is just below lo */
    size_t size;
} cr__stack;

CR_HIDDEN int cr__stack_get(cr_loop *l, size_t size, cr__stack *out);
CR_HIDDEN void cr__stack_put(cr_loop *l, cr__stack *s);
CR_HIDDEN void cr__stack_pool_free(cr_loop *l);
/* Every ~100 ms: drop the pages of free stacks beyond stack_cache that stayed
 * unused for a whole period. Cheap to call often. */
CR_HIDDEN void cr__stack_trim(cr_loop *l, int64_t now);
CR_HIDDEN void cr__stack_thread_init(void); /* alt signal stack + SIGSEGV hook */
CR_HIDDEN size_t cr__stack_round(size_t size);
/* Guards by MADV_GUARD_INSTALL (probed on a first stack, else now). */
CR_HIDDEN bool cr__stack_guard_pages(void);
/* Test seam: >0 forces the guard to use mprotect instead of MADV_GUARD_INSTALL. */
CR_HIDDEN extern int cr__stack_force_mprotect;


/* The loop's pool of stacks (stack.c owns every field). */
struct cr__stack_pool {
    size_t stack_size;
    unsigned stack_cache;
    char **free_stacks;   /* LIFO; [0, nclean) have had their pages dropped */
    size_t nfree, free_cap;
    size_t nclean;        /* bottom entries already trimmed */
    size_t low_water;     /* least nfree since the last trim check */
    int64_t next_trim;    /* loop time of the next trim check */
    struct cr__slab *slabs;
};

#endif
