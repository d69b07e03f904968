# SPDX-License-Identifier: MIT
"""tothread.py — the asyncio/uvloop peer of bench/thread-to-thread.c.

    tothread.py N INFLIGHT [--uvloop] [--workers=W]

N tiny jobs (return the argument) run with asyncio.to_thread, INFLIGHT at a
time: INFLIGHT tasks each loop on `await asyncio.to_thread(...)` until the jobs
are used up. The executor is a ThreadPoolExecutor of W threads (make bench
passes the CPU count, the pool size every peer gets; without it asyncio's
default, min(32, CPUs + 4)). Prints `RESULT to_thread <ns per job> ns/job`,
first submission to last completion, and `RESULT to_thread_cpu <ns> ns/job`,
the process's CPU time per job.
"""
import asyncio
import concurrent.futures
import sys
import time


def tiny(x):
    return x


async def main(n, inflight, workers):
    if workers:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=workers))
    left = n

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            await asyncio.to_thread(tiny, left)

    await asyncio.gather(*(worker() for _ in range(inflight)))  # warm the pool
    left = n
    t0, c0 = time.perf_counter_ns(), time.process_time_ns()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    el, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
    print(f"RESULT to_thread {el / n:.6g} ns/job", flush=True)
    print(f"RESULT to_thread_cpu {cpu / n:.6g} ns/job", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    w = [int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--workers=")]
    asyncio.run(main(int(args[0]), int(args[1]), w[0] if w else 0))
