/* SPDX-License-Identifier: MIT */
/*
 * net.c — socket operations, each an awaitable single-shot op on the loop's
 * backend (io/await.c: cancel- and timeout-safe), and the address helpers.
 * The multishot accept behind servers is acceptor.c.
 *
 * Invariants:
 *  - An fd that the kernel created for a task that was cancelled meanwhile is
 *    closed here and the call returns -ECANCELED: it never leaks.
 *  - Every send carries MSG_NOSIGNAL, so a reset peer is an error, not SIGPIPE.
 *
 * Loop thread only (the address helpers: any thread).
 */
#include "io/io.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- addresses ---- */

int cr_sockaddr_ip(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    if (!ss || !len || port < 0 || port > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!host || !*host || !strcmp(host, "localhost")) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        v4->sin_addr.s_addr = htonl(host && *host ? INADDR_LOOPBACK : INADDR_ANY);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    /* "[::1]" and "::1" both name IPv6. */
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    /* Hostnames need getaddrinfo, which blocks: cr_getaddrinfo runs it on the
     * thread pool, and cr_connect_tcp / cr_listen_tcp fall back to it on this
     * code. This call never blocks, so it stops here. */
    return -EAFNOSUPPORT;
}

int cr_sockaddr_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    if (!path || !ss || !len || !*path)
        return -EINVAL;
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int cr_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

/* ---- sockets ---- */

int cr_socket(int domain, int type, int protocol)
{
    CR__IO_START(io, CR__OP_SOCKET, -1);
    io.op.a.sock.domain = domain;
    io.op.a.sock.type = type | SOCK_CLOEXEC;
    io.op.a.sock.protocol = protocol;
    return cr__io_fd_result(&io, cr__io_wait(&io, -1));
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t len, int backlog)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (ss->ss_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) < 0 ||
        listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int listen_resolved(const char *host, int port, int backlog);

int cr_listen_tcp(const char *host, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = cr_sockaddr_ip(host, port, &ss, &len);
    if (rc == -EAFNOSUPPORT)
        return listen_resolved(host, port, backlog); /* a hostname: suspends */
    return rc < 0 ? rc : listen_on(&ss, len, backlog);
}

int cr_listen_unix(const char *path, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = cr_sockaddr_unix(path, &ss, &len);
    if (rc < 0)
        return rc;
    unlink(path); /* a stale socket file from an earlier run */
    return listen_on(&ss, len, backlog);
}

int cr_accept(int fd, struct sockaddr *addr, socklen_t *len, double timeout)
{
    if ((addr == NULL) != (len == NULL))
        return -EINVAL;
    CR__IO_START(io, CR__OP_ACCEPT, fd);
    io.op.a.acc.addr = addr;
    io.op.a.acc.lenp = len;
    return cr__io_fd_result(&io, cr__io_wait(&io, cr__deadline(timeout)));
}

int cr_connect(int fd, const struct sockaddr *addr, socklen_t len, double timeout)
{
    if (!addr)
        return -EINVAL;
    CR__IO_START(io, CR__OP_CONNECT, fd);
    io.op.a.acc.addr = (void *)addr;
    io.op.a.acc.len = len;
    return cr__io_wait(&io, cr__deadline(timeout));
}

static int connect_to(const struct sockaddr_storage *ss, socklen_t len, double timeout)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (ss->ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    rc = cr_connect(fd, (const struct sockaddr *)ss, len, timeout);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int connect_resolved(const char *host, int port, double timeout);

int cr_connect_tcp(const char *host, int port, double timeout)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = cr_sockaddr_ip(host, port, &ss, &len);
    if (rc == -EAFNOSUPPORT)
        return connect_resolved(host, port, timeout);
    return rc < 0 ? rc : connect_to(&ss, len, timeout);
}

/* ---- hostnames (getaddrinfo on the pool: resolve.c) ---- */

/* Resolves host:port for a TCP socket; *res to free with freeaddrinfo. */
static int resolve_tcp(const char *host, int port, int flags, int64_t deadline,
                       struct addrinfo **res)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = flags | AI_NUMERICSERV};
    return cr__getaddrinfo_until(host, ps, &hints, res, deadline);
}

/* From ai on, the first address that fits a sockaddr_storage, copied into
 * *ss; NULL at the end. Lets both loops below walk getaddrinfo's list. */
static const struct addrinfo *next_fit(const struct addrinfo *ai, struct sockaddr_storage *ss)
{
    for (; ai; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof *ss) {
            memcpy(ss, ai->ai_addr, ai->ai_addrlen);
            return ai;
        }
    return NULL;
}

static double remaining(int64_t deadline)
{
    if (deadline < 0)
        return CR_NO_TIMEOUT;
    int64_t left = deadline - cr__now_ns();
    return left > 0 ? (double)left / 1e9 : 0;
}

/* Every address in the order getaddrinfo gives (RFC 6724: usually IPv6
 * first), one at a time, within the one overall timeout; the last error if
 * none connects. Not happy eyeballs: a silent first address costs the rest of
 * the timeout. */
static int connect_resolved(const char *host, int port, double timeout)
{
    int64_t deadline = cr__deadline(timeout);
    if (deadline == CR__BAD_DEADLINE)
        return -EINVAL;
    struct addrinfo *res;
    int rc = resolve_tcp(host, port, 0, deadline, &res);
    if (rc < 0)
        return rc;
    rc = CR_ENONAME; /* no address of a family we can use */
    struct sockaddr_storage ss;
    for (const struct addrinfo *ai = res; (ai = next_fit(ai, &ss)); ai = ai->ai_next) {
        rc = connect_to(&ss, ai->ai_addrlen, remaining(deadline));
        if (rc >= 0 || rc == -ECANCELED || rc == -EPERM)
            break;
        /* The kernel's own SYN timeout is per address: try the next one;
         * ours is for the whole call. */
        if (rc == -ETIMEDOUT && deadline >= 0 && cr__now_ns() >= deadline)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

/* The first address that binds (asyncio binds them all; one listener here). */
static int listen_resolved(const char *host, int port, int backlog)
{
    struct addrinfo *res;
    int rc = resolve_tcp(host, port, AI_PASSIVE, -1, &res);
    if (rc < 0)
        return rc;
    rc = CR_ENONAME;
    struct sockaddr_storage ss;
    for (const struct addrinfo *ai = res; (ai = next_fit(ai, &ss)); ai = ai->ai_next) {
        if ((rc = listen_on(&ss, ai->ai_addrlen, backlog)) >= 0)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

int cr_connect_unix(const char *path, double timeout)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = cr_sockaddr_unix(path, &ss, &len);
    return rc < 0 ? rc : connect_to(&ss, len, timeout);
}

ssize_t cr_recv(int fd, void *buf, size_t len, int flags, double timeout)
{
    if (!buf && len)
        return -EINVAL;
    CR__IO_START(io, CR__OP_RECV, fd);
    io.op.a.rw.buf = buf;
    io.op.a.rw.len = len;
    io.op.a.rw.flags = flags;
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_send(int fd, const void *buf, size_t len, int flags, double timeout)
{
    if (!buf && len)
        return -EINVAL;
    CR__IO_START(io, CR__OP_SEND, fd);
    io.op.a.rw.buf = (void *)buf;
    io.op.a.rw.len = len;
    io.op.a.rw.flags = flags | MSG_NOSIGNAL;
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_send_all(int fd, const void *buf, size_t len, double timeout)
{
    int64_t deadline = cr__deadline(timeout);
    if (deadline == CR__BAD_DEADLINE)
        return -EINVAL;
    size_t done = 0;
    while (done < len) {
        double left = -1;
        if (deadline >= 0) {
            left = (double)(deadline - cr__now_ns()) / 1e9;
            if (left <= 0)
                return -ETIMEDOUT;
        }
        ssize_t n = cr_send(fd, (const char *)buf + done, len - done, 0, left);
        if (n < 0)
            return n;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t cr_recvmsg(int fd, struct msghdr *msg, int flags, double timeout)
{
    if (!msg)
        return -EINVAL;
    CR__IO_START(io, CR__OP_RECVMSG, fd);
    io.op.a.rw.buf = msg;
    io.op.a.rw.flags = flags;
    return cr__io_wait(&io, cr__deadline(timeout));
}

ssize_t cr_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout)
{
    if (!msg)
        return -EINVAL;
    CR__IO_START(io, CR__OP_SENDMSG, fd);
    io.op.a.rw.buf = (void *)msg;
    io.op.a.rw.flags = flags | MSG_NOSIGNAL;
    return cr__io_wait(&io, cr__deadline(timeout));
}

int cr_shutdown(int fd, int how)
{
    CR__IO_START(io, CR__OP_SHUTDOWN, fd);
    io.op.a.rw.flags = how;
    return cr__io_wait(&io, -1);
}

int cr_close(int fd)
{
    cr__task *t = cr__current();
    if (fd < 0)
        return -EBADF;
    struct cr__io io;
    if (!t || t->must_cancel || cr__io_begin(&io, CR__OP_CLOSE, fd) < 0) {
        /* Outside a task or a cancel pending: close right here (a pending
         * cancel stays for the caller's next suspending call). */
        return close(fd) < 0 ? -errno : 0;
    }
    /* A close is not cancellable half-way: wait for it whatever happens. If a
     * cancel arrived meanwhile, report the close's own result and keep the
     * cancel pending. */
    int rc = cr__io_wait(&io, -1);
    if (rc == -ECANCELED && io.res != -ECANCELED) {
        t->must_cancel = true;
        rc = io.res;
    }
    return rc;
}
