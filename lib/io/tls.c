/* SPDX-License-Identifier: MIT */
/*
 * tls.c — TLS on streams (asyncio's ssl=, start_tls) with OpenSSL 3 on memory
 * BIOs, so the stream keeps its multishot recv into provided buffers and its
 * one-send-in-flight writer: OpenSSL never touches the socket.
 *
 * Owns: cr_tls_ctx (an SSL_CTX plus our defaults, refcounted, immutable once
 * made: any thread may hold one) and cr__tls (one SSL and its two BIOs per
 * stream, owned by the stream and freed with it; loop thread only).
 *
 * Data path:
 *   recv chunk ─▶ stream_sink ─▶ cr__tls_sink: BIO_write(rbio)
 *                 handshaking: the task in handshake() is woken by the
 *                 stream's notify and calls SSL_do_handshake itself;
 *                 else pump(): SSL_read ─▶ cr__stream_deliver (the reader)
 *   write ─▶ cr__tls_write: SSL_write into wbio ─▶ flush(): BIO_read straight
 *            into the stream's send buffer (cr__stream_tx_reserve/commit),
 *            which sends it at once with send(2) when no send is in flight
 *            (not at the end of the loop's turn: see tls_send_now)
 *
 * Invariants:
 *  - Everything OpenSSL writes to wbio is moved to the stream before the
 *    call that produced it returns (flush after every SSL_* call), so alerts,
 *    KeyUpdate answers and session tickets go out in order.
 *  - After pump() only part of one record is left (in rbio or OpenSSL's
 *    record buffer): complete records are decrypted at once (the stream's
 *    limit bounds the plaintext), so a TCP EOF with bytes left means the
 *    peer cut a record short.
 *  - err is sticky: after a TLS failure the stream only reports it.
 *  - OpenSSL's error queue is per thread: every failure is turned into
 *    last_error (thread-local) and the queue cleared before returning.
 */
#include "io/tls.h"
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sni_entry {
    char *name;
    cr_tls_ctx *ctx; /* a reference */
};

struct cr_tls_ctx {
    SSL_CTX *ssl;
    atomic_int refs;
    bool server, check_hostname;
    double hs_timeout; /* seconds, < 0: none */
    struct sni_entry *sni; /* server: contexts by requested name (read-only once used) */
    size_t nsni;
};

struct cr__tls {
    SSL *ssl;
    BIO *rbio, *wbio;  /* owned by ssl */
    cr_stream *s;
    int err;           /* sticky: the reader and writer see it */
    bool hs_done, peer_closed, notify_sent;
};

static _Thread_local char last_error[256];

const char *cr_tls_last_error(void) { return last_error; }

/* Records OpenSSL's reason for a failure (what / the queue's last entry /
 * the verify result) and empties the queue. */
static void set_error(const char *what, long verify)
{
    unsigned long e = ERR_peek_last_error();
    char reason[160] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    if (verify != X509_V_OK)
        snprintf(last_error, sizeof last_error, "%s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(verify));
    else
        snprintf(last_error, sizeof last_error, "%s%s%s", what, *reason ? ": " : "", reason);
    ERR_clear_error();
}

/* ------------------------------------------------------------ contexts ---- */

/* "h2,http/1.1" → the wire format (length-prefixed names). */
static int alpn_wire(const char *list, unsigned char **out, unsigned *outlen)
{
    size_t n = strlen(list);
    unsigned char *w = malloc(n + 1);
    if (!w)
        return -ENOMEM;
    size_t o = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || len > 255) {
            free(w);
            return -EINVAL;
        }
        w[o++] = (unsigned char)len;
        memcpy(w + o, p, len);
        o += len;
        p += len + (c ? 1 : 0);
        if (c && !*p) { /* trailing comma */
            free(w);
            return -EINVAL;
        }
    }
    if (!o) {
        free(w);
        return -EINVAL;
    }
    *out = w;
    *outlen = (unsigned)o;
    return 0;
}

/* Servers pick by their own order of preference (the list stored at ex
 * data 0 of the SSL_CTX is in wire format); no overlap: no ALPN (as Python). */
static int alpn_ex_idx = -1;

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const unsigned char *ours = arg;
    unsigned ourlen = ours[0] | (unsigned)ours[1] << 8;
    ours += 2;
    for (unsigned i = 0; i < ourlen; i += 1u + ours[i]) {
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (ours[i] == in[j] && j + 1u + in[j] <= inlen &&
                !memcmp(ours + i + 1, in + j + 1, ours[i])) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static int version_of(int v, int dflt, int *out)
{
    if (v == 0)
        v = dflt;
    if (v != 0 && v != TLS1_2_VERSION && v != TLS1_3_VERSION)
        return -EINVAL;
    *out = v;
    return 0;
}

static int load_error(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    set_error(what, X509_V_OK);
    if (lib == ERR_LIB_SYS || reason == ERR_R_SYS_LIB || lib == ERR_LIB_BIO)
        return -ENOENT;
    if (reason == ERR_R_MALLOC_FAILURE)
        return -ENOMEM;
    return -EKEYREJECTED; /* not PEM, wrong key for the certificate, ... */
}

static int configure(cr_tls_ctx *c, const cr_tls_config *cfg)
{
    SSL_CTX *x = c->ssl;
    int minv, maxv;
    if (version_of(cfg->min_version, TLS1_2_VERSION, &minv) < 0 ||
        version_of(cfg->max_version, 0, &maxv) < 0 || (maxv && maxv < minv))
        return -EINVAL;
    if (!SSL_CTX_set_min_proto_version(x, minv) || !SSL_CTX_set_max_proto_version(x, maxv))
        return -EINVAL;
    /* Renegotiation is refused (it has a history of attacks and asyncio's
     * ssl does not offer it); no compression (CRIME). */
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               (cfg->server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    if (cfg->server && !cfg->cert_file) {
        snprintf(last_error, sizeof last_error, "a server context needs cert_file");
        return -EINVAL;
    }
    if (cfg->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(x, cfg->cert_file) != 1)
            return load_error("loading cert_file");
        const char *key = cfg->key_file ? cfg->key_file : cfg->cert_file;
        if (SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1)
            return load_error("loading key_file");
        if (SSL_CTX_check_private_key(x) != 1)
            return load_error("key does not match the certificate");
    }
    int verify = cfg->verify;
    if (verify < CR_TLS_VERIFY_DEFAULT || verify > CR_TLS_VERIFY_REQUIRED)
        return -EINVAL;
    if (verify == CR_TLS_VERIFY_DEFAULT)
        verify = cfg->server ? CR_TLS_VERIFY_NONE : CR_TLS_VERIFY_REQUIRED;
    if (!cfg->server && verify == CR_TLS_VERIFY_OPTIONAL)
        verify = CR_TLS_VERIFY_REQUIRED; /* a client either verifies or does not */
    if (verify != CR_TLS_VERIFY_NONE) {
        if (cfg->ca_file || cfg->ca_dir) {
            if (SSL_CTX_load_verify_locations(x, cfg->ca_file, cfg->ca_dir) != 1)
                return load_error("loading ca_file/ca_dir");
        } else if (SSL_CTX_set_default_verify_paths(x) != 1) {
            return load_error("loading the system CA store");
        }
    }
    int mode = verify == CR_TLS_VERIFY_NONE ? SSL_VERIFY_NONE : SSL_VERIFY_PEER;
    if (cfg->server && verify == CR_TLS_VERIFY_REQUIRED)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(x, mode, NULL);
    c->check_hostname = !cfg->server && verify != CR_TLS_VERIFY_NONE && !cfg->no_check_hostname;
    if (cfg->alpn) {
        unsigned char *w;
        unsigned wl;
        int rc = alpn_wire(cfg->alpn, &w, &wl);
        if (rc < 0)
            return rc;
        if (!cfg->server) {
            rc = SSL_CTX_set_alpn_protos(x, w, wl) == 0 ? 0 : -ENOMEM;
            free(w);
            return rc;
        }
        /* Two length bytes in front, so the callback needs only the pointer. */
        unsigned char *arg = malloc(wl + 2);
        if (!arg) {
            free(w);
            return -ENOMEM;
        }
        arg[0] = (unsigned char)(wl & 0xff);
        arg[1] = (unsigned char)(wl >> 8);
        memcpy(arg + 2, w, wl);
        free(w);
        if (!SSL_CTX_set_ex_data(x, alpn_ex_idx, arg)) {
            free(arg);
            return -ENOMEM;
        }
        SSL_CTX_set_alpn_select_cb(x, alpn_select, arg);
    }
    return 0;
}

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static void ex_init(void)
{
    alpn_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
}

int cr_tls_ctx_new(const cr_tls_config *cfg, cr_tls_ctx **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cfg || cfg->handshake_timeout != cfg->handshake_timeout)
        return -EINVAL; /* NaN is no time (docs/errors.md) */
    pthread_once(&ex_once, ex_init);
    if (alpn_ex_idx < 0)
        return -ENOMEM;
    cr_tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    ERR_clear_error();
    c->ssl = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        set_error("SSL_CTX_new", X509_V_OK);
        free(c);
        return -ENOMEM;
    }
    int rc = configure(c, cfg);
    if (rc < 0) {
        ERR_clear_error();
        SSL_CTX_free(c->ssl);
        free(c);
        return rc;
    }
    c->server = cfg->server;
    c->hs_timeout = cfg->handshake_timeout == 0 ? 60.0 : cfg->handshake_timeout;
    atomic_init(&c->refs, 1);
    *out = c;
    return 0;
}

cr_tls_ctx *cr__tls_ctx_ref(cr_tls_ctx *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

bool cr__tls_ctx_is_server(const cr_tls_ctx *c) { return c->server; }

void cr_tls_ctx_free(cr_tls_ctx *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        for (size_t i = 0; i < c->nsni; i++) {
            free(c->sni[i].name);
            cr_tls_ctx_free(c->sni[i].ctx);
        }
        free(c->sni);
        SSL_CTX_free(c->ssl);
        free(c);
    }
}

/* Server side SNI: a name registered with cr_tls_ctx_add_server_name swaps
 * that context's certificate in. Always acknowledged, so that the handler
 * can read the name (cr_stream_tls_server_name) whether it matched or not. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const cr_tls_ctx *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < c->nsni; i++) {
        if (!strcasecmp(c->sni[i].name, name)) {
            if (!SSL_set_SSL_CTX(ssl, c->sni[i].ctx->ssl))
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

int cr_tls_ctx_add_server_name(cr_tls_ctx *c, const char *name, cr_tls_ctx *for_name)
{
    if (!c || !name || !*name || !for_name || c == for_name || !c->server ||
        !for_name->server || for_name->nsni)
        return -EINVAL; /* no chains of contexts: no cycles to leak */
    struct sni_entry *e = realloc(c->sni, (c->nsni + 1) * sizeof *e);
    if (!e)
        return -ENOMEM;
    c->sni = e;
    if (!(e[c->nsni].name = strdup(name)))
        return -ENOMEM;
    e[c->nsni++].ctx = cr__tls_ctx_ref(for_name);
    if (c->nsni == 1) {
        SSL_CTX_set_tlsext_servername_callback(c->ssl, sni_select);
        SSL_CTX_set_tlsext_servername_arg(c->ssl, c);
    }
    return 0;
}

void *cr_tls_ctx_ssl_ctx(cr_tls_ctx *c) { return c ? c->ssl : NULL; }

/* ------------------------------------------------------------ data path ---- */

/* Moves what OpenSSL wrote to wbio into the stream's send queue. */
static int flush(cr__tls *t)
{
    size_t n;
    while ((n = BIO_ctrl_pending(t->wbio)) > 0) {
        char *p = cr__stream_tx_reserve(t->s, n);
        if (!p)
            return -ENOMEM;
        int got = BIO_read(t->wbio, p, (int)(n > INT_MAX ? INT_MAX : n));
        if (got <= 0)
            break;
        cr__stream_tx_commit(t->s, (size_t)got);
    }
    return 0;
}

/* A failed SSL_* call → a negative errno, with the reason in last_error. */
static int fail(cr__tls *t, int ret, const char *what)
{
    int e = SSL_get_error(t->ssl, ret);
    unsigned long q = ERR_peek_last_error();
    int reason = ERR_GET_REASON(q);
    long v = SSL_get_verify_result(t->ssl);
    int rc;
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK) {
        rc = v == X509_V_ERR_CERT_HAS_EXPIRED ? -EKEYEXPIRED : -EKEYREJECTED;
        set_error(what, v);
    } else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
               (e == SSL_ERROR_SYSCALL && !q)) {
        rc = -ECONNRESET;
        set_error(what, X509_V_OK);
    } else if (reason == ERR_R_MALLOC_FAILURE) {
        rc = -ENOMEM;
        set_error(what, X509_V_OK);
    } else {
        rc = -EPROTO;
        set_error(what, X509_V_OK);
    }
    if (!t->err)
        t->err = rc;
    flush(t); /* an alert OpenSSL queued for the peer */
    return rc;
}

/* Decrypts every complete record in rbio for the reader. */
static int pump(cr__tls *t)
{
    static _Thread_local char plain[16384]; /* one record; not reentrant */
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, plain, sizeof plain);
        if (n > 0) {
            if (cr__stream_deliver(t->s, plain, (size_t)n) == CR__SINK_FAILED)
                return CR__SINK_FAILED;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->peer_closed = true; /* close_notify: a clean EOF */
            break;
        }
        fail(t, n, "reading");
        break;
    }
    /* Post-handshake messages may want answers (KeyUpdate, alerts). */
    return flush(t) < 0 ? CR__SINK_FAILED : CR__SINK_COPIED;
}

int cr__tls_sink(cr__tls *t, const char *data, size_t len)
{
    if (t->err || t->peer_closed)
        return CR__SINK_COPIED; /* after a failure or close_notify: dropped */
    if (BIO_write(t->rbio, data, (int)len) != (int)len)
        return CR__SINK_FAILED;
    if (!t->hs_done)
        return CR__SINK_COPIED; /* the handshaking task takes it from here */
    return pump(t);
}

ssize_t cr__tls_write(cr__tls *t, const void *data, size_t len)
{
    if (t->err)
        return t->err;
    if (!t->hs_done)
        return -EBUSY; /* start_tls is still handshaking */
    size_t done = 0;
    while (done < len) {
        /* 64 KiB at a time, each moved out of wbio at once: wbio never
         * holds a second copy of a large write. */
        size_t k = len - done > 65536 ? 65536 : len - done;
        ERR_clear_error();
        /* A memory BIO never pushes back: SSL_write takes all k bytes. */
        int n = SSL_write(t->ssl, (const char *)data + done, (int)k);
        if (n <= 0)
            return fail(t, n, "writing");
        done += (size_t)n;
        int rc = flush(t);
        if (rc < 0)
            return t->err = rc;
    }
    return (ssize_t)len;
}

int cr__tls_rstate(cr__tls *t, int raw_err, bool raw_eof)
{
    if (t->err)
        return t->err;
    if (t->peer_closed)
        return 1;
    if (raw_err)
        return raw_err;
    if (!raw_eof)
        return 0;
    /* Bytes of a record not yet whole sit in rbio or in OpenSSL's record
     * buffer (SSL_has_pending: pump() leaves no decrypted bytes there). */
    if (BIO_ctrl_pending(t->rbio) > 0 || SSL_has_pending(t->ssl)) {
        /* The peer's TCP EOF cut a record short: never pass that off as EOF. */
        snprintf(last_error, sizeof last_error, "reading: peer closed mid-record");
        return t->err = -EPROTO;
    }
    /* An EOF without close_notify at a record boundary reads as EOF, as in
     * asyncio (suppress_ragged_eofs): protocols with their own framing are
     * safe; cr_stream_tls_ssl + SSL_get_shutdown tells the two apart. */
    return 1;
}

void cr__tls_close_notify(cr__tls *t)
{
    if (!t->hs_done || t->err || t->notify_sent)
        return;
    t->notify_sent = true;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
    flush(t);
}

void cr__tls_free(cr__tls *t)
{
    if (t) {
        SSL_free(t->ssl); /* frees both BIOs */
        free(t);
    }
}

/* ---------------------------------------------------------------- kTLS ---- */

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* Does the kernel offer the tls ULP to this process? Attaching it to a TCP
 * socket that is not connected answers without side effects: the ULP is
 * looked up first (-ENOENT: not built, or a module we may not load — only
 * CAP_NET_ADMIN autoloads it), then tls_init refuses an unconnected socket
 * (-ENOTCONN: it is there). Once per process. */
static int ktls_probed; /* 1 offered, < 0 why not */
static int ktls_probes; /* how many times the probe ran (tests: once) */
static pthread_once_t ktls_once = PTHREAD_ONCE_INIT;

static void ktls_probe_once(void)
{
    ktls_probes++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ktls_probed = -errno;
        return;
    }
    if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") == 0)
        ktls_probed = 1; /* no kernel attaches it unconnected; if one does, it is there */
    else
        ktls_probed = errno == ENOTCONN ? 1 : -errno;
    close(fd);
}

int cr_tls_ktls_probe(void)
{
    pthread_once(&ktls_once, ktls_probe_once);
    return ktls_probed;
}

int cr__tls_ktls_probe_runs(void) { return ktls_probes; }

/* ----------------------------------------------------------- handshake ---- */

static bool is_ip(const char *h)
{
    unsigned char b[16];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

static cr__tls *tls_new(cr_stream *s, cr_tls_ctx *ctx, const char *name, int *err)
{
    cr__tls *t = calloc(1, sizeof *t);
    *err = -ENOMEM;
    if (!t)
        return NULL;
    t->s = s;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        goto fail;
    }
    /* An empty rbio is "no data yet", not EOF: the stream reports EOF. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* from here ssl owns them */
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
        return t;
    }
    SSL_set_connect_state(t->ssl);
    if (name && *name) {
        /* SNI carries names only (RFC 6066); an address is checked as one. */
        if (!is_ip(name) && !SSL_set_tlsext_host_name(t->ssl, name))
            goto fail;
        if (ctx->check_hostname) {
            int ok = is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)
                                 : SSL_set1_host(t->ssl, name);
            if (!ok)
                goto fail;
        }
    }
    return t;
fail:
    ERR_clear_error();
    SSL_free(t->ssl); /* NULL-safe */
    free(t);
    return NULL;
}

static int handshake(cr__tls *t, int64_t deadline)
{
    cr_stream *s = t->s;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (flush(t) < 0)
            return t->err = -ENOMEM;
        if (r == 1)
            break;
        if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
            return fail(t, r, "handshake");
        int st = cr__stream_raw_state(s);
        if (st == 1) {
            snprintf(last_error, sizeof last_error, "handshake: peer closed the connection");
            return t->err = -ECONNRESET;
        }
        if (st < 0)
            return t->err = st;
        int rc = cr__stream_wait_raw(s, deadline);
        if (rc < 0) {
            if (rc == -ETIMEDOUT)
                snprintf(last_error, sizeof last_error, "handshake: timed out");
            if (!t->err)
                t->err = rc;
            return rc;
        }
    }
    t->hs_done = true;
    /* Keys are never handed to the kernel, whatever cr_tls_ktls_probe says
     * (docs/tls.md, "kTLS", says why): every stream stays on memory BIOs. */
    /* Records that came in behind the peer's Finished (0.5-RTT data,
     * tickets) are waiting in rbio. */
    if (pump(t) == CR__SINK_FAILED)
        return t->err = -ENOMEM;
    return t->err; /* a bad record right behind the handshake */
}

int cr_stream_start_tls(cr_stream *s, cr_tls_ctx *ctx, const char *server_hostname,
                        double timeout)
{
    if (!s || !ctx || timeout != timeout)
        return -EINVAL; /* NaN: refused before anything changes */
    if (!ctx->server && ctx->check_hostname && (!server_hostname || !*server_hostname))
        return -EINVAL; /* nothing to check the certificate against */
    cr__task *task;
    int rc = cr__enter(&task);
    if (rc < 0)
        return rc;
    cr__tls *t = tls_new(s, ctx, server_hostname, &rc);
    if (!t)
        return rc;
    if ((rc = cr__stream_attach_tls(s, t)) < 0) {
        if (cr__stream_tls(s) != t) {
            cr__tls_free(t);
            return rc;
        }
        cr_stream_abort(s);
        return rc;
    }
    double secs = timeout == 0 ? ctx->hs_timeout : timeout;
    cr__stream_hold(s); /* another task may free its handle meanwhile */
    rc = handshake(t, cr__deadline(secs));
    if (rc < 0)
        cr_stream_abort(s); /* a half-made session cannot carry data */
    cr__stream_put(s);
    return rc;
}

/* ------------------------------------------------------ making streams ---- */

static int open_tls(int rc, cr_stream **out, cr_tls_ctx *ctx, const char *name)
{
    if (rc < 0)
        return rc;
    rc = cr_stream_start_tls(*out, ctx, name, 0);
    if (rc < 0) {
        cr_stream_free(*out);
        *out = NULL;
    }
    return rc;
}

static int client_check(cr_tls_ctx *ctx, cr_stream **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    return !ctx || ctx->server ? -EINVAL : 0;
}

int cr_open_connection_tls(const char *host, int port, const cr_stream_opts *opts,
                           cr_tls_ctx *ctx, const char *server_hostname, double timeout,
                           cr_stream **out)
{
    int rc = client_check(ctx, out);
    if (rc < 0)
        return rc;
    const char *name = server_hostname ? server_hostname : host;
    if (ctx->check_hostname && (!name || !*name))
        return -EINVAL;
    return open_tls(cr_open_connection(host, port, opts, timeout, out), out, ctx, name);
}

int cr_open_unix_connection_tls(const char *path, const cr_stream_opts *opts,
                                cr_tls_ctx *ctx, const char *server_hostname, double timeout,
                                cr_stream **out)
{
    int rc = client_check(ctx, out);
    if (rc < 0)
        return rc;
    if (ctx->check_hostname && (!server_hostname || !*server_hostname))
        return -EINVAL; /* a path is no name to check */
    return open_tls(cr_open_unix_connection(path, opts, timeout, out), out, ctx,
                    server_hostname);
}

/* --------------------------------------------------------------- queries ---- */

static SSL *ssl_of(const cr_stream *s)
{
    cr__tls *t = cr__stream_tls(s);
    return t ? t->ssl : NULL;
}

bool cr_stream_is_tls(const cr_stream *s) { return ssl_of(s) != NULL; }
void *cr_stream_tls_ssl(const cr_stream *s) { return ssl_of(s); }

const char *cr_stream_tls_path(const cr_stream *s)
{
    cr__tls *t = cr__stream_tls(s);
    return t ? "memory-bio" : NULL; /* "ktls" once a hand-off exists */
}

const char *cr_stream_tls_version(const cr_stream *s)
{
    cr__tls *t = cr__stream_tls(s);
    return t && t->hs_done ? SSL_get_version(t->ssl) : NULL;
}

static int copy_out(const char *p, size_t n, char *buf, size_t cap)
{
    if (!buf || n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(buf, p, n);
    buf[n] = 0;
    return (int)n;
}

int cr_stream_tls_alpn(const cr_stream *s, char *buf, size_t cap)
{
    SSL *ssl = ssl_of(s);
    if (!ssl)
        return -EINVAL;
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (!p || !n) {
        if (buf && cap)
            buf[0] = 0;
        return 0;
    }
    return copy_out((const char *)p, n, buf, cap);
}

const char *cr_stream_tls_server_name(const cr_stream *s)
{
    SSL *ssl = ssl_of(s);
    return ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

ssize_t cr_stream_tls_peer_cert(const cr_stream *s, void *buf, size_t cap)
{
    SSL *ssl = ssl_of(s);
    if (!ssl)
        return -EINVAL;
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (!x)
        return 0;
    int n = i2d_X509(x, NULL);
    if (n <= 0)
        return -ENOMEM;
    if (buf && (size_t)n <= cap) {
        unsigned char *p = buf;
        i2d_X509(x, &p);
    }
    return n;
}

int cr_stream_tls_peer_subject(const cr_stream *s, char *buf, size_t cap)
{
    SSL *ssl = ssl_of(s);
    if (!ssl)
        return -EINVAL;
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (!x)
        return 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return -ENOMEM;
    X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    int rc = copy_out(p, n > 0 ? (size_t)n : 0, buf, cap);
    BIO_free(b);
    return rc;
}
