// SPDX-License-Identifier: MIT
//! What the Tokio peers' servers share: the current-thread runtime (one
//! thread, like one coring loop) and the accept loop each of them runs.

use std::future::Future;
use std::io::Write;

/// Listens on 127.0.0.1:PORT (PORT = the first argument, 0 when absent),
/// prints "tokio: listening on ADDR" (run.py reads the port) and runs
/// `handle(conn)` as its own task for every accepted connection, with
/// TCP_NODELAY set. Never returns; SIGINT ends the process (default action).
pub fn serve_current_thread<F, Fut>(handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let port: u16 = std::env::args().nth(1).map(|p| p.parse().expect("PORT")).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async move {
        let ln = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("tokio: listening on {}", ln.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        loop {
            let (c, _) = match ln.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = c.set_nodelay(true);
            tokio::spawn(handle(c));
        }
    });
}
