#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""validate.py — checks bench/loadgen against a second client, both driving one
server at the same time (half the connections each), ROUNDS times:

    python3 bench/validate.py [ROUNDS=5]       (after make bench, or make -C bench + make examples)

Cases (the servers are the slowest of their kind, so that the server, not the
two clients sharing CPU 1, is the bottleneck):

- echo: loadgen beside bench/peers/go/echoclient.go (written separately: a
  goroutine per connection, every latency kept) on the asyncio echo server;
- HTTP: loadgen beside h2load --h1 (Debian's nghttp2-client) on Go's net/http;
- HTTP: loadgen beside wrk on Go's net/http. Its req/s is judged; its latency
  is shown and NOT judged: wrk 4 rewrites its latency histogram before
  printing it (stats_correct, a coordinated-omission correction: every sample
  of at least twice the expected interval, runtime / (requests/connections),
  gets synthetic copies at that sample minus 1, 2, ... intervals). Its mean
  and percentiles are therefore not the latencies of the requests it made,
  and can exceed its own cycle time, which no measured closed-loop latency
  can (below).

Tolerance, stated in advance, every round judged and the median over rounds
decided: per-connection req/s of the second client / loadgen's within ±10%,
mean latency within ±15%. Running together cancels the machine's drift.
Also printed: each client's cycle time 1/(req/s per connection), which in a
closed loop bounds its mean latency from above (Little's law: the cycle is
the latency plus the client's own turnaround); a client whose mean exceeds
its cycle by more than 5% is not timing what it serves, and is flagged.
Server busy and loadgen busy are printed: the server must be the busier one
(the verdict says so when it is not).
"""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402

OUT = os.path.join(HERE, "..", "build", "bench")
TOL_RPS, TOL_LAT, TOL_CYCLE = 0.10, 0.15, 0.05


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    lg, goc = os.path.join(OUT, "loadgen"), os.path.join(OUT, "go-echoclient")
    py_echo = ["/usr/bin/python3", os.path.join(HERE, "peers/python/echo.py"), "0"]
    go_http = [os.path.join(OUT, "go-hello"), "0"]
    # (name, server argv, connections, second client, judge its latency?)
    cases = [("echo, asyncio server, 50 conns", py_echo, 50, ("go", goc), True),
             ("HTTP, Go net/http server, 50 conns", go_http, 50, ("h2load",), True),
             ("HTTP, Go net/http server, 50 conns", go_http, 50, ("wrk",), False)]
    print(f"tolerance (stated in advance): second client / loadgen, per-connection req/s within "
          f"±{TOL_RPS:.0%}, mean latency within ±{TOL_LAT:.0%} (median over {rounds} rounds); "
          f"a mean latency above its own cycle time by > {TOL_CYCLE:.0%} is flagged\n")
    ok_all = True
    for name, argv, conns, other, judge_lat in cases:
        rr, lr, busy_ok = [], [], []
        print(f"{name}: second client {other[0]}" + ("" if judge_lat else " (latency shown, not judged: "
                                                      "wrk's histogram holds synthetic samples)"))
        for r in range(rounds):
            x = servers.together(lg, argv, conns, 1.0, other)
            a, b = x["loadgen req/s per connection"][0], x["other req/s per connection"][0]
            la, lb = x["loadgen latency mean"][0], x["other latency mean"][0]
            sb, gb = x["server busy"][0], x["loadgen busy"][0]
            ca, cb = 1e6 / a, 1e6 / b
            flag = lambda lat, cyc: " (ABOVE its cycle)" if lat > cyc * (1 + TOL_CYCLE) else ""  # noqa: E731
            print(f"  round {r + 1}: req/s per conn loadgen {a:.1f} other {b:.1f} (ratio {b / a:.3f}); "
                  f"mean latency loadgen {la:.0f} µs other {lb:.0f} µs (ratio {lb / la:.3f}); cycle 1/(req/s) "
                  f"loadgen {ca:.0f} µs{flag(la, ca)} other {cb:.0f} µs{flag(lb, cb)}; server busy {sb:.2f}, "
                  f"loadgen busy {gb:.2f}")
            rr.append(b / a)
            lr.append(lb / la)
            busy_ok.append(sb >= 1.5 * gb)
        mr, ml = statistics.median(rr), statistics.median(lr)
        ok = abs(mr - 1) <= TOL_RPS and (abs(ml - 1) <= TOL_LAT or not judge_lat)
        ok_all &= ok
        print(f"  median over {len(rr)} rounds: req/s {mr:.3f} ({min(rr):.3f}–{max(rr):.3f}), "
              f"mean latency {ml:.3f} ({min(lr):.3f}–{max(lr):.3f}"
              + (")" if judge_lat else "; not judged)")
              + f": {'within' if ok else 'OUTSIDE'} tolerance"
              + ("" if all(busy_ok) else f" ({busy_ok.count(False)} round(s) where the server was not "
                                         f"≥ 1.5× as busy as loadgen)") + "\n")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
