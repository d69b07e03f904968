# SPDX-License-Identifier: MIT
"""fileread.py — the asyncio/uvloop peer of bench/fileread.c.

    fileread.py READS INFLIGHT MIB [--uvloop] [--workers=W]

READS random 4 KiB reads of a warm MIB MiB file (under $TMPDIR or /tmp,
removed at once; written and read through before timing, so every read is a
page-cache hit). asyncio has no asynchronous file I/O: what it offers for a
blocking call is asyncio.to_thread (aiofiles does the same with
run_in_executor), so INFLIGHT tasks each loop on `await
asyncio.to_thread(os.pread, fd, 4096, off)` until the reads are used up, on
a ThreadPoolExecutor of W threads (make bench passes the CPU count, the pool
every peer gets). Offsets are 4 KiB aligned, from one splitmix64 sequence,
like the C and Go programs. Prints `RESULT fileread <wall ns per read>
ns/read` and `RESULT fileread_cpu <ns> ns/read` (the process's CPU time:
loop + pool threads), first read to last.
"""
import asyncio
import concurrent.futures
import os
import sys
import tempfile
import time

M64 = (1 << 64) - 1


async def main(reads, inflight, mib, workers):
    if workers:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=workers))
    f = tempfile.TemporaryFile()
    fd = f.fileno()
    chunk = b"\x5a" * (1 << 20)
    for _ in range(mib):
        f.write(chunk)
    f.flush()
    for i in range(mib):
        os.pread(fd, 1 << 20, i << 20)
    pages = mib * 256
    rng = 0
    left = 0

    async def reader():
        nonlocal left, rng
        while left > 0:
            left -= 1
            rng = (rng + 0x9E3779B97F4A7C15) & M64
            z = rng
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            z ^= z >> 31
            b = await asyncio.to_thread(os.pread, fd, 4096, (z % pages) * 4096)
            if len(b) != 4096:
                raise SystemExit("fileread.py: short read")

    left = inflight * 4  # warm the pool
    await asyncio.gather(*(reader() for _ in range(inflight)))
    left = reads
    t0, c0 = time.perf_counter_ns(), time.process_time_ns()
    await asyncio.gather(*(reader() for _ in range(inflight)))
    el, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
    f.close()
    print(f"RESULT fileread {el / reads:.6g} ns/read", flush=True)
    print(f"RESULT fileread_cpu {cpu / reads:.6g} ns/read", flush=True)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    w = [int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--workers=")]
    reads, inflight, mib = (args + [200000, 64, 64][len(args):])[:3]
    asyncio.run(main(reads, inflight, mib, w[0] if w else 0))
