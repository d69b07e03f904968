# SPDX-License-Identifier: MIT
"""xthread.py — the asyncio/uvloop peer of bench/thread-submit.c.

    xthread.py N PRODUCERS [--uvloop]

PRODUCERS threads submit N/PRODUCERS each into one running loop, timed from the
producers' start until the loop has run the last submission:
  - call_soon_threadsafe of a callback       -> RESULT xthread_call_soon
  - run_coroutine_threadsafe of a coroutine  -> RESULT xthread_coroutine
(the concurrent.futures.Future it returns is dropped, as coring's benchmark
drops its future). Prints ns per submission.
"""
import asyncio
import sys
import threading
import time


async def run(n, producers, coroutine):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def cb():
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    async def coro():
        cb()

    def producer():
        per = n // producers
        if coroutine:
            for _ in range(per):
                asyncio.run_coroutine_threadsafe(coro(), loop)
        else:
            for _ in range(per):
                loop.call_soon_threadsafe(cb)

    t0 = time.perf_counter_ns()
    ths = [threading.Thread(target=producer) for _ in range(producers)]
    for t in ths:
        t.start()
    await done
    el = time.perf_counter_ns() - t0
    for t in ths:
        t.join()
    return el / n


async def main(n, producers):
    n -= n % producers
    a = await run(n, producers, False)
    b = await run(n, producers, True)
    print(f"RESULT xthread_call_soon {a:.6g} ns/op", flush=True)
    print(f"RESULT xthread_coroutine {b:.6g} ns/op", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(int(args[0]), int(args[1])))
