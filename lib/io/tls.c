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
 *  - kTLS (opt-in, the "kTLS" section below): once t->ktls_tx is set the
 *    kernel encrypts what the stream sends, so OpenSSL must never write
 *    again (its TX keys and sequence are stale): writes queue plaintext,
 *    and anything OpenSSL still wants to send is a failure, not a record.
 */
#include "io/tls.h"
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
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
    bool ktls;         /* try the kTLS hand-off after each handshake */
    double hs_timeout; /* seconds, < 0: none */
    struct sni_entry *sni; /* server: contexts by requested name (read-only once used) */
    size_t nsni;
};

/* The kTLS hand-off's bookkeeping (see the kTLS section). */
struct ktls_dir {
    uint64_t since_ccs, since_fin; /* record headers since the last CCS / Finished */
    bool ccs, fin;                 /* seen at least one */
};

struct ktls {
    struct ktls_dir tx, rx;
    bool key_update;        /* either way, before the hand-off: no hand-off */
    bool update_requested;  /* the peer wants our KeyUpdate (after it: -EPROTO) */
    unsigned char csec[EVP_MAX_MD_SIZE], ssec[EVP_MAX_MD_SIZE]; /* TLS 1.3 _0 secrets */
    size_t cseclen, sseclen;
    char why[96];
};

struct cr__tls {
    SSL *ssl;
    BIO *rbio, *wbio;  /* owned by ssl */
    cr_stream *s;
    int err;           /* sticky: the reader and writer see it */
    bool hs_done, peer_closed, notify_sent;
    bool ktls_tx;      /* the kernel encrypts what we send (kTLS section) */
    const char *why;   /* why not kTLS (a literal or k->why) */
    struct ktls *k;    /* the hand-off's bookkeeping: only if the context asks */
};

static void ktls_keylog(const SSL *ssl, const char *line);
static int ktls_attach(cr__tls *t);
static void ktls_handoff(cr__tls *t);
static void ktls_close_notify(cr__tls *t);
static void ktls_free(struct ktls *k);

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
    if (cfg->ktls) /* TLS 1.3's traffic secrets reach us only this way */
        SSL_CTX_set_keylog_callback(x, ktls_keylog);
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
    c->ktls = cfg->ktls;
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
    /* OpenSSL logs secrets through the context the SNI callback switched
     * to: with kTLS on, that one must hand them to us as well. */
    if (c->ktls)
        SSL_CTX_set_keylog_callback(for_name->ssl, ktls_keylog);
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
    if (t->ktls_tx && (BIO_ctrl_pending(t->wbio) > 0 || t->k->update_requested)) {
        /* The peer asked for our KeyUpdate (OpenSSL would send it with
         * our next SSL_write, which never comes: RFC 8446 wants it before
         * our next record), or OpenSSL has a record (an alert) sealed with
         * keys the kernel has taken over. Neither can be sent, and the
         * kernel takes no new keys from us here: the session ends. */
        (void)BIO_reset(t->wbio);
        if (!t->err) {
            snprintf(last_error, sizeof last_error,
                     "kTLS: the peer asked for a KeyUpdate, or OpenSSL had a record to send, "
                     "on a stream the kernel encrypts");
            t->err = -EPROTO;
        }
        return 0;
    }
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
    if (t->ktls_tx) { /* the kernel encrypts: queue plaintext as a plain stream does */
        char *p = cr__stream_tx_reserve(t->s, len);
        if (!p)
            return -ENOMEM;
        memcpy(p, data, len);
        cr__stream_tx_commit(t->s, len);
        return (ssize_t)len;
    }
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
    if (t->ktls_tx) {
        ktls_close_notify(t);
        return;
    }
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
    flush(t);
}

void cr__tls_free(cr__tls *t)
{
    if (t) {
        SSL_free(t->ssl); /* frees both BIOs */
        ktls_free(t->k);
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

/* ------------------------------------------------------ kTLS hand-off ---- */
/*
 * Opt-in (cr_tls_config.ktls): after a handshake, give the kernel the keys
 * to encrypt what the stream sends, so that each write is one send(2) of
 * plaintext (or an io_uring send) and the kernel frames and seals the
 * records (Linux's Documentation/networking/tls.rst). Received records stay
 * with OpenSSL on the memory BIO: the stream's multishot recv may already
 * hold ciphertext that arrived after the Finished in a provided buffer (on
 * io_uring a completion can be pending at any moment), and bytes taken out
 * of the socket before TLS_RX can never be given back to the kernel's
 * record counter; and under TLS_RX every non-application record (the TLS
 * 1.3 tickets a server sends after the handshake, alerts, KeyUpdate) fails
 * a plain recv with EIO. So RX keys are derived (and tests prove them) but
 * not handed over; docs/tls.md says what that would take.
 *
 * Why opt-in: no kernel this was built on offers the ULP (the probe says
 * -ENOENT), so the final two setsockopt calls have never run here; a user
 * turns them on knowingly, and a refusal at any step leaves the stream on
 * memory BIOs exactly as without the option, with the reason kept (why).
 *
 * The key material, from public OpenSSL 3.0 calls only (3.0 exports neither
 * the traffic keys nor the record sequence numbers):
 *  - TLS 1.3: CLIENT/SERVER_TRAFFIC_SECRET_0 from the keylog callback;
 *    key = HKDF-Expand-Label(secret, "key", "", key length), iv = ...("iv",
 *    "", 12) (RFC 8446 7.1, 7.3), with the suite's hash.
 *  - TLS 1.2: the master secret and both randoms; key_block =
 *    PRF(master, "key expansion", server_random + client_random) split
 *    into client key, server key, client IV, server IV (AEAD: no MAC keys;
 *    RFC 5246 6.3). The fixed IV is GCM's salt (RFC 5288) or ChaCha's
 *    whole nonce mask (RFC 7905).
 *  - Sequence numbers: each direction starts at 0 under new keys, and the
 *    message callback sees every record header (SSL3_RT_HEADER) and every
 *    handshake message, both ways, in order. The application keys start
 *    right after our own / the peer's Finished (TLS 1.3) or
 *    ChangeCipherSpec (TLS 1.2: its Finished is the first record under the
 *    new keys), so a count of the record headers since then is the next
 *    sequence number: a TLS 1.3 server has already sent its tickets (2 by
 *    default), and the pump at the end of the handshake has already read
 *    what came in behind the peer's Finished. A KeyUpdate either way before
 *    the hand-off means secret _0 is stale: no hand-off.
 *  - TLS 1.2 GCM's explicit nonce: the kernel sends crypto_info.iv and
 *    counts it up per record; it is set to the sequence number (as
 *    OpenSSL's own kTLS does), unique under the key since OpenSSL's own
 *    nonces came from a random 64-bit start.
 *
 * After the hand-off OpenSSL keeps the RX side; its TX side must stay idle
 * (flush() refuses anything it writes: a peer's KeyUpdate asking for ours,
 * or an alert, ends the session with -EPROTO), and close_notify is sent by
 * us as an alert record (TLS_SET_RECORD_TYPE) when nothing is queued.
 */

int (*cr__tls_ktls_seam)(cr_stream *, const struct cr__ktls_info *,
                         const struct cr__ktls_info *);

static void ktls_msg(int write_p, int version, int type, const void *buf, size_t len,
                     SSL *ssl, void *arg)
{
    (void)version, (void)ssl;
    struct ktls *k = arg;
    struct ktls_dir *d = write_p ? &k->tx : &k->rx;
    const unsigned char *m = buf;
    if (type == SSL3_RT_HEADER && len > 0) {
        /* A ChangeCipherSpec is told by its record header: OpenSSL 3.0
         * reports a CCS it writes as a message too, one it reads not. The
         * record after it is the first under the new keys (TLS 1.3's
         * compatibility CCS changes nothing: counted from Finished there). */
        if (m[0] == SSL3_RT_CHANGE_CIPHER_SPEC) {
            d->since_ccs = 0;
            d->ccs = true;
        } else {
            d->since_ccs++;
        }
        d->since_fin++;
    } else if (type == SSL3_RT_HANDSHAKE && len > 0) {
        if (m[0] == SSL3_MT_FINISHED) {
            d->since_fin = 0;
            d->fin = true;
        } else if (m[0] == SSL3_MT_KEY_UPDATE) {
            k->key_update = true;
            if (!write_p && len > 4 && m[4] == SSL_KEY_UPDATE_REQUESTED)
                k->update_requested = true;
        }
    }
}

static int unhex(const char *h, size_t n, unsigned char *out, size_t cap)
{
    if (n % 2 || n / 2 > cap)
        return -EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = h[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return -EINVAL;
            v = v << 4 | d;
        }
        out[i] = (unsigned char)v;
    }
    return (int)(n / 2);
}

/* "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>", NSS key log format. */
static void ktls_keylog(const SSL *ssl, const char *line)
{
    cr__tls *t = SSL_get_app_data(ssl);
    if (!t || !t->k)
        return; /* an SSL made outside coring on this context */
    struct ktls *k = t->k;
    unsigned char *dst;
    size_t *dlen;
    static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ", sl[] = "SERVER_TRAFFIC_SECRET_0 ";
    if (!strncmp(line, cl, sizeof cl - 1))
        dst = k->csec, dlen = &k->cseclen;
    else if (!strncmp(line, sl, sizeof sl - 1))
        dst = k->ssec, dlen = &k->sseclen;
    else
        return;
    const char *sec = strchr(line + sizeof cl - 1, ' ');
    int n = sec ? unhex(sec + 1, strlen(sec + 1), dst, EVP_MAX_MD_SIZE) : -EINVAL;
    *dlen = n > 0 ? (size_t)n : 0;
}

static void ktls_free(struct ktls *k)
{
    OPENSSL_clear_free(k, sizeof *k); /* NULL-safe; may still hold secrets */
}

static int ktls_attach(cr__tls *t)
{
    if (!(t->k = calloc(1, sizeof *t->k)))
        return -ENOMEM;
    if (!SSL_set_app_data(t->ssl, t))
        return -ENOMEM;
    SSL_set_msg_callback(t->ssl, ktls_msg);
    SSL_set_msg_callback_arg(t->ssl, t->k);
    t->why = "handshake not done";
    return 0;
}

/* One EVP_KDF run ("HKDF" or "TLS1-PRF") into out. */
static int kdf(const char *name, OSSL_PARAM *params, unsigned char *out, size_t outlen)
{
    EVP_KDF *kd = EVP_KDF_fetch(NULL, name, NULL);
    EVP_KDF_CTX *kc = kd ? EVP_KDF_CTX_new(kd) : NULL;
    int ok = kc && EVP_KDF_derive(kc, out, outlen, params) == 1;
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kd);
    ERR_clear_error();
    return ok ? 0 : -EPROTO;
}

/* RFC 8446 7.1: HKDF-Expand-Label(secret, label, "", outlen). */
static int expand_label(const EVP_MD *md, const unsigned char *sec, size_t seclen,
                        const char *label, unsigned char *out, size_t outlen)
{
    unsigned char info[2 + 1 + 6 + 8 + 1];
    size_t ll = strlen(label);
    info[0] = (unsigned char)(outlen >> 8);
    info[1] = (unsigned char)outlen;
    info[2] = (unsigned char)(6 + ll);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, ll);
    info[9 + ll] = 0; /* empty context */
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)sec, seclen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + ll),
        OSSL_PARAM_construct_end(),
    };
    return kdf("HKDF", p, out, outlen);
}

/* One direction's crypto_info. iv: the 12-byte nonce mask (TLS 1.3, ChaCha)
 * or GCM's 4-byte salt (TLS 1.2). */
static void fill(struct cr__ktls_info *o, bool v13, int nid, const unsigned char *key,
                 const unsigned char *iv, uint64_t seq)
{
    unsigned char rs[8];
    for (int i = 0; i < 8; i++)
        rs[i] = (unsigned char)(seq >> (56 - 8 * i));
    memset(o, 0, sizeof *o);
    o->u.info.version = v13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
#define GCM(m, ct)                                                                   \
    do {                                                                             \
        o->u.info.cipher_type = ct;                                                  \
        memcpy(o->u.m.key, key, sizeof o->u.m.key);                                  \
        memcpy(o->u.m.salt, iv, 4);                                                  \
        memcpy(o->u.m.iv, v13 ? iv + 4 : rs, 8); /* 1.2: the first explicit nonce */ \
        memcpy(o->u.m.rec_seq, rs, 8);                                               \
        o->len = sizeof o->u.m;                                                      \
    } while (0)
    if (nid == NID_aes_128_gcm) {
        GCM(gcm128, TLS_CIPHER_AES_GCM_128);
    } else if (nid == NID_aes_256_gcm) {
        GCM(gcm256, TLS_CIPHER_AES_GCM_256);
    } else {
        o->u.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(o->u.chacha.key, key, sizeof o->u.chacha.key);
        memcpy(o->u.chacha.iv, iv, 12);
        memcpy(o->u.chacha.rec_seq, rs, 8);
        o->len = sizeof o->u.chacha;
    }
#undef GCM
}

/* Both directions' crypto_info (tx: ours, rx: the peer's), or a reason. */
static const char *ktls_derive(cr__tls *t, struct cr__ktls_info *tx, struct cr__ktls_info *rx)
{
    struct ktls *k = t->k;
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    int v = SSL_version(t->ssl), nid = c ? SSL_CIPHER_get_cipher_nid(c) : NID_undef;
    const EVP_MD *md = c ? SSL_CIPHER_get_handshake_digest(c) : NULL;
    size_t klen = nid == NID_aes_128_gcm ? 16 : 32;
    if ((v != TLS1_2_VERSION && v != TLS1_3_VERSION) || !md ||
        (nid != NID_aes_128_gcm && nid != NID_aes_256_gcm && nid != NID_chacha20_poly1305)) {
        snprintf(k->why, sizeof k->why, "%s with %s has no kernel offload",
                 SSL_get_version(t->ssl), c ? SSL_CIPHER_get_name(c) : "no cipher");
        return k->why;
    }
    if (k->key_update)
        return "a KeyUpdate came before the hand-off";
    bool v13 = v == TLS1_3_VERSION, server = SSL_is_server(t->ssl);
    struct ktls_dir *dt = &k->tx, *dr = &k->rx;
    if (v13 ? !dt->fin || !dr->fin : !dt->ccs || !dr->ccs)
        return "record counts unknown (no Finished or ChangeCipherSpec seen)";
    uint64_t st = v13 ? dt->since_fin : dt->since_ccs, sr = v13 ? dr->since_fin : dr->since_ccs;
    /* client key, server key, client iv, server iv (1.3: derived per side) */
    unsigned char kb[2 * 32 + 2 * 12], *ck = kb, *sk = kb + klen, *civ, *siv;
    size_t ivlen = v13 || nid == NID_chacha20_poly1305 ? 12 : 4;
    civ = kb + 2 * klen;
    siv = civ + ivlen;
    int rc = 0;
    if (v13) {
        if (!k->cseclen || !k->sseclen)
            return "no TLS 1.3 traffic secrets (the context's keylog callback was replaced)";
        rc = expand_label(md, k->csec, k->cseclen, "key", ck, klen);
        rc = rc ? rc : expand_label(md, k->ssec, k->sseclen, "key", sk, klen);
        rc = rc ? rc : expand_label(md, k->csec, k->cseclen, "iv", civ, 12);
        rc = rc ? rc : expand_label(md, k->ssec, k->sseclen, "iv", siv, 12);
    } else {
        unsigned char ms[SSL_MAX_MASTER_KEY_LENGTH], seed[13 + 2 * SSL3_RANDOM_SIZE];
        SSL_SESSION *sess = SSL_get_session(t->ssl);
        size_t mlen = sess ? SSL_SESSION_get_master_key(sess, ms, sizeof ms) : 0;
        memcpy(seed, "key expansion", 13);
        if (!mlen || SSL_get_server_random(t->ssl, seed + 13, SSL3_RANDOM_SIZE) != SSL3_RANDOM_SIZE ||
            SSL_get_client_random(t->ssl, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE) !=
                SSL3_RANDOM_SIZE) {
            rc = -EPROTO;
        } else {
            OSSL_PARAM p[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)EVP_MD_get0_name(md), 0),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, ms, mlen),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed),
                OSSL_PARAM_construct_end(),
            };
            rc = kdf("TLS1-PRF", p, kb, 2 * klen + 2 * ivlen);
        }
        OPENSSL_cleanse(ms, sizeof ms);
    }
    if (!rc) {
        fill(tx, v13, nid, server ? sk : ck, server ? siv : civ, st);
        fill(rx, v13, nid, server ? ck : sk, server ? civ : siv, sr);
    }
    OPENSSL_cleanse(kb, sizeof kb);
    return rc ? "deriving the keys failed" : NULL;
}

/* "TLS_TX refused (EBUSY)" into k->why. */
static const char *because(struct ktls *k, const char *what, int err)
{
    const char *name = strerrorname_np(err);
    snprintf(k->why, sizeof k->why, "%s (%s)", what, name ? name : "?");
    return k->why;
}

/* At the end of a successful handshake: the stream's records go to the
 * kernel, or t->why says why not. Never fails the stream. */
static void ktls_handoff(cr__tls *t)
{
    struct ktls *k = t->k;
    int fd = cr_stream_fd(t->s);
    int probe = cr_tls_ktls_probe();
    struct cr__ktls_info tx, rx;
    const char *why = NULL;
    int rc = 1;
    if (probe < 0 && !cr__tls_ktls_seam) {
        /* Nothing to derive for: the kernel cannot take the keys. */
        why = because(k, probe == -ENOENT ? "kernel has no tls ULP" : "no tls ULP", -probe);
    } else if (!cr__stream_tx_idle(t->s)) {
        /* Ciphertext still queued would be encrypted a second time. */
        why = "the handshake's last bytes were still queued";
    } else if (!(why = ktls_derive(t, &tx, &rx))) {
        if (cr__tls_ktls_seam)
            rc = cr__tls_ktls_seam(t->s, &tx, &rx);
        if (rc < 0)
            why = because(k, "refused by the test seam", -rc);
        else if (rc > 0 && probe < 0)
            why = because(k, probe == -ENOENT ? "kernel has no tls ULP" : "no tls ULP", -probe);
        /* Attaching the ULP alone changes nothing on the wire (TLS_BASE
         * passes bytes through), so a refused TLS_TX leaves a working
         * plain socket under the memory-BIO path. */
        else if (rc > 0 && setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") < 0)
            why = because(k, "TCP_ULP tls refused", errno);
        else if (rc > 0 && setsockopt(fd, SOL_TLS, TLS_TX, &tx.u, (socklen_t)tx.len) < 0)
            why = because(k, "TLS_TX refused", errno);
        OPENSSL_cleanse(&tx, sizeof tx);
        OPENSSL_cleanse(&rx, sizeof rx);
    }
    OPENSSL_cleanse(k->csec, sizeof k->csec);
    OPENSSL_cleanse(k->ssec, sizeof k->ssec);
    k->cseclen = k->sseclen = 0;
    t->why = why;
    t->ktls_tx = !why;
}

/* close_notify as the kernel's alert record. Only when nothing is queued
 * (a sendmsg now would overtake queued bytes); otherwise none is sent and
 * the peer sees a TCP EOF at a record boundary. */
static void ktls_close_notify(cr__tls *t)
{
    if (!cr__stream_tx_idle(t->s))
        return;
    unsigned char alert[2] = {1, 0}; /* warning, close_notify */
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(1)];
    } cm;
    struct iovec iov = {alert, sizeof alert};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                       .msg_controllen = sizeof cm.b};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_TLS;
    h->cmsg_type = TLS_SET_RECORD_TYPE;
    h->cmsg_len = CMSG_LEN(1);
    *CMSG_DATA(h) = SSL3_RT_ALERT;
    (void)sendmsg(cr_stream_fd(t->s), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

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
    t->why = "not enabled (cr_tls_config.ktls)";
    if (ctx->ktls && ktls_attach(t) < 0)
        goto fail;
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
    ktls_free(t->k);
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
    /* Records that came in behind the peer's Finished (0.5-RTT data,
     * tickets) are waiting in rbio. */
    if (pump(t) == CR__SINK_FAILED)
        return t->err = -ENOMEM;
    if (t->err)
        return t->err; /* a bad record right behind the handshake */
    if (t->k)
        ktls_handoff(t); /* after the pump: its records are counted */
    return t->err;
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
    return t ? t->ktls_tx ? "ktls" : "memory-bio" : NULL;
}

const char *cr_stream_tls_ktls_reason(const cr_stream *s)
{
    cr__tls *t = cr__stream_tls(s);
    return t && !t->ktls_tx ? t->why : NULL;
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
