//! Relay benchmark (not a test): bytes/s through one forwarded channel (1 and 4 streams) against
//! `socat` relaying the same traffic and against a direct connection, the process's CPU seconds
//! per GB forwarded, and added round-trip latency against socat's — all in one run.
//!
//! `cargo bench -p support-relay --bench relay [-- MEGABYTES]` (default 256 MB per measurement).
//! The console, the customer and the relay run in this one process (3 TLS endpoints, 2 TLS
//! hops); socat relays plain TCP. Technician authentication is a stub here (it is not what is
//! measured): the bench has no authd.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_relay::auth::{AuthError, Authenticator, BoxFut, Identity};
use support_relay::client::{self, customer};

#[derive(Debug)]
struct StubAuth;

impl Authenticator for StubAuth {
    fn login_step<'a>(
        &'a self,
        _: &'a str,
        _: serde_json::Value,
        _: std::net::IpAddr,
    ) -> BoxFut<'a, Result<(u16, serde_json::Value), AuthError>> {
        Box::pin(async { Err(AuthError::UnknownStep) })
    }
    fn identity<'a>(
        &'a self,
        s: &'a str,
        _: std::net::IpAddr,
    ) -> BoxFut<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async move {
            Ok((s == "bench").then(|| Identity {
                username: "bench".into(),
                roles: vec!["technician".into()],
            }))
        })
    }
    fn logout<'a>(&'a self, _: &'a str, _: std::net::IpAddr) -> BoxFut<'a, Result<(), AuthError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Sink: reads until EOF, answers the byte count (8 bytes). Echo: echoes.
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
                    // Echo mode for latency.
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

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = 100.0;
    let u: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let k: f64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    (u + k) / tick
}

fn socat(target: SocketAddr) -> Option<(std::process::Child, SocketAddr)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!("TCP:{target}"))
        .spawn()
        .ok()?;
    let mut child = child;
    let a: SocketAddr = ([127, 0, 0, 1], port).into();
    // socat may take seconds to start on a loaded machine: wait up to 20 s for its port.
    for _ in 0..1000 {
        if TcpStream::connect(a).is_ok() {
            return Some((child, a));
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "waiting for an external process to listen, in a benchmark"
        )]
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

async fn relay_forward(target: SocketAddr) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let (tls, cert) = support_relay::tls::load_or_generate(&dir.path().join("tls")).expect("tls");
    let deps = support_relay::server::Deps {
        config: support_relay::server::Config::new(dir.path().join("relay")),
        auth: Arc::new(StubAuth),
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
    let mut tech = client::connect(&relay, "localhost", ccfg.clone())
        .await
        .expect("tech");
    client::console::authenticate(&mut tech, "bench")
        .await
        .expect("auth");
    let key = match tech
        .request(&support_relay::proto::Control::KeyNew {})
        .await
        .expect("key")
    {
        support_relay::proto::Control::KeyCreated { key, .. } => key,
        other => panic!("{other:?}"),
    };
    let cust = client::connect(&relay, "localhost", ccfg)
        .await
        .expect("cust");
    let opts = customer::Options {
        entry: customer::Entry::Key(key.clone()),
        name: "bench".into(),
        consent: Some(["forward".to_owned()].into_iter().collect()),
        dir: dir.path().to_owned(),
    };
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(_tx);
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
    (fa, dir)
}

fn main() {
    let mb: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let total = mb * 1024 * 1024;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = sink_server();
    let (fwd, _dir) = rt.block_on(relay_forward(target));
    let so = socat(target);
    println!("relay benchmark: {mb} MB per measurement, loopback, this machine");
    for streams in [1u64, 4] {
        let direct = throughput(target, total, streams);
        let c0 = cpu_seconds();
        let ours = throughput(fwd, total, streams);
        let cpu = cpu_seconds() - c0;
        let line = format!(
            "{streams} stream(s): relay {:.0} MB/s, direct {:.0} MB/s (relay/direct {:.2}), relay process CPU {:.2} s/GB",
            ours / 1e6,
            direct / 1e6,
            ours / direct,
            cpu / (total as f64 / 1e9)
        );
        match &so {
            Some((_, sa)) => {
                let s = throughput(*sa, total, streams);
                println!(
                    "{line}; socat {:.0} MB/s (relay/socat {:.2})",
                    s / 1e6,
                    ours / s
                );
            }
            None => println!(
                "{line}; socat unavailable (not installed, or did not start; scripts/setup installs it)"
            ),
        }
    }
    let d = rtt(target, 2000);
    let r = rtt(fwd, 2000);
    match &so {
        Some((_, sa)) => {
            let s = rtt(*sa, 2000);
            let added_r = r.saturating_sub(d);
            let added_s = s.saturating_sub(d);
            println!(
                "round trip: direct {d:?}, socat {s:?}, relay {r:?}; added by relay {added_r:?} vs socat {added_s:?} (ratio of totals {:.2})",
                r.as_secs_f64() / s.as_secs_f64()
            );
        }
        None => println!("round trip: direct {d:?}, relay {r:?}"),
    }
    if let Some((mut c, _)) = so {
        let _ = c.kill();
        let _ = c.wait();
    }
}
