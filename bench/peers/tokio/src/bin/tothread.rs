// SPDX-License-Identifier: MIT
//! tothread — the Tokio peer of bench/thread-to-thread.c: N tiny jobs through
//! `spawn_blocking`, INFLIGHT at a time (INFLIGHT tasks each loop on
//! `spawn_blocking(..).await` until the jobs are used up), on the
//! current-thread runtime. POOL caps the blocking pool (`max_blocking_threads`;
//! make bench passes the CPU count, the size every peer's pool gets; without it
//! Tokio grows the pool on demand up to 512). Prints
//! `RESULT to_thread <ns per job> ns/job` and `RESULT to_thread_cpu <ns> ns/job`:
//! the process's CPU time per job (schedstat of every thread), since a pool
//! can buy wall time with CPU.
//!
//!     tothread N INFLIGHT [POOL]
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

/// Nanoseconds on CPU of every thread of this process (schedstat: exact).
fn cpu_ns() -> u64 {
    let mut total = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                total += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("N INFLIGHT [POOL]")).collect();
    if a.len() != 2 && a.len() != 3 {
        eprintln!("usage: tothread N INFLIGHT [POOL]");
        std::process::exit(2);
    }
    let mut b = tokio::runtime::Builder::new_current_thread();
    if a.len() == 3 {
        b.max_blocking_threads(a[2]);
    }
    let rt = b.build().unwrap();
    rt.block_on(run(a[0] / 10 + 1, a[1])); // warm the blocking pool
    let c0 = cpu_ns();
    let ns = rt.block_on(run(a[0], a[1]));
    let cpu = (cpu_ns() - c0) as f64 / a[0] as f64;
    println!("RESULT to_thread {:.6} ns/job", ns);
    println!("RESULT to_thread_cpu {:.6} ns/job", cpu);
}
