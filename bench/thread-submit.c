/* SPDX-License-Identifier: MIT */
/*
 * thread-submit.c — 1,000,000 cross-thread submissions from 2 producer
 * threads into one loop, timed from the producers' start until the loop has
 * run the last one (ns per submission, medians of interleaved rounds).
 *
 *   coring cr_call_soon_threadsafe          a callback (malloc'd node, MPSC push)
 *   coring cr_run_coroutine_threadsafe      a coroutine (task + stack switch), no future
 *   libuv  mutex list + uv_async_send       malloc'd node on a locked list, async wakeup
 *
 *   tools/bench-threads.sh   (or: ROUNDS=7 build/bench/thread-submit)
 */
#include <coring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>
#include "thread-common.h"

#define TOTAL 1000000
#define PRODUCERS 2

/* ---- coring ---- */

static cr_loop *loop;
static long done; /* loop thread only */
static int mode;  /* 0 = callbacks, 1 = coroutines */

static void on_cb(void *arg)
{
    (void)arg;
    if (++done == TOTAL)
        cr_loop_stop(loop);
}

static int on_coro(void *arg, void **result)
{
    (void)arg;
    (void)result;
    if (++done == TOTAL)
        cr_loop_stop(loop);
    return 0;
}

static void *cr_producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < TOTAL / PRODUCERS; i++) {
        int rc = mode ? cr_run_coroutine_threadsafe(loop, on_coro, NULL, NULL)
                      : cr_call_soon_threadsafe(loop, on_cb, NULL);
        if (rc < 0) {
            fprintf(stderr, "submit: %s\n", cr_strerror(rc));
            exit(1);
        }
    }
    return NULL;
}

static double run_coring(int m)
{
    mode = m;
    done = 0;
    if (cr_loop_new(&loop, NULL) < 0)
        exit(1);
    cr_loop_hold(loop);
    pthread_t th[PRODUCERS];
    int64_t t0 = now_ns();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, cr_producer, NULL);
    cr_loop_run_forever(loop);
    double r = (double)(now_ns() - t0) / TOTAL;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    if (done != TOTAL) {
        fprintf(stderr, "coring ran %ld of %d\n", done, TOTAL);
        exit(1);
    }
    cr_loop_unhold(loop);
    cr_loop_free(loop);
    return r;
}

/* ---- libuv: the classic mutex-protected list plus uv_async_send ---- */

struct node {
    struct node *next;
    void (*fn)(void *);
    void *arg;
};

static uv_loop_t uvl;
static uv_async_t async;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct node *head, **tailp = &head;
static long uv_done;

static void uv_cb(void *arg)
{
    (void)arg;
    if (++uv_done == TOTAL)
        uv_close((uv_handle_t *)&async, NULL);
}

static void on_async(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&mu);
    struct node *n = head;
    head = NULL;
    tailp = &head;
    pthread_mutex_unlock(&mu);
    while (n) {
        struct node *next = n->next;
        n->fn(n->arg);
        free(n);
        n = next;
    }
}

static void *uv_producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < TOTAL / PRODUCERS; i++) {
        struct node *n = malloc(sizeof *n);
        n->next = NULL;
        n->fn = uv_cb;
        n->arg = NULL;
        pthread_mutex_lock(&mu);
        *tailp = n;
        tailp = &n->next;
        pthread_mutex_unlock(&mu);
        uv_async_send(&async);
    }
    return NULL;
}

static double run_libuv(void)
{
    uv_loop_init(&uvl);
    uv_async_init(&uvl, &async, on_async);
    uv_done = 0;
    pthread_t th[PRODUCERS];
    int64_t t0 = now_ns();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, uv_producer, NULL);
    uv_run(&uvl, UV_RUN_DEFAULT);
    double r = (double)(now_ns() - t0) / TOTAL;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    uv_loop_close(&uvl);
    return r;
}

int main(void)
{
    int rounds = rounds_from_env(5);
    series a = {.name = "coring cr_call_soon_threadsafe"};
    series b = {.name = "coring cr_run_coroutine_threadsafe"};
    series u = {.name = "libuv mutex list + uv_async_send"};
    run_coring(0);
    run_libuv();
    for (int i = 0; i < rounds; i++) {
        a.v[a.n++] = run_coring(0);
        u.v[u.n++] = run_libuv();
        b.v[b.n++] = run_coring(1);
    }
    printf("cross-thread submission: %d from %d producers into one loop\n", TOTAL, PRODUCERS);
    report(&a);
    report(&b);
    report(&u);
    printf("  ratio call_soon_threadsafe/libuv: %.2f, run_coroutine_threadsafe/libuv: %.2f "
           "(goal < 0.5)\n",
           median(&a) / median(&u), median(&b) / median(&u));
    /* For bench/run.py (make bench runs this with ROUNDS=1, one sample per round). */
    printf("RESULT xthread_call_soon_coring %.1f ns/op\nRESULT xthread_coroutine_coring %.1f ns/op\n"
           "RESULT xthread_libuv %.1f ns/op\n", median(&a), median(&b), median(&u));
    return 0;
}
