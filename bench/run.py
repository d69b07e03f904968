#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run.py — coring's benchmark driver (stdlib only).

Runs coring and its peers side by side, interleaved in rounds (A B A B ...),
because this kind of machine drifts by tens of percent over seconds: only
figures measured in the same run, close in time, may be compared. Keeps every
sample, reports medians with min-max, and states each comparison as a
coring/peer ratio taken round by round (paired samples, then the median).

    python3 bench/run.py            # default: < 10 min on 2 cores
    QUICK=1 python3 bench/run.py    # smoke run: < 2 min
    TOKIO=1 ...                     # install and run the Tokio peer
                                    # (TOKIO=0 skips it; unset: run if installed)

Writes bench/results/<timestamp>.md and latest.md, plus gnuplot plots (PNG and
SVG) of the ratios and of RSS per task. Exit status is non-zero only if a coring
benchmark itself failed; a peer that cannot run is reported as skipped.
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
OUT = os.path.join(TOP, "build", "bench")
RESULTS = os.path.join(HERE, "results")  # git-ignored; bench/reference/ holds the committed report
PY = "/usr/bin/python3"  # Debian's python: python3-uvloop installs for it
REL = os.path.join(TOP, "build", "release")  # `make examples`: echo, http, floor, uv-echo
sys.path.insert(0, HERE)
import servers  # noqa: E402  (the echo/HTTP measuring half of this driver)

QUICK = os.environ.get("QUICK", "") not in ("", "0")
TOKIO = os.environ.get("TOKIO", "")
# ONLY=echo,http (groups: micro, programs, memory, echo, http, threads, idle): run a
# subset, e.g. while working on one subsystem. Unset: everything. `idle` is the
# idle-connection phase alone (echo includes it).
ONLY = set(filter(None, os.environ.get("ONLY", "").split(",")))


def wanted(group):
    return not ONLY or group in ONLY

# ---------------------------------------------------------------- workload --

def _nofile_hard():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


if QUICK:
    # A smoke run: everything runs once (< 2 min of measuring on 2 cores once
    # the peers are installed and built). Its figures are for checking, not for
    # quoting: one round gives no min-max, and 0.1 s warm-ups are short.
    ROUNDS = 1
    MICRO_MIN_TIME = 0.02
    SPAWN_BATCH_N = 50_000  # 1,000,000 in default mode (asyncio alone takes ~10 s a run)
    SPAWN_SEQ_N = 50_000
    SLEEPERS = [(20_000, 1)]  # (N, rounds); 100,000 and 1,000,000 (the goal's N) in default mode
    NET_ROUNDS = 1  # echo and HTTP: rounds of every server (QUICK: one, no min-max)
    THREAD_ROUNDS = 1  # to_thread, cross-thread, deque
    NET_DUR = 0.2   # seconds measured per server window (after NET_WARM)
    NET_WARM = 0.1
    VALID_DUR = 1   # seconds of wrk / h2load / loadgen per validation run
    VALID_SERVERS = ("coring",)
    ECHO_CONNS = [50]
    IDLE_CONNS = 2_000
    IDLE_SPLIT = (4_000, 2_000)  # (N, per process): the split path, 2 processes
    MEM_IDLE_CONNS = 20_000  # bench/idle-conns (coring alone, over several processes if need be)
    FIRST_TOUCH = ["2000", "1"]
    PAYLOADS = [65536]
else:
    ROUNDS = 5
    MICRO_MIN_TIME = 0.2
    SPAWN_BATCH_N = 1_000_000
    SPAWN_SEQ_N = 200_000
    SLEEPERS = [(100_000, 5), (1_000_000, 3)]
    NET_ROUNDS = 3
    THREAD_ROUNDS = 3  # default mode ran 9:42 with 5 here (and Tokio): keep a margin
    NET_DUR = 0.7
    NET_WARM = 0.3
    VALID_DUR = 2
    VALID_SERVERS = ("coring", "go", "nginx", "asyncio", "uvloop", "tokio")
    ECHO_CONNS = [50, 500]
    # 100,000 is the goal; one process can hold no more descriptors than
    # RLIMIT_NOFILE's hard limit (20,000 on our VMs, not raisable there), and
    # the server and loadgen each need one per connection.
    IDLE_CONNS = min(100_000, _nofile_hard() - 500)
    # ...and the goal's 100,000 beside the peers: K processes of each server,
    # each with its own loadgen, K = ceil(N / per process).
    IDLE_SPLIT = (100_000, _nofile_hard() - 500)
    MEM_IDLE_CONNS = 100_000
    FIRST_TOUCH = ["20000", "3"]
    PAYLOADS = [64, 4096, 65536, 1 << 20]
# The servers of the split idle row (the others: the one-process row only).
# Each takes 40-80 s at 100,000 here (the connects, not the measuring), so
# the copying readline variant, whose figure is linear in N like the others
# (9,707 B at 19,500, 9,740 B at 100,000), is left to the one-process row:
# `ONLY=idle` then stays under ~8 minutes.
IDLE_SPLIT_SERVERS = ("coring", "coring-readline", "coring-readline-lean", "libuv", "go", "tokio")
PAYLOAD_CONNS = 16
CHURN_CONNS = 50
MULTI_CONNS = 200
# Fixed offered loads: fractions of the slowest server's saturation (lowest
# round), the same req/s for every server of a benchmark.
RATE_FRACTIONS = [("50%", 0.5), ("80%", 0.8)]
# Threads. coring, libuv and Tokio always run the full counts;
# asyncio/uvloop are ~50× slower per job, so they run fewer and the report
# compares ns per job / per submission.
TO_THREAD_N, TO_THREAD_INFLIGHT = 200_000, 64
POOL_WORKERS = os.cpu_count() or 2  # every peer's to_thread pool gets this many threads
TIMER_SECS, TIMER_RATE, TIMER_LIVE = 1, 100_000, 10_000
FILE_READS, FILE_INFLIGHT, FILE_MIB = (50_000 if QUICK else 200_000), 64, 64
XTHREAD_N, XTHREAD_PRODUCERS = 1_000_000, 2
PY_TO_THREAD_N = 5_000 if QUICK else 30_000
PY_XTHREAD_N = 5_000 if QUICK else 30_000
PY_FILE_READS = 5_000 if QUICK else 30_000
ECHO_SIZE = 64
HTTP_CONNS = 50
LOADGEN = os.path.join(OUT, "loadgen")  # bench/loadgen.c: plain epoll, nothing of coring

RUN_TIMEOUT = 300  # seconds, one program

# Benchmarks whose subsystem has not landed: listed in every report.
# (Empty since issues 3 and 5 merged. A "lock contended across loops" slot
# was dropped: coring's sync objects belong to one thread, like asyncio's, so
# there is no cross-thread lock to measure.)
WAITING = []


def fmt_dur(s):
    s = max(0, int(s))
    return f"{s // 60}:{s % 60:02d}"


def sh(cmd, **kw):
    """Output of a command, or '' if it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- runtimes --

class Runtime:
    def __init__(self, name, label):
        self.name, self.label = name, label
        self.ok, self.reason, self.version = False, "", ""

    def cmd(self, bench, args):
        raise NotImplementedError

    def server_cmd(self, bench):
        """argv of this runtime's echo/HTTP server (prints its port)."""
        return None


class Coring(Runtime):
    def __init__(self):
        super().__init__("coring", "coring")

    def setup(self):
        for p in ("micro", "spawn", "sleepers"):
            if not os.access(os.path.join(OUT, p), os.X_OK):
                self.reason = f"build/bench/{p} missing: run `make -C bench`"
                return
        commit = sh(["git", "-C", TOP, "rev-parse", "--short", "HEAD"])
        self.version = f"coring {coring_version()} ({commit or 'no git'}), " + gcc_version()
        self.ok = True

    def cmd(self, bench, args):
        return [os.path.join(OUT, bench)] + args


class CoringLean(Coring):
    """coring's sleepers with CR_STACK_LEAN (a 1 KiB slot per task): the
    Memory section's column, never a peer."""

    def __init__(self):
        Runtime.__init__(self, "coring-lean", "coring, lean stacks")
        self.env = dict(os.environ, CR_BENCH_STACK_CLASS="lean")
        self.ok = True


LEAN = CoringLean()


class Go(Runtime):
    def __init__(self):
        super().__init__("go", "Go")

    def setup(self):
        go = shutil.which("go")
        if not go:
            self.reason = "no `go` (Debian package golang-go could not be installed)"
            return
        env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(OUT, "gocache"))
        for p in ("spawn", "sleepers", "echo", "hello", "timers", "fileread", "echoclient"):
            r = subprocess.run([go, "build", "-o", os.path.join(OUT, "go-" + p), p + ".go"],
                               cwd=os.path.join(HERE, "peers", "go"), env=env,
                               capture_output=True, text=True)
            if r.returncode:
                self.reason = "go build failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
                return
        self.version = sh([go, "version"]) + (f" (GOMAXPROCS={os.cpu_count()}, the default; "
                                              "1 for the servers, pinned to one CPU)")
        self.ok = True

    def cmd(self, bench, args):
        return [os.path.join(OUT, "go-" + bench)] + args

    def server_cmd(self, bench):
        return [os.path.join(OUT, "go-" + bench), "0"]


class Asyncio(Runtime):
    def __init__(self, uvloop):
        super().__init__("uvloop" if uvloop else "asyncio", "uvloop" if uvloop else "asyncio")
        self.uvloop = uvloop

    def setup(self):
        if not os.access(PY, os.X_OK):
            self.reason = f"{PY} missing"
            return
        pyv = sh([PY, "-c", "import sys; print(sys.version.split()[0])"])
        if self.uvloop:
            v = sh([PY, "-c", "import uvloop; print(uvloop.__version__)"])
            if not v:
                self.reason = "python3-uvloop not importable by /usr/bin/python3"
                return
            self.version = f"uvloop {v} on CPython {pyv}"
        else:
            self.version = f"asyncio, CPython {pyv}"
        self.ok = True

    def cmd(self, bench, args):
        c = [PY, os.path.join(HERE, "peers", "python", bench + ".py")] + args
        return c + ["--uvloop"] if self.uvloop else c

    def server_cmd(self, bench):
        return self.cmd(bench, ["0"])


class Tokio(Runtime):
    def __init__(self):
        super().__init__("tokio", "Tokio")

    def setup(self):
        if TOKIO == "0":
            self.reason = "disabled with TOKIO=0"
            return
        cargo = "/usr/bin/cargo"  # Debian's, which matches the packaged crates
        reg = "/usr/share/cargo/registry"
        crates = os.listdir(reg) if os.path.isdir(reg) else []
        have = os.access(cargo, os.X_OK) and all(  # every crate of bench/peers/tokio/Cargo.toml
            any(d.startswith(c) for d in crates) for c in ("tokio-1", "httparse-1"))
        if not have:
            self.reason = ("opt-in: run with TOKIO=1 to install cargo + librust-tokio-dev + librust-httparse-dev"
                           if TOKIO != "1" else "cargo/librust-tokio-dev/librust-httparse-dev could not be installed")
            return
        log("building the Tokio peer (cargo --offline, Debian's crates)...")
        r = subprocess.run([cargo, "build", "--release", "--offline", "--target-dir",
                            os.path.join(OUT, "tokio")],
                           cwd=os.path.join(HERE, "peers", "tokio"), capture_output=True, text=True)
        if r.returncode:
            self.reason = "cargo build failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
            return
        tv = re.findall(r"tokio-(1[\d.]*)", " ".join(os.listdir(reg)))
        self.version = (f"Tokio {max(tv) if tv else '?'} current-thread runtime, "
                        + sh([cargo, "--version"]) + ", " + sh(["/usr/bin/rustc", "--version"]))
        self.ok = True

    def cmd(self, bench, args):
        return [os.path.join(OUT, "tokio", "release", bench)] + args

    def server_cmd(self, bench):
        return self.cmd(bench, ["0"])


class Server:
    """One echo or HTTP server of the network benchmarks; cpus: taskset list."""

    def __init__(self, name, label, argv, reason="", cpus=None):
        self.name, self.label, self.argv, self.reason = name, label, argv, reason
        self.ok, self.cpus = not reason, cpus


def need_exe(path, how):
    return "" if os.access(path, os.X_OK) else f"{os.path.relpath(path, TOP)} missing ({how})"


def net_servers(runtimes):
    """(echo servers, HTTP servers, {bench: reason it cannot run at all})."""
    rt = {r.name: r for r in runtimes}
    mk = "run `make examples`"
    # coring-epoll: the same binary on the epoll backend (`env` execs it, so
    # the pid is still the server's), beside the epoll peers libuv and Tokio.
    ep = ["env", "CORING_BACKEND=epoll"]
    echo = [Server("coring", "coring", [os.path.join(REL, "examples", "echo"), "0"],
                   need_exe(os.path.join(REL, "examples", "echo"), mk)),
            Server("coring-epoll", "coring (epoll)", ep + [os.path.join(REL, "examples", "echo"), "0"],
                   need_exe(os.path.join(REL, "examples", "echo"), mk)),
            Server("floor", "liburing floor", [os.path.join(REL, "bench", "floor-echo"), "0"],
                   need_exe(os.path.join(REL, "bench", "floor-echo"), mk)),
            Server("libuv", "libuv", [os.path.join(REL, "bench", "uv-echo"), "0"],
                   need_exe(os.path.join(REL, "bench", "uv-echo"), "needs libuv1-dev, then " + mk))]
    for name in ("go", "asyncio", "uvloop", "tokio"):
        r = rt[name]
        argv = r.server_cmd("echo") if r.ok else None
        echo.append(Server(name, r.label, argv, "" if r.ok else r.reason))
    http = [Server("coring", "coring", [os.path.join(REL, "examples", "http"), "0"],
                   need_exe(os.path.join(REL, "examples", "http"), mk)),
            Server("coring-epoll", "coring (epoll)", ep + [os.path.join(REL, "examples", "http"), "0"],
                   need_exe(os.path.join(REL, "examples", "http"), mk))]
    tk = rt["tokio"]
    http.append(Server("tokio", "Tokio + httparse", tk.server_cmd("http") if tk.ok else None,
                       "" if tk.ok else tk.reason))
    g = rt["go"]
    http.append(Server("go", "Go net/http", g.server_cmd("hello") if g.ok else None,
                       "" if g.ok else g.reason))
    http.append(Server("nginx", "nginx", ["nginx"],
                       "" if shutil.which("nginx") else "no `nginx` (Debian: nginx-light)"))
    # All cores: every server may run on every CPU (the generator still takes
    # CPU 1: on 2 cores it shares one with the server).
    allc = ",".join(str(i) for i in range(os.cpu_count() or 2))
    ge = os.path.join(OUT, "group-echo")
    multi = [Server("coring", f"coring loop group ({os.cpu_count()} loops)", [ge, "0"],
                    need_exe(ge, "run `make -C bench`"), allc),
             Server("tokio", "Tokio multi-thread", tk.cmd("echo-mt", ["0"]) if tk.ok else None,
                    "" if tk.ok else tk.reason, allc),
             Server("go", f"Go (GOMAXPROCS={os.cpu_count()})", rt["go"].server_cmd("echo") if rt["go"].ok else None,
                    "" if rt["go"].ok else rt["go"].reason, allc)]
    # HTTP on all cores: nginx runs as it is deployed, a master and one worker
    # per CPU (loadgen and perf count the workers: the master's children).
    ncpu = os.cpu_count() or 2
    multi_http = [Server("coring", f"coring loop group ({ncpu} loops)", [ge, "0", "0", "http"],
                         need_exe(ge, "run `make -C bench`"), allc),
                  Server("nginx", f"nginx ({ncpu} workers)", ["nginx", str(ncpu)],
                         "" if shutil.which("nginx") else "no `nginx` (Debian: nginx-light)", allc),
                  Server("go", f"Go net/http (GOMAXPROCS={ncpu})", g.server_cmd("hello") if g.ok else None,
                         "" if g.ok else g.reason, allc)]
    whole = {}
    if not os.access(LOADGEN, os.X_OK):
        whole["echo"] = whole["http"] = "build/bench/loadgen missing (run `make -C bench`)"
    if not shutil.which("taskset"):
        whole["echo"] = whole["http"] = "no `taskset` (Debian: util-linux)"
    return echo, http, multi, multi_http, whole


class Runner:
    """One process of a thread benchmark: argv, and which RESULT figure it
    prints goes to which (row, runtime) of the report."""

    def __init__(self, name, label, argv, figures, reason="", env=None):
        self.name, self.label, self.argv, self.figures = name, label, argv, figures
        self.reason, self.env, self.ok = reason, env, not reason


def thread_jobs(runtimes):
    """[(title, rows, [Runner])] for the thread whole-program benchmarks.

    coring's programs (bench/thread-*.c, the threads engineer's) run coring
    and libuv in one process, interleaved, one round per run (ROUNDS=1)."""
    rt = {r.name: r for r in runtimes}
    env1 = dict(os.environ, ROUNDS="1")
    env_pool = dict(env1, WORKERS=str(POOL_WORKERS))  # coring's and libuv's pools: POOL_WORKERS each
    exe = {p: os.path.join(OUT, p) for p in ("thread-to-thread", "thread-submit", "thread-deque")}
    why = {p: need_exe(e, "run `make -C bench`; needs libuv1-dev")
           for p, e in exe.items()}

    def peer(name, bench, args, figs):
        r = rt[name]
        return Runner(name, r.label, r.cmd(bench, args) if r.ok else None, figs, "" if r.ok else r.reason)

    tt = f"to_thread: tiny jobs, {TO_THREAD_INFLIGHT} in flight, {POOL_WORKERS} pool threads each"
    row, cpu = f"{tt}: wall ns per job", f"{tt}: CPU ns per job (all threads)"
    py_args = [str(PY_TO_THREAD_N), str(TO_THREAD_INFLIGHT), f"--workers={POOL_WORKERS}"]
    to_thread = (tt, [row, cpu], [
        Runner("coring", "coring + libuv", [exe["thread-to-thread"]],
               {"to_thread_coring": (row, "coring"), "to_thread_libuv": (row, "libuv"),
                "to_thread_cpu_coring": (cpu, "coring"), "to_thread_cpu_libuv": (cpu, "libuv")},
               why["thread-to-thread"], env_pool),
        peer("asyncio", "tothread", py_args, {"to_thread": (row, "asyncio"), "to_thread_cpu": (cpu, "asyncio")}),
        peer("uvloop", "tothread", py_args, {"to_thread": (row, "uvloop"), "to_thread_cpu": (cpu, "uvloop")}),
        peer("tokio", "tothread", [str(TO_THREAD_N), str(TO_THREAD_INFLIGHT), str(POOL_WORKERS)],
             {"to_thread": (row, "tokio"), "to_thread_cpu": (cpu, "tokio")}),
    ])
    xt = f"cross-thread submissions from {XTHREAD_PRODUCERS} threads"
    cb, co = f"{xt}: callback (call_soon_threadsafe), ns/op", f"{xt}: coroutine (run_coroutine_threadsafe), ns/op"
    py_args = [str(PY_XTHREAD_N), str(XTHREAD_PRODUCERS)]
    xthread = (xt, [cb, co], [
        Runner("coring", "coring + libuv", [exe["thread-submit"]],
               {"xthread_call_soon_coring": (cb, "coring"), "xthread_coroutine_coring": (co, "coring"),
                "xthread_libuv": (cb, "libuv")}, why["thread-submit"], env1),
        peer("asyncio", "xthread", py_args, {"xthread_call_soon": (cb, "asyncio"),
                                             "xthread_coroutine": (co, "asyncio")}),
        peer("uvloop", "xthread", py_args, {"xthread_call_soon": (cb, "uvloop"),
                                            "xthread_coroutine": (co, "uvloop")}),
        peer("tokio", "xthread", [str(XTHREAD_N), str(XTHREAD_PRODUCERS)],
             {"xthread_coroutine": (co, "tokio")}),
    ])
    dq = "Chase-Lev deque, 1,000,000 items, 2 threads"
    rows = [f"{dq}: owner push+take, ns/op", f"{dq}: steal, one thief, ns/op",
            f"{dq}: owner push/take vs 1 thief, ns/item"]
    deque = (dq, rows, [Runner("coring", "coring", [exe["thread-deque"]],
                               {"deque_push_take": (rows[0], "coring"), "deque_steal": (rows[1], "coring"),
                                "deque_contended": (rows[2], "coring")}, why["thread-deque"], env1)])
    tm = f"timers: {TIMER_RATE:,} arm+cancel pairs/s with {TIMER_LIVE:,} armed, for {TIMER_SECS} s"
    trow = f"{tm}: CPU ns per pair"
    targs = [str(TIMER_SECS), str(TIMER_RATE), str(TIMER_LIVE)]
    tex = os.path.join(OUT, "timers")
    timers = (tm, [trow], [
        Runner("coring", "coring + libuv", [tex] + targs, {"timers_coring": (trow, "coring"),
                                                           "timers_libuv": (trow, "libuv")},
               need_exe(tex, "run `make -C bench`; needs libuv1-dev"), env1),
        peer("go", "timers", targs, {"timers": (trow, "go")}),
        peer("asyncio", "timers", targs, {"timers": (trow, "asyncio")}),
        peer("uvloop", "timers", targs, {"timers": (trow, "uvloop")}),
        peer("tokio", "timers", targs, {"timers": (trow, "tokio")}),
    ])
    fr = f"random 4 KiB reads of a warm {FILE_MIB} MiB file, {FILE_INFLIGHT} in flight, {POOL_WORKERS} pool threads"
    frow, fcpu = f"{fr}: wall ns per read", f"{fr}: CPU ns per read (all threads)"
    fargs = [str(FILE_READS), str(FILE_INFLIGHT), str(FILE_MIB)]
    fex = os.path.join(OUT, "fileread")
    fileread = (fr, [frow, fcpu], [
        Runner("coring", "coring + libuv", [fex] + fargs,
               {"fileread_uring": (frow, "coring"), "fileread_pool": (frow, "coring to_thread"),
                "fileread_libuv": (frow, "libuv"), "fileread_cpu_uring": (fcpu, "coring"),
                "fileread_cpu_pool": (fcpu, "coring to_thread"), "fileread_cpu_libuv": (fcpu, "libuv")},
               need_exe(fex, "run `make -C bench`; needs libuv1-dev"), env_pool),
        peer("go", "fileread", fargs, {"fileread": (frow, "go"), "fileread_cpu": (fcpu, "go")}),
        peer("asyncio", "fileread", [str(PY_FILE_READS), str(FILE_INFLIGHT), str(FILE_MIB), f"--workers={POOL_WORKERS}"],
             {"fileread": (frow, "asyncio"), "fileread_cpu": (fcpu, "asyncio")}),
        peer("uvloop", "fileread", [str(PY_FILE_READS), str(FILE_INFLIGHT), str(FILE_MIB), f"--workers={POOL_WORKERS}"],
             {"fileread": (frow, "uvloop"), "fileread_cpu": (fcpu, "uvloop")}),
        peer("tokio", "fileread", fargs + [str(POOL_WORKERS)],
             {"fileread": (frow, "tokio"), "fileread_cpu": (fcpu, "tokio")}),
    ])
    return [to_thread, xthread, deque, timers, fileread]


def coring_version():
    try:
        with open(os.path.join(TOP, "include", "coring.h")) as f:
            m = re.search(r'CORING_VERSION_STRING "([^"]+)"', f.read())
            return m.group(1) if m else "?"
    except OSError:
        return "?"


def gcc_version():
    return (sh(["gcc", "--version"]).splitlines() or ["gcc ?"])[0]


def install_peers():
    """Best effort: tools/deps.sh bench-peers installs what it can."""
    env = dict(os.environ, WITH_TOKIO="1" if TOKIO == "1" else "")
    r = subprocess.run([os.path.join(TOP, "tools", "deps.sh"), "bench-peers"], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        log("some peers could not be installed (they will be reported as skipped):")
        log(r.stderr.strip())


# ---------------------------------------------------------------- machine --

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    pkgs = ["liburing-dev", "libbenchmark-dev", "libboost-context-dev", "libc6", "golang-go",
            "python3-uvloop", "librust-tokio-dev", "librust-httparse-dev", "gnuplot-nox", "libuv1-dev", "nginx-light",
            "wrk", "linux-perf"]
    vers = {}
    for p in pkgs:
        v = sh(["dpkg-query", "-W", "-f=${Version}", p])
        vers[p] = v or "not installed"
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "memory": mem,
            "packages": vers, "load": os.getloadavg()}


# ---------------------------------------------------------------- running --

class Store:
    """samples[(figure, runtime)] = [value per round]; units[figure]."""

    def __init__(self):
        self.samples, self.units, self.errors = {}, {}, {}

    def add(self, figure, runtime, value, unit, rnd):
        lst = self.samples.setdefault((figure, runtime), [])
        while len(lst) < rnd:
            lst.append(None)  # a failed round keeps its slot so pairs stay paired
        lst.append(value)
        self.units[figure] = unit

    def get(self, figure, runtime):
        return self.samples.get((figure, runtime), [])


class Progress:
    def __init__(self):
        self.t0 = time.monotonic()
        self.seen = {}  # job key -> list of durations
        self.todo = []  # (key, guess) still to run

    def plan(self, key, guess):
        self.todo.append((key, guess))

    def left(self):
        return sum(statistics.mean(self.seen[k]) if k in self.seen else g for k, g in self.todo)

    def start(self, key, what):
        el = time.monotonic() - self.t0
        log(f"[{fmt_dur(el)} elapsed, ~{fmt_dur(self.left())} left] {what}")
        return time.monotonic()

    def done(self, key, t):
        self.seen.setdefault(key, []).append(time.monotonic() - t)
        for i, (k, _) in enumerate(self.todo):
            if k == key:
                del self.todo[i]
                break


def run_program(cmd, env=None):
    """Runs one benchmark program; returns ({figure: (value, unit)}, error)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {RUN_TIMEOUT} s"
    except OSError as e:
        return {}, str(e)
    res = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if len(p) == 4 and p[0] == "RESULT":
            try:
                res[p[1]] = (float(p[2]), p[3])
            except ValueError:
                pass
    if r.returncode or not res:
        err = (r.stderr.strip().splitlines() or [f"exit {r.returncode}, no RESULT"])[-1]
        return res, err
    return res, None


# Micro: benchmark name in micro.cc -> (figure, runtime). Peers of the switch
# live in the same binary; every other micro figure is coring's alone.
MICRO = {
    "switch_coring": ("switch", "coring"),
    "switch_boost_fcontext": ("switch", "boost"),
    "switch_swapcontext": ("switch", "swapcontext"),
    "yield_two_tasks": ("yield (cr_sleep(0), two tasks)", "coring"),
    "spawn_run_join": ("spawn+run+join, one at a time", "coring"),
    "future_resolve_wake": ("future resolve+wake (ping-pong)", "coring"),
    "future_wait_for_pingpong": ("future ping-pong through wait_for (+timer arm/disarm)", "coring"),
    "lock_uncontended": ("lock acquire+release, uncontended", "coring"),
    "lock_contended": ("lock hand-off, 2 tasks contending", "coring"),
    "timer_arm_cancel": ("timer arm+cancel (call_later+cancel, 1,000 armed)", "coring"),
    "mpsc_push_pop": ("MPSC push or pop, uncontended (batches of 64)", "coring"),
    "deque_push_take": ("Chase-Lev deque owner push or take (batches of 64)", "coring"),
    "deque_push_steal": ("Chase-Lev deque owner push or steal, no rival thief (batches of 64)", "coring"),
    "to_thread_round_trip": ("to_thread round trip (tiny job, awaited)", "coring"),
}


def run_micro(store, rnd):
    cmd = [os.path.join(OUT, "micro"), "--benchmark_format=json",
           f"--benchmark_min_time={MICRO_MIN_TIME}"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        data = json.loads(r.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        store.errors[("micro", "coring")] = str(e)
        return False
    ok = True
    for b in data.get("benchmarks", []):
        name = b.get("name", "")
        if name not in MICRO:
            continue  # a new benchmark: add it to MICRO to report it
        fig, rt = MICRO[name]
        if b.get("error_occurred"):
            store.errors[(fig, rt)] = b.get("error_message", "error")
            ok = ok and rt != "coring"
            continue
        ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        store.add(fig, rt, ns / b.get("ops", 1), "ns", rnd)
    return ok


NET = {"perf": False, "perf_why": "", "rates": {}, "lows": {}, "hi": {}}  # filled by main() and run_net()
PY_SERVERS = ("asyncio", "uvloop")
CG_TITLE = "echo under callgrind, 64-byte messages"
HI = "hi"  # the extra fixed rate for the compiled servers (see run_net)


MEMORY = {}  # figure row -> unit, filled by run_memory()
MEMORY_SPLIT = {}  # coring / coring-lean -> server processes idle-conns used


def run_memory(store, prog):
    """coring alone: bench/idle-conns at MEM_IDLE_CONNS (default, lean stacks;
    split over processes when the descriptor limit asks) and bench/first-touch
    (what a fresh page costs here). Returns True if a run failed."""
    failed = False
    ic = os.path.join(OUT, "idle-conns")
    # Never talked, then after one exchange (`talk`: a line each way, then
    # parked again; the stream must hold no buffer then either).
    for r, (variant, talk) in enumerate((("default", False), ("lean", False),
                                         ("default", True), ("lean", True))):
        what = variant + (", after one exchange" if talk else "")
        key = ("memory", "idle", what)
        t = prog.start(key, f"memory · {MEM_IDLE_CONNS:,} idle connections (bench/idle-conns) · {what}")
        res, err = run_program([ic, str(MEM_IDLE_CONNS)] + (["lean"] if variant == "lean" else [])
                               + (["talk"] if talk else []))
        prog.done(key, t)
        name = "coring" if variant == "default" else "coring-lean"
        if err:
            store.errors[(f"idle-conns {MEM_IDLE_CONNS}" + (" talk" if talk else ""), name)] = err
            log(f"    FAILED: {err}")
            failed = True
        for fig, (v, unit) in res.items():
            if fig in ("idle_conns", "idle_conns_processes"):  # the N asked for; the split, in the note
                MEMORY_SPLIT[name] = int(res.get("idle_conns_processes", (1, ""))[0])
                continue
            if fig == "idle_conns_setup" and talk:
                continue  # includes the settle time: not a setup figure
            row = (f"{MEM_IDLE_CONNS:,} idle connections parked in readline"
                   + (" after one exchange" if talk else "") + f": {fig}")
            MEMORY[row] = unit
            store.add(row, name, v, unit, 0)
    key = ("memory", "first-touch")
    t = prog.start(key, "memory · first touch of a fresh page (bench/first-touch)")
    try:
        out = subprocess.run([os.path.join(OUT, "first-touch")] + FIRST_TOUCH, capture_output=True,
                             text=True, timeout=RUN_TIMEOUT).stdout
    except (OSError, subprocess.SubprocessError) as e:
        out = ""
        store.errors[("first-touch", "coring")] = str(e)
    prog.done(key, t)
    for m in re.finditer(r"^(\S+)\s+populate\s+([\d.]+) us/page\s+first write\s+([\d.]+) us/page", out, re.M):
        for fig, v in (("populate", m.group(2)), ("first write", m.group(3))):
            row = f"first touch, {m.group(1)}: {fig}"
            MEMORY[row] = "µs/page"
            store.add(row, "coring", float(v), "µs/page", 0)
    return failed


def memory_report(store, fig_title):
    """The Memory section: sleepers with coring's default and lean stacks
    beside the peers, idle connections, first touch."""
    L = ["## Memory: sleeping tasks, idle connections, first touch\n"]
    names = [("coring", "coring"), ("coring-lean", "coring, lean stacks"), ("go", "Go"), ("tokio", "Tokio")]
    rows = [row for row, (bench, fig, n) in fig_title.items() if bench == "sleepers"
            and fig in ("sleepers_wall", "sleepers_rss_per_task", "sleepers_wall_over_ideal")]
    shown = [(n, lab) for n, lab in names if any(store.get(row, n) for row in rows)]
    if rows and shown:
        L.append("| figure | unit | " + " | ".join(lab for _, lab in shown) + " | lean/Go | lean/Tokio |")
        L.append("|" + "---|" * (4 + len(shown)))
        for row in rows:
            lean = store.get(row, "coring-lean")
            L.append(f"| {row} | {store.units.get(row, '')} | "
                     + " | ".join(cell(store.get(row, n)) for n, _ in shown)
                     + f" | {ratio_cell(lean, store.get(row, 'go'))} | {ratio_cell(lean, store.get(row, 'tokio'))} |")
        L.append("\nLean: `CR_BENCH_STACK_CLASS=lean build/bench/sleepers N 100 42` (each task in a 1 KiB "
                 "slot holding its struct; docs/memory.md), interleaved with the others in every round.\n")
    if MEMORY:
        L.append("| figure | unit | coring | coring, lean stacks |")
        L.append("|---|---|---|---|")
        for row, unit in MEMORY.items():
            L.append(f"| {row} | {unit} | {cell(store.get(row, 'coring'))} | {cell(store.get(row, 'coring-lean'))} |")
        L.append(f"\n`build/bench/idle-conns {MEM_IDLE_CONNS} [lean] [talk]`: a client opens the connections and sends "
                 f"nothing (`talk`: one line each way on every connection, all at once, then idle; measured "
                 f"0.3 s after the last answer); each handler task is parked in `cr_stream_readline`; (VmRSS once all are parked − "
                 f"before) / N, summed over the server processes when the descriptor limit "
                 f"({_nofile_hard():,} here) splits N (this run: {max(MEMORY_SPLIT.values(), default=1)} "
                 f"processes). `build/bench/first-touch {' '.join(FIRST_TOUCH)}`: µs per "
                 f"4 KiB page to populate it and for the first write after.\n")
    return L


def _measure(store, prog, key, what, rows, title, name, rnd, fn):
    """Runs fn() -> {figure: (value, unit)} as one progress step; files each
    figure under row '<title>: <figure>'. Returns True if coring failed."""
    t = prog.start(key, what)
    try:
        res = fn()
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError) as e:
        res = {}
        store.errors[(f"{title} ({key[0]})", name)] = str(e)
        log(f"    FAILED: {e}")
    prog.done(key, t)
    for fig, (v, unit) in res.items():
        row = f"{title}: {fig}"
        rows[row] = (title, fig)
        store.add(row, name, v, unit, rnd)
    return not res and name == "coring"


def run_net(store, prog, net_jobs, net_rows, echo_srv, http_srv):
    """The server benchmarks, in phases, each server interleaved with its
    peers in every round: saturation (closed loop) → the fixed rates derived
    from it → fixed-rate windows (+ a perf window) → HTTP validation against
    wrk and h2load → idle connections → payload sweep."""
    failed = False
    lg = LOADGEN
    servers.WARM = NET_WARM

    def order(srvs, r):
        ok = [sv for sv in srvs if sv.ok]
        return ok if r % 2 == 0 else list(reversed(ok))

    for r in range(NET_ROUNDS):
        for bench, conns, title, srvs in net_jobs:
            mode = "echo" if bench == "echo" else "http"
            for sv in order(srvs, r):
                failed |= _measure(store, prog, ("sat", conns, bench, sv.name),
                                   f"round {r + 1}/{NET_ROUNDS} · {title} · saturation · {sv.label}",
                                   net_rows, title, sv.name, r,
                                   lambda: servers.saturation(lg, sv.argv, mode, conns, NET_DUR, ECHO_SIZE, cpus=sv.cpus))
    for bench, conns, title, srvs in net_jobs:
        # The slowest server's lowest saturation round sets the offered loads:
        # every server then gets the same req/s, one it can carry.
        def low(sv):
            # A starved window (neither process got the CPU) says nothing of
            # the server: it must not set everyone's rates.
            bad = starved_rounds(store, title, sv.name)
            sat = store.get(f"{title}: saturation req/s", sv.name)
            xs = [x for r, x in enumerate(sat) if x and r not in bad] or [x for x in sat if x]
            return min(xs) if xs else None
        lows = [(low(sv), sv) for sv in srvs if sv.ok and low(sv)]
        if not lows:
            continue
        lo, slow = min(lows, key=lambda p: p[0])
        rates = [(lab, round(lo * f, -2)) for lab, f in RATE_FRACTIONS]
        # When the Python servers set those rates, they say little about the
        # compiled ones: one more rate, 80% of the slowest of those, which the
        # servers that cannot carry it skip.
        compiled = [(x, sv) for x, sv in lows if sv.name not in PY_SERVERS]
        if compiled and slow.name in PY_SERVERS:
            clo, cslow = min(compiled, key=lambda p: p[0])
            rates.append((HI, round(clo * 0.8, -2)))
            NET["hi"][title] = cslow.label
        NET["rates"][title] = (slow.label, rates)
        NET["lows"][title] = {sv.name: x for x, sv in lows}
    for r in range(NET_ROUNDS):
        for bench, conns, title, srvs in net_jobs:
            if title not in NET["rates"]:
                continue
            mode = "echo" if bench == "echo" else "http"
            for sv in order(srvs, r):
                rates = [(lab, x) for lab, x in NET["rates"][title][1]
                         if lab != HI or NET["lows"][title].get(sv.name, 0) >= x / 0.9]
                failed |= _measure(store, prog, ("rates", conns, bench, sv.name),
                                   f"round {r + 1}/{NET_ROUNDS} · {title} · fixed rates "
                                   + ", ".join(f"{x:,.0f}" for _, x in rates) + f" req/s · {sv.label}",
                                   net_rows, title, sv.name, r,
                                   lambda: servers.fixed_rates(lg, sv.argv, mode, conns, NET_DUR, rates,
                                                               ECHO_SIZE, perf=NET["perf"], cpus=sv.cpus))
    extra = {"validation": {}, "echo validation": {}, "idle": {}, "payload": {}}
    vtitle = f"HTTP validation, {HTTP_CONNS} connections"
    tools = [("loadgen", lambda sv: servers.loadgen_closed(lg, sv.argv, HTTP_CONNS, VALID_DUR))]
    tools += [("wrk", lambda sv: servers.wrk(sv.argv, HTTP_CONNS, VALID_DUR))] if shutil.which("wrk") else []
    tools += [("h2load", lambda sv: servers.h2load(sv.argv, HTTP_CONNS, VALID_DUR))] if shutil.which("h2load") else []
    NET["validation_tools"] = [t for t, _ in tools]
    etitle = f"echo validation, {ECHO_CONNS[0]} connections"
    goc = os.path.join(OUT, "go-echoclient")
    etools = [("loadgen", lambda sv: servers.loadgen_closed(lg, sv.argv, ECHO_CONNS[0], VALID_DUR, mode="echo"))]
    etools += [("Go client", lambda sv: servers.echoclient(goc, sv.argv, ECHO_CONNS[0], VALID_DUR))] \
        if os.access(goc, os.X_OK) else []
    ttitle = f"echo validation, together, {ECHO_CONNS[0]} connections"
    htitle = f"HTTP validation, together, {HTTP_CONNS} connections"
    h2title = f"HTTP validation, together with h2load, {HTTP_CONNS} connections"
    ttools = [("loadgen ‖ Go client", lambda sv: servers.together(lg, sv.argv, ECHO_CONNS[0], VALID_DUR,
                                                                   ("go", goc)))] if os.access(goc, os.X_OK) else []
    htools = [("loadgen ‖ wrk", lambda sv: servers.together(lg, sv.argv, HTTP_CONNS, VALID_DUR, ("wrk",)))] \
        if shutil.which("wrk") else []
    h2tools = [("loadgen ‖ h2load", lambda sv: servers.together(lg, sv.argv, HTTP_CONNS, VALID_DUR, ("h2load",)))] \
        if shutil.which("h2load") else []
    extra["together"] = {}
    for r in range(NET_ROUNDS):
        for title, srvs, tl, box, want in ((vtitle, http_srv, tools, "validation", "http"),
                                           (etitle, echo_srv, etools, "echo validation", "echo"),
                                           (ttitle, echo_srv, ttools, "together", "echo"),
                                           (htitle, http_srv, htools, "together", "http"),
                                           (h2title, http_srv, h2tools, "together", "http")):
            if not wanted(want):
                continue
            for sv in order([sv for sv in srvs if sv.name in VALID_SERVERS], r):
                for tool, fn in (tl if r % 2 == 0 else list(reversed(tl))):
                    _measure(store, prog, ("valid", title, tool, sv.name), f"round {r + 1}/{NET_ROUNDS} · {title} · "
                             f"{tool} · {sv.label}", extra[box], title, sv.name, r, lambda: fn(sv))
    itile = f"idle connections, {IDLE_CONNS:,} each parked in a read"
    ic = os.path.join(OUT, "idle-conns")
    why = need_exe(ic, "run `make -C bench`")
    NET["idle_srv"] = idle_srv = echo_srv + [
        Server("coring-readline", "coring, parked in cr_stream_readline", [ic, "serve"], why),
        Server("coring-readline-lean", "coring, readline, lean stacks", [ic, "serve", "lean"], why),
        Server("coring-readline-copy", "coring, readline after a copying read+write", [ic, "serve", "copy"], why)]
    for r in range(1 if wanted("echo") or wanted("idle") else 0):
        for sv in order(idle_srv, r):
            failed |= _measure(store, prog, ("idle", sv.name), f"{itile} · {sv.label}", extra["idle"], itile,
                               sv.name, r, lambda: servers.idle_memory(lg, sv.argv, IDLE_CONNS))
    n, per = IDLE_SPLIT
    stitle = idle_split_title()
    for r in range(1 if wanted("echo") or wanted("idle") else 0):
        for sv in order([sv for sv in idle_srv if sv.name in IDLE_SPLIT_SERVERS], r):
            failed |= _measure(store, prog, ("idle-split", sv.name), f"{stitle} · {sv.label}",
                               extra.setdefault("idle split", {}), stitle, sv.name, r,
                               lambda: servers.idle_memory_split(lg, sv.argv, n, per))
    ctitle = f"connection churn, {CHURN_CONNS} concurrent"
    for r in range(NET_ROUNDS if wanted("echo") else 0):
        for sv in order(echo_srv, r):
            failed |= _measure(store, prog, ("churn", sv.name), f"round {r + 1}/{NET_ROUNDS} · {ctitle} · {sv.label}",
                               extra.setdefault("churn", {}), ctitle, sv.name, r,
                               lambda: servers.churn(lg, sv.argv, CHURN_CONNS, NET_DUR))
    ptitle = f"echo payload sweep, {PAYLOAD_CONNS} connections, closed loop"
    sweep = [sv for sv in echo_srv if sv.name in ("coring", "floor", "libuv", "go", "tokio")]
    for r in range(NET_ROUNDS if wanted("echo") else 0):
        for size in PAYLOADS:
            for sv in order(sweep, r):
                failed |= _measure(store, prog, ("payload", size, sv.name), f"round {r + 1}/{NET_ROUNDS} · "
                                   f"{ptitle} · {size:,} B · {sv.label}", extra["payload"], ptitle, sv.name, r,
                                   lambda: servers.payload(lg, sv.argv, size, PAYLOAD_CONNS, NET_DUR))
    if not QUICK and wanted("echo"):
        callgrind(store, prog, echo_srv, extra)
    NET["extra"] = extra
    return failed


def idle_split_title():
    n, per = IDLE_SPLIT
    k = len(servers.idle_split(n, per))
    return f"idle connections, {n:,} over {k} server processes, each parked in a read"


def callgrind(store, prog, echo_srv, extra):
    """User-space instructions per echo request under callgrind (bench/io-instr.py):
    deterministic, so one run. Go cannot run under valgrind 3.19 (its runtime
    executes RDTSCP at start-up, which valgrind cannot decode: SIGILL); the
    floor, blocked in io_uring_enter, never sees the SIGINT that makes
    callgrind write its counts. asyncio and uvloop take ~20 s to start under
    callgrind: first connection count only, 10 and 30 rounds."""
    if not shutil.which("valgrind"):
        NET["callgrind_why"] = "no `valgrind` (Debian: valgrind)"
        return
    import importlib.util
    spec = importlib.util.spec_from_file_location("io_instr", os.path.join(HERE, "io-instr.py"))
    ii = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ii)
    title = CG_TITLE
    for sv in echo_srv:
        if not sv.ok or sv.name not in ("coring", "coring-epoll", "libuv", "tokio") + PY_SERVERS:
            continue
        py = sv.name in PY_SERVERS
        for conns in ECHO_CONNS[:1] if py else ECHO_CONNS:
            def one():
                r1, r2 = (10, 30) if py else (20, 60)
                argv = [a for a in sv.argv if a != "0"]  # io-instr appends the port argument "0"
                env = None
                if argv[0] == "env":  # coring-epoll: valgrind must start the server itself, not env
                    extra = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
                    argv, env = argv[1 + len(extra):], dict(os.environ, **extra)
                lo, hi = ii.counts(argv, conns, r1, env=env), ii.counts(argv, conns, r2, env=env)
                return {f"user-space instructions/req, {conns} conns": ((hi[0] - lo[0]) / (conns * (r2 - r1)),
                                                                        "instr")}
            _measure(store, prog, ("callgrind", conns, sv.name), f"{title} · {conns} connections · {sv.label}",
                     extra.setdefault("callgrind", {}), title, sv.name, 0, one)


def main():
    t_start = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t_start))
    log(f"coring bench: {'QUICK' if QUICK else 'default'} mode, {ROUNDS} rounds")
    install_peers()
    runtimes = [Coring(), Go(), Asyncio(False), Asyncio(True), Tokio()]
    for rt in runtimes:
        rt.setup()
        log(f"  {rt.label:8s} {'ok: ' + rt.version if rt.ok else 'skipped (' + rt.reason + ')'}")
    if not runtimes[0].ok:
        log("coring itself is not built: " + runtimes[0].reason)
        return 1
    live = [rt for rt in runtimes if rt.ok]
    echo_srv, http_srv, multi_srv, multi_http, net_skip = net_servers(runtimes)
    for bench, lst in (("echo", echo_srv), ("http", http_srv), ("echo", multi_srv), ("http", multi_http)):
        for sv in lst:
            if sv.ok and bench in net_skip:
                sv.ok, sv.reason = False, net_skip[bench]
            log(f"  {bench} server {sv.label:14s} " + ("ok" if sv.ok else f"skipped ({sv.reason})"))
    # perf is looked for only now, after install_peers() installed linux-perf.
    NET["perf"], NET["perf_why"] = servers.perf_works()
    if not NET["perf"]:
        log(f"  syscall counts: skipped ({NET['perf_why']})")
    # (bench, conns, title, servers)
    net_jobs = [("echo", c, f"echo, {c} connections, {ECHO_SIZE}-byte messages", echo_srv)
                for c in ECHO_CONNS if wanted("echo")]
    if wanted("http"):
        net_jobs.append(("http", HTTP_CONNS, f"HTTP hello, {HTTP_CONNS} connections", http_srv))
    if wanted("echo"):
        net_jobs.append(("echo", MULTI_CONNS, f"echo on all cores, {MULTI_CONNS} connections, {ECHO_SIZE}-byte "
                                              f"messages", multi_srv))
    if wanted("http"):
        net_jobs.append(("http", MULTI_CONNS, f"HTTP hello on all cores, {MULTI_CONNS} connections", multi_http))
    net_rows = {}  # row -> (title, figure)
    th_jobs = thread_jobs(runtimes) if wanted("threads") else []
    for title, rows, runners in th_jobs:
        for rn in runners:
            if not rn.ok and rn.name == "coring":
                log(f"  threads: {title}: skipped ({rn.reason})")

    # Jobs of one round. guess = seconds, for the time-left estimate before
    # the first measurement of each job.
    # Seconds per task measured on a 2-vCPU VM; replaced by real durations as
    # soon as a job has run once.
    per_task = {
        "spawn batch": {"coring": .3e-6, "go": .5e-6, "tokio": .3e-6, "asyncio": 7e-6, "uvloop": 6e-6},
        "spawn seq": {"coring": .2e-6, "go": .4e-6, "tokio": .3e-6, "asyncio": 5e-6, "uvloop": 3e-6},
        "sleepers": {"coring": 6e-6, "go": 3e-6, "tokio": 2e-6, "asyncio": 23e-6, "uvloop": 19e-6},
        "sleepers 1M": {"coring": 15e-6, "go": 2e-6, "tokio": 2e-6, "asyncio": 27e-6, "uvloop": 23e-6},
    }

    def guess(bench, args, n, rt):
        key = bench + (" " + args[0] if bench == "spawn" else " 1M" if n >= 1_000_000 else "")
        return 0.1 + n * per_task[key][rt]

    jobs = [("spawn", ["batch", str(SPAWN_BATCH_N)], f"spawn {SPAWN_BATCH_N:,} tasks, then join all",
             SPAWN_BATCH_N, ROUNDS),
            ("spawn", ["seq", str(SPAWN_SEQ_N)], f"spawn+join one at a time ×{SPAWN_SEQ_N:,}",
             SPAWN_SEQ_N, ROUNDS)]
    for n, rounds in SLEEPERS:
        jobs.append(("sleepers", [str(n), "100", "42"], f"{n:,} tasks sleeping 0–100 ms", n, rounds))
    if not wanted("programs"):
        jobs = []
    # Figures the programs print -> row titles (a job's figures are keyed by its N).
    fig_title = {}

    prog = Progress()
    for r in range(ROUNDS):
        if wanted("micro"):
            prog.plan(("micro",), 15 if not QUICK else 4)
        for bench, args, title, n, rounds in jobs:
            if r < rounds:
                for rt in live:
                    prog.plan((bench, tuple(args), rt.name), guess(bench, args, n, rt.name))
        for title, rows, runners in th_jobs if r < THREAD_ROUNDS else []:
            for rn in runners:
                if rn.ok:
                    prog.plan(("threads", title, rn.name), 2.0)
        if r < NET_ROUNDS:
            for bench, conns, title, srvs in net_jobs:
                for sv in srvs:
                    if sv.ok:
                        prog.plan(("sat", conns, bench, sv.name), NET_DUR + 0.8)
                        prog.plan(("rates", conns, bench, sv.name), 3 * NET_DUR + 3)

    store = Store()
    failed = False
    t_measure = time.time()
    for r in range(ROUNDS):
        if wanted("micro"):
            t = prog.start(("micro",), f"round {r + 1}/{ROUNDS} · micro-benchmarks (coring, Boost.Context, swapcontext)")
            failed |= not run_micro(store, r)
            prog.done(("micro",), t)
        for bench, args, title, n, rounds in jobs:
            if r >= rounds:
                continue
            # Alternate the order each round so no runtime always runs first.
            order = live if r % 2 == 0 else list(reversed(live))
            if bench == "sleepers" and order and live[0].name == "coring":  # + coring's lean class
                order = order + [LEAN] if r % 2 == 0 else [LEAN] + order
            for rt in order:
                key = (bench, tuple(args), rt.name)
                t = prog.start(key, f"round {r + 1}/{rounds} · {title} · {rt.label}")
                res, err = run_program(rt.cmd(bench, args), getattr(rt, "env", None))
                prog.done(key, t)
                if err:
                    store.errors[(title, rt.name)] = err
                    log(f"    {rt.label}: FAILED: {err}")
                    failed |= rt.name == "coring"
                for fig, (v, unit) in res.items():
                    row = f"{title}: {fig}"
                    fig_title[row] = (bench, fig, n)
                    store.add(row, rt.name, v, unit, r)
        for title, rows, runners in th_jobs if r < THREAD_ROUNDS else []:
            order = [rn for rn in runners if rn.ok]
            for rn in order if r % 2 == 0 else reversed(order):
                key = ("threads", title, rn.name)
                t = prog.start(key, f"round {r + 1}/{THREAD_ROUNDS} · {title} · {rn.label}")
                res, err = run_program(rn.argv, rn.env)
                prog.done(key, t)
                if err:
                    store.errors[(title, rn.name)] = err
                    log(f"    {rn.label}: FAILED: {err}")
                    failed |= rn.name == "coring"
                for fig, (v, unit) in res.items():
                    if fig in rn.figures:
                        row, runtime = rn.figures[fig]
                        store.add(row, runtime, v, unit, r)
    if wanted("memory"):
        failed |= run_memory(store, prog)
    failed |= run_net(store, prog, net_jobs, net_rows, echo_srv, http_srv)
    elapsed = time.time() - t_start
    log(f"done in {fmt_dur(elapsed)}: measuring {fmt_dur(time.time() - t_measure)}, after "
        f"{fmt_dur(t_measure - t_start)} of peer installs and builds")
    report(stamp, store, runtimes, machine(), elapsed, fig_title, net_jobs, net_rows, th_jobs)
    return 1 if failed else 0


# ---------------------------------------------------------------- report --

def med(xs):
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs), len(xs)) if xs else None


def fmt_num(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(xs):
    m = med(xs)
    if not m:
        return "—"
    c = fmt_num(m[0])
    if m[3] > 1:
        c += f" ({fmt_num(m[1])}–{fmt_num(m[2])})"
        if m[0] and (m[2] - m[1]) / m[0] > 0.3:
            c += " ⚠"
    return c


def paired_ratios(a, b):
    return [x / y for x, y in zip(a, b) if x is not None and y is not None and y > 0]


def ratio_cell(a, b):
    m = med(paired_ratios(a, b))
    if not m:
        return "—"
    return f"{m[0]:.3g}" + (f" ({m[1]:.3g}–{m[2]:.3g})" if m[3] > 1 else "")


GOALS = [
    # (text, figure, peer or None, test(coring median, ratio median) -> bool, how to show)
    ("raw switch no slower than Boost.Context jump_fcontext", "switch", "boost",
     lambda c, r: r is not None and r <= 1.0),
    ("raw switch > 30× faster than swapcontext", "switch", "swapcontext",
     lambda c, r: r is not None and r < 1 / 30),
    ("spawn+run+join < 150 ns/task", "spawn+run+join, one at a time", None,
     lambda c, r: c is not None and c < 150),
    ("100,000 sleepers finish in < 1.2× the ideal 100 ms",
     "100,000 tasks sleeping 0–100 ms: sleepers_wall_over_ideal", None,
     lambda c, r: c is not None and c < 1.2),
]


def report(stamp, store, runtimes, mach, elapsed, fig_title, net_jobs, net_rows, th_jobs):
    os.makedirs(RESULTS, exist_ok=True)
    peers = [rt for rt in runtimes[1:] if rt.ok]
    cmd = "make bench" + (" QUICK=1" if QUICK else "") + (" TOKIO=1" if TOKIO == "1" else "") \
        + (f" ONLY={','.join(sorted(ONLY))}" if ONLY else "")
    L = []
    L.append(f"# coring benchmarks — {stamp} UTC ({'QUICK' if QUICK else 'default'} mode)\n")
    L.append(f"Produced by `{cmd}` in {fmt_dur(elapsed)} (min:s). Every cell is the median "
             f"over the rounds, with (min–max); ⚠ marks a spread over 30% of the median: a "
             f"noisy run. Ratios are coring/peer, computed round by round from samples taken "
             f"seconds apart, then the median: **below 1 means coring is faster / smaller**.\n")
    L.append("## Machine\n")
    L.append(f"- CPU: {mach['cpu']}, {mach['cores']} cores, {mach['memory']}; kernel {mach['kernel']}; "
             f"load average at the end {mach['load'][0]:.2f}")
    for rt in runtimes:
        L.append(f"- {rt.label}: " + (rt.version if rt.ok else f"**skipped** ({rt.reason})"))
    L.append("- Debian packages: " + ", ".join(f"{k} {v}" for k, v in mach["packages"].items()))
    L.append("")

    # Goals.
    L.append("## Goals\n")
    L.append("| goal | measured | met? |")
    L.append("|---|---|---|")
    for text, fig, peer, test in GOALS:
        c = med(store.get(fig, "coring"))
        rr = med(paired_ratios(store.get(fig, "coring"), store.get(fig, peer))) if peer else None
        if peer:
            shown = (f"coring {cell(store.get(fig, 'coring'))} ns vs {cell(store.get(fig, peer))} ns: "
                     f"ratio {ratio_cell(store.get(fig, 'coring'), store.get(fig, peer))}"
                     if c and rr else "not measured")
        else:
            shown = cell(store.get(fig, "coring")) + (" ns" if "ns" in text else "×") if c else "not measured"
        ok = test(c[0] if c else None, rr[0] if rr else None)
        if shown == "not measured":
            L.append(f"| {text} | not measured{' (default mode only)' if QUICK else ''} | — |")
            continue
        L.append(f"| {text} | {shown} | {'yes' if ok else '**no**'}"
                 f"{' (noisy: rerun on a quiet machine)' if '⚠' in shown else ''} |")
    L.append("")

    # Micro.
    L.append(f"## Micro-benchmarks (ns per operation; Google Benchmark, min_time {MICRO_MIN_TIME} s)\n")
    L.append("| figure | coring | Boost.Context fcontext | glibc swapcontext | coring/Boost | coring/swapcontext |")
    L.append("|---|---|---|---|---|---|")
    seen, missing = [], []
    for name, (fig, rt) in MICRO.items():
        if fig in seen:
            continue
        seen.append(fig)
        c = store.get(fig, "coring")
        b, s = store.get(fig, "boost"), store.get(fig, "swapcontext")
        if not (c or b or s):
            missing.append(fig)  # not in this build of micro (e.g. an older build)
            continue
        L.append(f"| {fig} | {cell(c)} | {cell(b)} | {cell(s)} | {ratio_cell(c, b)} | {ratio_cell(c, s)} |")
    if missing and wanted("micro"):
        L.append(f"\nNot in this build of `build/bench/micro`: {', '.join(missing)}.")
    L.append("\n`switch` is one one-way switch (half a ping-pong). `yield` is one task handing "
             "the loop to another through a full loop turn.\n")
    L.append("**The switches do not do the same work.** coring's `cr__ctx_switch` saves the callee-saved "
             "general registers and the stack pointer only; it does **not** save or restore the "
             "floating-point control state (x86-64: MXCSR and the x87 control word; AArch64: FPCR), which "
             "coring treats as thread-wide (lib/ctx.h). Boost.Context's `jump_fcontext` saves and restores "
             "MXCSR and the x87 control word on every switch (`stmxcsr`/`fnstcw` + `ldmxcsr`/`fldcw`), and "
             "`swapcontext` also saves the signal mask with a system call. Part of coring's lead is that "
             "skipped work: a task that changes the rounding mode changes it for every task of the thread.\n")

    # Whole programs.
    L.append("## Whole programs\n")
    hdr = "| figure | unit | coring | " + " | ".join(p.label for p in peers) + " | " + \
          " | ".join(f"coring/{p.label}" for p in peers) + " |"
    L.append(hdr)
    L.append("|" + "---|" * (3 + 2 * len(peers)))
    for row, (bench, fig, n) in fig_title.items():
        c = store.get(row, "coring")
        L.append(f"| {row} | {store.units.get(row, '')} | {cell(c)} | "
                 + " | ".join(cell(store.get(row, p.name)) for p in peers) + " | "
                 + " | ".join(ratio_cell(c, store.get(row, p.name)) for p in peers) + " |")
    L.append("\nspawn: ns per task from the first spawn to the last join. sleepers: wall time from "
             "the first spawn to the last join (ideal 100 ms), and peak RSS per task (VmHWM after "
             "minus before, over N). Go runs with its default GOMAXPROCS (all cores); coring, "
             "asyncio, uvloop and Tokio (current-thread) use one thread.\n")
    if not any(s == 1_000_000 for s, _ in SLEEPERS):
        L.append("1,000,000 sleepers: not run in QUICK mode (default mode only).\n")

    L += memory_report(store, fig_title)
    L += threads_report(store, th_jobs)
    L += net_report(store, net_jobs, net_rows)
    L += summary(store, runtimes, net_jobs)

    if store.errors:
        L.append("## Failures\n")
        for (what, rt), err in store.errors.items():
            L.append(f"- {what} · {rt}: {err}")
        L.append("")

    if WAITING:
        L.append("## Waiting on other subsystems\n")
        for what, issue in WAITING:
            L.append(f"- {what} — waiting on issue {issue}")
        L.append("")

    plots = plot(stamp, store, peers, fig_title) + plot_servers(stamp, store, net_jobs)
    if plots:
        L.append("## Plots\n")
        for title, base in plots:
            L.append(f"- {title}: [{base}.png]({base}.png), [{base}.svg]({base}.svg)\n\n  ![{title}]({base}.png)")
        L.append("")

    L.append("## Raw samples (per round)\n")
    L.append("```")
    for (fig, rt), xs in store.samples.items():
        L.append(f"{fig} · {rt}: " + ", ".join("-" if x is None else f"{x:.4g}" for x in xs))
    L.append("```")
    text = "\n".join(L) + "\n"
    # A partial run (ONLY=...) never replaces latest.*: the README links those.
    for name in (f"{stamp}.md",) + (() if ONLY else ("latest.md",)):
        with open(os.path.join(RESULTS, name), "w") as f:
            f.write(text.replace("](latest-", "](" + stamp + "-") if name != "latest.md" else text)
    log(f"report: bench/results/{stamp}.md" + ("" if ONLY else " (and latest.md)"))
    print(text)


# Server figures in report order; True where higher is better. "@X" rows
# exist once per fixed rate.
NET_FIGS = [("saturation req/s", True), ("generator busy at saturation", False),
            ("server busy at saturation", False)]
RATE_FIGS = [("answered/offered", True), ("server CPU/req", False), ("latency p50", False), ("latency p99", False),
             ("latency p999", False), ("generator lag p99", False), ("syscalls/req", False),
             ("io_uring_enter/req", False)]


def net_figs():
    labs = [lab for lab, _ in RATE_FRACTIONS] + [HI]
    return NET_FIGS + [(f"{f} @{lab}", h) for f, h in RATE_FIGS for lab in labs]


def best_peer(store, title, fig, srvs, higher):
    """The peer (not coring, not the floor) with the best median, or None."""
    best = None
    for sv in srvs:
        if sv.name.startswith("coring") or sv.name == "floor":
            continue
        m = med(store.get(f"{title}: {fig}", sv.name))
        if m and m[0] > 0 and (best is None or (m[0] > best[1] if higher else m[0] < best[1])):
            best = (sv, m[0])
    return best[0] if best else None


# A saturation window in which neither the server nor the generator was on a
# CPU for more than this fraction of it was starved: the machine (other jobs,
# or the host descheduling this VM), not either process, set its figure.
STARVED = 0.05


def starved_rounds(store, title, name):
    """Rounds whose saturation window was starved (see STARVED)."""
    g = store.get(f"{title}: generator busy at saturation", name)
    sv = store.get(f"{title}: server busy at saturation", name)
    return [r for r, (x, y) in enumerate(zip(g, sv)) if x is not None and y is not None
            and x < STARVED and y < STARVED]


def gen_bound(store, title, name):
    """True if, in any round not starved, the generator was >= GEN_BOUND busy,
    or at least as busy as the server (on a shared machine neither may reach
    GEN_BOUND, and then the busier one is the bottleneck)."""
    g = store.get(f"{title}: generator busy at saturation", name)
    sv = store.get(f"{title}: server busy at saturation", name)
    bad = starved_rounds(store, title, name)
    return any(x is not None and r not in bad and (x >= servers.GEN_BOUND or (y is not None and x >= y))
               for r, (x, y) in enumerate(zip(g, sv + [None] * (len(g) - len(sv)))))


def net_table(store, title, srvs, figs, mark_bound=False, ratios=True):
    L = []
    shown = [sv for sv in srvs if any(store.get(f"{title}: {f}", sv.name) for f, _ in figs)]
    if not shown:
        return L
    has_floor = ratios and any(sv.name == "floor" for sv in shown)
    L.append("| figure | unit | " + " | ".join(sv.label for sv in shown)
             + (" | coring/floor" if has_floor else "") + (" | coring/best peer |" if ratios else " |"))
    L.append("|" + "---|" * (2 + len(shown) + has_floor + ratios))
    for fig, higher in figs:
        row = f"{title}: {fig}"
        if not any(store.get(row, sv.name) for sv in shown):
            continue
        c = store.get(row, "coring")
        cells = []
        for sv in shown:
            x = cell(store.get(row, sv.name))
            if mark_bound and fig == "saturation req/s" and gen_bound(store, title, sv.name):
                x += " ⚑"
            if mark_bound and fig == "saturation req/s" and starved_rounds(store, title, sv.name):
                x += " ⏸"
            cells.append(x)
        line = f"| {fig} | {store.units.get(row, '')} | " + " | ".join(cells)
        if has_floor:
            line += " | " + ratio_cell(c, store.get(row, "floor"))
        if ratios:
            bp = best_peer(store, title, fig, shown, higher)
            line += " | " + (f"{ratio_cell(c, store.get(row, bp.name))} ({bp.label})" if bp else "—")
        L.append(line + " |")
    return L


def together_report(store, net_jobs):
    """loadgen and a second client on one server at the same time."""
    L = [f"### Validation, together: loadgen and a second client on one server at the same time\n"]
    L.append(f"The sequential tables above compare windows seconds apart, and this machine's speed drifts by "
             f"tens of percent between them. Here loadgen and a second client (echo: the Go client; HTTP: "
             f"h2load --h1, and wrk) drive the same server in the same {VALID_DUR} s window, each with half the "
             f"connections, both pinned to CPU 1: drift hits both alike, and a server that treats connections "
             f"alike gives every connection the same rate. Tolerance, stated in advance: where the server is "
             f"the bottleneck (its busy fraction ≥ 1.5× loadgen's; on this shared machine neither reaches 0.9 "
             f"while other jobs take CPU), per-connection req/s within ±10% and mean latency within ±15%. "
             f"Where it is not, the two clients compete for CPU 1 and the kernel's scheduling of the two "
             f"processes, not the server, splits the answers: those rows are shown, not judged. wrk's latency "
             f"is shown and never judged: wrk 4 adds synthetic samples to its histogram before printing it "
             f"(`stats_correct`: every latency of at least twice its expected interval gets copies at that "
             f"latency minus 1, 2, … intervals), so its mean is not that of the requests it made and exceeds "
             f"its own closed-loop cycle time, which a measured mean cannot. The *cycle* columns are 1/(req/s "
             f"per connection), the upper bound of a closed loop's mean latency.\n")
    cases = [("echo", f"echo validation, together, {ECHO_CONNS[0]} connections", "Go client", True),
             ("http", f"HTTP validation, together with h2load, {HTTP_CONNS} connections", "h2load", True),
             ("http", f"HTTP validation, together, {HTTP_CONNS} connections", "wrk", False)]
    for b, title, other, judge_lat in cases:
        srvs = next((x for bb, c, t, x in net_jobs if bb == b), [])
        shown = [sv for sv in srvs if store.get(f"{title}: loadgen req/s per connection", sv.name)]
        if not shown:
            continue
        L.append(f"**{title}** (second client: {other})\n")
        L.append(f"| server | loadgen req/s per conn | {other} req/s per conn | {other}/loadgen | loadgen latency "
                 f"mean (µs) | {other} latency mean (µs) | {other}/loadgen | loadgen / {other} cycle (µs) | "
                 f"server busy | loadgen busy | within tolerance? |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for sv in shown:
            g = lambda f: store.get(f"{title}: {f}", sv.name)  # noqa: E731
            rr = med(paired_ratios(g("other req/s per connection"), g("loadgen req/s per connection")))
            lr = med(paired_ratios(g("other latency mean"), g("loadgen latency mean")))
            sb, gb = med(g("server busy")), med(g("loadgen busy"))
            bound = bool(sb and gb and sb[0] >= 1.5 * gb[0])
            ok = rr and abs(rr[0] - 1) <= 0.10 and (not judge_lat or (lr and abs(lr[0] - 1) <= 0.15))
            rc = lambda m: f"{m[0]:.3f} ({m[1]:.3f}–{m[2]:.3f})" if m else "—"  # noqa: E731
            cyc = lambda f: f"{1e6 / med(g(f))[0]:,.0f}" if med(g(f)) else "—"  # noqa: E731
            L.append(f"| {sv.label} | {cell(g('loadgen req/s per connection'))} | {cell(g('other req/s per connection'))} "
                     f"| {rc(rr)} | {cell(g('loadgen latency mean'))} | {cell(g('other latency mean'))} | {rc(lr)}"
                     f"{'' if judge_lat else ' (not judged)'} | {cyc('loadgen req/s per connection')} / "
                     f"{cyc('other req/s per connection')} | {cell(g('server busy'))} | {cell(g('loadgen busy'))} | "
                     + (("yes" if ok else "**no**") if bound else "n/a (server not the bottleneck)") + " |")
        L.append("")
    return L


def agreement(store, title, srvs, rps_pairs, lat_pair):
    """The validation verdict per server: other/loadgen ratios, whether the
    server was the bottleneck, and whether the tolerance held."""
    L = []
    shown = [sv for sv in srvs if store.get(f"{title}: loadgen req/s", sv.name)]
    if not shown:
        return L

    def rr(sv, a, b):
        m = med(paired_ratios(store.get(f"{title}: {a}", sv.name), store.get(f"{title}: {b}", sv.name)))
        return m[0] if m else None
    hdr = [f"{a.split(' req/s')[0]}/loadgen req/s" for a, _ in rps_pairs] + \
          [f"{lat_pair[0].split(' latency')[0]}/loadgen mean latency"]
    L.append("| server | " + " | ".join(hdr) + " | server-bound? | within tolerance? |")
    L.append("|---|" + "---|" * (len(hdr) + 2))
    f3 = lambda x: f"{x:.3f}" if x else "—"  # noqa: E731
    for sv in shown:
        rps = [rr(sv, a, b) for a, b in rps_pairs]
        lat = rr(sv, *lat_pair)
        sb = med(store.get(f"{title}: server busy (loadgen window)", sv.name))
        gb = med(store.get(f"{title}: loadgen busy", sv.name))
        bound = bool(sb and gb and sb[0] >= 1.5 * gb[0])
        ok = [abs(x - 1) <= 0.10 for x in rps if x] + ([abs(lat - 1) <= 0.15] if lat else [])
        L.append(f"| {sv.label} | " + " | ".join(f3(x) for x in rps + [lat]) + " | "
                 + ("yes" if bound else f"no (server busy {sb[0]:.2f}, loadgen busy {gb[0]:.2f})" if sb and gb
                    else "?") + " | " + (("yes" if all(ok) else "**no**") if bound else "n/a") + " |")
    L.append("")
    return L


def idle_report(store, net_jobs, L):
    """The idle-connection phase: N in one server process, then IDLE_SPLIT's
    N over K processes of each server."""
    extra = NET.get("extra", {})
    if extra.get("idle"):
        it = f"idle connections, {IDLE_CONNS:,} each parked in a read"
        L.append(f"### {it}\n")
        L.append(f"`loadgen -m idle -c {IDLE_CONNS}`: opens the connections, sends one byte on each and reads it "
                 f"back (so every connection is accepted and its handler parked in a read), waits 0.3 s, then "
                 f"reads the server's VmRSS. Figure: (VmRSS after − before) / connections. Kernel socket memory "
                 f"is not in RSS (the same for every server). One server process, at most "
                 f"{IDLE_CONNS:,}: RLIMIT_NOFILE's hard limit here is {_nofile_hard():,} descriptors per process "
                 f"(the next table splits {IDLE_SPLIT[0]:,} over several processes). The coring echo server parks in "
                 f"`cr_stream_read_buf`; `idle-conns serve` echoes the first bytes through the buffer views, then "
                 f"parks in `cr_stream_readline` (lean: `cr_server_opts.stack_class = CR_STACK_LEAN`; copy: echoes "
                 f"through `cr_stream_read` + `cr_stream_write`, whose 4 KiB buffers the stream then keeps).\n")
        echo = NET.get("idle_srv") or next((srvs for b, c, t, srvs in net_jobs if b == "echo"), [])
        L += net_table(store, it, echo, [(f"RSS per idle connection ({IDLE_CONNS:,})", False)])
        L.append("")
    if extra.get("idle split"):
        n, per = IDLE_SPLIT
        k = len(servers.idle_split(n, per))
        st = idle_split_title()
        L.append(f"### {st}\n")
        L.append(f"{n:,} connections held at once by {k} processes of each server ({per:,} at most each: the "
                 f"descriptor limit less headroom), each on its own port and driven by its own "
                 f"`loadgen -m idle -H -c {n // k:,}` (one 1-byte round trip per connection, then it holds them "
                 f"until the driver ends the hold); all servers pinned to CPU 0, all loadgens to CPU 1. Once "
                 f"every loadgen has its connections up, 0.3 s later, the driver reads every server's VmRSS. "
                 f"Figure: (sum over the {k} servers of VmRSS then − VmRSS before the first connection) / "
                 f"{n:,}, the same for every server; each process's fixed first-connection costs are in it "
                 f"({k}× those of the one-process row).\n")
        echo = NET.get("idle_srv") or []
        L += net_table(store, st, echo, [(f"RSS per idle connection ({n:,}, {k} processes)", False),
                                         (f"loadgen setup, slowest of {k} ({n:,}, {k} processes)", False)])
        L.append("")
    return L


def net_report(store, net_jobs, net_rows):
    if not net_jobs:  # ONLY=idle
        L = idle_report(store, net_jobs, ["## Servers: idle connections\n"])
        return L if len(L) > 1 else []
    L = ["## Servers: echo and HTTP\n"]
    L.append(
        f"Each server runs alone, pinned to CPU 0 (`taskset -c 0`: every runtime gets one core, Go's "
        f"GOMAXPROCS follows it); the load generator `build/bench/loadgen` (bench/loadgen.c: plain epoll, "
        f"nothing of coring) is pinned to CPU 1. Rounds: {NET_ROUNDS}, servers interleaved, order reversed "
        f"every other round. **Every figure comes from its own window** ({NET_DUR} s after a {NET_WARM} s warm-up):\n\n"
        f"- *saturation req/s*: closed loop, one request in flight per connection. ⚑ = in some round the "
        f"generator's thread was ≥ {servers.GEN_BOUND:.0%} busy, or at least as busy as the server (on a shared "
        f"machine neither may reach {servers.GEN_BOUND:.0%}): the generator, not the server, set that figure "
        f"(read CPU/request instead).\n"
        f"- *@50% / @80%*: open loop at a fixed rate, the same for every server: 50% and 80% of the lowest "
        f"saturation round of the slowest server of the table. *server CPU/req*: the server's CPU over "
        f"exactly the window whose answers are counted (/proc/PID/task/*/schedstat, read by the generator "
        f"at the window's edges), divided by them. *latency*: from each request's intended send time to its "
        f"answer (no coordinated omission), HDR-style histogram (buckets < 0.8% wide). *generator lag "
        f"p99*: how late the generator itself wrote requests — it is inside every latency figure.\n"
        + (f"- *syscalls/req*, *io_uring_enter/req*: a separate window at the 50% rate with `perf stat -e "
           f"raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter -p PID` attached; no other figure "
           f"is taken while perf is attached (tracing slows every syscall).\n"
           if NET["perf"] else f"- syscalls: not counted ({NET['perf_why']}).\n")
        + "- No user/kernel split: the 100 Hz tick split (utime/stime) cannot resolve a few hundred ns per "
          "request, and this VM exposes no PMU (`perf stat -e instructions:u` is not supported), so "
          "user-space instructions per request are not measured.\n\n"
          "Ratios: coring/server per round, then the median; for req/s above 1 means coring is faster, for "
          "every other row below 1 does. *best peer* = the peer (floor excluded) with the best median for "
          "that row.\n")
    for bench, conns, title, srvs in net_jobs:
        L.append(f"### {title}\n")
        if title.startswith("echo on all cores"):
            L.append(f"Every server may use every CPU (`taskset -c 0-{(os.cpu_count() or 2) - 1}`); the generator "
                     f"stays on CPU 1, so on this 2-CPU machine it shares a core with the server: saturation is "
                     f"bounded by both, and CPU/request at the fixed rates is the figure to read. coring: "
                     f"`bench/group-echo.c`, a loop group (`cr_loop_group_start`, one loop per CPU), each loop "
                     f"accepting on its own SO_REUSEPORT listener (plain socket calls: coring has no "
                     f"SO_REUSEPORT server helper yet) with the zero-copy handler of examples/echo.c; Tokio: the "
                     f"multi-thread runtime, one worker per CPU, one listener (`echo-mt.rs`); Go: the echo server "
                     f"with GOMAXPROCS = the CPU count. nginx is in the HTTP table on all cores below (it "
                     f"cannot echo: nginx-light has no echo module).\n")
        if title.startswith("HTTP hello,"):
            L.append("Tokio: `bench/peers/tokio/src/bin/http.rs`, the current-thread runtime parsing with httparse "
                     "(not hyper, which does more): examples/http.c's work, its header rules, its per-second Date "
                     "and its one write per batch of pipelined requests.\n")
        if title.startswith("HTTP hello on all cores"):
            L.append(f"The same arrangement for HTTP: every server may use every CPU, the generator stays on CPU 1. "
                     f"coring: `bench/group-echo.c` with `http`, the loop group serving each connection with "
                     f"examples/http.c's handler (the HTTP/1.1 work of the HTTP hello table); nginx as deployed, a "
                     f"master and one worker per CPU (`worker_processes {os.cpu_count() or 2}`; its CPU and "
                     f"syscalls are the workers' and the master's); Go net/http with GOMAXPROCS = the CPU count. On "
                     f"2 CPUs shared with the generator this shows CPU per request at equal load, not scaling.\n")
        if title in NET["rates"]:
            slow, rates = NET["rates"][title]
            L.append("Fixed rates: " + ", ".join(f"{lab} = {x:,.0f} req/s" for lab, x in rates if lab != HI)
                     + f" (of {slow}'s lowest saturation round)"
                     + "".join(f"; {HI} = {x:,.0f} req/s (80% of {NET['hi'][title]}'s, the slowest server but "
                               f"asyncio and uvloop; servers whose lowest saturation round is under "
                               f"{x / 0.9:,.0f} req/s skip it)" for lab, x in rates if lab == HI) + ".\n")
        L += net_table(store, title, srvs, net_figs(), mark_bound=True)
        st = [(sv, r) for sv in srvs if sv.ok for r in starved_rounds(store, title, sv.name)]
        if st:
            L.append(f"\n⏸ Starved saturation windows: " + "; ".join(
                f"{sv.label} round {r + 1} ({fmt_num(store.get(f'{title}: saturation req/s', sv.name)[r])} "
                f"req/s, server busy {store.get(f'{title}: server busy at saturation', sv.name)[r]:.3f}, "
                f"generator busy {store.get(f'{title}: generator busy at saturation', sv.name)[r]:.3f})"
                for sv, r in st) + f". Neither the server nor the generator was on a CPU for {STARVED:.0%} of "
                f"the window: other jobs or the host took the machine. The sample stays in the median and "
                f"min–max (nothing is dropped) but sets no fixed rate and no ⚑.")
        skipped = [sv for sv in srvs if not sv.ok]
        if skipped:
            L.append("\nSkipped: " + "; ".join(f"{sv.label} ({sv.reason})" for sv in skipped) + ".")
        L.append("")
    extra = NET.get("extra", {})
    http = next((srvs for b, c, t, srvs in net_jobs if b == "http"), [])
    vt = f"HTTP validation, {HTTP_CONNS} connections"
    if extra.get("validation"):
        L.append(f"### {vt}: loadgen beside wrk and h2load\n")
        L.append(
            f"The same servers under three generators, each in its own window ({VALID_DUR} s, closed loop, "
            f"{HTTP_CONNS} connections, one thread pinned to CPU 1): `loadgen -m http`, `wrk -t1 --latency`, "
            f"`h2load --h1 -t1` (nghttp2-client; it reports a mean, no percentiles). Tolerance stated in "
            f"advance: where the *server* is the bottleneck (the server's busy fraction ≥ 1.5× loadgen's: on this shared machine neither reaches 0.9 while other jobs take CPU), the "
            f"three req/s agree within ±10% and the mean latencies within ±15% (a closed loop's mean latency "
            f"is connections / req/s, so it follows). Where a generator is the bottleneck, req/s measures "
            f"that generator: the table then shows each one's ceiling.\n")
        figs = [(f, True) for f in ("loadgen req/s", "wrk req/s", "h2load req/s")] + \
               [(f, False) for f in ("loadgen busy", "server busy (loadgen window)", "loadgen latency mean (closed loop)",
                                     "h2load latency mean (closed loop)", "loadgen latency p50 (closed loop)",
                                     "wrk latency p50 (closed loop)", "loadgen latency p99 (closed loop)",
                                     "wrk latency p99 (closed loop)")]
        L += net_table(store, vt, http, figs, ratios=False)
        L.append("")
        L += agreement(store, vt, http, [("wrk req/s", "loadgen req/s"), ("h2load req/s", "loadgen req/s")],
                       ("h2load latency mean (closed loop)", "loadgen latency mean (closed loop)"))
    et = f"echo validation, {ECHO_CONNS[0]} connections"
    if extra.get("echo validation"):
        echo = next((srvs for b, c, t, srvs in net_jobs if b == "echo"), [])
        L.append(f"### {et}: loadgen beside a second echo client\n")
        L.append(f"The same echo servers under `loadgen` and under `bench/peers/go/echoclient.go` (written "
                 f"separately: a goroutine per connection, blocking writes and reads, every latency kept and "
                 f"sorted, echoed bytes compared), each in its own closed-loop window ({VALID_DUR} s, "
                 f"{ECHO_CONNS[0]} connections, pinned to CPU 1). Same tolerance: where the server is the "
                 f"bottleneck (the server's busy fraction ≥ 1.5× loadgen's: on this shared machine neither reaches 0.9 while other jobs take CPU), req/s within ±10% and mean latency within "
                 f"±15%.\n")
        figs = [("loadgen req/s", True), ("Go client req/s", True), ("loadgen busy", False),
                ("server busy (loadgen window)", False), ("loadgen latency mean (closed loop)", False),
                ("Go client latency mean (closed loop)", False), ("loadgen latency p50 (closed loop)", False),
                ("Go client latency p50 (closed loop)", False), ("loadgen latency p99 (closed loop)", False),
                ("Go client latency p99 (closed loop)", False)]
        L += net_table(store, et, echo, figs, ratios=False)
        L.append("")
        L += agreement(store, et, echo, [("Go client req/s", "loadgen req/s")],
                       ("Go client latency mean (closed loop)", "loadgen latency mean (closed loop)"))
    if extra.get("together"):
        L += together_report(store, net_jobs)
    L += idle_report(store, net_jobs, [])
    if extra.get("churn"):
        ct = f"connection churn, {CHURN_CONNS} concurrent"
        L.append(f"### {ct}\n")
        L.append(f"`loadgen -m churn -c {CHURN_CONNS}`: each of {CHURN_CONNS} slots connects (nonblocking), sends "
                 f"64 bytes, reads the echo, closes (the client first), and starts over. connections/s over the "
                 f"window; server CPU per connection from schedstat over the same window; latency from connect() "
                 f"to the echo. The client's connections come from 64 loopback addresses in turn "
                 f"(127.0.0.2 onwards), as many clients' would. "
                 + ("Each window runs server and client in a network namespace made for it (and lets the "
                    "last one's teardown finish first), so each starts with no connection in TIME_WAIT.\n"
                    if servers.CHURN_NETNS else
                    "The windows share the machine's TIME_WAIT table (no network namespace could be made: "
                    "that takes root and ip(8)), which moves connections/s between rounds: read server "
                    "CPU per connection first.\n"))
        echo = next((srvs for b, c, t, srvs in net_jobs if b == "echo"), [])
        L += net_table(store, ct, echo, [("connections/s", True), ("server CPU/connection", False),
                                         ("connect→echo latency p50", False), ("connect→echo latency p99", False),
                                         ("generator busy", False)])
        L.append("")
    if extra.get("callgrind"):
        L.append(f"### {CG_TITLE}: user-space instructions per request\n")
        L.append("`bench/io-instr.py`: the server runs under `valgrind --tool=callgrind` while a client makes "
                 "C connections do 20, then 60 rounds of one 64-byte message each; the difference of the two "
                 "runs' instruction counts / (C × 40) is the user-space cost of one request (libc included, the "
                 "kernel not). Deterministic: one run. asyncio and uvloop: the first connection count only, 10 "
                 "and 30 rounds (each start under callgrind takes ~20 s). Not measured: Go (valgrind 3.19 cannot "
                 "decode the RDTSCP instruction Go's runtime executes at start-up: SIGILL before main) and the "
                 "liburing floor (blocked in io_uring_enter under valgrind, it never sees the SIGINT that makes "
                 "callgrind write its counts; pokes on new connections did not get it delivered either).\n")
        echo = next((srvs for b, c, t, srvs in net_jobs if b == "echo"), [])
        L += net_table(store, CG_TITLE, echo, [(f"user-space instructions/req, {c} conns", False)
                                               for c in ECHO_CONNS])
        L.append("")
    elif NET.get("callgrind_why"):
        L.append(f"User-space instructions per request: not measured ({NET['callgrind_why']}).\n")
    if extra.get("payload"):
        pt = f"echo payload sweep, {PAYLOAD_CONNS} connections, closed loop"
        L.append(f"### {pt}\n")
        L.append(f"`loadgen -c {PAYLOAD_CONNS} -s SIZE`: one message in flight per connection, every echoed byte "
                 f"checked. MB/s = answers/s × size (one direction); server CPU/KiB from schedstat over the "
                 f"counted window. At large sizes the copies through loopback TCP dominate every server.\n")
        echo = next((srvs for b, c, t, srvs in net_jobs if b == "echo"), [])
        figs = []
        for size in PAYLOADS:
            figs += [(f"{size} B: MB/s echoed", True), (f"{size} B: server CPU/KiB", False),
                     (f"{size} B: generator busy", False)]
        L += net_table(store, pt, echo, figs)
        L.append("")
    return L


# Rows that describe the measurement, not a runtime: kept out of the summary.
DIAGNOSTIC = ("generator busy", "server busy", "generator lag", "loadgen ", "wrk ", "h2load ", "answered/offered")
HIGHER_BETTER = ("req/s", "connections/s", "MB/s")
LABELS = {"coring": "coring", "boost": "Boost.Context", "swapcontext": "swapcontext", "go": "Go",
          "asyncio": "asyncio", "uvloop": "uvloop", "tokio": "Tokio", "libuv": "libuv", "nginx": "nginx",
          "floor": "liburing floor", "coring to_thread": "coring to_thread(pread)"}


def summary(store, runtimes, net_jobs):
    """Every figure coring has, one line each: coring, the best peer, their
    ratio, and who is ahead — the table the README copies."""
    L = ["## Summary: every figure, coring against its best peer\n"]
    L.append("One line per figure of this report (diagnostic rows — generator/server busy, generator lag — "
             "and the validation table excepted). *best peer* = the runtime other than coring (the liburing "
             "floor excluded: it is a reference, not a runtime) with the best median in that row; the ratio "
             "is coring/peer per round, then the median (min–max). *ahead*: coring better by > 3% in the "
             "median and in every round; *behind*: worse by > 3% and in every round; *mixed*: the rounds "
             "disagree or the medians are within 3%. ⚑ = generator-bound.\n")
    L.append("| figure | unit | coring | best peer | coring/peer | |")
    L.append("|---|---|---|---|---|---|")
    titles = {t: srvs for _, _, t, srvs in net_jobs}
    for (row, rt), xs in list(store.samples.items()):
        if rt != "coring" or not any(x is not None for x in xs):
            continue
        if any(d in row.split(": ", 1)[-1] for d in DIAGNOSTIC) or " validation, " in row.split(": ", 1)[0]:
            continue
        higher = any(row.endswith(h) or f"{h} " in row.split(": ", 1)[-1] for h in HIGHER_BETTER)
        best = None
        for (r2, peer), ys in store.samples.items():
            if r2 != row or peer.startswith("coring") or peer == "floor":  # coring's variants are no peers
                continue
            m = med(ys)
            if m and m[0] > 0 and (best is None or (m[0] > best[1] if higher else m[0] < best[1])):
                best = (peer, m[0])
        title = row.split(": ", 1)[0]
        mark = lambda name: " ⚑" if row.endswith("saturation req/s") and title in titles and \
            gen_bound(store, title, name) else ""  # noqa: E731
        c = cell(xs) + mark("coring")
        if not best:
            L.append(f"| {row} | {store.units.get(row, '')} | {c} | — | — | |")
            continue
        peer = best[0]
        rr = paired_ratios(xs, store.get(row, peer))
        m = med(rr)
        verdict = ""
        if m:
            good = (lambda r: r > 1.03) if higher else (lambda r: r < 0.97)
            bad = (lambda r: r < 0.97) if higher else (lambda r: r > 1.03)
            verdict = "ahead" if all(good(r) for r in rr) else "**behind**" if all(bad(r) for r in rr) else "mixed"
        L.append(f"| {row} | {store.units.get(row, '')} | {c} | {LABELS.get(peer, peer)} "
                 f"{cell(store.get(row, peer))}{mark(peer)} | {ratio_cell(xs, store.get(row, peer))} | {verdict} |")
    L.append("")
    return L


def threads_report(store, th_jobs):
    if not th_jobs:
        return []
    L = ["## Threads: to_thread, cross-thread submission, work-stealing deque\n"]
    L.append(f"coring's programs are `bench/thread-*.c`; each runs coring and libuv one after the "
             f"other in one process (ROUNDS=1: one sample per round). to_thread: every pool gets "
             f"{POOL_WORKERS} threads (the CPU count): coring `cr_to_thread` (WORKERS={POOL_WORKERS}), "
             f"libuv `uv_queue_work` (UV_THREADPOOL_SIZE={POOL_WORKERS}), asyncio/uvloop `asyncio.to_thread` "
             f"(default executor set to a ThreadPoolExecutor of {POOL_WORKERS}), Tokio `spawn_blocking` "
             f"(current-thread runtime, `max_blocking_threads({POOL_WORKERS})`); {TO_THREAD_N:,} jobs "
             f"({PY_TO_THREAD_N:,} for asyncio/uvloop), first submission to last completion; *CPU ns per job* "
             f"is the process's CPU time (every thread) over the same span — coring's workers spin briefly "
             f"before parking, which buys wall time with CPU: read both rows. "
             f"Cross-thread: {XTHREAD_N:,} submissions ({PY_XTHREAD_N:,} for asyncio/uvloop) from "
             f"{XTHREAD_PRODUCERS} producer threads into one loop, until the loop has run the last: "
             f"callbacks (coring `cr_call_soon_threadsafe`, libuv a mutex-protected list + "
             f"`uv_async_send`, asyncio `call_soon_threadsafe`) and coroutines (coring "
             f"`cr_run_coroutine_threadsafe`, asyncio `run_coroutine_threadsafe`, Tokio "
             f"`Handle::spawn`). Equal work: coring's coroutine and Tokio's task both bump a plain "
             f"counter owned by the loop thread and create no future/JoinHandle kept by anyone (Tokio: a "
             f"thread-local Cell, no Arc clone per task). Timers (`bench/timers.c` and its peers): "
             f"{TIMER_LIVE:,} timers stay armed (deadlines 1–10 s, none fires) and every 1 ms tick "
             f"{TIMER_RATE // 1000} of them are cancelled and re-armed, for {TIMER_SECS} s; the figure is the "
             f"process's CPU time per arm+cancel pair, the 1,000 tick wake-ups a second included (the same for "
             f"every peer): coring `cr_call_later` + `cr_handle_cancel`, libuv `uv_timer_stop` + "
             f"`uv_timer_start`, Go `time.AfterFunc` + `Stop` (default GOMAXPROCS), asyncio/uvloop `call_later` "
             f"+ `cancel`, Tokio a `Sleep` registered by one poll and dropped. File reads (`bench/fileread.c` "
             f"and its peers): {FILE_READS:,} random 4 KiB-aligned reads of a {FILE_MIB} MiB file read through "
             f"once before (page-cache hits: each path's overhead, not the disk's), {FILE_INFLIGHT} in flight: "
             f"coring `cr_read` (io_uring), coring `cr_to_thread(pread)` (its pool), libuv `uv_fs_read` (its "
             f"pool), Go `File.ReadAt` from {FILE_INFLIGHT} goroutines, Tokio `spawn_blocking(pread)` (what "
             f"tokio::fs does), asyncio/uvloop `asyncio.to_thread(os.pread)` from {FILE_INFLIGHT} tasks "
             f"({PY_FILE_READS:,} reads: asyncio has no asynchronous file I/O, and aiofiles does the same through "
             f"run_in_executor); every pool has {POOL_WORKERS} threads; wall and CPU ns per read. Ratios: coring/peer per round, then the median; below 1 = coring faster.\n")
    for title, rows, runners in th_jobs:
        cols = []
        for rn in runners:
            for fig, (row, runtime) in rn.figures.items():
                if runtime not in [c for c, _ in cols]:
                    cols.append((runtime, {"coring": "coring"}.get(runtime, runtime)))
        labels = {"coring": "coring", "libuv": "libuv", "asyncio": "asyncio", "uvloop": "uvloop",
                  "tokio": "Tokio", "go": "Go", "coring to_thread": "coring to_thread(pread)"}
        peers = [c for c, _ in cols if c != "coring"]
        L.append(f"### {title}\n")
        L.append("| figure | " + " | ".join(labels.get(c, c) for c, _ in cols)
                 + "".join(f" | coring/{labels.get(p, p)}" for p in peers) + " |")
        L.append("|" + "---|" * (1 + len(cols) + len(peers)))
        for row in rows:
            c = store.get(row, "coring")
            L.append(f"| {row.split(': ', 1)[1]} | " + " | ".join(cell(store.get(row, n)) for n, _ in cols)
                     + "".join(f" | {ratio_cell(c, store.get(row, p))}" for p in peers) + " |")
        skipped = [rn for rn in runners if not rn.ok]
        if skipped:
            L.append("\nSkipped: " + "; ".join(f"{rn.label} ({rn.reason})" for rn in skipped) + ".")
        L.append("")
    return L


def gnuplot(gp, base, size, body):
    """Render one gnuplot script body to RESULTS/<base>.png and .svg at size."""
    for term, ext in ((f"pngcairo size {size} font ',9'", "png"), (f"svg size {size}", "svg")):
        out = os.path.join(RESULTS, f"{base}.{ext}")
        script = f"""
set terminal {term}
set output '{out}'
""" + body
        subprocess.run([gp], input=script, text=True, capture_output=True)


def copy_latest(stamp, base):
    """latest-* copies of RESULTS/<base>.* so the README can link a stable name."""
    for ext in ("png", "svg"):
        src = os.path.join(RESULTS, f"{base}.{ext}")
        if os.path.exists(src) and not ONLY:
            shutil.copyfile(src, os.path.join(RESULTS, base.replace(stamp, "latest") + f".{ext}"))


def plot_servers(stamp, store, net_jobs):
    """Server results: CPU per request at the fixed rates, latency
    percentiles at the higher rate, saturation req/s (⚑ generator-bound)."""
    gp = shutil.which("gnuplot")
    if not gp or not net_jobs:
        return []
    work = os.path.join(OUT, "plot")
    os.makedirs(work, exist_ok=True)
    short = {"echo": "echo", "http": "HTTP"}
    hi = RATE_FRACTIONS[-1][0]
    specs = [  # (base, title, ylabel, [figure per column], column titles, log y)
        ("cpu", "server CPU per request at fixed offered loads (same req/s for every server; medians of rounds)",
         "server CPU per request (ns, schedstat)",
         [f"server CPU/req @{lab}" for lab, _ in RATE_FRACTIONS] + [f"server CPU/req @{HI}"],
         [f"at {lab} of the slowest server's saturation" for lab, _ in RATE_FRACTIONS]
         + ["at 80% of the slowest compiled server's (hi)"], False),
        ("latency-hi", "latency at the 'hi' rate (80% of the slowest server but asyncio/uvloop), open loop",
         "latency (µs, log scale)", [f"latency {p} @{HI}" for p in ("p50", "p99", "p999")],
         ["p50", "p99", "p99.9"], True),
        ("latency", f"latency at the {hi} fixed rate, from each request's intended send time (open loop)",
         "latency (µs, log scale)", [f"latency {p} @{hi}" for p in ("p50", "p99", "p999")],
         ["p50", "p99", "p99.9"], True),
        ("saturation", "saturation req/s, closed loop (⚑ in the label: the load generator was the bottleneck)",
         "requests per second", ["saturation req/s"], ["req/s"], False),
    ]
    made = []
    for base, title, ylabel, figs, cols, logy in specs:
        rows = []
        for bench, conns, jt, srvs in net_jobs:
            for sv in srvs:
                vals = [med(store.get(f"{jt}: {f}", sv.name)) for f in figs]
                if any(vals):
                    flag = " ⚑" if base == "saturation" and gen_bound(store, jt, sv.name) else ""
                    rows.append((f"{sv.label} · {short[bench]} {conns}{flag}", [v[0] if v else None for v in vals]))
        if not rows:
            continue
        dat = os.path.join(work, f"servers-{base}.dat")
        with open(dat, "w") as f:
            f.write('"server · benchmark, connections" ' + " ".join(f'"{c}"' for c in cols) + "\n")
            for label, v in rows:
                f.write(f'"{label}" ' + " ".join("-" if x is None else f"{x:.1f}" for x in v) + "\n")
        gnuplot(gp, f"{stamp}-servers-{base}", "1300,620", f"""set title "{title}"
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
{'set logscale y' if logy else 'set yrange [0:*]'}
set grid ytics
set ylabel "{ylabel}"
set xlabel "server · benchmark, connections"
set key outside right top
set xtics rotate by -30 left
set bmargin 9
plot for [i=2:{len(cols) + 1}] '{dat}' using i:xtic(1) title columnheader(i)
""")
        copy_latest(stamp, f"{stamp}-servers-{base}")
        made.append((title, f"latest-servers-{base}"))
    return made


def plot(stamp, store, peers, fig_title):
    """Bars of coring/peer ratios (log scale) and of RSS per task, via gnuplot."""
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot missing: no plots")
        return []
    cols = [("boost", "Boost.Context")] + [("swapcontext", "swapcontext")] + \
           [(p.name, p.label) for p in peers]
    rows = []
    figs = ["switch"] + [r for r in fig_title if not r.endswith("sleepers_rss_per_task")
                         and not r.endswith("sleepers_wall")]
    for fig in figs:
        vals = []
        for name, _ in cols:
            m = med(paired_ratios(store.get(fig, "coring"), store.get(fig, name)))
            vals.append(f"{m[0]:.5g}" if m else "-")
        if any(v != "-" for v in vals):
            label = fig.replace(": spawn_batch", "").replace(": spawn_seq", "") \
                       .replace(": sleepers_wall_over_ideal", " (wall)")
            rows.append((label, vals))
    rss = []
    for row, (bench, fig, n) in fig_title.items():
        if fig == "sleepers_rss_per_task":
            for name, label in [("coring", "coring")] + [(p.name, p.label) for p in peers]:
                m = med(store.get(row, name))
                if m:
                    rss.append((f"{label} {n // 1000}k", m[0]))
    made = []
    work = os.path.join(OUT, "plot")
    os.makedirs(work, exist_ok=True)
    if rows:
        dat = os.path.join(work, "ratios.dat")
        with open(dat, "w") as f:
            f.write('"figure" ' + " ".join(f'"{lab}"' for _, lab in cols) + "\n")
            for label, vals in rows:
                f.write(f'"{label}" ' + " ".join(vals) + "\n")
        ncol = len(cols)
        gnuplot(gp, f"{stamp}-ratios", "1200,600", f"""set title 'coring / peer (below 1: coring faster), medians of paired rounds'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.001:*]
set grid ytics
set key outside right top
set xtics rotate by -25 left
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2
plot for [i=2:{ncol + 1}] '{dat}' using i:xtic(1) title columnheader(i)
""")
        made.append(("coring/peer ratios", f"{stamp}-ratios"))
    if rss:
        dat = os.path.join(work, "rss.dat")
        with open(dat, "w") as f:
            for label, v in rss:
                f.write(f'"{label}" {v:.1f}\n')
        gnuplot(gp, f"{stamp}-rss", "900,500", f"""set title 'peak RSS per sleeping task (bytes, VmHWM delta / N)'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set xtics rotate by -25 left
plot '{dat}' using 2:xtic(1) notitle
""")
        made.append(("peak RSS per sleeping task", f"{stamp}-rss"))
    for _, base in made:
        copy_latest(stamp, base)
    return [(t, b.replace(stamp, "latest")) for t, b in made]


if __name__ == "__main__":
    sys.exit(main())
