/* SPDX-License-Identifier: MIT */
/*
 * future.c — futures: pending → result | error | cancelled, exactly once.
 *
 * Completion detaches the callback list and calls each node's on_done in
 * registration order. on_done only schedules (user callbacks go on the ready
 * queue, waiters are woken): nothing the user wrote runs inline.
 *
 * A future is freed when its last reference goes. It stays on its loop's list
 * of live futures so that closing the loop can detach it cleanly; after that
 * f->loop is NULL and anything that needs the loop returns -ESHUTDOWN.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include <stdio.h>
#include <stdlib.h>

void cr__future_init(cr_future *f, cr_loop *l)
{
    f->refs = 1;
    f->state = CR__PENDING;
    f->err = 0;
    f->value = NULL;
    f->retrieved = 0;
    f->loop = l;
    f->cb_head = f->cb_tail = NULL;
    cr__list_push_front(&l->futures, &f->all); /* newest first, as all_tasks lists them */
}

static void unlink_future(cr_future *f)
{
    cr__list_del(&f->all);
}

/* Drop every registration without running it (the future dies or its loop
 * closes). Heap nodes free themselves through dispose. */
static void dispose_callbacks(cr_future *f)
{
    cr__cb *cb = f->cb_head;
    f->cb_head = f->cb_tail = NULL;
    while (cb) {
        cr__cb *next = (cr__cb *)cb->h.next;
        if (cb->dispose)
            cb->dispose(cb);
        cb = next;
    }
}

void cr__future_abandon(cr_future *f)
{
    dispose_callbacks(f);
    if (f->state == CR__PENDING) {
        f->state = CR__CANCELLED;
        f->err = -ECANCELED;
    }
    unlink_future(f);
    f->loop = NULL;
}

cr_future *cr_future_new(cr_loop *loop)
{
    if (!loop)
        loop = cr__tls_running;
    if (!loop || loop->closed)
        return NULL;
    cr_future *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    cr__future_init(f, loop);
    f->is_task = 0;
    f->kind = NULL;
    return f;
}

cr_future *cr_future_ref(cr_future *f)
{
    if (f)
        f->refs++;
    return f;
}

/* A failure nobody read is reported when its future goes (asyncio: "Task
 * exception was never retrieved"), through the loop's exception handler. */
static void report_unretrieved(cr_future *f)
{
    cr_loop *l = f->loop;
    if (!l || f->retrieved || f->state != CR__DONE || f->err >= 0)
        return;
    char msg[320];
    const char *name = f->kind ? f->kind->name(f) : NULL;
    if (name)
        snprintf(msg, sizeof msg, "task '%s' failed with %d (%s) and nobody retrieved the error",
                 name, f->err, cr_strerror(f->err));
    else
        snprintf(msg, sizeof msg, "a future failed with %d (%s) and nobody retrieved the error",
                 f->err, cr_strerror(f->err));
    f->retrieved = 1; /* once */
    cr_exception_context c = {.message = msg, .error = f->err, .future = f, .task_name = name};
    if (l->dbg.exc_fn) {
        l->dbg.exc_fn(l, &c, l->dbg.exc_arg);
    } else {
        c.error = 0; /* the default prints msg as it is: the code is in it */
        cr_loop_default_exception_handler(l, &c, NULL);
    }
}

void cr_future_unref(cr_future *f)
{
    if (!f || --f->refs)
        return;
    report_unretrieved(f);
    dispose_callbacks(f);
    unlink_future(f);
    if (f->kind)
        f->kind->free(f);
    else
        free(f);
}

void cr__future_add_cb(cr_future *f, cr__cb *cb)
{
    cb->fut = f;
    cb->h.next = NULL;
    if (f->cb_tail)
        f->cb_tail->h.next = &cb->h;
    else
        f->cb_head = cb;
    f->cb_tail = cb;
}

bool cr__future_remove_cb(cr_future *f, cr__cb *cb)
{
    cr__cb *prev = NULL;
    for (cr__cb *c = f->cb_head; c; prev = c, c = (cr__cb *)c->h.next) {
        if (c != cb)
            continue;
        if (prev)
            prev->h.next = c->h.next;
        else
            f->cb_head = (cr__cb *)c->h.next;
        if (f->cb_tail == c)
            f->cb_tail = prev;
        c->h.next = NULL;
        return true;
    }
    return false;
}

void cr__future_complete(cr_future *f, int state, int err, void *value)
{
    f->state = (uint8_t)state;
    f->err = err;
    f->value = value;
    cr__cb *cb = f->cb_head;
    f->cb_head = f->cb_tail = NULL;
    while (cb) {
        cr__cb *next = (cr__cb *)cb->h.next;
        cb->on_done(cb);
        cb = next;
    }
}

static int check_settable(cr_future *f)
{
    if (!f)
        return -EINVAL;
    if (f->state != CR__PENDING)
        return -EALREADY;
    if (f->is_task)
        return -EINVAL; /* a task's outcome is its function's return */
    if (!f->loop)
        return -ESHUTDOWN;
    return 0;
}

int cr_future_set_result(cr_future *f, void *value)
{
    int rc = check_settable(f);
    if (rc == 0)
        cr__future_complete(f, CR__DONE, 0, value);
    return rc;
}

int cr_future_set_error(cr_future *f, int err)
{
    int rc = check_settable(f);
    if (rc == 0 && err >= 0)
        rc = -EINVAL;
    if (rc == 0)
        cr__future_complete(f, err == -ECANCELED ? CR__CANCELLED : CR__DONE, err, NULL);
    return rc;
}

bool cr_future_done(const cr_future *f) { return f && f->state != CR__PENDING; }
bool cr_future_cancelled(const cr_future *f) { return f && f->state == CR__CANCELLED; }
bool cr_is_task(const cr_future *f) { return f && f->is_task; }
cr_loop *cr_future_get_loop(const cr_future *f) { return f ? f->loop : NULL; }

int cr_future_result(const cr_future *f, void **value)
{
    if (!f)
        return -EINVAL;
    if (f->state == CR__PENDING)
        return -EAGAIN;
    ((cr_future *)f)->retrieved = 1; /* debug mode: the error was read */
    if (value)
        *value = f->err ? NULL : f->value;
    return f->err;
}

int cr_future_exception(const cr_future *f)
{
    if (!f)
        return -EINVAL;
    if (f->state != CR__PENDING)
        ((cr_future *)f)->retrieved = 1; /* debug mode: the error was read */
    return f->state == CR__PENDING ? -EAGAIN : f->err;
}

/* ---- user done callbacks ---- */

static void user_cb_run(cr__handle *h)
{
    cr__cb *cb = CR_CONTAINER_OF(h, cr__cb, h);
    cb->fn(cb->fut, cb->arg);
    cr_future_unref(cb->fut);
    free(cb);
}

static void user_cb_drop(cr__handle *h)
{
    cr__cb *cb = CR_CONTAINER_OF(h, cr__cb, h);
    cr_future_unref(cb->fut);
    free(cb);
}

static void user_cb_on_done(cr__cb *cb)
{
    cr_future_ref(cb->fut);
    cr__loop_schedule(cb->fut->loop, &cb->h);
}

static const struct cr__handle_ops user_cb_ops = {.run = user_cb_run, .drop = user_cb_drop};

static void user_cb_dispose(cr__cb *cb) { free(cb); }

int cr_future_add_done_callback(cr_future *f, cr_future_cb fn, void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    if (!f->loop)
        return -ESHUTDOWN;
    cr__cb *cb = calloc(1, sizeof *cb);
    if (!cb)
        return -ENOMEM;
    cb->h.ops = &user_cb_ops;
    cb->on_done = user_cb_on_done;
    cb->dispose = user_cb_dispose;
    cb->fn = fn;
    cb->arg = arg;
    if (f->state != CR__PENDING) {
        cb->fut = f;
        user_cb_on_done(cb);
    } else {
        cr__future_add_cb(f, cb);
    }
    return 0;
}

int cr_future_remove_done_callback(cr_future *f, cr_future_cb fn, void *arg)
{
    if (!f)
        return -EINVAL;
    int n = 0;
    cr__cb *prev = NULL, *c = f->cb_head;
    while (c) {
        cr__cb *next = (cr__cb *)c->h.next;
        if (c->on_done == user_cb_on_done && c->fn == fn && c->arg == arg) {
            if (prev)
                prev->h.next = next ? &next->h : NULL; /* &NULL->h is UB */
            else
                f->cb_head = next;
            if (f->cb_tail == c)
                f->cb_tail = prev;
            free(c);
            n++;
        } else {
            prev = c;
        }
        c = next;
    }
    return n;
}

bool cr_cancel(cr_future *f)
{
    if (!f || f->state != CR__PENDING)
        return false;
    if (!f->is_task) {
        if (!f->loop)
            return false;
        cr__future_complete(f, CR__CANCELLED, -ECANCELED, NULL);
        return true;
    }
    f->kind->cancel(f);
    return true;
}
