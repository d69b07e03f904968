/* SPDX-License-Identifier: MIT */
/*
 * Description: TLS streams — coring clients and servers against each other
 * and against real OpenSSL peers (openssl s_server / s_client, curl), with
 * certificates made at test time by `openssl req` in a temp dir: verified
 * round trips, bad / expired / wrong-name certificates, mutual TLS, ALPN,
 * start_tls, close_notify on write_eof, a truncated handshake, a peer cutting
 * a record short, refused renegotiation, 100 MiB each way byte-exact,
 * cancellation during the handshake and during a read, handshake and read
 * timeouts, many concurrent handshakes, zero-copy calls and misuse.
 * Every test checks that no fd is left open.
 */
#include "io-helpers.h"
#include "io/tls.h"
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <math.h>
#include <time.h>

#define HTTPS_NO_MAIN
#include "../examples/https.c"

/* ---- certificates: one fresh set per test ---- */

static char D[64]; /* the temp dir */
static char CA[128], CERT[128], KEY[128], EXPIRED[128], ROGUE[128], ROGUE_KEY[128],
    CLI[128], CLI_KEY[128], OTHER[128];

static void certs_make(void)
{
    hang_guard_60(); /* see HANG_GUARD in helpers.h */
    strcpy(D, "/tmp/coring-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(D));
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && exec >log 2>&1 && "
             "openssl req -x509 %s -keyout ca.key -out ca.pem -subj /CN=coring-test-ca -days 2 && "
             "openssl req -new %s -keyout srv.key -out srv.csr -subj /CN=localhost && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 "
             "  -extfile san.ext -out srv.pem && "
             /* notAfter a day before now: expired */
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days -1 "
             "  -extfile san.ext -out expired.pem && "
             /* the right names, but signed by nobody the client trusts */
             "openssl req -x509 %s -keyout rogue.key -out rogue.pem -subj /CN=localhost "
             "  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 && "
             /* the same key, for another name: server-side SNI */
             "printf 'subjectAltName=DNS:other.test\\n' > other.ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 5 -days 2 "
             "  -extfile other.ext -out other.pem && "
             "openssl req -new %s -keyout cli.key -out cli.csr -subj /CN=coring-client && "
             "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -set_serial 4 -days 2 "
             "  -out cli.pem",
             D, ec, ec, ec, ec);
    cr_assert_eq(system(cmd), 0, "openssl failed: see %s/log", D);
#define P(var, name) snprintf(var, sizeof var, "%s/%s", D, name)
    P(CA, "ca.pem");
    P(CERT, "srv.pem");
    P(KEY, "srv.key");
    P(EXPIRED, "expired.pem");
    P(ROGUE, "rogue.pem");
    P(ROGUE_KEY, "rogue.key");
    P(CLI, "cli.pem");
    P(CLI_KEY, "cli.key");
    P(OTHER, "other.pem");
#undef P
}

static void certs_drop(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", D);
    if (D[0])
        cr_assert_eq(system(cmd), 0);
}

#define TLS_TEST(name) Test(tls, name, .init = certs_make, .fini = certs_drop)

static cr_tls_ctx *server_ctx(const char *cert, const char *key, const char *alpn, int verify)
{
    cr_tls_config cfg = {.server = true, .cert_file = cert, .key_file = key, .alpn = alpn,
                         .verify = verify, .ca_file = verify ? CA : NULL};
    cr_tls_ctx *c;
    int rc = cr_tls_ctx_new(&cfg, &c);
    cr_assert_eq(rc, 0, "server ctx: %s (%s)", cr_strerror(rc), cr_tls_last_error());
    return c;
}

static cr_tls_ctx *client_ctx_cfg(cr_tls_config cfg)
{
    cr_tls_ctx *c;
    int rc = cr_tls_ctx_new(&cfg, &c);
    cr_assert_eq(rc, 0, "client ctx: %s (%s)", cr_strerror(rc), cr_tls_last_error());
    return c;
}

static cr_tls_ctx *client_ctx(void) { return client_ctx_cfg((cr_tls_config){.ca_file = CA}); }

/* ---- handlers ---- */

static int echo_handler(cr_stream *s, void *arg)
{
    (void)arg;
    static char buf[65536]; /* one loop thread: handlers never overlap inside a call */
    for (;;) {
        ssize_t n = cr_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n == 0 ? 0 : (int)n;
        if (cr_stream_write(s, buf, (size_t)n) < 0 || cr_stream_drain(s) < 0)
            return 0;
    }
}

/* What a server handler saw, for the main task to check. */
struct seen {
    char sni[64], alpn[32], subject[128], version[16];
    int calls, rc;
    cr_event *done;
};
static struct seen SEEN;

static void seen_reset(void)
{
    memset(&SEEN, 0, sizeof SEEN);
    SEEN.done = cr_event_new();
}

static void seen_free(void) { cr_event_free(SEEN.done); }

/* Records the session, then echoes lines until EOF. */
static int line_echo_handler(cr_stream *s, void *arg)
{
    (void)arg;
    SEEN.calls++;
    const char *sni = cr_stream_tls_server_name(s);
    snprintf(SEEN.sni, sizeof SEEN.sni, "%s", sni ? sni : "");
    cr_stream_tls_alpn(s, SEEN.alpn, sizeof SEEN.alpn);
    cr_stream_tls_peer_subject(s, SEEN.subject, sizeof SEEN.subject);
    const char *v = cr_stream_tls_version(s);
    snprintf(SEEN.version, sizeof SEEN.version, "%s", v ? v : "");
    char line[256];
    ssize_t n;
    while ((n = cr_stream_readline(s, line, sizeof line)) > 0)
        cr_stream_write(s, line, (size_t)n);
    SEEN.rc = (int)n;
    cr_event_set(SEEN.done);
    return 0;
}

static cr_server *serve(cr_tls_ctx *sctx, cr_stream_handler fn)
{
    cr_server *srv;
    int rc = cr_start_server_tls(NULL, "127.0.0.1", 0, fn, NULL, NULL, sctx, &srv);
    cr_assert_eq(rc, 0, "%s", cr_strerror(rc));
    return srv;
}

static void unserve(cr_server *srv)
{
    cr_assert_geq(cr_server_shutdown(srv, 2.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
}

static void expect_line(cr_stream *s, const char *want)
{
    char buf[256];
    ssize_t n = cr_stream_readline(s, buf, sizeof buf - 1);
    cr_assert_eq(n, (ssize_t)strlen(want), "readline: %zd (%s)", n, n < 0 ? cr_strerror((int)n) : "");
    buf[n] = 0;
    cr_assert_str_eq(buf, want);
}

/* ---- round trips ---- */

static int roundtrip_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, "h2,http/1.1", 0);
    cr_tls_ctx *cctx = client_ctx_cfg((cr_tls_config){.ca_file = CA, .alpn = "http/1.1"});
    cr_server *srv = serve(sctx, line_echo_handler);
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost",
                                    5.0, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert(cr_stream_is_tls(s));
    cr_assert_str_eq(cr_stream_tls_version(s), "TLSv1.3");
    char b[128];
    cr_assert_eq(cr_stream_tls_alpn(s, b, sizeof b), 8);
    cr_assert_str_eq(b, "http/1.1");
    cr_assert_gt(cr_stream_tls_peer_subject(s, b, sizeof b), 0);
    cr_assert_str_eq(b, "CN=localhost");
    unsigned char der[4096];
    ssize_t dl = cr_stream_tls_peer_cert(s, der, sizeof der);
    cr_assert(dl > 100 && der[0] == 0x30, "DER certificate: %zd", dl);
    cr_assert_eq(cr_stream_tls_peer_cert(s, NULL, 0), dl);

    /* Every read call, on bytes that arrive in one record. */
    cr_assert_eq(cr_stream_write(s, "one\ntwo\nthree;four\n", 19), 19);
    expect_line(s, "one\n");
    cr_assert_eq(cr_stream_readexactly(s, b, 4, NULL), 4);
    cr_assert_eq(memcmp(b, "two\n", 4), 0);
    size_t got;
    cr_assert_eq(cr_stream_readuntil(s, ";", 1, b, sizeof b, &got), 6);
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 5);
    cr_assert_eq(memcmp(b, "four\n", 5), 0);
    /* close_notify ends the handler's readline with EOF; the server closes. */
    cr_assert_eq(cr_stream_write_eof(s), 0);
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0);
    cr_assert(cr_stream_at_eof(s));
    cr_assert_eq(cr_event_wait(SEEN.done), 0);
    cr_assert_eq(SEEN.rc, 0);
    cr_assert_str_eq(SEEN.sni, "localhost");
    cr_assert_str_eq(SEEN.alpn, "http/1.1");
    cr_assert_str_eq(SEEN.version, "TLSv1.3");
    cr_assert_str_eq(SEEN.subject, ""); /* no client certificate asked for */
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);

    /* An IP address as the name: checked against the IP SAN, no SNI sent. */
    rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, NULL, 5.0, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_stream_write(s, "ip\n", 3);
    expect_line(s, "ip\n");
    cr_stream_free(s);

    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* A coring client and server verify, negotiate TLS 1.3 + ALPN, and every read call works. */
TLS_TEST(client_server_roundtrip)
{
    RUN_NO_FD_LEAK(roundtrip_main, NULL);
}

static int unix_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    char path[128];
    snprintf(path, sizeof path, "%s/sock", D);
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv;
    cr_assert_eq(cr_start_unix_server_tls(NULL, path, line_echo_handler, NULL, NULL, sctx, &srv), 0);
    cr_stream *s;
    cr_assert_eq(cr_open_unix_connection_tls(path, NULL, cctx, NULL, 5.0, &s), -EINVAL); /* no name */
    int rc = cr_open_unix_connection_tls(path, NULL, cctx, "localhost", 5.0, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_stream_write(s, "unix\n", 5);
    expect_line(s, "unix\n");
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* TLS over Unix-domain sockets, with the name given explicitly. */
TLS_TEST(unix_sockets)
{
    RUN_NO_FD_LEAK(unix_main, NULL);
}

/* ---- verification failures ---- */

struct verify_case {
    const char *cert, *key, *name;
    int want;
    const char *reason;
};

static int verify_main(void *arg, void **result)
{
    (void)result;
    const struct verify_case *vc = arg;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(vc->cert, vc->key, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, line_echo_handler);
    cr_stream *s = (cr_stream *)1;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, vc->name, 5.0, &s);
    cr_assert_eq(rc, vc->want, "got %d %s (%s)", rc, cr_strerror(rc), cr_tls_last_error());
    cr_assert_null(s);
    cr_assert(strstr(cr_tls_last_error(), vc->reason), "reason: %s", cr_tls_last_error());
    unserve(srv);
    cr_assert_eq(SEEN.calls, 0); /* the server's handshake failed too: no handler */
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* A certificate from a CA the client does not trust is rejected (-EKEYREJECTED). */
TLS_TEST(untrusted_certificate)
{
    struct verify_case vc = {ROGUE, ROGUE_KEY, "localhost", -EKEYREJECTED, "self-signed"};
    RUN_NO_FD_LEAK(verify_main, &vc);
}

/* A valid certificate for another name is rejected (-EKEYREJECTED, hostname mismatch). */
TLS_TEST(hostname_mismatch)
{
    struct verify_case vc = {CERT, KEY, "example.com", -EKEYREJECTED, "hostname mismatch"};
    RUN_NO_FD_LEAK(verify_main, &vc);
}

/* An expired certificate is rejected with -EKEYEXPIRED. */
TLS_TEST(expired_certificate)
{
    struct verify_case vc = {EXPIRED, KEY, "localhost", -EKEYEXPIRED, "expired"};
    RUN_NO_FD_LEAK(verify_main, &vc);
}

static int unverified_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(ROGUE, ROGUE_KEY, NULL, 0);
    cr_tls_ctx *none = client_ctx_cfg((cr_tls_config){.verify = CR_TLS_VERIFY_NONE});
    cr_tls_ctx *noname = client_ctx_cfg((cr_tls_config){.ca_file = ROGUE, .no_check_hostname = true});
    cr_server *srv = serve(sctx, line_echo_handler);
    int port = cr_server_port(srv);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", port, NULL, none, "anything", 5.0, &s), 0);
    cr_stream_free(s);
    /* The chain is checked (the rogue cert is trusted here), the name is not. */
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", port, NULL, noname, "example.com", 5.0, &s), 0);
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(none);
    cr_tls_ctx_free(noname);
    seen_free();
    return 0;
}

/* Verification can be turned off, or kept without the name check, when asked. */
TLS_TEST(verification_opt_outs)
{
    RUN_NO_FD_LEAK(unverified_main, NULL);
}

static int mtls_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, CR_TLS_VERIFY_REQUIRED);
    cr_tls_ctx *anon = client_ctx();
    cr_tls_ctx *withcert =
        client_ctx_cfg((cr_tls_config){.ca_file = CA, .cert_file = CLI, .key_file = CLI_KEY});
    cr_server *srv = serve(sctx, line_echo_handler);
    int port = cr_server_port(srv);
    cr_stream *s;
    /* TLS 1.3: the client finishes first; the server's refusal arrives as an
     * alert on the first read. */
    int rc = cr_open_connection_tls("127.0.0.1", port, NULL, anon, "localhost", 5.0, &s);
    if (rc == 0) {
        char b[16];
        rc = (int)cr_stream_read(s, b, sizeof b);
        cr_stream_free(s);
    }
    cr_assert_eq(rc, -EPROTO, "%d %s", rc, cr_tls_last_error());
    /* The last failure is the thread's: the server's handler (same thread)
     * may record its side of it after the client did. */
    cr_assert(strstr(cr_tls_last_error(), "certificate required") ||
                  strstr(cr_tls_last_error(), "did not return a certificate"),
              "%s", cr_tls_last_error());
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", port, NULL, withcert, "localhost", 5.0, &s), 0);
    cr_stream_write(s, "mtls\n", 5);
    expect_line(s, "mtls\n");
    cr_stream_free(s);
    cr_assert_eq(cr_event_wait(SEEN.done), 0);
    cr_assert_eq(SEEN.calls, 1);
    cr_assert_str_eq(SEEN.subject, "CN=coring-client");
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(anon);
    cr_tls_ctx_free(withcert);
    seen_free();
    return 0;
}

/* A server that requires client certificates refuses a client without one, accepts one with. */
TLS_TEST(mutual_tls)
{
    RUN_NO_FD_LEAK(mtls_main, NULL);
}

static int alpn_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, "h2,http/1.1", 0);
    cr_tls_ctx *c1 = client_ctx_cfg((cr_tls_config){.ca_file = CA, .alpn = "foo,http/1.1,h2"});
    cr_tls_ctx *c2 = client_ctx_cfg((cr_tls_config){.ca_file = CA, .alpn = "foo"});
    cr_server *srv = serve(sctx, echo_handler);
    cr_stream *s;
    char b[16];
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, c1, "localhost", 5, &s), 0);
    cr_assert_eq(cr_stream_tls_alpn(s, b, sizeof b), 2); /* the server's preference wins */
    cr_assert_str_eq(b, "h2");
    cr_assert_eq(cr_stream_tls_alpn(s, b, 2), -ENAMETOOLONG);
    cr_stream_free(s);
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, c2, "localhost", 5, &s), 0);
    cr_assert_eq(cr_stream_tls_alpn(s, b, sizeof b), 0); /* no overlap: no ALPN, as Python */
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(c1);
    cr_tls_ctx_free(c2);
    return 0;
}

/* ALPN: the server picks by its own preference; no overlap means no protocol. */
TLS_TEST(alpn)
{
    RUN_NO_FD_LEAK(alpn_main, NULL);
}

/* ---- real OpenSSL peers ---- */

/* Starts argv with stdin/stdout as streams; stderr to stdout when merge. */
static cr_subprocess *spawn(const char *const *argv, bool merge)
{
    cr_subprocess_opts o = {.stdin_mode = CR_SUBPROCESS_STREAM, .stdout_mode = CR_SUBPROCESS_STREAM,
                            .stderr_mode = merge ? CR_SUBPROCESS_STDOUT : CR_SUBPROCESS_DEVNULL};
    cr_subprocess *p;
    cr_assert_eq(cr_create_subprocess_exec(&p, argv, &o), 0);
    return p;
}

static void reap(cr_subprocess *p)
{
    int code;
    if (!cr_subprocess_returncode(p, &code))
        cr_subprocess_kill(p);
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(cr_subprocess_free(p), 0);
}

/* Reads lines from p's stdout until one starts with prefix; returns it in buf. */
static void read_until_prefix(cr_subprocess *p, const char *prefix, char *buf, size_t cap)
{
    cr_stream *out = cr_subprocess_stdout(p);
    for (;;) {
        ssize_t n = cr_stream_readline(out, buf, cap - 1);
        cr_assert_gt(n, 0, "child output ended before '%s'", prefix);
        buf[n] = 0;
        if (!strncmp(buf, prefix, strlen(prefix)))
            return;
    }
}

static int s_server_main(void *arg, void **result)
{
    (void)arg, (void)result;
    const char *argv[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", CERT,
                          "-key", KEY, "-www", "-naccept", "1", NULL};
    cr_subprocess *p = spawn(argv, false);
    char line[256];
    read_until_prefix(p, "ACCEPT", line, sizeof line);
    int port = atoi(strrchr(line, ':') + 1);
    cr_tls_ctx *cctx = client_ctx();
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", port, NULL, cctx, "localhost", 5.0, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    cr_stream_write(s, req, sizeof req - 1);
    expect_line(s, "HTTP/1.0 200 ok\r\n");
    /* The status page, then s_server's close_notify: a clean EOF. */
    static char body[65536];
    size_t got = 0;
    ssize_t n;
    while ((n = cr_stream_read(s, body + got, sizeof body - 1 - got)) > 0)
        got += (size_t)n;
    cr_assert_eq(n, 0, "%zd %s", n, cr_tls_last_error());
    body[got] = 0;
    cr_assert(strstr(body, "Ciphers supported in s_server binary"), "%s", body);
    cr_assert(SSL_get_shutdown(cr_stream_tls_ssl(s)) & SSL_RECEIVED_SHUTDOWN);
    cr_stream_free(s);
    cr_tls_ctx_free(cctx);
    reap(p);
    return 0;
}

/* A coring client talks HTTP to `openssl s_server -www` and sees its close_notify. */
TLS_TEST(client_vs_openssl_s_server)
{
    RUN_NO_FD_LEAK(s_server_main, NULL);
}

static int s_client_main(void *arg, void **result)
{
    (void)result;
    const char *version = arg;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_server *srv = serve(sctx, line_echo_handler);
    char port[64];
    snprintf(port, sizeof port, "127.0.0.1:%d", cr_server_port(srv));
    /* -msg: s_client also prints each TLS message it sends (>>>) and gets (<<<). */
    const char *argv[] = {"openssl", "s_client", "-quiet", "-no_ign_eof", "-msg", version,
                          "-connect", port, "-CAfile", CA, "-verify_return_error",
                          "-verify_hostname", "localhost", "-servername", "localhost", NULL};
    cr_subprocess *p = spawn(argv, false);
    cr_stream *in = cr_subprocess_stdin(p);
    char line[256];
    cr_stream_write(in, "ping\n", 5);
    read_until_prefix(p, "ping", line, sizeof line);
    if (!strcmp(version, "-tls1_3")) {
        /* "K": a KeyUpdate that asks for ours. Once s_client has sent it, a
         * line: OpenSSL answers with our KeyUpdate before that echo. */
        cr_stream_write(in, "K\n", 2);
        read_until_prefix(p, ">>> TLS 1.3, Handshake [length 0005], KeyUpdate", line, sizeof line);
        cr_stream_write(in, "pong\n", 5);
        read_until_prefix(p, "<<< TLS 1.3, Handshake [length 0005], KeyUpdate", line, sizeof line);
        read_until_prefix(p, "pong", line, sizeof line);
    }
    cr_stream_write_eof(in); /* s_client closes the connection */
    cr_assert_eq(cr_event_wait(SEEN.done), 0);
    cr_assert_eq(SEEN.rc, 0); /* EOF, not an error */
    cr_assert_str_eq(SEEN.sni, "localhost");
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 0);
    cr_assert_eq(cr_subprocess_free(p), 0);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    seen_free();
    return 0;
}

/* `openssl s_client` (TLS 1.3) verifies a coring server, gets its echo, and a KeyUpdate is answered. */
TLS_TEST(server_vs_openssl_s_client_tls13)
{
    RUN_NO_FD_LEAK(s_client_main, "-tls1_3");
}

/* The same over TLS 1.2. */
TLS_TEST(server_vs_openssl_s_client_tls12)
{
    RUN_NO_FD_LEAK(s_client_main, "-tls1_2");
}

static int reneg_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_server *srv = serve(sctx, line_echo_handler);
    char port[64];
    snprintf(port, sizeof port, "127.0.0.1:%d", cr_server_port(srv));
    const char *argv[] = {"openssl", "s_client", "-quiet", "-no_ign_eof", "-tls1_2", "-connect",
                          port, "-CAfile", CA, NULL};
    cr_subprocess *p = spawn(argv, true);
    cr_stream *in = cr_subprocess_stdin(p);
    cr_stream_write(in, "before\n", 7);
    char line[256];
    read_until_prefix(p, "before", line, sizeof line); /* the session works */
    cr_stream_write(in, "R\n", 2); /* s_client: renegotiate */
    cr_assert_eq(cr_event_wait(SEEN.done), 0);
    /* We answered no_renegotiation; the client gave up with a fatal alert. */
    cr_assert_eq(SEEN.rc, -EPROTO, "%d %s", SEEN.rc, cr_tls_last_error());
    reap(p);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    seen_free();
    return 0;
}

/* A client's TLS 1.2 renegotiation is refused and ends the session with -EPROTO. */
TLS_TEST(renegotiation_refused)
{
    RUN_NO_FD_LEAK(reneg_main, NULL);
}

static int curl_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *sctx;
    cr_assert_eq(https_ctx(CERT, KEY, &sctx), 0);
    cr_server *srv;
    cr_assert_eq(cr_start_server_tls(NULL, "127.0.0.1", 0, http_handler, NULL, NULL, sctx, &srv), 0);
    cr_tls_ctx_free(sctx); /* the server holds its own reference */
    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "https://localhost:%d/", cr_server_port(srv));
    snprintf(u2, sizeof u2, "https://localhost:%d/again", cr_server_port(srv));
    const char *argv[] = {"curl", "-s", "--max-time", "10", "--cacert", CA, "-w", " %{http_version}\\n",
                          u1, u2, NULL};
    cr_subprocess *p = spawn(argv, false);
    char out[256];
    size_t got = 0;
    ssize_t n;
    while ((n = cr_subprocess_read(p, 1, out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = 0;
    cr_assert_str_eq(out, "Hello, world! 1.1\nHello, world! 1.1\n");
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 0);
    cr_assert_eq(cr_subprocess_free(p), 0);
    unserve(srv);
    return 0;
}

/* curl --cacert gets examples/https.c's answer twice over one kept-alive TLS connection. */
TLS_TEST(https_example_answers_curl)
{
    RUN_NO_FD_LEAK(curl_main, NULL);
}

/* ---- broken peers ---- */

/* A plain server that answers a ClientHello with the start of a record, then EOF. */
static int half_record_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char b[1];
    if (cr_stream_read(s, b, 1) != 1) /* the ClientHello is arriving */
        return 0;
    cr_stream_write(s, "\x16\x03\x03\x00\x40" "0123456789", 15); /* 10 of 64 bytes */
    return 0; /* the server closes */
}

static int handshake_by_raw(cr_stream *s, void *arg)
{
    (void)s, (void)arg;
    SEEN.calls++;
    return 0;
}

static int truncated_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *cctx = client_ctx();
    cr_server *raw;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, half_record_handler, NULL, NULL, &raw), 0);
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(raw), NULL, cctx, "localhost", 5, &s);
    cr_assert_eq(rc, -ECONNRESET, "%d %s", rc, cr_tls_last_error());
    unserve(raw);

    /* The other way: half a ClientHello, then FIN: the handler never runs. */
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_server *srv = serve(sctx, handshake_by_raw);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 5);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cr_send_all(fd, "\x16\x03\x01\x02\x00" "abcdefgh", 13, 5), 13);
    cr_assert_eq(cr_shutdown(fd, SHUT_WR), 0);
    char b[64];
    cr_assert_eq(cr_recv(fd, b, sizeof b, 0, 5), 0); /* the server hung up */
    cr_assert_eq(cr_close(fd), 0);
    unserve(srv);
    cr_assert_eq(SEEN.calls, 0);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* A handshake cut off mid-record fails with -ECONNRESET on either side, no handler runs. */
TLS_TEST(truncated_handshake)
{
    RUN_NO_FD_LEAK(truncated_main, NULL);
}

/* The TLS server for the cut-record test: on "go", 20000 bytes. */
static int big_record_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char line[16];
    if (cr_stream_readline(s, line, sizeof line) != 3)
        return 0;
    static char big[20000];
    memset(big, 'x', sizeof big);
    cr_stream_write(s, big, sizeof big);
    cr_stream_drain(s);
    cr_stream_read(s, line, sizeof line); /* until the proxy hangs up */
    return 0;
}

static int pump_task(void *arg, void **result)
{
    (void)result;
    cr_stream **ab = arg; /* copy ab[0] → ab[1] until either ends */
    char b[4096];
    ssize_t n;
    while ((n = cr_stream_read(ab[0], b, sizeof b)) > 0)
        if (cr_stream_write(ab[1], b, (size_t)n) < 0)
            break;
    return 0;
}

static int TLS_PORT;

/* What the man in the middle does to the server's records. */
enum { CUT_HALF, FLIP_BYTE, DROP_ALERTS };
static int MITM_MODE;

/* A man in the middle: forwards the client's bytes as they come and the
 * server's record by record. CUT_HALF: of the first record longer than
 * 10000 bytes (application data: handshake records are smaller) it forwards
 * half and hangs up. FLIP_BYTE: it flips a bit inside that record.
 * DROP_ALERTS: it drops alert records (TLS 1.2's close_notify) and passes
 * the server's FIN on. */
static int mitm_handler(cr_stream *c, void *arg)
{
    (void)arg;
    cr_stream *up;
    cr_assert_eq(cr_open_connection("127.0.0.1", TLS_PORT, NULL, 5, &up), 0);
    cr_stream *ab[2] = {c, up};
    cr_task *fwd = cr_create_task(pump_task, ab);
    unsigned char rec[5 + 18432];
    for (;;) {
        if (cr_stream_readexactly(up, rec, 5, NULL) != 5)
            break; /* the server hung up */
        size_t len = (size_t)rec[3] << 8 | rec[4];
        cr_assert_leq(len, sizeof rec - 5);
        cr_assert_eq(cr_stream_readexactly(up, rec + 5, len, NULL), (ssize_t)len);
        if (MITM_MODE == DROP_ALERTS && rec[0] == 21)
            continue;
        if (len > 10000 && MITM_MODE == FLIP_BYTE)
            rec[5 + len / 2] ^= 0x10;
        if (len > 10000 && MITM_MODE == CUT_HALF) {
            cr_stream_write(c, rec, 5 + len / 2);
            break;
        }
        cr_stream_write(c, rec, 5 + len);
    }
    cr_stream_close(c); /* after what was written is sent */
    cr_stream_abort(up);
    cr_await(fwd, NULL);
    cr_future_unref(fwd);
    cr_stream_free(up);
    return 0;
}

static int mitm_main(void *arg, void **result)
{
    (void)result;
    MITM_MODE = PINT(arg);
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, big_record_handler);
    TLS_PORT = cr_server_port(srv);
    cr_server *mitm;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, mitm_handler, NULL, NULL, &mitm), 0);
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(mitm), NULL, cctx, "localhost", 5, &s);
    cr_assert_eq(rc, 0, "%s %s", cr_strerror(rc), cr_tls_last_error());
    cr_stream_write(s, "go\n", 3);
    static char buf[20000];
    size_t got = 99;
    ssize_t n = cr_stream_readexactly(s, buf, sizeof buf, &got);
    cr_assert_eq(n, -EPROTO, "%zd %s", n, cr_tls_last_error());
    cr_assert(strstr(cr_tls_last_error(), MITM_MODE == CUT_HALF ? "mid-record" : "bad record mac"),
              "%s", cr_tls_last_error());
    cr_assert_lt(got, sizeof buf); /* what was whole and genuine came through, nothing more */
    cr_assert_eq(cr_stream_read(s, buf, 1), -EPROTO); /* sticky */
    cr_assert_eq(cr_stream_write(s, "x", 1), -EPROTO);
    cr_stream_free(s);
    unserve(mitm);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* A peer whose connection ends in the middle of a record is an error (-EPROTO), never EOF. */
TLS_TEST(peer_aborts_mid_record)
{
    RUN_NO_FD_LEAK(mitm_main, IPTR(CUT_HALF));
}

/* A record altered on the way fails authentication: -EPROTO, and nothing of it is delivered. */
TLS_TEST(tampered_record)
{
    RUN_NO_FD_LEAK(mitm_main, IPTR(FLIP_BYTE));
}

static int bye_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char line[16];
    if (cr_stream_readline(s, line, sizeof line) == 3)
        cr_stream_write(s, "bye\n", 4);
    return 0; /* the server closes: close_notify, then FIN */
}

static int ragged_main(void *arg, void **result)
{
    (void)arg, (void)result;
    MITM_MODE = DROP_ALERTS;
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    /* TLS 1.2, where close_notify travels as a visible alert record. */
    cr_tls_ctx *cctx = client_ctx_cfg((cr_tls_config){.ca_file = CA, .max_version = CR_TLS_1_2});
    cr_server *srv = serve(sctx, bye_handler);
    TLS_PORT = cr_server_port(srv);
    cr_server *mitm;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, mitm_handler, NULL, NULL, &mitm), 0);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(mitm), NULL, cctx, "localhost", 5, &s), 0);
    cr_assert_str_eq(cr_stream_tls_version(s), "TLSv1.2");
    cr_stream_write(s, "go\n", 3);
    expect_line(s, "bye\n");
    char b[8];
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0); /* EOF, as asyncio... */
    cr_assert(cr_stream_at_eof(s));
    /* ...and the application can tell it was not a close_notify. */
    cr_assert_eq(SSL_get_shutdown(cr_stream_tls_ssl(s)) & SSL_RECEIVED_SHUTDOWN, 0);
    cr_stream_free(s);
    unserve(mitm);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* A TCP EOF at a record boundary without close_notify reads as EOF, and is told apart via the SSL. */
TLS_TEST(ragged_eof_at_record_boundary)
{
    RUN_NO_FD_LEAK(ragged_main, NULL);
}

/* Closes right after its answer, then looks at the fd without suspending. */
static int CLOSED_AT_ONCE = -1;

static int close_at_once_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char line[16];
    if (cr_stream_readline(s, line, sizeof line) != 3)
        return 0;
    int fd = cr_stream_fd(s);
    cr_stream_write(s, "bye\n", 4);
    cr_stream_close(s);
    /* No loop turn since the write: the record and the close_notify went
     * out with send(2) as they were made, so nothing is in flight and the
     * close did not wait for a completion — the fd is gone already. */
    CLOSED_AT_ONCE = fcntl(fd, F_GETFD) < 0 && errno == EBADF;
    return 0;
}

static int close_at_once_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, close_at_once_handler);
    cr_stream *s;
    CLOSED_AT_ONCE = -1;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s), 0);
    cr_stream_write(s, "go\n", 3);
    expect_line(s, "bye\n");
    char b[8];
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0);
    cr_assert_neq(SSL_get_shutdown(cr_stream_tls_ssl(s)) & SSL_RECEIVED_SHUTDOWN, 0);
    cr_assert_eq(CLOSED_AT_ONCE, 1, "the server's close waited for a send to complete");
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* A TLS stream's records leave as they are made, not at the end of the loop's
 * turn: a server's answer, its close_notify and the close(2) all happen in
 * the handler's own step (what a full-handshake-per-request client waits on). */
TLS_TEST(records_leave_at_once_and_close_does_not_wait)
{
    RUN_NO_FD_LEAK(close_at_once_main, NULL);
}

/* ---- bulk ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BULK (8u << 20) /* sanitizers run ~10x slower: 8 MiB each way there */
#else
#define BULK (100u << 20) /* 100 MiB each way */
#endif

static inline unsigned char pat(size_t i) { return (unsigned char)(i ^ (i >> 8) ^ (i >> 17)); }

static int bulk_writer(void *arg, void **result)
{
    (void)result;
    cr_stream *s = arg;
    static unsigned char b[65536];
    for (size_t off = 0; off < BULK; off += sizeof b) {
        size_t k = BULK - off < sizeof b ? BULK - off : sizeof b;
        for (size_t i = 0; i < k; i++)
            b[i] = pat(off + i);
        if (cr_stream_write(s, b, k) < 0 || cr_stream_drain(s) < 0)
            return -EIO;
    }
    return cr_stream_write_eof(s);
}

static int bulk_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, echo_handler);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s), 0);
    cr_task *w = cr_create_task(bulk_writer, s);
    static unsigned char b[100000];
    size_t total = 0;
    ssize_t n;
    while ((n = cr_stream_read(s, b, sizeof b)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (b[i] != pat(total + (size_t)i))
                cr_assert_fail("byte %zu differs", total + (size_t)i);
        total += (size_t)n;
    }
    cr_assert_eq(n, 0, "%zd %s", n, cr_tls_last_error());
    cr_assert_eq(total, BULK);
    cr_assert_eq(cr_await(w, NULL), 0);
    cr_future_unref(w);
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* 100 MiB (8 MiB under sanitizers) each way through a TLS echo, byte-exact, then close_notify EOF. */
TLS_TEST(bulk_each_way_byte_exact)
{
    RUN_NO_FD_LEAK(bulk_main, NULL);
}

/* ---- cancellation and timeouts ---- */

/* A plain server that reads whatever comes and never answers. */
static int silent_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char b[4096];
    while (cr_stream_read(s, b, sizeof b) > 0)
        cr_event_set(SEEN.done); /* the ClientHello came: the client waits */
    return 0;
}

static int connect_task(void *arg, void **result)
{
    (void)result;
    cr_tls_ctx *cctx = arg;
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", TLS_PORT, NULL, cctx, "localhost", 5, &s);
    if (rc == 0)
        cr_stream_free(s);
    return rc;
}

static int cancel_hs_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *cctx = client_ctx();
    cr_server *raw;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, silent_handler, NULL, NULL, &raw), 0);
    TLS_PORT = cr_server_port(raw);
    cr_task *t = cr_create_task(connect_task, cctx);
    cr_assert_eq(cr_event_wait(SEEN.done), 0); /* parked in the handshake now */
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);

    /* The handshake timeout of the context. */
    cr_tls_ctx *quick = client_ctx_cfg((cr_tls_config){.ca_file = CA, .handshake_timeout = 0.2});
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", TLS_PORT, NULL, quick, "localhost", 5, &s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert_eq(rc, -ETIMEDOUT);
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    cr_assert(took >= 0.2 && took < 3.0, "took %.3f s", took);
    cr_assert(strstr(cr_tls_last_error(), "timed out"));
    unserve(raw);
    cr_tls_ctx_free(cctx);
    cr_tls_ctx_free(quick);
    seen_free();
    return 0;
}

/* Cancelling a client in its handshake returns -ECANCELED at once; a handshake timeout -ETIMEDOUT. */
TLS_TEST(cancel_and_timeout_during_handshake)
{
    RUN_NO_FD_LEAK(cancel_hs_main, NULL);
}

static cr_tls_ctx *FREED_CTX;

static int start_tls_task(void *arg, void **result)
{
    (void)result;
    return cr_stream_start_tls(arg, FREED_CTX, "localhost", 5);
}

static int freed_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    FREED_CTX = client_ctx();
    cr_server *raw;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, silent_handler, NULL, NULL, &raw), 0);
    cr_stream *s;
    cr_assert_eq(cr_open_connection("127.0.0.1", cr_server_port(raw), NULL, 5, &s), 0);
    cr_task *t = cr_create_task(start_tls_task, s);
    cr_assert_eq(cr_event_wait(SEEN.done), 0); /* the handshake is parked */
    cr_stream_free(s);                         /* ...and its stream dropped */
    cr_assert_eq(cr_await(t, NULL), -ESHUTDOWN);
    cr_future_unref(t);
    unserve(raw);
    cr_tls_ctx_free(FREED_CTX);
    seen_free();
    return 0;
}

/* Freeing a stream while another task handshakes on it ends that handshake with -ESHUTDOWN, no use after free. */
TLS_TEST(stream_freed_during_start_tls)
{
    RUN_NO_FD_LEAK(freed_main, NULL);
}

static int read_task(void *arg, void **result)
{
    (void)result;
    char b[64];
    return (int)cr_stream_read(arg, b, sizeof b);
}

static int cancel_read_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, line_echo_handler);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s), 0);
    cr_task *t = cr_create_task(read_task, s);
    cr_assert_eq(cr_sleep(0), 0); /* t runs and parks in the read */
    cr_assert_not(cr_future_done(t));
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    /* The stream is intact: a timed-out read consumes nothing either. */
    cr_assert_eq(cr_stream_set_timeout(s, 0.05), 0);
    char b[16];
    cr_assert_eq(cr_stream_read(s, b, sizeof b), -ETIMEDOUT);
    cr_assert_eq(cr_stream_set_timeout(s, CR_NO_TIMEOUT), 0);
    cr_stream_write(s, "still\n", 6);
    expect_line(s, "still\n");
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* A read cancelled or timed out over TLS leaves the session usable. */
TLS_TEST(cancel_and_timeout_during_read)
{
    RUN_NO_FD_LEAK(cancel_read_main, NULL);
}

#define MANY 64

static int one_client(void *arg, void **result)
{
    (void)result;
    cr_tls_ctx *cctx = arg;
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", TLS_PORT, NULL, cctx, "localhost", 10, &s);
    if (rc < 0)
        return rc;
    char msg[32], b[32];
    int len = snprintf(msg, sizeof msg, "hi %p\n", (void *)s);
    cr_stream_write(s, msg, (size_t)len);
    ssize_t n = cr_stream_readline(s, b, sizeof b);
    rc = n == len && !memcmp(b, msg, (size_t)len) ? 0 : -EIO;
    cr_stream_free(s);
    return rc;
}

static int many_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, line_echo_handler);
    TLS_PORT = cr_server_port(srv);
    cr_task *t[MANY];
    for (int i = 0; i < MANY; i++)
        t[i] = cr_create_task(one_client, cctx);
    int errs[MANY];
    cr_assert_eq(cr_gather(t, MANY, NULL, errs, CR_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < MANY; i++) {
        cr_assert_eq(errs[i], 0, "client %d: %s", i, cr_strerror(errs[i]));
        cr_future_unref(t[i]);
    }
    unserve(srv);
    cr_assert_eq(SEEN.calls, MANY);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* 64 handshakes at once on one loop all complete and echo. */
TLS_TEST(many_concurrent_handshakes)
{
    RUN_NO_FD_LEAK(many_main, NULL);
}

/* ---- start_tls ---- */

static cr_tls_ctx *STARTTLS_CTX;

/* STARTTLS server: "STARTTLS\n" (optionally answered "OK\n" in clear), then TLS. */
static int starttls_handler(cr_stream *s, void *arg)
{
    char line[64];
    if (cr_stream_readline(s, line, sizeof line) != 9)
        return -EIO;
    if (arg)
        cr_stream_write(s, "OK\n", 3); /* sent in clear, before the handshake */
    int rc = cr_stream_start_tls(s, STARTTLS_CTX, NULL, 5);
    if (rc < 0)
        return rc;
    SEEN.calls++;
    ssize_t n;
    while ((n = cr_stream_readline(s, line, sizeof line)) > 0)
        cr_stream_write(s, line, (size_t)n);
    return 0;
}

static int starttls_main(void *arg, void **result)
{
    (void)result;
    seen_reset();
    STARTTLS_CTX = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, starttls_handler, arg, NULL, &srv), 0);
    cr_stream *s;
    cr_assert_eq(cr_open_connection("127.0.0.1", cr_server_port(srv), NULL, 5, &s), 0);
    cr_assert_not(cr_stream_is_tls(s));
    cr_assert_null(cr_stream_tls_version(s));
    cr_stream_write(s, "STARTTLS\n", 9);
    if (arg)
        expect_line(s, "OK\n");
    /* Without the OK the ClientHello may reach the server in the same
     * segment as the command: it must be handed to TLS, not lost. */
    int rc = cr_stream_start_tls(s, cctx, "localhost", 5);
    cr_assert_eq(rc, 0, "%s %s", cr_strerror(rc), cr_tls_last_error());
    cr_assert(cr_stream_is_tls(s));
    cr_assert_eq(cr_stream_start_tls(s, cctx, "localhost", 5), -EBUSY);
    cr_stream_write(s, "secret\n", 7);
    expect_line(s, "secret\n");
    cr_stream_free(s);
    unserve(srv);
    cr_assert_eq(SEEN.calls, 1);
    cr_tls_ctx_free(STARTTLS_CTX);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* start_tls upgrades a plain stream after an "OK" sent in clear. */
TLS_TEST(start_tls_after_reply)
{
    RUN_NO_FD_LEAK(starttls_main, IPTR(1));
}

/* start_tls takes a ClientHello already buffered behind the command. */
TLS_TEST(start_tls_pipelined_hello)
{
    RUN_NO_FD_LEAK(starttls_main, NULL);
}

/* ---- zero copy and misuse ---- */

static int view_echo_handler(cr_stream *s, void *arg)
{
    (void)arg;
    cr_buf b;
    while (cr_stream_read_buf(s, &b) > 0)
        if (cr_stream_write_buf(s, &b) < 0 || cr_stream_drain(s) < 0)
            return 0;
    return 0;
}

static int view_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, view_echo_handler);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s), 0);
    static char out[300000], in[300000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)pat(i);
    cr_stream_write(s, out, sizeof out);
    cr_assert_eq(cr_stream_readexactly(s, in, sizeof in, NULL), (ssize_t)sizeof in);
    cr_assert_eq(memcmp(in, out, sizeof in), 0);
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* read_buf / write_buf work over TLS (views of decrypted bytes; writes copied). */
TLS_TEST(zero_copy_calls)
{
    RUN_NO_FD_LEAK(view_main, NULL);
}

static int misuse_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_tls_ctx *c, *sctx = server_ctx(CERT, KEY, NULL, 0), *cctx = client_ctx();
    cr_assert_eq(cr_tls_ctx_new(NULL, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){0}, NULL), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.server = true}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.alpn = "a,,b"}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.alpn = ""}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.min_version = 0x0301}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.min_version = CR_TLS_1_3, .max_version = CR_TLS_1_2}, &c),
                 -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.verify = 9}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.handshake_timeout = NAN}, &c), -EINVAL);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.server = true, .cert_file = "/nonexistent"}, &c),
                 -ENOENT);
    cr_assert_neq(cr_tls_last_error()[0], 0);
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.server = true, .cert_file = CERT, .key_file = CLI_KEY}, &c),
                 -EKEYREJECTED); /* key of another certificate */
    cr_assert_eq(cr_tls_ctx_new(&(cr_tls_config){.ca_file = "/nonexistent"}, &c), -ENOENT);
    /* The wrong kind of context for the call. */
    cr_stream *s = (cr_stream *)1;
    cr_server *srv = (cr_server *)1;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", 1, NULL, sctx, "x", 1, &s), -EINVAL);
    cr_assert_null(s);
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", 1, NULL, NULL, "x", 1, &s), -EINVAL);
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", 1, NULL, cctx, "x", 1, NULL), -EINVAL);
    cr_assert_eq(cr_start_server_tls(NULL, "127.0.0.1", 0, echo_handler, NULL, NULL, cctx, &srv), -EINVAL);
    cr_assert_null(srv);
    cr_assert_eq(cr_stream_start_tls(NULL, cctx, "x", 1), -EINVAL);
    /* Queries on plain streams and NULL. */
    cr_assert_not(cr_stream_is_tls(NULL));
    cr_assert_null(cr_stream_tls_version(NULL));
    cr_assert_null(cr_stream_tls_ssl(NULL));
    cr_assert_null(cr_stream_tls_server_name(NULL));
    char b[8];
    cr_assert_eq(cr_stream_tls_alpn(NULL, b, sizeof b), -EINVAL);
    cr_assert_eq(cr_stream_tls_peer_cert(NULL, b, sizeof b), -EINVAL);
    cr_assert_eq(cr_stream_tls_peer_subject(NULL, b, sizeof b), -EINVAL);
    cr_assert_null(cr_tls_ctx_ssl_ctx(NULL));
    cr_assert_not_null(cr_tls_ctx_ssl_ctx(cctx));
    cr_tls_ctx_free(NULL);
    /* start_tls on a client context needs a name unless it skips the check;
     * with a read parked it is -EBUSY. */
    cr_server *plain;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, silent_handler, NULL, NULL, &plain), 0);
    cr_assert_eq(cr_open_connection("127.0.0.1", cr_server_port(plain), NULL, 5, &s), 0);
    cr_assert_eq(cr_stream_start_tls(s, cctx, NULL, 1), -EINVAL);
    cr_assert_eq(cr_stream_start_tls(s, cctx, "localhost", NAN), -EINVAL);
    cr_assert_not(cr_stream_is_tls(s)); /* refused before anything changed */
    cr_task *t = cr_create_task(read_task, s);
    cr_sleep(0);
    cr_assert_eq(cr_stream_start_tls(s, cctx, "localhost", 1), -EBUSY);
    cr_assert(!cr_stream_is_tls(s));
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    cr_stream_close(s);
    cr_assert_eq(cr_stream_start_tls(s, cctx, "localhost", 1), -ESHUTDOWN);
    cr_stream_free(s);
    unserve(plain);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    return 0;
}

/* Misuse gets a clear negative errno, never a crash. */
TLS_TEST(misuse)
{
    RUN_NO_FD_LEAK(misuse_main, NULL);
}

static int left_open_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, line_echo_handler);
    cr_stream *s;
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s), 0);
    cr_stream_write(s, "x\n", 2);
    expect_line(s, "x\n");
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    /* The server, its handler parked in a read, and s stay open: closing
     * the loop must free every SSL and close every fd. */
    return 0;
}

/* A loop closed under a live TLS server and client frees their sessions and fds (ASan: no leak). */
TLS_TEST(loop_closed_with_sessions_open)
{
    RUN_NO_FD_LEAK(left_open_main, NULL);
    cr_event_free(SEEN.done); /* its loop is gone; nobody waits on it */
}

static int server_hs_timeout_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_config cfg = {.server = true, .cert_file = CERT, .key_file = KEY,
                         .handshake_timeout = 0.3};
    cr_tls_ctx *sctx;
    cr_assert_eq(cr_tls_ctx_new(&cfg, &sctx), 0);
    cr_server *srv = serve(sctx, handshake_by_raw);
    /* A client that connects and never says hello. */
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 5);
    cr_assert_geq(fd, 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char c;
    ssize_t n = cr_recv(fd, &c, 1, 0, 10);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert(n == 0 || n == -ECONNRESET, "%zd", n); /* the server gave up on it */
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    cr_assert(took >= 0.25 && took < 5.0, "took %.3f s", took);
    cr_assert_eq(cr_close(fd), 0);
    unserve(srv);
    cr_assert_eq(SEEN.calls, 0);
    cr_tls_ctx_free(sctx);
    seen_free();
    return 0;
}

/* A server drops a client that never completes its handshake after the context's timeout. */
TLS_TEST(server_handshake_timeout)
{
    RUN_NO_FD_LEAK(server_hs_timeout_main, NULL);
}

static int sni_main(void *arg, void **result)
{
    (void)arg, (void)result;
    seen_reset();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *other = server_ctx(OTHER, KEY, "h2", 0);
    cr_tls_ctx *cctx = client_ctx_cfg((cr_tls_config){.ca_file = CA, .alpn = "h2"});
    cr_assert_eq(cr_tls_ctx_add_server_name(sctx, "Other.Test", other), 0);
    cr_assert_eq(cr_tls_ctx_add_server_name(sctx, "x", sctx), -EINVAL);
    cr_assert_eq(cr_tls_ctx_add_server_name(cctx, "x", other), -EINVAL);
    cr_assert_eq(cr_tls_ctx_add_server_name(other, "x", sctx), -EINVAL); /* sctx has names */
    cr_assert_eq(cr_tls_ctx_add_server_name(sctx, "", other), -EINVAL);
    cr_tls_ctx_free(other); /* sctx holds it */
    cr_server *srv = serve(sctx, line_echo_handler);
    int port = cr_server_port(srv);
    cr_stream *s;
    char b[16];
    /* Verifies only if the server picked other.pem (the SAN other.test). */
    int rc = cr_open_connection_tls("127.0.0.1", port, NULL, cctx, "other.test", 5, &s);
    cr_assert_eq(rc, 0, "%s %s", cr_strerror(rc), cr_tls_last_error());
    cr_assert_eq(cr_stream_tls_alpn(s, b, sizeof b), 2); /* other's ALPN list */
    cr_stream_write(s, "sni\n", 4);
    expect_line(s, "sni\n");
    cr_stream_free(s);
    cr_assert_eq(cr_event_wait(SEEN.done), 0);
    cr_assert_str_eq(SEEN.sni, "other.test");
    /* Other names get the default certificate. */
    cr_assert_eq(cr_open_connection_tls("127.0.0.1", port, NULL, cctx, "localhost", 5, &s), 0);
    cr_stream_free(s);
    rc = cr_open_connection_tls("127.0.0.1", port, NULL, cctx, "nomatch.test", 5, &s);
    cr_assert_eq(rc, -EKEYREJECTED, "%d %s", rc, cr_tls_last_error());
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    seen_free();
    return 0;
}

/* A server picks its certificate by the name the client asks for (SNI); others get the default. */
TLS_TEST(server_name_selects_certificate)
{
    RUN_NO_FD_LEAK(sni_main, NULL);
}

/* ---- kTLS: the probe, and the memory-BIO path it falls back to ---- */

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* What the kernel answers about the tls ULP, asked directly: 1 offered
 * (ENOTCONN: found, but a socket must be connected), else -errno. */
static int ulp_tls_offered(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    int rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") == 0 || errno == ENOTCONN
                 ? 1 : -errno;
    close(fd);
    return rc;
}

/* The ULP attached to a connected socket: "" for none. */
static void ulp_of(int fd, char *buf, socklen_t cap)
{
    memset(buf, 0, cap);
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_ULP, buf, &cap), 0, "%s", strerror(errno));
}

static void *probe_thread(void *arg)
{
    *(int *)arg = cr_tls_ktls_probe();
    return NULL;
}

/* The probe says what the kernel says (here: -ENOENT, no CONFIG_TLS), runs
 * once per process whichever threads ask, and leaves no fd behind. */
Test(tls, ktls_probe)
{
    int want = ulp_tls_offered();
    int fds = count_fds();
    cr_assert_eq(cr_tls_ktls_probe(), want, "probe %d, kernel %d", cr_tls_ktls_probe(), want);
    pthread_t th[4];
    int got[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, probe_thread, &got[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(got[i], want);
    }
    cr_assert_eq(cr__tls_ktls_probe_runs(), 1);
    cr_assert_eq(count_fds(), fds);
    cr_log_info("kTLS probe on this kernel: %d (%s)", want, want == 1 ? "offered" : cr_strerror(want));
}

struct path_seen {
    char path[16], ulp[16];
    cr_event *done;
};
static struct path_seen PS;

static int path_handler(cr_stream *s, void *arg)
{
    (void)arg;
    const char *p = cr_stream_tls_path(s);
    snprintf(PS.path, sizeof PS.path, "%s", p ? p : "(null)");
    ulp_of(cr_stream_fd(s), PS.ulp, sizeof PS.ulp);
    char line[64];
    ssize_t n;
    while ((n = cr_stream_readline(s, line, sizeof line)) > 0)
        cr_stream_write(s, line, (size_t)n);
    cr_event_set(PS.done);
    return 0;
}

static int path_main(void *arg, void **result)
{
    (void)arg, (void)result;
    memset(&PS, 0, sizeof PS);
    PS.done = cr_event_new();
    cr_tls_ctx *sctx = server_ctx(CERT, KEY, NULL, 0);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, path_handler);
    char ulp[16];

    /* A client made TLS from the start. */
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert_str_eq(cr_stream_tls_path(s), "memory-bio");
    ulp_of(cr_stream_fd(s), ulp, sizeof ulp);
    cr_assert_str_eq(ulp, ""); /* the fallback left the socket as it was */
    cr_stream_write(s, "hello\n", 6);
    expect_line(s, "hello\n");
    cr_assert_eq(cr_stream_write_eof(s), 0);
    char b[8];
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0);
    cr_assert_eq(cr_event_wait(PS.done), 0);
    cr_assert_str_eq(PS.path, "memory-bio"); /* the server's side */
    cr_assert_str_eq(PS.ulp, "");
    cr_stream_free(s);

    /* A plain stream has no path until start_tls makes it TLS. */
    cr_event_clear(PS.done);
    cr_assert_eq(cr_open_connection("127.0.0.1", cr_server_port(srv), NULL, 5, &s), 0);
    cr_assert_null(cr_stream_tls_path(s));
    rc = cr_stream_start_tls(s, cctx, "localhost", 0);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert_str_eq(cr_stream_tls_path(s), "memory-bio");
    cr_stream_write(s, "again\n", 6);
    expect_line(s, "again\n");
    cr_stream_free(s);
    cr_assert_null(cr_stream_tls_path(NULL));

    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    cr_event_free(PS.done);
    return 0;
}

/* Without kTLS (this kernel) every TLS stream, client, server and start_tls,
 * falls back silently to the memory-BIO path: it works, says "memory-bio",
 * and no ULP is attached to its socket. */
TLS_TEST(ktls_fallback_to_memory_bio)
{
    RUN_NO_FD_LEAK(path_main, NULL);
}

/* ---- kTLS: the hand-off's key material, proven without the kernel ----
 *
 * This kernel has no tls ULP, so what a stream would hand over is taken at
 * the test seam (cr__tls_ktls_seam) and checked against real OpenSSL: the
 * test seals a record itself with the TX crypto_info, as the kernel would,
 * writes it raw to the socket, and the OpenSSL peer must read its
 * plaintext; and it opens the peer's next record with the RX crypto_info. */

/* One case: version, what both sides allow, which side coring is. */
struct ktls_case {
    int version;        /* CR_TLS_1_2 / CR_TLS_1_3 */
    const char *suite;  /* TLS 1.3 ciphersuite / TLS 1.2 cipher list */
    int cipher;         /* the TLS_CIPHER_* the kernel would be given */
    bool coring_server;
    /* Resumption (coring the server): the peer keeps its session here and
     * offers it on the next connection; ctx is the server's, kept across. */
    SSL_SESSION **session;
    cr_tls_ctx *ctx;
};

static const char PING[] = "sealed with the key handed to the kernel";

/* A record's AEAD parameters as the kernel derives them from a crypto_info. */
struct km {
    const EVP_CIPHER *ev;
    const unsigned char *key;
    unsigned char mask[12]; /* TLS 1.3 / ChaCha: nonce mask; 1.2 GCM: salt + explicit */
    uint64_t seq;
    bool v13, gcm12;        /* gcm12: TLS 1.2 GCM, explicit nonce on the wire */
};

static void km_of(const struct cr__ktls_info *in, struct km *m)
{
    const unsigned char *rs;
    memset(m, 0, sizeof *m);
    m->v13 = in->u.info.version == TLS_1_3_VERSION;
    switch (in->u.info.cipher_type) {
    case TLS_CIPHER_AES_GCM_128:
        m->ev = EVP_aes_128_gcm();
        m->key = in->u.gcm128.key;
        memcpy(m->mask, in->u.gcm128.salt, 4);
        memcpy(m->mask + 4, in->u.gcm128.iv, 8);
        rs = in->u.gcm128.rec_seq;
        break;
    case TLS_CIPHER_AES_GCM_256:
        m->ev = EVP_aes_256_gcm();
        m->key = in->u.gcm256.key;
        memcpy(m->mask, in->u.gcm256.salt, 4);
        memcpy(m->mask + 4, in->u.gcm256.iv, 8);
        rs = in->u.gcm256.rec_seq;
        break;
    default:
        cr_assert_eq(in->u.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
        m->ev = EVP_chacha20_poly1305();
        m->key = in->u.chacha.key;
        memcpy(m->mask, in->u.chacha.iv, 12);
        rs = in->u.chacha.rec_seq;
        break;
    }
    m->gcm12 = !m->v13 && in->u.info.cipher_type != TLS_CIPHER_CHACHA20_POLY1305;
    for (int i = 0; i < 8; i++)
        m->seq = m->seq << 8 | rs[i];
}

/* The nonce of the record at m->seq (1.2 GCM: salt + the explicit part). */
static void km_nonce(const struct km *m, const unsigned char *explicit8, unsigned char n[12])
{
    memcpy(n, m->mask, 12);
    if (m->gcm12) {
        memcpy(n + 4, explicit8, 8);
        return;
    }
    for (int i = 0; i < 8; i++)
        n[4 + i] ^= (unsigned char)(m->seq >> (56 - 8 * i));
}

/* TLS 1.2's additional data: seq, type, version, plaintext length. */
static void aad12(const struct km *m, size_t plen, unsigned char a[13])
{
    for (int i = 0; i < 8; i++)
        a[i] = (unsigned char)(m->seq >> (56 - 8 * i));
    a[8] = 23, a[9] = 3, a[10] = 3;
    a[11] = (unsigned char)(plen >> 8), a[12] = (unsigned char)plen;
}

static int aead(bool enc, const struct km *m, const unsigned char nonce[12], const unsigned char *aad,
                size_t aadlen, const unsigned char *in, size_t n, unsigned char *out,
                unsigned char tag[16])
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l, ok = EVP_CipherInit_ex(x, m->ev, NULL, m->key, nonce, enc) == 1 &&
                EVP_CipherUpdate(x, NULL, &l, aad, (int)aadlen) == 1 &&
                EVP_CipherUpdate(x, out, &l, in, (int)n) == 1 &&
                (enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1) &&
                EVP_CipherFinal_ex(x, out + l, &l) == 1 &&
                (!enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1);
    EVP_CIPHER_CTX_free(x);
    return ok ? 0 : -1;
}

/* What the kernel would send for one application record of n bytes under
 * `in`, at its rec_seq: TLS 1.3 seals the data plus the inner content type
 * with the header as AAD; 1.2 sends the explicit nonce (crypto_info.iv) in
 * front and authenticates seq|type|version|length. Returns the length. */
static size_t seal(const struct cr__ktls_info *in, const void *data, size_t n, unsigned char *out)
{
    struct km m;
    km_of(in, &m);
    unsigned char pt[256], nonce[12], a[13], *body = out + 5;
    cr_assert_lt(n + 1, sizeof pt);
    memcpy(pt, data, n);
    size_t ptlen = n, explen = m.gcm12 ? 8 : 0;
    if (m.v13)
        pt[ptlen++] = 23; /* the inner content type: application data */
    size_t reclen = explen + ptlen + 16;
    out[0] = 23, out[1] = 3, out[2] = 3;
    out[3] = (unsigned char)(reclen >> 8), out[4] = (unsigned char)reclen;
    memcpy(body, m.mask + 4, explen); /* 1.2 GCM: the iv field is the explicit nonce */
    km_nonce(&m, m.mask + 4, nonce);
    aad12(&m, ptlen, a);
    cr_assert_eq(aead(true, &m, nonce, m.v13 ? out : a, m.v13 ? 5 : 13, pt, ptlen,
                      body + explen, body + explen + ptlen), 0);
    return 5 + reclen;
}

/* Opens one record with `in` at its rec_seq; the plaintext's length, or -1. */
static ssize_t open_rec(const struct cr__ktls_info *in, const unsigned char *rec, size_t len,
                        unsigned char *out)
{
    struct km m;
    km_of(in, &m);
    size_t reclen = (size_t)rec[3] << 8 | rec[4], explen = m.gcm12 ? 8 : 0;
    if (len != 5 + reclen || reclen < explen + 16 || rec[0] != 23)
        return -1;
    const unsigned char *body = rec + 5;
    size_t ctlen = reclen - explen - 16;
    unsigned char nonce[12], a[13], tag[16];
    km_nonce(&m, body, nonce);
    aad12(&m, ctlen, a);
    memcpy(tag, body + explen + ctlen, 16);
    if (aead(false, &m, nonce, m.v13 ? rec : a, m.v13 ? 5 : 13, body + explen, ctlen, out, tag) < 0)
        return -1;
    if (m.v13) { /* strip the padding and check the inner type */
        while (ctlen && !out[ctlen - 1])
            ctlen--;
        if (!ctlen || out[--ctlen] != 23)
            return -1;
    }
    return (ssize_t)ctlen;
}

/* The peer: blocking OpenSSL on memory BIOs over one end of a TCP pair, on
 * its own thread, so that it can keep a copy of the bytes of a record it
 * sends. No Criterion asserts off the main thread: failures go to err. */
struct peer {
    const struct ktls_case *c;
    int fd;
    bool pretend;            /* the pretend-kernel test's script (below) */
    unsigned char rec[256];  /* the ciphertext of its "pong" record */
    size_t reclen;
    char got[128];           /* plaintext it read */
    size_t gotlen;
    const char *err;
};

static bool peer_send(struct peer *p, BIO *w)
{
    char b[16384];
    int n;
    while ((n = BIO_read(w, b, sizeof b)) > 0)
        if (write(p->fd, b, (size_t)n) != n)
            return !(p->err = "peer: write");
    return true;
}

static bool read_n(int fd, unsigned char *b, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, b + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

/* One whole record into OpenSSL, never more: bytes behind the handshake
 * stay in the socket for the script to read raw. */
static bool peer_feed(struct peer *p, BIO *r)
{
    unsigned char b[5 + 16384 + 256];
    if (!read_n(p->fd, b, 5) || !read_n(p->fd, b + 5, (size_t)b[3] << 8 | b[4]))
        return !(p->err = "peer: read (EOF or error)");
    BIO_write(r, b, 5 + (b[3] << 8 | b[4]));
    return true;
}

/* Raw bytes off the socket until `n` are in p->got (or EOF). */
static void peer_read_raw(struct peer *p, size_t n)
{
    while (p->gotlen < n) {
        ssize_t k = read(p->fd, p->got + p->gotlen, n - p->gotlen);
        if (k <= 0)
            return;
        p->gotlen += (size_t)k;
    }
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    const struct ktls_case *c = p->c;
    bool server = !c->coring_server;
    SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    SSL_CTX_set_min_proto_version(x, c->version);
    SSL_CTX_set_max_proto_version(x, c->version);
    if (c->version == CR_TLS_1_3)
        SSL_CTX_set_ciphersuites(x, c->suite);
    else
        SSL_CTX_set_cipher_list(x, c->suite);
    if (server) {
        SSL_CTX_use_certificate_chain_file(x, CERT);
        SSL_CTX_use_PrivateKey_file(x, KEY, SSL_FILETYPE_PEM);
        SSL_CTX_set_num_tickets(x, 0); /* nothing behind the handshake */
    }
    SSL *ssl = SSL_new(x);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, r, w);
    if (c->session && *c->session)
        SSL_set_session(ssl, *c->session);
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    for (;;) {
        int rc = SSL_do_handshake(ssl);
        if (!peer_send(p, w))
            goto out;
        if (rc == 1)
            break;
        if (SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ) {
            p->err = "peer: handshake failed";
            goto out;
        }
        if (!peer_feed(p, r))
            goto out;
    }
    if (p->pretend) {
        /* The stream writes plaintext, then close_notify's alert body
         * (on this kernel sendmsg's SOL_TLS cmsg is ignored), then its
         * FIN; then a KeyUpdate asks for an answer it cannot give. */
        peer_read_raw(p, 6 + 2 + 1);
        SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED);
        SSL_do_handshake(ssl);
        peer_send(p, w);
        goto out;
    }
    /* First the record the test sealed (a 1.3 client reads the server's
     * tickets on the way), then "pong": sent after the stream's hand-off
     * point, so its sequence number is the one handed over. */
    while (p->gotlen < sizeof PING - 1) {
        int n = SSL_read(ssl, p->got + p->gotlen, (int)(sizeof p->got - p->gotlen));
        if (n > 0) {
            p->gotlen += (size_t)n;
        } else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
            p->err = "peer: SSL_read refused the sealed record";
            goto out;
        } else if (!peer_feed(p, r)) {
            goto out;
        }
    }
    if (c->session && !*c->session) /* TLS 1.3's ticket came before PING */
        *c->session = SSL_get1_session(ssl);
    SSL_write(ssl, "pong", 4);
    int n = BIO_read(w, p->rec, sizeof p->rec);
    p->reclen = n > 0 ? (size_t)n : 0;
    if (BIO_ctrl_pending(w) || write(p->fd, p->rec, p->reclen) != (ssize_t)p->reclen)
        p->err = "peer: pong is not one record";
out:
    if (p->err)
        shutdown(p->fd, SHUT_RDWR); /* the stream's reader sees EOF, not a hang */
    else /* an SSL freed unshut marks its session not resumable */
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
    SSL_CTX_free(x);
    return NULL;
}

/* The seam: keeps what the stream would give the kernel, answers `ret`. */
static struct {
    struct cr__ktls_info tx, rx;
    int calls, ret;
} SEAM;

static int seam_capture(cr_stream *s, const struct cr__ktls_info *tx, const struct cr__ktls_info *rx)
{
    (void)s;
    SEAM.tx = *tx;
    SEAM.rx = *rx;
    SEAM.calls++;
    return SEAM.ret;
}

static cr_tls_ctx *ktls_ctx(const struct ktls_case *c, bool server)
{
    cr_tls_config cfg = {.server = server, .cert_file = server ? CERT : NULL,
                         .key_file = server ? KEY : NULL, .ca_file = server ? NULL : CA,
                         .min_version = c->version, .max_version = c->version, .ktls = true};
    cr_tls_ctx *ctx;
    int rc = cr_tls_ctx_new(&cfg, &ctx);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    SSL_CTX *x = cr_tls_ctx_ssl_ctx(ctx);
    cr_assert_eq(c->version == CR_TLS_1_3 ? SSL_CTX_set_ciphersuites(x, c->suite)
                                          : SSL_CTX_set_cipher_list(x, c->suite), 1);
    return ctx;
}

/* coring's side of one case: handshake with the seam refusing (so the
 * stream stays on memory BIOs whatever the kernel), seal PING with the TX
 * keys and write it raw, read "pong" through OpenSSL as usual, then open
 * the peer's copy of that record with the RX keys. */
static int ktls_keys_main(void *arg, void **result)
{
    (void)result;
    const struct ktls_case *c = arg;
    int fds[2];
    tcp_pair(fds);
    struct peer P = {.c = c, .fd = fds[1]};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, peer_main, &P), 0);
    cr_tls_ctx *ctx = c->ctx ? c->ctx : ktls_ctx(c, c->coring_server);
    cr_stream *s;
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), fds[0], NULL, &s), 0);
    cr_stream_set_timeout(s, 10);
    memset(&SEAM, 0, sizeof SEAM);
    SEAM.ret = -EOPNOTSUPP;
    cr__tls_ktls_seam = seam_capture;
    int rc = cr_stream_start_tls(s, ctx, c->coring_server ? NULL : "localhost", 5);
    cr__tls_ktls_seam = NULL;
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert_eq(SEAM.calls, 1, "no hand-off: %s", cr_stream_tls_ktls_reason(s));
    cr_assert_str_eq(cr_stream_tls_path(s), "memory-bio");
    cr_assert_str_eq(cr_stream_tls_ktls_reason(s), "refused by the test seam (EOPNOTSUPP)");

    /* What the kernel would be told. */
    int kv = c->version == CR_TLS_1_3 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
    size_t want_len = c->cipher == TLS_CIPHER_AES_GCM_128 ? sizeof(struct tls12_crypto_info_aes_gcm_128)
                    : c->cipher == TLS_CIPHER_AES_GCM_256 ? sizeof(struct tls12_crypto_info_aes_gcm_256)
                    : sizeof(struct tls12_crypto_info_chacha20_poly1305);
    for (int d = 0; d < 2; d++) {
        const struct cr__ktls_info *in = d ? &SEAM.rx : &SEAM.tx;
        cr_assert_eq(in->u.info.version, kv);
        cr_assert_eq(in->u.info.cipher_type, c->cipher);
        cr_assert_eq(in->len, want_len);
    }
    struct km tx, rx;
    km_of(&SEAM.tx, &tx);
    km_of(&SEAM.rx, &rx);
    /* TLS 1.3: a server has sent its 2 tickets under the new keys, a client
     * nothing; TLS 1.2: each side's Finished was record 0. */
    uint64_t want_tx = c->version == CR_TLS_1_2 ? 1 : c->coring_server ? 2 : 0;
    bool resumed = SSL_session_reused(cr_stream_tls_ssl(s));
    if (!resumed) /* a resumed 1.3 server sends fewer tickets: the records below decide */
        cr_assert_eq(tx.seq, want_tx, "tx rec_seq %llu", (unsigned long long)tx.seq);
    cr_assert_eq(rx.seq, c->version == CR_TLS_1_2 ? 1 : 0, "rx rec_seq %llu", (unsigned long long)rx.seq);
    if (c->session)
        cr_assert_eq(resumed, *c->session != NULL, "%s resumed %d", c->suite, resumed);

    /* TX: the peer's OpenSSL reads our own record. */
    unsigned char rec[256];
    size_t n = seal(&SEAM.tx, PING, sizeof PING - 1, rec);
    cr_assert_eq(write(cr_stream_fd(s), rec, n), (ssize_t)n);
    char b[8];
    ssize_t got = cr_stream_readexactly(s, b, 4, NULL); /* OpenSSL's path still works */
    cr_assert_eq(got, 4, "%zd %s (%s)", got, cr_strerror((int)got), cr_tls_last_error());
    cr_assert_eq(memcmp(b, "pong", 4), 0);
    pthread_join(th, NULL);
    cr_assert_null(P.err, "%s", P.err);
    cr_assert_eq(P.gotlen, sizeof PING - 1);
    cr_assert_eq(memcmp(P.got, PING, P.gotlen), 0);

    /* RX: the peer's record, opened with what the kernel would get. */
    unsigned char pt[256];
    cr_assert_eq(open_rec(&SEAM.rx, P.rec, P.reclen, pt), 4, "the RX keys do not open the peer's record");
    cr_assert_eq(memcmp(pt, "pong", 4), 0);

    cr_stream_abort(s); /* our OpenSSL's TX sequence is one behind now */
    cr_stream_free(s);
    close(fds[1]);
    if (!c->ctx)
        cr_tls_ctx_free(ctx);
    OPENSSL_cleanse(&SEAM, sizeof SEAM);
    return 0;
}

static void ktls_keys_both_sides(int version, const char *suite, int cipher)
{
    struct ktls_case c = {.version = version, .suite = suite, .cipher = cipher,
                          .coring_server = true};
    RUN_NO_FD_LEAK(ktls_keys_main, &c); /* coring the server */
    c.coring_server = false;
    RUN_NO_FD_LEAK(ktls_keys_main, &c); /* coring the client */
}

/* TLS 1.3 AES-128-GCM: the TX and RX crypto_info a stream would hand the
 * kernel seal a record the OpenSSL peer reads and open the peer's record,
 * as server (rec_seq 2 after its tickets) and as client. */
TLS_TEST(ktls_keys_tls13_aes128_gcm)
{
    ktls_keys_both_sides(CR_TLS_1_3, "TLS_AES_128_GCM_SHA256", TLS_CIPHER_AES_GCM_128);
}

/* The same with TLS 1.3 AES-256-GCM (SHA-384 secrets, 32-byte keys). */
TLS_TEST(ktls_keys_tls13_aes256_gcm)
{
    ktls_keys_both_sides(CR_TLS_1_3, "TLS_AES_256_GCM_SHA384", TLS_CIPHER_AES_GCM_256);
}

/* The same with TLS 1.3 ChaCha20-Poly1305. */
TLS_TEST(ktls_keys_tls13_chacha20_poly1305)
{
    ktls_keys_both_sides(CR_TLS_1_3, "TLS_CHACHA20_POLY1305_SHA256", TLS_CIPHER_CHACHA20_POLY1305);
}

/* TLS 1.2 AES-128-GCM: the key block from the master secret (PRF SHA-256),
 * GCM's salt and explicit nonce, rec_seq 1 after each side's Finished. */
TLS_TEST(ktls_keys_tls12_aes128_gcm)
{
    ktls_keys_both_sides(CR_TLS_1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", TLS_CIPHER_AES_GCM_128);
}

/* TLS 1.2 AES-256-GCM (PRF SHA-384). */
TLS_TEST(ktls_keys_tls12_aes256_gcm)
{
    ktls_keys_both_sides(CR_TLS_1_2, "ECDHE-ECDSA-AES256-GCM-SHA384", TLS_CIPHER_AES_GCM_256);
}

/* TLS 1.2 ChaCha20-Poly1305 (a 12-byte IV from the key block, no explicit nonce). */
TLS_TEST(ktls_keys_tls12_chacha20_poly1305)
{
    ktls_keys_both_sides(CR_TLS_1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", TLS_CIPHER_CHACHA20_POLY1305);
}

/* coring's client on a pretend kernel (the seam says the kernel took the TX
 * keys): what the stream writes leaves as plaintext, for the kernel to seal;
 * write_eof sends close_notify's alert body as a record of its own type
 * (TLS_SET_RECORD_TYPE; this kernel ignores the cmsg) before the FIN; a
 * peer's KeyUpdate that asks for ours ends the session with -EPROTO, since
 * OpenSSL's answer can no longer be sent. */
static int ktls_pretend_main(void *arg, void **result)
{
    (void)arg, (void)result;
    static const struct ktls_case c = {.version = CR_TLS_1_3, .suite = "TLS_AES_128_GCM_SHA256",
                                       .cipher = TLS_CIPHER_AES_GCM_128};
    int fds[2];
    tcp_pair(fds);
    struct peer P = {.c = &c, .fd = fds[1], .pretend = true};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, peer_main, &P), 0);
    cr_tls_ctx *ctx = ktls_ctx(&c, false);
    cr_stream *s;
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), fds[0], NULL, &s), 0);
    cr_stream_set_timeout(s, 10);
    memset(&SEAM, 0, sizeof SEAM);
    SEAM.ret = 0;
    cr__tls_ktls_seam = seam_capture;
    int rc = cr_stream_start_tls(s, ctx, "localhost", 5);
    cr__tls_ktls_seam = NULL;
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert_eq(SEAM.calls, 1);
    cr_assert_str_eq(cr_stream_tls_path(s), "ktls");
    cr_assert_null(cr_stream_tls_ktls_reason(s));
    cr_assert_eq(cr_stream_write(s, "plain\n", 6), 6);
    cr_assert_eq(cr_stream_write_eof(s), 0);
    char b[8];
    ssize_t n = cr_stream_read(s, b, sizeof b);
    cr_assert_eq(n, -EPROTO, "%zd %s", n, n < 0 ? cr_strerror((int)n) : "");
    cr_assert(strstr(cr_tls_last_error(), "kTLS"), "%s", cr_tls_last_error());
    cr_assert_eq(cr_stream_read(s, b, sizeof b), -EPROTO); /* sticky */
    pthread_join(th, NULL);
    cr_assert_null(P.err, "%s", P.err);
    cr_assert_eq(P.gotlen, 8, "the peer read %zu bytes, then not EOF", P.gotlen);
    cr_assert_eq(memcmp(P.got, "plain\n\x01\x00", 8), 0);
    cr_stream_free(s);
    close(fds[1]);
    cr_tls_ctx_free(ctx);
    OPENSSL_cleanse(&SEAM, sizeof SEAM);
    return 0;
}

/* Once handed off (here: to a pretend kernel) a stream writes plaintext,
 * sends close_notify as its own alert record, and a KeyUpdate it cannot
 * answer is -EPROTO with a kTLS reason, never a corrupt record. */
TLS_TEST(ktls_handed_off_stream_writes_plaintext)
{
    RUN_NO_FD_LEAK(ktls_pretend_main, NULL);
}

/* A server handler that echoes and notes its stream's path and reason. */
static struct {
    char path[16], why[96];
    cr_event *done;
} KS;

static int ktls_echo_handler(cr_stream *s, void *arg)
{
    const char *p = cr_stream_tls_path(s), *w = cr_stream_tls_ktls_reason(s);
    snprintf(KS.path, sizeof KS.path, "%s", p ? p : "(null)");
    snprintf(KS.why, sizeof KS.why, "%s", w ? w : "(null)");
    int rc = echo_handler(s, arg);
    cr_event_set(KS.done);
    return rc;
}

static int ktls_fallback_main(void *arg, void **result)
{
    (void)arg, (void)result;
    memset(&KS, 0, sizeof KS);
    KS.done = cr_event_new();
    static const struct ktls_case c13 = {.version = CR_TLS_1_3, .suite = "TLS_AES_256_GCM_SHA384"};
    cr_tls_ctx *sctx = ktls_ctx(&c13, true), *cctx = ktls_ctx(&c13, false);
    cr_server *srv = serve(sctx, ktls_echo_handler);
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_stream_set_timeout(s, 20);
    int probe = cr_tls_ktls_probe();
    if (probe < 0) { /* this kernel: the silent fall-back, with its reason */
        char want[64], ulp[16];
        snprintf(want, sizeof want, "%s (%s)",
                 probe == -ENOENT ? "kernel has no tls ULP" : "no tls ULP", strerrorname_np(-probe));
        cr_assert_str_eq(cr_stream_tls_path(s), "memory-bio");
        cr_assert_str_eq(cr_stream_tls_ktls_reason(s), want);
        ulp_of(cr_stream_fd(s), ulp, sizeof ulp);
        cr_assert_str_eq(ulp, "");
    }
    cr_log_info("kTLS opt-in on this kernel: path %s (%s)", cr_stream_tls_path(s),
                cr_stream_tls_ktls_reason(s) ? cr_stream_tls_ktls_reason(s) : "handed off");

    /* 1 MiB each way, byte-exact, whichever path it took. */
    size_t big = 1 << 20;
    unsigned char *out = malloc(big), *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        out[i] = pat(i);
    cr_assert_eq(cr_stream_write(s, out, big), (ssize_t)big);
    size_t got;
    cr_assert_eq(cr_stream_readexactly(s, in, big, &got), (ssize_t)big, "got %zu (%s)", got,
                 cr_tls_last_error());
    cr_assert_eq(memcmp(in, out, big), 0);
    cr_assert_eq(cr_stream_write_eof(s), 0);
    char b[8];
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0); /* the server's close_notify */
    cr_assert_eq(cr_event_wait(KS.done), 0);
    if (probe < 0) {
        cr_assert_str_eq(KS.path, "memory-bio");
        cr_assert_str_eq(KS.why, cr_stream_tls_ktls_reason(s));
    }
    cr_stream_free(s);
    free(out);
    free(in);

    /* A context without the option never tries, and says so. */
    cr_tls_ctx *plain = client_ctx();
    rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, plain, "localhost", 5, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_assert_str_eq(cr_stream_tls_path(s), "memory-bio");
    cr_assert_str_eq(cr_stream_tls_ktls_reason(s), "not enabled (cr_tls_config.ktls)");
    cr_stream_free(s);
    cr_tls_ctx_free(plain);

    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    cr_event_free(KS.done);
    return 0;
}

/* With the option on and no tls ULP in the kernel (ENOENT here), both ends
 * fall back silently: "memory-bio", the reason readable, no ULP on the
 * socket, 1 MiB each way byte-exact, close_notify both ways. */
TLS_TEST(ktls_opt_in_falls_back_byte_exact)
{
    RUN_NO_FD_LEAK(ktls_fallback_main, NULL);
}

static int ktls_cbc_main(void *arg, void **result)
{
    (void)arg, (void)result;
    memset(&KS, 0, sizeof KS);
    KS.done = cr_event_new();
    static const struct ktls_case cbc = {.version = CR_TLS_1_2, .suite = "ECDHE-ECDSA-AES128-SHA256"};
    cr_tls_ctx *sctx = ktls_ctx(&cbc, true);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, ktls_echo_handler);
    memset(&SEAM, 0, sizeof SEAM);
    SEAM.ret = 1;
    cr__tls_ktls_seam = seam_capture; /* past the probe: the cipher decides */
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "localhost", 5, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_stream_write(s, "cbc\n", 4);
    char b[8];
    cr_assert_eq(cr_stream_readexactly(s, b, 4, NULL), 4);
    cr_assert_eq(memcmp(b, "cbc\n", 4), 0);
    cr_assert_eq(cr_stream_write_eof(s), 0);
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0);
    cr_assert_eq(cr_event_wait(KS.done), 0);
    cr__tls_ktls_seam = NULL;
    cr_assert_eq(SEAM.calls, 0);
    cr_assert_str_eq(KS.path, "memory-bio");
    cr_assert_str_eq(KS.why, "TLSv1.2 with ECDHE-ECDSA-AES128-SHA256 has no kernel offload");
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    cr_event_free(KS.done);
    return 0;
}

/* A suite the kernel cannot take (TLS 1.2 AES-CBC + HMAC) is never handed
 * off: nothing is derived, the stream works on memory BIOs and says why. */
TLS_TEST(ktls_other_ciphers_stay_on_memory_bio)
{
    RUN_NO_FD_LEAK(ktls_cbc_main, NULL);
}

static int ktls_sni_main(void *arg, void **result)
{
    (void)arg, (void)result;
    memset(&KS, 0, sizeof KS);
    KS.done = cr_event_new();
    static const struct ktls_case c13 = {.version = CR_TLS_1_3, .suite = "TLS_AES_128_GCM_SHA256"};
    cr_tls_ctx *sctx = ktls_ctx(&c13, true);
    cr_tls_ctx *other = server_ctx(OTHER, KEY, NULL, 0); /* made without the option */
    cr_assert_eq(cr_tls_ctx_add_server_name(sctx, "other.test", other), 0);
    cr_tls_ctx_free(other);
    cr_tls_ctx *cctx = client_ctx();
    cr_server *srv = serve(sctx, ktls_echo_handler);
    memset(&SEAM, 0, sizeof SEAM);
    SEAM.ret = -EOPNOTSUPP;
    cr__tls_ktls_seam = seam_capture;
    cr_stream *s;
    int rc = cr_open_connection_tls("127.0.0.1", cr_server_port(srv), NULL, cctx, "other.test", 5, &s);
    cr_assert_eq(rc, 0, "%s (%s)", cr_strerror(rc), cr_tls_last_error());
    cr_stream_write(s, "sni\n", 4);
    char b[8];
    cr_assert_eq(cr_stream_readexactly(s, b, 4, NULL), 4);
    cr_assert_eq(cr_stream_write_eof(s), 0);
    cr_assert_eq(cr_stream_read(s, b, sizeof b), 0);
    cr_assert_eq(cr_event_wait(KS.done), 0);
    cr__tls_ktls_seam = NULL;
    cr_assert_eq(SEAM.calls, 1, "server: %s", KS.why);
    cr_assert_str_eq(KS.why, "refused by the test seam (EOPNOTSUPP)");
    cr_assert_str_eq(cr_stream_tls_ktls_reason(s), "not enabled (cr_tls_config.ktls)");
    cr_stream_free(s);
    unserve(srv);
    cr_tls_ctx_free(sctx);
    cr_tls_ctx_free(cctx);
    cr_event_free(KS.done);
    OPENSSL_cleanse(&SEAM, sizeof SEAM);
    return 0;
}

/* A kTLS server context still gets TLS 1.3's secrets when SNI switches the
 * session to another context (OpenSSL logs through the one switched to). */
TLS_TEST(ktls_secrets_survive_server_name_switch)
{
    RUN_NO_FD_LEAK(ktls_sni_main, NULL);
}

/* A resumed session (an abbreviated handshake from a ticket: in TLS 1.2
 * the server's CCS and Finished come first) hands over keys that work too:
 * the same proof on a first connection and on its resumption, both versions. */
TLS_TEST(ktls_keys_after_resumption)
{
    static const struct ktls_case base[] = {
        {.version = CR_TLS_1_2, .suite = "ECDHE-ECDSA-AES128-GCM-SHA256",
         .cipher = TLS_CIPHER_AES_GCM_128, .coring_server = true},
        {.version = CR_TLS_1_3, .suite = "TLS_AES_256_GCM_SHA384",
         .cipher = TLS_CIPHER_AES_GCM_256, .coring_server = true},
    };
    for (int i = 0; i < 2; i++) {
        SSL_SESSION *sess = NULL;
        struct ktls_case c = base[i];
        c.session = &sess;
        c.ctx = ktls_ctx(&c, true);
        RUN_NO_FD_LEAK(ktls_keys_main, &c); /* full: the peer keeps the session */
        cr_assert_not_null(sess);
        RUN_NO_FD_LEAK(ktls_keys_main, &c); /* resumed (checked inside) */
        SSL_SESSION_free(sess);
        cr_tls_ctx_free(c.ctx);
    }
}
