/* SPDX-License-Identifier: MIT */
/*
 * Description: subprocesses — a child's output read through its pipe and its
 * exit status; communicate (stdin in, stdout/stderr out); kill/terminate
 * give -signal; waiting is cancellable; freeing an unreaped child leaves no
 * zombie; spawn errors. STREAM pipes as coring streams: readline, a 1 MiB
 * round trip through cat, stderr apart from stdout, a kill or a cancel or a
 * free while reading, communicate over streams, a loop closed before the
 * subprocess is freed, and the getters' errors; no fd leaks. The same again
 * where pidfd_open is refused (seccomp: EPERM, ENOSYS), where a thread per
 * child watches for its exit.
 */
#include "io-helpers.h"
#include "seccomp-helpers.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static cr_subprocess *spawn(const char *const *argv, int in, int out, int err)
{
    cr_subprocess *p;
    cr_subprocess_opts o = {.stdin_mode = in, .stdout_mode = out, .stderr_mode = err};
    int rc = cr_create_subprocess_exec(&p, argv, &o);
    cr_assert_eq(rc, 0, "spawn %s: %s", argv[0], cr_strerror(rc));
    return p;
}

struct tick {
    const char *flag; /* the child writes only once this file exists */
    int ticked;
};

/* Three loop turns, then the file the child waits for: the child's output
 * can only arrive after this task ran, and it can only run if the loop
 * runs while main's read waits. Events, not a race against a timer. */
static int ticker(void *arg, void **r)
{
    (void)r;
    struct tick *tk = arg;
    for (int i = 0; i < 3; i++)
        cr_sleep(0);
    tk->ticked = 1;
    int fd = open(tk->flag, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    return 0;
}

static int read_main(void *arg, void **r)
{
    (void)arg, (void)r;
    struct tick tk = {0};
    char flag[64], script[160];
    snprintf(flag, sizeof flag, "/tmp/coring-tick-%d", (int)getpid());
    unlink(flag);
    tk.flag = flag;
    snprintf(script, sizeof script,
             "while [ ! -e %s ]; do sleep 0.01; done; printf 'hello\\nworld'; exit 3", flag);
    const char *argv[] = {"sh", "-c", script, NULL};
    cr_subprocess *p = spawn(argv, CR_SUBPROCESS_DEVNULL, CR_SUBPROCESS_PIPE, CR_SUBPROCESS_INHERIT);
    cr_assert_gt(cr_subprocess_pid(p), 0);
    cr_assert_eq(cr_subprocess_fd(p, 0), -1);
    cr_task *t = cr_create_task(ticker, &tk); /* the loop runs while we read */
    char buf[64];
    size_t len = 0;
    ssize_t n;
    while ((n = cr_subprocess_read(p, 1, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    cr_assert_eq(n, 0, "EOF");
    buf[len] = 0;
    cr_assert_str_eq(buf, "hello\nworld");
    cr_assert(tk.ticked, "other tasks ran while the read waited");
    int code = -1;
    cr_assert_not(cr_subprocess_returncode(p, &code));
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 3);
    cr_assert(cr_subprocess_returncode(p, &code));
    cr_assert_eq(cr_subprocess_wait(p, &code), 0, "waiting again is fine");
    cr_assert_eq(cr_subprocess_kill(p), -ESRCH, "reaped");
    cr_await(t, NULL);
    cr_future_unref(t);
    cr_assert_eq(cr_subprocess_free(p), 0);
    unlink(flag);
    return 0;
}

/* A child's output is read through its pipe; wait gives its exit status. */
Test(subprocess, read_output_and_exit_status)
{
    RUN_EXPECT(read_main, NULL, 0);
}

static int communicate_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *cat[] = {"cat", NULL};
    cr_subprocess *p = spawn(cat, CR_SUBPROCESS_PIPE, CR_SUBPROCESS_PIPE, CR_SUBPROCESS_PIPE);
    /* bigger than a pipe buffer: writer and reader must run concurrently */
    size_t big = 256 * 1024;
    char *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        in[i] = (char)('a' + i % 26);
    char *out, *err;
    size_t outlen, errlen;
    int code;
    cr_assert_eq(cr_subprocess_communicate(p, in, big, &out, &outlen, &err, &errlen, &code), 0);
    cr_assert_eq(outlen, big);
    cr_assert_eq(memcmp(out, in, big), 0);
    cr_assert_eq(errlen, 0);
    cr_assert_eq(code, 0);
    free(in);
    free(out);
    free(err);
    cr_subprocess_free(p);
    const char *both[] = {"sh", "-c", "echo out; echo err >&2; exit 1", NULL};
    p = spawn(both, CR_SUBPROCESS_DEVNULL, CR_SUBPROCESS_PIPE, CR_SUBPROCESS_STDOUT);
    cr_assert_eq(cr_subprocess_communicate(p, NULL, 0, &out, NULL, NULL, NULL, &code), 0);
    cr_assert_str_eq(out, "out\nerr\n");
    cr_assert_eq(code, 1);
    free(out);
    cr_subprocess_free(p);
    return 0;
}

/* communicate feeds stdin and collects stdout/stderr (stderr may join stdout). */
Test(subprocess, communicate)
{
    RUN_EXPECT(communicate_main, NULL, 0);
}

static int waiter(void *arg, void **r)
{
    (void)r;
    return cr_subprocess_wait(arg, NULL);
}

static int signals_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *sl[] = {"sleep", "10", NULL};
    cr_subprocess *p = spawn(sl, 0, 0, 0);
    cr_task *w = cr_create_task(waiter, p);
    cr_sleep(0); /* exact: the waiter has started and waits (the child sleeps 10 s) */
    cr_assert_eq(cr_subprocess_free(p), -EBUSY, "a task waits on it");
    cr_cancel(w); /* waiting is cancellable; the child is untouched */
    cr_assert_eq(cr_await(w, NULL), -ECANCELED);
    cr_future_unref(w);
    cr_assert_not(cr_subprocess_returncode(p, NULL));
    cr_assert_eq(cr_subprocess_kill(p), 0);
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, -SIGKILL);
    cr_subprocess_free(p);
    p = spawn(sl, 0, 0, 0);
    cr_assert_eq(cr_subprocess_terminate(p), 0);
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, -SIGTERM);
    cr_subprocess_free(p);
    return 0;
}

/* kill/terminate end the child; its returncode is -signal. */
Test(subprocess, kill_terminate_and_cancelled_wait)
{
    RUN_EXPECT(signals_main, NULL, 0);
}

static void free_unwaited_child(void)
{
    const char *sl[] = {"sleep", "10", NULL};
    cr_subprocess *p = spawn(sl, 0, CR_SUBPROCESS_PIPE, 0);
    pid_t pid = cr_subprocess_pid(p);
    cr_assert_eq(cr_subprocess_free(p), 0);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD, "already reaped");
}

/* Freeing a child never waited for kills and reaps it: no zombie. */
Test(subprocess, free_leaves_no_zombie)
{
    free_unwaited_child();
}

static int opts_main(void *arg, void **r)
{
    (void)arg, (void)r;
    char *env[] = {"FOO=bar", NULL};
    const char *argv[] = {"sh", "-c", "pwd; echo $FOO", NULL};
    cr_subprocess_opts o = {.stdout_mode = CR_SUBPROCESS_PIPE, .cwd = "/", .envp = env};
    cr_subprocess *p;
    cr_assert_eq(cr_create_subprocess_exec(&p, argv, &o), 0);
    char *out;
    int code;
    cr_assert_eq(cr_subprocess_communicate(p, NULL, 0, &out, NULL, NULL, NULL, &code), 0);
    cr_assert_str_eq(out, "/\nbar\n");
    cr_assert_eq(code, 0);
    free(out);
    cr_assert_eq(cr_subprocess_read(p, 1, (char[4]){0}, 4), 0, "EOF stays EOF");
    cr_assert_eq(cr_subprocess_close_pipe(p, 1), 0);
    cr_assert_eq(cr_subprocess_read(p, 1, (char[4]){0}, 4), -EBADF);
    cr_assert_eq(cr_subprocess_write(p, "x", 1), -EBADF, "no stdin pipe");
    cr_subprocess_free(p);
    return 0;
}

/* cwd and envp reach the child; closed pipes read -EBADF. */
Test(subprocess, cwd_env_and_closed_pipes)
{
    RUN_EXPECT(opts_main, NULL, 0);
}

/* Spawn errors: a missing program, bad arguments, bad modes. */
Test(subprocess, spawn_errors)
{
    cr_subprocess *p;
    const char *nope[] = {"/nonexistent/prog", NULL};
    cr_assert_eq(cr_create_subprocess_exec(&p, nope, NULL), -ENOENT);
    cr_assert_null(p);
    const char *empty[] = {NULL};
    cr_assert_eq(cr_create_subprocess_exec(&p, empty, NULL), -EINVAL);
    cr_assert_eq(cr_create_subprocess_exec(NULL, nope, NULL), -EINVAL);
    const char *t[] = {"true", NULL};
    cr_subprocess_opts o = {.stdout_mode = CR_SUBPROCESS_STDOUT};
    cr_assert_eq(cr_create_subprocess_exec(&p, t, &o), -EINVAL);
    cr_assert_eq(cr_subprocess_wait(NULL, NULL), -EINVAL);
    cr_assert_eq(cr_subprocess_free(NULL), 0);
}

/* ------------------------------------------------------ STREAM pipes ---- */

static int readline_main(void *arg, void **r)
{
    (void)arg, (void)r;
    int fds = count_fds();
    const char *argv[] = {"printf", "a\\nb\\nno newline", NULL};
    cr_subprocess *p = spawn(argv, CR_SUBPROCESS_DEVNULL, CR_SUBPROCESS_STREAM, 0);
    cr_stream *out = cr_subprocess_stdout(p);
    cr_assert_not_null(out);
    cr_assert_eq(cr_subprocess_stdout(p), out, "one stream per pipe");
    cr_assert_null(cr_subprocess_stdin(p), "DEVNULL has no stream");
    char line[64];
    ssize_t n = cr_stream_readline(out, line, sizeof line);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(line, "a\n", 2), 0);
    n = cr_stream_readline(out, line, sizeof line);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(line, "b\n", 2), 0);
    n = cr_stream_readline(out, line, sizeof line);
    cr_assert_eq(n, 10, "EOF hands back the unterminated rest");
    cr_assert_eq(memcmp(line, "no newline", 10), 0);
    cr_assert_eq(cr_stream_readline(out, line, sizeof line), 0, "then EOF");
    cr_assert(cr_stream_at_eof(out));
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 0);
    cr_assert_eq(cr_subprocess_free(p), 0);
    cr_assert_eq(count_fds(), fds, "no fd leaked");
    return 0;
}

/* readline over a child's stdout stream, line by line, then EOF. */
Test(subprocess, stream_readline)
{
    RUN_EXPECT(readline_main, NULL, 0);
}

#define BIG (1024 * 1024)

static int feeder(void *arg, void **r)
{
    (void)r;
    cr_stream *in = arg;
    char chunk[8192];
    for (size_t off = 0; off < BIG; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (char)((off + i) * 7 % 251);
        cr_assert_eq(cr_stream_write(in, chunk, sizeof chunk), (ssize_t)sizeof chunk);
        int rc = cr_stream_drain(in); /* flow control: cat echoes as we write */
        if (rc < 0)
            return rc;
    }
    return cr_stream_write_eof(in);
}

static int roundtrip_main(void *arg, void **r)
{
    (void)arg, (void)r;
    int fds = count_fds();
    const char *cat[] = {"cat", NULL};
    cr_subprocess *p = spawn(cat, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_STREAM, 0);
    cr_stream *in = cr_subprocess_stdin(p), *out = cr_subprocess_stdout(p);
    cr_assert(in && out && in != out);
    cr_task *t = cr_create_task(feeder, in);
    char *got = malloc(BIG);
    size_t have;
    cr_assert_eq(cr_stream_readexactly(out, got, BIG, &have), BIG);
    for (size_t i = 0; i < BIG; i++)
        if (got[i] != (char)(i * 7 % 251))
            cr_assert_fail("byte %zu differs", i);
    cr_assert_eq(cr_stream_read(out, got, 16), 0, "cat saw write_eof and ended");
    cr_assert_eq(cr_await(t, NULL), 0);
    cr_future_unref(t);
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 0);
    free(got);
    cr_assert_eq(cr_subprocess_free(p), 0);
    cr_assert_eq(count_fds(), fds, "no fd leaked");
    return 0;
}

/* 1 MiB through cat: write + drain + write_eof into stdin, read it back. */
Test(subprocess, stream_cat_roundtrip_1mib)
{
    RUN_EXPECT(roundtrip_main, NULL, 0);
}

static int stderr_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo more >&2", NULL};
    cr_subprocess *p = spawn(argv, 0, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_STREAM);
    char line[64];
    cr_stream *err = cr_subprocess_stderr(p);
    cr_assert_eq(cr_stream_readline(err, line, sizeof line), 4);
    cr_assert_eq(memcmp(line, "err\n", 4), 0);
    cr_assert_eq(cr_stream_readline(cr_subprocess_stdout(p), line, sizeof line), 4);
    cr_assert_eq(memcmp(line, "out\n", 4), 0);
    /* the raw call reads through the stream: nothing is lost around it */
    char buf[64];
    size_t len = 0;
    ssize_t n;
    while ((n = cr_subprocess_read(p, 2, buf + len, sizeof buf - len)) > 0)
        len += (size_t)n;
    cr_assert_eq(n, 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(buf, "more\n", 5), 0);
    cr_assert_eq(cr_stream_readline(cr_subprocess_stdout(p), line, sizeof line), 0);
    cr_assert_eq(cr_subprocess_wait(p, NULL), 0);
    cr_subprocess_free(p);
    return 0;
}

/* stderr is its own stream, apart from stdout; raw reads go through it. */
Test(subprocess, stream_stderr_separate)
{
    RUN_EXPECT(stderr_main, NULL, 0);
}

static int line_reader(void *arg, void **r)
{
    (void)r;
    char line[64];
    return (int)cr_stream_readline(arg, line, sizeof line);
}

static int kill_main(void *arg, void **r)
{
    (void)arg, (void)r;
    int fds = count_fds();
    const char *sl[] = {"sleep", "10", NULL};
    /* a kill while a task reads: the child's end closes, the reader sees EOF */
    cr_subprocess *p = spawn(sl, 0, CR_SUBPROCESS_STREAM, 0);
    cr_task *t = cr_create_task(line_reader, cr_subprocess_stdout(p));
    cr_sleep(0); /* it runs until it parks */
    cr_assert_not(cr_future_done(t), "parked in readline");
    cr_assert_eq(cr_subprocess_kill(p), 0);
    cr_assert_eq(cr_await(t, NULL), 0, "EOF, nothing read");
    cr_future_unref(t);
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, -SIGKILL);
    cr_subprocess_free(p);
    /* a cancel while reading: -ECANCELED */
    p = spawn(sl, 0, CR_SUBPROCESS_STREAM, 0);
    t = cr_create_task(line_reader, cr_subprocess_stdout(p));
    cr_sleep(0); /* it runs until it parks */
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    /* a free while a task reads the stream: it wakes with -ESHUTDOWN */
    t = cr_create_task(line_reader, cr_subprocess_stdout(p));
    cr_sleep(0); /* it runs until it parks */
    cr_assert_eq(cr_subprocess_free(p), 0, "no raw call is in progress");
    cr_assert_eq(cr_await(t, NULL), -ESHUTDOWN);
    cr_future_unref(t);
    cr_assert_eq(count_fds(), fds, "no fd leaked");
    return 0;
}

/* kill, cancel or free while a task reads a child's stream. */
Test(subprocess, stream_kill_cancel_free_while_reading)
{
    RUN_EXPECT(kill_main, NULL, 0);
}

static int raw_reader(void *arg, void **r)
{
    (void)r;
    char c;
    return (int)cr_subprocess_read(arg, 1, &c, 1);
}

static int communicate_stream_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *cat[] = {"sh", "-c", "cat; echo bye >&2", NULL};
    cr_subprocess *p = spawn(cat, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_STREAM,
                             CR_SUBPROCESS_STREAM);
    cr_assert_eq(cr_stream_write(cr_subprocess_stdin(p), "first\n", 6), 6);
    char line[16];
    cr_assert_eq(cr_stream_readline(cr_subprocess_stdout(p), line, sizeof line), 6);
    /* a raw reader keeps p busy: free refuses */
    cr_task *t = cr_create_task(raw_reader, p);
    cr_sleep(0); /* it runs until it parks */
    cr_assert_eq(cr_subprocess_free(p), -EBUSY);
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    char *out, *err;
    size_t outlen, errlen;
    int code;
    cr_assert_eq(cr_subprocess_communicate(p, "rest\n", 5, &out, &outlen, &err, &errlen, &code), 0);
    cr_assert_str_eq(out, "rest\n");
    cr_assert_eq(outlen, 5);
    cr_assert_str_eq(err, "bye\n");
    cr_assert_eq(code, 0);
    free(out);
    free(err);
    cr_assert_eq(cr_stream_write(cr_subprocess_stdin(p), "x", 1), -ESHUTDOWN, "stdin closed");
    cr_subprocess_free(p);
    /* a child that never reads its stdin: communicate ignores the broken pipe,
     * and no SIGPIPE kills us */
    const char *tr[] = {"true", NULL};
    p = spawn(tr, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_STREAM, 0);
    cr_assert_eq(cr_subprocess_wait(p, NULL), 0);
    size_t big = 4 * 1024 * 1024;
    char *in = calloc(1, big);
    cr_assert_eq(cr_subprocess_communicate(p, in, big, &out, &outlen, NULL, NULL, &code), 0);
    cr_assert_eq(outlen, 0);
    free(out);
    cr_subprocess_free(p);
    p = spawn(tr, CR_SUBPROCESS_STREAM, 0, 0);
    cr_assert_eq(cr_subprocess_wait(p, NULL), 0);
    ssize_t n = cr_subprocess_write(p, in, big);
    cr_assert(n == -EPIPE || n == -ECONNRESET, "write to a dead child: %zd", n);
    free(in);
    cr_subprocess_free(p);
    return 0;
}

/* communicate over STREAM pipes keeps what the streams already hold; a dead
 * child's stdin is -EPIPE, never SIGPIPE. */
Test(subprocess, stream_communicate_and_epipe)
{
    RUN_EXPECT(communicate_stream_main, NULL, 0);
}

static int outlive_main(void *arg, void **r)
{
    (void)r;
    cr_subprocess *p = arg;
    char line[16];
    cr_assert_eq(cr_stream_readline(cr_subprocess_stdout(p), line, sizeof line), 3);
    return 0; /* not freed: the loop closes first */
}

/* A subprocess outlives the loop its streams were made on: free is safe after. */
Test(subprocess, stream_outlives_its_loop)
{
    int fds = count_fds();
    const char *argv[] = {"sh", "-c", "echo hi; exec sleep 10", NULL};
    cr_subprocess *p = spawn(argv, 0, CR_SUBPROCESS_STREAM, 0);
    RUN_EXPECT(outlive_main, p, 0);
    cr_assert_eq(cr_subprocess_fd(p, 1), -1, "the loop's close took the stream");
    cr_assert_eq(cr_subprocess_read(p, 1, (char[4]){0}, 4), -EBADF);
    cr_assert_eq(cr_subprocess_free(p), 0);
    cr_assert_eq(count_fds(), fds, "no fd leaked");
}

static int getters_main(void *arg, void **r)
{
    (void)r;
    cr_subprocess *p = arg;
    cr_stream *s = (cr_stream *)1;
    cr_assert_eq(cr_subprocess_stream(p, 1, &s), -ENOTSOCK, "an OS pipe");
    cr_assert_null(s);
    cr_assert_eq(cr_subprocess_stream(p, 2, &s), -EBADF, "inherited");
    cr_assert_eq(cr_subprocess_stream(p, 3, &s), -EINVAL);
    cr_assert_eq(cr_subprocess_stream(NULL, 0, &s), -EINVAL);
    cr_assert_eq(cr_subprocess_stream(p, 0, NULL), -EINVAL);
    cr_stream *in = cr_subprocess_stdin(p);
    cr_assert_not_null(in);
    cr_assert_eq(cr_subprocess_close_pipe(p, 0), 0);
    cr_assert_eq(cr_subprocess_stdin(p), in, "still the same (closed) stream");
    cr_assert_eq(cr_subprocess_close_pipe(p, 0), -EBADF);
    cr_assert_eq(cr_subprocess_write(p, "x", 1), -EBADF);
    return 0;
}

/* The getters' errors: not a STREAM pipe, no loop, bad arguments, closed. */
Test(subprocess, stream_getter_errors)
{
    const char *cat[] = {"cat", NULL};
    cr_subprocess *p = spawn(cat, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_PIPE, 0);
    cr_stream *s;
    cr_assert_eq(cr_subprocess_stream(p, 0, &s), -EPERM, "no running loop");
    cr_assert_null(cr_subprocess_stdin(p));
    RUN_EXPECT(getters_main, p, 0);
    /* stdin closed before any stream: -EBADF */
    cr_subprocess_free(p);
    p = spawn(cat, CR_SUBPROCESS_STREAM, CR_SUBPROCESS_STREAM, 0);
    cr_assert_eq(cr_subprocess_close_pipe(p, 0), 0);
    cr_assert_eq(cr_subprocess_stream(p, 0, &s), -EBADF);
    cr_assert_eq(cr_subprocess_free(p), 0);
}

static int shell_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_subprocess *p;
    cr_subprocess_opts o = {.stdin_mode = CR_SUBPROCESS_STREAM, .stdout_mode = CR_SUBPROCESS_STREAM};
    cr_assert_eq(cr_create_subprocess_shell(&p, "read x; echo $((x * 2)); exit 4", &o), 0);
    cr_assert_eq(cr_stream_write(cr_subprocess_stdin(p), "21\n", 3), 3);
    char line[16];
    cr_assert_eq(cr_stream_readline(cr_subprocess_stdout(p), line, sizeof line), 3);
    cr_assert_eq(memcmp(line, "42\n", 3), 0);
    int code;
    cr_assert_eq(cr_subprocess_wait(p, &code), 0);
    cr_assert_eq(code, 4);
    cr_subprocess_free(p);
    cr_assert_eq(cr_create_subprocess_shell(&p, NULL, NULL), -EINVAL);
    cr_assert_null(p);
    cr_assert_eq(cr_create_subprocess_shell(NULL, "true", NULL), -EINVAL);
    return 0;
}

/* create_subprocess_shell runs the command through /bin/sh -c. */
Test(subprocess, shell)
{
    RUN_EXPECT(shell_main, NULL, 0);
}

/* ---- without pidfd: a container profile that refuses it (older Docker
 * defaults answered EPERM), or a kernel or sandbox without it (ENOSYS) ---- */

/* This test's worker refuses pidfd_open and pidfd_send_signal from here on. */
static void refuse_pidfd(int err)
{
    const long nrs[] = {__NR_pidfd_open, __NR_pidfd_send_signal};
    cr_assert_eq(seccomp_refuse(err, nrs, 2), 0);
    cr_assert_eq(syscall(__NR_pidfd_open, getpid(), 0), -1);
    cr_assert_eq(errno, err, "the filter is in force");
}

static void on_usr1(int sig, void *arg)
{
    (void)sig;
    cr_event_set(arg);
}

/* A process signal sent while a watcher thread waits reaches the loop's
 * handler: the thread blocks every signal. (It is made before the handler
 * blocks SIGUSR1 here; had it kept that mask, the kernel would hand it the
 * signal, whose default action ends the process.) */
static int signal_beside_a_watcher_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *sl[] = {"sleep", "10", NULL};
    cr_subprocess *p = spawn(sl, 0, 0, 0);
    cr_loop *l = cr_get_running_loop(NULL);
    cr_event *ev = cr_event_new();
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, on_usr1, ev), 0);
    cr_assert_eq(kill(getpid(), SIGUSR1), 0);
    cr_assert_eq(cr_event_wait(ev), 0);
    cr_assert_eq(cr_remove_signal_handler(l, SIGUSR1), 0);
    cr_event_free(ev);
    cr_assert_eq(cr_subprocess_free(p), 0);
    return 0;
}

/* Everything a subprocess offers still works: output and exit status,
 * communicate, kill and terminate, a cancelled wait, a kill, a cancel or a
 * free while a task reads its stream (no fd left behind), the shell, a
 * process signal beside the watcher; and a child freed unwaited is reaped. */
static void subprocesses_without_pidfd(int err)
{
    refuse_pidfd(err);
    RUN_EXPECT(read_main, NULL, 0);
    RUN_EXPECT(communicate_main, NULL, 0);
    RUN_EXPECT(signals_main, NULL, 0);
    RUN_EXPECT(kill_main, NULL, 0);
    RUN_EXPECT(shell_main, NULL, 0);
    RUN_EXPECT(signal_beside_a_watcher_main, NULL, 0);
    free_unwaited_child();
}

Test(subprocess, without_pidfd_eperm)
{
    subprocesses_without_pidfd(EPERM);
}

Test(subprocess, without_pidfd_enosys)
{
    subprocesses_without_pidfd(ENOSYS);
}
