//! Benchmark (not a test): passwordless passkey sign-ins per second end to end over HTTPS
//! (`/api/v1/login/passkey/start`, the key signs, `/finish`; no argon2 on this path) against the
//! store's durable commits per second, both measured in this run on this machine. A sign-in
//! costs two durable commits (the ceremony, then its consumption with the session), so the
//! store's rate bounds it. Target ≥ 1 000 sign-ins/s; p50/p99 reported.
//!
//! Run: `cargo bench --bench passkey` (optionally `-- SECONDS CONNECTIONS`). The load generator
//! runs on the same cores as the server: one account and one software passkey per connection
//! (`common/passkey_key.rs`, P-256 signing with ring, a rising counter), each connection kept alive
//! (TLS 1.3, one handshake). The server verifies every assertion with webauthn-rs as it would a
//! real key's; start and finish latencies are reported apart.

#![allow(clippy::unwrap_used)]

#[path = "common/measure.rs"]
mod measure;
#[path = "../tests/e2e/support.rs"]
mod support;

#[path = "common/passkey_key.rs"]
mod passkey_key;

use authd::clock::UnixTime;
use authd::model::{AuditEvent, Outcome};
use authd::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webauthn_authenticator_rs::prelude::Url;

fn event(at: UnixTime) -> AuditEvent {
    AuditEvent {
        at,
        actor: Some("bench".into()),
        action: "bench.commit",
        target: None,
        outcome: Outcome::Success,
        address: "127.0.0.1".into(),
        user_agent: "bench".into(),
        detail: json!({}),
    }
}

/// Durable commits per second of the store (each one an audit append, fsync'ed), from
/// `threads` concurrent writers (the writer batches them: group commit).
fn store_commits_per_sec(threads: usize, secs: f64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(authd::store::sqlite::SqliteStore::open(dir.path()).unwrap());
    measure::per_second(threads, secs, move || {
        store.append_audit(event(0)).unwrap();
    })
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

    let commits = store_commits_per_sec(conns, secs);
    println!("store durable commits: {commits:.0}/s ({conns} concurrent writers, group commit)");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let srv = support::Server::start_real(|c| {
            c.guard.rate_per_second = 100_000;
            c.guard.rate_burst = 100_000;
            c.guard.failed_logins = 10_000;
        })
        .await;
        let c = srv.client();
        let origin = Url::parse(&format!("https://localhost:{}", srv.addr.port())).unwrap();
        let admin = support::admin_session(&c, "second root passphrase").await;
        // One account per connection, each with its own software passkey: every sign-in is a
        // different person's, as at a shift change.
        let mut devices = Vec::new();
        for i in 0..conns {
            let name = format!("bench{i}");
            let r = c
                .post(
                    "/api/v1/users",
                    Some(&admin),
                    json!({"username": name, "password": "quiet harbour lights", "must_change_password": false}),
                )
                .await;
            assert_eq!(r.status, 201);
            let token = c
                .post(
                    "/api/v1/login",
                    None,
                    json!({"username": name, "password": "quiet harbour lights"}),
                )
                .await
                .json()["session"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut dev = passkey_key::BenchKey::new("localhost", origin.as_str().trim_end_matches('/'));
            let s = c
                .post(
                    "/api/v1/me/webauthn/register/start",
                    Some(&token),
                    json!({"label": "bench"}),
                )
                .await
                .json();
            let reg = dev.register(&s["options"]);
            let done = c
                .post(
                    "/api/v1/me/webauthn/register/finish",
                    Some(&token),
                    json!({"id": s["id"], "credential": reg}),
                )
                .await
                .json();
            assert_eq!(done["credential_id"].as_str(), Some(dev.id().as_str()), "{done}");
            devices.push(dev);
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let tasks: Vec<_> = devices
            .into_iter()
            .map(|mut dev| {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut conn = c.connect().await;
                    let (mut ok, mut other, mut lat) = (0u64, 0u64, Vec::new());
                    let (mut lat_start, mut lat_sign, mut lat_finish) =
                        (Vec::new(), Vec::new(), Vec::new());
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let s = conn.post("/api/v1/login/passkey/start", None, json!({})).await;
                        lat_start.push(t.elapsed());
                        let t_sign = Instant::now();
                        let s: Value = s.json();
                        let a = dev.sign(&s["options"]);
                        lat_sign.push(t_sign.elapsed());
                        let t_finish = Instant::now();
                        let r = conn
                            .post(
                                "/api/v1/login/passkey/finish",
                                None,
                                json!({"id": s["id"], "credential": a}),
                            )
                            .await;
                        lat_finish.push(t_finish.elapsed());
                        lat.push(t.elapsed());
                        if r.status == 200 {
                            ok += 1
                        } else {
                            other += 1
                        }
                    }
                    (ok, other, [lat, lat_start, lat_sign, lat_finish])
                })
            })
            .collect();
        let (mut ok, mut other) = (0, 0);
        let mut lats: [Vec<Duration>; 4] = Default::default();
        for t in tasks {
            let (o, x, l) = t.await.unwrap();
            ok += o;
            other += x;
            for (all, mine) in lats.iter_mut().zip(l) {
                all.extend(mine);
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        for l in &mut lats {
            l.sort();
        }
        let [lat, lat_start, lat_sign, lat_finish] = &lats;
        let rate = ok as f64 / elapsed;
        println!(
            "HTTPS passkey sign-ins (start + sign + finish, TLS 1.3, keep-alive, {conns} connections): {rate:.0}/s, {other} refused, p50 {:.1} ms, p99 {:.1} ms",
            measure::pct(lat, 0.5, 0.0),
            measure::pct(lat, 0.99, 0.0)
        );
        println!(
            "  of which: start p50 {:.1} ms p99 {:.1} ms; client signing p50 {:.2} ms; finish p50 {:.1} ms p99 {:.1} ms",
            measure::pct(lat_start, 0.5, 0.0),
            measure::pct(lat_start, 0.99, 0.0),
            measure::pct(lat_sign, 0.5, 0.0),
            measure::pct(lat_finish, 0.5, 0.0),
            measure::pct(lat_finish, 0.99, 0.0)
        );
        println!(
            "ratio sign-ins/s ÷ durable commits/s = {:.3} (each sign-in is 2 commits); target ≥ 1000 sign-ins/s: {}",
            rate / commits,
            if rate >= 1000.0 { "met" } else { "NOT met" }
        );
        srv.stop().await;
    });
}
