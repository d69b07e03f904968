/* SPDX-License-Identifier: MIT */
/*
 * http.c — an HTTP/1.1 "hello" server on coring that does the work nginx's
 * `return 200 "Hello, world!"` does, so the HTTP benchmark compares like with
 * like: a real request parser (request line, header fields, Content-Length,
 * chunked bodies), Date and Server headers, keep-alive by HTTP/1.1's rules and
 * HTTP/1.0's (`Connection: keep-alive` is answered in kind, which is what
 * `ab -k` waits for), HEAD without a body, pipelining, and requests that
 * arrive in pieces.
 *
 *     ./http [--eager] [port] [host]
 *
 * --eager starts each connection's handler eagerly (cr_server_opts.eager,
 * asyncio's eager_task_factory): its first step runs as soon as the
 * connection is accepted, not at the next turn of the ready queue.
 *
 * Why pipelining is free here: requests are read one after another from the
 * stream, and each response is only buffered (cr_stream_write does not wait;
 * the bytes leave at the loop's next turn), so a batch of pipelined requests
 * becomes one send on epoll (on io_uring two: the first answer's, then the
 * rest at its completion). drain() waits only when a client stops reading.
 *
 * Not done (nginx does them; none is exercised by the benchmark): absolute-form
 * targets, Expect: 100-continue, request timeouts, trailers passed on.
 */
#include <coring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

enum { HEADER_MAX = 8192 };
static const char BODY[] = "Hello, world!";

/* ---------------------------------------------------------------- parser -- */

struct request {
    const char *method, *target;
    size_t method_len, target_len;
    int minor;              /* HTTP/1.minor */
    long long length;       /* Content-Length, -1 if none */
    bool chunked, close, keep_alive, host;
};

/* RFC 9110 tchar: the characters of a token (method, field name). A table:
 * this runs for every byte of every field name. */
#define DIGITS(v) ['0'] = v, ['1'] = v, ['2'] = v, ['3'] = v, ['4'] = v, ['5'] = v, \
                  ['6'] = v, ['7'] = v, ['8'] = v, ['9'] = v
#define UPPER(v) ['A'] = v, ['B'] = v, ['C'] = v, ['D'] = v, ['E'] = v, ['F'] = v, ['G'] = v, \
                 ['H'] = v, ['I'] = v, ['J'] = v, ['K'] = v, ['L'] = v, ['M'] = v, ['N'] = v, \
                 ['O'] = v, ['P'] = v, ['Q'] = v, ['R'] = v, ['S'] = v, ['T'] = v, ['U'] = v, \
                 ['V'] = v, ['W'] = v, ['X'] = v, ['Y'] = v, ['Z'] = v
#define LOWER(v) ['a'] = v, ['b'] = v, ['c'] = v, ['d'] = v, ['e'] = v, ['f'] = v, ['g'] = v, \
                 ['h'] = v, ['i'] = v, ['j'] = v, ['k'] = v, ['l'] = v, ['m'] = v, ['n'] = v, \
                 ['o'] = v, ['p'] = v, ['q'] = v, ['r'] = v, ['s'] = v, ['t'] = v, ['u'] = v, \
                 ['v'] = v, ['w'] = v, ['x'] = v, ['y'] = v, ['z'] = v
static const bool TCHAR[256] = {
    DIGITS(true), UPPER(true), LOWER(true),
    ['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true, ['\''] = true,
    ['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true, ['^'] = true, ['_'] = true,
    ['`'] = true, ['|'] = true, ['~'] = true,
};
#undef DIGITS
#undef UPPER
#undef LOWER

static inline bool tchar(unsigned char c) { return TCHAR[c]; }

/* Case-insensitive equality of a[0..n) and the lower-case ASCII b[0..n).
 * HTTP's names and tokens are ASCII, so the comparison must not depend on the
 * locale as strncasecmp's does (and it is a call per field on the hot path). */
static bool eq_lower(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)b[i])
            return false;
    }
    return true;
}

/* Does the comma-separated list v[0..n) hold token t (given in lower case;
 * compared case-insensitively)? */
static bool has_token(const char *v, size_t n, const char *t)
{
    size_t tl = strlen(t);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t e = j;
        while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - i == tl && eq_lower(v + i, t, tl))
            return true;
        i = j;
    }
    return false;
}

/* Parses the header block h[0..n) (ending in CRLF CRLF). Returns 0, or the
 * status to refuse it with: 400 malformed, 501 an unknown transfer coding,
 * 505 not HTTP/1.x. */
static int parse_request(const char *h, size_t n, struct request *r)
{
    const char *p = h, *end = h + n;
    *r = (struct request){.length = -1};
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2; /* RFC 9112 2.2: empty lines before the request line */
    r->method = p;
    while (p < end && tchar((unsigned char)*p))
        p++;
    r->method_len = (size_t)(p - r->method);
    if (!r->method_len || p >= end || *p++ != ' ')
        return 400;
    r->target = p;
    while (p < end && (unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    r->target_len = (size_t)(p - r->target);
    if (!r->target_len || p >= end || *p++ != ' ')
        return 400;
    if (end - p < 10 || memcmp(p, "HTTP/", 5) || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
        p[7] < '0' || p[7] > '9' || p[8] != '\r' || p[9] != '\n')
        return 400;
    if (p[5] != '1')
        return 505;
    r->minor = p[7] - '0';
    p += 10;
    bool te = false;
    while (p < end && !(p[0] == '\r' && end - p >= 2 && p[1] == '\n')) {
        const char *name = p;
        while (p < end && tchar((unsigned char)*p))
            p++;
        size_t nl = (size_t)(p - name);
        if (!nl || p >= end || *p++ != ':') /* also refuses obs-fold and "name :" */
            return 400;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *v = p;
        while (p < end && *p != '\r') {
            unsigned char c = (unsigned char)*p++;
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return 400;
        }
        if (end - p < 2 || p[1] != '\n')
            return 400;
        const char *ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        p += 2;
        if (nl == 14 && eq_lower(name, "content-length", 14)) {
            long long len = 0;
            if (!vl)
                return 400;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9' || len > (1LL << 50))
                    return 400;
                len = len * 10 + (v[i] - '0');
            }
            if (r->length >= 0 && r->length != len)
                return 400; /* RFC 9112 6.3: differing lengths */
            r->length = len;
        } else if (nl == 17 && eq_lower(name, "transfer-encoding", 17)) {
            te = true;
            /* chunked must be the final coding (RFC 9112 6.3); we drop the body,
             * so codings under it do not matter. Anything else: we cannot frame it. */
            const char *t = ve;
            while (t > v && t[-1] != ',' && t[-1] != ' ' && t[-1] != '\t')
                t--;
            r->chunked = ve - t == 7 && eq_lower(t, "chunked", 7);
            if (!r->chunked)
                return 501;
        } else if (nl == 10 && eq_lower(name, "connection", 10)) {
            r->close |= has_token(v, vl, "close");
            r->keep_alive |= has_token(v, vl, "keep-alive");
        } else if (nl == 4 && eq_lower(name, "host", 4)) {
            if (r->host)
                return 400; /* RFC 9112 3.2: exactly one Host */
            r->host = true;
        }
    }
    if (te && r->length >= 0)
        return 400; /* RFC 9112 6.1: both is a smuggling attempt: refuse */
    if (r->minor >= 1 && !r->host)
        return 400; /* RFC 9112 3.2 */
    return 0;
}

/* ------------------------------------------------------------ responses -- */

/* The Date header changes once a second: the two responses are rebuilt then
 * (nginx caches its time the same way). Per thread: one loop per thread. */
static __thread struct {
    time_t sec;
    char keep[256], close[256];
    size_t keep_len, close_len, keep_head, close_head; /* *_head: without the body */
} resp;

static void build(char *out, size_t *len, size_t *head, const char *date, const char *conn)
{
    int n = snprintf(out, 256,
                     "HTTP/1.1 200 OK\r\nServer: coring\r\nDate: %s\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                     date, sizeof BODY - 1, conn);
    *head = (size_t)n;
    memcpy(out + n, BODY, sizeof BODY - 1);
    *len = (size_t)n + sizeof BODY - 1;
}

static void refresh(void)
{
    time_t now = time(NULL);
    if (now == resp.sec)
        return;
    struct tm tm;
    char date[64];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* IMF-fixdate, C locale */
    build(resp.keep, &resp.keep_len, &resp.keep_head, date, "keep-alive");
    build(resp.close, &resp.close_len, &resp.close_head, date, "close");
    resp.sec = now;
}

static __attribute__((noinline)) void refuse(cr_stream *s, int status)
{
    const char *why = status == 431 ? "Request Header Fields Too Large"
                      : status == 501 ? "Not Implemented"
                      : status == 505 ? "HTTP Version Not Supported"
                                      : "Bad Request";
    char out[256];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nServer: coring\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status, why);
    cr_stream_write(s, out, (size_t)n);
}

/* Is h[0..n) nothing but empty lines? */
static bool only_crlf(const char *h, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        if (h[i] != '\r' || h[i + 1] != '\n')
            return false;
    return n % 2 == 0;
}

/* The body readers below keep their buffers in frames of their own
 * (noinline): inlined, they put 4 KiB of arrays into the handler's frame, and
 * every parked request's frames would reach into a second page of its stack. */

/* Reads and drops a chunked body (RFC 9112 7.1), trailers included. */
static __attribute__((noinline)) int skip_chunked(cr_stream *s)
{
    char line[256], sink[4096];
    for (;;) {
        ssize_t n = cr_stream_readuntil(s, "\r\n", 2, line, sizeof line - 1, NULL);
        if (n < 0)
            return -1;
        line[n] = 0;
        char *e;
        unsigned long long size = strtoull(line, &e, 16);
        if (e == line || (*e != '\r' && *e != ';' && *e != ' ' && *e != '\t'))
            return -1;
        if (size == 0)
            break;
        for (size += 2; size;) { /* the data, then its CRLF */
            size_t k = size < sizeof sink ? (size_t)size : sizeof sink;
            if (cr_stream_readexactly(s, sink, k, NULL) < 0)
                return -1;
            size -= k;
        }
    }
    for (;;) { /* trailer fields, up to the empty line */
        ssize_t n = cr_stream_readuntil(s, "\r\n", 2, line, sizeof line, NULL);
        if (n < 0)
            return -1;
        if (n == 2)
            return 0;
    }
}

/* Reads and drops a Content-Length body. */
static __attribute__((noinline)) int skip_body(cr_stream *s, long long body)
{
    char sink[4096];
    while (body > 0) {
        size_t k = body < (long long)sizeof sink ? (size_t)body : sizeof sink;
        if (cr_stream_readexactly(s, sink, k, NULL) < 0)
            return -1;
        body -= (long long)k;
    }
    return 0;
}

int http_handler(cr_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        /* The header block is parsed where it was received: no copy, and no
         * header-sized array on this task's stack (the stack a parked request
         * spans costs CPU at hundreds of connections: docs/memory.md). */
        cr_buf hb;
        ssize_t n = cr_stream_readuntil_buf(s, "\r\n\r\n", 4, HEADER_MAX, &hb);
        if (n == CR_ELIMIT) {
            refuse(s, 431);
            return 0;
        }
        if (n < 0) {
            cr_stream_release_buf(s, &hb); /* CR_EINCOMPLETE's partial data */
            return 0; /* EOF (possibly mid-request), reset, or shutdown */
        }
        struct request r;
        int bad = only_crlf(hb.data, (size_t)n) ? -1 : parse_request(hb.data, (size_t)n, &r);
        bool head = !bad && r.method_len == 4 && !memcmp(r.method, "HEAD", 4);
        cr_stream_release_buf(s, &hb); /* r's pointers into it are not used after this */
        if (bad < 0)
            continue; /* RFC 9112 2.2: empty lines before a request are ignored */
        if (bad) {
            refuse(s, bad);
            return 0; /* the server closes after the data is sent */
        }
        if (r.chunked) {
            if (skip_chunked(s) < 0) {
                refuse(s, 400);
                return 0;
            }
        }
        if (r.length > 0 && skip_body(s, r.length) < 0)
            return 0;
        bool keep = !r.close && (r.minor >= 1 || r.keep_alive);
        refresh();
        if (keep)
            cr_stream_write(s, resp.keep, head ? resp.keep_head : resp.keep_len);
        else
            cr_stream_write(s, resp.close, head ? resp.close_head : resp.close_len);
        if (!keep)
            return 0;
        if (cr_stream_drain(s) < 0)
            return 0;
    }
}

#ifndef HTTP_NO_MAIN
struct args {
    const char *host;
    int port;
    bool eager;
};

static int amain(void *p, void **result)
{
    (void)result;
    struct args *a = p;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    cr_server *srv;
    cr_server_opts opts = {.eager = a->eager};
    int rc = cr_start_server(NULL, a->host, a->port, http_handler, NULL, &opts, &srv);
    if (rc < 0) {
        fprintf(stderr, "http: %s\n", cr_strerror(rc));
        return rc;
    }
    printf("http: listening on %s:%d\n", a->host, cr_server_port(srv));
    fflush(stdout);
    struct signalfd_siginfo si;
    cr_read(sfd, &si, sizeof si, -1, CR_NO_TIMEOUT);
    cr_server_shutdown(srv, 1.0);
    cr_server_free(srv);
    close(sfd);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {"127.0.0.1", 0, false};
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--eager"))
            a.eager = true;
        else if (pos++ == 0)
            a.port = atoi(argv[i]);
        else
            a.host = argv[i];
    }
    return cr_run(amain, &a, NULL) < 0;
}
#endif
