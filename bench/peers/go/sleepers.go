// SPDX-License-Identifier: MIT
// sleepers.go — the Go peer of bench/sleepers.c: N goroutines each sleeping
// the same splitmix64 delays (0–max ms), joined with a WaitGroup.
//
//	sleepers N [max_ms=100] [seed=42]
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func splitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func vmhwmKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line[6:])
			v, _ := strconv.ParseInt(fields[0], 10, 64)
			return v
		}
	}
	return -1
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sleepers N [max_ms] [seed]")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[1])
	maxMs := int64(100)
	seed := uint64(42)
	if len(os.Args) > 2 {
		maxMs, _ = strconv.ParseInt(os.Args[2], 10, 64)
	}
	if len(os.Args) > 3 {
		seed, _ = strconv.ParseUint(os.Args[3], 10, 64)
	}
	maxNs := uint64(maxMs) * 1000000
	delay := make([]time.Duration, n)
	st := seed
	for i := range delay {
		delay[i] = time.Duration(splitmix(&st) % (maxNs + 1))
	}
	hwm0 := vmhwmKiB()
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		d := delay[i]
		go func() {
			time.Sleep(d)
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	hwm1 := vmhwmKiB()
	wall := float64(el.Nanoseconds()) / 1e6
	fmt.Printf("RESULT sleepers_wall %.6g ms\n", wall)
	fmt.Printf("RESULT sleepers_wall_over_ideal %.6g x\n", wall/float64(maxMs))
	fmt.Printf("RESULT sleepers_rss_per_task %.6g B\n", float64(hwm1-hwm0)*1024/float64(n))
}
