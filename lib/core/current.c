/* SPDX-License-Identifier: MIT */
/*
 * current.c — which loop a thread uses: asyncio's set_event_loop,
 * get_event_loop (creating one for the thread, freed when it exits) and
 * get_running_loop.
 *
 * Owns: the pthread key that frees, at thread exit, a loop get_event_loop
 * created. The thread's current loop (cr__tls_loop, cr__tls_auto) lives in
 * loop.c, which forgets a loop there when it is freed. Each thread touches
 * only its own.
 */
#include "core/internal.h"
#include <pthread.h>

static pthread_key_t auto_loop_key;
static pthread_once_t auto_loop_once = PTHREAD_ONCE_INIT;
static bool auto_key_made;

/* Thread exit: free the loop get_event_loop made, unless the user freed it
 * already (cr_loop_free then cleared cr__tls_auto). The key's value is only
 * a token that makes this run. */
static void free_auto_loop(void *p)
{
    (void)p;
    cr_loop *l = cr__tls_auto;
    cr__tls_auto = NULL;
    cr_loop_free(l);
}
static void make_auto_key(void)
{
    auto_key_made = pthread_key_create(&auto_loop_key, free_auto_loop) == 0;
}

int cr_set_event_loop(cr_loop *loop)
{
    if (loop && loop->closed)
        return -ESHUTDOWN;
    cr__tls_loop = loop;
    return 0;
}

cr_loop *cr_get_event_loop(void)
{
    if (cr__tls_running)
        return cr__tls_running;
    if (!cr__tls_loop) {
        cr_loop *l;
        if (cr_loop_new(&l, NULL) < 0)
            return NULL;
        pthread_once(&auto_loop_once, make_auto_key);
        if (auto_key_made)
            pthread_setspecific(auto_loop_key, &auto_loop_key); /* freed at thread exit */
        cr__tls_auto = l;
        cr__tls_loop = l;
    }
    return cr__tls_loop;
}

cr_loop *cr_get_running_loop(int *err)
{
    if (err)
        *err = cr__tls_running ? 0 : -EPERM;
    return cr__tls_running;
}


cr_loop *cr__tls_loop_swap(cr_loop *l)
{
    cr_loop *prev = cr__tls_loop;
    cr__tls_loop = l;
    return prev;
}
