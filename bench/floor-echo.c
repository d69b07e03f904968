/* SPDX-License-Identifier: MIT */
/*
 * floor-echo.c — the kernel floor for echo benchmarks: a runtime-free
 * liburing echo server. Multishot accept, multishot recv into a provided
 * buffer ring, a send straight from the received buffer (returned to the ring
 * when the send completes), and one submit-and-wait per loop turn. No tasks,
 * no copies, no allocation: whatever a runtime spends above this is its cost.
 *
 *     floor-echo [port]        prints "floor: listening on 127.0.0.1:PORT"
 *
 * SIGINT/SIGTERM end it. Ring: SINGLE_ISSUER | DEFER_TASKRUN, as coring's.
 */
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

enum { NBUF = 4096, BUFSZ = 2048, BGID = 7 };
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

/* user_data = op | fd << 8 (16 bits) | bid << 24 (16 bits) */
#define UD(op, fd, bid) ((uint64_t)(op) | (uint64_t)((fd) & 0xffff) << 8 | (uint64_t)(bid) << 24)

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static volatile sig_atomic_t quit;

static void on_signal(int sig) { (void)sig; quit = 1; }

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void recycle(int bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUF), 0);
    io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, UD(OP_RECV, fd, 0));
}

static void send_buf(int fd, int bid, unsigned len)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, fd, bufs + (size_t)bid * BUFSZ, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, UD(OP_SEND, fd, bid));
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 16384;
    if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
        memset(&p, 0, sizeof p);
        if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
            perror("io_uring");
            return 1;
        }
    }
    br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = malloc((size_t)NBUF * BUFSZ);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) {
        fprintf(stderr, "floor: buffer ring refused\n");
        return 1;
    }
    io_uring_buf_ring_init(br);
    for (int i = 0; i < NBUF; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUF), i);
    io_uring_buf_ring_advance(br, NBUF);

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, SOMAXCONN) < 0) {
        perror("floor: listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    printf("floor: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, UD(OP_ACCEPT, lfd, 0));

    unsigned long long turns = 0;
    while (!quit) {
        io_uring_submit_and_wait(&ring, 1);
        turns++;
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            n++;
            uint64_t ud = cqe->user_data;
            int op = (int)(ud & 0xff), fd = (int)(uint32_t)(ud >> 8 & 0xffff);
            int res = cqe->res;
            bool more = cqe->flags & IORING_CQE_F_MORE;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(res);
                }
                if (!more) {
                    s = sqe_get();
                    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
                    io_uring_sqe_set_data64(s, UD(OP_ACCEPT, lfd, 0));
                }
            } else if (op == OP_RECV) {
                if (res > 0) {
                    send_buf(fd, (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT), (unsigned)res);
                    if (!more)
                        arm_recv(fd);
                } else if (res == -ENOBUFS) {
                    arm_recv(fd); /* buffers come back as sends complete */
                } else if (!more) {
                    close(fd); /* EOF or error */
                }
            } else if (op == OP_SEND) {
                /* A short send of a small echo is rare; the floor ignores it. */
                recycle((int)(ud >> 24 & 0xffff));
            }
        }
        io_uring_cq_advance(&ring, n);
    }
    fprintf(stderr, "floor: %llu loop turns\n", turns);
    io_uring_queue_exit(&ring);
    free(bufs);
    return 0;
}
