/* SPDX-License-Identifier: MIT */
/*
 * taskgroup.c — asyncio.TaskGroup: structured concurrency.
 *
 * Owns: one reference to every child and a done-hook node per child, the list
 * of child errors (in the order they happened).
 *
 * Invariants:
 *  - pending counts children not yet done; wait() returns only at 0, so when
 *    a group is waited for no child outlives it.
 *  - The group asks for at most ONE cancel of its parent (parent_cancel_req),
 *    only while the parent is outside wait(), and takes it back with
 *    cr_task_uncancel before wait() returns (asyncio 3.11). A cancel counted
 *    above `base_cancelling` after that came from outside: it is reported.
 *  - aborting: set by the first child failure or a parent cancel; from then
 *    on no child may be added and every child has been asked to cancel.
 *
 *  - A cancel from outside that arrives while the group is failing is not
 *    lost: wait() returns the child error (errors win, as in asyncio) and
 *    leaves the cancel pending, so the parent's next await is cancelled
 *    (asyncio 3.13, gh-116720).
 *
 * Loop thread only. new() and wait() from the parent task; create_task from
 * any task (or callback) of the parent's loop while the group is active, as
 * asyncio allows; the child hooks run from the loop.
 */
#include "core/internal.h"
#include <stdlib.h>

struct child {
    cr__cb cb;
    cr_task_group *g;
    cr_task *t; /* the group's reference */
};

struct cr_task_group {
    cr__task *parent;
    struct child **kids;
    size_t nkids, cap, pending;
    int *errs;
    size_t nerrs, errcap;
    int base_cancelling;
    bool aborting, in_wait, waited, parent_cancel_req, parent_cancelled;
};

int cr_task_group_new(cr_task_group **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cr__task *t = cr__current();
    if (!t)
        return -EPERM;
    cr_task_group *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->parent = t;
    cr_future_ref(&t->f); /* a parent that ends without wait() stays valid */
    g->base_cancelling = t->cancelling;
    *out = g;
    return 0;
}

static void abort_children(cr_task_group *g)
{
    g->aborting = true;
    for (size_t i = 0; i < g->nkids; i++)
        cr_cancel(g->kids[i]->t);
}

/* A child finished (rule 2: bookkeeping, cancels and wakes only). */
static void child_done(cr__cb *cb)
{
    struct child *c = CR_CONTAINER_OF(cb, struct child, cb);
    cr_task_group *g = c->g;
    cr_future *f = cb->fut;
    g->pending--;
    f->retrieved = 1; /* the group reports it */
    if (f->state == CR__DONE && f->err < 0) {
        if (g->nerrs == g->errcap) {
            size_t cap = g->errcap ? g->errcap * 2 : 4;
            int *e = realloc(g->errs, cap * sizeof *e);
            if (e) {
                g->errs = e;
                g->errcap = cap;
            }
        }
        if (g->nerrs < g->errcap)
            g->errs[g->nerrs++] = f->err;
        if (!g->aborting) {
            abort_children(g);
            if (!g->in_wait && !g->parent_cancel_req) {
                g->parent_cancel_req = true;
                cr_cancel(&g->parent->f);
            }
        }
    }
    if (g->in_wait && g->pending == 0)
        cr__task_wake(g->parent, 0);
}

int cr_task_group_create_task(cr_task_group *g, cr_task_fn fn, void *arg,
                              const cr_task_opts *opts, cr_task **out)
{
    if (out)
        *out = NULL;
    if (!g || !fn)
        return -EINVAL;
    if (!g->parent->f.loop || cr__tls_running != g->parent->f.loop)
        return g->parent->f.loop ? -EPERM : -ESHUTDOWN; /* another thread / loop closed */
    if (g->aborting || g->waited)
        return -ESHUTDOWN;
    if (g->nkids == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct child **k = realloc(g->kids, cap * sizeof *k);
        if (!k)
            return -ENOMEM;
        g->kids = k;
        g->cap = cap;
    }
    struct child *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int rc = cr_loop_create_task(g->parent->f.loop, fn, arg, opts, &c->t);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->g = g;
    c->cb.on_done = child_done;
    cr__future_add_cb(c->t, &c->cb);
    g->kids[g->nkids++] = c;
    g->pending++;
    if (out)
        *out = cr_future_ref(c->t);
    return 0;
}

int cr_task_group_abort(cr_task_group *g)
{
    if (!g)
        return -EINVAL;
    if (!g->parent->f.loop)
        return -ESHUTDOWN;
    if (cr__tls_running != g->parent->f.loop)
        return -EPERM;
    if (g->waited)
        return -ESHUTDOWN;
    if (g->aborting)
        return -EALREADY;
    abort_children(g); /* the parent is not cancelled: it asked */
    return 0;
}

/* The parent was cancelled inside wait(): cancel the children, keep waiting. */
static void parent_cancelled(cr__task *t, void *ctx)
{
    (void)t;
    cr_task_group *g = ctx;
    g->parent_cancelled = true;
    if (!g->aborting)
        abort_children(g);
}

int cr_task_group_wait(cr_task_group *g)
{
    if (!g)
        return -EINVAL;
    cr__task *t = cr__current();
    if (t != g->parent)
        return -EPERM;
    if (g->waited)
        return -EALREADY;
    g->in_wait = true;
    /* A cancel of the parent since the group began — delivered to the body
     * already or still pending — aborts the group, as asyncio's __aexit__
     * does when the body ends with CancelledError. */
    if (t->must_cancel || t->cancelling > g->base_cancelling) {
        cr__consume_cancel(t);
        g->parent_cancelled = true;
        if (!g->aborting)
            abort_children(g);
    }
    t->waiting_on = "task group";
    while (g->pending)
        cr__park_nocheck(parent_cancelled, g);
    t->waiting_on = NULL;
    g->in_wait = false;
    g->waited = true;
    if (t->must_cancel) { /* a cancel that arrived while we were READY */
        cr__consume_cancel(t);
        g->parent_cancelled = true;
    }
    if (g->parent_cancel_req) {
        g->parent_cancel_req = false;
        cr_task_uncancel(&t->f);
    }
    if (g->nerrs) {
        /* Errors win over a cancel from outside, but that cancel is still
         * owed to the parent: its next await delivers it (asyncio 3.13). */
        if (t->cancelling > g->base_cancelling)
            t->must_cancel = true;
        return g->errs[0];
    }
    if (t->cancelling > g->base_cancelling)
        return -ECANCELED; /* a cancel from outside the group */
    (void)g->parent_cancelled;
    return 0;
}

size_t cr_task_group_errors(const cr_task_group *g, int *errs, size_t cap)
{
    if (!g)
        return 0;
    for (size_t i = 0; errs && i < cap && i < g->nerrs; i++)
        errs[i] = g->errs[i];
    return g->nerrs;
}

void cr_task_group_free(cr_task_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nkids; i++) {
        struct child *c = g->kids[i];
        if (c->t->state == CR__PENDING) {
            cr__future_remove_cb(c->t, &c->cb);
            cr_cancel(c->t);
        }
        cr_future_unref(c->t);
        free(c);
    }
    free(g->kids);
    free(g->errs);
    cr_future_unref(&g->parent->f);
    free(g);
}
