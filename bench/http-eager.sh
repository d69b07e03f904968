#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# http-eager.sh — what eager start (cr_server_opts.eager) saves in
# examples/http, in ONE interleaved run: each round runs the plain server, then
# `--eager`, each pinned to CPU 0 under bench/loadgen on CPU 1, for
#   keep-alive: 50 connections, open loop at a fixed rate (RATE, 20,000 req/s)
#               -> server CPU per request;
#   churn:      8 clients, a new connection per request (http-churn)
#               -> server CPU per connection.
# Prints medians (min-max) and eager/plain ratios, with the load average.
# Instructions per request (steadier here): bench/io-instr.py --http [--churn].
#
#   ROUNDS=7 SECS=4 bench/http-eager.sh        (after make, make examples,
#                                               make -C bench ../build/bench/loadgen)
set -euo pipefail
cd "$(dirname "$0")/.."
H=build/release/examples/http LG=build/bench/loadgen
ROUNDS=${ROUNDS:-7} SECS=${SECS:-4} RATE=${RATE:-20000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "start $(cut -d' ' -f1-3 /proc/loadavg)" >"$out/r.txt"
for r in $(seq "$ROUNDS"); do
    for side in plain eager; do
        arg=""
        [ $side = eager ] && arg=--eager
        taskset -c 0 $H $arg 0 >"$out/srv.log" 2>&1 &
        pid=$! port=""
        for _ in $(seq 100); do
            port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out/srv.log")
            [ -n "$port" ] && break
            sleep 0.05
        done
        [ -n "$port" ] || { kill $pid; echo "http did not start" >&2; exit 1; }
        echo "$side ka $(taskset -c 1 $LG -p "$port" -m http -c 50 -R "$RATE" -d "$SECS" -w 0.5 -S $pid)" >>"$out/r.txt"
        echo "$side churn $(taskset -c 1 $LG -p "$port" -m http-churn -c 8 -d "$SECS" -w 0.5 -S $pid)" >>"$out/r.txt"
        kill -INT $pid
        wait $pid || true
    done
    echo "round $r/$ROUNDS done" >&2
done
echo "end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/r.txt"
python3 - "$out/r.txt" <<'PY'
import sys, statistics as st
from collections import defaultdict
d = defaultdict(list)
for line in open(sys.argv[1]):
    side, kind, rest = line.split(None, 2)
    if side in ("start", "end"):
        print(f"load average at {side}: {kind} {rest.strip()}")
        continue
    kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
    for k in ("server_cpu_ns_per_req", "rps"):
        d[(kind, k, side)].append(float(kv[k]))
names = {"ka": "keep-alive", "churn": "churn"}
for kind in ("ka", "churn"):
    for k in ("server_cpu_ns_per_req", "rps"):
        a, b = d[(kind, k, "plain")], d[(kind, k, "eager")]
        rounds = [round(y / x, 2) for x, y in zip(a, b)]
        print(f"{names[kind]:10} {k:22} plain {st.median(a):9.0f} ({min(a):.0f}-{max(a):.0f})"
              f"  eager {st.median(b):9.0f} ({min(b):.0f}-{max(b):.0f})"
              f"  eager/plain {st.median(b) / st.median(a):.3f} (rounds {min(rounds)}-{max(rounds)})")
PY
