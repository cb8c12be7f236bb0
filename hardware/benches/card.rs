//! Benchmark (not a test): APDU round trips through a real pcscd and vpcd, all measured in this
//! run on this machine.
//!
//! 1. **Direct**: a PC/SC program on reader 0, the emulator as the card behind vpcd. Baseline.
//! 2. **Socket options**: the same with `TCP_NODELAY` and quick ACKs on the card end switched
//!    off one by one: why the card end sets them (vpcd sends a message's length and body in
//!    two writes, so a delayed ACK stalls each APDU).
//! 3. **Forwarded, local**: a PC/SC program on reader 1, whose card end forwards each APDU to
//!    reader 0 over PC/SC — the whole chain of issue 9 minus the relay and its TLS. Printed as
//!    a ratio to the direct numbers; the relay will add its leg here.
//!
//! Run: `cargo bench -p sesame-hardware --bench card` (optionally `-- APDUS`, default 3000).
//! It starts `pcscd -f` if none runs, and takes the same lock as the tests.

#![allow(clippy::unwrap_used)]

#[path = "common/apdu_timing.rs"]
mod apdu_timing;
#[allow(dead_code)]
#[path = "../tests/pcscd.rs"]
mod pcscd;

use apdu_timing::{Stats, row};
use std::thread::JoinHandle;
use std::time::Duration;

use pcscd::{PORT_0, PORT_1, READER_0, READER_1};
use sesame_hardware::card::emulator::EmulatedCard;
use sesame_hardware::card::pcsc::PcscContext;
use sesame_hardware::card::{CardBackend, CardEnd, CardEndOptions, RunSummary, StopHandle};

struct Inserted<B> {
    stop: StopHandle,
    thread: JoinHandle<(B, RunSummary)>,
}

fn insert<B: CardBackend + Send + 'static>(
    port: u16,
    mut backend: B,
    options: CardEndOptions,
) -> Inserted<B> {
    let card_end = CardEnd::connect(("127.0.0.1", port), options).unwrap();
    let stop = card_end.stop_handle().unwrap();
    let thread = std::thread::spawn(move || {
        let summary = card_end.run(&mut backend).unwrap();
        (backend, summary)
    });
    Inserted { stop, thread }
}

impl<B> Inserted<B> {
    fn remove(self) -> (B, RunSummary) {
        self.stop.stop();
        self.thread.join().unwrap()
    }
}

fn direct(ctx: &PcscContext, options: CardEndOptions, n: usize) -> Stats {
    let inserted = insert(PORT_0, EmulatedCard::test_card(), options);
    apdu_timing::wait_for(ctx, READER_0, true, Duration::from_secs(5));
    let mut card = ctx.connect(READER_0).unwrap();
    let stats = apdu_timing::measure(&mut card, 0, n);
    drop(card);
    inserted.remove();
    apdu_timing::wait_for(ctx, READER_0, false, Duration::from_secs(5));
    stats
}

fn forwarded(ctx: &PcscContext, n: usize) -> Stats {
    let real = insert(PORT_0, EmulatedCard::test_card(), CardEndOptions::default());
    apdu_timing::wait_for(ctx, READER_0, true, Duration::from_secs(5));
    // The forwarding side has its own context, as the technician's console would.
    let technician = PcscContext::establish().unwrap().connect(READER_0).unwrap();
    let forward = insert(PORT_1, technician, CardEndOptions::default());
    apdu_timing::wait_for(ctx, READER_1, true, Duration::from_secs(5));
    let mut customer = ctx.connect(READER_1).unwrap();
    let stats = apdu_timing::measure(&mut customer, 0, n);
    drop(customer);
    forward.remove();
    real.remove();
    apdu_timing::wait_for(ctx, READER_1, false, Duration::from_secs(5));
    apdu_timing::wait_for(ctx, READER_0, false, Duration::from_secs(5));
    stats
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let _pcscd = pcscd::pcscd();
    let ctx = PcscContext::establish().unwrap();

    // Warm-up, then the baseline.
    direct(&ctx, CardEndOptions::default(), 200);
    let base = direct(&ctx, CardEndOptions::default(), n);
    let slow = 40; // ~40 ms each without the fixes: keep these runs short
    let nodelay_only = CardEndOptions {
        quickack: false,
        ..CardEndOptions::default()
    };
    let quickack_only = CardEndOptions {
        nodelay: false,
        ..CardEndOptions::default()
    };
    let no_nodelay = direct(&ctx, quickack_only, n.min(1000));
    let no_quickack = direct(&ctx, nodelay_only, slow);
    let neither = direct(&ctx, CardEndOptions::without_latency_fixes(), slow);
    let fwd = forwarded(&ctx, n);

    println!("\nAPDU round trips (GET CHALLENGE, 8 bytes back) through pcscd + vpcd on loopback\n");
    println!(
        "{:<42} {:>6} {:>9} {:>9} {:>10} {:>9}",
        "path", "APDUs", "p50 ms", "p99 ms", "APDUs/s", "p50/base"
    );
    row("direct, reader 0 (baseline)", 42, &base, &base);
    row(
        "direct, card end without TCP_NODELAY",
        42,
        &no_nodelay,
        &base,
    );
    row(
        "direct, card end without quick ACKs",
        42,
        &no_quickack,
        &base,
    );
    row("direct, card end without either", 42, &neither, &base);
    row("forwarded reader 1 → PC/SC → reader 0", 42, &fwd, &base);
    println!(
        "\nforwarded/direct: p50 {:.2}×, p99 {:.2}×, throughput {:.2}×",
        fwd.p50_ms / base.p50_ms,
        fwd.p99_ms / base.p99_ms,
        fwd.per_sec / base.per_sec
    );
    println!(
        "(issue 9 targets, through the relay over TLS: p50 ≤ 1 ms, p99 ≤ 3 ms, ≥ 1000 APDUs/s)"
    );
}
