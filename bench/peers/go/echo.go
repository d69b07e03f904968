// SPDX-License-Identifier: MIT
// echo.go — the Go peer of examples/echo.c for the echo benchmark: one
// goroutine per connection, reading whatever arrived and writing it back.
// Prints "go: listening on 127.0.0.1:PORT" (run.py reads the port).
//
//	echo [PORT]   (0 or none: the kernel picks one)
//
// GOMAXPROCS is Go's default: the CPUs the process may run on, so under
// `taskset -c 0` it is 1, the same single core every echo server gets.
package main

import (
	"fmt"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go echo:", err)
		os.Exit(1)
	}
	fmt.Printf("go: listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c)
	}
}
