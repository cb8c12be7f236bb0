//! What the root benchmarks measure the same way: a baseline run on `threads` threads for
//! `secs` seconds, and percentiles of sorted latencies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls of `work` per second, `threads` threads calling it back to back for `secs` seconds.
pub(crate) fn per_second<F>(threads: usize, secs: f64, work: F) -> f64
where
    F: Fn() + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, stop, count) = (work.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    work();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall time on purpose
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("a baseline thread");
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// The `p` percentile of `sorted`, in milliseconds (`empty` when there is none).
pub(crate) fn pct(sorted: &[Duration], p: f64, empty: f64) -> f64 {
    if sorted.is_empty() {
        return empty;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}
