/* SPDX-License-Identifier: MIT */
/* coring/tls.h — TLS streams on OpenSSL 3 (asyncio's ssl=, server_hostname=,
 * ssl_handshake_timeout= and start_tls). Included by <coring.h>; do not
 * include directly. Nothing here needs the OpenSSL headers: the OpenSSL objects are
 * reachable as void * for what this API does not cover.
 *
 * A cr_tls_ctx is the SSLContext: certificate chain and key, trust (a CA
 * file/dir or the system store), verify mode, minimum version, ALPN. It is
 * immutable once made and may be shared by streams on any loop and thread.
 * A TLS stream is an ordinary cr_stream: every cr_stream_* call behaves as on
 * plain TCP (reads, readline/readuntil/readexactly, write/drain, timeouts,
 * cancellation, close/wait_closed); the bytes are encrypted and decrypted by
 * OpenSSL on memory BIOs fed by the stream's own multishot recv and send
 * (with cr_tls_config.ktls, where the kernel can, it encrypts what is sent).
 *
 * Safe defaults: a client verifies the server against the system CAs and
 * checks the host name (server_hostname, else the host it connected to);
 * TLS 1.2 is the minimum; renegotiation is refused; compression off.
 *
 * Errors (negative errno; cr_tls_last_error() has OpenSSL's reason):
 *   -EKEYREJECTED  the peer's certificate failed verification (unknown CA,
 *                  bad signature, host name mismatch, not yet valid, ...)
 *   -EKEYEXPIRED   the peer's certificate (or one in its chain) has expired
 *   -EPROTO        any other TLS failure: an alert from the peer (it rejected
 *                  our certificate, no shared version/cipher/ALPN), a bad
 *                  record, a record cut off by EOF, a refused renegotiation
 *   -ECONNRESET    the peer closed during the handshake
 *   -ETIMEDOUT     the handshake took longer than its timeout
 *   -EBUSY         start_tls while a read or handshake is running, or on a
 *                  stream already speaking TLS
 */
/* Standalone: <coring.h> comes first and includes every subject header in
 * order (this one among them); the guard below then skips the rest. */
#include <coring.h>
#ifndef CORING_TLS_H
#define CORING_TLS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cr_tls_ctx cr_tls_ctx;

enum {
    CR_TLS_VERIFY_DEFAULT = 0,  /* client: REQUIRED; server: NONE */
    CR_TLS_VERIFY_NONE = 1,     /* no verification (clients: say so loudly) */
    CR_TLS_VERIFY_OPTIONAL = 2, /* server: ask for a client certificate, verify it if given */
    CR_TLS_VERIFY_REQUIRED = 3, /* the peer must present a certificate that verifies */
};
enum { CR_TLS_1_2 = 0x0303, CR_TLS_1_3 = 0x0304 };

typedef struct cr_tls_config {
    bool server;               /* a server context (else a client one) */
    const char *cert_file;     /* PEM: certificate then chain (servers: required) */
    const char *key_file;      /* PEM private key; NULL = in cert_file */
    const char *ca_file;       /* PEM CAs to trust; with ca_dir NULL too: */
    const char *ca_dir;        /*   the system store (OpenSSL's default paths) */
    int verify;                /* CR_TLS_VERIFY_* */
    bool no_check_hostname;    /* client: verify the chain but not the name */
    int min_version;           /* 0 = CR_TLS_1_2 */
    int max_version;           /* 0 = the newest OpenSSL knows */
    const char *alpn;          /* "h2,http/1.1": offered (client) / accepted in
                                  our order of preference (server); NULL = none */
    double handshake_timeout;  /* seconds; 0 = 60 (asyncio's default); < 0 none */
    bool ktls;                 /* after each handshake, try to hand the send keys to
                                  the kernel (kTLS); opt-in, docs/tls.md "kTLS". A
                                  stream that cannot falls back silently and says why
                                  (cr_stream_tls_ktls_reason). Uses the context's
                                  keylog and each SSL's message callback. */
} cr_tls_config;

/** Makes a context. Any thread. -EINVAL (bad config: a server without a
 * certificate, unknown version, malformed ALPN), -ENOENT / -EKEYREJECTED
 * (a certificate, key or CA file that cannot be loaded or does not match:
 * the reason is in cr_tls_last_error()), -ENOMEM. */
CR_API int cr_tls_ctx_new(const cr_tls_config *cfg, cr_tls_ctx **out);
/** Drops the caller's reference; streams and servers using it keep their own.
 * NULL is a no-op. Any thread. */
CR_API void cr_tls_ctx_free(cr_tls_ctx *ctx);
/** Server name indication for a server context: a client asking for `name`
 * (exact, case-insensitive) gets for_name's certificate chain and key (and
 * its ALPN list); any other name, or none, gets ctx's own. Verification and
 * versions stay ctx's. for_name must be a server context without names of
 * its own; ctx keeps a reference. Call before ctx serves (not thread-safe
 * with handshakes using ctx). -EINVAL, -ENOMEM. */
CR_API int cr_tls_ctx_add_server_name(cr_tls_ctx *ctx, const char *name, cr_tls_ctx *for_name);
/** The SSL_CTX * underneath, for settings this API lacks (ciphers, session
 * cache, keylog). Change it only before the first stream uses it. */
CR_API void *cr_tls_ctx_ssl_ctx(cr_tls_ctx *ctx);

/** OpenSSL's reason for the last TLS failure on this thread (a handshake,
 * a context load, a record), "" if none yet. Valid until the next failure
 * on this thread. */
CR_API const char *cr_tls_last_error(void);

/** asyncio.open_connection(ssl=ctx, server_hostname=...). Suspends. Connects
 * as cr_open_connection, then handshakes. server_hostname: the name to send
 * as SNI and to check the certificate against; NULL = host. `timeout` covers
 * the connect; the handshake has the context's handshake_timeout. On failure
 * nothing is left open. */
CR_API int cr_open_connection_tls(const char *host, int port, const cr_stream_opts *opts,
                                  cr_tls_ctx *ctx, const char *server_hostname,
                                  double timeout, cr_stream **out);
CR_API int cr_open_unix_connection_tls(const char *path, const cr_stream_opts *opts,
                                       cr_tls_ctx *ctx, const char *server_hostname,
                                       double timeout, cr_stream **out);
/** asyncio.start_server(ssl=ctx): each connection handshakes in its own task
 * before the handler runs; a failed handshake closes the connection without
 * calling it. ctx must be a server context. */
CR_API int cr_start_server_tls(cr_loop *loop, const char *host, int port, cr_stream_handler fn,
                               void *arg, const cr_server_opts *opts, cr_tls_ctx *ctx,
                               cr_server **out);
CR_API int cr_start_unix_server_tls(cr_loop *loop, const char *path, cr_stream_handler fn,
                                    void *arg, const cr_server_opts *opts, cr_tls_ctx *ctx,
                                    cr_server **out);
/** loop.start_tls: upgrades an open plain stream in place (STARTTLS). Bytes
 * already buffered unread are taken as the peer's first TLS bytes; bytes
 * written before are sent in clear first. Suspends for the handshake
 * (`timeout` seconds, < 0 none; 0 = the context's). server_hostname as
 * above (a client context needs one unless it skips the name check). On
 * failure the stream is aborted: free it. -EBUSY if a read is parked or the
 * stream already speaks TLS. */
CR_API int cr_stream_start_tls(cr_stream *s, cr_tls_ctx *ctx, const char *server_hostname,
                               double timeout);

/** What was negotiated. Loop thread. */
CR_API bool cr_stream_is_tls(const cr_stream *s);
/** "TLSv1.3", "TLSv1.2"; NULL if not TLS or not handshaken yet. */
CR_API const char *cr_stream_tls_version(const cr_stream *s);
/** The ALPN protocol the two sides agreed on, NUL-terminated into buf (cap
 * bytes). Returns its length, 0 if none was negotiated, -EINVAL (not TLS),
 * -ENAMETOOLONG (buf too small). */
CR_API int cr_stream_tls_alpn(const cr_stream *s, char *buf, size_t cap);
/** The name the client asked for with SNI (server side) or sent (client);
 * NULL if none. */
CR_API const char *cr_stream_tls_server_name(const cr_stream *s);
/** The peer's certificate in DER (asyncio's getpeercert(binary_form=True)):
 * copies it into buf when it fits and returns its length either way; 0 if
 * the peer sent none; -EINVAL if not TLS. */
CR_API ssize_t cr_stream_tls_peer_cert(const cr_stream *s, void *buf, size_t cap);
/** The peer certificate's subject as one line ("CN=localhost"), into buf.
 * Returns its length, 0 if no certificate, -EINVAL, -ENAMETOOLONG. */
CR_API int cr_stream_tls_peer_subject(const cr_stream *s, char *buf, size_t cap);
/** Which path the stream's records take: "memory-bio" (OpenSSL encrypts and
 * decrypts in user space, on memory BIOs fed by the stream's own recv and
 * send) or "ktls" (after the handshake the kernel's tls ULP encrypts what the
 * stream sends; received records are still decrypted by OpenSSL); NULL if
 * not TLS. Only a context made with `ktls` ever hands off (docs/tls.md). */
CR_API const char *cr_stream_tls_path(const cr_stream *s);
/** Why a TLS stream is on "memory-bio": "not enabled (cr_tls_config.ktls)",
 * "kernel has no tls ULP (ENOENT)", "TLSv1.2 with AES128-SHA256 has no kernel
 * offload", ...; NULL on "ktls" or not TLS. Loop thread. */
CR_API const char *cr_stream_tls_ktls_reason(const cr_stream *s);
/** Whether the kernel offers TLS offload (the tls ULP) to this process: 1,
 * or why not as a negative errno: -ENOENT (no tls ULP: a kernel without
 * CONFIG_TLS, or the module not loaded and this process not allowed to load
 * it), -ENOPROTOOPT (no ULPs at all), or the error of the socket the probe
 * opens. Probed once per process (one socket, one setsockopt, closed again)
 * and cached. Any thread. */
CR_API int cr_tls_ktls_probe(void);
/** The SSL * underneath (NULL if not TLS), for reading what this API lacks.
 * Do not read or write through it: the stream owns the data path. */
CR_API void *cr_stream_tls_ssl(const cr_stream *s);

#ifdef __cplusplus
}
#endif

#endif
