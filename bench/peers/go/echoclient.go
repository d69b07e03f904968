// SPDX-License-Identifier: MIT
// echoclient.go — a second echo load generator, written independently of
// bench/loadgen.c, to validate it: CONNS goroutines, each a closed loop of
// one SIZE-byte message written and its echo read back (and compared), for a
// warm-up then SECS measured. Prints
// `RESULT echoclient_rps <req/s> req/s`, `RESULT echoclient_p50 <µs> us`,
// `RESULT echoclient_p99 <µs> us` and `RESULT echoclient_mean <µs> us`
// (exact percentiles: every latency kept and sorted).
//
//	echoclient PORT [CONNS=50] [SECS=1] [SIZE=64] [WARMUP=0.3]
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

func farg(i int, def float64) float64 {
	if len(os.Args) > i {
		if v, err := strconv.ParseFloat(os.Args[i], 64); err == nil {
			return v
		}
	}
	return def
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echoclient PORT [CONNS] [SECS] [SIZE] [WARMUP]")
		os.Exit(2)
	}
	port := os.Args[1]
	conns, secs, size, warm := int(farg(2, 50)), farg(3, 1), int(farg(4, 64)), farg(5, 0.3)
	start := time.Now()
	begin := start.Add(time.Duration(warm * 1e9))
	end := begin.Add(time.Duration(secs * 1e9))
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
				return
			}
			defer c.Close()
			msg, got := make([]byte, size), make([]byte, size)
			for j := range msg {
				msg[j] = byte('a' + (i+j)%26)
			}
			for {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				if _, err := c.Write(msg); err != nil {
					break
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					break
				}
				t1 := time.Now()
				if t1.After(begin) && t1.Before(end) {
					lats[i] = append(lats[i], t1.Sub(t0))
				}
			}
			mu.Lock()
			failed = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if failed || len(all) == 0 {
		fmt.Fprintln(os.Stderr, "echoclient: a connection failed or answered wrong bytes")
		os.Exit(1)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	fmt.Printf("RESULT echoclient_rps %.0f req/s\n", float64(len(all))/secs)
	fmt.Printf("RESULT echoclient_p50 %.1f us\n", us(all[len(all)/2]))
	fmt.Printf("RESULT echoclient_p99 %.1f us\n", us(all[len(all)*99/100]))
	fmt.Printf("RESULT echoclient_mean %.1f us\n", us(sum/time.Duration(len(all))))
}
