/* SPDX-License-Identifier: MIT */
/*
 * thread-deque.c — the Chase-Lev deque's own costs (ns per operation,
 * medians of rounds):
 *
 *   push+take     the owner pushes N items, then takes them all (LIFO)
 *   steal         one thief steals N items the owner pushed (uncontended)
 *   contended     the owner pushes and takes while one thief steals; ns per
 *                 item, whoever got it
 *
 *   tools/bench-threads.sh   (or: ROUNDS=7 build/bench/thread-deque)
 */
#include "thread/deque.h"
#include <pthread.h>
#include <stdatomic.h>
#include "thread-common.h"

#define N 1000000

static cr__deque q;
static long sink;

static double push_take(void)
{
    int64_t t0 = now_ns();
    for (uintptr_t i = 0; i < N; i++)
        cr__deque_push(&q, (void *)(i + 2));
    void *x;
    while ((x = cr__deque_take(&q)))
        sink += (long)(uintptr_t)x;
    return (double)(now_ns() - t0) / (2.0 * N);
}

static double steal_only(void)
{
    for (uintptr_t i = 0; i < N; i++)
        cr__deque_push(&q, (void *)(i + 2));
    int64_t t0 = now_ns();
    void *x;
    while ((x = cr__deque_steal(&q)))
        if (x != CR__DQ_ABORT)
            sink += (long)(uintptr_t)x;
    return (double)(now_ns() - t0) / N;
}

static _Atomic int owner_done;
static _Atomic long got;

static void *thief(void *arg)
{
    (void)arg;
    long mine = 0;
    for (;;) {
        void *x = cr__deque_steal(&q);
        if (x && x != CR__DQ_ABORT)
            mine++;
        else if (!x && atomic_load_explicit(&owner_done, memory_order_acquire))
            break;
    }
    atomic_fetch_add(&got, mine);
    return NULL;
}

static double contended(void)
{
    atomic_store(&owner_done, 0);
    atomic_store(&got, 0);
    pthread_t th;
    pthread_create(&th, NULL, thief, NULL);
    int64_t t0 = now_ns();
    long mine = 0;
    for (uintptr_t i = 0; i < N; i++) {
        cr__deque_push(&q, (void *)(i + 2));
        if (i & 1)
            mine += cr__deque_take(&q) != NULL;
    }
    while (cr__deque_take(&q))
        mine++;
    atomic_store_explicit(&owner_done, 1, memory_order_release);
    pthread_join(th, NULL);
    double r = (double)(now_ns() - t0) / N;
    if (mine + atomic_load(&got) != N) {
        fprintf(stderr, "lost items: %ld + %ld\n", mine, atomic_load(&got));
        exit(1);
    }
    return r;
}

int main(void)
{
    int rounds = rounds_from_env(5);
    if (cr__deque_init(&q, 1024) < 0)
        return 1;
    series a = {.name = "deque push+take (owner, per op)"};
    series b = {.name = "deque steal (one thief, uncontended)"};
    series c = {.name = "deque push/take vs 1 thief (per item)"};
    push_take(); /* grow the ring once */
    for (int i = 0; i < rounds; i++) {
        a.v[a.n++] = push_take();
        b.v[b.n++] = steal_only();
        c.v[c.n++] = contended();
    }
    printf("Chase-Lev deque, %d items\n", N);
    report(&a);
    report(&b);
    report(&c);
    /* For bench/run.py (make bench runs this with ROUNDS=1, one sample per round). */
    printf("RESULT deque_push_take %.2f ns/op\nRESULT deque_steal %.2f ns/op\n"
           "RESULT deque_contended %.2f ns/item\n", median(&a), median(&b), median(&c));
    cr__deque_free(&q);
    return sink == 42; /* keep the loads */
}
