// SPDX-License-Identifier: MIT
//! sleepers — the Tokio peer of bench/sleepers.c (current-thread runtime):
//! N tasks each sleeping the same splitmix64 delays (0–max ms), then joined.
//!
//!     sleepers N [max_ms=100] [seed=42]
use std::time::{Duration, Instant};

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e3779b97f4a7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn vmhwm_kib() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmHWM:") {
            return rest.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(-1);
        }
    }
    -1
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).expect("usage: sleepers N [max_ms] [seed]").parse().expect("N");
    let max_ms: u64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(100);
    let seed: u64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(42);
    let max_ns = max_ms * 1_000_000;
    let mut st = seed;
    let delays: Vec<u64> = (0..n).map(|_| splitmix(&mut st) % (max_ns + 1)).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let hwm0 = vmhwm_kib();
        let t0 = Instant::now();
        let hs: Vec<_> = delays
            .iter()
            .map(|&d| tokio::spawn(tokio::time::sleep(Duration::from_nanos(d))))
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        let wall = t0.elapsed().as_nanos() as f64 / 1e6;
        let hwm1 = vmhwm_kib();
        println!("RESULT sleepers_wall {:.6} ms", wall);
        println!("RESULT sleepers_wall_over_ideal {:.6} x", wall / max_ms as f64);
        println!("RESULT sleepers_rss_per_task {:.6} B", (hwm1 - hwm0) as f64 * 1024.0 / n as f64);
    });
}
