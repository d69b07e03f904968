/*
 * current.c — which loop a thread uses: asyncio's set_event_loop,
 * get_event_loop (creating one for the thread, freed when it exits) and
 * get_running_loop.
 *
 * Owns: the thread's current loop (tls_loop) and the pthread key that frees
 * a loop get_event_loop created. Each thread touches only its own.
 */
#include "core/internal.h"
#include <pthread.h>

static __thread cr_loop *tls_loop;       /* set_event_loop / get_event_loop */
static pthread_key_t auto_loop_key;
static pthread_once_t auto_loop_once = PTHREAD_ONCE_INIT;
static bool auto_key_made;

static void free_auto_loop(void *p) { cr_loop_free(p); }
static void make_auto_key(void)
{
    auto_key_made = pthread_key_create(&auto_loop_key, free_auto_loop) == 0;
}

int cr_set_event_loop(cr_loop *loop)
{
    if (loop && loop->closed)
        return -ESHUTDOWN;
    tls_loop = loop;
    return 0;
}

cr_loop *cr_get_event_loop(void)
{
    if (cr__tls_running)
        return cr__tls_running;
    if (!tls_loop) {
        cr_loop *l;
        if (cr_loop_new(&l, NULL) < 0)
            return NULL;
        pthread_once(&auto_loop_once, make_auto_key);
        pthread_setspecific(auto_loop_key, l); /* freed when the thread exits */
        tls_loop = l;
    }
    return tls_loop;
}

cr_loop *cr_get_running_loop(int *err)
{
    if (err)
        *err = cr__tls_running ? 0 : -EPERM;
    return cr__tls_running;
}


cr_loop *cr__tls_loop_swap(cr_loop *l)
{
    cr_loop *prev = tls_loop;
    tls_loop = l;
    return prev;
}

void cr__loop_forget(cr_loop *l)
{
    if (tls_loop == l)
        tls_loop = NULL;
    if (auto_key_made && pthread_getspecific(auto_loop_key) == l)
        pthread_setspecific(auto_loop_key, NULL);
}
