/* SPDX-License-Identifier: MIT */
/* coring/io.h — sockets, files, streams, servers.
 * Included by <coring.h>; may also be included on its own.
 *
 * Every call marked "suspends" goes through the loop's io_uring: it parks only
 * the calling task and returns a byte count / fd / 0, or a negative errno.
 * Common rules:
 *  - `timeout` is in seconds; CR_NO_TIMEOUT (any value < 0) or +inf waits
 *    forever; NaN is -EINVAL before anything is submitted (coring.h, Times).
 *    A timeout is a user-space timer on the loop (no kernel timer per op).
 *  - Cancelled or timed out while the kernel holds the buffer: the call asks
 *    the kernel to cancel and returns only once the kernel is done with the
 *    buffer, with -ECANCELED / -ETIMEDOUT — or with the real result if the
 *    operation completed first. An fd produced by accept/open/socket after the
 *    task was cancelled is closed, never leaked, and -ECANCELED is returned.
 *  - Sends never raise SIGPIPE (MSG_NOSIGNAL); a reset peer is -EPIPE/-ECONNRESET.
 *  - Every fd coring creates is O_CLOEXEC.
 *  - Loop thread only (from a task on the loop), unless a function says so.
 */
/* Standalone: <coring.h> comes first and includes every subject header in
 * order (this one among them); the guard below then skips the rest. */
#include <coring.h>
#ifndef CORING_IO_H
#define CORING_IO_H

#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CR_NO_TIMEOUT (-1.0)

/** The errors streams add, as negative errno values:
 *  CR_EINCOMPLETE  EOF before the requested amount/separator (asyncio's
 *                  IncompleteReadError); what was read is handed back.
 *  CR_ELIMIT       the separator was not found within the stream's limit
 *                  (asyncio's LimitOverrunError); the data stays buffered. */
#define CR_EINCOMPLETE (-ENODATA)
#define CR_ELIMIT (-EMSGSIZE)

/* ------------------------------------------------------------ addresses ---- */

/** Fills *ss from a numeric IPv4/IPv6 address or "localhost" (→ 127.0.0.1) and
 * a port (0..65535). NULL or "" host = the IPv4 wildcard. Other hostnames
 * return -EAFNOSUPPORT: resolving them may block, so this call leaves them to
 * cr_getaddrinfo (which cr_connect_tcp, cr_listen_tcp and the stream/server
 * calls use by themselves). Does not suspend; any thread. */
CR_API int cr_sockaddr_ip(const char *host, int port, struct sockaddr_storage *ss,
                          socklen_t *len);
/* loop.getaddrinfo: getaddrinfo(3) run on the loop's executor (the thread
 * pool of cr_to_thread), since it blocks on /etc/hosts and DNS. Suspends.
 * host or port (a number or a service name) may be NULL, not both; hints as
 * getaddrinfo's (only flags/family/socktype/protocol are read; NULL = any).
 * 0 and *res, a list to free with cr_freeaddrinfo; else a negative errno,
 * getaddrinfo's EAI_* codes mapped by cr_eai_to_errno.
 * Cancelled: returns -ECANCELED at once; a lookup already running on the
 * pool finishes there and frees its own result (a queued one never starts).
 * No timeout of its own (a DNS lookup may take resolv.conf's timeout x
 * attempts): wrap it in cr_wait_for or a cr_timeout scope, or use
 * cr_connect_tcp's timeout. -EPERM outside a task, -EINVAL, -ENOMEM,
 * -ESHUTDOWN if the executor is shut down. */
struct addrinfo;
CR_API int cr_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                          struct addrinfo **res);
/** freeaddrinfo; NULL is a no-op. Any thread. */
CR_API void cr_freeaddrinfo(struct addrinfo *res);
/** loop.getnameinfo: getnameinfo(3) on the loop's executor. Suspends. Writes
 * the host name (hostlen bytes at most) and service name (servlen) as
 * getnameinfo does; either buffer may be NULL with its length 0, not both.
 * flags NI_*. Errors as cr_getaddrinfo (a buffer too small: -ENAMETOOLONG);
 * a cancel returns -ECANCELED at once and the buffers are not touched after.
 * salen must fit a sockaddr_storage (-EINVAL). */
CR_API int cr_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                          size_t hostlen, char *serv, size_t servlen, int flags);
/** The mapping of getaddrinfo's codes to negative errnos (any thread):
 *   EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY  CR_ENONAME (no such host / address)
 *   EAI_AGAIN      -EAGAIN   (DNS did not answer; try again later)
 *   EAI_FAIL       -EIO      (DNS failed for good)
 *   EAI_MEMORY     -ENOMEM          EAI_FAMILY    -EAFNOSUPPORT
 *   EAI_SOCKTYPE   -ESOCKTNOSUPPORT EAI_SERVICE   -EPROTONOSUPPORT
 *   EAI_BADFLAGS   -EINVAL          EAI_OVERFLOW  -ENAMETOOLONG
 *   EAI_SYSTEM     -sys_errno (the errno getaddrinfo left; -EIO if none)
 *   anything else  -EIO;  0 → 0. */
CR_API int cr_eai_to_errno(int eai, int sys_errno);
/** "Name or service not known": a hostname that does not resolve. Not an
 * errno value (none says it), so cr_strerror gives it its own text. */
#define CR_ENONAME (-4097)
/** A Unix-domain address; -ENAMETOOLONG if path does not fit. Any thread. */
CR_API int cr_sockaddr_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len);
/** The local port of a bound IP socket, or a negative errno. Any thread. */
CR_API int cr_local_port(int fd);

/* --------------------------------------------------------------- sockets ---- */

/** socket(2) through the ring (IORING_OP_SOCKET). Suspends. Returns the fd. */
CR_API int cr_socket(int domain, int type, int protocol);
/** socket + SO_REUSEADDR + bind + listen, for TCP on host:port (port 0 = any;
 * read it back with cr_local_port). backlog <= 0 means SOMAXCONN. Returns the
 * listening fd. Does not suspend for a numeric host, localhost, NULL or "";
 * another hostname is resolved with cr_getaddrinfo (AI_PASSIVE) — that
 * suspends, so only from a task (-EPERM otherwise) — and the first address
 * that binds is used (asyncio binds them all; one listener here). */
CR_API int cr_listen_tcp(const char *host, int port, int backlog);
/** Same for a Unix stream socket at path (an existing socket file is replaced). */
CR_API int cr_listen_unix(const char *path, int backlog);
/** accept4 (SOCK_CLOEXEC added). addr/len may be NULL. Suspends. Returns the fd. */
CR_API int cr_accept(int fd, struct sockaddr *addr, socklen_t *len, double timeout);
/** connect. Suspends; -ETIMEDOUT after timeout. */
CR_API int cr_connect(int fd, const struct sockaddr *addr, socklen_t len, double timeout);
/** socket + connect to host:port / a Unix path. Suspends. Returns the
 * connected fd; on any failure the socket is closed. A host that is not
 * numeric or localhost is resolved with cr_getaddrinfo, then each address is
 * tried in turn, in getaddrinfo's order, until one connects (the last error
 * otherwise). `timeout` covers the lookup and every attempt together. Not
 * happy eyeballs: an address that never answers uses up the timeout. */
CR_API int cr_connect_tcp(const char *host, int port, double timeout);
CR_API int cr_connect_unix(const char *path, double timeout);
/** recv / send (send adds MSG_NOSIGNAL). Suspend. Return the byte count; recv
 * returns 0 at EOF. cr_send_all loops until all len bytes went out. */
CR_API ssize_t cr_recv(int fd, void *buf, size_t len, int flags, double timeout);
CR_API ssize_t cr_send(int fd, const void *buf, size_t len, int flags, double timeout);
CR_API ssize_t cr_send_all(int fd, const void *buf, size_t len, double timeout);
/** recvmsg / sendmsg (UDP and ancillary data); sendmsg adds MSG_NOSIGNAL. */
CR_API ssize_t cr_recvmsg(int fd, struct msghdr *msg, int flags, double timeout);
CR_API ssize_t cr_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout);
/** shutdown(2) (SHUT_RD/WR/RDWR). Suspends. */
CR_API int cr_shutdown(int fd, int how);
/** close(2) through the ring. Suspends, but always closes: a cancel arriving
 * meanwhile is kept pending for the next call. -EBADF for a bad fd. */
CR_API int cr_close(int fd);

/* --------------------------------------------- multishot accept (servers) ---- */

/** One multishot accept on a listening fd: the kernel queues accepted fds as
 * connections arrive; cr_acceptor_next hands them out in order. Survives
 * EMFILE/ENFILE: those are counted, not returned, and accepting resumes after
 * a short back-off (1 ms doubling to 100 ms) or as soon as cr_acceptor_kick()
 * says an fd was freed — never a busy spin. Loop thread only. */
typedef struct cr_acceptor cr_acceptor;
/** Does not take ownership of lfd. -EBADF for a negative fd; must be called on the
 * loop's thread (inside or outside a task). */
CR_API int cr_acceptor_new(cr_loop *loop, int lfd, cr_acceptor **out);
/** Next accepted fd. Suspends (timeout as above). -ESHUTDOWN once closed. One
 * task at a time (-EBUSY otherwise). */
CR_API int cr_acceptor_next(cr_acceptor *a, double timeout);
/** Re-arm now if the acceptor is backing off after EMFILE/ENFILE. */
CR_API void cr_acceptor_kick(cr_acceptor *a);
/** Counters: fds accepted, EMFILE/ENFILE seen, times the multishot was re-armed. */
typedef struct cr_acceptor_stats {
    uint64_t accepted, emfile, rearms;
} cr_acceptor_stats;
CR_API void cr_acceptor_get_stats(const cr_acceptor *a, cr_acceptor_stats *out);
/** Stops accepting, closes fds accepted but not handed out, wakes a waiter with
 * -ESHUTDOWN, and frees once the kernel has released the op. Does not close lfd. */
CR_API void cr_acceptor_free(cr_acceptor *a);

/* -------------------------------- provided buffers + multishot recv ---- */

/** The loop's provided-buffer ring: `count` buffers (power of two, <= 32768)
 * of `size` bytes, registered with the kernel at the first multishot recv.
 * Call before that (else -EBUSY). Defaults: 1024 x 4096. Loop thread only. */
CR_API int cr_loop_set_buffers(cr_loop *loop, unsigned count, unsigned size);
typedef struct cr_bufring_stats {
    uint64_t enobufs;   /* times the ring ran dry (back-pressure, never surfaced) */
    uint64_t rearms;    /* multishot recvs re-armed after a final CQE */
    unsigned in_use;    /* buffers held by readers right now */
    unsigned count, size;
} cr_bufring_stats;
CR_API int cr_loop_buffer_stats(cr_loop *loop, cr_bufring_stats *out);

/** A multishot recv on a connected socket, reading into the loop's provided
 * buffers. It is re-armed whenever the kernel ends it without an error (a CQE
 * without IORING_CQE_F_MORE) and after ENOBUFS once buffers come back. At most
 * `max_queued` buffers wait for the reader (0 = 16); past that the recv is
 * paused, so a slow reader holds bounded memory and the peer sees TCP
 * back-pressure. Does not own fd. Loop thread only. */
typedef struct cr_mrecv cr_mrecv;
CR_API int cr_mrecv_new(cr_loop *loop, int fd, unsigned max_queued, cr_mrecv **out);
/** A received chunk: data[0..len). Valid until cr_mrecv_release. */
typedef struct cr_buf {
    const char *data;
    size_t len;
    int bid; /* internal: the provided buffer's id */
} cr_buf;
/** Next chunk. Suspends. Returns its length, 0 at EOF (then always 0), or a
 * negative errno (the socket's error, -ETIMEDOUT, -ECANCELED). */
CR_API ssize_t cr_mrecv_next(cr_mrecv *m, cr_buf *out, double timeout);
/** Gives the chunk's buffer back to the kernel (re-arming paused recvs). */
CR_API void cr_mrecv_release(cr_mrecv *m, cr_buf *b);
/** Cancels the recv, returns every queued buffer, frees once the kernel is done. */
CR_API void cr_mrecv_free(cr_mrecv *m);

/* ----------------------------------------------------------------- files ---- */

/** openat (O_CLOEXEC added). dirfd may be AT_FDCWD. Suspends. Returns the fd. */
CR_API int cr_openat(int dirfd, const char *path, int flags, mode_t mode, double timeout);
/** pread/pwrite at offset off, or at the file position when off == -1.
 * Suspend. Return the byte count (0 at EOF for read). */
CR_API ssize_t cr_read(int fd, void *buf, size_t len, int64_t off, double timeout);
CR_API ssize_t cr_write(int fd, const void *buf, size_t len, int64_t off, double timeout);
/** fsync, or fdatasync when datasync. Suspends. */
CR_API int cr_fsync(int fd, bool datasync, double timeout);
/* statx(2). Suspends. */
struct statx;
CR_API int cr_statx(int dirfd, const char *path, int flags, unsigned mask,
                    struct statx *out, double timeout);
/** splice(2) up to len bytes between fds (one must be a pipe); offsets -1 =
 * the file position. Suspends. Returns bytes moved. */
CR_API ssize_t cr_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                         size_t len, unsigned flags, double timeout);

/* --------------------------------------------------------------- streams ---- */

/** asyncio streams: one cr_stream is both the StreamReader and StreamWriter of
 * a connection. The reader reads through a multishot recv into the loop's
 * provided buffers; the writer buffers and sends in the background, one send
 * in flight at a time (so byte order holds). Loop thread only. */
typedef struct cr_stream cr_stream;
typedef struct cr_stream_opts {
    size_t limit;      /* readline/readuntil: most bytes before the separator
                          (asyncio's limit); 0 = 64 KiB */
    size_t high_water; /* drain() waits while more than this is unsent; 0 = 64 KiB */
    size_t low_water;  /* ... until at most this is; 0 = high_water / 4 */
} cr_stream_opts;

/** asyncio.open_connection / open_unix_connection. Suspend. opts may be NULL.
 * host as cr_connect_tcp (hostnames resolved on the thread pool). */
CR_API int cr_open_connection(const char *host, int port, const cr_stream_opts *opts,
                              double timeout, cr_stream **out);
CR_API int cr_open_unix_connection(const char *path, const cr_stream_opts *opts,
                                   double timeout, cr_stream **out);
/** Wraps a connected socket; the stream owns fd from now on (even on error). */
CR_API int cr_stream_new(cr_loop *loop, int fd, const cr_stream_opts *opts, cr_stream **out);
CR_API int cr_stream_fd(const cr_stream *s);
/** A timeout for each later read*, drain and wait_closed call on s (seconds;
 * CR_NO_TIMEOUT, the default, = none). A call that times out returns
 * -ETIMEDOUT and consumes nothing: buffered data stays for the next call. */
CR_API int cr_stream_set_timeout(cr_stream *s, double timeout);

/** The read* calls, drain and wait_closed suspend; one task at a time may read
 * (-EBUSY otherwise); any number may drain one writer (asyncio 3.12). Freeing or closing the stream wakes
 * them with -ESHUTDOWN.
 *
 * read(n): up to n bytes as soon as any are there; 0 at EOF. Suspends. */
CR_API ssize_t cr_stream_read(cr_stream *s, void *buf, size_t n);
/** readexactly(n): n, or CR_EINCOMPLETE at EOF with the *got (may be NULL)
 * bytes that were read copied into buf. Suspends. */
CR_API ssize_t cr_stream_readexactly(cr_stream *s, void *buf, size_t n, size_t *got);
/** readuntil(sep): bytes up to and including sep, copied into buf (cap bytes).
 * CR_ELIMIT if more than the stream's limit precedes sep (asyncio: the limit
 * bounds the data before the separator), or the line with sep exceeds cap:
 * data stays buffered. CR_EINCOMPLETE at EOF first: the partial data goes to buf, *got.
 * Suspends. Returns the length. */
CR_API ssize_t cr_stream_readuntil(cr_stream *s, const void *sep, size_t seplen,
                                   void *buf, size_t cap, size_t *got);
/** readline: readuntil("\n"), except EOF returns what is left (maybe 0). */
CR_API ssize_t cr_stream_readline(cr_stream *s, void *buf, size_t cap);
/** True once EOF was received and the buffer is empty. */
CR_API bool cr_stream_at_eof(const cr_stream *s);
/* ---- zero copy ----
 * read_buf: like read, but instead of copying it hands back a view of the
 * received bytes: usually the loop's provided buffer itself, or the stream's
 * own buffer when data was already waiting. Suspends. Returns out->len (> 0),
 * 0 at EOF, or a negative errno as read does; out is emptied on any return
 * <= 0 except -EBUSY (a view is already out; out is left untouched, since it
 * may be that view). The view stays valid until cr_stream_release_buf or
 * cr_stream_write_buf; one view per stream at a time: while it is out, every
 * read* call on the stream returns -EBUSY. Hold views briefly: each pins one
 * buffer of the ring shared by all connections of the loop. */
CR_API ssize_t cr_stream_read_buf(cr_stream *s, cr_buf *out);
/** readuntil without the copy: out becomes a view of the bytes up to and
 * including sep, in the stream's own buffer (no caller buffer, so a handler
 * needs no header-sized array on its stack). cap bounds the whole (separator
 * included; 0 = only the stream's limit bounds it). Returns out->len; CR_ELIMIT
 * as readuntil (the data stays; out empty); CR_EINCOMPLETE at EOF first, with
 * out the partial data (possibly empty); other errors as readuntil, out empty;
 * -EBUSY (out untouched) while a view is out. The view is released like
 * read_buf's (cr_stream_release_buf, or cr_stream_write_buf), even after
 * CR_EINCOMPLETE; until then every read* call returns -EBUSY. Suspends. */
CR_API ssize_t cr_stream_readuntil_buf(cr_stream *s, const void *sep, size_t seplen, size_t cap,
                                       cr_buf *out);
/** Gives the view back (b is emptied). 0, or -EINVAL if b is not the stream's
 * current view. An already empty b is a no-op. Never suspends. */
CR_API int cr_stream_release_buf(cr_stream *s, cr_buf *b);
/** write(b->data, b->len) that also releases the view. When nothing else is
 * queued and at most half the loop's buffers are in use, the bytes are sent
 * straight from the provided buffer (no copy), which goes back to the ring
 * once sent; otherwise they are copied like write. b is emptied either way.
 * Never suspends. Returns b->len, or as write (-EINVAL for a b that is not
 * the current view; the view is then left as it was). cr_stream_free
 * releases a view still out: do not touch it afterwards. */
CR_API ssize_t cr_stream_write_buf(cr_stream *s, cr_buf *b);
/** Buffers data for sending (never suspends). Returns len, or the connection's
 * error (e.g. -EPIPE) once sending failed, -ESHUTDOWN after close; -EINVAL if
 * len > SSIZE_MAX, -ENOMEM if the buffer cannot grow (nothing is queued). */
CR_API ssize_t cr_stream_write(cr_stream *s, const void *data, size_t len);
/** Waits until the unsent amount is at most low_water if it exceeded
 * high_water. Suspends. Returns the connection's send error, if any. */
CR_API int cr_stream_drain(cr_stream *s);
/** write_eof: shutdown(SHUT_WR) once buffered data is sent. */
CR_API int cr_stream_write_eof(cr_stream *s);
/** Starts closing: stops reading, sends what is buffered, then closes the fd.
 * Never suspends. Idempotent. */
CR_API void cr_stream_close(cr_stream *s);
/** transport.abort(): drops unsent data, stops reading, closes at once. */
CR_API void cr_stream_abort(cr_stream *s);
/** Suspends until the fd is closed (call cr_stream_close first, or it does). */
CR_API int cr_stream_wait_closed(cr_stream *s);
/** Drops the caller's handle: closes if not yet; memory goes once the kernel
 * has finished with it. NULL is a no-op. */
CR_API void cr_stream_free(cr_stream *s);

/* --------------------------------------------------------------- servers ---- */

/** asyncio.start_server. The handler runs in its own task per connection; the
 * server closes and frees the stream when the handler returns. */
typedef int (*cr_stream_handler)(cr_stream *s, void *arg);
typedef struct cr_server cr_server;
typedef struct cr_server_opts {
    int backlog;               /* 0 = SOMAXCONN */
    size_t stack_size;         /* handler task stacks; 0 = the loop's default */
    unsigned stack_class;      /* CR_STACK_* for handler tasks when stack_size is 0;
                                  0 = the loop's (CR_STACK_LEAN: ~1 KiB per idle
                                  connection's task; see docs/memory.md for its limits) */
    cr_stream_opts stream;     /* per-connection stream options */
    /* Eager start (asyncio 3.12's eager_task_factory on the server's loop):
     * each handler runs at once, until its first suspension, before the
     * server takes the next accepted connection; one that returns without
     * suspending is done (its stream closed) without ever being scheduled.
     * Handlers never run inside completion dispatch: a batch of accepts is
     * started from the loop's ready phase, in accept order. */
    bool eager;
} cr_server_opts;

/** Listens and starts accepting at once (on the running loop, or loop). opts
 * may be NULL. host as cr_listen_tcp: does not suspend unless host is a name
 * to resolve (then only from a task). */
CR_API int cr_start_server(cr_loop *loop, const char *host, int port, cr_stream_handler fn,
                           void *arg, const cr_server_opts *opts, cr_server **out);
CR_API int cr_start_unix_server(cr_loop *loop, const char *path, cr_stream_handler fn,
                                void *arg, const cr_server_opts *opts, cr_server **out);
CR_API int cr_server_port(const cr_server *srv);
/** Live connections (handlers still running). */
CR_API size_t cr_server_connections(const cr_server *srv);
CR_API const cr_acceptor *cr_server_acceptor(const cr_server *srv);
/** Graceful shutdown: stop accepting and close the listener; let handlers run
 * up to `grace` seconds; cancel those still running and wait for them. All
 * their streams are closed. Suspends. Returns the number cancelled. Called
 * from one of srv's own handlers, it neither waits for nor cancels that one
 * (its connection ends when it returns; free the server after that). */
CR_API int cr_server_shutdown(cr_server *srv, double grace);
/** Frees a server after cr_server_shutdown (or never started handlers). -EBUSY
 * if connections are still live or a shutdown is running. NULL: no-op, 0. */
CR_API int cr_server_free(cr_server *srv);

#ifdef __cplusplus
}
#endif

#endif
