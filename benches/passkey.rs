//! Benchmark (not a test): passwordless passkey sign-ins per second end to end over HTTPS
//! (`/api/v1/login/passkey/start`, the key signs, `/finish`; no argon2 on this path) against the
//! store's durable commits per second, both measured in this run on this machine. A sign-in
//! costs two durable commits (the ceremony, then its consumption with the session), so the
//! store's rate bounds it. Target ≥ 1 000 sign-ins/s; p50/p99 reported.
//!
//! Run: `cargo bench --bench passkey` (optionally `-- SECONDS CONNECTIONS`). The software
//! authenticator signs on the same 2 cores as the server (P-256 signatures, client side).

#![allow(clippy::unwrap_used)]

#[path = "../tests/e2e/support.rs"]
mod support;

use authd::clock::UnixTime;
use authd::model::{AuditEvent, Outcome};
use authd::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use webauthn_authenticator_rs::prelude::{Url, WebauthnAuthenticator};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

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
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    store.append_audit(event(0)).unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall time on purpose
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(b)
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
        let r = c
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"username": "bench", "password": "quiet harbour lights", "must_change_password": false}),
            )
            .await;
        assert_eq!(r.status, 201);
        let token = c
            .post(
                "/api/v1/login",
                None,
                json!({"username": "bench", "password": "quiet harbour lights"}),
            )
            .await
            .json()["session"]
            .as_str()
            .unwrap()
            .to_owned();
        // One software passkey per connection, each registered to the account.
        let mut devices = Vec::new();
        for _ in 0..conns {
            let mut dev = SoftPasskey::new(true);
            let s = c
                .post(
                    "/api/v1/me/webauthn/register/start",
                    Some(&token),
                    json!({"label": "bench"}),
                )
                .await
                .json();
            let ccr: CreationChallengeResponse =
                serde_json::from_value(s["options"].clone()).unwrap();
            let handle = ccr.public_key.user.id.to_vec();
            let reg = dev.do_registration(origin.clone(), ccr).unwrap();
            let done = c
                .post(
                    "/api/v1/me/webauthn/register/finish",
                    Some(&token),
                    json!({"id": s["id"], "credential": reg}),
                )
                .await
                .json();
            let id = done["credential_id"].as_str().unwrap().to_owned();
            devices.push((dev, id, handle));
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let tasks: Vec<_> = devices
            .into_iter()
            .map(|(mut dev, id, handle)| {
                let (c, origin) = (c.clone(), origin.clone());
                tokio::spawn(async move {
                    let mut conn = c.connect().await;
                    let (mut ok, mut other, mut lat) = (0u64, 0u64, Vec::new());
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let s = conn.post("/api/v1/login/passkey/start", None, json!({})).await;
                        let s: Value = s.json();
                        let mut o = s["options"].clone();
                        o["publicKey"]["allowCredentials"] =
                            json!([{ "type": "public-key", "id": id }]);
                        let rcr: RequestChallengeResponse = serde_json::from_value(o).unwrap();
                        let resp = dev.do_authentication(origin.clone(), rcr).unwrap();
                        let mut a = serde_json::to_value(&resp).unwrap();
                        a["response"]["userHandle"] = json!(b64(&handle));
                        let r = conn
                            .post(
                                "/api/v1/login/passkey/finish",
                                None,
                                json!({"id": s["id"], "credential": a}),
                            )
                            .await;
                        lat.push(t.elapsed());
                        if r.status == 200 {
                            ok += 1
                        } else {
                            other += 1
                        }
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
        println!(
            "HTTPS passkey sign-ins (start + sign + finish, TLS 1.3, keep-alive, {conns} connections): {rate:.0}/s, {other} refused, p50 {:.1} ms, p99 {:.1} ms",
            pct(&lat, 0.5),
            pct(&lat, 0.99)
        );
        println!(
            "ratio sign-ins/s ÷ durable commits/s = {:.3} (each sign-in is 2 commits); target ≥ 1000 sign-ins/s: {}",
            rate / commits,
            if rate >= 1000.0 { "met" } else { "NOT met" }
        );
        srv.stop().await;
    });
}
