#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""backends.py — coring on epoll beside the epoll peers and coring on io_uring,
in one interleaved run: the focused form of `make bench ONLY=echo,http` for
the epoll backend (the full run also has asyncio, uvloop, Go, nginx, the floor,
validation, idle, churn and payloads, and takes far longer).

  python3 bench/backends.py [--rounds 5] [--secs 0.7] [--jobs echo50,echo500,http] [--base DIR]

  python3 bench/backends.py --count [--base DIR]   (syscalls per request, lock-step: no lock)

  python3 bench/backends.py --paired [--rounds 9] [--secs 0.5] [--rates LO,HI] [--base DIR]

  --servers coring-epoll,tokio,base-epoll   (any form: only the servers named)
  --extra NAME=COMMAND (repeatable: one more echo server) --ref NAME (the
  server every ratio divides; default coring-epoll)

--paired runs the two servers of each ratio *at the same time*, both on the
server CPU, each driven by its own loadgen at half the rate (both on the
load CPU, started together): the machine's drift, and the bursts a lagging
generator sends, then hit both alike, where sequential windows each get
their own (a window whose generator lagged sees batched requests and
cheaper CPU per request). Ratios are per window, then the median over
rounds. Meant for two servers that make the same system calls (epoll
against epoll, a build against the one before): sharing the CPU batches
each server's requests while the other runs, and io_uring gains more from
batching than epoll does, so an epoll/io_uring pair reads worse here than
in sequential windows (1.45 against 1.07 at 500 connections, one run).

--rates LO,HI fixes the offered rates (every job) instead of deriving them
from a saturation window, which a busy machine drags down.

--base DIR adds DIR/echo and DIR/http (another build's, e.g. before a change)
on both backends as base-epoll and base-uring: a before/after in the same
interleaved rounds.

Servers: examples/echo and examples/http as built by `make examples`, once as
they are (io_uring here) and once with CORING_BACKEND=epoll; echo peers libuv
(bench/uv-echo), Tokio (current-thread, if `make bench TOKIO=1` built it) and
floor-epoll (bench/floor-epoll.c: no runtime, only the system calls every epoll
server makes: what is above it is a runtime's own cost);
HTTP peers Tokio (bench/peers/tokio/src/bin/http.rs: current-thread, httparse,
the work of examples/http.c), nginx and Go net/http (all epoll; there is no
libuv HTTP server in the suite). Everything else is bench/servers.py, as in run.py:
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
import shlex
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
         ("floor-epoll", [os.path.join(REL, "bench", "floor-epoll"), "0"]),
         ("tokio", [os.path.join(OUT, "tokio", "release", "echo"), "0"])]
    h = [("coring-epoll", EP + [http, "0"]), ("coring-uring", [http, "0"]),
         ("tokio", [os.path.join(OUT, "tokio", "release", "http"), "0"]),
         ("go", [os.path.join(OUT, "go-hello"), "0"])]
    if shutil.which("nginx"):
        h.append(("nginx", ["nginx"]))
    if base:  # another build's echo and http (before/after a change), on both backends
        e[2:2] = [("base-epoll", EP + [os.path.join(base, "echo"), "0"]), ("base-uring", [os.path.join(base, "echo"), "0"])]
        h[2:2] = [("base-epoll", EP + [os.path.join(base, "http"), "0"]), ("base-uring", [os.path.join(base, "http"), "0"])]
    ok = lambda lst: [(n, a) for n, a in lst if a[0] == "nginx" or os.access(a[-2], os.X_OK)]  # noqa: E731
    return ok(e), ok(h)


SHUFFLE = False  # --shuffle: loadgen -X (paired windows)


def _loadgen_cmd(lg, srv, mode, conns, secs, rate):
    return ["taskset", "-c", servers.LOAD_CPU, lg, "-p", str(srv.port), "-m", mode, "-c", str(conns),
            "-t", "1", "-d", str(secs), "-w", str(servers.WARM), "-s", "64", "-P", "1",
            "-S", str(srv.pid), "-R", str(int(rate))] + (["-X"] if SHUFFLE else [])


def paired_window(lg, argv_a, argv_b, mode, conns, secs, rate):
    """Servers a and b run at once, each with its own loadgen at rate:
    (CPU/req of a, CPU/req of b), each from its own window's schedstat."""
    sa = servers.start(argv_a)
    try:
        sb = servers.start(argv_b)
        try:
            gens = [subprocess.Popen(_loadgen_cmd(lg, sv, mode, conns, secs, rate), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for sv in (sa, sb)]
            outs = [g.communicate(timeout=secs + servers.WARM + 60) for g in gens]
        finally:
            sb.stop()
    finally:
        sa.stop()
    res = []
    for out, err in outs:
        lines = [ln for ln in out.splitlines() if ln.startswith("mode=")]
        if not lines:
            raise RuntimeError("loadgen: " + ((err or out).strip().splitlines() or ["no output"])[-1])
        kv = servers._kv(lines[-1])
        if kv.get("errors") or kv.get("verify_errors") or kv.get("overflow") or kv["rps"] < 0.97 * rate:
            raise RuntimeError(f"loadgen: rate {rate} not carried ({kv['rps']:.0f} req/s) or errors")
        res.append(kv["server_cpu_ns_per_req"])
    return tuple(res)


def paired(a, lg, jobs, rates):
    """--paired: see the module's comment."""
    samples = {}  # (job, (x, y), label) -> [x/y per round]
    for r in range(a.rounds):
        for name, mode, conns, srvs in jobs:
            argv = dict(srvs)
            pairs = [(a.ref, n) for n, _ in srvs if n not in (a.ref, "base-uring")]
            if a.base:
                pairs.append(("coring-uring", "base-uring"))
            pairs = [(x, y) for x, y in pairs if x in argv and y in argv]
            for x, y in pairs:
                for label, rate in rates[name]:
                    half = round(rate / 2, -2)
                    try:
                        if r % 2 == 0:
                            cx, cy = paired_window(lg, argv[x], argv[y], mode, conns, a.secs, half)
                        else:
                            cy, cx = paired_window(lg, argv[y], argv[x], mode, conns, a.secs, half)
                    except (RuntimeError, OSError) as e:
                        print(f"  round {r + 1} {name} {x}+{y} @{label}: FAILED {e}", file=sys.stderr)
                        continue
                    samples.setdefault((name, (x, y), label), []).append((cx, cy))
        print(f"  round {r + 1}/{a.rounds} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    for name, mode, conns, srvs in jobs:
        print(f"## {name}, paired: each server at {', '.join(f'{lab} = {x / 2:,.0f} req/s' for lab, x in rates[name])}"
              f" (half of the sequential rates), beside the other\n")
        print("| pair | rate | CPU/req x | CPU/req y | x/y median (min–max) | rounds x < y |\n|---|---|---|---|---|---|")
        for (n, (x, y), label), v in samples.items():
            if n != name or not v:
                continue
            rr = [p / q for p, q in v]
            print(f"| {x} / {y} | {label} | {cell([p for p, _ in v])} | {cell([q for _, q in v])} | "
                  f"{st.median(rr):.3f} ({min(rr):.3f}–{max(rr):.3f}) | {sum(t < 1 for t in rr)}/{len(rr)} |")
        print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


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
    ap.add_argument("--rates", help="LO,HI req/s for every job instead of 50%%/80%% of the slowest "
                    "saturation (a saturation measured while the machine is busy sets low rates)")
    ap.add_argument("--servers", help="only these servers (comma-separated names, e.g. "
                    "coring-epoll,tokio,base-epoll): a shorter A/B run")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=COMMAND",
                    help="one more echo server (a shell-split command line; the port "
                    "argument 0 is appended), e.g. lean=\"env CORING_BACKEND=epoll "
                    "build/release/examples/echo --lean\"")
    ap.add_argument("--ref", default="coring-epoll",
                    help="the server every ratio divides (default coring-epoll)")
    ap.add_argument("--shuffle", action="store_true",
                    help="with --paired: the loadgens visit the connections in a new random "
                    "order each cycle (loadgen -X) instead of round-robin in opening order")
    ap.add_argument("--paired", action="store_true",
                    help="the two servers of each ratio at once, each with its own loadgen (see above)")
    a = ap.parse_args()
    global SHUFFLE
    SHUFFLE = a.shuffle
    if a.shuffle and not a.paired:
        ap.error("--shuffle goes with --paired")
    lg = os.path.join(OUT, "loadgen")
    servers.WARM = 0.3
    perf = servers.perf_works()[0]
    esrv, hsrv = server_lists(a.base)
    for x in a.extra:
        name, _, cmd = x.partition("=")
        if not name or not cmd:
            ap.error(f"--extra wants NAME=COMMAND, not {x!r}")
        esrv.append((name, shlex.split(cmd) + ["0"]))
    if a.servers:
        keep = set(a.servers.split(","))
        esrv, hsrv = [s for s in esrv if s[0] in keep], [s for s in hsrv if s[0] in keep]
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
        if a.rates:
            lo, hi = (float(x) for x in a.rates.split(","))
            rates[name] = [("lo", lo), ("hi", hi)]
            continue
        sat = {}
        for sv, argv in srvs:
            sat[sv] = servers.saturation(lg, argv, mode, conns, a.secs)["saturation req/s"][0]
            print(f"  {name} saturation {sv}: {sat[sv]:,.0f} req/s", file=sys.stderr)
        lo = min(sat.values())
        rates[name] = [("50%", round(lo * 0.5, -2)), ("80%", round(lo * 0.8, -2))]
    if a.paired:
        return paired(a, lg, jobs, rates)
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
    labels = [lab for lab, _ in next(iter(rates.values()))] if rates else []
    figs = [f"server CPU/req @{lab}" for lab in labels] + \
        [f"syscalls/req: {c}" for c in ["all"] + CALLS]
    for name, mode, conns, srvs in jobs:
        names = [sv for sv, _ in srvs]
        print(f"## {name}: rates {', '.join(f'{lab} = {x:,.0f} req/s' for lab, x in rates[name])}\n")
        pairs = [(a.ref, n) for n in names if n not in (a.ref, "base-uring")]
        if a.base:
            pairs.append(("coring-uring", "base-uring"))
        pairs = [(x, y) for x, y in pairs if x in names and y in names]
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
