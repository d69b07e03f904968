/*
 * sync.c — asyncio's synchronisation primitives for tasks of one loop.
 *
 * Lock: FIFO-fair by hand-off. release() with waiters passes ownership straight
 * to the first waiter (the lock never looks free in between), so a task that
 * arrives later cannot barge ahead. A waiter cancelled while still queued is
 * unlinked at once (its cancel hook), so a release in the same turn skips it.
 * A waiter handed the lock but cancelled before it resumes is still inside
 * acquire(): as in asyncio it returns -ECANCELED and passes the lock on, so a
 * cancelled acquire never comes out holding the lock.
 *
 * Waiter nodes live on the waiting task's stack and are unlinked before
 * acquire() returns. Loop thread only.
 *
 * Every primitive here (and queue.c) keeps its waiters on a waitq.h list
 * with the same hand-off protocol: a waker grants and wakes; a woken waiter that
 * was not granted was cancelled while queued and takes nothing. Each object
 * remembers the thread of its first use; calls from another thread get -EPERM.
 */
#include "core/internal.h"
#include "sync/waitq.h"
#include <limits.h>
#include <stdlib.h>

struct cr_lock {
    bool locked;
    cr__waitq waiters; /* FIFO; waitq.h's hand-off protocol */
};

cr_lock *cr_lock_new(void) { return calloc(1, sizeof(cr_lock)); }

void cr_lock_free(cr_lock *l) { free(l); }

bool cr_lock_locked(const cr_lock *l) { return l && l->locked; }

int cr_lock_acquire(cr_lock *l)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!l)
        return -EINVAL;
    if (!l->locked && !l->waiters.n) {
        l->locked = true;
        return 0;
    }
    cr__wnode w;
    rc = cr__wq_wait(&l->waiters, t, &w, "lock");
    if (w.granted) {
        if (!t->must_cancel)
            return 0;
        cr__consume_cancel(t); /* cancelled after the hand-off: pass it on */
        cr_lock_release(l);
        return -ECANCELED;
    }
    return rc;
}

int cr_lock_release(cr_lock *l)
{
    if (!l)
        return -EINVAL;
    if (!l->locked)
        return -EPERM;
    /* Hand-off: ownership goes straight to the first waiter. */
    if (!cr__wq_grant_first(&l->waiters, 0, NULL))
        l->locked = false;
    return 0;
}

cr_lock_guard cr_lock_guard_acquire(cr_lock *l)
{
    cr_lock_guard g = {.lock = l, .rc = cr_lock_acquire(l)};
    return g;
}

void cr_lock_guard_release(cr_lock_guard *g)
{
    if (g->rc == 0 && g->lock) {
        cr_lock_release(g->lock);
        g->rc = -EPERM;
    }
}

/* ================================================================ event ==== */

struct cr_event {
    bool set;
    cr__owner owner;
    cr__waitq waiters;
};

cr_event *cr_event_new(void) { return calloc(1, sizeof(cr_event)); }

int cr_event_free(cr_event *e)
{
    if (!e)
        return 0;
    if (e->waiters.n)
        return -EBUSY;
    free(e);
    return 0;
}

int cr_event_set(cr_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = cr__owner_check(&e->owner);
    if (rc < 0)
        return rc;
    e->set = true;
    cr__wq_grant_all(&e->waiters, 0);
    return 0;
}

int cr_event_clear(cr_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = cr__owner_check(&e->owner);
    if (rc == 0)
        e->set = false;
    return rc;
}

bool cr_event_is_set(const cr_event *e) { return e && e->set; }

int cr_event_wait(cr_event *e)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!e)
        return -EINVAL;
    if ((rc = cr__owner_check(&e->owner)) < 0)
        return rc;
    if (e->set)
        return 0;
    cr__wnode w;
    return cr__wq_wait(&e->waiters, t, &w, "event");
}

/* ============================================================ semaphore ==== */

/* Invariant: waiters queued ⇒ value == 0. release() with waiters hands the unit
 * straight to the first one, so value never rises while someone waits and a
 * newcomer cannot take a unit a queued waiter is owed. */
struct cr_semaphore {
    unsigned value, bound; /* bound: initial value of a bounded one, else UINT_MAX */
    bool bounded;
    cr__owner owner;
    cr__waitq waiters;
};

static cr_semaphore *sem_new(unsigned value, bool bounded)
{
    cr_semaphore *s = calloc(1, sizeof *s);
    if (s) {
        s->value = value;
        s->bound = value;
        s->bounded = bounded;
    }
    return s;
}

cr_semaphore *cr_semaphore_new(unsigned value) { return sem_new(value, false); }
cr_semaphore *cr_bounded_semaphore_new(unsigned value) { return sem_new(value, true); }

int cr_semaphore_free(cr_semaphore *s)
{
    if (!s)
        return 0;
    if (s->waiters.n)
        return -EBUSY;
    free(s);
    return 0;
}

bool cr_semaphore_locked(const cr_semaphore *s) { return s && (s->value == 0 || s->waiters.n); }
unsigned cr_semaphore_value(const cr_semaphore *s) { return s ? s->value : 0; }

int cr_semaphore_acquire(cr_semaphore *s)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!s)
        return -EINVAL;
    if ((rc = cr__owner_check(&s->owner)) < 0)
        return rc;
    if (s->value > 0 && !s->waiters.n) {
        s->value--;
        return 0;
    }
    cr__wnode w;
    return cr__wq_wait(&s->waiters, t, &w, "semaphore");
}

int cr_semaphore_release(cr_semaphore *s)
{
    if (!s)
        return -EINVAL;
    int rc = cr__owner_check(&s->owner);
    if (rc < 0)
        return rc;
    if (cr__wq_grant_first(&s->waiters, 0, NULL))
        return 0;
    if (s->value == (s->bounded ? s->bound : UINT_MAX))
        return -EOVERFLOW;
    s->value++;
    return 0;
}

/* ============================================================ condition ==== */

struct cr_condition {
    cr_lock *lock;
    bool own_lock;
    cr__waitq waiters;
};

cr_condition *cr_condition_new(cr_lock *lock)
{
    cr_condition *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lock = lock;
    if (!lock) {
        c->own_lock = true;
        if (!(c->lock = cr_lock_new())) {
            free(c);
            return NULL;
        }
    }
    return c;
}

int cr_condition_free(cr_condition *c)
{
    if (!c)
        return 0;
    if (c->waiters.n || (c->own_lock && c->lock->waiters.n))
        return -EBUSY;
    if (c->own_lock)
        cr_lock_free(c->lock);
    free(c);
    return 0;
}

cr_lock *cr_condition_lock(cr_condition *c) { return c ? c->lock : NULL; }
int cr_condition_acquire(cr_condition *c) { return c ? cr_lock_acquire(c->lock) : -EINVAL; }
int cr_condition_release(cr_condition *c) { return c ? cr_lock_release(c->lock) : -EINVAL; }
bool cr_condition_locked(const cr_condition *c) { return c && c->lock->locked; }

/* Take the lock back whatever happens: a cancel while re-acquiring is
 * remembered and reported, never a reason to return without the lock. */
static bool reacquire(cr_lock *l)
{
    bool cancelled = false;
    for (;;) {
        int rc = cr_lock_acquire(l);
        if (rc == 0)
            return cancelled;
        if (rc == -ECANCELED)
            cancelled = true;
    }
}

static void notify_n(cr_condition *c, unsigned n)
{
    while (n-- && cr__wq_grant_first(&c->waiters, 0, NULL))
        ;
}

int cr_condition_wait(cr_condition *c)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!c)
        return -EINVAL;
    if (!c->lock->locked)
        return -EPERM;
    cr_lock_release(c->lock);
    cr__wnode w;
    rc = cr__wq_wait(&c->waiters, t, &w, "condition");
    bool cancelled_late = reacquire(c->lock);
    if (cancelled_late) {
        /* Notified, but cancelled before we could act on it: pass the
         * notification on so that it is not lost (asyncio 3.13). */
        if (w.granted)
            notify_n(c, 1);
        return -ECANCELED;
    }
    return rc;
}

int cr_condition_wait_for(cr_condition *c, bool (*pred)(void *arg), void *arg)
{
    if (!c || !pred)
        return -EINVAL;
    while (!pred(arg)) {
        int rc = cr_condition_wait(c);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cr_condition_notify(cr_condition *c, unsigned n)
{
    if (!c)
        return -EINVAL;
    if (!c->lock->locked)
        return -EPERM;
    notify_n(c, n);
    return 0;
}

int cr_condition_notify_all(cr_condition *c)
{
    if (!c)
        return -EINVAL;
    return cr_condition_notify(c, (unsigned)c->waiters.n);
}

/* ============================================================== barrier ==== */

/* count = tasks waiting in the current round. The last arrival releases the
 * round (every waiter granted its index) and the barrier starts empty again.
 * Broken (abort): every waiter granted -EPIPE, new ones refused. */
struct cr_barrier {
    unsigned parties;
    bool broken;
    cr__owner owner;
    cr__waitq waiters;
};

cr_barrier *cr_barrier_new(unsigned parties)
{
    if (parties == 0)
        return NULL;
    cr_barrier *b = calloc(1, sizeof *b);
    if (b)
        b->parties = parties;
    return b;
}

int cr_barrier_free(cr_barrier *b)
{
    if (!b)
        return 0;
    if (b->waiters.n)
        return -EBUSY;
    free(b);
    return 0;
}

int cr_barrier_wait(cr_barrier *b)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!b)
        return -EINVAL;
    if ((rc = cr__owner_check(&b->owner)) < 0)
        return rc;
    if (b->broken)
        return -EPIPE;
    unsigned index = (unsigned)b->waiters.n;
    if (index + 1 == b->parties) {
        /* Last arrival: release the round; indices follow arrival order. */
        unsigned i = 0;
        while (b->waiters.n)
            cr__wq_grant_first(&b->waiters, (int)i++, NULL);
        return (int)index;
    }
    cr__wnode w;
    return cr__wq_wait(&b->waiters, t, &w, "barrier");
}

int cr_barrier_reset(cr_barrier *b)
{
    if (!b)
        return -EINVAL;
    int rc = cr__owner_check(&b->owner);
    if (rc < 0)
        return rc;
    cr__wq_grant_all(&b->waiters, -EPIPE);
    b->broken = false;
    return 0;
}

int cr_barrier_abort(cr_barrier *b)
{
    if (!b)
        return -EINVAL;
    int rc = cr__owner_check(&b->owner);
    if (rc < 0)
        return rc;
    b->broken = true;
    cr__wq_grant_all(&b->waiters, -EPIPE);
    return 0;
}

unsigned cr_barrier_parties(const cr_barrier *b) { return b ? b->parties : 0; }
unsigned cr_barrier_n_waiting(const cr_barrier *b) { return b ? (unsigned)b->waiters.n : 0; }
bool cr_barrier_broken(const cr_barrier *b) { return b && b->broken; }
