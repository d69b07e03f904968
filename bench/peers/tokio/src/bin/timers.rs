// SPDX-License-Identifier: MIT
//! timers — the Tokio peer of bench/timers.c: LIVE timers (`tokio::time::Sleep`,
//! deadlines 1–10 s, none fires), each registered with the timer driver by one
//! poll; every 1 ms tick RATE/1000 of them are dropped (which deregisters
//! them: Tokio's cancel) and replaced by fresh registered ones. Prints the
//! process's CPU time per arm+cancel pair over the paced run (schedstat of
//! every thread): `RESULT timers <ns> ns/pair`. Current-thread runtime.
//!
//!     timers [SECONDS=1] [RATE=100000] [LIVE=10000]
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant, Sleep};

static mut RNG: u64 = 42;

/// The splitmix64 sequence of bench/timers.c, uniform in 1–10 s.
fn next_delay() -> Duration {
    let z = unsafe {
        RNG = RNG.wrapping_add(0x9E3779B97F4A7C15);
        RNG
    };
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    let z = z ^ (z >> 31);
    Duration::from_secs_f64(1.0 + 9.0 * (z >> 11) as f64 / 9007199254740992.0)
}

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

/// A Sleep registered with the driver: polled once (it is not due).
async fn armed() -> Pin<Box<Sleep>> {
    let mut s = Box::pin(sleep(next_delay()));
    std::future::poll_fn(|cx| {
        let _ = s.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
    s
}

async fn run(seconds: usize, rate: usize, live: usize) -> f64 {
    let mut ts = Vec::with_capacity(live);
    for _ in 0..live {
        ts.push(armed().await);
    }
    let (per_tick, mut slot, mut pairs) = (rate / 1000, 0, 0u64);
    let c0 = cpu_ns();
    let mut next = Instant::now();
    for _ in 0..seconds * 1000 {
        next += Duration::from_millis(1);
        sleep_until(next).await;
        for _ in 0..per_tick {
            ts[slot] = armed().await; // the old one is dropped: cancelled
            slot = (slot + 1) % live;
            pairs += 1;
        }
    }
    (cpu_ns() - c0) as f64 / pairs as f64
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("SECONDS RATE LIVE")).collect();
    let get = |i: usize, d: usize| *a.get(i).unwrap_or(&d);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let ns = rt.block_on(run(get(0, 1), get(1, 100000), get(2, 10000)));
    println!("RESULT timers {:.1} ns/pair", ns);
}
