# SPDX-License-Identifier: MIT
"""spawn.py — the asyncio/uvloop peer of bench/spawn.c.

    spawn.py batch|seq N [--uvloop]

batch: create N empty tasks, then gather them; seq: N times create one and
await it. Prints the same RESULT lines as the coring program.
"""
import asyncio
import sys
import time


async def empty():
    pass


async def batch(n):
    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(empty()) for _ in range(n)]
    await asyncio.gather(*tasks)
    el = time.perf_counter_ns() - t0
    print(f"RESULT spawn_batch {el / n:.6g} ns/task", flush=True)


async def seq(n):
    create = asyncio.create_task
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await create(empty())
    el = time.perf_counter_ns() - t0
    print(f"RESULT spawn_seq {el / n:.6g} ns/task", flush=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2 or args[0] not in ("batch", "seq"):
        sys.exit("usage: spawn.py batch|seq N [--uvloop]")
    coro = (batch if args[0] == "batch" else seq)(int(args[1]))
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
        asyncio.run(coro)
    else:
        asyncio.run(coro)


main()
