/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c — the benchmark suite's load generator. It owes nothing to coring:
 * plain epoll, nonblocking sockets, one epoll loop per thread, so a fault in
 * coring cannot flatter coring's own figures.
 *
 *   loadgen -p PORT [-h 127.0.0.1] [-c 50] [-t 1] [-d 1] [-w 0.5] [-s 64] [-P 1]
 *           [-m echo|http|idle|churn|http-churn] [-R RATE] [-B 200] [-S SERVER_PID] [-H]
 *
 * -c connections, spread over -t threads (one epoll loop each); -d seconds
 * measured after -w seconds of warm-up; -s echo payload bytes; -P requests in
 * flight per connection (closed loop); -R total requests/s (open loop); -B µs:
 * in the open loop, when the next request is due within this many µs the
 * thread polls (epoll timeout 0) instead of sleeping — a timer wake-up costs
 * ~20 µs on these VMs, which would be charged to every server's latency (the
 * generator then shows as ~100% busy: judge it by `lag`, not by its CPU).
 *
 * Modes of load (echo and http):
 *   closed loop (no -R): every connection keeps -P requests in flight; a new
 *     one is written as soon as an answer is complete. Gives saturation req/s.
 *     A request's latency runs from just before the write() that carries its
 *     first byte to the read() that completes its answer.
 *   open loop (-R RATE, total requests/s over all connections): request j of a
 *     thread is due at t0 + j/rate_per_thread on connection j mod conns, whether
 *     or not earlier answers came back (they are pipelined behind). Its latency
 *     runs from that *intended* time, so a stalled server is charged for every
 *     request it delayed (no coordinated omission, as in wrk2). `lag` reports how
 *     late the generator itself wrote requests (its own share of the delay).
 *     -X shuffles the connections' order afresh for every cycle (each still
 *     gets one request per cycle): round-robin in opening order walks the
 *     server's per-connection state in the order it was allocated, which
 *     could favour servers that allocate it side by side (measured: it did
 *     not change coring's standing against Tokio, docs/backends.md).
 * Checks: echo answers must be byte-for-byte the request (each request carries
 * a pattern offset by its sequence number, so reordered or mixed bytes fail);
 * HTTP answers must be `HTTP/1.x 200` with a Content-Length body. A mismatch
 * counts as an error and the run exits non-zero.
 *
 * Measured window: after -w seconds of warm-up, about -d seconds: exactly
 * the span between two readings the first load thread takes as it passes
 * each edge (see edges_taken), of
 *   - its own CPU (each load thread's CPU clock: busy = CPU / window),
 *   - the server's CPU with -S PID (schedstat of every task of PID and of its
 *     child processes, ns exact).
 * Only answers completed between the two readings are counted, so server
 * CPU/request divides the CPU of exactly the counted window.
 * Latencies go into an HDR-style histogram: 128 linear sub-buckets per power
 * of two (worst-case bucket width 0.78%; the reported value is the bucket's
 * midpoint, within 0.4%).
 *
 * churn mode: each of -c slots connects, sends one -s byte message, reads
 * its echo, closes, and starts over (closed loop): connections/s, and the
 * server's CPU per connection; latency runs from connect() to the echo.
 * http-churn: the same with one HTTP request (the http mode's) per connection,
 * checked as http mode checks it; the client closes after the answer.
 * Against a loopback server, churn connections come from 64 source addresses
 * in turn (127.0.0.2 onwards, bound with IP_BIND_ADDRESS_NO_PORT so that
 * connect() picks the port per address), as a server's many clients would.
 * From one address, the client's closed ports sit in TIME_WAIT and connect()
 * soon reuses them (tcp_tw_reuse); about 1% of connections then stalled
 * ~50 ms, whatever the server: the client's ports set the rate.
 *
 * idle mode: opens -c connections, makes one 1-byte round trip on each (so the
 * server has accepted it and parked a read), then with -S PID reports the
 * server's RSS growth per connection (VmRSS after − before). -H (hold): after
 * printing its line, keeps every connection open until its stdin reaches EOF,
 * so that a driver can hold N connections over several server processes, each
 * with its own loadgen, all open at once (bench/servers.py idle_memory_split);
 * a driver that dies closes the pipe, which ends the hold.
 *
 * Output: one line of key=value pairs on stdout (bench/servers.py parses it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ histogram -- */

enum { SUB_BITS = 7, SUB = 1 << SUB_BITS, NBUCKET = (64 - SUB_BITS + 1) * SUB };

typedef struct {
    uint64_t n[NBUCKET];
    uint64_t count, max;
    double sum;
} hist;

static int hist_index(uint64_t v)
{
    if (v < 2 * SUB)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= SUB_BITS + 1 */
    return (e - SUB_BITS) * SUB + (int)(v >> (e - SUB_BITS));
}

/* The midpoint of bucket i, in the unit recorded (ns). */
static double hist_value(int i)
{
    if (i < 2 * SUB)
        return i;
    int e = i / SUB + SUB_BITS - 1;
    uint64_t m = (uint64_t)(i - (e - SUB_BITS) * SUB);
    double width = (double)(1ULL << (e - SUB_BITS));
    return (double)(m << (e - SUB_BITS)) + width / 2;
}

static void hist_add(hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

static void hist_merge(hist *to, const hist *from)
{
    for (int i = 0; i < NBUCKET; i++)
        to->n[i] += from->n[i];
    to->count += from->count;
    to->sum += from->sum;
    if (from->max > to->max)
        to->max = from->max;
}

static double hist_pct(const hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)(p * (double)h->count + 0.999999), seen = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i < NBUCKET; i++) {
        seen += h->n[i];
        if (seen >= want)
            return hist_value(i);
    }
    return (double)h->max;
}

/* --------------------------------------------------------------- options -- */

enum mode { ECHO, HTTP, IDLE, CHURN };

static struct {
    const char *host;
    int port, conns, threads, size, depth;
    double duration, warmup, rate;
    enum mode mode;
    bool churn; /* a new connection per request: churn (echo), http-churn */
    int server_pid;
    int64_t spin_ns;
    bool hold; /* idle mode: keep the connections until stdin's EOF (-H) */
    bool shuffle; /* open loop: each cycle over the connections in a new random order (-X) */
} o = {"127.0.0.1", 0, 50, 1, 64, 1, 1.0, 0.5, 0, ECHO, false, 0, 200000, false, false};

static const char HTTP_REQ[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
enum { PAT = 256 };          /* pattern offsets: request k starts at k mod 256 */
enum { RING = 4096 };        /* requests one connection may have queued */
enum { HBUF = 4096 };        /* partial HTTP answer kept per connection */

static char *pattern;        /* PAT + size bytes */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t t_warm, t_begin, t_end; /* start, window start, window end */
static atomic_bool stop;

/* The measured window *is* the span between the two CPU readings: worker 0
 * takes them in its loop as soon as it passes t_begin and t_end (its epoll
 * timeout never reaches past an edge), stamps them (win_at), and answers
 * count while edges_taken == 1. So the server CPU divides exactly the answers
 * of its own span, even when the generator's CPU was taken at an edge (other
 * load threads see the flag a few ns to µs later). edge_skew: how late. */
static int64_t srv_cpu[2] = {-1, -1}, gen_cpu_at[2][256], win_at[2], edge_skew;
static atomic_int edges_taken;

/* ------------------------------------------------------------ connection -- */

typedef struct {
    int fd, id;
    uint64_t queued;     /* requests wanted on the wire */
    uint64_t sent;       /* requests fully written */
    size_t send_off;     /* bytes of request `sent` already written */
    uint64_t answered;   /* answers complete */
    size_t recv_off;     /* echo: bytes of answer `answered` received */
    bool want_out;       /* EPOLLOUT armed */
    int64_t *t;          /* t[k % RING]: when request k was due / started */
    char *hb;            /* http: partial answer */
    size_t hlen;
} conn;

typedef struct {
    int idx, epfd, nconn;
    conn *c;
    hist lat, lag;
    uint64_t errors, verify_errors, overflow, done_in_window;
    double rate;         /* open loop: requests/s for this thread, 0 = closed */
    clockid_t cpu;
    pthread_t th;
    char *iobuf;
    size_t iobuf_len;
    uint32_t *order;     /* -X: this cycle's order of the connections */
    uint64_t rng;        /* -X: xorshift state */
    uint32_t churn_src;  /* churn: the next source address (churn_open) */
} worker;

/* -X: a new random order of the connections for the next cycle
 * (Fisher-Yates over an xorshift64 stream; each connection still gets exactly
 * one request per cycle). */
static void shuffle_order(worker *w)
{
    for (uint32_t i = w->nconn > 1 ? (uint32_t)w->nconn - 1 : 0; i > 0; i--) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        uint32_t k = (uint32_t)(w->rng % (i + 1));
        uint32_t t = w->order[i];
        w->order[i] = w->order[k];
        w->order[k] = t;
    }
}

static size_t req_len(void) { return o.mode == HTTP ? sizeof HTTP_REQ - 1 : (size_t)o.size; }

static const char *req_bytes(const conn *c, uint64_t k)
{
    if (o.mode == HTTP)
        return HTTP_REQ;
    return pattern + (k + (uint64_t)c->id) % PAT;
}

static void arm(worker *w, conn *c, bool out)
{
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Writes as much of requests [sent, queued) as the socket takes. Closed loop:
 * a request's clock starts just before the write carrying its first byte. */
static int flush(worker *w, conn *c)
{
    size_t len = req_len();
    while (c->sent < c->queued) {
        struct iovec iov[64];
        int n = 0;
        uint64_t k = c->sent;
        size_t off = c->send_off;
        int64_t t = w->rate ? 0 : now_ns();
        while (k < c->queued && n < 64) {
            if (off == 0 && !w->rate && !o.churn)
                c->t[k % RING] = t;
            iov[n].iov_base = (char *)req_bytes(c, k) + off;
            iov[n].iov_len = len - off;
            n++, k++, off = 0;
        }
        ssize_t r = writev(c->fd, iov, n);
        if (r < 0) {
            if (errno == EAGAIN) {
                arm(w, c, true);
                return 0;
            }
            return -1;
        }
        size_t done = (size_t)r + c->send_off;
        c->sent += done / len;
        c->send_off = done % len;
    }
    arm(w, c, false);
    return 0;
}

static void answered(worker *w, conn *c, int64_t now)
{
    uint64_t k = c->answered++;
    if (atomic_load_explicit(&edges_taken, memory_order_relaxed) == 1) {
        int64_t lat = now - c->t[k % RING];
        hist_add(&w->lat, lat > 0 ? (uint64_t)lat : 0);
        w->done_in_window++;
    }
    if (!w->rate && !o.churn && !atomic_load_explicit(&stop, memory_order_relaxed))
        c->queued++;
}

/* Echo: the answer stream must be the request stream, byte for byte. */
static int eat_echo(worker *w, conn *c, const char *p, size_t n, int64_t now)
{
    size_t len = (size_t)o.size;
    while (n) {
        if (c->answered >= c->sent + (c->send_off ? 1 : 0)) {
            w->verify_errors++; /* more bytes than we sent */
            return -1;
        }
        size_t take = len - c->recv_off < n ? len - c->recv_off : n;
        if (memcmp(p, req_bytes(c, c->answered) + c->recv_off, take)) {
            w->verify_errors++;
            return -1;
        }
        p += take, n -= take, c->recv_off += take;
        if (c->recv_off == len) {
            c->recv_off = 0;
            answered(w, c, now);
        }
    }
    return 0;
}

/* HTTP: complete answers are `HTTP/1.x 200 ...` + headers + Content-Length body. */
static int eat_http(worker *w, conn *c, const char *p, size_t n, int64_t now)
{
    while (n) {
        size_t take = HBUF - c->hlen < n ? HBUF - c->hlen : n;
        memcpy(c->hb + c->hlen, p, take);
        c->hlen += take, p += take, n -= take;
        size_t used = 0;
        for (;;) {
            char *h = c->hb + used, *end = memmem(h, c->hlen - used, "\r\n\r\n", 4);
            if (!end)
                break;
            if (c->hlen - used < 12 || memcmp(h, "HTTP/1.", 7) || memcmp(h + 8, " 200", 4)) {
                w->verify_errors++;
                return -1;
            }
            long body = -1;
            for (char *l = memmem(h, (size_t)(end - h), "\r\n", 2); l && l < end;
                 l = memmem(l + 2, (size_t)(end - l), "\r\n", 2)) {
                if (!strncasecmp(l + 2, "Content-Length:", 15)) {
                    body = strtol(l + 17, NULL, 10);
                    break;
                }
            }
            if (body < 0) {
                w->verify_errors++; /* we only speak to servers that send one */
                return -1;
            }
            size_t total = (size_t)(end - h) + 4 + (size_t)body;
            if (total > HBUF) {
                w->verify_errors++;
                return -1;
            }
            if (c->hlen - used < total)
                break;
            used += total;
            answered(w, c, now);
        }
        memmove(c->hb, c->hb + used, c->hlen - used);
        c->hlen -= used;
        if (c->hlen == HBUF) {
            w->verify_errors++;
            return -1;
        }
    }
    return 0;
}

static int open_conn(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, o.host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

#define CHURN_SOURCES 64 /* churn's client addresses (see the top of this file) */

/* churn: a fresh nonblocking connection on slot c, one request queued; its
 * clock starts before connect(). */
static void churn_open(worker *w, conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, o.host, &a.sin_addr);
    int one = 1;
    c->t[0] = now_ns();
    if (fd >= 0 && (ntohl(a.sin_addr.s_addr) >> 24) == 127) {
        /* The next source address (see the top of this file); if the bind
         * fails, the kernel picks as before. */
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(0x7f000002u + w->churn_src++ % CHURN_SOURCES)};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        bind(fd, (struct sockaddr *)&src, sizeof src);
    }
    if (fd < 0 || (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
                   connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
        if (!w->errors++ && getenv("LOADGEN_DEBUG"))
            fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        c->fd = -1;
        return;
    }
    c->fd = fd;
    c->queued = 1;
    c->sent = c->answered = 0;
    c->send_off = c->recv_off = 0;
    c->hlen = 0;
    c->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void drop(worker *w, conn *c)
{
    if (!w->errors++ && getenv("LOADGEN_DEBUG"))
        fprintf(stderr, "loadgen: connection %d dropped: %s\n", c->id, strerror(errno));
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static int64_t schedstat_ns(int pid);
static int64_t clock_ns(clockid_t id);
static worker *workers;

static void take_edge(int i)
{
    win_at[i] = now_ns();
    int64_t late = win_at[i] - (i ? t_end : t_begin);
    edge_skew = late > edge_skew ? late : edge_skew;
    if (o.server_pid)
        srv_cpu[i] = schedstat_ns(o.server_pid);
    for (int k = 0; k < o.threads && k < 256; k++)
        gen_cpu_at[i][k] = clock_ns(workers[k].cpu);
}

static void *run(void *arg)
{
    worker *w = arg;
    prctl(PR_SET_TIMERSLACK, 1UL); /* open loop: wake at the due time, not 50 µs late */
    for (int i = 0; i < w->nconn; i++) {
        conn *c = &w->c[i];
        if (o.churn) {
            churn_open(w, c);
            continue;
        }
        if (c->fd < 0)
            continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
        if (!w->rate) {
            c->queued = (uint64_t)o.depth;
            if (flush(w, c) < 0)
                drop(w, c);
        }
    }
    uint64_t j = 0; /* open loop: the thread's next request */
    double period = w->rate ? 1e9 / w->rate : 0;
    int64_t t0 = t_warm + (int64_t)(period * w->idx / o.threads); /* threads interleave */
    struct epoll_event evs[256];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int64_t now = now_ns();
        struct timespec to = {0, 20000000}; /* bounded: notice `stop` */
        if (w->idx == 0 && edges_taken < 2) {
            int64_t edge = edges_taken ? t_end : t_begin;
            if (now >= edge) {
                take_edge(edges_taken);
                atomic_fetch_add(&edges_taken, 1);
            }
            else if (edge - now < to.tv_nsec)
                to.tv_nsec = edge - now;
        }
        if (w->rate) {
            int64_t due;
            while ((due = t0 + (int64_t)(period * (double)j)) <= now) {
                uint64_t slot = j % (uint64_t)w->nconn;
                if (o.shuffle && slot == 0)
                    shuffle_order(w);
                conn *c = &w->c[o.shuffle ? w->order[slot] : slot];
                j++;
                if (c->fd < 0)
                    continue;
                if (c->queued - c->answered >= RING) {
                    w->overflow++; /* the server fell this far behind: run is void */
                    continue;
                }
                c->t[c->queued % RING] = due;
                c->queued++;
                if (c->want_out)
                    continue; /* EPOLLOUT will carry it */
                int64_t t = now_ns();
                if (atomic_load_explicit(&edges_taken, memory_order_relaxed) == 1)
                    hist_add(&w->lag, (uint64_t)(t - due));
                if (flush(w, c) < 0)
                    drop(w, c);
            }
            int64_t wait = due - now_ns();
            if (wait < 0)
                wait = 0;
            if (wait < to.tv_nsec)
                to.tv_nsec = wait < o.spin_ns ? 0 : wait;
        }
        int n = epoll_pwait2(w->epfd, evs, 256, &to, NULL);
        if (n < 0 && errno != EINTR)
            break;
        now = now_ns();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ssize_t r = read(c->fd, w->iobuf, w->iobuf_len);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        goto out;
                    drop(w, c);
                    continue;
                }
                int bad = o.mode == HTTP ? eat_http(w, c, w->iobuf, (size_t)r, now)
                                         : eat_echo(w, c, w->iobuf, (size_t)r, now);
                if (bad) {
                    drop(w, c);
                    continue;
                }
                if (o.churn && c->answered) {
                    close(c->fd); /* the client closes first, as HTTP/1.0 clients do */
                    c->fd = -1;
                    if (!atomic_load_explicit(&stop, memory_order_relaxed))
                        churn_open(w, c);
                    continue;
                }
            }
        out:
            if (c->sent < c->queued && flush(w, c) < 0)
                drop(w, c);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ measuring -- */

/* Nanoseconds on CPU of every thread of pid (schedstat), or -1; with
 * children, also those of pid's child processes (one level: nginx's workers
 * under its master). */
static int64_t tasks_ns(int pid, bool children)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[320];
        snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p, "r");
        long long v;
        if (f && fscanf(f, "%lld", &v) == 1)
            total += v;
        if (f)
            fclose(f);
        snprintf(p, sizeof p, "/proc/%d/task/%s/children", pid, e->d_name);
        if (children && (f = fopen(p, "r"))) {
            int child;
            while (fscanf(f, "%d", &child) == 1) {
                int64_t c = tasks_ns(child, false);
                total += c > 0 ? c : 0;
            }
            fclose(f);
        }
    }
    closedir(d);
    return total;
}

static int64_t schedstat_ns(int pid) { return tasks_ns(pid, true); }

static long rss_kb(int pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {t / 1000000000, t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void raise_nofile(int need)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < (rlim_t)need + 64) {
        r.rlim_cur = r.rlim_max = (rlim_t)need + 64;
        if (setrlimit(RLIMIT_NOFILE, &r) < 0) {
            getrlimit(RLIMIT_NOFILE, &r);
            r.rlim_cur = r.rlim_max;
            setrlimit(RLIMIT_NOFILE, &r);
        }
    }
}

static int idle(void)
{
    long before = o.server_pid ? rss_kb(o.server_pid) : -1;
    int *fds = calloc((size_t)o.conns, sizeof *fds);
    int64_t t0 = now_ns();
    for (int i = 0; i < o.conns; i++) {
        fds[i] = open_conn();
        if (fds[i] < 0) {
            fprintf(stderr, "loadgen: connection %d: %s\n", i, strerror(errno));
            return 1;
        }
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
    }
    /* One byte there and back on each: the server has accepted every
     * connection and its handler is parked in a read. */
    for (int i = 0; i < o.conns; i++)
        if (write(fds[i], "x", 1) != 1)
            return 1;
    int bad = 0;
    for (int i = 0; i < o.conns; i++) {
        char b;
        bad += read(fds[i], &b, 1) != 1 || b != 'x';
    }
    double setup = (double)(now_ns() - t0) / 1e9;
    sleep_until(now_ns() + (int64_t)(o.warmup * 1e9)); /* let lazy frees settle */
    long after = o.server_pid ? rss_kb(o.server_pid) : -1;
    printf("mode=idle conns=%d setup_s=%.3f errors=%d", o.conns, setup, bad);
    if (before >= 0 && after >= 0)
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", before, after,
               (double)(after - before) * 1024.0 / o.conns);
    printf("\n");
    fflush(stdout);
    if (o.hold) { /* until the driver closes our stdin (or dies) */
        char b[64];
        for (ssize_t r;;)
            if ((r = read(0, b, sizeof b)) == 0 || (r < 0 && errno != EINTR))
                break;
    }
    for (int i = 0; i < o.conns; i++)
        close(fds[i]);
    return bad != 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -p PORT [-h 127.0.0.1] [-c CONNS] [-t THREADS] [-d SECS] [-w WARMUP]\n"
                    "               [-s SIZE] [-P DEPTH] [-m echo|http|idle|churn|http-churn] [-R RATE [-X]] [-S SERVER_PID] [-H]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "h:p:c:t:d:w:s:P:m:R:S:B:HX")) != -1) {
        switch (ch) {
        case 'h': o.host = optarg; break;
        case 'p': o.port = atoi(optarg); break;
        case 'c': o.conns = atoi(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'd': o.duration = atof(optarg); break;
        case 'w': o.warmup = atof(optarg); break;
        case 's': o.size = atoi(optarg); break;
        case 'P': o.depth = atoi(optarg); break;
        case 'R': o.rate = atof(optarg); break;
        case 'X': o.shuffle = true; break;
        case 'S': o.server_pid = atoi(optarg); break;
        case 'B': o.spin_ns = (int64_t)(atof(optarg) * 1000); break;
        case 'H': o.hold = true; break;
        case 'm':
            o.mode = !strcmp(optarg, "http")         ? HTTP
                     : !strcmp(optarg, "http-churn") ? HTTP
                     : !strcmp(optarg, "idle")       ? IDLE
                     : !strcmp(optarg, "churn")      ? CHURN
                                                     : ECHO;
            o.churn = o.mode == CHURN || !strcmp(optarg, "http-churn");
            if (o.mode == ECHO && strcmp(optarg, "echo"))
                usage();
            break;
        default: usage();
        }
    }
    if (o.port <= 0 || o.conns <= 0 || o.threads <= 0 || o.size <= 0 || o.depth <= 0 ||
        o.depth >= RING || o.duration <= 0 || o.warmup < 0 || o.rate < 0 || (o.churn && o.rate))
        usage();
    if (o.threads > o.conns)
        o.threads = o.conns;
    raise_nofile(o.conns);
    if (o.mode == IDLE)
        return idle();

    pattern = malloc(PAT + (size_t)o.size);
    for (size_t i = 0; i < PAT + (size_t)o.size; i++)
        pattern[i] = (char)('!' + (i * 7 + i / 251) % 90);

    worker *w = calloc((size_t)o.threads, sizeof *w);
    workers = w;
    conn *all = calloc((size_t)o.conns, sizeof *all);
    int connect_errors = 0;
    for (int i = 0; i < o.conns; i++) {
        all[i].id = i;
        all[i].fd = o.churn ? -1 : open_conn();
        all[i].t = malloc(RING * sizeof(int64_t));
        all[i].hb = o.mode == HTTP ? malloc(HBUF) : NULL;
        connect_errors += !o.churn && all[i].fd < 0;
    }
    t_warm = now_ns() + 10000000; /* threads start on a common clock */
    t_begin = t_warm + (int64_t)(o.warmup * 1e9);
    t_end = t_begin + (int64_t)(o.duration * 1e9);
    for (int i = 0, first = 0; i < o.threads; i++) {
        w[i].idx = i;
        w[i].nconn = o.conns / o.threads + (i < o.conns % o.threads);
        w[i].c = all + first;
        first += w[i].nconn;
        w[i].epfd = epoll_create1(EPOLL_CLOEXEC);
        w[i].rate = o.rate / o.threads;
        w[i].iobuf_len = 256 * 1024;
        w[i].iobuf = malloc(w[i].iobuf_len);
        w[i].order = malloc((size_t)(w[i].nconn ? w[i].nconn : 1) * sizeof *w[i].order);
        if (!w[i].iobuf || !w[i].order) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 1;
        }
        for (int k = 0; k < w[i].nconn; k++)
            w[i].order[k] = (uint32_t)k;
        w[i].rng = 0x9E3779B97F4A7C15u ^ (uint64_t)(i + 1); /* fixed: runs repeat */
        pthread_create(&w[i].th, NULL, run, &w[i]);
        pthread_getcpuclockid(w[i].th, &w[i].cpu);
    }
    prctl(PR_SET_TIMERSLACK, 1UL);
    sleep_until(t_end + 50000000); /* answers in flight at the edge land */
    /* A starved load thread may pass the end edge late: wait for it (2 s). */
    for (int i = 0; i < 2000 && atomic_load(&edges_taken) < 2; i++)
        sleep_until(now_ns() + 1000000);
    atomic_store(&stop, true);
    hist lat = {0}, lag = {0};
    uint64_t done = 0, errors = (uint64_t)connect_errors, verify = 0, overflow = 0;
    for (int i = 0; i < o.threads; i++) {
        pthread_join(w[i].th, NULL);
        hist_merge(&lat, &w[i].lat);
        hist_merge(&lag, &w[i].lag);
        done += w[i].done_in_window;
        errors += w[i].errors;
        verify += w[i].verify_errors;
        overflow += w[i].overflow;
    }
    if (edges_taken < 2) {
        fprintf(stderr, "loadgen: the window's edges were not both read\n");
        return 1;
    }
    int64_t srv0 = srv_cpu[0], srv1 = srv_cpu[1], gen_cpu = 0, gen_max = 0;
    for (int i = 0; i < o.threads && i < 256; i++) {
        int64_t d = gen_cpu_at[1][i] - gen_cpu_at[0][i];
        gen_cpu += d;
        gen_max = d > gen_max ? d : gen_max;
    }
    double win = (double)(win_at[1] - win_at[0]) / 1e9;
    printf("mode=%s loop=%s conns=%d threads=%d size=%zu depth=%d rate=%.0f window_s=%.3f "
           "requests=%llu rps=%.0f p50_us=%.2f p90_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f "
           "mean_us=%.2f errors=%llu verify_errors=%llu overflow=%llu gen_cpu_ns_per_req=%.0f "
           "gen_cores=%.3f gen_busy_max=%.3f",
           o.mode == HTTP ? (o.churn ? "http-churn" : "http") : o.churn ? "churn" : "echo", o.rate ? "open" : "closed", o.conns, o.threads,
           req_len(), o.depth, o.rate, win, (unsigned long long)done, (double)done / win,
           hist_pct(&lat, .5) / 1e3, hist_pct(&lat, .9) / 1e3, hist_pct(&lat, .99) / 1e3,
           hist_pct(&lat, .999) / 1e3, (double)lat.max / 1e3,
           lat.count ? lat.sum / (double)lat.count / 1e3 : 0, (unsigned long long)errors,
           (unsigned long long)verify, (unsigned long long)overflow,
           done ? (double)gen_cpu / (double)done : 0, (double)gen_cpu / 1e9 / win,
           (double)gen_max / 1e9 / win);
    printf(" edge_skew_us=%.1f", (double)edge_skew / 1e3);
    if (o.rate)
        printf(" lag_p50_us=%.2f lag_p99_us=%.2f", hist_pct(&lag, .5) / 1e3, hist_pct(&lag, .99) / 1e3);
    if (srv0 >= 0 && srv1 >= 0)
        printf(" server_cpu_ns_per_req=%.0f server_busy=%.3f", done ? (double)(srv1 - srv0) / (double)done : 0,
               (double)(srv1 - srv0) / 1e9 / win);
    printf("\n");
    return done == 0 || verify || overflow || errors;
}
