// SPDX-License-Identifier: MIT
// fileread.go — the Go peer of bench/fileread.c: READS random 4 KiB reads
// (File.ReadAt: a blocking pread on a runtime thread) of a warm MIB MiB file,
// INFLIGHT goroutines each reading until the reads are used up. Prints
// `RESULT fileread <wall ns per read> ns/read` and `RESULT fileread_cpu <ns>
// ns/read` (the process's CPU time per read). Default GOMAXPROCS.
//
//	fileread [READS=200000] [INFLIGHT=64] [MIB=64]
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var rng uint64 = 0

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
	reads, inflight, mib := arg(1, 200000), arg(2, 64), arg(3, 64)
	f, err := os.CreateTemp("", "coring-fileread-")
	if err != nil {
		panic(err)
	}
	os.Remove(f.Name())
	chunk := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		f.Write(chunk)
	}
	for i := 0; i < mib; i++ {
		f.ReadAt(chunk, int64(i)<<20)
	}
	var left int64 = int64(reads)
	var wg sync.WaitGroup
	c0, t0 := cpuNs(), time.Now()
	for g := 0; g < inflight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for atomic.AddInt64(&left, -1) >= 0 {
				z := atomic.AddUint64(&rng, 0x9E3779B97F4A7C15)
				z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
				z = (z ^ (z >> 27)) * 0x94D049BB133111EB
				z ^= z >> 31
				off := int64(z%uint64(mib*256)) * 4096
				if n, err := f.ReadAt(buf, off); n != 4096 || err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(t0).Nanoseconds(), cpuNs()-c0
	fmt.Printf("RESULT fileread %.1f ns/read\nRESULT fileread_cpu %.1f ns/read\n",
		float64(wall)/float64(reads), float64(cpu)/float64(reads))
}
