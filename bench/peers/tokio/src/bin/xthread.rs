//! xthread — the Tokio peer of bench/thread-submit.c: PRODUCERS std threads
//! submit N/PRODUCERS tasks each into one current-thread runtime through its
//! `Handle::spawn`, timed from the producers' start until the runtime has run
//! the last one. Prints `RESULT xthread_coroutine <ns per submission> ns/op`
//! (a spawned task is the analogue of run_coroutine_threadsafe).
//!
//!     xthread N PRODUCERS
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("N PRODUCERS")).collect();
    if a.len() != 2 {
        eprintln!("usage: xthread N PRODUCERS");
        std::process::exit(2);
    }
    let (producers, per) = (a[1], a[0] / a[1]);
    let n = per * producers;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let t0 = Instant::now();
    let ths: Vec<_> = (0..producers)
        .map(|_| {
            let (h, done, all) = (rt.handle().clone(), done.clone(), all.clone());
            std::thread::spawn(move || {
                for _ in 0..per {
                    let (done, all) = (done.clone(), all.clone());
                    h.spawn(async move {
                        if done.fetch_add(1, Ordering::Relaxed) + 1 == n {
                            all.notify_one();
                        }
                    });
                }
            })
        })
        .collect();
    rt.block_on(all.notified());
    let ns = t0.elapsed().as_nanos() as f64 / n as f64;
    for t in ths {
        t.join().unwrap();
    }
    println!("RESULT xthread_coroutine {:.6} ns/op", ns);
}
