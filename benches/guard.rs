//! Benchmark (not a test) of the guard under attack, all in one run on this machine:
//!
//! 1. idle: legitimate logins (production argon2id) — p50/p99 latency and success rate;
//! 2. attack: the same legitimate load while 1 000 distinct addresses from 127.0.0.0/8 flood
//!    wrong passwords — target: every legitimate login succeeds, p99 ≤ 2× idle;
//! 3. refusals per second served to suspended addresses, against a plain hyper "hello" server
//!    over the same TLS configuration.
//!
//! Run: `cargo bench --bench guard [-- SECONDS]`.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the guard bench has no thread baseline
#[path = "common/measure.rs"]
mod measure;
#[path = "../tests/e2e/support.rs"]
mod support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const LEGIT_PW: &str = "quiet harbour lights";

/// `clients` legitimate users logging in back to back for `secs`.
async fn legit_load(c: &support::Client, clients: usize, secs: f64) -> (u64, u64, Vec<Duration>) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let c = c.from(&format!("127.0.0.{}", i + 1));
            tokio::spawn(async move {
                let mut conn = c.connect().await;
                let (mut ok, mut bad, mut lat) = (0u64, 0u64, Vec::new());
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = conn
                        .post(
                            "/api/v1/login",
                            None,
                            json!({"username": "legit", "password": LEGIT_PW}),
                        )
                        .await;
                    lat.push(t.elapsed());
                    if r.status == 200 { ok += 1 } else { bad += 1 }
                }
                (ok, bad, lat)
            })
        })
        .collect();
    let (mut ok, mut bad, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, b, l) = t.await.unwrap();
        ok += o;
        bad += b;
        lat.extend(l);
    }
    lat.sort();
    (ok, bad, lat)
}

fn attacker_addr(i: usize) -> String {
    format!("127.1.{}.{}", i / 250, i % 250 + 1)
}

async fn refusals_per_sec(c: &support::Client, addrs: &[String], secs: f64) -> f64 {
    let n = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = addrs
        .iter()
        .map(|a| {
            let (c, n) = (c.from(a), n.clone());
            tokio::spawn(async move {
                let mut conn = c.connect().await;
                while Instant::now() < deadline {
                    conn.request("GET", "/healthz", None, None, vec![]).await;
                    n.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// A plain hyper server answering "hello" over the same TLS configuration.
async fn hello_server(tls: Arc<rustls::ServerConfig>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"hello")),
                    ))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
            });
        }
    });
    addr
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(15.0);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let srv = support::Server::start_real(|c| {
            // Two legitimate load generators drive up to ~50 logins/s each, from 127.0.0.1 and
            // 127.0.0.2: above the default 20 requests/s per address meant for people.
            c.guard.rate_per_second = 200;
            c.password = sesame_config::Password::default();
            c.hashing.threads = 0;
        })
        .await;
        let c = srv.client();
        let admin = support::admin_session(&c, "second root passphrase").await;
        let r = c.post("/api/v1/users", Some(&admin), json!({"username": "legit", "password": LEGIT_PW, "must_change_password": false})).await;
        assert_eq!(r.status, 201);

        let (ok, bad, lat) = legit_load(&c, 2, secs).await;
        let (idle50, idle99) = (measure::pct(&lat, 0.5, f64::NAN), measure::pct(&lat, 0.99, f64::NAN));
        println!("idle:   {ok} legitimate logins ok, {bad} failed; p50 {idle50:.1} ms, p99 {idle99:.1} ms");

        // 1 000 attackers, each pacing wrong passwords at 2/s on its own connection.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let statuses: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
        let attackers: Vec<_> = (0..1000)
            .map(|i| {
                let (c, stop, statuses) = (c.from(&attacker_addr(i)), stop.clone(), statuses.clone());
                tokio::spawn(async move {
                    let mut conn = c.connect().await;
                    while !stop.load(Ordering::Relaxed) {
                        let r = conn.post("/api/v1/login", None, json!({"username": "legit", "password": "wrong guess 0000"})).await;
                        let k = match r.status { 401 => 0, 429 => 1, 503 => 2, 200 => 3, _ => 4 };
                        statuses[k].fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (ok, bad, lat) = legit_load(&c, 2, secs).await;
        stop.store(true, Ordering::Relaxed);
        for a in attackers {
            let _ = a.await;
        }
        let (att50, att99) = (measure::pct(&lat, 0.5, f64::NAN), measure::pct(&lat, 0.99, f64::NAN));
        let s: Vec<u64> = statuses.iter().map(|x| x.load(Ordering::Relaxed)).collect();
        println!("attack: {ok} legitimate logins ok, {bad} failed; p50 {att50:.1} ms, p99 {att99:.1} ms");
        println!("        attackers got 401×{}, 429×{}, 503×{}, 200×{}, other×{}", s[0], s[1], s[2], s[3], s[4]);
        println!("p99 under attack ÷ idle p99 = {:.2} (target ≤ 2), success {:.1} % (target 100 %)", att99 / idle99, 100.0 * ok as f64 / (ok + bad).max(1) as f64);

        let r = c.from("127.0.0.3").get("/api/v1/suspensions", Some(&admin)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let list = r.json();
        let suspended: Vec<String> = list["suspensions"].as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap().to_owned()).collect();
        println!("        {} attacker addresses suspended", suspended.len());

        // Refusals to suspended addresses vs a plain hyper hello server (same TLS, keep-alive).
        let some: Vec<String> = suspended.iter().take(64).cloned().collect();
        if !some.is_empty() {
            let refusals = refusals_per_sec(&c, &some, secs / 2.0).await;
            let hello_addr = hello_server(srv_tls(&srv)).await;
            let hello_client = support::Client { addr: hello_addr, tls: c.tls.clone(), source: None, clock: c.clock.clone() };
            let hellos = refusals_per_sec(&hello_client, &vec!["127.0.0.1".to_owned(); some.len()], secs / 2.0).await;
            println!("refusals to suspended addresses: {refusals:.0}/s; plain hyper hello: {hellos:.0}/s; ratio {:.2}", refusals / hellos);
        }
        srv.stop().await;
    });
}

fn srv_tls(srv: &support::Server) -> Arc<rustls::ServerConfig> {
    srv.server_tls.clone()
}
