// SPDX-License-Identifier: MIT
//! echo — the Tokio peer of examples/echo.c for the echo benchmark, on the
//! current-thread runtime (one thread, like one coring loop): one task per
//! connection, reading whatever arrived and writing it back.
//! Prints "tokio: listening on 127.0.0.1:PORT" (run.py reads the port); SIGINT
//! ends it (default action).
//!
//!     echo [PORT]
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let port: u16 = std::env::args().nth(1).map(|p| p.parse().expect("PORT")).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async move {
        let ln = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("tokio: listening on {}", ln.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        loop {
            let (mut c, _) = match ln.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = c.set_nodelay(true);
            tokio::spawn(async move {
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
    });
}
