#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/https.py — examples/https.c (coring + OpenSSL memory BIOs) against
nginx (one worker, the same OpenSSL, the same certificate), both pinned to
CPU 0 with wrk on CPU 1. Server CPU time is read from /proc/PID/stat
(utime + stime) around each run, so the figures are CPU per request of the
server alone, not of the load generator.

    make && make examples && python3 bench/https.py [--secs 5] [--rounds 3]

Runs, interleaved round by round (coring, nginx, coring, nginx, ...):
  keep-alive, flat out    wrk -c 50 as fast as it goes (on this 2-vCPU box wrk,
                          not the server, is the limit): server µs CPU/request
  keep-alive, equal load  wrk -c 50 with a 10 ms pause per request per
                          connection (a Lua delay()), the same offered load
                          for both: µs CPU/request
  full handshakes         wrk -c 20 -H 'Connection: close': every request a
                          new connection and a full TLS 1.3 handshake (no
                          resumption: nginx ssl_session_tickets off, coring
                          HTTPS_NO_RESUME=1): handshakes/s, µs CPU/handshake
Prints the median (min-max) of each cell and the coring/nginx ratio.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTPS = os.path.join(ROOT, "build/release/examples/https")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{d}/key.pem",
                    "-out", f"{d}/cert.pem", "-subj", "/CN=localhost", "-days", "2"],
                   check=True, capture_output=True)


def start_coring(d, no_resume):
    env = dict(os.environ, HTTPS_NO_RESUME="1" if no_resume else "0")
    p = subprocess.Popen(["taskset", "-c", "0", HTTPS, f"{d}/cert.pem", f"{d}/key.pem", "0"],
                         stdout=subprocess.PIPE, text=True, env=env)
    m = re.search(r"listening on [\d.]+:(\d+)", p.stdout.readline())
    if not m:
        p.kill()
        raise RuntimeError("examples/https did not start")
    return p, int(m.group(1))


def start_nginx(d, no_resume):
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
    ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets {"off" if no_resume else "on"}; ssl_session_cache off;
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


def wrk(port, secs, conns, extra, d):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{secs}s"] + extra + \
          [f"https://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=d).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errs = re.search(r"Socket errors: .*|Non-2xx.*", out)
    return n, errs.group(0) if errs else ""


MODES = {
    "keep-alive, as fast as wrk goes": dict(conns=50, extra=[], resume=True),
    "keep-alive, equal load": dict(conns=50, extra=["-s", "delay.lua"], resume=True),
    "full handshakes": dict(conns=20, extra=["-H", "Connection: close"], resume=False),
}


def run_one(kind, mode, secs, d):
    m = MODES[mode]
    start = start_coring if kind == "coring" else start_nginx
    p, port = start(d, not m["resume"])
    try:
        wrk(port, 1, m["conns"], m["extra"], d)  # warm up
        c0, t0 = cpu_secs(p.pid), time.monotonic()
        n, errs = wrk(port, secs, m["conns"], m["extra"], d)
        cpu, wall = cpu_secs(p.pid) - c0, time.monotonic() - t0
    finally:
        p.terminate()
        p.wait()
    return n / wall, cpu / n * 1e6, errs


def fmt(xs):
    return f"{statistics.median(xs):9.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"https.py: {tool} is missing")
    if not os.path.exists(HTTPS):
        raise SystemExit("https.py: build examples/https first (make examples)")
    d = tempfile.mkdtemp(prefix="coring-https-")
    try:
        make_cert(d)
        with open(f"{d}/delay.lua", "w") as f:
            f.write("function delay() return 10 end\n")
        for mode in MODES:
            res = {"coring": ([], []), "nginx": ([], [])}
            ratios = []
            for _ in range(a.rounds):
                got = {}
                for kind in ("coring", "nginx"):
                    rate, us, errs = run_one(kind, mode, a.secs, d)
                    res[kind][0].append(rate)
                    res[kind][1].append(us)
                    got[kind] = us
                    if errs:
                        print(f"  ({kind}: wrk says {errs})")
                ratios.append(got["coring"] / got["nginx"])
            unit = "handshakes/s" if "handshake" in mode else "requests/s"
            print(f"{mode}:")
            for kind in ("coring", "nginx"):
                print(f"  {kind:7s} {unit} {fmt(res[kind][0])}   µs CPU each {fmt(res[kind][1])}")
            print(f"  coring/nginx CPU each: {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}-{max(ratios):.2f})")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
