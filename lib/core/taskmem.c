/* SPDX-License-Identifier: MIT */
/*
 * taskmem.c — where heap task structs live: 256-byte slots, 64-byte aligned,
 * carved from 1 MiB blocks of the loop's own.
 *
 * Why not malloc: a task's hot fields (task.h: bytes 64..127, everything a
 * wake, a run and a park touch) are one cache line only if the struct is
 * 64-byte aligned, and malloc aligns to 16, so three tasks in four had them
 * on two lines: a second miss per request at hundreds of connections a loop.
 * glibc's aligned_alloc(64, 256) costs ~390 bytes a task (the gap it splits
 * off stays behind); a slot here costs its 256 bytes, 16 to a page, and a
 * page is touched only when a slot in it is handed out.
 *
 * Blocks: 1 MiB, aligned to 1 MiB (an mmap of twice that, trimmed), so a
 * slot's block is its address rounded down: three syscalls per 4,095 tasks,
 * and a million tasks are 245 mappings. Slot 0 is the header; slots
 * 1..4095 hold tasks. Never-used slots go out in address order (a bump
 * index), freed ones from the block's LIFO free list (the warmest first).
 * The pool lists its blocks with room; a block whose last task is freed goes
 * back to the kernel unless it is the only block with room (a loop that
 * makes and ends one task at a time must not map and unmap per task). In
 * front of the blocks, the last CR__TASKMEM_CACHE freed slots wait on a LIFO
 * of the pool's own (task.h, inline), still counted live in their blocks: a
 * spawn reuses the warmest slot without touching any block's header, as the
 * malloc'd structs' cache did before (spawn+run+join: the same 1,143
 * instructions; spawning 100,000 at once: 790 instead of 1,133, no calloc).
 *
 * Cost: 256 bytes a task against malloc's 240-byte chunk (+9 B of peak RSS
 * per sleeping task, bench/sleepers 100000: 4,435 -> 4,444 B), and 1 MiB of
 * address space per block; a block's pages are touched only as its slots are
 * handed out.
 *
 * Lifetime: a task struct may outlive its loop (a reference held past
 * cr_loop_free). cr__taskmem_free unmaps the blocks with nothing live and
 * orphans the rest; whoever frees an orphan block's last task unmaps it.
 *
 * Threads: the loop's thread; an orphan block's frees from any thread (its
 * live count is atomic for that, and nothing else of it is touched). The
 * loop's thread updates `live` with plain loads and stores (no locked
 * instruction per spawn): it alone touches it until it orphans the block.
 */
#include "core/internal.h"
#include "core/san.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifdef CR_ASAN
/* Under ASan plain calloc and free, so that every use after free is seen (the
 * inline put in task.h keeps no cache then). */
void *cr__taskmem_get_slow(struct cr__taskmem *p, bool *zeroed)
{
    (void)p;
    *zeroed = true;
    return calloc(1, sizeof(cr__task));
}

void cr__taskmem_put_slow(struct cr__taskmem *p, void *s)
{
    (void)p;
    free(s);
}

void cr__taskmem_free(struct cr__taskmem *p) { *p = (struct cr__taskmem){0}; }

#else
#define BLOCK ((size_t)1024 * 1024)
#define SLOT ((size_t)256)
#define NSLOT ((unsigned)(BLOCK / SLOT)) /* slot 0 is the header */

_Static_assert(sizeof(cr__task) <= SLOT, "a task fits a slot");

struct cr__tblock {
    struct cr__taskmem *pool;   /* NULL once orphaned */
    cr__list all;               /* on the pool's list of every block */
    cr__list room;              /* on the pool's list of blocks with room, or unlinked */
    void *free;                 /* freed slots, linked through their first word */
    unsigned bump;              /* next never-used slot */
    _Atomic unsigned live;
};
_Static_assert(sizeof(struct cr__tblock) <= SLOT, "the header fits slot 0");

static struct cr__tblock *block_of(void *slot)
{
    return (struct cr__tblock *)((uintptr_t)slot & ~(uintptr_t)(BLOCK - 1));
}

static bool has_room(const struct cr__tblock *b) { return b->free || b->bump < NSLOT; }

static struct cr__tblock *block_new(struct cr__taskmem *p)
{
    char *m = mmap(NULL, 2 * BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)m + BLOCK - 1) & ~(uintptr_t)(BLOCK - 1));
    if (a > m)
        munmap(m, (size_t)(a - m));
    if (a + BLOCK < m + 2 * BLOCK)
        munmap(a + BLOCK, (size_t)(m + 2 * BLOCK - (a + BLOCK)));
    struct cr__tblock *b = (struct cr__tblock *)(void *)a; /* zeroed by mmap */
    b->pool = p;
    b->bump = 1;
    cr__list_push_front(&p->all, &b->all);
    cr__list_push_front(&p->room, &b->room);
    p->nblocks++;
    return b;
}

static void block_unmap(struct cr__taskmem *p, struct cr__tblock *b)
{
    cr__list_del(&b->room);
    cr__list_del(&b->all);
    p->nblocks--;
    munmap(b, BLOCK);
}

void *cr__taskmem_get_slow(struct cr__taskmem *p, bool *zeroed)
{
    if (!p->all.next) { /* first use: the loop's struct was zeroed */
        cr__list_init(&p->all);
        cr__list_init(&p->room);
    }
    cr__list *r = cr__list_first(&p->room);
    struct cr__tblock *b = r ? CR_CONTAINER_OF(r, struct cr__tblock, room) : block_new(p);
    if (!b)
        return NULL;
    void *s = b->free;
    *zeroed = !s; /* a never-used slot is as mmap made it */
    if (s)
        b->free = *(void **)s;
    else
        s = (char *)b + (size_t)b->bump++ * SLOT;
    atomic_store_explicit(&b->live, atomic_load_explicit(&b->live, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (!has_room(b))
        cr__list_del(&b->room);
    return s;
}

static void block_put(void *s)
{
    struct cr__tblock *b = block_of(s);
    struct cr__taskmem *p = b->pool;
    if (!p) { /* orphaned: its loop is gone; the last one out unmaps it */
        if (atomic_fetch_sub_explicit(&b->live, 1, memory_order_acq_rel) == 1)
            munmap(b, BLOCK);
        return;
    }
    *(void **)s = b->free;
    b->free = s;
    unsigned live = atomic_load_explicit(&b->live, memory_order_relaxed) - 1;
    atomic_store_explicit(&b->live, live, memory_order_relaxed);
    if (!cr__list_linked(&b->room))
        cr__list_push_front(&p->room, &b->room);
    if (!live && p->room.next != p->room.prev)
        block_unmap(p, b); /* empty, and not the only block with room */
}

void cr__taskmem_put_slow(struct cr__taskmem *p, void *s)
{
    (void)p; /* the inline part (task.h) kept what the cache had room for */
    block_put(s);
}

void cr__taskmem_free(struct cr__taskmem *p)
{
    while (p->cache) {
        void *s = p->cache;
        p->cache = *(void **)s;
        block_put(s);
    }
    if (!p->all.next)
        return; /* never used */
    CR__LIST_FOR_EACH_SAFE(n, &p->all) {
        struct cr__tblock *b = CR_CONTAINER_OF(n, struct cr__tblock, all);
        if (!atomic_load_explicit(&b->live, memory_order_acquire)) {
            munmap(b, BLOCK);
        } else {
            b->pool = NULL; /* orphaned: tasks in it are still referenced */
            atomic_thread_fence(memory_order_release);
        }
    }
    *p = (struct cr__taskmem){0};
}

#endif /* CR_ASAN */
