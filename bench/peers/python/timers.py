# SPDX-License-Identifier: MIT
"""timers.py — the asyncio/uvloop peer of bench/timers.c.

    timers.py [SECONDS=1] [RATE=100000] [LIVE=10000] [--uvloop]

LIVE timers armed with loop.call_later (deadlines 1–10 s, none fires); every
1 ms tick RATE/1000 of them are cancelled (TimerHandle.cancel) and re-armed.
Prints the process's CPU time per arm+cancel pair over the paced run:
`RESULT timers <ns> ns/pair`.
"""
import asyncio
import sys
import time

M = (1 << 64) - 1
rng = 42


def next_delay():
    """The splitmix64 sequence of bench/timers.c, uniform in 1–10 s."""
    global rng
    rng = (rng + 0x9E3779B97F4A7C15) & M
    z = rng
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z ^= z >> 31
    return 1.0 + 9.0 * (z >> 11) / 9007199254740992.0


async def main(seconds, rate, live):
    loop = asyncio.get_running_loop()
    nop = lambda: None  # noqa: E731
    hs = [loop.call_later(next_delay(), nop) for _ in range(live)]
    per_tick, slot, pairs = rate // 1000, 0, 0
    c0 = time.process_time_ns()
    nxt = time.monotonic()
    for _ in range(seconds * 1000):
        nxt += 0.001
        d = nxt - time.monotonic()
        if d > 0:
            await asyncio.sleep(d)
        for _ in range(per_tick):
            hs[slot].cancel()
            hs[slot] = loop.call_later(next_delay(), nop)
            slot = (slot + 1) % live
            pairs += 1
    print(f"RESULT timers {(time.process_time_ns() - c0) / pairs:.1f} ns/pair", flush=True)
    for h in hs:
        h.cancel()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(*(args + [1, 100000, 10000][len(args):])))
