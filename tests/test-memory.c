/* SPDX-License-Identifier: MIT */
/*
 * Description: where a task's bytes live (docs/memory.md) — a lean task's
 * struct at the top of its own slot, the stack classes (lean, 8K, 16K, 64K, the
 * loop's default class), a task struct that outlives its stack's loop, and
 * the lean class's canary: an overflow is reported by task name and aborts.
 * Behaviour only: how many pages a task costs is measured by
 * bench/sleepers.c, not asserted here.
 */
#include "helpers.h"
#include "core/internal.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#endif

/* Where the running task's struct and stack are (read on the loop stack
 * afterwards: lean bodies stay shallow, no criterion asserts inside). */
struct where {
    char *task, *lo, *hi, *frame;
    size_t size;
    bool lean;
};

static int note_where(void *arg, void **result)
{
    (void)result;
    struct where *w = arg;
    cr__task *t = cr__current();
    volatile char here;
    w->task = (char *)t;
    w->lo = t->stack.lo;
    w->hi = cr__stack_hi(&t->stack);
    w->size = t->stack.size;
    w->lean = t->in_stack;
    w->frame = (char *)&here;
    return cr_sleep(0.001); /* parks and resumes: the canary is checked both ways */
}

static void run_in_class(cr_loop *l, unsigned cls, struct where *w)
{
    cr_task_opts o = {.name = "where", .stack_class = cls};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, note_where, w, &o, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    cr_future_unref(t);
}

/* A lean task's struct sits at the top of its own slot and its frames start
 * below it; a default task's struct is a heap object (a created or finished
 * task must not hold a stack page: docs/memory.md). */
Test(memory, lean_struct_lives_at_the_top_of_its_slot)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    struct where w = {0};
    run_in_class(l, CR_STACK_DEFAULT, &w);
    cr_assert_eq(w.size, 64 * 1024);
    cr_assert(!w.lean && (w.task < w.lo || w.task >= w.hi), "a default task's struct is not in its stack");
#ifndef SANITIZED
    run_in_class(l, CR_STACK_LEAN, &w);
    cr_assert(w.lean);
    cr_assert(w.task > w.lo && w.task + sizeof(cr__task) <= w.hi, "struct inside the slot");
    cr_assert_lt(w.hi - w.task, 512, "at the top");
    cr_assert(w.frame < w.task && w.frame > w.lo, "frames below the struct");
#endif
    cr_assert_eq(cr_loop_free(l), 0);
}

/* Each class gives the size it names; sizes equal to a class's share it. */
Test(memory, stack_classes_give_their_sizes)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    struct { unsigned cls; size_t size; } want[] = {
        {CR_STACK_8K, 8 * 1024}, {CR_STACK_16K, 16 * 1024}, {CR_STACK_64K, 64 * 1024},
#ifdef SANITIZED
        {CR_STACK_LEAN, 16 * 1024},
#else
        {CR_STACK_LEAN, 1024},
#endif
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        struct where w = {0};
        run_in_class(l, want[i].cls, &w);
        cr_assert_eq(w.size, want[i].size, "class %u", want[i].cls);
#ifndef SANITIZED
        cr_assert_eq(w.lean, want[i].cls == CR_STACK_LEAN);
#endif
    }
    cr_assert_eq(cr_loop_free(l), 0);
}

static int __attribute__((noinline)) use_stack(size_t bytes)
{
    volatile char buf[bytes];
    for (size_t i = 0; i < bytes; i += 256)
        buf[i] = (char)i;
    buf[0] = 0;
    buf[bytes - 1] = 0;
    return buf[bytes - 1] + buf[0];
}

static int use_6k(void *arg, void **result)
{
    (void)arg;
    (void)result;
#ifdef SANITIZED
    return use_stack(3 * 1024); /* ASan's redzones and lazy binding's xsave area take the rest */
#else
    return use_stack(6 * 1024);
#endif
}

/* An 8K task can use most of its 8 KiB. */
Test(memory, small_class_stack_is_usable)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task_opts o = {.stack_class = CR_STACK_8K};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, use_6k, NULL, &o, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    cr_future_unref(t);
    cr_assert_eq(cr_loop_free(l), 0);
}

static int lean_wait(void *arg, void **result)
{
    (void)result;
    cr_event *ev = arg;
    int rc = cr_sleep(0.001);
    return rc < 0 ? rc : cr_event_wait(ev);
}

struct crowd {
    size_t n;
    int rc;
};

static int lean_crowd(void *arg, void **result)
{
    (void)result;
    struct crowd *c = arg;
    cr_event *ev = cr_event_new();
    cr_task **ts = calloc(c->n, sizeof *ts);
    cr_task_opts o = {.stack_class = CR_STACK_LEAN};
    for (size_t i = 0; i < c->n; i++)
        cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), lean_wait, ev, &o, &ts[i]), 0);
    cr_assert_eq(cr_sleep(0.01), 0); /* every one slept, and now waits on ev */
    cr_assert_eq(cr_all_tasks(NULL, NULL, 0), c->n + 1);
    cr_event_set(ev);
    c->rc = cr_gather(ts, c->n, NULL, NULL, 0);
    for (size_t i = 0; i < c->n; i++)
        cr_future_unref(ts[i]);
    free(ts);
    cr_event_free(ev);
    return 0;
}

/* 10,000 lean tasks sleep, park on an event and finish. */
Test(memory, lean_tasks_sleep_and_wait)
{
#if defined(__SANITIZE_THREAD__)
    struct crowd c = {.n = 2000}; /* TSan: a fiber each, capped at 8128 */
#else
    struct crowd c = {.n = 10000};
#endif
    RUN_EXPECT(lean_crowd, &c, 0);
    cr_assert_eq(c.rc, 0);
}

/* The loop's stack_class applies to tasks that ask for none. */
Test(memory, loop_default_class)
{
    cr_loop *l;
    cr_loop_opts lo = {.stack_class = CR_STACK_16K};
    cr_assert_eq(cr_loop_new(&l, &lo), 0);
    struct where w = {0};
    run_in_class(l, CR_STACK_DEFAULT, &w);
    cr_assert_eq(w.size, 16 * 1024);
    run_in_class(l, CR_STACK_64K, &w);
    cr_assert_eq(w.size, 64 * 1024, "a task's own class wins");
    cr_assert_eq(cr_loop_free(l), 0);
}

static int answer(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* A finished task still referenced keeps its struct (and stack) while later
 * tasks come and go, and after its loop is freed; the last unref frees it. */
Test(memory, task_outlives_its_loop)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    enum { N = 300 };
    cr_task *kept[N], *pending;
    for (int i = 0; i < N; i++) {
        cr_task_opts o = {.name = i % 2 ? "odd" : "even",
                          .stack_class = i % 3 == 0 ? CR_STACK_LEAN : CR_STACK_DEFAULT};
        cr_assert_eq(cr_loop_create_task(l, answer, IPTR(i), &o, &kept[i]), 0);
    }
    cr_assert_eq(cr_loop_run_until_complete(l, kept[N - 1], NULL), 0);
    for (int i = 0; i < 50; i++) { /* churn: reuse every freed stack */
        cr_task *t;
        cr_assert_eq(cr_loop_create_task(l, answer, IPTR(-1), NULL, &t), 0);
        cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
        cr_future_unref(t);
    }
    cr_assert_eq(cr_loop_create_task(l, answer, NULL, NULL, &pending), 0); /* never runs */
    cr_assert_eq(cr_loop_free(l), 0);
    for (int i = 0; i < N; i++) {
        void *v;
        cr_assert_eq(cr_future_result(kept[i], &v), 0);
        cr_assert_eq(PINT(v), i);
        cr_assert_str_eq(cr_task_get_name(kept[i]), i % 2 ? "odd" : "even");
        cr_future_unref(kept[i]);
    }
    cr_assert(cr_future_cancelled(pending));
    cr_future_unref(pending);
}

static int taskmem_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    enum { N = 9000 }; /* three blocks of 4,095 slots */
    cr_task **t = malloc(N * sizeof *t);
    cr_assert_not_null(t);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(cr_loop_create_task(l, answer, IPTR(i), NULL, &t[i]), 0);
#ifndef __SANITIZE_ADDRESS__
        cr_assert_eq((uintptr_t)t[i] % 64, 0, "task %d: its hot fields are one line", i);
#endif
    }
    for (int i = 0; i < N; i++) {
        void *v;
        cr_assert_eq(cr_await(t[i], &v), 0);
        cr_assert_eq(PINT(v), i);
        cr_future_unref(t[i]);
    }
#ifndef __SANITIZE_ADDRESS__
    /* Only the block holding this (running) task is left. */
    cr_assert_eq(l->tasks.mem.nblocks, 1);
#endif
    free(t);
    return 0;
}

/* Heap task structs sit in 64-byte aligned slots (a wake, a run and a park
 * touch one cache line of a task), and a burst's blocks go back to the
 * kernel once its tasks are gone. Under ASan they are plain malloc'd. */
Test(memory, heap_tasks_are_line_aligned_and_their_blocks_go_back)
{
    RUN_EXPECT(taskmem_main, NULL, 0);
}

/* ---- a server's connection tasks in a class of its own ---- */

static struct where conn_where;

/* Notes where it runs, then answers one line (readline and a write fit a lean slot). */
static int lean_conn_handler(cr_stream *s, void *arg)
{
    (void)arg;
    cr__task *t = cr__current();
    conn_where.task = (char *)t;
    conn_where.size = t->stack.size;
    conn_where.lean = t->in_stack;
    char line[64];
    ssize_t n = cr_stream_readline(s, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPIPE;
    ssize_t w = cr_stream_write(s, line, (size_t)n);
    return w < 0 ? (int)w : cr_stream_drain(s);
}

static int server_class_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* The first call of a libc function through a lazily bound PLT slot runs
     * the dynamic linker's resolver, which saves the whole extended register
     * state on the caller's stack (~2.7 KiB with AVX-512): more than a lean
     * slot. Programs with lean tasks link with -z now or, as here, make the
     * first call on a full stack (docs/memory.md). */
    const char *volatile hay = "ab\n"; /* volatile: the calls are made, not folded */
    volatile size_t len = 2;
    volatile size_t pre = (size_t)memchr(hay, '\n', len) + (size_t)memcmp(hay, hay + 1, len);
    (void)pre;
    cr_server *srv;
    cr_server_opts bad = {.stack_class = CR_STACK_64K + 1};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, lean_conn_handler, NULL, &bad, &srv), -EINVAL);
    cr_assert_null(srv);
    cr_server_opts o = {.stack_class = CR_STACK_LEAN};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, lean_conn_handler, NULL, &o, &srv), 0);
    cr_stream *c;
    cr_assert_eq(cr_open_connection("127.0.0.1", cr_server_port(srv), NULL, 5.0, &c), 0);
    cr_assert_eq(cr_stream_write(c, "hi\n", 3), 3);
    char buf[16];
    cr_assert_eq(cr_stream_readline(c, buf, sizeof buf), 3);
    cr_assert_eq(memcmp(buf, "hi\n", 3), 0);
    cr_stream_close(c);
    cr_stream_free(c);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* cr_server_opts.stack_class gives the handler tasks that class (lean: about
 * a quarter page per idle connection) while the loop's other tasks keep
 * theirs; a class that does not exist is -EINVAL before anything listens. */
Test(memory, server_handlers_take_the_servers_stack_class)
{
    memset(&conn_where, 0, sizeof conn_where);
    RUN_EXPECT(server_class_main, NULL, 0);
#ifdef SANITIZED
    cr_assert_eq(conn_where.size, 16 * 1024);
#else
    cr_assert_eq(conn_where.size, 1024);
    cr_assert(conn_where.lean);
#endif
}

/* ---- the lean canary ---- */

static int __attribute__((noinline, unused)) deep(int n)
{
    volatile char pad[256];
    for (int i = 0; i < 256; i++) /* every byte: a canary only sees what is written */
        pad[i] = (char)n;
    return n ? deep(n - 1) + pad[0] : pad[255];
}

static __attribute__((unused)) int lean_overflow(void *arg, void **result)
{
    (void)arg;
    (void)result;
    deep(8); /* ~2.5 KiB: past the slot's ~700 bytes */
    return cr_sleep(0); /* the park's check reports it */
}

static __attribute__((unused)) int overflow_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task_opts o = {.name = "lean-deep", .stack_class = CR_STACK_LEAN};
    cr_task *ts[8];
    /* Neighbours on both sides, so the overflow lands in a live slot. */
    for (int i = 0; i < 8; i++)
        cr_loop_create_task(cr_get_running_loop(NULL), i == 4 ? lean_overflow : answer, NULL,
                            i == 4 ? &o : &(cr_task_opts){.stack_class = CR_STACK_LEAN},
                            &ts[i]);
    return cr_gather(ts, 8, NULL, NULL, 0);
}

/* A lean task that overflows its slot is reported by name (one stderr line)
 * and the process aborts, in a forked child. */
Test(memory, lean_overflow_is_reported_by_name)
{
#ifdef SANITIZED
    cr_skip_test("ASan/TSan give lean tasks a guarded stack (their frames are far larger)");
#else
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        cr_run(overflow_main, NULL, NULL);
        _exit(0); /* not reached */
    }
    close(fds[1]);
    char out[1024];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof out && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "child status %#x, stderr: %s", status, out);
    cr_assert_eq(WTERMSIG(status), SIGABRT, "stderr: %s", out);
    cr_assert(strstr(out, "stack overflow in task 'lean-deep'"), "stderr: %s", out);
    /* This test binary is linked without -z now: the line names it as the
     * likely cause (bindcheck.c). */
    cr_assert(strstr(out, "or bind symbols at load: the main program binds lazily"), "stderr: %s", out);
    char *nl = strchr(out, '\n');
    cr_assert(nl && nl[1] == 0, "exactly one line: %s", out);
#endif
}

#ifndef SANITIZED
static int lean_nop(void *arg, void **result)
{
    (void)result;
    return arg ? cr_await(arg, NULL) : 0; /* arg: park on it */
}

struct burst {
    cr_future *hold; /* one lean task parks on it and stays live */
    cr_task *holder;
};

static int lean_burst(void *arg, void **result)
{
    (void)result;
    struct burst *b = arg;
    enum { N = 6000 }; /* two slabs of 4,096 slots */
    static cr_task *ts[N];
    cr_task_opts o = {.stack_class = CR_STACK_LEAN};
    for (int i = 0; i < N; i++)
        cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), lean_nop, NULL, &o, &ts[i]), 0);
    cr_assert_eq(cr_gather((cr_future *const *)ts, N, NULL, NULL, 0), 0);
    for (int i = 0; i < N; i++)
        cr_future_unref(ts[i]);
    if (b->hold) {
        cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), lean_nop, b->hold, &o, &b->holder), 0);
        while (cr__as_task(b->holder)->state != CR__T_PARKED)
            cr_assert_eq(cr_sleep(0), 0);
    }
    return 0;
}
#endif

/* A lean burst's slabs go back to the kernel whole once no slot of them was
 * live or handed out for a whole trim period (docs/memory.md); a slab with
 * a live task keeps its pages; given-back slots serve again (their canary is
 * written at every get). The trim is driven with explicit times. */
Test(memory, idle_lean_slabs_are_given_back)
{
#ifndef SANITIZED
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    struct burst b = {0};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, lean_burst, &b, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    cr_future_unref(t);
    cr_assert_geq(cr__stack_lean_resident_slabs(l), 2);
    const int64_t P = 100000000; /* the trim period */
    int64_t now = l->stacks.next_trim + 1;
    for (int i = 0; i < 3; i++, now += P + 1) /* used in the first period at most */
        cr__stack_trim(l, now);
    cr_assert_eq(cr__stack_lean_resident_slabs(l), 0, "every idle lean slab went back");
    /* Again, with one task left parked: its slab stays, the others go. */
    b.hold = cr_future_new(l);
    cr_assert_not_null(b.hold);
    cr_assert_eq(cr_loop_create_task(l, lean_burst, &b, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0, "given-back slots ran tasks");
    cr_future_unref(t);
    now = l->stacks.next_trim + 1;
    for (int i = 0; i < 3; i++, now += P + 1)
        cr__stack_trim(l, now);
    cr_assert_eq(cr__stack_lean_resident_slabs(l), 1, "the live task's slab stays");
    cr_assert_eq(cr_future_set_result(b.hold, NULL), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, b.holder, NULL), 0);
    cr_future_unref(b.holder);
    cr_future_unref(b.hold);
    cr_assert_eq(cr_loop_free(l), 0);
#endif
}
