#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""conn-lines.py — the cache lines one echo request touches that belong to its
connection alone, counted under valgrind's lackey (a memory trace, not a
timing: it does not drift with the machine).

    python3 bench/conn-lines.py [--conns 500] [--names] SERVER [ARGS...]

SERVER is started under lackey with ARGS and a last argument 0 (any free port;
it must print "...:PORT" on its first stdout line, as examples/echo and the
peers in bench/peers do). CORING_BACKEND passes through (default epoll here).
The client opens N connections, sends each a 64-byte message and reads the
echo, round-robin, three rounds. In the last round it marks the trace before
request 150, 250 and 251, then counts the lines request 250 touched (loads,
stores, modifies) that none of requests 150..249 touched: at N connections
those are the lines of connection 250's own state (its task, stack, stream,
records), each a likely cache miss per request once N connections' state
outgrows the cache (the kernel's work between two requests evicts it too).
Lines shared by all connections (the loop, the backend, code) are left out.

--names prints each counted line with the functions that touched it
(addr2line; the server binary needs debug info and runs as a PIE at
valgrind's usual base 0x108000).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=500)
    ap.add_argument("--names", action="store_true")
    ap.add_argument("server", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if not a.server:
        ap.error("a server command is needed")
    n = a.conns
    if n < 252:
        ap.error("--conns must be at least 252")
    trace = tempfile.NamedTemporaryFile(prefix="conn-lines.", suffix=".trace", delete=False).name
    env = dict(os.environ)
    env.setdefault("CORING_BACKEND", "epoll")
    srv = subprocess.Popen(["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={trace}"] +
                           a.server + ["0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, env=env)
    try:
        port = int(re.search(r":(\d+)", srv.stdout.readline()).group(1))
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        marks = {}
        for rnd in range(3):
            for i, s in enumerate(socks):
                if rnd == 2 and i in (150, 250, 251):
                    time.sleep(0.3)  # lackey writes the trace as it goes: let it catch up
                    marks[i] = os.path.getsize(trace)
                s.sendall(b"x" * 64)
                got = 0
                while got < 64:
                    k = len(s.recv(64 - got))
                    if not k:
                        sys.exit("conn-lines: the server closed a connection")
                    got += k
            time.sleep(0.3)
        for s in socks:
            s.close()
    finally:
        srv.send_signal(2)
        try:
            srv.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            srv.kill()

    def accesses(lo, hi):
        with open(trace, "rb") as f:
            f.seek(lo)
            data = f.read(hi - lo).decode(errors="replace")
        ins = 0
        for line in data.splitlines():
            p = line.split()
            if len(p) < 2:
                continue
            if p[0] == "I":
                ins = int(p[1].split(",")[0], 16)
            elif p[0] in ("L", "S", "M"):
                yield int(p[1].split(",")[0], 16) >> 6, ins

    before = {ln for ln, _ in accesses(marks[150], marks[250])}
    own = {}
    for ln, ins in accesses(marks[250], marks[251]):
        if ln not in before:
            own.setdefault(ln, set()).add(ins)
    os.unlink(trace)
    print(f"{' '.join(a.server)}: {len(own)} cache lines of its own per request "
          f"({n} connections, request 250 of the third round)")
    if a.names:
        names = {}
        for ln in sorted(own):
            fns = set()
            for ins in own[ln]:
                if ins not in names:
                    out = subprocess.run(["addr2line", "-f", "-s", "-e", a.server[0], "%x" % (ins - 0x108000)],
                                         capture_output=True, text=True).stdout.split()
                    names[ins] = out[0] if out and out[0] != "??" else "?"
                fns.add(names[ins])
            print(f"  line {ln << 6:#x}: {' '.join(sorted(fns))}")


if __name__ == "__main__":
    main()
