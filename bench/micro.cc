/* SPDX-License-Identifier: MIT */
// micro.cc — coring's micro-benchmarks (Google Benchmark), with the switch
// peers (Boost.Context jump_fcontext, glibc swapcontext) in the same binary so
// one invocation measures them side by side.
//
// Every benchmark sets the counter "ops" = how many of the named operation one
// iteration performs (a ping-pong is two switches); bench/run.py divides the
// iteration's real time by it, so every figure reads "ns per operation".
//
// The coring benchmarks run *inside* a task: each benchmark function calls
// cr_run() and the task body holds the `for (auto _ : state)` loop, so the
// timed region is only the operation, never loop setup or teardown.
//
// Issue 3's MPSC, deque and to_thread are at the bottom (their C bodies are in
// micro-threads.c).
#include <benchmark/benchmark.h>
#include <boost/context/detail/fcontext.hpp>
#include <ucontext.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
#include <coring.h>
#include "arch/ctx.h" // cr__ctx_switch / cr__ctx_make: hidden, but linkable from the static archive
#if __has_include("mpsc.h")
#include "micro-threads.h"
#endif
}

namespace {

constexpr size_t kStack = 64 * 1024;

void set_ops(benchmark::State &state, double ops) { state.counters["ops"] = ops; }

// Runs body(state) as the main task of a fresh loop; a failure is reported
// through state.SkipWithError so a broken benchmark never shows a figure.
template <typename F> void in_task(benchmark::State &state, F body)
{
    struct ctx {
        benchmark::State *st;
        F *fn;
    } c{&state, &body};
    int rc = cr_run(
        [](void *arg, void **) -> int {
            auto *cc = static_cast<ctx *>(arg);
            return (*cc->fn)(*cc->st);
        },
        &c, nullptr);
    if (rc < 0)
        state.SkipWithError(cr_strerror(rc));
}

// ------------------------------------------------------------ raw switch ---

// coring: cr__ctx_switch ping-pong between the thread's stack and a coroutine.
struct coring_pp {
    void *main_sp = nullptr, *co_sp = nullptr;
};

void coring_pp_body(void *p)
{
    auto *pp = static_cast<coring_pp *>(p);
    for (;;)
        cr__ctx_switch(&pp->co_sp, pp->main_sp, nullptr);
}

void switch_coring(benchmark::State &state)
{
    void *stack = std::malloc(kStack);
    coring_pp pp;
    pp.co_sp = cr__ctx_make(static_cast<char *>(stack) + kStack, coring_pp_body, &pp);
    for (auto _ : state)
        cr__ctx_switch(&pp.main_sp, pp.co_sp, nullptr);
    set_ops(state, 2); // there and back
    std::free(stack);  // the coroutine is parked forever; its stack is just memory
}
BENCHMARK(switch_coring);

namespace bctx = boost::context::detail;

void boost_body(bctx::transfer_t t)
{
    for (;;)
        t = bctx::jump_fcontext(t.fctx, nullptr);
}

void switch_boost_fcontext(benchmark::State &state)
{
    void *stack = std::malloc(kStack);
    bctx::fcontext_t co = bctx::make_fcontext(static_cast<char *>(stack) + kStack, kStack, boost_body);
    for (auto _ : state)
        co = bctx::jump_fcontext(co, nullptr).fctx;
    set_ops(state, 2);
    std::free(stack);
}
BENCHMARK(switch_boost_fcontext);

ucontext_t uc_main, uc_co;

void uc_body()
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

void switch_swapcontext(benchmark::State &state)
{
    void *stack = std::malloc(kStack);
    getcontext(&uc_co);
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = kStack;
    uc_co.uc_link = nullptr;
    makecontext(&uc_co, uc_body, 0);
    for (auto _ : state)
        swapcontext(&uc_main, &uc_co);
    set_ops(state, 2);
    std::free(stack);
}
BENCHMARK(switch_swapcontext);

// ------------------------------------------------------------ the runtime ---

struct yield_pair {
    bool stop = false;
};

// Two tasks taking turns through cr_sleep(0): each iteration is two yields
// (main's, then the partner's), each a full loop turn.
void yield_two_tasks(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        yield_pair yp;
        cr_task *partner = cr_create_task(
            [](void *arg, void **) -> int {
                auto *y = static_cast<yield_pair *>(arg);
                while (!y->stop) {
                    int rc = cr_sleep(0);
                    if (rc < 0)
                        return rc;
                }
                return 0;
            },
            &yp);
        if (!partner)
            return -ENOMEM;
        cr_sleep(0); // let the partner start
        for (auto _ : st)
            cr_sleep(0);
        yp.stop = true;
        int rc = cr_await(partner, nullptr);
        cr_future_unref(partner);
        set_ops(st, 2);
        return rc;
    });
}
BENCHMARK(yield_two_tasks);

// create_task + await + unref of a task whose body returns at once.
void spawn_run_join(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        auto empty = [](void *, void **) -> int { return 0; };
        for (auto _ : st) {
            cr_task *t = cr_create_task(empty, nullptr);
            if (!t)
                return -ENOMEM;
            int rc = cr_await(t, nullptr);
            cr_future_unref(t);
            if (rc < 0)
                return rc;
        }
        set_ops(st, 1);
        return 0;
    });
}
BENCHMARK(spawn_run_join);

// Future ping-pong: main resolves the partner's future and awaits its own; the
// partner wakes, makes its next future, resolves main's. Each iteration is two
// (new future + set_result + wake + switch). With use_wait_for, main waits
// through cr_wait_for(…, 10 s): the same plus arming and disarming a timer.
struct pingpong {
    cr_future *a = nullptr, *b = nullptr;
    bool stop = false;
};

int pingpong_partner(void *arg, void **)
{
    auto *pp = static_cast<pingpong *>(arg);
    for (;;) {
        int rc = cr_await(pp->b, nullptr);
        cr_future_unref(pp->b);
        pp->b = nullptr;
        if (rc < 0 || pp->stop)
            return rc;
        if (!(pp->b = cr_future_new(nullptr)))
            return -ENOMEM;
        cr_future_set_result(pp->a, nullptr);
    }
}

template <bool use_wait_for> void future_pingpong(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        pingpong pp;
        if (!(pp.b = cr_future_new(nullptr)))
            return -ENOMEM;
        cr_task *partner = cr_create_task(pingpong_partner, &pp);
        if (!partner)
            return -ENOMEM;
        int rc = 0;
        for (auto _ : st) {
            if (!(pp.a = cr_future_new(nullptr)))
                return -ENOMEM;
            cr_future_set_result(pp.b, nullptr);
            rc = use_wait_for ? cr_wait_for(pp.a, 10.0, nullptr) : cr_await(pp.a, nullptr);
            cr_future_unref(pp.a);
            if (rc < 0)
                break;
        }
        pp.stop = true;
        if (pp.b)
            cr_future_set_result(pp.b, nullptr);
        int prc = cr_await(partner, nullptr);
        cr_future_unref(partner);
        set_ops(st, 2);
        return rc < 0 ? rc : prc;
    });
}

void future_resolve_wake(benchmark::State &state) { future_pingpong<false>(state); }
BENCHMARK(future_resolve_wake);

void future_wait_for_pingpong(benchmark::State &state) { future_pingpong<true>(state); }
BENCHMARK(future_wait_for_pingpong);

// Uncontended asyncio.Lock: acquire + release with nobody else around.
void lock_uncontended(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        cr_lock *lk = cr_lock_new();
        if (!lk)
            return -ENOMEM;
        int rc = 0;
        for (auto _ : st) {
            if ((rc = cr_lock_acquire(lk)) < 0 || (rc = cr_lock_release(lk)) < 0)
                break;
        }
        cr_lock_free(lk);
        set_ops(st, 1);
        return rc;
    });
}
BENCHMARK(lock_uncontended);

// Contended lock: two tasks hand one lock back and forth, each holding it
// across a yield, so every acquire parks and every release hands off.
struct lock_pair {
    cr_lock *lk;
    bool stop = false;
};

void lock_contended(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        lock_pair lp;
        if (!(lp.lk = cr_lock_new()))
            return -ENOMEM;
        cr_task *partner = cr_create_task(
            [](void *arg, void **) -> int {
                auto *p = static_cast<lock_pair *>(arg);
                while (!p->stop) {
                    int rc = cr_lock_acquire(p->lk);
                    if (rc < 0)
                        return rc;
                    cr_sleep(0);
                    cr_lock_release(p->lk);
                }
                return 0;
            },
            &lp);
        if (!partner)
            return -ENOMEM;
        int rc = 0;
        for (auto _ : st) {
            if ((rc = cr_lock_acquire(lp.lk)) < 0)
                break;
            cr_sleep(0);
            cr_lock_release(lp.lk);
        }
        lp.stop = true;
        int prc = cr_await(partner, nullptr);
        cr_future_unref(partner);
        cr_lock_free(lp.lk);
        set_ops(st, 2); // two acquisitions (ours and the partner's) per iteration
        return rc < 0 ? rc : prc;
    });
}
BENCHMARK(lock_contended);

// Timer arm + cancel without any switch: call_later 10 s, then cancel, with
// 1,000 other timers armed so the heap has some depth.
void timer_arm_cancel(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        cr_loop *loop = cr_get_running_loop(nullptr);
        auto nop = [](void *) {};
        constexpr int kBackground = 1000;
        static cr_handle *bg[kBackground];
        for (int i = 0; i < kBackground; i++)
            if (cr_call_later(loop, 20.0 + i * 1e-3, nop, nullptr, &bg[i]) < 0)
                return -ENOMEM;
        int rc = 0;
        for (auto _ : st) {
            cr_handle *h;
            if ((rc = cr_call_later(loop, 10.0, nop, nullptr, &h)) < 0)
                break;
            cr_handle_cancel(h);
            cr_handle_release(h);
        }
        for (int i = 0; i < kBackground; i++) {
            cr_handle_cancel(bg[i]);
            cr_handle_release(bg[i]);
        }
        set_ops(st, 1);
        return rc;
    });
}
BENCHMARK(timer_arm_cancel);

// ------------------------------------------------------------- threads ---
// Issue 3's structures and to_thread. Built when lib/mpsc.h exists (the
// Makefile then compiles micro-threads.c, whose C bodies these call: the
// structures' headers are C11 atomics, which C++17 cannot include).
#if __has_include("mpsc.h")

// One push or one pop of the MPSC queue, uncontended (a batch of 64 pushes,
// then 64 pops; ns per operation).
void mpsc_push_pop(benchmark::State &state)
{
    if (micro_threads_init() < 0) {
        state.SkipWithError("out of memory");
        return;
    }
    for (auto _ : state)
        if (micro_mpsc_push_pop() != MICRO_BATCH) {
            state.SkipWithError("MPSC lost an item");
            break;
        }
    micro_threads_fini();
    set_ops(state, 2 * MICRO_BATCH);
}
BENCHMARK(mpsc_push_pop);

// One owner push or take of the Chase-Lev deque (64 pushes, then 64 takes).
void deque_push_take(benchmark::State &state)
{
    if (micro_threads_init() < 0) {
        state.SkipWithError("out of memory");
        return;
    }
    for (auto _ : state)
        if (micro_deque_push_take() != MICRO_BATCH) {
            state.SkipWithError("deque lost an item");
            break;
        }
    micro_threads_fini();
    set_ops(state, 2 * MICRO_BATCH);
}
BENCHMARK(deque_push_take);

// One owner push or one steal (64 pushes, then 64 steals by the same thread:
// the CAS of a steal without a competing thief).
void deque_push_steal(benchmark::State &state)
{
    if (micro_threads_init() < 0) {
        state.SkipWithError("out of memory");
        return;
    }
    for (auto _ : state)
        if (micro_deque_push_steal() != MICRO_BATCH) {
            state.SkipWithError("deque lost an item");
            break;
        }
    micro_threads_fini();
    set_ops(state, 2 * MICRO_BATCH);
}
BENCHMARK(deque_push_steal);

// One cr_to_thread of a function that returns at once, awaited: submission to
// the pool, a worker running it, the wake-up of the loop and the switch back.
void to_thread_round_trip(benchmark::State &state)
{
    in_task(state, [](benchmark::State &st) -> int {
        auto tiny = [](void *arg, void **result) -> int {
            *result = arg;
            return 0;
        };
        int rc = 0;
        for (auto _ : st) {
            void *res;
            if ((rc = cr_to_thread(tiny, nullptr, &res)) < 0)
                break;
        }
        set_ops(st, 1);
        return rc < 0 ? rc : 0;
    });
}
BENCHMARK(to_thread_round_trip);

#endif

} // namespace

BENCHMARK_MAIN();
