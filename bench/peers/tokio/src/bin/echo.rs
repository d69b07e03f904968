// SPDX-License-Identifier: MIT
//! echo — the Tokio peer of examples/echo.c for the echo benchmark, on the
//! current-thread runtime (one thread, like one coring loop): one task per
//! connection, reading whatever arrived and writing it back.
//! Prints "tokio: listening on 127.0.0.1:PORT" (run.py reads the port); SIGINT
//! ends it (default action).
//!
//!     echo [PORT]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    coring_bench_tokio::serve_current_thread(|mut c| async move {
        let mut buf = [0u8; 4096];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if c.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
}
