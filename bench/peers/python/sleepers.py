# SPDX-License-Identifier: MIT
"""sleepers.py — the asyncio/uvloop peer of bench/sleepers.c: N tasks each
sleeping the same splitmix64 delays (0–max ms), then gathered.

    sleepers.py N [max_ms=100] [seed=42] [--uvloop]
"""
import asyncio
import sys
import time

M64 = (1 << 64) - 1


def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def vmhwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


async def amain(n, max_ms, seed):
    max_ns = max_ms * 1_000_000
    st = seed
    delays = []
    for _ in range(n):
        st, r = splitmix(st)
        delays.append((r % (max_ns + 1)) / 1e9)
    sleep = asyncio.sleep
    hwm0 = vmhwm_kib()
    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(sleep(d)) for d in delays]
    await asyncio.gather(*tasks)
    el = time.perf_counter_ns() - t0
    hwm1 = vmhwm_kib()
    wall = el / 1e6
    print(f"RESULT sleepers_wall {wall:.6g} ms")
    print(f"RESULT sleepers_wall_over_ideal {wall / max_ms:.6g} x")
    print(f"RESULT sleepers_rss_per_task {(hwm1 - hwm0) * 1024 / n:.6g} B", flush=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit("usage: sleepers.py N [max_ms] [seed] [--uvloop]")
    n = int(args[0])
    max_ms = int(args[1]) if len(args) > 1 else 100
    seed = int(args[2]) if len(args) > 2 else 42
    coro = amain(n, max_ms, seed)
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(coro)


main()
