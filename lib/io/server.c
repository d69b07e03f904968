/* SPDX-License-Identifier: MIT */
/*
 * server.c — asyncio.start_server: a listening socket served by one multishot
 * accept (cr_acceptor), a task per connection running the user's handler on a
 * cr_stream, and graceful shutdown.
 *
 * Invariants:
 *  - Every live connection is on srv->conns and holds a reference to its task
 *    until the task is done (conn_done, a future hook: bookkeeping only).
 *  - A connection's stream is closed when its handler ends: gracefully if it
 *    returned, aborted (unsent data dropped) if it was cancelled or failed.
 *  - EMFILE/ENFILE are the acceptor's business (back-off, no spin); a closed
 *    connection kicks it, since that freed an fd.
 *  - Eager start (opts.eager) never runs a handler inside completion
 *    dispatch: on_accept only queues the server's start step (once), and the
 *    ready phase runs it, starting each queued connection's handler at once,
 *    up to its first suspension, before taking the next fd. While that step
 *    is queued the struct must live: cr_server_free then leaves it to the
 *    step (or to the loop's close, which drops the step) to free.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include "io/tls.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


struct conn {
    cr__cb cb;
    cr_server *srv;
    cr_stream *s;
    cr_task *task;
    cr__list link; /* on srv->conns */
};

struct cr_server {
    cr__io_obj obj;
    cr_loop *loop;
    int lfd, port;
    char *unix_path;
    cr_acceptor *acc;
    cr_stream_handler fn;
    void *arg;
    cr_server_opts opts;
    cr__list conns;     /* struct conn.link */
    size_t nconns;
    cr__waiter *waiter; /* shutdown waiting for handlers */
    size_t wait_floor;  /* shutdown waits for nconns to fall to this (1: called by a handler) */
    cr_tls_ctx *tls;    /* TLS hook: each connection handshakes first (a reference) */
    cr__handle start_h; /* eager: the start step on the ready queue */
    bool start_queued;  /* start_h is on the ready queue */
    bool free_pending;  /* cr_server_free ran meanwhile: start_h frees the struct */
};

static void conn_unlink(struct conn *c)
{
    cr__list_del(&c->link);
    c->srv->nconns--;
}

static int conn_main(void *arg, void **result)
{
    (void)result;
    struct conn *c = arg;
    if (c->srv->tls) { /* TLS hook: a failed handshake ends here */
        int rc = cr_stream_start_tls(c->s, c->srv->tls, NULL, 0);
        /* start_tls aborted the stream. A client failing its handshake is
         * not the server's failure: the task ends quietly (asyncio logs it
         * only in debug mode; cr_tls_last_error has the reason), except
         * that a cancel stays a cancel. */
        if (rc < 0)
            return rc == -ECANCELED ? rc : 0;
    }
    return c->srv->fn(c->s, c->srv->arg);
}

static void conn_done(cr__cb *cb)
{
    struct conn *c = CR_CONTAINER_OF(cb, struct conn, cb);
    cr_server *srv = c->srv;
    if (c->task->state != CR__DONE || c->task->err)
        cr_stream_abort(c->s);
    cr_stream_free(c->s);
    conn_unlink(c);
    cr_future_unref(c->task);
    free(c);
    if (srv->acc)
        cr_acceptor_kick(srv->acc); /* an fd was freed */
    if (srv->nconns <= srv->wait_floor)
        cr__wake_slot(&srv->waiter, 0);
}

/* The loop closed under a live connection: its stream dies with the loop. */
static void conn_dispose(cr__cb *cb)
{
    struct conn *c = CR_CONTAINER_OF(cb, struct conn, cb);
    conn_unlink(c);
    cr_future_unref(c->task);
    free(c);
}

static void start_conn(cr_server *srv, int fd, bool eager)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix */
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    if (cr_stream_new(srv->loop, fd, &srv->opts.stream, &c->s) < 0) {
        free(c);
        return;
    }
    /* Counted and linked before the task exists: an eager body runs inside
     * the create call and may already see the server (shutdown counts it). */
    c->srv = srv;
    c->cb.on_done = conn_done;
    c->cb.dispose = conn_dispose;
    cr__list_push_front(&srv->conns, &c->link);
    srv->nconns++;
    cr_task_opts to = {.name = "conn", .stack_size = srv->opts.stack_size,
                       .stack_class = srv->opts.stack_class, .eager = eager};
    if (cr_loop_create_task(srv->loop, conn_main, c, &to, &c->task) < 0) {
        conn_unlink(c);
        cr_stream_abort(c->s);
        cr_stream_free(c->s);
        free(c);
        if (srv->nconns <= srv->wait_floor)
            cr__wake_slot(&srv->waiter, 0);
        return;
    }
    /* An eager body that never suspended has ended already, before its done
     * hook could be registered: it is closed now, never scheduled. */
    if (cr_future_done(c->task))
        conn_done(&c->cb);
    else
        cr__future_add_cb(c->task, &c->cb);
}

/* Eager start, from the ready phase (never from completion dispatch, where a
 * handler's first step would run inside the backend's CQE walk): each
 * queued fd's handler runs at once until it first suspends, in accept order.
 * The acceptor is read afresh each time, since a handler may have shut the
 * server down. */
static void start_step(cr__handle *h)
{
    cr_server *srv = CR_CONTAINER_OF(h, cr_server, start_h);
    srv->start_queued = false;
    if (srv->free_pending) {
        free(srv);
        return;
    }
    int fd;
    while (srv->acc && (fd = cr__acceptor_pop(srv->acc)) >= 0)
        start_conn(srv, fd, true);
}

/* The loop closed with the step queued: a freed server goes now; a live one
 * goes with the loop's I/O objects (server_destroy). */
static void start_drop(cr__handle *h)
{
    cr_server *srv = CR_CONTAINER_OF(h, cr_server, start_h);
    srv->start_queued = false;
    if (srv->free_pending)
        free(srv);
}

static void on_accept(void *ctx)
{
    cr_server *srv = ctx;
    if (srv->opts.eager) {
        if (!srv->start_queued) {
            srv->start_queued = true;
            cr__loop_schedule(srv->loop, &srv->start_h);
        }
        return;
    }
    int fd;
    while ((fd = cr__acceptor_pop(srv->acc)) >= 0)
        start_conn(srv, fd, false);
}

static void server_destroy(cr__io_obj *o)
{
    cr_server *srv = CR_CONTAINER_OF(o, cr_server, obj);
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->unix_path)
        unlink(srv->unix_path);
    free(srv->unix_path);
    cr_tls_ctx_free(srv->tls); /* NULL-safe */
    free(srv);
}

static const struct cr__handle_ops start_ops = {.run = start_step, .drop = start_drop};

static int start(cr_loop *loop, int lfd, const char *path, cr_stream_handler fn, void *arg,
                 const cr_server_opts *opts, cr_server **out)
{
    cr_server *srv = calloc(1, sizeof *srv);
    if (srv)
        cr__list_init(&srv->conns);
    int rc = srv ? 0 : -ENOMEM;
    if (rc == 0 && path && !(srv->unix_path = strdup(path)))
        rc = -ENOMEM;
    if (rc == 0)
        rc = cr_acceptor_new(loop, lfd, &srv->acc);
    if (rc < 0) {
        if (srv)
            free(srv->unix_path);
        free(srv);
        close(lfd);
        return rc;
    }
    srv->loop = loop;
    srv->lfd = lfd;
    srv->port = path ? 0 : cr_local_port(lfd);
    srv->fn = fn;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    srv->start_h.ops = &start_ops;
    cr__acceptor_set_notify(srv->acc, on_accept, srv);
    cr__io_obj_add(loop, &srv->obj, server_destroy);
    *out = srv;
    return 0;
}

static int check_start(cr_loop **loop, cr_stream_handler fn, const cr_server_opts *opts,
                       cr_server **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fn || (opts && opts->stack_class > CR_STACK_64K))
        return -EINVAL;
    if (!*loop)
        *loop = cr__tls_running;
    int rc = cr__loop_check(*loop);
    if (rc < 0)
        return rc;
    return cr__io_state(*loop) ? 0 : -ENOMEM;
}

int cr_start_server(cr_loop *loop, const char *host, int port, cr_stream_handler fn,
                    void *arg, const cr_server_opts *opts, cr_server **out)
{
    int rc = check_start(&loop, fn, opts, out);
    if (rc < 0)
        return rc;
    int lfd = cr_listen_tcp(host, port, opts ? opts->backlog : 0);
    if (lfd < 0)
        return lfd;
    return start(loop, lfd, NULL, fn, arg, opts, out);
}

int cr_start_unix_server(cr_loop *loop, const char *path, cr_stream_handler fn, void *arg,
                         const cr_server_opts *opts, cr_server **out)
{
    int rc = check_start(&loop, fn, opts, out);
    if (rc < 0)
        return rc;
    int lfd = cr_listen_unix(path, opts ? opts->backlog : 0);
    if (lfd < 0)
        return lfd;
    return start(loop, lfd, path, fn, arg, opts, out);
}

/* TLS hook: the plain server, then the context; nothing is accepted before
 * the context is set (start() arms the acceptor but never suspends after). */
static int with_tls(int rc, cr_tls_ctx *ctx, cr_server **out)
{
    if (rc == 0)
        (*out)->tls = cr__tls_ctx_ref(ctx);
    return rc;
}

int cr_start_server_tls(cr_loop *loop, const char *host, int port, cr_stream_handler fn,
                        void *arg, const cr_server_opts *opts, cr_tls_ctx *ctx, cr_server **out)
{
    if (!ctx || !cr__tls_ctx_is_server(ctx))
        return out ? (*out = NULL, -EINVAL) : -EINVAL;
    return with_tls(cr_start_server(loop, host, port, fn, arg, opts, out), ctx, out);
}

int cr_start_unix_server_tls(cr_loop *loop, const char *path, cr_stream_handler fn, void *arg,
                             const cr_server_opts *opts, cr_tls_ctx *ctx, cr_server **out)
{
    if (!ctx || !cr__tls_ctx_is_server(ctx))
        return out ? (*out = NULL, -EINVAL) : -EINVAL;
    return with_tls(cr_start_unix_server(loop, path, fn, arg, opts, out), ctx, out);
}

int cr_server_port(const cr_server *srv) { return srv ? srv->port : -EINVAL; }
size_t cr_server_connections(const cr_server *srv) { return srv ? srv->nconns : 0; }
const cr_acceptor *cr_server_acceptor(const cr_server *srv) { return srv ? srv->acc : NULL; }

static void stop_accepting(cr_server *srv)
{
    if (srv->acc) {
        cr_acceptor_free(srv->acc);
        srv->acc = NULL;
    }
    if (srv->lfd >= 0) {
        close(srv->lfd);
        srv->lfd = -1;
    }
    if (srv->unix_path)
        unlink(srv->unix_path);
}

/* The connection whose handler is task t, if t is one of srv's handlers. */
static struct conn *conn_of(cr_server *srv, cr__task *t)
{
    CR__LIST_FOR_EACH(p, &srv->conns) {
        struct conn *c = CR_CONTAINER_OF(p, struct conn, link);
        if (c->task == &t->f)
            return c;
    }
    return NULL;
}

int cr_server_shutdown(cr_server *srv, double grace)
{
    cr__task *t;
    if (!srv || grace != grace)
        return -EINVAL;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (srv->waiter)
        return -EBUSY;
    stop_accepting(srv);
    /* Called from one of srv's own handlers (a "quit" request): waiting for
     * that one would wait for ourselves forever, and cancelling it would
     * cancel the caller. It is left out; it ends when it returns. */
    struct conn *self = conn_of(srv, t);
    srv->wait_floor = self ? 1 : 0;
    bool cancelled_caller = false;
    int64_t deadline = cr__deadline(grace < 0 ? 0 : grace);
    while (srv->nconns > srv->wait_floor) {
        rc = cr__park_until(&srv->waiter, deadline);
        if (rc == -ETIMEDOUT)
            break;
        if (rc == -ECANCELED) {
            cancelled_caller = true;
            break;
        }
    }
    int n = 0;
    CR__LIST_FOR_EACH(p, &srv->conns) {
        struct conn *c = CR_CONTAINER_OF(p, struct conn, link);
        if (c != self) {
            cr_cancel(c->task);
            n++;
        }
    }
    /* Handlers must be gone before we return (their streams point at srv). */
    while (srv->nconns > srv->wait_floor) {
        if (cr__park_until(&srv->waiter, -1) == -ECANCELED)
            cancelled_caller = true;
    }
    srv->wait_floor = 0;
    if (cancelled_caller) {
        t->must_cancel = true; /* delivered at the caller's next suspending call */
        return -ECANCELED;
    }
    return n;
}

int cr_server_free(cr_server *srv)
{
    if (!srv)
        return 0;
    if (srv->nconns || srv->waiter)
        return -EBUSY;
    stop_accepting(srv);
    cr__io_obj_del(srv->loop, &srv->obj);
    if (srv->start_queued) {
        /* The queued start step still points here: everything goes now but
         * the struct, which the step frees when it runs (or is dropped). */
        cr_tls_ctx_free(srv->tls);
        srv->tls = NULL;
        free(srv->unix_path);
        srv->unix_path = NULL;
        srv->free_pending = true;
        return 0;
    }
    server_destroy(&srv->obj);
    return 0;
}
