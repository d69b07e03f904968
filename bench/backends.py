#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""backends.py — coring on epoll beside the epoll peers and coring on io_uring,
in one interleaved run: the focused form of `make bench ONLY=echo,http` for
the epoll backend (the full run also has asyncio, uvloop, Go, nginx, the floor,
validation, idle, churn and payloads, and takes far longer).

  python3 bench/backends.py [--rounds 5] [--secs 0.7] [--jobs echo50,echo500,http] [--base DIR]

  python3 bench/backends.py --count [--base DIR]   (syscalls per request, lock-step: no lock)

--base DIR adds DIR/echo and DIR/http (another build's, e.g. before a change)
on both backends as base-epoll and base-uring: a before/after in the same
interleaved rounds.

Servers: examples/echo and examples/http as built by `make examples`, once as
they are (io_uring here) and once with CORING_BACKEND=epoll; echo peers libuv
(bench/uv-echo) and Tokio (current-thread, if `make bench TOKIO=1` built it);
HTTP peers nginx and Go net/http (both epoll; there is no libuv or Tokio HTTP
server in the suite). Everything else is bench/servers.py, as in run.py:
server on CPU 0, loadgen on CPU 1; one saturation window per server sets the
fixed rates (50% and 80% of the lowest); then, per round, every server in
turn (order reversed every other round): one window per fixed rate (server
CPU per request from schedstat); in the first --perf-rounds rounds also
two runs at 50% with perf attached throughout (syscalls/request, by call,
set-up cancelled out: see syscalls()).
Ratios are coring-epoll/server (and with --base coring-uring/base-uring)
per round, then the median.
"""
import argparse
import os
import shutil
import signal
import statistics as st
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
REL = os.path.join(TOP, "build", "release")
OUT = os.path.join(TOP, "build", "bench")
sys.path.insert(0, HERE)
import servers  # noqa: E402

EP = ["env", "CORING_BACKEND=epoll"]
CALLS = ["epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "recvfrom", "sendto", "read", "write",
         "readv", "writev", "io_uring_enter"]


def _counted(lg, srv, mode, conns, rate, secs):
    """perf attached to srv for a whole loadgen run without warm-up:
    ({call: count}, requests answered)."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        ev = ",".join(["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in CALLS])
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", ev, "-p", str(srv.pid), "-o", out.name],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached (perf sets up its tracepoints slowly on a busy machine)
        kv = servers.loadgen(lg, srv, mode, conns, secs, warm=0, rate=rate)
        time.sleep(0.1)
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        res = {}
        for line in out.read().splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].strip().isdigit():
                res[f[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "all")] = int(f[0])
        return res, kv["requests"]


def syscalls(lg, argv, mode, conns, rate, secs):
    """Syscalls per request, by call: two loadgen runs (secs and 3 × secs),
    each with perf attached to the server throughout, and the difference
    divided by the difference in requests, so connection set-up and
    tear-down cancel out. (servers.py's perf window divides by its own wall
    time, which includes perf's start-up: on a loaded machine it undercounts.)"""
    srv = servers.start(argv)
    try:
        c1, r1 = _counted(lg, srv, mode, conns, rate, secs)
        c2, r2 = _counted(lg, srv, mode, conns, rate, 3 * secs)
    finally:
        srv.stop()
    return {f"syscalls/req: {k}": ((c2[k] - c1.get(k, 0)) / (r2 - r1), "calls") for k in c2}


def _io_instr():
    import importlib.util
    spec = importlib.util.spec_from_file_location("io_instr", os.path.join(HERE, "io-instr.py"))
    ii = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ii)
    return ii


def _perf_around(pid, fn):
    """{call: count} of pid while fn() runs (perf attached before, detached after)."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        ev = ",".join(["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in CALLS])
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", ev, "-p", str(pid), "-o", out.name],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        fn()
        time.sleep(0.3)
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        res = {}
        for line in out.read().splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].strip().isdigit():
                res[f[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "all")] = int(f[0])
        return res


def count(esrv, hsrv):
    """Syscalls per request under io-instr.py's lock-step client (C connections;
    each round one request on every connection, then every answer): R1 and
    R2 rounds on fresh connections, (count(R2) - count(R1)) / (C (R2 - R1)).
    Not a timing: no lock needed, and it does not drift with the machine's
    load the way an open-loop window's batching does. C = 1 is a ping-pong,
    nothing to batch: the runtime's own calls per request."""
    ii = _io_instr()
    print("| workload | server | syscalls/req | by call |\n|---|---|---|---|")
    for mode, drive, srvs in (("echo", ii.client, esrv), ("http", ii.http_client, hsrv)):
        for conns in ((1, 50, 500) if mode == "echo" else (1, 50)):
            r1, r2 = (200, 1000) if conns == 1 else (20, 100)
            for sv, argv in srvs:
                srv = servers.start(argv)
                try:
                    lo = _perf_around(srv.pid, lambda: drive(srv.port, conns, r1))
                    hi = _perf_around(srv.pid, lambda: drive(srv.port, conns, r2))
                finally:
                    srv.stop()
                per = {k: (hi[k] - lo.get(k, 0)) / (conns * (r2 - r1)) for k in hi}
                calls = ", ".join(f"{k} {v:.2f}" for k, v in per.items() if k != "all" and v >= 0.005)
                print(f"| {mode} {conns} | {sv} | {per.get('all', 0):.2f} | {calls} |", flush=True)


def server_lists(base=None):
    echo, http = os.path.join(REL, "examples", "echo"), os.path.join(REL, "examples", "http")
    e = [("coring-epoll", EP + [echo, "0"]), ("coring-uring", [echo, "0"]),
         ("libuv", [os.path.join(REL, "bench", "uv-echo"), "0"]),
         ("tokio", [os.path.join(OUT, "tokio", "release", "echo"), "0"])]
    h = [("coring-epoll", EP + [http, "0"]), ("coring-uring", [http, "0"]),
         ("go", [os.path.join(OUT, "go-hello"), "0"])]
    if shutil.which("nginx"):
        h.append(("nginx", ["nginx"]))
    if base:  # another build's echo and http (before/after a change), on both backends
        e[2:2] = [("base-epoll", EP + [os.path.join(base, "echo"), "0"]), ("base-uring", [os.path.join(base, "echo"), "0"])]
        h[2:2] = [("base-epoll", EP + [os.path.join(base, "http"), "0"]), ("base-uring", [os.path.join(base, "http"), "0"])]
    ok = lambda lst: [(n, a) for n, a in lst if a[0] == "nginx" or os.access(a[-2], os.X_OK)]  # noqa: E731
    return ok(e), ok(h)


def cell(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    return f"{st.median(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})" if max(xs) >= 100 else \
        f"{st.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--secs", type=float, default=0.7)
    ap.add_argument("--jobs", default="echo50,echo500,http")
    ap.add_argument("--base", help="a directory with another build's echo and http: run them too (A/B)")
    ap.add_argument("--count", action="store_true",
                    help="only count syscalls per request under a lock-step client (see count())")
    ap.add_argument("--perf-rounds", type=int, default=2, help="rounds that also count syscalls")
    a = ap.parse_args()
    lg = os.path.join(OUT, "loadgen")
    servers.WARM = 0.3
    perf = servers.perf_works()[0]
    esrv, hsrv = server_lists(a.base)
    if a.count:
        return count(esrv, hsrv)
    jobs = []
    for j in a.jobs.split(","):
        if j.startswith("echo"):
            jobs.append((j, "echo", int(j[4:]), esrv))
        elif j == "http":
            jobs.append((j, "http", 50, hsrv))
    print(f"# coring-epoll vs peers — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {os.getloadavg()[0]:.2f} at start, {a.rounds} rounds × {a.secs} s windows\n")
    rates = {}
    for name, mode, conns, srvs in jobs:
        sat = {}
        for sv, argv in srvs:
            sat[sv] = servers.saturation(lg, argv, mode, conns, a.secs)["saturation req/s"][0]
            print(f"  {name} saturation {sv}: {sat[sv]:,.0f} req/s", file=sys.stderr)
        lo = min(sat.values())
        rates[name] = [("50%", round(lo * 0.5, -2)), ("80%", round(lo * 0.8, -2))]
    samples = {}  # (job, server, figure) -> [per round]
    for r in range(a.rounds):
        for name, mode, conns, srvs in jobs:
            for sv, argv in (srvs if r % 2 == 0 else list(reversed(srvs))):
                try:
                    res = servers.fixed_rates(lg, argv, mode, conns, a.secs, rates[name])
                    if perf and r < a.perf_rounds:
                        res.update(syscalls(lg, argv, mode, conns, rates[name][0][1], a.secs))
                except (RuntimeError, OSError) as e:
                    print(f"  round {r + 1} {name} {sv}: FAILED {e}", file=sys.stderr)
                    res = {}
                for fig, (v, _) in res.items():
                    samples.setdefault((name, sv, fig), [None] * a.rounds)[r] = v
        print(f"  round {r + 1}/{a.rounds} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    figs = ["server CPU/req @50%", "server CPU/req @80%"] + \
        [f"syscalls/req: {c}" for c in ["all"] + CALLS]
    for name, mode, conns, srvs in jobs:
        names = [sv for sv, _ in srvs]
        print(f"## {name}: rates {', '.join(f'{lab} = {x:,.0f} req/s' for lab, x in rates[name])}\n")
        pairs = [("coring-epoll", n) for n in names[1:] if n != "base-uring"]
        if a.base:
            pairs.append(("coring-uring", "base-uring"))
        print("| figure | " + " | ".join(names) + " | " + " | ".join(f"{x}/{y}" for x, y in pairs) + " |")
        print("|---|" + "---|" * (len(names) + len(pairs)))
        for fig in figs:
            if not any(x for sv in names for x in samples.get((name, sv, fig), [])):
                continue
            row = [cell(samples.get((name, sv, fig), [])) for sv in names]
            for x_, y_ in pairs:
                xs, ys = samples.get((name, x_, fig), []), samples.get((name, y_, fig), [])
                rr = [x / y for x, y in zip(xs, ys) if x is not None and y]
                row.append(f"{st.median(rr):.3f} ({min(rr):.3f}–{max(rr):.3f})" if rr else "—")
            print(f"| {fig} | " + " | ".join(row) + " |")
        print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
