#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""io-instr.py — instructions and simulated L1 data-cache misses per echo
request, counted by valgrind's callgrind: repeatable on a noisy shared machine,
where wall-clock CPU figures drift by tens of percent. Use it for A/B decisions
on the hot path; use make bench (ONLY=echo) for the real figures.

Each server binary runs under callgrind while a deterministic client opens C
connections and does R rounds (64 bytes on every connection, then every
answer). Two runs, R1 and R2 rounds, are subtracted, so start-up and
shutdown cancel out: per request = (count(R2) - count(R1)) / (C * (R2 - R1)).

  python3 bench/io-instr.py [--conns 50,500] [--rounds 20,60] [--http] [BIN ...]
      (default BIN: build/release/examples/echo, with --http examples/http)
  CORING_BACKEND=epoll python3 bench/io-instr.py ...   (coring on epoll)

The floor server is not measured here: valgrind does not interrupt its
blocking io_uring_enter on SIGINT.
"""
import argparse, os, re, socket, subprocess, sys, tempfile, time

EVENTS = "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw".split()


def client(port, conns, rounds, size=64):
    ss = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ss.append(s)
    msg = b"x" * size
    for _ in range(rounds):
        for s in ss:
            s.sendall(msg)
        for s in ss:
            got = 0
            while got < size:
                d = s.recv(size - got)
                if not d:
                    sys.exit("io-instr: server closed a connection")
                got += len(d)
    for s in ss:
        s.close()


HTTP_REQ = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def http_client(port, conns, rounds):
    """The same lock-step rounds with one keep-alive HTTP GET per connection."""
    ss = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    bufs = [b""] * conns
    for _ in range(rounds):
        for s in ss:
            s.sendall(HTTP_REQ)
        for i, s in enumerate(ss):
            buf = bufs[i]
            while True:
                j = buf.find(b"\r\n\r\n")
                if j >= 0:
                    n = j + 4 + int(re.search(rb"(?i)content-length:\s*(\d+)", buf[:j]).group(1))
                    if len(buf) >= n:
                        bufs[i] = buf[n:]
                        break
                d = s.recv(65536)
                if not d:
                    sys.exit("io-instr: server closed a connection")
                buf += d
    for s in ss:
        s.close()


def counts(binary, conns, rounds, env=None, drive=client):
    with tempfile.TemporaryDirectory() as d:
        srv = subprocess.Popen(["valgrind", "--tool=callgrind", "--cache-sim=yes",
                                f"--callgrind-out-file={d}/cg.out", binary, "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        drive(port, conns, rounds)
        time.sleep(0.3)
        srv.send_signal(2)
        err = srv.communicate(timeout=60)[1]
        m = re.search(r"Collected : ([\d ]+)", err)
        return [int(x) for x in m.group(1).split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--rounds", default="20,60")
    ap.add_argument("--http", action="store_true", help="HTTP GETs (examples/http) instead of echo")
    ap.add_argument("bins", nargs="*")
    a = ap.parse_args()
    a.bins = a.bins or ["build/release/examples/" + ("http" if a.http else "echo")]
    drive = http_client if a.http else client
    r1, r2 = map(int, a.rounds.split(","))
    print("| server | conns | instructions/req | D1 read misses/req | D1 write misses/req |")
    print("|---|---|---|---|---|")
    for c in map(int, a.conns.split(",")):
        for b in a.bins:
            lo, hi = counts(b, c, r1, drive=drive), counts(b, c, r2, drive=drive)
            per = {k: (h - l) / (c * (r2 - r1)) for k, l, h in zip(EVENTS, lo, hi)}
            print(f"| {os.path.basename(b)} | {c} | {per['Ir']:.0f} | {per['D1mr']:.1f} | {per['D1mw']:.1f} |")


if __name__ == "__main__":
    main()
