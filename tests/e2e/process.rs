//! The real `sesame` binary as a process: first start prints the certificate fingerprint,
//! SIGTERM stops it cleanly, and a TOTP step accepted just before `kill -9` stays consumed after
//! the restart. These use the real clock (the process reads it); codes are computed for the
//! current step, nothing sleeps to wait for one.

use crate::support::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Proc {
    child: Child,
    addr: std::net::SocketAddr,
    fingerprint: String,
    lines: Vec<String>,
}

#[allow(clippy::disallowed_methods)] // the child process reads the real clock; so must we
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn spawn(dir: &std::path::Path) -> Proc {
    let pw = dir.join("admin-pw");
    std::fs::write(&pw, ADMIN_PW).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args([
            "--data-dir",
            dir.join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("SESAME_BOOTSTRAP_PASSWORD_FILE", &pw)
        // The cheapest argon2 the configuration accepts, to keep the test quick.
        .env("SESAME_PASSWORD_ARGON2_MEMORY_KIB", "8192")
        .env("SESAME_PASSWORD_ARGON2_ITERATIONS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sesame");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let (mut addr, mut fingerprint) = (None, String::new());
    while addr.is_none() || fingerprint.is_empty() {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "sesame exited early: {lines:?}"
        );
        if let Some(rest) = l.trim().strip_prefix("Sesame authd listening on https://") {
            addr = Some(rest.trim_end_matches('/').parse().unwrap());
        }
        if let Some((_, fp)) = l.trim().split_once("fingerprint") {
            fingerprint = fp.rsplit(": ").next().unwrap().to_owned();
        }
        lines.push(l);
    }
    std::thread::spawn(move || for _ in out.lines() {});
    Proc {
        child,
        addr: addr.unwrap(),
        fingerprint,
        lines,
    }
}

fn client(dir: &std::path::Path, p: &Proc) -> Client {
    let pem = std::fs::read_to_string(dir.join("data/tls/cert.pem")).unwrap();
    Client {
        addr: p.addr,
        tls: client_tls(&pem),
        source: None,
        // A real process reads the real clock.
        clock: std::sync::Arc::new(authd::clock::SystemClock),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumed_step_survives_kill_9_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path());
    assert!(
        p.lines.iter().any(|l| l.contains("(newly generated)")),
        "{:?}",
        p.lines
    );
    assert_eq!(p.fingerprint.len(), 95, "{}", p.fingerprint);
    let c = client(dir.path(), &p);
    let admin = admin_session(&c, "second root passphrase").await;
    let e = c
        .post("/api/v1/me/totp", Some(&admin), json!({"label": "app"}))
        .await
        .json();
    let secret = e["secret"].as_str().unwrap().to_owned();
    let t = now();
    // Confirm with the current step, then log in with the next one (accepted: within +1 step).
    let r = c
        .post(
            &format!("/api/v1/me/totp/{}/confirm", e["id"]),
            Some(&admin),
            json!({"code": totp_code(&secret, t)}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let code = totp_code(&secret, t + 30);
    let r = login_mfa(&c, "admin", "second root passphrase", "totp", &code).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // kill -9 right after the answer.
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    let mut p = spawn(dir.path());
    assert!(
        !p.lines.iter().any(|l| l.contains("newly generated")),
        "certificate reused"
    );
    let c = client(dir.path(), &p);
    let r = login_mfa(&c, "admin", "second root passphrase", "totp", &code).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "invalid_code"),
        "replay after kill -9 refused"
    );

    // SIGTERM: clean shutdown, exit status 0.
    let st = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_configuration_stops_start_up_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .env("SESAME_SESSION_LIFETIME", "forever")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SESAME_SESSION_LIFETIME"), "{err}");
    assert!(!dir.path().join("sesame.db").exists(), "nothing written");
}
