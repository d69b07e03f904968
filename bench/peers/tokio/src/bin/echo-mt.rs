// SPDX-License-Identifier: MIT
//! echo-mt — the all-cores Tokio echo server, peer of bench/group-echo.c: the
//! multi-thread runtime with one worker per CPU (work-stealing, one listener),
//! one task per connection reading whatever arrived and writing it back, as
//! echo.rs does. Prints "tokio-mt: listening on 127.0.0.1:PORT".
//!
//!     echo-mt [PORT] [WORKERS]      (WORKERS 0/none: one per CPU)
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map(|p| p.parse().expect("PORT")).unwrap_or(0);
    let workers: usize = args.next().map(|w| w.parse().expect("WORKERS")).unwrap_or(0);
    let workers = if workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { workers };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_io().build().unwrap();
    rt.block_on(async move {
        let ln = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("tokio-mt: listening on {}", ln.local_addr().unwrap());
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
