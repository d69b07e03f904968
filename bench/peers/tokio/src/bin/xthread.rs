// SPDX-License-Identifier: MIT
//! xthread — the Tokio peer of bench/thread-submit.c: PRODUCERS std threads
//! submit N/PRODUCERS tasks each into one current-thread runtime through its
//! `Handle::spawn`, timed from the producers' start until the runtime has run
//! the last one. Prints `RESULT xthread_coroutine <ns per submission> ns/op`
//! (a spawned task is the analogue of run_coroutine_threadsafe).
//!
//! The task does what coring's does (bench/thread-submit.c `on_coro`): bump a
//! counter owned by the loop thread and, at the last one, wake the waiter.
//! So the counter is a thread-local of the runtime thread (a plain Cell, no
//! atomic), and the task captures nothing: no Arc clone per submission, and
//! no JoinHandle kept (coring's side passes NULL for its future).
//!
//!     xthread N PRODUCERS
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

thread_local! {
    static DONE: Cell<usize> = Cell::new(0);
    static TARGET: Cell<usize> = Cell::new(0);
    static ALL: Rc<tokio::sync::Notify> = Rc::new(tokio::sync::Notify::new());
}

fn bump() {
    DONE.with(|d| {
        d.set(d.get() + 1);
        if d.get() == TARGET.with(|t| t.get()) {
            ALL.with(|a| a.notify_one());
        }
    });
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("N PRODUCERS")).collect();
    if a.len() != 2 {
        eprintln!("usage: xthread N PRODUCERS");
        std::process::exit(2);
    }
    let (producers, per) = (a[1], a[0] / a[1]);
    let n = per * producers;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    TARGET.with(|t| t.set(n)); // this thread runs the runtime (block_on below)
    let all = ALL.with(|a| a.clone());
    let t0 = Instant::now();
    let ths: Vec<_> = (0..producers)
        .map(|_| {
            let h = rt.handle().clone();
            std::thread::spawn(move || {
                for _ in 0..per {
                    drop(h.spawn(async { bump() }));
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
