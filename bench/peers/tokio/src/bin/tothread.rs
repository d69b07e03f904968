//! tothread — the Tokio peer of bench/thread-to-thread.c: N tiny jobs through
//! `spawn_blocking`, INFLIGHT at a time (INFLIGHT tasks each loop on
//! `spawn_blocking(..).await` until the jobs are used up), on the
//! current-thread runtime with Tokio's default blocking pool (threads grow on
//! demand up to 512). Prints `RESULT to_thread <ns per job> ns/job`.
//!
//!     tothread N INFLIGHT
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

async fn run(n: usize, inflight: usize) -> f64 {
    let left = Rc::new(Cell::new(n));
    let local = tokio::task::LocalSet::new();
    let t0 = Instant::now();
    local
        .run_until(async {
            let hs: Vec<_> = (0..inflight)
                .map(|_| {
                    let left = left.clone();
                    tokio::task::spawn_local(async move {
                        while left.get() > 0 {
                            let x = left.get() - 1;
                            left.set(x);
                            let r = tokio::task::spawn_blocking(move || x).await.unwrap();
                            std::hint::black_box(r);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        })
        .await;
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("N INFLIGHT")).collect();
    if a.len() != 2 {
        eprintln!("usage: tothread N INFLIGHT");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(run(a[0] / 10 + 1, a[1])); // warm the blocking pool
    let ns = rt.block_on(run(a[0], a[1]));
    println!("RESULT to_thread {:.6} ns/job", ns);
}
