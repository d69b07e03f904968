/*
 * Description: subprocesses — a child's output read through its pipe and its
 * exit status; communicate (stdin in, stdout/stderr out); kill/terminate
 * give -signal; waiting is cancellable; freeing an unreaped child leaves no
 * zombie; spawn errors.
 */
#include "helpers.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

static cr_subprocess *spawn(const char *const *argv, int in, int out, int err)
{
    cr_subprocess *p;
    cr_subprocess_opts o = {.stdin_mode = in, .stdout_mode = out, .stderr_mode = err};
    int rc = cr_create_subprocess_exec(&p, argv, &o);
    cr_assert_eq(rc, 0, "spawn %s: %s", argv[0], cr_strerror(rc));
    return p;
}

static int ticker(void *arg, void **r)
{
    (void)r;
    for (int i = 0; i < 3; i++)
        cr_sleep(0.001);
    *(int *)arg = 1;
    return 0;
}

static int read_main(void *arg, void **r)
{
    (void)arg, (void)r;
    const char *argv[] = {"sh", "-c", "sleep 0.02; printf 'hello\\nworld'; exit 3", NULL};
    cr_subprocess *p = spawn(argv, CR_SUBPROCESS_DEVNULL, CR_SUBPROCESS_PIPE, CR_SUBPROCESS_INHERIT);
    cr_assert_gt(cr_subprocess_pid(p), 0);
    cr_assert_eq(cr_subprocess_fd(p, 0), -1);
    int ticked = 0;
    cr_task *t = cr_create_task(ticker, &ticked); /* the loop runs while we read */
    char buf[64];
    size_t len = 0;
    ssize_t n;
    while ((n = cr_subprocess_read(p, 1, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    cr_assert_eq(n, 0, "EOF");
    buf[len] = 0;
    cr_assert_str_eq(buf, "hello\nworld");
    cr_assert(ticked, "other tasks ran while the read waited");
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
    cr_sleep(0.005);
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

/* Freeing a child never waited for kills and reaps it: no zombie. */
Test(subprocess, free_leaves_no_zombie)
{
    const char *sl[] = {"sleep", "10", NULL};
    cr_subprocess *p = spawn(sl, 0, CR_SUBPROCESS_PIPE, 0);
    pid_t pid = cr_subprocess_pid(p);
    cr_assert_eq(cr_subprocess_free(p), 0);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD, "already reaped");
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
