/* SPDX-License-Identifier: MIT */
/*
 * task.c — tasks: futures whose outcome is a function run on its own
 * coroutine stack, and the park/wake primitive every suspending call uses.
 *
 * Life of a task: CREATED (queued, no stack yet) → RUNNING ⇄ PARKED/READY →
 * DONE. The stack is taken from the pool only when the task first runs and
 * goes back right after its last switch out, so a burst of created tasks and
 * finished tasks still referenced cost a heap struct each, not a stack page.
 * A lean task (CR_STACK_LEAN) is the exception: its struct lives at the top
 * of its 1 KiB slot, taken at creation and put back at the last unref — a
 * quarter page per task whatever its state (task_alloc; docs/memory.md). A
 * task cancelled before it starts never runs its body. The loop holds one
 * reference to every unfinished task; it drops it right after the task's
 * last switch out.
 *
 * Cancellation (asyncio's rules): cr_cancel sets must_cancel and raises the
 * cancelling count. A PARKED task has its park's cancel hook called, which
 * interrupts the wait (a sleep is woken at once; an await cancels what it
 * awaits and keeps waiting; an I/O op asks the kernel to cancel and keeps
 * waiting for the CQE). A task that is READY or RUNNING gets -ECANCELED at its
 * next suspending call: a wait that already completed keeps its result.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include "core/trace.h"
#include "arch/ctx.h"
#include "core/san.h"
#include "core/switch.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cr__task *cr__current(void)
{
    cr_loop *l = cr__tls_running;
    return l ? l->current : NULL;
}

cr_task *cr_current_task(void) { return (cr_task *)cr__current(); }

static void task_finish(cr__task *t, int rc, void *result)
{
    cr_loop *l = t->f.loop;
    CR_TRACE2(task_finish, t->id, rc < 0 ? rc : (t->must_cancel ? -ECANCELED : 0));
    l->tasks.ntasks--;
    l->stats.tasks_finished++;
    if (rc == -ECANCELED || (rc >= 0 && t->must_cancel)) {
        t->must_cancel = false;
        cr__future_complete(&t->f, CR__CANCELLED, -ECANCELED, NULL);
    } else if (rc < 0) {
        cr__future_complete(&t->f, CR__DONE, rc, NULL);
    } else {
        cr__future_complete(&t->f, CR__DONE, 0, result);
    }
}

/* Runs on the task's own stack; never returns. */
static void task_main(void *p)
{
    cr__task *t = p;
    cr_loop *l = t->f.loop;
    cr__san_in_task(l, t);
    void *result = NULL;
    int rc = t->fn(t->arg, &result);
    task_finish(t, rc, result);
    t->state = CR__T_DONE;
    cr__san_leave_task(l, t, true);
    cr__ctx_switch(&t->sp, l->sched_sp, NULL);
    __builtin_unreachable();
}

void cr__task_release_stack(cr_loop *l, cr__task *t)
{
    (void)l;
    if (t->stack.lo && !t->in_stack) { /* a lean slot holds t itself: cr__task_free puts it */
        cr__stack_put(&t->stack);
        t->stack.lo = NULL;
    }
#ifdef CR_TSAN
    if (t->san_fiber) {
        __tsan_destroy_fiber(t->san_fiber);
        t->san_fiber = NULL;
    }
#endif
}

/* The ready-queue handler of a task: start or resume it. */
/* Debug mode: a task that kept the loop longer than the threshold. */
static void report_slow(cr_loop *l, cr__task *t, int64_t ran_ns)
{
    if (ran_ns > l->dbg.slow_ns)
        cr__debug_log(l, "task '%s' blocked the loop for %.1f ms (slow threshold %.1f ms)",
                      cr_task_get_name(&t->f), (double)ran_ns / 1e6, (double)l->dbg.slow_ns / 1e6);
}

/* A lean stack has no guard page: its canary (at the stack's low end) is
 * checked each time the task switches in and out. One predictable branch for
 * other stacks. */
static inline void check_canary(cr__task *t)
{
    if (CR_UNLIKELY(t->in_stack) && !cr__stack_canary_ok(&t->stack))
        cr__stack_overflow(t->name, t->id, t->stack.size);
}

static void task_run(cr__handle *h)
{
    cr__task *t = CR_CONTAINER_OF(h, cr__task, run);
    cr_loop *l = t->f.loop;
    if (CR_UNLIKELY(t->state == CR__T_CREATED)) {
        /* Cancelled before it started, or no stack to be had: it ends here
         * without ever running its body. */
        int rc = t->must_cancel ? -ECANCELED
                 : t->in_stack  ? 0
                                : cr__stack_get(l, t->stack_size, t->stack_class, &t->stack);
        if (rc < 0) {
            t->state = CR__T_DONE;
            task_finish(t, rc, NULL);
            cr_future_unref(&t->f);
            return;
        }
        /* In a lean slot the frames start just below the struct. */
        t->sp = cr__ctx_make(t->in_stack ? (char *)t : cr__stack_hi(&t->stack), task_main, t);
    }
    check_canary(t); /* resume: nothing wrote below the lean stack while it was parked */
    t->state = CR__T_RUNNING;
    l->current = t;
    int64_t t0 = l->dbg.debug ? cr__now_ns() : 0; /* debug mode: slow-task check */
    CR_TRACE2(task_switch_in, t->id, t);
    cr__san_enter_task(l, t);
    cr__ctx_switch(&l->sched_sp, t->sp, NULL);
    cr__san_back_in_loop(l, t);
    CR_TRACE2(task_switch_out, t->id, t->state);
    l->current = NULL;
    l->stats.switches++;
    if (CR_UNLIKELY(l->dbg.debug))
        report_slow(l, t, cr__now_ns() - t0);
    check_canary(t); /* park (or the end): the body stayed inside its lean stack */
    if (t->state == CR__T_DONE) {
        if (!t->in_stack) {
            cr__stack_put(&t->stack);
            t->stack.lo = NULL;
        }
        cr_future_unref(&t->f);
    }
}

/* asyncio 3.12's eager start: run t's body now, from whoever creates it,
 * until it first suspends (or ends: then it was never scheduled). From a
 * callback this is task_run itself. From a running task A the switch must
 * come back to A, not to the loop: task_run saves "where to return" in
 * sched_sp (and the sanitizers' idea of the previous stack in the san_*
 * fields), so A's values go there for the nested run and the loop's are put
 * back after, before A can park. */
static void eager_start(cr_loop *l, cr__task *t)
{
    cr__task *a = l->current;
    void *sched_sp = l->sched_sp, *san_fake = l->san_fake, *san_fiber = l->san_fiber;
    const void *san_lo = l->san_stack_lo;
    size_t san_size = l->san_stack_size;
    task_run(&t->run);
    l->current = a;
    l->sched_sp = sched_sp;
    l->san_fake = san_fake;
    l->san_fiber = san_fiber;
    l->san_stack_lo = san_lo;
    l->san_stack_size = san_size;
}

static void task_drop(cr__handle *h)
{
    (void)h; /* the loop's reference is dropped by close's walk of its futures */
}

void cr__task_wake(cr__task *t, int rc)
{
    if (t->state != CR__T_PARKED)
        return;
    CR_TRACE2(task_wake, t->id, rc);
    t->wake_rc = rc;
    t->state = CR__T_READY;
    cr__loop_schedule(t->f.loop, &t->run);
}

int cr__enter(cr__task **out)
{
    *out = cr__current();
    return cr__enter_here(); /* switch.h */
}

int cr__park_nocheck(cr__cancel_hook hook, void *ctx)
{
    cr__task *t = cr__current();
    return cr__park_switch(t->f.loop, t, hook, ctx);
}

int cr__yield(void)
{
    /* Queued behind everything already ready, READY (not PARKED), so a cancel
     * meanwhile only sets must_cancel and can never queue the task twice. */
    cr__task *t = cr__current();
    cr_loop *l = t->f.loop;
    t->state = CR__T_READY;
    cr__loop_schedule(l, &t->run);
    cr__san_leave_task(l, t, false);
    cr__ctx_switch(&t->sp, l->sched_sp, NULL);
    cr__san_in_task(l, t);
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    return 0;
}

/* Where a task struct lives.
 *
 * Lean tasks: at the top of their 1 KiB slot, 64-byte aligned, the frames
 * below it. The slot is taken at creation, so a lean task costs a quarter
 * page and no heap object whether created, parked or finished (until its
 * last unref). Its timer-heap room is reserved here, on the creator's stack
 * (timer.h: glibc's realloc needs more stack than a lean task has).
 *
 * Other tasks: in a 64-byte aligned slot of the loop's taskmem (taskmem.c),
 * so that the hot fields are one cache line; freed slots are reused warm,
 * LIFO (a calloc and a free per spawn were ~15% of spawn+run+join). Under
 * ASan plain malloc and free, so that every use after free is seen.
 * We measured the struct in the stack's top page for them too: a parked task
 * then cost 4,194 B instead of 4,457 B, but every created-not-yet-run and
 * every finished-but-referenced task held a whole stack page — spawning
 * 200,000 tasks and gathering them went from 65 MB peak RSS to 816 MB and
 * ~10x the time (docs/memory.md). */
#define TASK_SLOT ((sizeof(cr__task) + 63) & ~(size_t)63)

static cr__task *task_alloc(cr_loop *l, const cr_task_opts *opts)
{
    size_t size = opts ? opts->stack_size : 0;
    unsigned cls = opts ? opts->stack_class : 0;
    cr__stack st;
    if (cr__stack_is_lean(l, size, cls)) { /* no slot: -ENOMEM at creation */
        cr__debug_lean_binding(l);
        if (cr__stack_get(l, size, cls, &st) < 0)
            return NULL;
        if (cr__timer_reserve(l, l->tasks.ntasks + 1) < 0) {
            cr__stack_put(&st);
            return NULL;
        }
        cr__task *t = (cr__task *)(void *)(cr__stack_hi(&st) - TASK_SLOT);
        memset(t, 0, sizeof *t);
        t->stack = st;
        t->in_stack = true;
        return t;
    }
    bool zeroed;
    cr__task *t = cr__taskmem_get(&l->tasks.mem, &zeroed);
    if (!t)
        return NULL;
    if (!zeroed)
        memset(t, 0, sizeof *t);
    t->stack_size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    t->stack_class = (uint8_t)(cls < CR__NCLASS ? cls : 0);
    return t;
}

void cr__task_free(cr__task *t)
{
    free(t->name);
    free(t->cancel_msg);
    free(t->ctx);
    if (t->in_stack) {
        cr__stack_put(&t->stack); /* t itself goes with it */
        return;
    }
    cr_loop *l = t->f.loop; /* NULL once loop close detached it */
    cr__taskmem_put(l && !l->closed ? &l->tasks.mem : NULL, t);
}

/* Stands in for a parked task's cancel hook while that hook runs. A hook may
 * cancel another task (an await passes the cancel into what it awaits); if
 * that leads back here (a cycle of awaits) the task is already being
 * interrupted: count the request, do not recurse without end. */
static void cancel_in_progress(cr__task *t, void *ctx)
{
    (void)t;
    (void)ctx;
}

/* cr_cancel of a pending task: count the request, and interrupt its wait if
 * it is parked (the park site's hook decides how). */
static void task_cancel(cr_future *f)
{
    cr__task *t = cr__as_task(f);
    t->cancelling++;
    t->must_cancel = true;
    if (t->state == CR__T_PARKED) {
        cr__cancel_hook hook = t->on_cancel;
        if (hook == cancel_in_progress)
            return;
        if (hook) {
            t->on_cancel = cancel_in_progress;
            hook(t, t->cancel_ctx);
            if (t->on_cancel == cancel_in_progress)
                t->on_cancel = hook;
        } else {
            cr__task_wake(t, -ECANCELED);
        }
    }
}

static const struct cr__handle_ops task_handle_ops = {.run = task_run, .drop = task_drop};

static void task_kind_free(cr_future *f) { cr__task_free(cr__as_task(f)); }
static const char *task_kind_name(const cr_future *f) { return cr_task_get_name(f); }

static const struct cr__future_kind task_kind = {
    .free = task_kind_free,
    .cancel = task_cancel,
    .name = task_kind_name,
};

int cr_loop_create_task(cr_loop *loop, cr_task_fn fn, void *arg, const cr_task_opts *opts,
                        cr_task **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fn)
        return -EINVAL;
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    cr__task *t = task_alloc(loop, opts);
    if (!t)
        return -ENOMEM;
    if ((opts && opts->name && !(t->name = strdup(opts->name))) || cr__ctx_inherit(t) < 0) {
        cr__task_free(t);
        return -ENOMEM;
    }
    cr__future_init(&t->f, loop);
    t->f.is_task = 1;
    t->f.kind = &task_kind;
    t->f.refs = 2; /* the caller's and the loop's */
    t->fn = fn;
    t->arg = arg;
    t->id = ++loop->tasks.next_task_id;
    t->state = CR__T_CREATED;
    t->run.ops = &task_handle_ops;
    loop->tasks.ntasks++;
    loop->stats.tasks_created++;
    CR_TRACE2(task_create, t->id, t);
    *out = &t->f;
    if (opts && opts->eager && cr__tls_running == loop && loop->running)
        eager_start(loop, t); /* t may be done already: *out holds it */
    else
        cr__loop_schedule(loop, &t->run);
    return 0;
}

cr_task *cr_create_task(cr_task_fn fn, void *arg)
{
    cr_task *t;
    cr_loop *l = cr__tls_running;
    if (!l)
        return NULL;
    return cr_loop_create_task(l, fn, arg, NULL, &t) == 0 ? t : NULL;
}

cr_future *cr_ensure_future(cr_future *fut, cr_task_fn fn, void *arg)
{
    if (fut && !fn)
        return cr_future_ref(fut);
    if (fn && !fut)
        return cr_create_task(fn, arg);
    return NULL;
}

size_t cr_all_tasks(cr_loop *loop, cr_task **out, size_t cap)
{
    if (!loop)
        loop = cr__tls_running;
    if (!loop)
        return 0;
    size_t n = 0;
    CR__LIST_FOR_EACH(p, &loop->futures) {
        cr_future *f = CR_CONTAINER_OF(p, cr_future, all);
        if (!f->is_task || f->state != CR__PENDING)
            continue;
        if (out && n < cap)
            out[n] = f;
        n++;
    }
    return n;
}

const char *cr_task_get_name(const cr_task *f)
{
    if (!f || !f->is_task)
        return NULL;
    cr__task *t = cr__as_task((cr_future *)f);
    if (!t->name) {
        char buf[32];
        snprintf(buf, sizeof buf, "Task-%llu", (unsigned long long)t->id);
        t->name = strdup(buf);
    }
    return t->name;
}

int cr_task_set_name(cr_task *f, const char *name)
{
    if (!f || !f->is_task || !name)
        return -EINVAL;
    char *n = strdup(name);
    if (!n)
        return -ENOMEM;
    cr__task *t = cr__as_task(f);
    free(t->name);
    t->name = n;
    return 0;
}

int cr_task_cancelling(const cr_task *f)
{
    if (!f || !f->is_task)
        return -EINVAL;
    return cr__as_task((cr_future *)f)->cancelling;
}

bool cr_cancel_msg(cr_future *f, const char *msg)
{
    if (!f || f->state != CR__PENDING)
        return false;
    if (f->is_task && msg) {
        /* asyncio keeps the latest request's message. Out of memory: the
         * cancel still happens, without its text. */
        cr__task *t = cr__as_task(f);
        free(t->cancel_msg);
        t->cancel_msg = strdup(msg);
    }
    return cr_cancel(f);
}

const char *cr_task_cancel_message(const cr_task *f)
{
    if (!f || !f->is_task)
        return NULL;
    return cr__as_task((cr_future *)f)->cancel_msg;
}

cr_task *cr_loop_current_task(const cr_loop *l)
{
    /* Only the loop running on this thread has a task running. */
    if (!l || l != cr__tls_running)
        return NULL;
    return (cr_task *)l->current;
}

int cr_loop_ensure_future(cr_loop *l, cr_future *fut, cr_task_fn fn, void *arg, cr_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fut == !fn)
        return -EINVAL; /* exactly one */
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (fut) {
        if (fut->loop != l)
            return -EINVAL; /* asyncio: "loop argument must agree with Future" */
        *out = cr_future_ref(fut);
        return 0;
    }
    return cr_loop_create_task(l, fn, arg, NULL, out);
}

int cr_task_uncancel(cr_task *f)
{
    if (!f || !f->is_task)
        return -EINVAL;
    cr__task *t = cr__as_task(f);
    if (t->cancelling > 0 && --t->cancelling == 0)
        t->must_cancel = false;
    return t->cancelling;
}

/* ---- cr_dump_tasks ---- */

static const char *state_name(const cr__task *t)
{
    switch (t->state) {
    case CR__T_CREATED: return "created";
    case CR__T_READY: return "ready";
    case CR__T_RUNNING: return "running";
    case CR__T_PARKED: return "waiting";
    default: return "done";
    }
}

int cr_dump_tasks(cr_loop *l, FILE *out)
{
    if (!l)
        l = cr__tls_running;
    int rc = cr__loop_owner_ok(l);
    if (rc < 0)
        return rc;
    if (!out)
        return -EINVAL;
    CR__LIST_FOR_EACH(p, &l->futures) {
        cr_future *f = CR_CONTAINER_OF(p, cr_future, all);
        if (!f->is_task || f->state != CR__PENDING)
            continue;
        cr__task *t = cr__as_task(f);
        fprintf(out, "%s %s", cr_task_get_name(f), state_name(t));
        if (t->state == CR__T_PARKED)
            fprintf(out, " on %s", t->waiting_on ? t->waiting_on : "?");
        if (t->cancelling)
            fprintf(out, " (cancelling %d)", t->cancelling);
        fputc('\n', out);
    }
    return 0;
}
