// SPDX-License-Identifier: MIT
// spawn.go — the Go peer of bench/spawn.c: goroutines joined with a WaitGroup.
//
//	spawn batch N   start N empty goroutines, then wait for all of them
//	spawn seq N     N times: start one empty goroutine and wait for it
//
// Prints the same RESULT lines as the coring program.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: spawn batch|seq N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "spawn: bad N")
		os.Exit(2)
	}
	var wg sync.WaitGroup
	switch os.Args[1] {
	case "batch":
		t0 := time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		el := time.Since(t0)
		fmt.Printf("RESULT spawn_batch %.6g ns/task\n", float64(el.Nanoseconds())/float64(n))
	case "seq":
		t0 := time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
		el := time.Since(t0)
		fmt.Printf("RESULT spawn_seq %.6g ns/task\n", float64(el.Nanoseconds())/float64(n))
	default:
		fmt.Fprintln(os.Stderr, "spawn: unknown mode")
		os.Exit(2)
	}
}
