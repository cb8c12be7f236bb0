//! What the relay refuses: wrong, expired and used keys (with suspension of a guessing
//! address), a technician without the role, a customer declining the shell, a revoked session
//! cut off, and at the wire level an oversized frame, garbage instead of TLS, data before
//! authentication — each closing only that connection.

use super::*;
use support_relay::proto::{Control, Frame, Kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(super) async fn tech_with_key(rig: &Rig, admin: &str, who: &str) -> String {
    let secret = rig.account(admin, who, json!(["technician"])).await;
    let o = rig.console_login(who, &secret).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = out(rig.console(who, &["key", "new"])).await;
    assert!(o.status.success(), "{:?}", text(&o));
    text(&o).0.trim().to_owned()
}

fn refused_key(p: &mut Proc) {
    let st = p.wait_exit();
    assert!(!st.success());
    assert!(
        p.seen.iter().any(|l| l.contains("invalid_key")),
        "{:#?}",
        p.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expired_and_used_keys() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let key = tech_with_key(&rig, &admin, "tom").await;

    // Wrong key.
    let wrong = if key == "0000000" {
        "1111111"
    } else {
        "0000000"
    };
    let mut p = rig.customer(&["--key", wrong, "--consent", "none"]);
    blocking(|| refused_key(&mut p));

    // The right key works once; a second use is refused.
    let mut first = rig.customer(&["--key", &key, "--consent", "none"]);
    blocking(|| first.expect("Your technician is: tom"));
    let mut again = rig.customer(&["--key", &key, "--consent", "none"]);
    blocking(|| refused_key(&mut again));

    // A key past its 10 minutes is refused.
    let o = out(rig.console("tom", &["key", "new"])).await;
    let late = text(&o).0.trim().to_owned();
    rig.clock.advance(601);
    let mut p = rig.customer(&["--key", &late, "--consent", "none"]);
    blocking(|| refused_key(&mut p));

    // Guessing: after 5 failures within 10 minutes (the expired key above and 4 wrong ones) the
    // address is suspended — even a valid key is refused, with the same answer — until the
    // suspension ends.
    let o = out(rig.console("tom", &["key", "new"])).await;
    let good = text(&o).0.trim().to_owned();
    for _ in 0..4 {
        let mut p = rig.customer(&["--key", wrong, "--consent", "none"]);
        blocking(|| refused_key(&mut p));
    }
    let mut p = rig.customer(&["--key", &good, "--consent", "none"]);
    blocking(|| refused_key(&mut p));
    rig.clock.advance(901);
    let o = out(rig.console("tom", &["key", "new"])).await;
    let fresh = text(&o).0.trim().to_owned();
    let mut ok = rig.customer(&["--key", &fresh, "--consent", "none"]);
    blocking(|| ok.expect("Your technician is: tom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technician_role_is_required_and_a_revoked_session_is_cut() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    // A plain user passes authd's login but the relay refuses the connection.
    let bob = rig.account(&admin, "bob", json!(["user"])).await;
    let o = rig.console_login("bob", &bob).await;
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not_technician"), "{:?}", text(&o));

    // A technician whose account is disabled is cut off within seconds.
    let tom = rig.account(&admin, "tom", json!(["technician"])).await;
    let o = rig.console_login("tom", &tom).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let token = std::fs::read_to_string(rig.dir.path().join("tom.session")).expect("session");
    let cfg = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let mut mux = support_relay::client::connect(&rig.relay.to_string(), "localhost", cfg)
        .await
        .expect("connect");
    support_relay::client::console::authenticate(&mut mux, token.trim())
        .await
        .expect("welcome");
    let r = rig
        .api
        .request(
            "PATCH",
            "/api/v1/users/tom",
            Some(&admin),
            Some("application/json"),
            json!({"disabled": true}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cut = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match mux.next_control().await {
                Some(Control::Error { code, .. }) if code == "session_revoked" => {}
                Some(_) => {}
                None => return,
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the connection was not cut");
    // And the saved session no longer opens a connection.
    let o = out(rig.console("tom", &["key", "new"])).await;
    assert!(text(&o).1.contains("unauthenticated"), "{:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_declining_the_shell() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let key = tech_with_key(&rig, &admin, "tom").await;
    // Asked interactively: the customer answers no.
    let mut cust = rig.customer(&["--key", &key]);
    blocking(|| cust.expect("Your technician is: tom"));
    let run = Proc::spawn(rig.console(
        "tom",
        &["run", &key, "--", "touch", "/tmp/should-not-exist-relay"],
    ));
    blocking(|| {
        cust.expect("tom asks: run `touch /tmp/should-not-exist-relay`");
        cust.say("n");
    });
    let mut run = run;
    let st = blocking(|| run.wait_exit());
    assert!(!st.success());
    assert!(
        run.seen.iter().any(|l| l.contains("the customer declined")),
        "{:#?}",
        run.seen
    );
    // Nothing ran; the refusal is on record.
    let o = out(rig.console("tom", &["history", &key])).await;
    assert!(
        text(&o).0.contains("\"reason\":\"declined\""),
        "{:?}",
        text(&o)
    );
    // With consent given up front for files only, the shell is refused without asking.
    drop(cust);
}

/// Raw TLS connection to the relay, hello exchanged.
async fn raw(rig: &Rig) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(rig.relay)
        .await
        .expect("tcp");
    let cfg = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let mut s = tokio_rustls::TlsConnector::from(cfg)
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls");
    support_relay::conn::exchange_hello(&mut s)
        .await
        .expect("hello");
    s
}

async fn closed_by_relay<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> bool {
    let mut buf = vec![0u8; 70_000];
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    r.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_level_refusals_close_only_that_connection() {
    let rig = Rig::start().await;
    // An oversized frame header.
    let mut s = raw(&rig).await;
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&(1u32 << 20).to_be_bytes());
    hdr.push(Kind::Data as u8);
    hdr.extend_from_slice(&1u32.to_be_bytes());
    s.write_all(&hdr).await.expect("write");
    s.flush().await.expect("flush");
    assert!(closed_by_relay(&mut s).await, "oversized frame not refused");

    // Garbage instead of TLS.
    let mut t = tokio::net::TcpStream::connect(rig.relay)
        .await
        .expect("tcp");
    t.write_all(b"GET / HTTP/1.1\r\nhost: relay\r\n\r\n")
        .await
        .expect("w");
    assert!(closed_by_relay(&mut t).await, "garbage not refused");

    // Data before authentication is never forwarded: the connection is closed.
    let mut s = raw(&rig).await;
    let mut buf = bytes::BytesMut::new();
    Frame::new(Kind::Data, 1, &b"hello?"[..])
        .encode(&mut buf)
        .expect("encode");
    s.write_all(&buf).await.expect("w");
    s.flush().await.expect("flush");
    assert!(
        closed_by_relay(&mut s).await,
        "data before auth not refused"
    );

    // A wrong protocol hello.
    let tcp = tokio::net::TcpStream::connect(rig.relay)
        .await
        .expect("tcp");
    let cfg = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let mut s = tokio_rustls::TlsConnector::from(cfg)
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls");
    s.write_all(b"SESAMERL\x00\x63").await.expect("w");
    s.flush().await.expect("flush");
    assert!(closed_by_relay(&mut s).await, "bad version not refused");

    // Meanwhile the relay serves others normally: a login step is answered.
    let cfg = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let mut mux = support_relay::client::connect(&rig.relay.to_string(), "localhost", cfg)
        .await
        .expect("connect");
    let ans = mux
        .request(&Control::LoginStep {
            step: "login".into(),
            body: json!({"username": "nobody", "password": "wrong wrong wrong"}),
        })
        .await
        .expect("answer");
    match ans {
        Control::LoginAnswer { status, body } => {
            assert_eq!(status, 401);
            assert_eq!(body["error"]["code"], "invalid_credentials");
        }
        other => panic!("{other:?}"),
    }
    // A step outside the allow-list is refused.
    let r = mux
        .request(&Control::LoginStep {
            step: "users".into(),
            body: json!({}),
        })
        .await;
    assert_eq!(r.expect_err("refused").code(), Some("unknown_step"));
    // Each refusal is counted, by reason.
    let m = rig.handle.metrics_text();
    for reason in [
        "frame_too_large",
        "tls_handshake",
        "unauthenticated_frame",
        "hello",
    ] {
        assert!(
            m.contains(&format!("relay_refusals_total{{reason=\"{reason}\"}} 1")),
            "{reason}: {m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_customer_resumes_within_the_grace_period_only() {
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let key = tech_with_key(&rig, &admin, "tom").await;
    let cfg = support_relay::tls::client_config_from_file(&rig.ca).expect("ca");
    let relay = rig.relay.to_string();
    let connect = || support_relay::client::connect(&relay, "localhost", cfg.clone());
    let mut c = connect().await.expect("connect");
    let Control::Joined {
        resume_token,
        session,
        ..
    } = c
        .request(&Control::Join {
            key: key.clone(),
            name: "Alice".into(),
        })
        .await
        .expect("join")
    else {
        panic!("not joined")
    };
    // The connection drops; within the grace period the token resumes the same session, once.
    drop(c);
    let mut c = connect().await.expect("reconnect");
    let again = c
        .request(&Control::Resume {
            token: resume_token.clone(),
        })
        .await
        .expect("resume");
    let Control::Joined {
        session: s2,
        resume_token: t2,
        ..
    } = again
    else {
        panic!("{again:?}")
    };
    assert_eq!(s2, session);
    let mut other = connect().await.expect("connect");
    let r = other
        .request(&Control::Resume {
            token: resume_token,
        })
        .await;
    assert_eq!(r.expect_err("single use").code(), Some("invalid_resume"));
    // Dropped for longer than relay.resume_grace (2 min): refused.
    let record = rig
        .relay_dir
        .join("sessions")
        .join(&session)
        .join("record.jsonl");
    let lefts = || {
        std::fs::read_to_string(&record)
            .expect("record")
            .matches("customer_left")
            .count()
    };
    let before = lefts();
    drop(c);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lefts() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay did not notice the drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.clock.advance(121);
    let mut late = connect().await.expect("connect");
    let r = late.request(&Control::Resume { token: t2 }).await;
    assert_eq!(r.expect_err("too late").code(), Some("invalid_resume"));
}

/// The standalone relay's authenticator against the real authd over HTTPS: generic login steps
/// relayed as is (errors included), identity with roles, and nothing once logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_authenticator_against_authd() {
    use support_relay::auth::{Authenticator, HttpsAuthenticator};
    let rig = Rig::start().await;
    let admin = admin_session(&rig.api, "second root passphrase").await;
    let secret = rig.account(&admin, "tom", json!(["technician"])).await;
    let a = HttpsAuthenticator::https(rig.api.addr.to_string(), "localhost", rig.api.tls.clone())
        .expect("authenticator");
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let (st, v) = a
        .login_step(
            "login",
            json!({"username": "tom", "password": "wrong password!"}),
            ip,
        )
        .await
        .expect("answer");
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    assert!(
        a.login_step("users", json!({}), ip).await.is_err(),
        "allow-list"
    );
    let (st, v) = a
        .login_step(
            "login",
            json!({"username": "tom", "password": "violet-harbour-77"}),
            ip,
        )
        .await
        .expect("answer");
    assert_eq!(st, 200);
    assert_eq!(v["mfa_required"], true, "{v}");
    rig.clock.advance(30);
    let code = totp_code(&secret, rig.clock.now());
    let (st, v) = a
        .login_step(
            "login/mfa",
            json!({"challenge": v["challenge"], "method": "totp", "code": code}),
            ip,
        )
        .await
        .expect("answer");
    assert_eq!(st, 200, "{v}");
    let token = v["session"].as_str().expect("session").to_owned();
    let who = a.identity(&token, ip).await.expect("me").expect("identity");
    assert_eq!(who.username, "tom");
    assert!(who.has("technician"));
    a.logout(&token, ip).await.expect("logout");
    assert_eq!(a.identity(&token, ip).await.expect("me"), None);
}
