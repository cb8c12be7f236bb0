//! Signed updates end to end: a real HTTPS server on loopback (rustls, self-signed certificate
//! the console trusts because its package carries it) serves a real TUF repository signed by
//! `installer::repo`, checks bearer tokens, and real `installer update` processes update a real
//! installation. This server stands in for the appliance (the real one is exercised in the
//! root package's `tests/e2e/console_update.rs`): a "login" here stores the token the server
//! accepts, as the console does after its login, and deploy-token registration issues one.

use crate::support::*;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use installer::repo::{Expiries, Repository};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A small HTTPS server for a repository directory, checking `Authorization: Bearer`.
pub(crate) struct UpdateServer {
    pub(crate) port: u16,
    pub(crate) ca_pem: String,
    tokens: Arc<Mutex<HashSet<String>>>,
    dir: Arc<Mutex<PathBuf>>,
    requests: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl UpdateServer {
    pub(crate) fn start() -> UpdateServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let ck =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let ca_pem = ck.cert.pem();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tokens = Arc::new(Mutex::new(HashSet::new()));
        let dir = Arc::new(Mutex::new(PathBuf::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (t, d, r) = (tokens.clone(), dir.clone(), requests.clone());
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, t, d, r) = (acceptor.clone(), t.clone(), d.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            r.fetch_add(1, Ordering::SeqCst);
                            let resp = answer(&req, &t, &d);
                            async move { Ok::<_, std::convert::Infallible>(resp) }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        UpdateServer {
            port,
            ca_pem,
            tokens,
            dir,
            requests,
            _runtime: rt,
        }
    }

    pub(crate) fn serve(&self, dir: &Path) {
        *self.dir.lock().expect("lock") = dir.to_path_buf();
    }

    pub(crate) fn allow(&self, token: &str) {
        self.tokens.lock().expect("lock").insert(token.into());
    }

    pub(crate) fn revoke(&self, token: &str) {
        self.tokens.lock().expect("lock").remove(token);
    }

    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn url(&self) -> String {
        format!("https://localhost:{}/updates/", self.port)
    }
}

fn answer(
    req: &hyper::Request<hyper::body::Incoming>,
    tokens: &Mutex<HashSet<String>>,
    dir: &Mutex<PathBuf>,
) -> hyper::Response<Full<Bytes>> {
    let status = |s: u16| {
        hyper::Response::builder()
            .status(s)
            .body(Full::new(Bytes::new()))
            .expect("response")
    };
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(String::from);
    let Some(token) = token.filter(|t| tokens.lock().expect("lock").contains(t)) else {
        return status(401);
    };
    // Registration with a deploy token (the console presents it as bearer and in the body):
    // answers with a new update token, as the appliance does.
    if req.method() == hyper::Method::POST && req.uri().path() == "/api/v1/console-installs/deploy"
    {
        let issued = format!("issued-for-{token}");
        tokens.lock().expect("lock").insert(issued.clone());
        return hyper::Response::builder()
            .status(201)
            .body(Full::new(Bytes::from(format!(
                "{{\"install_id\":\"x\",\"update_token\":\"{issued}\"}}"
            ))))
            .expect("response");
    }
    let Some(rel) = req.uri().path().strip_prefix("/updates/") else {
        return status(404);
    };
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return status(404);
    }
    match std::fs::read(dir.lock().expect("lock").join(rel)) {
        Ok(b) => hyper::Response::new(Full::new(Bytes::from(b))),
        Err(_) => status(404),
    }
}

/// A world whose packages point at `server`, with v1 installed (SHOULDAUTOUPDATE=1 + `props`).
fn installed(server: &UpdateServer, props: &[&str]) -> World {
    let w = World::with_update_url(&server.url(), Some(&server.ca_pem));
    server.serve(&w.repo.served_dir());
    let v1 = w.package("1.0.0");
    let mut args = vec![
        "/i",
        v1.to_str().expect("utf8"),
        "/qn",
        "SHOULDAUTOUPDATE=1",
    ];
    args.extend_from_slice(props);
    assert_ok(&w.run(&args));
    // The package carried the appliance's self-signed certificate.
    assert_eq!(
        std::fs::read_to_string(w.state_dir().join("relay-ca.pem")).expect("ca"),
        server.ca_pem
    );
    w
}

/// What the console will do at its first login: store the token the server issued.
fn log_in(w: &World, server: &UpdateServer, token: &str) {
    server.allow(token);
    let t = installer::properties::Token::parse(token).expect("token");
    installer::update::store_update_token(&w.state_dir(), &t).expect("store");
}

fn publish(w: &World, repo: &Repository, version: &str) {
    repo.publish(&w.package(version), now(), Expiries::default())
        .expect("publish");
}

fn running(w: &World) -> String {
    console_version(&w.default_install_dir().join("current/bin/support-console"))
}

#[track_caller]
fn refused(w: &World, expected_code: &str) -> String {
    let o = w.run(&["update"]);
    assert_eq!(code(&o), 1, "stdout {} stderr {}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with(&format!("{expected_code}: ")), "{err}");
    err
}

const TOKEN: &str = "update-token-0123456789abcdef";

#[test]
fn update_to_the_published_version_then_each_attack_is_refused_with_its_own_error() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    log_in(&w, &server, TOKEN);
    publish(&w, &w.repo, "2.0.0");
    let o = w.run(&["update", "--check"]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("update available: 1.0.0 -> 2.0.0"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        running(&w),
        "support-console 1.0.0",
        "--check changes nothing"
    );
    let o = w.run(&["update"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("updated sesame-console from 1.0.0 to 2.0.0"));
    assert_eq!(running(&w), "support-console 2.0.0");
    assert!(
        w.default_install_dir().join("versions/1.0.0").is_dir(),
        "previous version kept"
    );
    assert_eq!(
        std::fs::read_to_string(w.state_dir().join("highest-version"))
            .expect("highest")
            .trim(),
        "2.0.0"
    );
    assert!(stdout(&w.run(&["update"])).contains("2.0.0 is up to date"));
    let old_timestamp =
        std::fs::read(w.repo.served_dir().join("timestamp.json")).expect("timestamp");

    // 1. Altered package bytes.
    publish(&w, &w.repo, "3.0.0");
    let targets = w.repo.served_dir().join("targets");
    let v3 = std::fs::read_dir(&targets)
        .expect("targets")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains("3.0.0"))
        .expect("v3 target");
    let mut bytes = std::fs::read(&v3).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&v3, &bytes).expect("alter");
    refused(&w, "update_package_altered");
    assert_eq!(running(&w), "support-console 2.0.0");
    assert!(
        !w.default_install_dir().join("versions/3.0.0").exists(),
        "nothing staged from an altered package"
    );

    // 2. Metadata signed by a key the console does not trust.
    let rogue =
        Repository::create(&w.work.join("rogue"), now(), Expiries::default()).expect("rogue repo");
    publish(&w, &rogue, "4.0.0");
    server.serve(&rogue.served_dir());
    refused(&w, "update_signature_invalid");
    assert_eq!(running(&w), "support-console 2.0.0");
    server.serve(&w.repo.served_dir());

    // 3. Rollback: an older package, freshly signed.
    publish(&w, &w.repo, "1.0.0");
    let err = refused(&w, "update_rollback_refused");
    assert!(err.contains("1.0.0") && err.contains("2.0.0"), "{err}");
    assert_eq!(running(&w), "support-console 2.0.0");

    // 4. Rollback: replayed older metadata (the timestamp of the 2.0.0 publication).
    std::fs::write(w.repo.served_dir().join("timestamp.json"), &old_timestamp).expect("replay");
    refused(&w, "update_rollback_refused");
    assert_eq!(running(&w), "support-console 2.0.0");

    // 5. Expired metadata (signed 30 days ago with a 7-day timestamp).
    let month_ago = now() - Duration::from_secs(30 * 86_400);
    w.repo
        .publish(&w.package("5.0.0"), month_ago, Expiries::default())
        .expect("publish");
    refused(&w, "update_metadata_expired");
    assert_eq!(running(&w), "support-console 2.0.0");

    // And a proper publication goes through again.
    publish(&w, &w.repo, "6.0.0");
    assert_ok(&w.run(&["update"]));
    assert_eq!(running(&w), "support-console 6.0.0");
}

#[test]
fn a_console_that_never_logged_in_gets_update_token_missing_and_what_to_do() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    publish(&w, &w.repo, "2.0.0");
    for args in [&["update", "--check"][..], &["update"][..]] {
        let o = w.run(args);
        assert_eq!(code(&o), 1);
        let err = stderr(&o);
        assert!(err.starts_with("update_token_missing: "), "{err}");
        assert!(err.contains("Log in once"), "{err}");
        assert!(err.contains("https://relay.test:8443/download"), "{err}");
    }
    assert_eq!(server.requests(), 0, "no request without a token");
    let layout = installer::plan::Layout::resolve(
        &installer::properties::Properties::default(),
        &env_of(&w),
    )
    .expect("layout");
    let e = installer::update::check(&layout).expect_err("no token");
    assert_eq!(e.code(), "update_token_missing");
    assert_eq!(running(&w), "support-console 1.0.0");
}

fn env_of(w: &World) -> installer::plan::Environment {
    installer::plan::Environment {
        home: Some(w.home.clone()),
        euid: 1000,
        ..Default::default()
    }
}

#[test]
fn a_deploy_token_lets_a_console_update_before_any_login() {
    let server = UpdateServer::start();
    let deploy = "deploy-token-abcdef0123456789";
    server.allow(deploy);
    let w = installed(&server, &[&format!("DEPLOYTOKEN={deploy}")]);
    publish(&w, &w.repo, "2.0.0");
    assert_ok(&w.run(&["update"]));
    assert_eq!(running(&w), "support-console 2.0.0");
    // It registered with the deploy token and now holds its own update token.
    assert_eq!(
        std::fs::read_to_string(w.state_dir().join("update-token")).expect("update token"),
        format!("issued-for-{deploy}")
    );
}

#[test]
fn per_machine_updates_through_the_system_service_with_a_deploy_token() {
    let server = UpdateServer::start();
    let deploy = "deploy-token-abcdef0123456789";
    server.allow(deploy);
    let w = World::with_update_url(&server.url(), Some(&server.ca_pem));
    server.serve(&w.repo.served_dir());
    let v1 = w.package("1.0.0");
    assert_ok(&w.run_root(&[
        "/i",
        v1.to_str().expect("utf8"),
        "/qn",
        "ALLUSERS=1",
        "SHOULDAUTOUPDATE=1",
        &format!("DEPLOYTOKEN={deploy}"),
    ]));
    publish(&w, &w.repo, "2.0.0");
    let o = w.run_root(&["update", "ALLUSERS=1"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).starts_with("update_per_machine: "),
        "{}",
        stderr(&o)
    );
    assert_ok(&w.run_root(&["update", "--system", "ALLUSERS=1"]));
    assert_eq!(
        console_version(&w.root.join("usr/local/bin/support-console")),
        "support-console 2.0.0"
    );
}

#[test]
fn a_revoked_token_stops_working() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    log_in(&w, &server, TOKEN);
    publish(&w, &w.repo, "2.0.0");
    assert_ok(&w.run(&["update"]));
    server.revoke(TOKEN);
    publish(&w, &w.repo, "3.0.0");
    let err = refused(&w, "update_token_rejected");
    assert!(err.contains("/download"), "{err}");
    assert_eq!(running(&w), "support-console 2.0.0");
}

#[test]
fn a_version_that_does_not_start_is_not_switched_to() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    log_in(&w, &server, TOKEN);
    w.repo
        .publish(
            &w.package_with("2.0.0", "#!/bin/sh\nexit 3\n"),
            now(),
            Expiries::default(),
        )
        .expect("publish");
    refused(&w, "update_smoke_test_failed");
    assert_eq!(running(&w), "support-console 1.0.0");
    assert!(!w.default_install_dir().join("versions/2.0.0").exists());
}

#[test]
fn signing_keys_can_be_rotated_and_consoles_follow() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    log_in(&w, &server, TOKEN);
    publish(&w, &w.repo, "2.0.0");
    assert_ok(&w.run(&["update"]));
    w.repo
        .rotate_keys(now(), Expiries::default())
        .expect("rotate");
    publish(&w, &w.repo, "3.0.0");
    assert_ok(&w.run(&["update"]));
    assert_eq!(running(&w), "support-console 3.0.0");
    assert!(w.state_dir().join("tuf").read_dir().is_ok());
}

/// A small deterministic generator for the kill points (no external randomness needed).
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "killing the updater at random wall-clock moments is the point of this test"
)]
fn kill_9_during_an_update_always_leaves_a_console_that_starts() {
    let server = UpdateServer::start();
    let w = installed(&server, &[]);
    log_in(&w, &server, TOKEN);
    publish(&w, &w.repo, "2.0.0");
    let started = std::time::Instant::now();
    assert_ok(&w.run(&["update"]));
    let full = started.elapsed().as_micros().max(1000) as u64;
    let mut seed = 0x5e5a_3e00_u64;
    let mut outcomes = [0usize; 2];
    for round in 3..=22u32 {
        let old = format!("support-console {}.0.0", round - 1);
        let new = format!("support-console {round}.0.0");
        publish(&w, &w.repo, &format!("{round}.0.0"));
        let mut child = w
            .installer(&["update"], &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let delay = next(&mut seed) % (full + full / 4);
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let v = running(&w);
        assert!(v == old || v == new, "round {round}: the console runs {v}");
        outcomes[usize::from(v == new)] += 1;
        // The next run finishes the job from whatever was left.
        assert_ok(&w.run(&["update"]));
        assert_eq!(running(&w), new, "round {round}");
    }
    eprintln!(
        "kill -9 rounds: {} left the old version, {} the new one",
        outcomes[0], outcomes[1]
    );
}
