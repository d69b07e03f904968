/* SPDX-License-Identifier: MIT */
/*
 * Description: zero-copy streams — cr_stream_read_buf hands the reader the
 * provided buffer the kernel filled (or a pinned view of data already
 * buffered), cr_stream_write_buf sends straight from it and gives it back to
 * the ring once sent; one view per stream at a time; misuse is -EINVAL /
 * -EBUSY; freeing a stream returns its view; a ring more than half held makes
 * write_buf copy instead; a large echo through views keeps byte order.
 * Real sockets on 127.0.0.1.
 */
#include "io-helpers.h"
#include "core/internal.h"
#include "io/io.h"

static unsigned in_use(void)
{
    cr_bufring_stats st;
    cr_assert_eq(cr_loop_buffer_stats(cr_get_running_loop(NULL), &st), 0);
    return st.in_use;
}

static cr_stream *pair_stream(int p[2])
{
    tcp_pair(p);
    cr_stream *s;
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), p[0], NULL, &s), 0);
    return s;
}

static void done_stream(cr_stream *s, int p[2])
{
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    close(p[1]);
}

/* The body of a test on one stream s over the TCP pair p. */
typedef void pair_fn(cr_stream *s, int p[2]);

static int on_pair(void *arg, void **result)
{
    (void)result;
    pair_fn *body = *(pair_fn **)arg;
    int p[2];
    cr_stream *s = pair_stream(p);
    body(s, p);
    done_stream(s, p);
    return 0;
}

/* Run body in a task on a fresh stream, then close the stream and its peer. */
#define RUN_ON_PAIR(body)                                                         \
    do {                                                                          \
        pair_fn *body_ = (body);                                                  \
        RUN_EXPECT(on_pair, &body_, 0);                                           \
    } while (0)

static int feed(void *arg, void **result)
{
    (void)result;
    int fd = PINT(arg);
    cr_assert_eq(cr_send_all(fd, "hello", 5, 5.0), 5);
    return 0;
}

static void echo_body(cr_stream *s, int p[2])
{
    /* The data arrives while read_buf is parked: the view is the provided buffer. */
    cr_task *t = cr_create_task(feed, IPTR(p[1]));
    cr_buf b;
    cr_assert_eq(cr_stream_read_buf(s, &b), 5);
    cr_assert_geq(b.bid, 0, "handed the provided buffer itself");
    cr_assert_eq(memcmp(b.data, "hello", 5), 0);
    cr_assert_eq(in_use(), 1);
    char tmp[8];
    cr_assert_eq(cr_stream_read(s, tmp, sizeof tmp), -EBUSY, "a view is out");
    cr_buf other;
    cr_assert_eq(cr_stream_read_buf(s, &other), -EBUSY);
    cr_assert_eq(cr_stream_read_buf(s, &b), -EBUSY);
    cr_assert_not_null(b.data, "a refused read_buf leaves the view it was given intact");
    cr_assert_eq(cr_stream_write_buf(s, &b), 5);
    cr_assert_null(b.data, "write_buf empties the view");
    cr_assert_eq(cr_stream_release_buf(s, &b), 0, "an empty view: no-op");
    cr_assert_eq(cr_recv(p[1], tmp, sizeof tmp, 0, 5.0), 5);
    cr_assert_eq(memcmp(tmp, "hello", 5), 0);
    cr_assert_eq(cr_stream_drain(s), 0);
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    cr_assert_eq(in_use(), 0, "the buffer went back once the send completed");
    /* EOF: 0 and an empty view. */
    shutdown(p[1], SHUT_WR);
    cr_assert_eq(cr_stream_read_buf(s, &b), 0);
    cr_assert_null(b.data);
}

static void mixed_body(cr_stream *s, int p[2])
{
    cr_buf b;
    /* A view sent from its own buffer, a copied write behind it, and a
     * second view while the first send has not left yet (it waits for the
     * loop's turn, on both backends): the second must queue behind, copied,
     * not take the first one's place. */
    cr_task *t = cr_create_task(feed, IPTR(p[1]));
    cr_assert_eq(cr_stream_read_buf(s, &b), 5);
    cr_assert_geq(b.bid, 0);
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    cr_assert_eq(cr_stream_write_buf(s, &b), 5);
    cr_assert_eq(cr_stream_write(s, ", ", 2), 2);
    t = cr_create_task(feed, IPTR(p[1]));
    cr_assert_eq(cr_stream_read_buf(s, &b), 5);
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    cr_assert_eq(cr_stream_write_buf(s, &b), 5);
    cr_assert_eq(cr_stream_write(s, "!", 1), 1);
    cr_assert_eq(cr_stream_drain(s), 0);
    char got[16];
    cr_assert_eq(cr_recv(p[1], got, 13, MSG_WAITALL, 5.0), 13);
    cr_assert_eq(memcmp(got, "hello, hello!", 13), 0, "in the order written");
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(in_use(), 0, "both provided buffers went back");
}

/* Zero-copy and copied writes of one turn leave in the order written, the
 * second view copied behind the first (one send from a provided buffer per
 * stream at a time). */
Test(zerocopy, views_and_writes_of_one_turn_keep_order)
{
    RUN_ON_PAIR(mixed_body);
}

/* A chunk that arrives while read_buf waits is handed over in its provided
 * buffer, echoed from it, and the buffer returns to the ring after the send. */
Test(zerocopy, read_buf_and_write_buf_echo)
{
    RUN_ON_PAIR(echo_body);
}

static void pinned_body(cr_stream *s, int p[2])
{
    char big[8192];
    memset(big, 'x', sizeof big);
    cr_assert_eq(write(p[1], "abc", 3), 3);
    wait_taken_by_loop(p[0], p[1]); /* nobody reads: the sink copies into rb */
    cr_buf b;
    cr_assert_eq(cr_stream_read_buf(s, &b), 3);
    cr_assert_lt(b.bid, 0, "a view into the stream's own buffer");
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    cr_assert_eq(in_use(), 0);
    /* More than rb holds arrives while the view pins rb: rb moves on, the
     * view stays intact. */
    cr_assert_eq(cr_send_all(p[1], big, sizeof big, 5.0), (ssize_t)sizeof big);
    wait_taken_by_loop(p[0], p[1]);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0, "the pinned view was not moved");
    cr_buf wrong = b;
    wrong.bid = 7;
    cr_assert_eq(cr_stream_release_buf(s, &wrong), -EINVAL);
    cr_assert_eq(cr_stream_release_buf(NULL, &b), -EINVAL);
    cr_assert_eq(cr_stream_release_buf(s, &b), 0);
    cr_assert_null(b.data);
    cr_assert_eq(cr_stream_write_buf(s, &b), -EINVAL, "not a view");
    cr_assert_eq(cr_stream_read_buf(s, NULL), -EINVAL);
    cr_assert_eq(cr_stream_read_buf(NULL, &b), -EINVAL);
    char got[sizeof big];
    size_t n;
    cr_assert_eq(cr_stream_readexactly(s, got, sizeof got, &n), (ssize_t)sizeof got);
    cr_assert_eq(memcmp(got, big, sizeof big), 0);
    /* A view of buffered data, then more data and a second view. */
    cr_assert_eq(write(p[1], "def", 3), 3);
    cr_assert_eq(cr_stream_read_buf(s, &b), 3);
    cr_assert_eq(memcmp(b.data, "def", 3), 0);
    cr_assert_eq(cr_stream_write_buf(s, &b), 3);
    char tmp[8];
    cr_assert_eq(cr_recv(p[1], tmp, sizeof tmp, 0, 5.0), 3);
    cr_assert_eq(memcmp(tmp, "def", 3), 0);
}

/* Data already buffered is viewed in place; the stream never moves a pinned
 * buffer, even when more data than it holds arrives; misuse is -EINVAL. */
Test(zerocopy, view_of_buffered_data_is_pinned)
{
    RUN_ON_PAIR(pinned_body);
}

static int free_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int p[2];
    cr_stream *s = pair_stream(p);
    cr_task *t = cr_create_task(feed, IPTR(p[1]));
    cr_buf b;
    cr_assert_eq(cr_stream_read_buf(s, &b), 5);
    cr_assert_eq(in_use(), 1);
    cr_stream_free(s);
    cr_assert_eq(in_use(), 0, "free gave the view's buffer back");
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    close(p[1]);
    return 0;
}

/* Freeing a stream with a view out returns the view's provided buffer. */
Test(zerocopy, free_releases_the_view)
{
    RUN_EXPECT(free_main, NULL, 0);
}

struct crowd {
    int p[3][2];
    cr_stream *s[3];
};

static int crowd_main(void *arg, void **result)
{
    (void)result;
    (void)arg;
    struct crowd c;
    cr_assert_eq(cr_loop_set_buffers(cr_get_running_loop(NULL), 4, 64), 0);
    cr_buf b[3];
    for (int i = 0; i < 3; i++) {
        c.s[i] = pair_stream(c.p[i]);
        cr_task *t = cr_create_task(feed, IPTR(c.p[i][1]));
        cr_assert_eq(cr_stream_read_buf(c.s[i], &b[i]), 5);
        cr_assert_geq(b[i].bid, 0);
        cr_assert_eq(cr_await(t, NULL), 0);
        cr_future_unref(t);
    }
    cr_assert_eq(in_use(), 3);
    /* 3 of 4 buffers held: more than half, so write_buf copies and the
     * buffer goes back at once instead of waiting for the peer. */
    cr_assert_eq(cr_stream_write_buf(c.s[0], &b[0]), 5);
    cr_assert_eq(in_use(), 2, "copied, not pinned by the send");
    /* 2 of 4: a send straight from the buffer, which comes back when sent
     * (the send goes out at the loop's next turn on either backend), and
     * nothing was copied into a write buffer of the stream's. */
    cr_assert_eq(cr_stream_write_buf(c.s[1], &b[1]), 5);
    cr_assert_eq(in_use(), 2, "pinned while the kernel sends it");
    cr_assert_eq(cr__stream_buffer_bytes(c.s[1]), 0, "sent from the provided buffer, not copied");
    cr_assert_eq(cr_stream_release_buf(c.s[2], &b[2]), 0);
    char tmp[8];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(cr_recv(c.p[i][1], tmp, sizeof tmp, 0, 5.0), 5);
        cr_assert_eq(memcmp(tmp, "hello", 5), 0);
    }
    for (int i = 0; i < 3; i++)
        done_stream(c.s[i], c.p[i]);
    cr_assert_eq(in_use(), 0);
    return 0;
}

/* While more than half the ring is held, write_buf copies rather than pin
 * another provided buffer on a send (slow peers cannot starve the ring). */
Test(zerocopy, write_buf_copies_when_the_ring_is_short)
{
    RUN_EXPECT(crowd_main, NULL, 0);
}

#define BULK (1u << 20)

struct bulk {
    int fd;
    unsigned char *got;
};

static int bulk_client(void *arg, void **result)
{
    (void)result;
    struct bulk *k = arg;
    unsigned char *out = malloc(BULK);
    for (size_t i = 0; i < BULK; i++)
        out[i] = (unsigned char)(i * 7 + i / 4096);
    size_t sent = 0, got = 0;
    while (got < BULK) {
        if (sent < BULK) {
            size_t n = BULK - sent < 3000 ? BULK - sent : 3000;
            cr_assert_eq(cr_send_all(k->fd, out + sent, n, 5.0), (ssize_t)n);
            sent += n;
        }
        ssize_t r = cr_recv(k->fd, k->got + got, BULK - got, MSG_DONTWAIT, 5.0);
        if (r == -EAGAIN && sent == BULK)
            r = cr_recv(k->fd, k->got + got, BULK - got, 0, 5.0);
        if (r == -EAGAIN)
            continue;
        cr_assert_gt(r, 0);
        got += (size_t)r;
    }
    cr_assert_eq(memcmp(out, k->got, BULK), 0, "echoed bytes in order");
    free(out);
    shutdown(k->fd, SHUT_WR);
    return 0;
}

static int bulk_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int p[2];
    cr_stream *s = pair_stream(p);
    struct bulk k = {p[1], malloc(BULK)};
    cr_task *t = cr_create_task(bulk_client, &k);
    cr_buf b;
    ssize_t n;
    unsigned turn = 0;
    while ((n = cr_stream_read_buf(s, &b)) > 0) {
        /* Mix copied writes in: order must hold across both kinds. */
        if (turn++ % 3 == 0) {
            cr_assert_eq(cr_stream_write(s, b.data, 1), 1);
            cr_assert_eq(cr_stream_write(s, b.data + 1, (size_t)n - 1), n - 1);
            cr_assert_eq(cr_stream_release_buf(s, &b), 0);
        } else {
            cr_assert_eq(cr_stream_write_buf(s, &b), n);
        }
        cr_assert_eq(cr_stream_drain(s), 0);
    }
    cr_assert_eq(n, 0);
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    free(k.got);
    done_stream(s, p);
    cr_assert_eq(in_use(), 0);
    return 0;
}

/* 1 MiB echoed through views, some sent from provided buffers and some
 * copied, comes back byte for byte in order. */
Test(zerocopy, bulk_echo_keeps_byte_order)
{
    RUN_EXPECT(bulk_main, NULL, 0);
}
