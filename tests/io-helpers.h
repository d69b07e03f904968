/* SPDX-License-Identifier: MIT */
/*
 * io-helpers.h — shared by the I/O suites (net, fs, stream, server): fd
 * counting for leak checks, a connected TCP pair on 127.0.0.1 and clients
 * connected while the process is out of fds.
 */
#ifndef CORING_TEST_IO_HELPERS_H
#define CORING_TEST_IO_HELPERS_H

#include "helpers.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Open fds of this process right now. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

/* A connected TCP pair over 127.0.0.1 made with plain syscalls (no loop
 * needed): out[0] is the accepted side, out[1] the connecting side. */
static inline void tcp_pair(int out[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(s, 0);
    close(l);
    out[0] = s;
    out[1] = c;
}

/* RUN_EXPECT(fn, arg, 0), then require every fd opened meanwhile closed. */
#define RUN_NO_FD_LEAK(fn, arg)                                                   \
    do {                                                                          \
        int before_ = count_fds();                                                \
        RUN_EXPECT(fn, arg, 0);                                                   \
        cr_assert_eq(count_fds(), before_);                                       \
    } while (0)

/* Open n client sockets, lower RLIMIT_NOFILE so that no new fd fits, then
 * connect them all to 127.0.0.1:port: the listener cannot accept them.
 * *old gets the limit to restore. */
static inline void connect_out_of_fds(int *c, int n, int port, struct rlimit *old)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cr_sockaddr_ip("127.0.0.1", port, &ss, &len);
    for (int i = 0; i < n; i++)
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct rlimit low;
    getrlimit(RLIMIT_NOFILE, old);
    low = *old;
    int probe = dup(0); /* the lowest free fd number: the limit is on fd numbers */
    close(probe);
    low.rlim_cur = (rlim_t)probe;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(connect(c[i], (struct sockaddr *)&ss, len), 0);
}

/* Fix the kernel's buffering between a sender fd and its peer's receiving
 * fd at a few hundred KB: with autotuning, loopback TCP can soak up several
 * MB given time, so "the peer never reads, the sender must wait" would
 * depend on how fast the machine is. */
static inline void small_socket_buffers(int snd_fd, int rcv_fd)
{
    int sz = 64 * 1024;
    cr_assert_eq(setsockopt(snd_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    cr_assert_eq(setsockopt(rcv_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
}

/* Yield until the bytes written on the TCP socket wfd have reached the loop:
 * the peer acked them (SIOCOUTQ on wfd is 0) and the ring took them off
 * rfd's receive queue (SIOCINQ on rfd is 0); then two loop turns so their
 * completions have been handled. Waits for the event, never a guessed time. */
static inline void wait_taken_by_loop(int rfd, int wfd)
{
    for (int i = 0; i < 10000; i++) { /* at most ~10 s: then the asserts say why */
        int out = -1, in = -1;
        cr_assert_eq(ioctl(wfd, SIOCOUTQ, &out), 0);
        cr_assert_eq(ioctl(rfd, SIOCINQ, &in), 0);
        if (out == 0 && in == 0)
            break;
        cr_sleep(0.001);
    }
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
}

#endif
