/* SPDX-License-Identifier: MIT */
/*
 * uv-echo.c — a libuv echo server, the peer runtime in the echo benchmark.
 * Idiomatic libuv: uv_read_start with a per-connection buffer, uv_write of a
 * copy per read, TCP_NODELAY.   uv-echo [port]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_loop_t *loop;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} wreq;

static void on_close(uv_handle_t *h) { free(h); }

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    static char slab[65536];
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_write(uv_write_t *r, int status)
{
    (void)status;
    wreq *w = (wreq *)r;
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    wreq *w = malloc(sizeof *w);
    w->buf = uv_buf_init(malloc((size_t)n), (unsigned)n);
    memcpy(w->buf.base, buf->base, (size_t)n);
    uv_write(&w->req, s, &w->buf, 1, on_write);
}

static void on_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(loop, c);
    if (uv_accept(srv, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, alloc_cb, on_read);
    } else {
        uv_close((uv_handle_t *)c, on_close);
    }
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    uv_tcp_t srv;
    uv_tcp_init(loop, &srv);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0, &a);
    uv_tcp_bind(&srv, (const struct sockaddr *)&a, 0);
    if (uv_listen((uv_stream_t *)&srv, 4096, on_conn) != 0)
        return 1;
    int len = sizeof a;
    uv_tcp_getsockname(&srv, (struct sockaddr *)&a, &len);
    printf("uv: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    uv_signal_t si, st;
    uv_signal_init(loop, &si);
    uv_signal_start(&si, on_signal, SIGINT);
    uv_signal_init(loop, &st);
    uv_signal_start(&st, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
