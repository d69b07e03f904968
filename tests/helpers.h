/* SPDX-License-Identifier: MIT */
/*
 * helpers.h — shared by the Criterion suites: an event log to assert
 * orderings, and a runner that checks the loop closes clean.
 */
#ifndef CORING_TEST_HELPERS_H
#define CORING_TEST_HELPERS_H

#include <coring.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Append "what" to a space-separated log; compare with cr_assert_str_eq. */
typedef struct tlog {
    char buf[4096];
} tlog;

static inline void tlog_add(tlog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static inline void tlog_add(tlog *l, const char *fmt, ...)
{
    size_t n = strlen(l->buf);
    if (n && n < sizeof l->buf - 1)
        l->buf[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->buf + n, sizeof l->buf - n, fmt, ap);
    va_end(ap);
}

#define LOG_EQ(l, s) cr_assert_str_eq((l)->buf, (s))
/* LOG_EQ against a printf-formatted expectation (for errno values). */
#define LOG_EQF(l, ...)                                                           \
    do {                                                                          \
        char want_[256];                                                          \
        snprintf(want_, sizeof want_, __VA_ARGS__);                               \
        LOG_EQ(l, want_);                                                         \
    } while (0)

/* cr_run fn and require it to return `want`. */
#define RUN_EXPECT(fn, arg, want)                                                 \
    do {                                                                          \
        int rc_ = cr_run((fn), (arg), NULL);                                      \
        cr_assert_eq(rc_, (want), "cr_run returned %d (%s), wanted %d", rc_,     \
                     cr_strerror(rc_), (want));                                   \
    } while (0)

/* Rounds of a stress loop that creates a task per round. Under TSan every
 * task is also a TSan fiber whose ~850 KB of state is zeroed page by page:
 * 3-15 ms apiece on a 2-vCPU VM with both cores busy, so such loops run
 * `tsan` rounds there instead of `n` (the count is scaled, the budget is
 * not; see tests/README.md). */
#if defined(__SANITIZE_THREAD__)
#define STRESS_ROUNDS(n, tsan) (tsan)
#else
#define STRESS_ROUNDS(n, tsan) (n)
#endif

/* A deadline that only guards against a hang and is never meant to be hit:
 * for tests that start hundreds of tasks at once, which under TSan on a slow
 * loaded machine can hold the loop for seconds (a fiber each). */
#define GUARD_S 60.0

/* A whole test's hang guard: Test(..., HANG_GUARD(10)). The worker takes
 * SIGALRM after that many seconds, whose default action ends it; the runner
 * reports the crash. Not Criterion's .timeout: Criterion hands those to its
 * timeout thread, which frees a cancelled request later, and a runner that
 * exits first (guarded tests ending close together on a busy machine) is
 * reported by LeakSanitizer for the 48-byte request: 11 runs of 20 of
 * test-misuse under ASan with 4 jobs on 2 busy cores, 0 of 20 with these.
 * tests/lite (TSan) arms its default alarm before .init, which replaces it. */
static inline void hang_guard_10(void) { alarm(10); }
static inline void hang_guard_20(void) { alarm(20); }
static inline void hang_guard_60(void) { alarm(60); }
static inline void hang_guard_120(void) { alarm(120); }
#define HANG_GUARD(s) .init = hang_guard_##s

/* Does a default loop run on io_uring here (not forced to or fallen back on
 * epoll)? For the one-line skip of tests that pin an io_uring-only detail. */
static inline bool on_io_uring(void)
{
    cr_loop *l;
    if (cr_loop_new(&l, NULL) < 0)
        return false;
    bool yes = !strcmp(cr_loop_backend(l), "io_uring");
    cr_loop_free(l);
    return yes;
}

/* Does this host refuse io_uring by itself (kernel.io_uring_disabled, a
 * seccomp profile around the whole run, a kernel built without it)? The
 * tests of how coring detects and explains a refusal inject or install
 * their own, so they need a host that allows it; elsewhere they skip with
 * one line naming the host's own reason. "" when io_uring is there. */
static inline const char *io_uring_refused_here(void)
{
    static __thread char why[256];
    cr_loop *l;
    cr_loop_opts o = {.backend = CR_BACKEND_URING};
    if (cr_loop_new(&l, &o) == 0) {
        cr_loop_free(l);
        return "";
    }
    snprintf(why, sizeof why, "%s", cr_setup_error());
    return why[0] ? why : "io_uring refused";
}

#define SKIP_IF_HOST_REFUSES_IO_URING()                                                       \
    do {                                                                                      \
        const char *host_why_ = io_uring_refused_here();                                      \
        if (*host_why_)                                                                       \
            cr_skip_test("needs a host that allows io_uring; here: %s", host_why_);           \
    } while (0)

#define IPTR(x) ((void *)(intptr_t)(x))
#define PINT(p) ((int)(intptr_t)(p))

#endif
