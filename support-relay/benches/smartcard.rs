//! Smart-card sharing benchmark (not a test): APDU round trips directly on vpcd's reader 0
//! against the whole forwarding chain on reader 1, in the same run on this machine.
//!
//! Chain: PC/SC program → pcscd → vpcd reader 1 → our card end (customer side) → relay over
//! TLS → console side → PC/SC on reader 0 (one transaction per APDU) → pcscd → vpcd → the
//! emulator card. The console, the customer and the relay run in this one process (three TLS
//! endpoints, two TLS hops). Technician authentication is a stub (no authd: it is not what is
//! measured).
//!
//! Run: `cargo bench -p support-relay --bench smartcard [-- APDUS]` (default 3000). Needs pcscd
//! and vpcd (`scripts/setup`); starts `pcscd -f` if none runs and takes the pcscd test lock.
//! Targets (issue 9): forwarded p50 ≤ 1 ms, p99 ≤ 3 ms, ≥ 1 000 APDUs/s.

#![allow(clippy::unwrap_used)]

#[path = "../../hardware/benches/common/apdu_timing.rs"]
mod apdu_timing;
mod common;
#[allow(dead_code, unreachable_pub)]
#[path = "../../hardware/tests/pcscd.rs"]
mod pcscd;

use pcscd::{PORT_0, READER_0, READER_1};
use sesame_hardware::card::emulator::EmulatedCard;
use sesame_hardware::card::pcsc::PcscContext;
use sesame_hardware::card::{CardEnd, CardEndOptions};
use std::sync::Arc;
use std::time::Duration;
use support_relay::client::{self, customer};

/// Relay, customer (vpcd reader 1) and console sharing reader 0, all in this process.
async fn chain(dir: &std::path::Path) {
    let (tls, cert) = support_relay::tls::load_or_generate(&dir.join("tls")).expect("tls");
    let deps = support_relay::server::Deps {
        config: support_relay::server::Config::new(dir.join("relay")),
        auth: Arc::new(common::StubAuth),
        clock: Arc::new(support_relay::clock::SystemClock),
        tls,
        mailer: None,
    };
    let h = support_relay::server::build(deps).expect("build");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let relay = l.local_addr().expect("addr").to_string();
    tokio::spawn(support_relay::server::serve(l, h, std::future::pending()));
    let ccfg = support_relay::tls::client_config_from_pem(cert.as_bytes()).expect("ccfg");
    let (mut tech, key, cust, opts) =
        common::technician_and_customer(&relay, ccfg, "smartcard", dir.to_owned()).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(tx);
    tokio::spawn(async move {
        customer::run_with_vpcd(cust, opts, &format!("127.0.0.1:{}", pcscd::PORT_1), rx).await
    });
    client::console::attach(&mut tech, &key, 30)
        .await
        .expect("attach");
    tokio::spawn(async move {
        let r = client::smartcard::share(
            &mut tech,
            READER_0,
            std::future::pending::<()>(),
            &mut |_| {},
        )
        .await;
        eprintln!("sharing ended: {r:?}");
    });
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let _pcscd = pcscd::pcscd();
    let ctx = PcscContext::establish().unwrap();
    let end = CardEnd::connect(("127.0.0.1", PORT_0), CardEndOptions::default()).unwrap();
    let stop = end.stop_handle().unwrap();
    let card = std::thread::spawn(move || end.run(EmulatedCard::test_card()));
    apdu_timing::wait_for(&ctx, READER_0, true, Duration::from_secs(20));

    // Baseline: directly on reader 0.
    let base = {
        let mut c = ctx.connect(READER_0).unwrap();
        apdu_timing::measure(&mut c, 50, n)
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    rt.block_on(chain(dir.path()));
    apdu_timing::wait_for(&ctx, READER_1, true, Duration::from_secs(20));
    let fwd = {
        let mut c = ctx.connect(READER_1).unwrap();
        apdu_timing::measure(&mut c, 50, n)
    };

    println!("\nAPDU round trips (GET CHALLENGE, 8 bytes back), pcscd + vpcd, loopback\n");
    println!(
        "{:<46} {:>6} {:>9} {:>9} {:>10} {:>9}",
        "path", "APDUs", "p50 ms", "p99 ms", "APDUs/s", "p50/base"
    );
    apdu_timing::row("direct, reader 0 (baseline)", 46, &base, &base);
    apdu_timing::row(
        "reader 1 → customer → relay (TLS) → console",
        46,
        &fwd,
        &base,
    );
    let ok = |b: bool| if b { "met" } else { "MISSED" };
    println!(
        "\ntargets: p50 ≤ 1 ms {}, p99 ≤ 3 ms {}, ≥ 1000 APDUs/s {}",
        ok(fwd.p50_ms <= 1.0),
        ok(fwd.p99_ms <= 3.0),
        ok(fwd.per_sec >= 1000.0)
    );
    rt.shutdown_timeout(Duration::from_secs(1));
    stop.stop();
    let _ = card.join();
}
