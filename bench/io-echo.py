#!/usr/bin/env python3
"""io-echo.py — echo servers side by side: coring (examples/echo), the
runtime-free liburing floor (bench/floor-echo) and libuv (bench/uv-echo),
driven by tools/loadgen, interleaved (A B C A B C ...) over several rounds.

Server on CPU 0, load generator on CPU 1. For each run: requests/s; server CPU
per request from /proc/PID/stat (utime/stime of all threads) over the measured
window, split user/kernel; io_uring_enter calls per request from
`perf stat -e syscalls:sys_enter_io_uring_enter -p PID` over the same window.
Prints a markdown table of medians with min-max.

  python3 bench/io-echo.py [--rounds 3] [--duration 3] [--conns 50,500] [--size 64]
                           [--extra NAME=BINARY ...]   (more echo servers, e.g. an
                                                        older build, for A/B)
"""
import argparse, os, re, signal, statistics, subprocess, time

B = "build/release"
SERVERS = {
    "coring": [f"{B}/examples/echo", "0"],
    "floor": [f"{B}/bench/floor-echo", "0"],
    "libuv": [f"{B}/bench/uv-echo", "0"],
}
TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])  # utime, stime (ticks, all threads)


def run_one(name, conns, dur, size):
    srv = subprocess.Popen(["taskset", "-c", "0"] + SERVERS[name], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
    lg = subprocess.Popen(["taskset", "-c", "1", f"{B}/tools/loadgen", "-p", str(port),
                           "-c", str(conns), "-d", str(dur), "-s", str(size)],
                          stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # loadgen's warm-up
    u0, s0 = cpu(srv.pid)
    perf = subprocess.run(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_io_uring_enter",
                           "-p", str(srv.pid), "--", "sleep", str(dur)],
                          capture_output=True, text=True)
    u1, s1 = cpu(srv.pid)
    out = lg.communicate()[0]
    srv.send_signal(signal.SIGINT)
    srv.wait()
    reqs = int(re.search(r"requests (\d+)", out).group(1))
    rps = float(re.search(r"rps (\d+)", out).group(1))
    p99 = float(re.search(r"p99 ([\d.]+)", out).group(1))
    m = re.match(r"\s*(\d+)", perf.stderr.strip().splitlines()[-1]) if perf.stderr.strip() else None
    enters = int(m.group(1)) if m else float("nan")
    return dict(rps=rps, user=(u1 - u0) / TCK / reqs * 1e9, kern=(s1 - s0) / TCK / reqs * 1e9,
                enter=enters / reqs, p99=p99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--servers", default="coring,floor,libuv")
    ap.add_argument("--extra", action="append", default=[],
                    help="NAME=BINARY: another echo server taking the port as argv[1]")
    a = ap.parse_args()
    names = a.servers.split(",")
    for e in a.extra:
        n, path = e.split("=", 1)
        SERVERS[n] = [path, "0"]
        names.append(n)
    res = {}
    for r in range(a.rounds):
        for c in map(int, a.conns.split(",")):
            for n in names:
                res.setdefault((n, c), []).append(run_one(n, c, a.duration, a.size))
    def med(v):
        return statistics.median(v), min(v), max(v)
    print(f"{a.size}-byte echo, {a.rounds} rounds x {a.duration}s, interleaved; median (min-max)\n")
    print("| server | conns | req/s | CPU/req total ns | user ns | kernel ns | io_uring_enter/req | p99 us |")
    print("|---|---|---|---|---|---|---|---|")
    for c in map(int, a.conns.split(",")):
        for n in names:
            v = res[(n, c)]
            rps = med([x["rps"] for x in v])
            tot = med([x["user"] + x["kern"] for x in v])
            us = med([x["user"] for x in v])
            ks = med([x["kern"] for x in v])
            en = med([x["enter"] for x in v])
            p99 = med([x["p99"] for x in v])
            print(f"| {n} | {c} | {rps[0]:.0f} ({rps[1]:.0f}-{rps[2]:.0f}) | {tot[0]:.0f} ({tot[1]:.0f}-{tot[2]:.0f}) "
                  f"| {us[0]:.0f} ({us[1]:.0f}-{us[2]:.0f}) | {ks[0]:.0f} | {en[0]:.3f} ({en[1]:.3f}-{en[2]:.3f}) | {p99[0]:.0f} |")


if __name__ == "__main__":
    main()
