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

  python3 bench/io-instr.py [--conns 50,500] [--rounds 20,60] [BIN ...]
      (default BIN: build/release/examples/echo)

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


def counts(binary, conns, rounds, env=None):
    with tempfile.TemporaryDirectory() as d:
        srv = subprocess.Popen(["valgrind", "--tool=callgrind", "--cache-sim=yes",
                                f"--callgrind-out-file={d}/cg.out", binary, "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        client(port, conns, rounds)
        time.sleep(0.3)
        srv.send_signal(2)
        err = srv.communicate(timeout=60)[1]
        m = re.search(r"Collected : ([\d ]+)", err)
        return [int(x) for x in m.group(1).split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="50,500")
    ap.add_argument("--rounds", default="20,60")
    ap.add_argument("bins", nargs="*", default=["build/release/examples/echo"])
    a = ap.parse_args()
    r1, r2 = map(int, a.rounds.split(","))
    print("| server | conns | instructions/req | D1 read misses/req | D1 write misses/req |")
    print("|---|---|---|---|---|")
    for c in map(int, a.conns.split(",")):
        for b in a.bins:
            lo, hi = counts(b, c, r1), counts(b, c, r2)
            per = {k: (h - l) / (c * (r2 - r1)) for k, l, h in zip(EVENTS, lo, hi)}
            print(f"| {os.path.basename(b)} | {c} | {per['Ir']:.0f} | {per['D1mr']:.1f} | {per['D1mw']:.1f} |")


if __name__ == "__main__":
    main()
