/*
 * loadgen.c — an echo / HTTP load generator built on coring.
 *
 *   loadgen -p PORT [-h 127.0.0.1] [-c 50] [-d 5] [-s 64] [-P 1] [-m echo|http]
 *
 * -c connections, each a task; -d seconds measured (after a 0.5 s warm-up);
 * -s message size (echo); -P pipelining depth: requests sent back to back
 * before waiting for their answers. Prints requests/s and p50/p99/p999 latency
 * (the latency of a request is from its batch's send to its own answer).
 * Latencies go in a log-linear histogram (1 µs .. 10 s, ~3% buckets).
 */
#include <coring.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBUCKET 512
static uint64_t hist[NBUCKET];
static uint64_t done_reqs, errors;
static int64_t t_start, t_end;
static bool stop;

static struct {
    const char *host;
    int port, conns, size, depth;
    double duration;
    bool http;
} o = {"127.0.0.1", 0, 50, 64, 1, 5.0, false};

static int bucket(int64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us < 1)
        return 0;
    int b = (int)(log(us) / log(1.03)) + 1;
    return b >= NBUCKET ? NBUCKET - 1 : b;
}

static double bucket_us(int b) { return b == 0 ? 1 : pow(1.03, b); }

static void record(int64_t now, int64_t lat)
{
    if (now < t_start || now > t_end)
        return;
    hist[bucket(lat)]++;
    done_reqs++;
}

static const char HTTP_REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* HTTP: count complete responses in buf (headers + Content-Length body). */
static size_t http_responses(char *buf, size_t len, size_t *used)
{
    size_t n = 0, off = 0;
    for (;;) {
        char *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (!end)
            break;
        char *cl = memmem(buf + off, (size_t)(end - (buf + off)), "Content-Length:", 15);
        size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        size_t total = (size_t)(end - (buf + off)) + 4 + body;
        if (off + total > len)
            break;
        off += total;
        n++;
    }
    *used = off;
    return n;
}

static int conn_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int fd = cr_connect_tcp(o.host, o.port, 5.0);
    if (fd < 0) {
        errors++;
        return 0;
    }
    size_t req = o.http ? sizeof HTTP_REQ - 1 : (size_t)o.size;
    size_t out_len = req * (size_t)o.depth;
    char *out = malloc(out_len), *in = malloc(out_len + 65536);
    for (int i = 0; i < o.depth; i++) {
        if (o.http)
            memcpy(out + (size_t)i * req, HTTP_REQ, req);
        else
            memset(out + (size_t)i * req, 'a' + i % 26, req);
    }
    while (!stop) {
        int64_t t0 = cr_loop_time_ns(NULL);
        if (cr_send_all(fd, out, out_len, 5.0) < 0) {
            errors++;
            break;
        }
        size_t have = 0, answered = 0;
        while (answered < (size_t)o.depth) {
            ssize_t n = cr_recv(fd, in + have, out_len + 65536 - have, 0, 5.0);
            if (n <= 0) {
                errors++;
                goto out;
            }
            have += (size_t)n;
            size_t now_answered;
            if (o.http) {
                size_t used;
                now_answered = answered + http_responses(in, have, &used);
                memmove(in, in + used, have - used);
                have -= used;
            } else {
                now_answered = have / req;
            }
            int64_t t1 = cr_loop_time_ns(NULL);
            for (; answered < now_answered; answered++)
                record(t1, t1 - t0);
        }
    }
out:
    close(fd);
    free(out);
    free(in);
    return 0;
}

static int amain(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task **t = calloc((size_t)o.conns, sizeof *t);
    int64_t now = cr_loop_time_ns(NULL);
    t_start = now + 500000000;
    t_end = t_start + (int64_t)(o.duration * 1e9);
    for (int i = 0; i < o.conns; i++)
        t[i] = cr_create_task(conn_task, NULL);
    cr_sleep(0.5 + o.duration);
    stop = true;
    cr_gather(t, (size_t)o.conns, NULL, NULL, CR_RETURN_EXCEPTIONS);
    for (int i = 0; i < o.conns; i++)
        cr_future_unref(t[i]);
    free(t);
    return 0;
}

static double pct(double p)
{
    uint64_t want = (uint64_t)ceil(p * (double)done_reqs), seen = 0;
    for (int b = 0; b < NBUCKET; b++) {
        seen += hist[b];
        if (seen >= want && want)
            return bucket_us(b);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "h:p:c:d:s:P:m:")) != -1) {
        switch (c) {
        case 'h': o.host = optarg; break;
        case 'p': o.port = atoi(optarg); break;
        case 'c': o.conns = atoi(optarg); break;
        case 'd': o.duration = atof(optarg); break;
        case 's': o.size = atoi(optarg); break;
        case 'P': o.depth = atoi(optarg); break;
        case 'm': o.http = !strcmp(optarg, "http"); break;
        default:
            fprintf(stderr, "usage: loadgen -p PORT [-h HOST] [-c CONNS] [-d SECS] [-s SIZE] "
                            "[-P DEPTH] [-m echo|http]\n");
            return 2;
        }
    }
    if (o.port <= 0 || o.conns <= 0 || o.size <= 0 || o.depth <= 0 || o.duration <= 0) {
        fprintf(stderr, "loadgen: -p PORT is required; counts must be > 0\n");
        return 2;
    }
    int rc = cr_run(amain, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "loadgen: %s\n", cr_strerror(rc));
        return 1;
    }
    printf("requests %llu  rps %.0f  p50 %.1fus  p99 %.1fus  p999 %.1fus  errors %llu\n",
           (unsigned long long)done_reqs, (double)done_reqs / o.duration, pct(0.5), pct(0.99),
           pct(0.999), (unsigned long long)errors);
    return errors && !done_reqs;
}
