/* SPDX-License-Identifier: MIT */
/*
 * tls.h — the seam between a stream (stream.c) and its TLS layer (tls.c).
 *
 * A stream with s->tls set hands every received chunk to cr__tls_sink instead
 * of its read buffer; OpenSSL decrypts on memory BIOs and the plaintext comes
 * back through cr__stream_deliver. Writes go through cr__tls_write; the
 * ciphertext OpenSSL produces is appended to the stream's send buffer with
 * cr__stream_tx_reserve/commit. The stream's own reader wait (wait_more) is
 * what a handshake parks on.
 *
 * Loop thread only (the stream's).
 */
#ifndef CORING_IO_TLS_H
#define CORING_IO_TLS_H

#include "io/io.h"
#include <linux/tls.h>

typedef struct cr__tls cr__tls;

/* ---- tls.c, called by stream.c ---- */
/* A ciphertext chunk arrived: returns a CR__SINK_* code (never KEPT). */
CR_HIDDEN int cr__tls_sink(cr__tls *t, const char *data, size_t len);
/* Encrypts and queues len plaintext bytes; len or a negative errno. */
CR_HIDDEN ssize_t cr__tls_write(cr__tls *t, const void *data, size_t len);
/* The reader's view of the connection: 0 more may come, 1 EOF (close_notify,
 * or a TCP EOF at a record boundary), < 0 sticky error. raw_* are the socket's. */
CR_HIDDEN int cr__tls_rstate(cr__tls *t, int raw_err, bool raw_eof);
/* Queues close_notify once (write_eof, close); no-op before the handshake. */
CR_HIDDEN void cr__tls_close_notify(cr__tls *t);
CR_HIDDEN void cr__tls_free(cr__tls *t);

/* ---- stream.c, called by tls.c ---- */
/* Plaintext for the reader (copied). CR__SINK_COPIED or CR__SINK_FAILED. */
CR_HIDDEN int cr__stream_deliver(cr_stream *s, const char *data, size_t len);
/* Room for n more bytes at the end of the queue to send (NULL: -ENOMEM);
 * commit queues the first n of them and starts a send if none is running. */
CR_HIDDEN char *cr__stream_tx_reserve(cr_stream *s, size_t n);
CR_HIDDEN void cr__stream_tx_commit(cr_stream *s, size_t n);
/* Attaches t (0), or -EBUSY (a reader or a view is out, TLS already on),
 * -ESHUTDOWN (closing). Unread bytes are handed to t's sink first. */
CR_HIDDEN int cr__stream_attach_tls(cr_stream *s, cr__tls *t);
CR_HIDDEN cr__tls *cr__stream_tls(const cr_stream *s);
/* A reference held across a handshake, so that a cr_stream_free from another
 * task cannot free s (and its cr__tls) under it; put may free s. */
CR_HIDDEN void cr__stream_hold(cr_stream *s);
CR_HIDDEN void cr__stream_put(cr_stream *s);
/* Parks as the stream's reader until something arrives (0), or -ETIMEDOUT /
 * -ECANCELED / -ESHUTDOWN. */
CR_HIDDEN int cr__stream_wait_raw(cr_stream *s, int64_t deadline);
/* The socket's state under TLS: 0, 1 EOF, < 0 its error / -ESHUTDOWN. */
CR_HIDDEN int cr__stream_raw_state(const cr_stream *s);

/* How many times the kTLS probe ran in this process (tests: at most once). */
CR_HIDDEN int cr__tls_ktls_probe_runs(void);
/* Nothing queued and no send in flight: a record sent now by sendmsg(2)
 * cannot overtake queued bytes (kTLS's close_notify). */
CR_HIDDEN bool cr__stream_tx_idle(const cr_stream *s);

/* ---- the kTLS hand-off's key material (tls.c; a test seam) ---- */
/* One direction's struct tls12_crypto_info_* as setsockopt(SOL_TLS, TLS_TX
 * or TLS_RX) takes it; len is the size of the member in use. */
struct cr__ktls_info {
    union {
        struct tls_crypto_info info;
        struct tls12_crypto_info_aes_gcm_128 gcm128;
        struct tls12_crypto_info_aes_gcm_256 gcm256;
        struct tls12_crypto_info_chacha20_poly1305 chacha;
    } u;
    size_t len;
};
/* Tests only (NULL otherwise): called at a stream's hand-off with what it
 * would give the kernel, before the kernel is asked. Returns 1: go on to
 * the kernel; 0: act as if the kernel took the TX keys (no syscall: the
 * stream then writes plaintext, as on kTLS); < 0: refuse with that errno
 * (the stream stays on memory BIOs and says why). */
CR_HIDDEN extern int (*cr__tls_ktls_seam)(cr_stream *s, const struct cr__ktls_info *tx,
                                          const struct cr__ktls_info *rx);

/* ---- servers (server.c) ---- */
struct cr_tls_ctx;
CR_HIDDEN struct cr_tls_ctx *cr__tls_ctx_ref(struct cr_tls_ctx *ctx);
CR_HIDDEN bool cr__tls_ctx_is_server(const struct cr_tls_ctx *ctx);

#endif
