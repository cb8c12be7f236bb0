//! The support relay end to end, over real TLS on loopback: a real authd (in-process adapter,
//! the same one `sesame` uses), the relay, the real `support-console` and `support-customer`
//! binaries, a real SMTP listener on loopback for e-mail invitations, a real HTTP server behind
//! a port forward. Time-based rules (key expiry) move authd's `ManualClock`, shared with the relay.

use crate::support::*;
use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[path = "../../src/relay.rs"]
#[allow(dead_code)]
mod adapter;

mod faults;
mod mail;
mod refusals;
mod smartcard;

/// The support binaries, next to the `sesame` binary cargo built for these tests. They belong to
/// the `support-relay` package; `cargo test --workspace` builds them (the package has an
/// integration test). If they are missing (e.g. `cargo test -p sesame`), build them once.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let sesame = PathBuf::from(env!("CARGO_BIN_EXE_sesame"));
    let p = sesame.with_file_name(name);
    if !p.exists() {
        BUILT.get_or_init(|| {
            let target = sesame
                .parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_owned();
            let st = Command::new(env!("CARGO"))
                .args(["build", "-p", "support-relay", "--bins"])
                .env("CARGO_TARGET_DIR", target)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build for the support binaries");
            assert!(st.success(), "cargo build -p support-relay --bins failed");
        });
    }
    assert!(p.exists(), "{} not found", p.display());
    p
}

/// authd + relay + SMTP listener.
pub struct Rig {
    pub api: Client,
    pub clock: authd::clock::ManualClock,
    pub relay: SocketAddr,
    pub ca: PathBuf,
    pub dir: tempfile::TempDir,
    pub relay_dir: PathBuf,
    pub mail: std::sync::mpsc::Receiver<String>,
    pub handle: support_relay::server::Handle,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

/// A minimal SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on loopback; each
/// message's DATA goes to the returned channel.
async fn smtp_listener() -> (u16, std::sync::mpsc::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("smtp bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 localhost ESMTP sesame-test\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let answer: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-localhost\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut msg = String::new();
                        loop {
                            let mut l2 = String::new();
                            if r.read_line(&mut l2).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if l2 == ".\r\n" {
                                break;
                            }
                            msg.push_str(&l2);
                        }
                        let _ = tx.send(msg);
                        b"250 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(answer).await;
                }
            });
        }
    });
    (port, rx)
}

impl Rig {
    pub async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let (smtp_port, mail) = smtp_listener().await;
        let mut cfg = sesame_config::Config::danger_test_defaults();
        cfg.server.data_dir = dir.path().join("data");
        let pw = dir.path().join("admin-pw");
        std::fs::write(&pw, format!("{ADMIN_PW}\n")).expect("pw file");
        cfg.bootstrap.password_file = Some(pw);
        cfg.relay.recheck_every = Duration::from_secs(1);
        cfg.relay.smtp_host = "127.0.0.1".into();
        cfg.relay.smtp_port = u32::from(smtp_port);
        cfg.relay.smtp_starttls = "off".into();
        let relay_dir = dir.path().join("data/relay");
        let clock = authd::clock::ManualClock::new(T0);
        let clock_dyn: Arc<dyn authd::clock::Clock> = Arc::new(clock.clone());
        let prepared = tokio::task::spawn_blocking(move || authd::server::start(cfg, clock_dyn))
            .await
            .expect("join")
            .expect("start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rl = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let relay = rl.local_addr().expect("relay addr");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &prepared.tls.cert_pem).expect("ca");
        let tls = client_tls(&prepared.tls.cert_pem);
        let app = prepared.app.clone();
        let server_tls = prepared.tls.config.clone();
        let (s1, r1) = tokio::sync::oneshot::channel::<()>();
        let (s2, r2) = tokio::sync::oneshot::channel::<()>();
        let deps = adapter::deps(&app, server_tls.clone()).expect("deps");
        let handle = support_relay::server::build(deps).expect("relay");
        let kept = handle.clone();
        tokio::spawn(async move {
            let _ = authd::server::serve(listener, app, server_tls, async {
                let _ = r1.await;
            })
            .await;
        });
        tokio::spawn(async move {
            let _ = support_relay::server::serve(rl, handle, async {
                let _ = r2.await;
            })
            .await;
        });
        Rig {
            api: Client {
                addr,
                tls,
                source: None,
                clock: Arc::new(clock.clone()),
            },
            clock,
            relay,
            ca,
            dir,
            relay_dir,
            mail,
            handle: kept,
            stop: vec![s1, s2],
        }
    }

    /// A `support-console` command for the technician whose session lives in `who`'s file.
    pub fn console(&self, who: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin("support-console"));
        c.arg("--relay")
            .arg(self.relay.to_string())
            .arg("--ca")
            .arg(&self.ca)
            .arg("--session-file")
            .arg(self.dir.path().join(format!("{who}.session")))
            .args(args)
            .env_remove("SUPPORT_RELAY")
            .env_remove("SUPPORT_RELAY_CA")
            .env_remove("SUPPORT_SESSION_FILE")
            .stdin(Stdio::null());
        c
    }

    /// A `support-customer` process.
    pub fn customer(&self, args: &[&str]) -> Proc {
        let mut c = Command::new(bin("support-customer"));
        c.arg("--relay")
            .arg(self.relay.to_string())
            .arg("--ca")
            .arg(&self.ca)
            .args(args);
        Proc::spawn(c)
    }

    /// Admin creates a technician-role (or other) account with a confirmed TOTP device;
    /// returns its TOTP secret.
    pub async fn account(&self, admin: &str, name: &str, roles: Value) -> String {
        let c = &self.api;
        let r = c.post("/api/v1/users", Some(admin), json!({"username": name, "password": "violet-harbour-77", "roles": roles, "must_change_password": false})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = c
            .post(
                "/api/v1/login",
                None,
                json!({"username": name, "password": "violet-harbour-77"}),
            )
            .await;
        let step = r.json();
        // Technicians must use a second factor: their first login enrols it.
        if step["enrolment_required"] == true {
            return enrol_at_login(c, &step).await.1;
        }
        let s = step["session"].as_str().expect("session").to_owned();
        let e = c
            .post("/api/v1/me/totp", Some(&s), json!({"label": "phone"}))
            .await
            .json();
        let secret = e["secret"].as_str().expect("secret").to_owned();
        let id = e["id"].as_i64().expect("id");
        let now = self.clock.now();
        let r = c
            .post(
                &format!("/api/v1/me/totp/{id}/confirm"),
                Some(&s),
                json!({"code": totp_code(&secret, now)}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        secret
    }

    /// `support-console login` with password on stdin and the TOTP code of the next step.
    pub async fn console_login(&self, who: &str, secret: &str) -> Output {
        self.clock.advance(30);
        let code = totp_code(secret, self.clock.now());
        let mut c = self.console(
            who,
            &["login", "--user", who, "--password-stdin", "--code", &code],
        );
        c.stdin(Stdio::piped());
        run_with_stdin(c, "violet-harbour-77\n").await
    }

    /// Events of a session's record on disk.
    pub fn record(&self, session: &str) -> Vec<Value> {
        let s = std::fs::read_to_string(
            self.relay_dir
                .join("sessions")
                .join(session)
                .join("record.jsonl"),
        )
        .expect("record");
        s.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
}

trait ClockExt {
    fn now(&self) -> i64;
}
impl ClockExt for authd::clock::ManualClock {
    fn now(&self) -> i64 {
        authd::clock::Clock::now(self)
    }
}

/// Run a command to completion (off the async workers).
pub async fn out(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.stderr(Stdio::piped()).stdout(Stdio::piped()).output())
        .await
        .expect("join")
        .expect("run")
}

async fn run_with_stdin(mut c: Command, input: &str) -> Output {
    let input = input.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut ch = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        ch.stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        ch.wait_with_output().expect("wait")
    })
    .await
    .expect("join")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A long-running process whose stdout lines are collected.
pub struct Proc {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    fn spawn(mut c: Command) -> Proc {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (tx, lines) = std::sync::mpsc::channel();
        let so = child.stdout.take().expect("stdout");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(so).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let se = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(se).lines() {
                let Ok(l) = l else { break };
                if tx2.send(format!("stderr: {l}")).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait (up to 20 s) for a line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw {:#?}", self.seen),
            }
        }
    }

    pub fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
    }

    /// Wait (up to 20 s) for the process to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit; saw {:#?}",
                self.seen
            );
            let _ = self
                .lines
                .recv_timeout(Duration::from_millis(50))
                .map(|l| self.seen.push(l));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(data))
}

/// A one-shot HTTP server on loopback answering every request with a fixed body.
async fn http_server(body: &'static str) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_session_end_to_end() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let tom = rig.account(&admin, "tom", json!(["technician"])).await;
    let ann = rig.account(&admin, "ann", json!(["technician"])).await;

    // Technician logs in through the relay with password + TOTP.
    let o = rig.console_login("tom", &tom).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("Logged in as tom (technician)"), "{so}");

    // A session key: 7 digits.
    let o = out(rig.console("tom", &["key", "new"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{se}");
    let key = so.trim().to_owned();
    assert!(
        key.len() == 7 && key.bytes().all(|b| b.is_ascii_digit()),
        "{key}"
    );
    let session = se
        .split_whitespace()
        .nth(1)
        .expect("session id")
        .trim_end_matches(';')
        .to_owned();

    // The customer joins and sees who the technician is first.
    let cdir = rig.dir.path().join("customer");
    std::fs::create_dir_all(&cdir).expect("dir");
    let mut cust = rig.customer(&[
        "--key",
        &key,
        "--name",
        "Alice",
        "--consent",
        "shell,files,forward",
        "--dir",
        cdir.to_str().expect("utf8"),
    ]);
    blocking(|| {
        let first = cust.expect("Connected to support session");
        assert!(first.contains("Your technician is: tom"), "{first}");
    });

    // Chat both ways.
    let o = out(rig.console("tom", &["chat", &key, "hello", "from", "tom"])).await;
    assert!(o.status.success(), "{:?}", text(&o));
    blocking(|| cust.expect("[tom] hello from tom"));
    blocking(|| cust.say("hi from alice"));

    // A command runs on the customer's side (consent given up front) and its output and status
    // come back.
    let o = out(rig.console(
        "tom",
        &["run", &key, "--", "echo", "relay-$((6*7))", "&&", "tty"],
    ))
    .await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("relay-42"), "{so}");
    assert!(so.contains("/dev/pts/"), "runs in a PTY: {so}");
    let o = out(rig.console("tom", &["run", &key, "--", "exit", "3"])).await;
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));

    // A file round-trips with the same hash.
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let local = rig.dir.path().join("tool.bin");
    std::fs::write(&local, &data).expect("write");
    let o = out(rig.console("tom", &["push", &key, local.to_str().expect("utf8")])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains(&sha256_hex(&data)), "{so}");
    assert_eq!(std::fs::read(cdir.join("tool.bin")).expect("pushed"), data);
    std::fs::write(cdir.join("report.log"), b"customer log line\n".repeat(5000)).expect("w");
    let back = rig.dir.path().join("report-copy.log");
    let o = out(rig.console(
        "tom",
        &["pull", &key, "report.log", back.to_str().expect("utf8")],
    ))
    .await;
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        std::fs::read(&back).expect("pulled"),
        b"customer log line\n".repeat(5000)
    );

    // A port forward carries an HTTP request.
    let web = http_server("hello through the relay").await;
    let mut fwd = Proc::spawn(rig.console("tom", &["forward", &key, "0", &web.to_string()]));
    let line = blocking(|| fwd.expect("forwarding 127.0.0.1:"));
    let port: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    let resp = blocking(|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect forward");
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .expect("req");
        let mut r = String::new();
        s.read_to_string(&mut r).expect("resp");
        r
    });
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.ends_with("hello through the relay"), "{resp}");
    drop(fwd);

    // A second technician in extended availability is invited by e-mail and joins.
    let o = rig.console_login("ann", &ann).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = out(rig.console(
        "ann",
        &["availability", "on", "--email", "ann@example.test"],
    ))
    .await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = out(rig.console("tom", &["invite", &key, "ann"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("via email"), "{so}");
    let mail = blocking(|| {
        rig.mail
            .recv_timeout(Duration::from_secs(20))
            .expect("mail")
    });
    assert!(mail.contains("ann@example.test"), "{mail}");
    let code = mail
        .lines()
        .find_map(|l| l.strip_prefix("Join code: "))
        .expect("code in the mail")
        .trim()
        .to_owned();
    // A non-invitee cannot use it; the invitee can, once.
    let o = out(rig.console("ann", &["accept", &code])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert_eq!(so.trim(), session);
    let o = out(rig.console("ann", &["accept", &code])).await;
    assert!(!o.status.success());
    assert!(text(&o).1.contains("invalid_invitation"), "{:?}", text(&o));
    // Ann sees the history and works in the session.
    let o = out(rig.console("ann", &["history", &key])).await;
    let (so, _) = text(&o);
    assert!(
        so.contains("hello from tom") && so.contains("hi from alice"),
        "{so}"
    );
    let o = out(rig.console("ann", &["run", &key, "--", "echo", "ann-was-here"])).await;
    assert!(text(&o).0.contains("ann-was-here"), "{:?}", text(&o));
    // Only the owner ends the session.
    let o = out(rig.console("ann", &["end", &key])).await;
    assert!(text(&o).1.contains("not_owner"), "{:?}", text(&o));

    // The owner ends it; the customer is told and leaves.
    let o = out(rig.console("tom", &["end", &key])).await;
    assert!(o.status.success(), "{:?}", text(&o));
    blocking(|| {
        cust.expect("The session has ended (owner)");
        assert!(cust.wait_exit().success());
    });

    // The record holds all of it.
    let ev = rig.record(&session);
    let has = |pred: &dyn Fn(&Value) -> bool| ev.iter().any(pred);
    assert!(has(&|e| e["event"] == "created"
        && e["owner"] == "tom"
        && e["from"] == "127.0.0.1"));
    assert!(has(
        &|e| e["event"] == "customer_joined" && e["name"] == "Alice"
    ));
    assert!(has(&|e| e["event"] == "chat"
        && e["from"] == "tom"
        && e["text"] == "hello from tom"));
    assert!(has(&|e| e["event"] == "chat"
        && e["from"] == "customer:Alice"
        && e["text"] == "hi from alice"));
    assert!(has(&|e| e["event"] == "channel_opened"
        && e["kind"] == "shell"
        && e["by"] == "tom"));
    assert!(has(&|e| e["event"] == "shell_exit" && e["status"] == 3));
    assert!(has(&|e| e["event"] == "file"
        && e["direction"] == "push"
        && e["name"] == "tool.bin"
        && e["sha256"] == sha256_hex(&data)
        && e["size"] == 700_000));
    assert!(has(&|e| e["event"] == "file"
        && e["direction"] == "pull"
        && e["name"] == "report.log"));
    assert!(has(&|e| e["event"] == "channel_opened"
        && e["kind"] == "forward"
        && e["name"] == web.to_string()));
    assert!(has(&|e| e["event"] == "invited"
        && e["user"] == "ann"
        && e["via"] == "email"));
    assert!(has(&|e| e["event"] == "member_joined" && e["user"] == "ann"));
    assert!(has(&|e| e["event"] == "ended"
        && e["reason"] == "owner"
        && e["by"] == "tom"));
    // The shell was recorded in asciicast v2.
    let cast_name = ev
        .iter()
        .find_map(|e| e["recording"].as_str())
        .expect("a recording")
        .to_owned();
    let cast = std::fs::read_to_string(
        rig.relay_dir
            .join("sessions")
            .join(&session)
            .join(cast_name),
    )
    .expect("cast");
    let header: Value = serde_json::from_str(cast.lines().next().expect("header")).expect("json");
    assert_eq!(header["version"], 2);
    assert!(cast.contains("relay-42"), "{cast}");

    // Admins list sessions and read the record through the console.
    std::fs::write(rig.dir.path().join("admin.session"), &admin).expect("w");
    let o = out(rig.console("admin", &["admin", "list"])).await;
    assert!(text(&o).0.contains(&session), "{:?}", text(&o));
    let o = out(rig.console("admin", &["admin", "show", &session])).await;
    assert!(text(&o).0.contains("member_joined"), "{:?}", text(&o));
    let o = out(rig.console("tom", &["admin", "list"])).await;
    assert!(text(&o).1.contains("forbidden"), "{:?}", text(&o));

    // Prometheus metrics: sessions, bytes, pairing latency.
    let m = rig.handle.metrics_text();
    assert!(m.contains("relay_sessions_created_total 1\n"), "{m}");
    assert!(m.contains("relay_pairing_latency_seconds_count 1\n"), "{m}");
    assert!(m.contains("relay_sessions 0\n"), "ended: {m}");
    let bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("relay_forwarded_bytes_total "))
        .and_then(|v| v.parse().ok())
        .expect("bytes metric");
    assert!(bytes >= 700_000 + 90_000, "push + pull at least: {bytes}");
}
