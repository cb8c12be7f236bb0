//! Benchmark (not a test): full HTTPS logins per second against raw argon2id verifications per
//! second, both measured in this run on this machine with the production parameters
//! (m=19456 KiB, t=2, p=1), and the ratio between them. Target ≥ 0.9.
//!
//! Run: `cargo bench --bench login` (optionally `-- SECONDS CONNECTIONS`).

#![allow(clippy::unwrap_used)]

#[path = "common/measure.rs"]
mod measure;
#[path = "../tests/e2e/support.rs"]
mod support;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use serde_json::json;
use std::time::{Duration, Instant};

fn raw_argon2_per_sec(threads: usize, secs: f64) -> f64 {
    let p = sesame_config::Password::default();
    let params = Params::new(
        p.argon2_memory_kib,
        p.argon2_iterations,
        p.argon2_parallelism,
        None,
    )
    .unwrap();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let hash = a
        .hash_password_with_salt(b"benchmark password", b"0123456789abcdef")
        .unwrap()
        .to_string();
    // Parsing the PHC string costs microseconds against the verification's milliseconds.
    measure::per_second(threads, secs, move || {
        let parsed = argon2::PasswordHash::new(&hash).unwrap();
        a.verify_password(b"benchmark password", &parsed).unwrap();
    })
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

    let raw = raw_argon2_per_sec(cores, secs);
    println!("raw argon2id verifications: {raw:.1}/s on {cores} threads");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let srv = support::Server::start_real(|c| {
            // One load generator drives ~80 logins/s from one address: above the default
            // per-address rate limit, which is not what this benchmark measures.
            c.guard.rate_per_second = 100_000;
            c.guard.rate_burst = 100_000;
            c.password = sesame_config::Password::default();
            c.hashing.threads = 0;
        })
        .await;
        let c = srv.client();
        let admin = support::admin_session(&c, "second root passphrase").await;
        let r = c.post("/api/v1/users", Some(&admin), json!({"username": "bench", "password": "quiet harbour lights", "must_change_password": false})).await;
        assert_eq!(r.status, 201);
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut conn = c.connect().await;
                    let (mut ok, mut other, mut lat) = (0u64, 0u64, Vec::new());
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let r = conn.post("/api/v1/login", None, json!({"username": "bench", "password": "quiet harbour lights"})).await;
                        lat.push(t.elapsed());
                        if r.status == 200 { ok += 1 } else { other += 1 }
                    }
                    (ok, other, lat)
                })
            })
            .collect();
        let (mut ok, mut other, mut lat) = (0, 0, Vec::new());
        for t in tasks {
            let (o, x, l) = t.await.unwrap();
            ok += o;
            other += x;
            lat.extend(l);
        }
        let elapsed = start.elapsed().as_secs_f64();
        lat.sort();
        let rate = ok as f64 / elapsed;
        println!("HTTPS logins (TLS 1.3, keep-alive, {conns} connections): {rate:.1}/s, {other} refused, p50 {:.1} ms, p99 {:.1} ms", measure::pct(&lat, 0.5, 0.0), measure::pct(&lat, 0.99, 0.0));
        println!("ratio logins/s ÷ raw argon2id/s = {:.3} (target ≥ 0.9)", rate / raw);
        srv.stop().await;
    });
}
