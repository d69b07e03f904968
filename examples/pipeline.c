/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c — a producer/consumer pipeline: one producer fills a bounded
 * queue, three workers in a task group square the numbers, a collector sums
 * them; the whole run sits under a timeout scope.
 *
 *     make examples && examples/pipeline [timeout-seconds]
 *
 * With a generous timeout it prints the sum; with a tiny one (e.g. 0.001) the
 * scope expires, the group cancels every worker, and it prints the timeout.
 */
#include <coring.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 100

struct pipeline {
    cr_queue *jobs, *results;
};

static int producer(void *arg, void **result)
{
    (void)result;
    struct pipeline *p = arg;
    for (intptr_t i = 1; i <= N; i++) {
        int rc = cr_queue_put(p->jobs, (void *)i); /* blocks while full */
        if (rc < 0)
            return rc;
    }
    /* Graceful: the workers drain what is left, then see -ESHUTDOWN. */
    return cr_queue_shutdown(p->jobs, false);
}

static int worker(void *arg, void **result)
{
    (void)result;
    struct pipeline *p = arg;
    void *item;
    int rc;
    while ((rc = cr_queue_get(p->jobs, &item)) == 0) {
        intptr_t v = (intptr_t)item;
        if ((rc = cr_sleep(0.0005)) < 0) /* pretend to work */
            return rc;
        if ((rc = cr_queue_put(p->results, (void *)(v * v))) < 0)
            return rc;
    }
    return rc == -ESHUTDOWN ? 0 : rc;
}

static int collector(void *arg, void **result)
{
    struct pipeline *p = arg;
    intptr_t sum = 0;
    for (int i = 0; i < N; i++) {
        void *item;
        int rc = cr_queue_get(p->results, &item);
        if (rc < 0)
            return rc;
        sum += (intptr_t)item;
    }
    *result = (void *)sum;
    return 0;
}

static int amain(void *arg, void **result)
{
    double timeout = *(double *)arg;
    struct pipeline p;
    cr_queue_opts bounded = {.kind = CR_QUEUE_FIFO, .maxsize = 8};
    if (cr_queue_new(&p.jobs, &bounded) < 0 || cr_queue_new(&p.results, NULL) < 0)
        return -ENOMEM;

    cr_timeout_scope *scope = cr_timeout(timeout);
    cr_task_group *g;
    int rc = cr_task_group_new(&g);
    cr_task *sum = NULL;
    if (rc == 0) {
        cr_task_group_create_task(g, producer, &p, NULL, NULL);
        for (int i = 0; i < 3; i++)
            cr_task_group_create_task(g, worker, &p, NULL, NULL);
        cr_task_group_create_task(g, collector, &p, NULL, &sum);
        rc = cr_task_group_wait(g); /* every child is done after this */
        cr_task_group_free(g);
    }
    rc = cr_timeout_end(scope, rc);

    if (rc == 0) {
        void *v;
        cr_future_result(sum, &v);
        printf("sum of squares 1..%d = %ld\n", N, (long)(intptr_t)v);
    } else {
        printf("pipeline ended: %s\n", cr_strerror(rc));
    }
    cr_future_unref(sum);
    cr_queue_free(p.jobs);
    cr_queue_free(p.results);
    *result = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    double timeout = argc > 1 ? atof(argv[1]) : 5.0;
    int rc = cr_run(amain, &timeout, NULL);
    return rc == 0 ? 0 : 1;
}
