// SPDX-License-Identifier: MIT
//! fileread — the Tokio peer of bench/fileread.c: READS random 4 KiB reads of a
//! warm MIB MiB file, INFLIGHT tasks each reading until the reads are used up.
//! Tokio's file I/O is a blocking call on its blocking pool, so each read is
//! `spawn_blocking(pread)` (FileExt::read_at) — what tokio::fs does, without
//! its extra buffer copy. POOL caps the blocking pool (make bench: the CPU
//! count, as for every peer). Prints `RESULT fileread <wall ns> ns/read` and
//! `RESULT fileread_cpu <ns> ns/read` (schedstat of every thread).
//!
//!     fileread READS INFLIGHT MIB [POOL]
use std::cell::Cell;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

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
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("READS INFLIGHT MIB [POOL]")).collect();
    let get = |i: usize, d: usize| *a.get(i).unwrap_or(&d);
    let (reads, inflight, mib) = (get(0, 200000), get(1, 64), get(2, 64));
    let path = std::env::temp_dir().join(format!("coring-fileread-{}", std::process::id()));
    let mut f = std::fs::File::options().read(true).write(true).create(true).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..mib {
        f.write_all(&chunk).unwrap();
    }
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mib {
        f.read_at(&mut buf, (i as u64) << 20).unwrap();
    }
    let f = Arc::new(f);
    let mut b = tokio::runtime::Builder::new_current_thread();
    if a.len() > 3 {
        b.max_blocking_threads(a[3]);
    }
    let rt = b.build().unwrap();
    let left = Rc::new(Cell::new(reads));
    let rng = Rc::new(Cell::new(0u64));
    let local = tokio::task::LocalSet::new();
    let (c0, t0) = (cpu_ns(), Instant::now());
    local.block_on(&rt, async {
        let hs: Vec<_> = (0..inflight)
            .map(|_| {
                let (left, rng, f) = (left.clone(), rng.clone(), f.clone());
                tokio::task::spawn_local(async move {
                    while left.get() > 0 {
                        left.set(left.get() - 1);
                        let z = rng.get().wrapping_add(0x9E3779B97F4A7C15);
                        rng.set(z);
                        let z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
                        let z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
                        let z = z ^ (z >> 31);
                        let off = (z % (mib as u64 * 256)) * 4096;
                        let f = f.clone();
                        let n = tokio::task::spawn_blocking(move || {
                            let mut b = [0u8; 4096];
                            f.read_at(&mut b, off).unwrap()
                        })
                        .await
                        .unwrap();
                        assert_eq!(n, 4096);
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    let (wall, cpu) = (t0.elapsed().as_nanos() as f64, (cpu_ns() - c0) as f64);
    println!("RESULT fileread {:.1} ns/read", wall / reads as f64);
    println!("RESULT fileread_cpu {:.1} ns/read", cpu / reads as f64);
}
