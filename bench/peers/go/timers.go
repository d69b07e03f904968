// SPDX-License-Identifier: MIT
// timers.go — the Go peer of bench/timers.c: LIVE timers armed with
// time.AfterFunc (deadlines 1–10 s, none fires); every 1 ms tick RATE/1000 of
// them are stopped (Timer.Stop) and re-armed. Prints the process's CPU time
// per arm+cancel pair over the paced run: `RESULT timers <ns> ns/pair`.
//
//	timers [SECONDS=1] [RATE=100000] [LIVE=10000]
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

var rng uint64 = 42

// nextDelay: the splitmix64 sequence of bench/timers.c, uniform in 1–10 s.
func nextDelay() time.Duration {
	rng += 0x9E3779B97F4A7C15
	z := rng
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	s := 1.0 + 9.0*float64(z>>11)/9007199254740992.0
	return time.Duration(s * 1e9)
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}

func main() {
	seconds, rate, live := arg(1, 1), arg(2, 100000), arg(3, 10000)
	nop := func() {}
	ts := make([]*time.Timer, live)
	for i := range ts {
		ts[i] = time.AfterFunc(nextDelay(), nop)
	}
	perTick, slot, pairs := rate/1000, 0, 0
	c0 := cpuNs()
	next := time.Now()
	for tick := 0; tick < seconds*1000; tick++ {
		next = next.Add(time.Millisecond)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		for k := 0; k < perTick; k++ {
			ts[slot].Stop()
			ts[slot] = time.AfterFunc(nextDelay(), nop)
			slot = (slot + 1) % live
			pairs++
		}
	}
	fmt.Printf("RESULT timers %.1f ns/pair\n", float64(cpuNs()-c0)/float64(pairs))
}
