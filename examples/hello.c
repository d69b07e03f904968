/* SPDX-License-Identifier: MIT */
/* hello.c — coring in twenty lines: tasks that sleep, gather, a wait_for
 * timeout and a lock. Build: make -C examples (after make). */
#include <coring.h>
#include <stdio.h>

static cr_lock *lock;

static int worker(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    int rc = cr_sleep(0.01 * n);              /* -ECANCELED if cancelled here */
    if (rc < 0)
        return rc;
    CR_LOCK_GUARD(g, lock);                   /* async with lock: */
    if (g.rc < 0)
        return g.rc;
    printf("worker %ld has the lock\n", (long)n);
    *result = (void *)(n * n);
    return 0;                                 /* released here */
}

static int amain(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_task *t[3];
    void *sq[3];
    for (intptr_t i = 0; i < 3; i++)
        t[i] = cr_create_task(worker, (void *)(i + 1));
    int rc = cr_gather(t, 3, sq, NULL, 0);    /* results in argument order */
    printf("gather: %s -> %ld %ld %ld\n", cr_strerror(rc), (long)(intptr_t)sq[0],
           (long)(intptr_t)sq[1], (long)(intptr_t)sq[2]);
    cr_task *slow = cr_create_task(worker, (void *)100);   /* 1 s */
    rc = cr_wait_for(slow, 0.05, NULL);       /* cancels slow, waits for it */
    printf("wait_for: %s\n", cr_strerror(rc));
    for (int i = 0; i < 3; i++)
        cr_future_unref(t[i]);
    cr_future_unref(slow);
    return 0;
}

int main(void)
{
    lock = cr_lock_new();
    int rc = cr_run(amain, NULL, NULL);
    cr_lock_free(lock);
    return rc < 0;
}
