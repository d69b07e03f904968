// SPDX-License-Identifier: MIT
//
// https-client.go — a full-handshake load generator for bench/https.py.
//
//	https-client ADDR CONNS SECS
//
// CONNS goroutines each loop: connect, full TLS handshake (no session cache,
// no verification: the server's work is what is measured), one HTTP/1.1
// GET with Connection: close, read the whole answer, close. Prints
// "handshakes N errors E secs S" and the cipher suites it got.
//
// Why not wrk: OpenSSL 3.0's client side of a handshake costs about twice
// the server's (wrk spent ~1 ms of user CPU per handshake against a server's
// ~0.6 ms with an RSA-2048 certificate), so wrk, not the server, is the
// limit of a handshake rate. Go's client costs a fraction of that, so one
// core of it outruns one server core and handshakes/s is the server's.
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: https-client ADDR CONNS SECS")
		os.Exit(2)
	}
	addr := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		ClientSessionCache: nil, // every connection a full handshake
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
	}
	req := []byte("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	var n, errs int64
	var mu sync.Mutex
	suites := map[string]int64{}
	start := time.Now()
	deadline := start.Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			local := map[string]int64{}
			for time.Now().Before(deadline) {
				raw, err := net.Dial("tcp", addr)
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				c := tls.Client(raw, cfg)
				ok := c.Handshake() == nil
				if ok {
					_, err = c.Write(req)
					ok = err == nil
				}
				var got []byte
				for ok {
					k, err := c.Read(buf)
					got = append(got, buf[:k]...)
					if err == io.EOF || (err != nil && len(got) > 0) {
						break
					}
					if err != nil {
						ok = false
					}
				}
				if ok && bytes.HasPrefix(got, []byte("HTTP/1.1 200")) {
					atomic.AddInt64(&n, 1)
					local[tls.CipherSuiteName(c.ConnectionState().CipherSuite)]++
				} else {
					atomic.AddInt64(&errs, 1)
				}
				c.Close()
			}
			mu.Lock()
			for k, v := range local {
				suites[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Printf("handshakes %d errors %d secs %.3f\n", n, errs, time.Since(start).Seconds())
	for k, v := range suites {
		fmt.Printf("suite %s %d\n", k, v)
	}
}
