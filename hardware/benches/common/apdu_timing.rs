//! APDU timing shared by the card benchmarks (`hardware/benches/card.rs` and
//! `support-relay/benches/smartcard.rs`, which includes this file by path): timed GET CHALLENGE
//! round trips, their percentiles, a table row, and waiting for a reader's state.

use sesame_hardware::card::emulator;
use sesame_hardware::card::pcsc::{PcscCard, PcscContext};
use std::time::{Duration, Instant};

/// Round-trip figures of one measured run.
pub(crate) struct Stats {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) per_sec: f64,
    pub(crate) n: usize,
}

/// `n` round trips of GET CHALLENGE (8 bytes back) after a SELECT and `warmup` untimed ones,
/// each timed.
pub(crate) fn measure(card: &mut PcscCard, warmup: usize, n: usize) -> Stats {
    let select = emulator::test_script()[0].to_bytes();
    assert_eq!(card.transmit(&select).expect("select"), [0x90, 0x00]);
    let get_challenge = [0x00, 0x84, 0x00, 0x00, 0x08];
    for _ in 0..warmup {
        card.transmit(&get_challenge).expect("warm-up");
    }
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let resp = card.transmit(&get_challenge).expect("transmit");
        times.push(t.elapsed());
        assert_eq!(resp.len(), 10);
    }
    let total = start.elapsed();
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    Stats {
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        per_sec: n as f64 / total.as_secs_f64(),
        n,
    }
}

/// One table row: count, p50, p99, APDUs/s and the p50 ratio to `base`.
pub(crate) fn row(name: &str, width: usize, s: &Stats, base: &Stats) {
    println!(
        "{name:<width$} {:>6} {:>9.3} {:>9.3} {:>10.0} {:>8.1}×",
        s.n,
        s.p50_ms,
        s.p99_ms,
        s.per_sec,
        s.p50_ms / base.p50_ms
    );
}

/// Wait up to `within` until `reader` has a card (`present`) or none.
pub(crate) fn wait_for(ctx: &PcscContext, reader: &str, present: bool, within: Duration) {
    super::pcscd::poll(within, "the reader's state", || {
        ctx.readers()
            .expect("readers")
            .into_iter()
            .any(|r| r.name == reader && r.atr.is_some() == present)
            .then_some(())
    });
}
