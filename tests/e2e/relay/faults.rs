//! Faults and recovery: the customer reconnects by itself through a real cut (a TCP proxy on
//! loopback between customer and relay that the test cuts and restores) and gives up once the
//! relay's grace period is over; a relay process killed mid-session leaves its records readable,
//! a torn tail ignored, listed by the admin command after a restart.

use super::*;
use support_relay::proto::Control;

/// A TCP proxy on loopback in front of `to`: `cut` drops every connection through it and stops
/// listening; `restore` listens again on the same port.
struct Proxy {
    addr: SocketAddr,
    to: SocketAddr,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(to: SocketAddr) -> Proxy {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let p = Proxy {
            addr: l.local_addr().expect("addr"),
            to,
            tasks: Arc::default(),
        };
        p.serve(l);
        p
    }

    fn serve(&self, l: tokio::net::TcpListener) {
        let (to, tasks) = (self.to, self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut a, _)) = l.accept().await else {
                    return;
                };
                let pipe = tokio::spawn(async move {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
                tasks.lock().expect("tasks").push(pipe);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// Drop every connection (both sides see the sockets close) and stop listening.
    fn cut(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let l = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy's port");
        self.serve(l);
    }
}

/// Wait (up to 20 s) until `session`'s record has `n` events named `event`.
async fn record_has(rig: &Rig, session: &str, event: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = rig
            .record(session)
            .iter()
            .filter(|e| e["event"] == event)
            .count();
        if got >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {n} {event} in the record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_reconnects_through_a_cut_and_gives_up_after_the_grace() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let key = super::refusals::tech_with_key(&rig, &admin, "tom").await;
    let proxy = Proxy::start(rig.relay).await;
    let mut c = Command::new(bin("support-customer"));
    c.arg("--relay")
        .arg(proxy.addr.to_string())
        .arg("--ca")
        .arg(&rig.ca)
        .args(["--key", &key, "--name", "Alice", "--consent", "shell"])
        .args(["--resume-grace", "60"]);
    let mut cust = Proc::spawn(c);
    let first = blocking(|| cust.expect("Connected to support session"));
    let session = first
        .split_whitespace()
        .nth(4)
        .expect("session id")
        .trim_end_matches('.')
        .to_owned();

    // A real cut: the customer notices, the relay records the departure; once the network is
    // back the customer resumes by itself and the technician's commands reach it again.
    proxy.cut();
    blocking(|| cust.expect("reconnecting"));
    record_has(&rig, &session, "customer_left", 1).await;
    proxy.restore().await;
    blocking(|| cust.expect("Reconnected to support session"));
    record_has(&rig, &session, "customer_resumed", 1).await;
    let o = out(rig.console("tom", &["run", &key, "--", "echo", "back-$((40+2))"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("back-42"), "{so}");

    // Cut again and stay down past the relay's grace (2 min on the relay's clock): the next
    // attempt is refused and the customer gives up with an error.
    proxy.cut();
    blocking(|| cust.expect("reconnecting"));
    record_has(&rig, &session, "customer_left", 2).await;
    rig.clock.advance(121);
    proxy.restore().await;
    let st = blocking(|| cust.wait_exit());
    assert!(!st.success(), "{:#?}", cust.seen);
    assert!(
        cust.seen
            .iter()
            .any(|l| l.contains("Could not reconnect") || l.contains("invalid_resume")),
        "{:#?}",
        cust.seen
    );
    assert_eq!(
        rig.record(&session)
            .iter()
            .filter(|e| e["event"] == "customer_resumed")
            .count(),
        1,
        "resumed after the grace"
    );
}

/// The standalone `support-relay` process on `data`, authenticating against the rig's authd.
fn standalone_relay(rig: &Rig, data: &Path, port: u16) -> Child {
    let mut c = Command::new(bin("support-relay"));
    c.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("SESAME_RELAY_DATA_DIR", data)
        .env("SESAME_RELAY_AUTHD_ADDRESS", rig.api.addr.to_string())
        .env("SESAME_RELAY_AUTHD_CA_FILE", &rig.ca)
        .env("SESAME_RELAY_AUTHD_SERVER_NAME", "localhost")
        .env(
            "SESAME_SERVER_DATA_DIR",
            rig.dir.path().join("standalone-server"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn support-relay");
    let so = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(so)
        .read_line(&mut line)
        .expect("first line");
    assert!(line.contains("listening on"), "{line}");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relay_leaves_readable_records_listed_after_restart() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let secret = rig.account(&admin, "tom", json!(["technician"])).await;
    // tom's authd session (the relay checks it with authd over HTTPS).
    let r = rig
        .api
        .post(
            "/api/v1/login",
            None,
            json!({"username": "tom", "password": "violet-harbour-77"}),
        )
        .await
        .json();
    rig.clock.advance(30);
    let code = totp_code(&secret, rig.clock.now());
    let r = rig
        .api
        .post(
            "/api/v1/login/mfa",
            None,
            json!({"challenge": r["challenge"], "method": "totp", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tom = r.json()["session"].as_str().expect("session").to_owned();

    let data = rig.dir.path().join("standalone");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut relay = blocking(|| standalone_relay(&rig, &data, port));
    let addr = format!("127.0.0.1:{port}");
    let cfg = support_relay::tls::client_config_from_file(&data.join("tls/cert.pem")).expect("ca");
    let connect = || support_relay::client::connect(&addr, "localhost", cfg.clone());

    // A live session with a chat line each way.
    let mut t = connect().await.expect("tech");
    support_relay::client::console::authenticate(&mut t, &tom)
        .await
        .expect("auth");
    let Control::KeyCreated { key, session, .. } =
        t.request(&Control::KeyNew {}).await.expect("key")
    else {
        panic!("no key")
    };
    let mut c = connect().await.expect("customer");
    c.request(&Control::Join {
        key: key.clone(),
        name: "Alice".into(),
    })
    .await
    .expect("join");
    support_relay::client::console::attach(&mut t, &key, 10)
        .await
        .expect("attach");
    t.send(&Control::Chat {
        from: String::new(),
        text: "before the crash".into(),
    })
    .expect("chat");
    c.send(&Control::Chat {
        from: String::new(),
        text: "me too".into(),
    })
    .expect("chat");
    let record = data.join("sessions").join(&session).join("record.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&record)
        .unwrap_or_default()
        .matches("\"chat\"")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "chat not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Kill the relay mid-session (SIGKILL: no clean shutdown). A kill cannot be aimed at the
    // middle of an append, so the torn tail such a crash leaves is written here by hand.
    relay.kill().expect("kill");
    relay.wait().expect("wait");
    let full = std::fs::read_to_string(&record).expect("record");
    let events = full.lines().count();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&record)
        .and_then(|mut f| f.write_all(br#"{"ts":1795435300,"event":"chat","fr"#))
        .expect("torn tail");
    drop((t, c));

    // Restarted on the same data: the admin command lists the session and reads its record,
    // every complete event, the torn tail ignored.
    let mut relay = blocking(|| standalone_relay(&rig, &data, port));
    std::fs::write(rig.dir.path().join("admin.session"), &admin).expect("w");
    let console = |args: &[&str]| {
        let mut c = Command::new(bin("support-console"));
        c.arg("--relay")
            .arg(&addr)
            .arg("--ca")
            .arg(data.join("tls/cert.pem"))
            .arg("--session-file")
            .arg(rig.dir.path().join("admin.session"))
            .args(args);
        c
    };
    let o = out(console(&["admin", "list"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    let list: Value = serde_json::from_str(&so).expect("json");
    let rec = list["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["session"] == session.as_str())
        .unwrap_or_else(|| panic!("session not listed: {so}"));
    assert_eq!(rec["owner"], "tom");
    assert_eq!(rec["customer"], "Alice");
    assert_eq!(rec["events"], events, "{so}");
    let o = out(console(&["admin", "show", &session])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    let shown: Value = serde_json::from_str(&so).expect("json");
    let ev = shown["events"].as_array().expect("events");
    assert_eq!(ev.len(), events);
    // Sent on two connections at once: either order.
    let mut chats: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "chat")
        .filter_map(|e| e["text"].as_str())
        .collect();
    chats.sort_unstable();
    assert_eq!(chats, ["before the crash", "me too"]);
    let _ = relay.kill();
    let _ = relay.wait();
}

/// `support-console login` for a technician who has no second factor yet: authd answers
/// `enrolment_required`, the console shows the otpauth URI and secret, reads the confirmation
/// code from standard input, and is logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_login_enrols_a_second_factor_when_required() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let r = rig
        .api
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "eve", "password": "violet-harbour-77", "roles": ["technician"], "must_change_password": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut c = rig.console("eve", &["login", "--user", "eve", "--password-stdin"]);
    c.stdin(Stdio::piped());
    let mut p = Proc::spawn(c);
    blocking(|| p.say("violet-harbour-77"));
    let uri = blocking(|| p.expect("otpauth://"));
    assert!(uri.contains("otpauth://totp/"), "{uri}");
    let line = blocking(|| p.expect("secret: "));
    let secret = line
        .rsplit("secret: ")
        .next()
        .expect("secret")
        .trim()
        .to_owned();
    let code = totp_code(&secret, rig.clock.now());
    blocking(|| p.say(&code));
    let st = blocking(|| p.wait_exit());
    assert!(st.success(), "{:#?}", p.seen);
    assert!(
        p.seen.iter().any(|l| l.contains("Logged in as eve")),
        "{:#?}",
        p.seen
    );
    // The saved session works for the next command.
    let o = out(rig.console("eve", &["whoami"])).await;
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("eve (technician)"), "{so}");
}
