// SPDX-License-Identifier: MIT
//! spawn — the Tokio peer of bench/spawn.c, on the current-thread runtime
//! (one thread, like one coring loop).
//!
//!     spawn batch|seq N
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: spawn batch|seq N");
        std::process::exit(2);
    }
    let n: usize = args[2].parse().expect("N");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    match args[1].as_str() {
        "batch" => rt.block_on(async {
            let t0 = Instant::now();
            let hs: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
            for h in hs {
                h.await.unwrap();
            }
            let el = t0.elapsed().as_nanos() as f64;
            println!("RESULT spawn_batch {:.6} ns/task", el / n as f64);
        }),
        "seq" => rt.block_on(async {
            let t0 = Instant::now();
            for _ in 0..n {
                tokio::spawn(async {}).await.unwrap();
            }
            let el = t0.elapsed().as_nanos() as f64;
            println!("RESULT spawn_seq {:.6} ns/task", el / n as f64);
        }),
        _ => {
            eprintln!("spawn: unknown mode");
            std::process::exit(2);
        }
    }
}
