// SPDX-License-Identifier: MIT
// hello.go — Go net/http "Hello, world!" server, the HTTP benchmark's peer.
// Prints "go: listening on 127.0.0.1:PORT". GOMAXPROCS is Go's default: the
// CPUs it may run on, i.e. 1 under run.py's `taskset -c 0`, like every server.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	fmt.Printf("go: listening on %s\n", ln.Addr())
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, world!"))
	})
	http.Serve(ln, nil)
}
