/* SPDX-License-Identifier: MIT */
/*
 * floor-epoll.c — the kernel floor for the echo benchmark on epoll: a
 * runtime-free server that makes the system calls an epoll runtime cannot
 * avoid and nothing else. Edge-triggered registrations made once per
 * connection (EPOLLIN | EPOLLOUT | EPOLLRDHUP, as Tokio's and coring's), one
 * epoll_wait per loop turn, one recv and one send per message, a read shorter
 * than the buffer taken as "drained" (Tokio does the same, which saves the
 * recv that would return EAGAIN). No tasks, no wakers, no copies: what a
 * runtime spends above this is its own cost (bench/backends.py puts it beside
 * coring on epoll, libuv and Tokio). floor-echo.c is its io_uring twin.
 *
 *     floor-epoll [--far STRIDE] [port]
 *                              prints "floor-epoll: listening on 127.0.0.1:PORT"
 *
 * --far STRIDE (an experiment, docs/backends.md): each message also reads and
 * writes one cache line of its connection's own, the connections' lines
 * STRIDE bytes apart: 64 packs them like heap objects, 81920 spaces them like
 * the tops of coring's 64 KiB guarded stacks. The difference between the two
 * is what that spacing costs per request on the machine at hand.
 *
 * A send the socket cannot take whole keeps the rest and stops reading that
 * connection until EPOLLOUT has flushed it (a slow reader is never dropped).
 * SIGINT/SIGTERM end it. One thread, one connection struct per client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFSZ = 4096, MAXEV = 1024 };

struct conn {
    volatile long *far; /* --far: this connection's line, or NULL */
    int fd;
    unsigned off, len; /* buf[off..len): not yet sent */
    char buf[BUFSZ];
};

static volatile sig_atomic_t quit;
static char *far_region; /* --far: MAX_FAR lines, `far_stride` apart */
static size_t far_stride, far_next;
enum { MAX_FAR = 16384 };
static void on_signal(int sig) { (void)sig; quit = 1; }

static void drop(struct conn *c)
{
    close(c->fd); /* also takes it out of the epoll set */
    free(c);
}

/* Sends what is pending; false: the connection is gone. */
static bool flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN; /* EPOLLOUT resumes it */
        c->off += (unsigned)n;
    }
    c->off = c->len = 0;
    return true;
}

/* Echoes what there is to read; false: the connection is gone. */
static bool serve(struct conn *c)
{
    while (c->off == c->len) { /* nothing pending: read more */
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n <= 0)
            return n < 0 && errno == EAGAIN;
        c->off = 0;
        c->len = (unsigned)n;
        if (c->far) { /* --far: a load the next step waits for, then a store */
            c->len += (unsigned)(*c->far & 0);
            *c->far += 1;
        }
        if (!flush(c))
            return false;
        if (n < (ssize_t)sizeof c->buf)
            break; /* short read: the socket is drained; the next edge says when not */
    }
    return true;
}

static void accept_all(int ep, int ls)
{
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error the next edge retries */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        *c = (struct conn){.fd = fd};
        if (far_region) /* connections past MAX_FAR share the lines from the start */
            c->far = (volatile long *)(far_region + (far_next++ % MAX_FAR + 1) * far_stride - 64);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            drop(c);
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 2 && !strcmp(argv[1], "--far")) {
        far_stride = strtoul(argv[2], NULL, 10);
        if (far_stride < 64 || far_stride % 64) {
            fprintf(stderr, "floor-epoll: --far wants a multiple of 64\n");
            return 2;
        }
        far_region = mmap(NULL, far_stride * (MAX_FAR + 1), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (far_region == MAP_FAILED) {
            perror("floor-epoll: mmap");
            return 1;
        }
        argc -= 2;
        argv += 2;
    }
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
        perror("floor-epoll: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) < 0) {
        perror("floor-epoll: epoll");
        return 1;
    }
    printf("floor-epoll: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    static struct epoll_event evs[MAXEV];
    while (!quit) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                accept_all(ep, ls);
                continue;
            }
            bool ok = true;
            if (c->off < c->len) {
                /* A send was left over: reads waited for it, and an EPOLLIN
                 * edge may have come and gone meanwhile, so read after it. */
                ok = flush(c) && (c->off < c->len || serve(c));
            } else if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
                ok = serve(c);
            }
            if (!ok)
                drop(c);
        }
    }
    return 0;
}
