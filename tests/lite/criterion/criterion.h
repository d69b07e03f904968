/* SPDX-License-Identifier: MIT */
/*
 * A Criterion-compatible shim for ThreadSanitizer builds.
 *
 * Criterion 2.4 cannot start under TSan (its inheritable arena is mapped at a
 * fixed address TSan owns: Criterion issue #274). `make test SANITIZE=thread`
 * puts tests/lite first on the include path, so the very same test files
 * compile against this header instead. It implements the subset the suites use:
 * Test()/TestSuite() with .init/.fini/.signal/.exit_code/.disabled/.timeout,
 * the cr_assert_* / cr_expect_* family, cr_skip_test, cr_log_*. Each test runs
 * in its own forked child, like Criterion, and the run ends with Criterion's
 * synthesis line so tools/run-tests.sh reads both the same way.
 */
#ifndef CORING_CRITERION_LITE_H
#define CORING_CRITERION_LITE_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* cr_assert(x) with no message expands to an empty format string. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

struct criterion_test_extra_data {
    void (*init)(void);
    void (*fini)(void);
    int signal;
    int exit_code;
    bool disabled;
    double timeout;
    const char *description;
};

struct lite_test {
    const char *suite, *name;
    void (*fn)(void);
    struct criterion_test_extra_data opts;
    struct lite_test *next;
};
struct lite_suite {
    const char *name;
    struct criterion_test_extra_data opts;
    struct lite_suite *next;
};

static struct lite_test *lite_tests, **lite_tail = &lite_tests;
static struct lite_suite *lite_suites;

static inline void lite_register(struct lite_test *t)
{
    *lite_tail = t;
    lite_tail = &t->next;
}

#define Test(suite, name, ...)                                                     \
    static void suite##_##name##_impl(void);                                       \
    static struct lite_test suite##_##name##_desc = {                              \
        #suite, #name, suite##_##name##_impl, {__VA_ARGS__}, NULL};                \
    __attribute__((constructor)) static void suite##_##name##_reg(void)            \
    {                                                                              \
        lite_register(&suite##_##name##_desc);                                     \
    }                                                                              \
    static void suite##_##name##_impl(void)

#define TestSuite(suite, ...)                                                      \
    static struct lite_suite suite##_suite_desc = {#suite, {__VA_ARGS__}, NULL};   \
    __attribute__((constructor)) static void suite##_suite_reg(void)               \
    {                                                                              \
        suite##_suite_desc.next = lite_suites;                                     \
        lite_suites = &suite##_suite_desc;                                         \
    }

static inline void lite_fail(const char *file, int line, bool fatal, const char *expr,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline void lite_fail(const char *file, int line, bool fatal, const char *expr,
                             const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion failed: %s", file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    fflush(stderr);
    if (fatal)
        _exit(1);
    extern int lite_expect_failed;
    lite_expect_failed = 1;
}

#define LITE_CHECK(fatal, cond, expr, ...)                                          \
    do {                                                                            \
        if (!(cond))                                                                \
            lite_fail(__FILE__, __LINE__, fatal, expr, "" __VA_ARGS__);             \
    } while (0)

#define cr_assert(c, ...) LITE_CHECK(1, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) LITE_CHECK(1, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) LITE_CHECK(1, 0, "fail", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) LITE_CHECK(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) LITE_CHECK(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) LITE_CHECK(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) LITE_CHECK(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) LITE_CHECK(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) LITE_CHECK(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) LITE_CHECK(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) LITE_CHECK(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) LITE_CHECK(1, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) LITE_CHECK(1, strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_str_empty(a, ...) LITE_CHECK(1, *(a) == 0, #a " empty", __VA_ARGS__)
#define cr_assert_str_not_empty(a, ...) LITE_CHECK(1, *(a) != 0, #a " not empty", __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) LITE_CHECK(1, memcmp((a), (b), (n)) == 0, #a " arr_eq " #b, __VA_ARGS__)
#define cr_assert_float_eq(a, b, e, ...)                                            \
    LITE_CHECK(1, (a) - (b) <= (e) && (b) - (a) <= (e), #a " ~= " #b, __VA_ARGS__)

#define cr_expect(c, ...) LITE_CHECK(0, (c), #c, __VA_ARGS__)
#define cr_expect_not(c, ...) LITE_CHECK(0, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...) LITE_CHECK(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) LITE_CHECK(0, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) LITE_CHECK(0, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) LITE_CHECK(0, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) LITE_CHECK(0, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) LITE_CHECK(0, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...) LITE_CHECK(0, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) LITE_CHECK(0, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) LITE_CHECK(0, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)

#define cr_log_info(...) (fprintf(stderr, "[LOG ] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, "[WARN] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_error(...) (fprintf(stderr, "[ERR ] " __VA_ARGS__), fputc('\n', stderr))
#define LITE_SKIP_CODE 77
static const char *lite_current = "?"; /* the test running in this child */
#define cr_skip_test(...)                                                           \
    do {                                                                            \
        fprintf(stderr, "[SKIP] %s: ", lite_current);                               \
        fprintf(stderr, __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                        \
        _exit(LITE_SKIP_CODE);                                                      \
    } while (0)

int lite_expect_failed;

static inline const struct criterion_test_extra_data *lite_suite_opts(const char *s)
{
    for (struct lite_suite *x = lite_suites; x; x = x->next)
        if (!strcmp(x->name, s))
            return &x->opts;
    return NULL;
}

/* Runs each test in a child; `--filter=suite/name` style args are accepted
 * as a plain substring filter, other Criterion flags are ignored. */
int main(int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--filter=", 9))
            filter = argv[i] + 9;
    int tested = 0, passing = 0, failing = 0, crashing = 0, skipped = 0;
    for (struct lite_test *t = lite_tests; t; t = t->next) {
        char full[256];
        snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
        if (filter && !strstr(full, filter))
            continue;
        const struct criterion_test_extra_data *so = lite_suite_opts(t->suite);
        if (t->opts.disabled || (so && so->disabled)) {
            skipped++;
            continue;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            lite_current = full;
            alarm(t->opts.timeout > 0 ? (unsigned)t->opts.timeout + 1 : 300);
            if (so && so->init)
                so->init();
            if (t->opts.init)
                t->opts.init();
            t->fn();
            if (t->opts.fini)
                t->opts.fini();
            if (so && so->fini)
                so->fini();
            fflush(NULL);
            _exit(lite_expect_failed ? 1 : 0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        tested++;
        bool ok;
        if (WIFEXITED(st) && WEXITSTATUS(st) == LITE_SKIP_CODE) {
            tested--;
            skipped++;
            continue;
        }
        if (t->opts.signal)
            ok = WIFSIGNALED(st) && WTERMSIG(st) == t->opts.signal;
        else
            ok = WIFEXITED(st) && WEXITSTATUS(st) == t->opts.exit_code;
        if (ok) {
            passing++;
        } else if (WIFSIGNALED(st)) {
            crashing++;
            fprintf(stderr, "[FAIL] %s: crashed with signal %d\n", full, WTERMSIG(st));
        } else {
            failing++;
            fprintf(stderr, "[FAIL] %s: exit %d\n", full, WEXITSTATUS(st));
        }
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d "
           "(lite runner; skipped %d)\n",
           tested, passing, failing, crashing, skipped);
    return failing || crashing;
}

#endif
