/*
 * http.c — an HTTP/1.1 "hello" server on coring: keep-alive, pipelining, and
 * correct on requests that arrive in pieces.
 *
 *     ./http [port] [host]
 *
 * Why pipelining is free here: requests are read one after another from the
 * stream, and each response is only buffered (cr_stream_write does not wait),
 * so a batch of pipelined requests becomes one send. drain() waits only when
 * a client stops reading.
 */
#include <coring.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "Hello, world!";
static const char RESPONSE_CLOSE[] = "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 13\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "Hello, world!";
static const char BAD_REQUEST[] = "HTTP/1.1 400 Bad Request\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n";

/* The value of header `name` in a NUL-terminated header block, or NULL. */
static const char *header(const char *h, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(h, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, n) && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ' || *v == '\t')
                v++;
            *len = strcspn(v, "\r\n");
            return v;
        }
    }
    return NULL;
}

int http_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char req[8192];
    for (;;) {
        ssize_t n = cr_stream_readuntil(s, "\r\n\r\n", 4, req, sizeof req - 1, NULL);
        if (n == CR_ELIMIT) {
            cr_stream_write(s, BAD_REQUEST, sizeof BAD_REQUEST - 1);
            return 0;
        }
        if (n < 0)
            return 0; /* EOF (possibly mid-request), reset, or shutdown */
        req[n] = 0;
        size_t vlen;
        const char *v = header(req, "Content-Length", &vlen);
        long body = v ? strtol(v, NULL, 10) : 0;
        while (body > 0) { /* skip a request body */
            char sink[4096];
            ssize_t k = cr_stream_readexactly(s, sink, body < 4096 ? (size_t)body : 4096, NULL);
            if (k < 0)
                return 0;
            body -= k;
        }
        bool close_it = strstr(req, " HTTP/1.0\r\n") != NULL;
        if ((v = header(req, "Connection", &vlen)))
            close_it = vlen == 5 && !strncasecmp(v, "close", 5);
        if (close_it) {
            cr_stream_write(s, RESPONSE_CLOSE, sizeof RESPONSE_CLOSE - 1);
            return 0; /* the server closes after the data is sent */
        }
        cr_stream_write(s, RESPONSE, sizeof RESPONSE - 1);
        if (cr_stream_drain(s) < 0)
            return 0;
    }
}

#ifndef HTTP_NO_MAIN
struct args {
    const char *host;
    int port;
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
    int rc = cr_start_server(NULL, a->host, a->port, http_handler, NULL, NULL, &srv);
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
    struct args a = {argc > 2 ? argv[2] : "127.0.0.1", argc > 1 ? atoi(argv[1]) : 0};
    return cr_run(amain, &a, NULL) < 0;
}
#endif
