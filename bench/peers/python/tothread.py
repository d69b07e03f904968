"""tothread.py — the asyncio/uvloop peer of bench/thread-to-thread.c.

    tothread.py N INFLIGHT [--uvloop]

N tiny jobs (return the argument) run with asyncio.to_thread, INFLIGHT at a
time: INFLIGHT tasks each loop on `await asyncio.to_thread(...)` until the jobs
are used up. The executor is asyncio's default ThreadPoolExecutor
(min(32, CPUs + 4) threads). Prints `RESULT to_thread <ns per job> ns/job`,
first submission to last completion.
"""
import asyncio
import sys
import time


def tiny(x):
    return x


async def main(n, inflight):
    left = n

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            await asyncio.to_thread(tiny, left)

    await asyncio.gather(*(worker() for _ in range(inflight)))  # warm the pool
    left = n
    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    el = time.perf_counter_ns() - t0
    print(f"RESULT to_thread {el / n:.6g} ns/job", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(int(args[0]), int(args[1])))
