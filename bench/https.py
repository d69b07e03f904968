#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/https.py — examples/https.c (coring + OpenSSL memory BIOs) against
nginx (one worker, the same OpenSSL, the same certificate and cipher suite),
both pinned to CPU 0 with the client on CPU 1. Server CPU time is read from
/proc/PID/stat (utime + stime) around each run, so the figures are CPU per
request of the server alone; the client's own CPU (its rusage) says which
side was the limit.

    make && make examples && python3 bench/https.py [--secs 5] [--rounds 3]
    make bench (or make -C bench run ONLY=https) runs it after bench/run.py and
    adds its section to the report (--report DIR)

Runs, interleaved round by round (coring, nginx, nginx, coring, ...):
  keep-alive, flat out    wrk -t1 -c 50 as fast as it goes (on this 2-vCPU box
                          wrk, not the server, is the limit): server µs CPU/request
  keep-alive, equal load  wrk -c 50 with a 10 ms pause per request per
                          connection (a Lua delay()), the same offered load
                          for both: µs CPU/request
  full handshakes, RSA-2048
                          bench/https-client.go (Go's crypto/tls, one core),
                          50 connections, each: connect, a full TLS 1.3
                          handshake, one GET with Connection: close. No
                          resumption (nginx ssl_session_tickets off and
                          ssl_session_cache off, coring HTTPS_NO_RESUME=1).
                          The server signs with RSA-2048 and the Go client is
                          cheap per handshake, so the server is the limit and
                          handshakes/s is its maximum on one core.
  full handshakes, ECDSA P-256
                          the same with a P-256 certificate (a cheap
                          signature: the client may become the limit).
OpenSSL 3.0's own client side (wrk's) costs more per handshake than the
server side, which is why wrk is not the handshake client: it would be the
limit. Without Go, wrk -c 20 -H 'Connection: close' stands in (and says so).
Each cell: median (min-max) over the rounds. "busy" is the share of one core
the server and the client each used; "runnable" is the share of the window
the server's busiest thread was running or waiting for a CPU (schedstat):
below 0.9 the server sat idle waiting for the client, and the cell is
marked client-bound. On a shared machine the server may be runnable but
not running (others hold the CPU), so "per core" (10^6 / µs CPU each) is
the rate one whole core would give. Ratios are coring/nginx, paired round
by round.
"""
import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTPS = os.path.join(ROOT, "build/release/examples/https")
CLIENT = os.path.join(ROOT, "build/bench/https-client")  # bench/https-client.go
TICK = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def sched_ns(pid):
    """{tid: run + runqueue wait ns} of every thread (/proc/.../schedstat)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = f.read().split()[:2]
            out[tid] = int(run) + int(wait)
        except OSError:
            pass
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


KEYS = {"ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        "rsa": ["-newkey", "rsa:2048"]}


def make_cert(d, kind):
    subprocess.run(["openssl", "req", "-x509"] + KEYS[kind] +
                   ["-nodes", "-keyout", f"{d}/{kind}-key.pem", "-out", f"{d}/{kind}-cert.pem",
                    "-subj", "/CN=localhost", "-days", "2"],
                   check=True, capture_output=True)


def start_coring(d, no_resume, cert):
    env = dict(os.environ, HTTPS_NO_RESUME="1" if no_resume else "0")
    p = subprocess.Popen(["taskset", "-c", "0", HTTPS, f"{d}/{cert}-cert.pem",
                          f"{d}/{cert}-key.pem", "0"],
                         stdout=subprocess.PIPE, text=True, env=env)
    m = re.search(r"listening on [\d.]+:(\d+)", p.stdout.readline())
    if not m:
        p.kill()
        raise RuntimeError("examples/https did not start")
    return p, int(m.group(1))


def start_nginx(d, no_resume, cert):
    port = free_port()
    conf = f"{d}/nginx.conf"
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off; keepalive_requests 1000000;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096;
    ssl_certificate {d}/{cert}-cert.pem; ssl_certificate_key {d}/{cert}-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets {"off" if no_resume else "on"}; ssl_session_cache off;
    ssl_prefer_server_ciphers on;  # as coring: the same TLS 1.3 suite whatever the client prefers
    location / {{ default_type text/plain; return 200 "Hello, world!"; }}
  }}
}}
""")
    p = subprocess.Popen(["taskset", "-c", "0", "nginx", "-e", f"{d}/error.log", "-c", conf,
                          "-p", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return p, port
        except OSError:
            time.sleep(0.02)
    p.kill()
    raise RuntimeError("nginx did not start")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wrk(port, secs, conns, extra, d):
    """Runs wrk; returns (requests, errors, wrk's CPU seconds)."""
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{secs}s"] + extra + \
          [f"https://127.0.0.1:{port}/"]
    c0 = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=d).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errs = re.search(r"Socket errors: .*|Non-2xx.*", out)
    return n, "wrk: " + errs.group(0) if errs else "", children_cpu() - c0


def build_client():
    """Builds bench/https-client.go (Go's stdlib only); None if there is no go."""
    go = shutil.which("go")
    if not go:
        return None
    os.makedirs(os.path.dirname(CLIENT), exist_ok=True)
    env = dict(os.environ, GO111MODULE="off",
               GOCACHE=os.path.join(os.path.dirname(CLIENT), "gocache"))
    r = subprocess.run([go, "build", "-o", CLIENT, "https-client.go"], env=env,
                       cwd=os.path.join(ROOT, "bench"), capture_output=True, text=True)
    return CLIENT if r.returncode == 0 else None


def go_client(port, secs, conns):
    """bench/https-client.go on CPU 1 (GOMAXPROCS=1): (handshakes, errors, its CPU, suites)."""
    c0 = children_cpu()
    out = subprocess.run(["taskset", "-c", "1", CLIENT, f"127.0.0.1:{port}", str(conns), str(secs)],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, GOMAXPROCS="1")).stdout
    m = re.search(r"handshakes (\d+) errors (\d+)", out)
    suites = ", ".join(f"{k} ×{v}" for k, v in re.findall(r"suite (\S+) (\d+)", out))
    errs = f"{m.group(2)} failed connections" if int(m.group(2)) else ""
    return int(m.group(1)), errs, children_cpu() - c0, suites


def negotiated(port):
    """What an OpenSSL client gets from the server: protocol, cipher, group."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"],
                       input="", capture_output=True, text=True, timeout=10)
    got = dict(re.findall(r"^(Protocol version|Ciphersuite|Server Temp Key|Peer Temp Key): (.*)$",
                          r.stderr + r.stdout, re.M))
    return ", ".join(got.get(k, "?") for k in ("Protocol version", "Ciphersuite")) + \
        ", " + got.get("Server Temp Key", got.get("Peer Temp Key", "?"))


DELAY = ["-s", "delay.lua"]
CLOSE = ["-H", "Connection: close"]
# name: (client connections, wrk options (None: the Go client), resumption
# allowed, certificate, unit)
MODES = {
    "keep-alive, as fast as wrk goes": (50, [], True, "ec", "requests/s"),
    "keep-alive, equal load (10 ms pause per request)": (50, DELAY, True, "ec", "requests/s"),
    "full handshakes, RSA-2048": (50, None, False, "rsa", "handshakes/s"),
    "full handshakes, ECDSA P-256": (50, None, False, "ec", "handshakes/s"),
}
QUICK_MODES = ("keep-alive, equal load (10 ms pause per request)", "full handshakes, RSA-2048")


def run_one(kind, mode, secs, d, check=False):
    conns, extra, resume, cert, _ = MODES[mode]
    start = start_coring if kind == "coring" else start_nginx
    p, port = start(d, not resume, cert)
    try:
        neg = negotiated(port) if check else ""
        if extra is None:
            def load(t):
                n, errs, wcpu, suites = go_client(port, t, conns)
                return n, (errs + "; " if errs else "") + (f"the Go client got {suites}" if check else ""), wcpu
        else:
            def load(t):
                return wrk(port, t, conns, extra, d)
        load(1)  # warm up
        c0, s0, t0 = cpu_secs(p.pid), sched_ns(p.pid), time.monotonic()
        n, errs, wcpu = load(secs)
        cpu, s1, wall = cpu_secs(p.pid) - c0, sched_ns(p.pid), time.monotonic() - t0
        # The server's busiest thread: the share of the window it was running
        # or runnable (waiting for a CPU another process held). Near 1: the
        # server never waited for the client, it was the limit.
        want = max((s1[k] - s0.get(k, 0)) / 1e9 / wall for k in s1)
    finally:
        p.terminate()
        p.wait()
    return dict(rate=n / wall, us=cpu / n * 1e6, busy=cpu / wall, wbusy=wcpu / wall,
                want=want, errs=errs, neg=neg)


def fmt(xs, digits=1):
    return f"{statistics.median(xs):,.{digits}f} ({min(xs):,.{digits}f}–{max(xs):,.{digits}f})"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--report", metavar="DIR",
                    help="also write DIR/https-<time>.md and add the section to DIR/latest.md "
                         "and the newest DIR/<time>.md (bench/run.py's report)")
    a = ap.parse_args()
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))
    if only and "https" not in only:
        return 0
    quick = os.environ.get("QUICK", "") not in ("", "0")
    secs = a.secs or (2 if quick else 5)
    rounds = a.rounds or (1 if quick else 3)
    modes = QUICK_MODES if quick else tuple(MODES)
    for tool in ("nginx", "wrk", "taskset", "openssl"):
        if not shutil.which(tool):
            print(f"https.py: {tool} is missing: HTTPS benchmark skipped")
            return 0 if a.report else 1
    if not os.path.exists(HTTPS):
        raise SystemExit("https.py: build examples/https first (make examples)")
    if not build_client():
        print("https.py: no Go compiler (golang-go): handshake rows use wrk, which is their limit")
        for m in MODES:
            if MODES[m][1] is None:
                MODES[m] = (20, CLOSE) + MODES[m][2:]
    d = tempfile.mkdtemp(prefix="coring-https-")
    L = ["## HTTPS: coring (examples/https.c) vs nginx\n",
         f"`python3 bench/https.py --secs {secs} --rounds {rounds}`; load average before: "
         f"{loadavg()}. Both servers: one thread pinned to CPU 0, the same Debian OpenSSL "
         f"({subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.split()[1]}), "
         "the same certificate, no session resumption in the handshake rows; "
         "on CPU 1 the client: `wrk -t1` for keep-alive, bench/https-client.go "
         "(Go's crypto/tls, GOMAXPROCS=1, a new connection + one GET per handshake) for full "
         "handshakes, as OpenSSL 3.0's client side (wrk's) costs more per handshake than the "
         "server side. µs CPU is the server's own (utime+stime from /proc), per request "
         "or handshake. Median (min–max) of the rounds, interleaved; coring/nginx ratios "
         "paired round by round. *busy* = share of one core used by server / client; "
         "*runnable* = share of the window the server was running or waiting for a CPU "
         "(schedstat): **client-bound** marks a cell where it was below 0.9, i.e. the server "
         "sat idle waiting for the client, so the rate is the client's limit. *per core* = "
         "10⁶ / µs CPU each: the rate one whole core would give (on a shared machine a "
         "runnable server is not always running).\n"]
    try:
        for cert in ("ec", "rsa"):
            make_cert(d, cert)
        with open(f"{d}/delay.lua", "w") as f:
            f.write("function delay() return 10 end\n")
        L.append("| mode | server | rate | µs CPU each | per core | busy server / client | "
                 "runnable | coring/nginx µs CPU | coring/nginx rate |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        notes = []
        for mode in modes:
            unit = MODES[mode][4]
            res = {"coring": [], "nginx": []}
            for r in range(rounds):
                order = ("coring", "nginx") if r % 2 == 0 else ("nginx", "coring")
                for kind in order:
                    got = run_one(kind, mode, secs, d, check=r == 0)
                    res[kind].append(got)
                    if got["errs"]:
                        notes.append(f"{mode}, {kind}: {got['errs']}")
                    if got["neg"]:
                        notes.append(f"{mode}, {kind}: negotiated {got['neg']}")
            us_r = [c["us"] / n["us"] for c, n in zip(res["coring"], res["nginx"])]
            rate_r = [c["rate"] / n["rate"] for c, n in zip(res["coring"], res["nginx"])]
            print(f"{mode}:")
            for kind in ("coring", "nginx"):
                xs = res[kind]
                busy = statistics.median(x["busy"] for x in xs)
                wbusy = statistics.median(x["wbusy"] for x in xs)
                want = statistics.median(x["want"] for x in xs)
                bound = " **client-bound**" if want < 0.9 else ""
                rate, us = fmt([x["rate"] for x in xs], 0), fmt([x["us"] for x in xs])
                core = f"{statistics.median(1e6 / x['us'] for x in xs):,.0f}"
                print(f"  {kind:7s} {unit} {rate}   µs CPU each {us}   per core {core}   busy "
                      f"server {busy:.2f} client {wbusy:.2f}   runnable {want:.2f}"
                      f"{bound.replace('*', '')}")
                L.append(f"| {mode} | {kind} | {rate} {unit}{bound} | {us} | {core} | "
                         f"{busy:.2f} / {wbusy:.2f} | {want:.2f} | "
                         + (f"{fmt(us_r, 2)} | {fmt(rate_r, 2)} |" if kind == "coring" else " | |"))
            print(f"  coring/nginx µs CPU each: {fmt(us_r, 2)}   rate: {fmt(rate_r, 2)}")
        L.append("")
        L.append(f"Load average after: {loadavg()}.")
        L += [f"- {n}" for n in notes]
    finally:
        shutil.rmtree(d, ignore_errors=True)
    text = "\n".join(L) + "\n"
    print(text)
    if a.report:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        os.makedirs(a.report, exist_ok=True)
        with open(os.path.join(a.report, f"https-{stamp}.md"), "w") as f:
            f.write(text)
        reports = sorted(f for f in os.listdir(a.report) if re.match(r"\d{8}-\d{6}\.md$", f))
        # bench/run.py's report of this same `make bench`, if it wrote one
        # (a partial run, ONLY=..., leaves latest.md alone: so do we).
        targets = reports[-1:] + ([] if only else ["latest.md"])
        for name in targets:
            path = os.path.join(a.report, name)
            if os.path.exists(path) and time.time() - os.path.getmtime(path) < 3600:
                with open(path, "a") as f:
                    f.write("\n" + text)
                print(f"https.py: section added to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
