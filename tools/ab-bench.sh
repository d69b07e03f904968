#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ab-bench.sh BASE [HEAD] — before/after of a change to a hot path, in ONE
# interleaved run (these machines drift by tens of percent: never compare with
# a number from another run).
#
#   tools/ab-bench.sh 7f2a600            BASE against the working tree's HEAD
#   ROUNDS=7 SECS=3 tools/ab-bench.sh A B
#
# Builds both commits from clean clones under build/ab/, then for each round
# runs A then B: the core micro-benchmarks (bench/micro.cc: switch, yield,
# spawn, future, lock, timer) and the echo server (examples/echo, pinned to
# CPU 0) under one load generator (bench/loadgen from the working tree: plain
# epoll, nothing of coring; pinned to CPU 1, 50 connections, 64-byte
# messages), which reads the server's CPU from /proc/PID/task/*/schedstat
# over exactly the window whose requests it counts.
# Prints per-benchmark medians (min–max) for A and B and the ratio B/A.
# With valgrind installed it also counts the echo server's instructions per
# request under callgrind (inside cr_loop_run_until_complete), a figure that
# does not drift with the machine's load.
# Needs what `make bench` installs (Google Benchmark, Boost.Context).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
base=${1:?usage: tools/ab-bench.sh BASE [HEAD]}
head=${2:-HEAD}
rounds=${ROUNDS:-5}
secs=${SECS:-3}
out=$top/build/ab
mkdir -p "$out"

build() { # name rev
    local dir=$out/$1
    rm -rf "$dir"
    git clone -q "$top" "$dir"
    git -C "$dir" checkout -q "$2"
    make -C "$dir" -j2 >/dev/null
    make -C "$dir/bench" -j2 "$dir/build/bench/micro" >/dev/null 2>&1 ||
        make -C "$dir/bench" -j2 >/dev/null
    make -C "$dir" examples >/dev/null
    echo "$1 = $(git -C "$dir" log --oneline -1)"
}
tools/deps.sh bench
build A "$base"
build B "$head"

filter='^(switch_coring|yield_two_tasks|spawn_run_join|future_resolve_wake|lock_uncontended|timer_arm_cancel)$'
make -C bench ../build/bench/loadgen >/dev/null
loadgen=$top/build/bench/loadgen
results=$out/results.txt
: >"$results"

echo_round() { # side
    local dir=$out/$1 log=$out/echo-$1.log
    taskset -c 0 "$dir/build/release/examples/echo" 0 127.0.0.1 >"$log" 2>&1 &
    local pid=$!
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { kill $pid; echo "echo server did not start" >&2; exit 1; }
    taskset -c 1 "$loadgen" -p "$port" -c 50 -d "$secs" -s 64 -S $pid >"$out/lg-$1.txt"
    kill -INT $pid; wait $pid || true
    local kv; kv=$(cat "$out/lg-$1.txt")
    local cpu rps
    cpu=$(sed -n 's/.*server_cpu_ns_per_req=\([0-9.]*\).*/\1/p' <<<"$kv")
    rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$kv")
    [ -n "$cpu" ] && echo "$1 echo_cpu_ns_per_req $cpu" >>"$results"
    echo "$1 echo_req_per_s $rps" >>"$results"
}

for r in $(seq "$rounds"); do
    for side in A B; do
        "$out/$side/build/bench/micro" --benchmark_filter="$filter" --benchmark_min_time=0.2 \
            --benchmark_format=csv 2>/dev/null |
            awk -F, -v s=$side 'NR>1 && $1 !~ /^name/ {gsub(/"/,"",$1); print s, $1, $3}' >>"$results"
        echo_round $side
    done
    echo "round $r/$rounds done" >&2
done

cg_round() { # side: instructions per request of the echo server
    local dir=$out/$1 log=$out/cg-$1.log
    valgrind --tool=callgrind --callgrind-out-file="$out/cg-$1.out" \
        --toggle-collect=cr_loop_run_until_complete \
        "$dir/build/release/examples/echo" 0 127.0.0.1 >"$log" 2>&1 &
    local pid=$! port=""
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { kill $pid; return; }
    taskset -c 1 "$loadgen" -p "$port" -c 50 -d "$secs" -w 0 -s 64 >"$out/cglg-$1.txt"
    kill -INT $pid; wait $pid || true
    local reqs ir
    reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' "$out/cglg-$1.txt")
    ir=$(awk '/^totals/ {print $2}' "$out/cg-$1.out")
    # No warm-up: every request the server answered is counted (set-up and
    # close are outside cr_loop_run_until_complete's window, or negligible).
    python3 -c "print('$1 echo_instructions_per_req', round($ir / $reqs, 1))" >>"$results"
}
if command -v valgrind >/dev/null && [ "${CALLGRIND:-1}" = 1 ]; then
    for side in A B; do cg_round $side; done
fi

python3 - "$results" <<'EOF'
import sys, statistics as st
from collections import defaultdict
d = defaultdict(list)
for line in open(sys.argv[1]):
    side, name, v = line.split()
    d[(name, side)].append(float(v))
names = sorted({n for n, _ in d})
print(f"{'benchmark':28} {'A median (min–max)':>28} {'B median (min–max)':>28} {'B/A':>6}")
for n in names:
    a, b = d.get((n, 'A'), []), d.get((n, 'B'), [])
    if not a or not b:
        continue
    fa = f"{st.median(a):.1f} ({min(a):.1f}–{max(a):.1f})"
    fb = f"{st.median(b):.1f} ({min(b):.1f}–{max(b):.1f})"
    print(f"{n:28} {fa:>28} {fb:>28} {st.median(b)/st.median(a):6.3f}")
print("micro: ns per iteration (real time); echo_cpu_ns_per_req: server CPU (schedstat) "
      "per request over the measured window; echo_req_per_s: loadgen's figure.")
EOF
