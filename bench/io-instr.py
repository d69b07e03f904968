#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""io-instr.py — instructions and simulated L1 data-cache misses per echo (or
HTTP) request, counted by valgrind's callgrind: repeatable on a noisy shared machine,
where wall-clock CPU figures drift by tens of percent. Use it for A/B decisions
on the hot path; use make bench (ONLY=echo) for the real figures.

Each server binary runs under callgrind while a deterministic client opens C
connections and does R rounds (64 bytes on every connection, then every
answer). Two runs, R1 and R2 rounds, are subtracted, so start-up and
shutdown cancel out: per request = (count(R2) - count(R1)) / (C * (R2 - R1)).

  python3 bench/io-instr.py [--conns 50,500] [--rounds 20,60] [--http [--churn]] [BIN ...]
      (default BIN: build/release/examples/echo; a BIN may carry arguments,
      quoted: "build/release/examples/http --eager")
  CORING_BACKEND=epoll python3 bench/io-instr.py ...   (coring on epoll)

--http sends examples/http's benchmark request (GET /, keep-alive) instead of
64 bytes and reads each whole answer. --churn (with --http) makes every
request on a new connection: each round connects C clients, sends, reads,
and closes them (the client closes first), so per request is per connection.

The floor server is not measured here: valgrind does not interrupt its
blocking io_uring_enter on SIGINT.
"""
import argparse, os, re, shlex, socket, subprocess, sys, tempfile, time

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


def http_answer(s):
    """Reads one whole HTTP answer (headers + Content-Length body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit("io-instr: server closed a connection")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit("io-instr: unexpected answer " + repr(head[:40]))
    n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < n:
        d = s.recv(4096)
        if not d:
            sys.exit("io-instr: server closed a connection")
        body += d


def http_client(port, conns, rounds, churn=False):
    def dial():
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    ss = [] if churn else [dial() for _ in range(conns)]
    for _ in range(rounds):
        if churn:
            ss = [dial() for _ in range(conns)]
        for s in ss:
            s.sendall(HTTP_REQ)
        for s in ss:
            http_answer(s)
        if churn:
            for s in ss:
                s.close()
    if not churn:
        for s in ss:
            s.close()


def argv(binary):
    """A server: an argv list (run.py's peers), a path (spaces and all), or a
    path and its arguments in one string ("build/release/examples/http --eager")."""
    if not isinstance(binary, str):
        return list(binary)
    return [binary] if os.path.exists(binary) else shlex.split(binary)


def counts(binary, conns, rounds, http=False, churn=False, env=None):
    """Callgrind's totals for one run (the server's port argument "0" is
    appended); env: the server's environment (CORING_BACKEND=epoll)."""
    with tempfile.TemporaryDirectory() as d:
        srv = subprocess.Popen(["valgrind", "--tool=callgrind", "--cache-sim=yes",
                                f"--callgrind-out-file={d}/cg.out"] + argv(binary) + ["0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        if http:
            http_client(port, conns, rounds, churn)
        else:
            client(port, conns, rounds)
        time.sleep(0.3)
        srv.send_signal(2)
        err = srv.communicate(timeout=60)[1]
        m = re.search(r"Collected : ([\d ]+)", err)
        if not m:
            raise RuntimeError(f"callgrind: no counts from {os.path.basename(argv[-1])}: "
                               + (err.strip().splitlines() or ["?"])[-1])
        return [int(x) for x in m.group(1).split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--rounds", default="20,60")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--churn", action="store_true")
    ap.add_argument("bins", nargs="*", default=["build/release/examples/echo"])
    a = ap.parse_args()
    if a.churn and not a.http:
        ap.error("--churn needs --http")
    r1, r2 = map(int, a.rounds.split(","))
    print("| server | conns | instructions/req | D1 read misses/req | D1 write misses/req |")
    print("|---|---|---|---|---|")
    for c in map(int, a.conns.split(",")):
        for b in a.bins:
            lo, hi = counts(b, c, r1, a.http, a.churn), counts(b, c, r2, a.http, a.churn)
            per = {k: (h - l) / (c * (r2 - r1)) for k, l, h in zip(EVENTS, lo, hi)}
            name = " ".join([os.path.basename(argv(b)[0])] + argv(b)[1:])
            print(f"| {name} | {c} | {per['Ir']:.0f} | {per['D1mr']:.1f} | {per['D1mw']:.1f} |")


if __name__ == "__main__":
    main()
