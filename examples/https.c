/* SPDX-License-Identifier: MIT */
/*
 * https.c — the HTTP/1.1 hello server of http.c, over TLS: the same handler,
 * unchanged, because a TLS stream answers every cr_stream_* call as a plain
 * one does. Only the server start differs (a context and cr_start_server_tls).
 *
 *     ./https cert.pem key.pem [port] [host]
 *     curl --cacert ca.pem https://localhost:PORT/
 *
 * The context offers ALPN "http/1.1" and TLS 1.2 and 1.3; the handshake runs
 * in each connection's task before the handler, with asyncio's 60 s timeout.
 */
#define HTTP_NO_MAIN
#include "http.c"

#include <openssl/ssl.h>

/* Makes the server context from a PEM certificate chain and key. With
 * HTTPS_NO_RESUME=1 in the environment, sessions are never resumed (no
 * tickets, no cache), so every connection is a full handshake: what
 * bench/https.py measures. It shows the escape hatch to the SSL_CTX. */
int https_ctx(const char *cert, const char *key, cr_tls_ctx **out)
{
    cr_tls_config cfg = {.server = true, .cert_file = cert, .key_file = key,
                         .alpn = "http/1.1"};
    int rc = cr_tls_ctx_new(&cfg, out);
    const char *nr = getenv("HTTPS_NO_RESUME");
    if (rc == 0 && nr && *nr == '1') {
        SSL_CTX *x = cr_tls_ctx_ssl_ctx(*out);
        SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(x, 0);
        SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    }
    return rc;
}

#ifndef HTTPS_NO_MAIN
struct args {
    const char *cert, *key, *host;
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
    cr_tls_ctx *ctx;
    int rc = https_ctx(a->cert, a->key, &ctx);
    if (rc < 0) {
        fprintf(stderr, "https: %s (%s)\n", cr_strerror(rc), cr_tls_last_error());
        return rc;
    }
    cr_server *srv;
    rc = cr_start_server_tls(NULL, a->host, a->port, http_handler, NULL, NULL, ctx, &srv);
    cr_tls_ctx_free(ctx); /* the server keeps its own reference */
    if (rc < 0) {
        fprintf(stderr, "https: %s\n", cr_strerror(rc));
        return rc;
    }
    printf("https: listening on %s:%d\n", a->host, cr_server_port(srv));
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
    if (argc < 3) {
        fprintf(stderr, "usage: https cert.pem key.pem [port] [host]\n");
        return 2;
    }
    struct args a = {argv[1], argv[2], argc > 4 ? argv[4] : "127.0.0.1",
                     argc > 3 ? atoi(argv[3]) : 0};
    return cr_run(amain, &a, NULL) < 0;
}
#endif
