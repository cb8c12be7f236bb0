//! Relay benchmark (not a test), all in one run on this machine:
//!
//! 1. Bytes/s through one forwarded channel, 1 and 4 streams: the relay against **socat
//!    relaying plain TCP** and against **socat doing the relay's work** (TCP→TLS, TLS→TLS,
//!    TLS→TCP: the same topology, see `relay/socat.rs`), and against a direct connection.
//! 2. The relay process's CPU seconds per GB forwarded (and the socat TLS relay's).
//! 3. Round-trip latency: direct, socat plain, socat TLS chain, relay; the relay's added
//!    round trip against each socat's.
//! 4. Relay memory per session: N busy sessions (default 1 000) and M idle paired sessions
//!    (default 10 000), relay RSS before and after, divided by the count.
//!
//! `cargo bench -p support-relay --bench relay [-- --mb 256 --busy 1000 --idle 10000]`
//! (`--skip-throughput`, `--skip-memory` to run one half). The relay runs in its own process
//! (this binary re-executed, `relay/child.rs`); the console and customer ends run here (the
//! real client code: `client::connect`, the console's `forward`, the customer's accept). The
//! open-files limit is raised to 200 000 (soft and hard; the bench runs as root in CI) for the
//! 20 000+ connections of the idle measurement, in this process and the relay child. The relay's
//! data directory (session records, fsynced per event) is on `/dev/shm` when it exists.

#[path = "relay/child.rs"]
mod child;
mod common;
#[path = "relay/memory.rs"]
mod memory;
#[path = "relay/socat.rs"]
mod socat;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support_relay::client::{self, customer};

/// Sink: reads until EOF, answers the byte count (8 bytes). First byte `E`: echo instead.
fn sink_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut first = [0u8; 1];
                if s.read_exact(&mut first).is_err() {
                    return;
                }
                if first[0] == b'E' {
                    let _ = s.set_nodelay(true);
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                let mut n = 1u64;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k as u64,
                    }
                }
                let _ = s.write_all(&n.to_be_bytes());
            });
        }
    });
    a
}

fn throughput(addr: SocketAddr, total: u64, streams: u64) -> f64 {
    let per = total / streams;
    let t0 = Instant::now();
    let hs: Vec<_> = (0..streams)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                let chunk = vec![b'x'; 256 * 1024];
                let mut left = per;
                while left > 0 {
                    let k = left.min(chunk.len() as u64) as usize;
                    s.write_all(&chunk[..k]).expect("write");
                    left -= k as u64;
                }
                s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                let mut ack = [0u8; 8];
                s.read_exact(&mut ack).expect("ack");
                assert_eq!(u64::from_be_bytes(ack), per, "bytes lost");
            })
        })
        .collect();
    for h in hs {
        h.join().expect("stream");
    }
    (per * streams) as f64 / t0.elapsed().as_secs_f64()
}

fn rtt(addr: SocketAddr, rounds: u32) -> Duration {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"E").expect("mode");
    let mut b = [0u8; 1];
    for _ in 0..50 {
        s.write_all(b"p").expect("w");
        s.read_exact(&mut b).expect("r");
    }
    let t0 = Instant::now();
    for _ in 0..rounds {
        s.write_all(b"p").expect("w");
        s.read_exact(&mut b).expect("r");
    }
    t0.elapsed() / rounds
}

/// The console side's forward of a fresh session through `relay` to `target`: its local port.
async fn relay_forward(relay: SocketAddr, cert: &[u8], target: SocketAddr) -> SocketAddr {
    let dir = std::env::temp_dir();
    let relay = relay.to_string();
    let ccfg = support_relay::tls::client_config_from_pem(cert).expect("ccfg");
    let (mut tech, key, cust, opts) =
        common::technician_and_customer(&relay, ccfg, "forward", dir).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(tx);
    tokio::spawn(customer::run(cust, opts, rx));
    client::console::attach(&mut tech, &key, 30)
        .await
        .expect("attach");
    let fl = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fa = fl.local_addr().expect("addr");
    let t = target.to_string();
    tokio::spawn(async move { client::console::forward(tech, fl, &t).await });
    fa
}

#[derive(Debug)]
struct Args {
    mb: u64,
    busy: usize,
    idle: usize,
    throughput: bool,
    memory: bool,
}

fn args() -> Args {
    let mut a = Args {
        mb: 256,
        busy: 1000,
        idle: 10_000,
        throughput: true,
        memory: true,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| v.get(i + 1).and_then(|x| x.parse::<u64>().ok());
    for (i, s) in v.iter().enumerate() {
        match s.as_str() {
            "--mb" => a.mb = num(i).unwrap_or(a.mb),
            "--busy" => a.busy = num(i).map_or(a.busy, |n| n as usize),
            "--idle" => a.idle = num(i).map_or(a.idle, |n| n as usize),
            "--skip-throughput" => a.throughput = false,
            "--skip-memory" => a.memory = false,
            _ => {}
        }
    }
    a
}

/// Raise the open-files limit (to 200 000 if allowed, else the soft limit to the hard one);
/// returns the limit in force.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let want = 200_000;
    let raised = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want),
        },
    );
    if let Err(e) = raised {
        let hard = getrlimit(Resource::Nofile).maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
        println!("open files limit not raised to {want} ({e}); hard limit {hard:?}");
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    println!("open files limit: {now}");
    now
}

fn mbs(x: f64) -> String {
    format!("{:.0} MB/s", x / 1e6)
}

fn bench_throughput(rt: &tokio::runtime::Runtime, mb: u64, work: &std::path::Path) {
    let total = mb * 1024 * 1024;
    let target = sink_server();
    let relay = child::RelayChild::start(&work.join("t"));
    let fwd = rt.block_on(relay_forward(relay.addr, &relay.cert_pem, target));
    let plain = socat::plain(target);
    let chain = socat::tls_chain(target, &relay.tls_dir);
    println!("== throughput: {mb} MB per measurement, loopback ==");
    if plain.is_none() || chain.is_none() {
        println!("socat unavailable (not installed, or did not start; scripts/setup installs it)");
    }
    for streams in [1u64, 4] {
        let direct = throughput(target, total, streams);
        let c0 = relay.cpu_seconds();
        let ours = throughput(fwd, total, streams);
        let cpu = relay.cpu_seconds() - c0;
        let gb = total as f64 / 1e9;
        println!(
            "{streams} stream(s): direct {}, relay {} (relay/direct {:.2}), relay CPU {:.2} s/GB",
            mbs(direct),
            mbs(ours),
            ours / direct,
            cpu / gb
        );
        if let Some(p) = &plain {
            let s = throughput(p.entry, total, streams);
            println!(
                "    socat plain TCP {} (relay/socat-plain {:.2})",
                mbs(s),
                ours / s
            );
        }
        if let Some(c) = &chain {
            // The chain forks per connection: the relaying socat's CPU is in its reaped children.
            let c0 = child::cpu_seconds(c.relay_pid, true);
            let s = throughput(c.entry, total, streams);
            #[allow(
                clippy::disallowed_methods,
                reason = "letting socat reap its forked children before reading their CPU time"
            )]
            std::thread::sleep(Duration::from_millis(300));
            let cpu = child::cpu_seconds(c.relay_pid, true) - c0;
            println!(
                "    socat TLS chain {} (relay/socat-TLS {:.2}), socat TLS relay CPU {:.2} s/GB",
                mbs(s),
                ours / s,
                cpu / gb
            );
        }
    }
    let d = rtt(target, 2000);
    let r = rtt(fwd, 2000);
    println!("round trip (1 byte, echo): direct {d:?}, relay {r:?}");
    let added_r = r.saturating_sub(d);
    for (name, s) in [("socat plain", &plain), ("socat TLS chain", &chain)] {
        if let Some(s) = s {
            let t = rtt(s.entry, 2000);
            let added = t.saturating_sub(d);
            println!(
                "    {name} {t:?}; added: relay {added_r:?} vs {added:?} (ratio {:.2}; totals {:.2})",
                added_r.as_secs_f64() / added.as_secs_f64().max(1e-9),
                r.as_secs_f64() / t.as_secs_f64()
            );
        }
    }
}

fn bench_memory(rt: &tokio::runtime::Runtime, a: &Args, work: &std::path::Path) {
    println!("== relay memory per session (relay in its own process, RSS) ==");
    if a.busy > 0 {
        let relay = child::RelayChild::start(&work.join("busy"));
        let tls = support_relay::tls::client_config_from_pem(&relay.cert_pem).expect("tls");
        let before = memory::settle(|| relay.rss_kib(), Duration::from_secs(5));
        let pairs = rt.block_on(memory::pairs(relay.addr, tls, a.busy));
        let (stop, sent) = rt.block_on(memory::stream(&pairs));
        let t0 = Instant::now();
        let s0 = sent.load(Ordering::Relaxed);
        let after = memory::settle(|| relay.rss_kib(), Duration::from_secs(10));
        let rate = (sent.load(Ordering::Relaxed) - s0) as f64 / t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        println!(
            "{} busy sessions: relay RSS {} KiB -> {} KiB, {:.1} KiB per session (target <= 160); {} forwarded in total while measured",
            a.busy,
            before,
            after,
            after.saturating_sub(before) as f64 / a.busy as f64,
            mbs(rate)
        );
        drop(pairs);
    }
    if a.idle > 0 {
        let relay = child::RelayChild::start(&work.join("idle"));
        let tls = support_relay::tls::client_config_from_pem(&relay.cert_pem).expect("tls");
        let before = memory::settle(|| relay.rss_kib(), Duration::from_secs(5));
        let t0 = Instant::now();
        let pairs = rt.block_on(memory::pairs(relay.addr, tls, a.idle));
        let setup = t0.elapsed();
        let after = memory::settle(|| relay.rss_kib(), Duration::from_secs(10));
        println!(
            "{} idle paired sessions (set up in {setup:.1?}): relay RSS {} KiB -> {} KiB, {:.1} KiB per session (target <= 32)",
            a.idle,
            before,
            after,
            after.saturating_sub(before) as f64 / a.idle as f64
        );
        drop(pairs);
    }
}

fn main() {
    if let Some(dir) = std::env::var_os(child::CHILD_ENV) {
        child::run_child(std::path::Path::new(&dir));
        return;
    }
    let mut a = args();
    let nofile = raise_nofile();
    // The relay holds 3 descriptors per paired session (two connections, the record file).
    let fit = (nofile.saturating_sub(1000) / 3) as usize;
    if a.idle > fit {
        println!(
            "idle sessions limited to {fit} (not {}) by the open-files limit {nofile}",
            a.idle
        );
        a.idle = fit;
    }
    // Session records are fsynced per event; their disk is not what is measured: keep the
    // relay's data on tmpfs when there is one (10 000 sessions would otherwise wait on fsync).
    let shm = std::path::Path::new("/dev/shm");
    let work = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tmp");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if a.throughput {
        bench_throughput(&rt, a.mb, work.path());
    }
    if a.memory {
        bench_memory(&rt, &a, work.path());
    }
}
