//! The guard over real sockets: suspended addresses get one uniform 429, IP rules answer like a
//! wrong password on login routes, X-Forwarded-For is believed only from trusted proxies,
//! floods are cut, admins see and lift suspensions (API and CLI).

use crate::support::*;
use serde_json::json;

const WRONG: &str = "not the password 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_suspend_with_a_uniform_answer_until_lifted() {
    let srv = Server::start_with(|c| c.guard.failed_logins = 3).await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let bad = c.from("127.0.0.5");
    for _ in 0..3 {
        let r = bad
            .post(
                "/api/v1/login",
                None,
                json!({"username": "admin", "password": WRONG}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    // Whatever it sends now, the same 429.
    let answers = [
        bad.get("/healthz", None).await,
        bad.post(
            "/api/v1/login",
            None,
            json!({"username": "admin", "password": "second root passphrase"}),
        )
        .await,
        bad.request(
            "PUT",
            "/nope",
            None,
            Some("text/plain"),
            b"garbage".to_vec(),
        )
        .await,
        bad.get("/login", None).await,
    ];
    for a in &answers {
        assert_eq!(a.status, 429);
        assert_eq!(a.body, answers[0].body);
        let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 3000 && retry <= 3600, "{retry}");
    }
    assert_eq!(answers[0].code(), "suspended");
    // The admin, elsewhere, is unaffected, sees it and lifts it.
    let list = c.get("/api/v1/suspensions", Some(&admin)).await.json();
    let s = &list["suspensions"][0];
    assert_eq!(
        (
            s["address"].as_str(),
            s["reason"].as_str(),
            s["count"].as_u64()
        ),
        (Some("127.0.0.5"), Some("failed_logins"), Some(3))
    );
    assert!(s["expires_at"].is_string() && s["first_seen"].is_string());
    assert_eq!(
        c.delete("/api/v1/suspensions/127.0.0.5", Some(&admin))
            .await
            .json()["lifted"],
        1
    );
    assert_eq!(bad.get("/healthz", None).await.status, 200);
    // The victim account's counters did not move for the refused attempt after suspension,
    // and the right password works from a clean address.
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "admin", "password": "second root passphrase"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_rules_look_like_a_wrong_password_and_protect_the_admin() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let r = c
        .post(
            "/api/v1/ip-rules",
            Some(&admin),
            json!({"scope": "global", "action": "deny", "cidr": "127.0.0.7/32"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let refused = c.from("127.0.0.7");
    let a = refused
        .post(
            "/api/v1/login",
            None,
            json!({"username": "admin", "password": "second root passphrase"}),
        )
        .await;
    let b = c
        .from("127.0.0.8")
        .post(
            "/api/v1/login",
            None,
            json!({"username": "admin", "password": WRONG}),
        )
        .await;
    assert_eq!(
        (a.status, &a.body),
        (b.status, &b.body),
        "no hint that a rule exists"
    );
    assert_eq!(
        refused.get("/api/v1/me", Some(&admin)).await.status,
        403,
        "a session is refused from there too"
    );
    // The admin cannot lock themselves out.
    let r = c
        .post(
            "/api/v1/ip-rules",
            Some(&admin),
            json!({"scope": "role:admin", "action": "allow", "cidr": "10.0.0.0/8"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "rule_locks_you_out"));
    let r = c
        .post(
            "/api/v1/ip-rules",
            Some(&admin),
            json!({"scope": "role:admin", "action": "allow", "cidr": "2001:db8::/32"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = c
        .post(
            "/api/v1/ip-rules",
            Some(&admin),
            json!({"scope": "everyone", "action": "allow", "cidr": "10.0.0.0/8"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_request"));
    let rules = c.get("/api/v1/ip-rules", Some(&admin)).await.json();
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1);
    let id = rules["rules"][0]["id"].as_i64().unwrap();
    assert_eq!(
        c.delete(&format!("/api/v1/ip-rules/{id}"), Some(&admin))
            .await
            .status,
        200
    );
    assert_eq!(
        refused
            .post(
                "/api/v1/login",
                None,
                json!({"username": "admin", "password": "second root passphrase"})
            )
            .await
            .status,
        200
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let srv = Server::start_with(|c| {
        c.guard.trusted_proxies = "127.0.0.2/32".into();
        c.guard.failed_logins = 2;
    })
    .await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let xff = |conn: &Client, ip: &'static str| {
        let conn = conn.clone();
        async move {
            conn.request_with(
                "POST",
                "/api/v1/login",
                &[
                    ("x-forwarded-for", ip),
                    ("content-type", "application/json"),
                ],
                br#"{"username":"admin","password":"nope nope nope"}"#.to_vec(),
            )
            .await
        }
    };
    // Through the trusted proxy: the forwarded address is the client.
    let proxy = c.from("127.0.0.2");
    xff(&proxy, "198.51.100.20").await;
    xff(&proxy, "198.51.100.20").await;
    // From an untrusted peer the header is ignored: its own address is counted.
    let direct = c.from("127.0.0.3");
    xff(&direct, "198.51.100.21").await;
    xff(&direct, "198.51.100.21").await;
    let list = c.get("/api/v1/suspensions", Some(&admin)).await.json();
    let mut addrs: Vec<&str> = list["suspensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    addrs.sort();
    assert_eq!(addrs, ["127.0.0.3", "198.51.100.20"]);
    // The proxy itself is not suspended: other clients behind it still get through.
    let r = xff(&proxy, "198.51.100.22").await;
    assert_eq!(r.status, 401);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_suspended() {
    let srv = Server::start_with(|c| {
        c.guard.rate_per_second = 5;
        c.guard.rate_burst = 5;
        c.guard.flood_refusals = 20;
    })
    .await;
    let c = srv.client();
    let mut conn = c.from("127.0.0.9").connect().await;
    let mut codes = Vec::new();
    for _ in 0..40 {
        let r = conn.request("GET", "/healthz", None, None, vec![]).await;
        codes.push(if r.status == 200 {
            "ok".to_owned()
        } else {
            r.code()
        });
    }
    assert!(codes[..5].iter().all(|c| c == "ok"), "{codes:?}");
    assert!(codes.contains(&"rate_limited".to_owned()), "{codes:?}");
    assert_eq!(
        codes.last().map(String::as_str),
        Some("suspended"),
        "{codes:?}"
    );
    // Others are unaffected.
    assert_eq!(c.get("/healthz", None).await.status, 200);
    // And /metrics tells what the guard did.
    let m = String::from_utf8(c.get("/metrics", None).await.body.to_vec()).unwrap();
    assert!(m.contains("sesame_guard_suspensions_total 1"), "{m}");
    let count = |reason: &str| -> u64 {
        let prefix = format!("sesame_guard_refusals_total{{reason=\"{reason}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        count("rate_limited") >= 20 && count("suspended") >= 1,
        "{m}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_adds_and_lifts_suspensions() {
    let srv = Server::start_with(|c| c.guard.failed_logins = 2).await;
    // The offline half of this test runs the CLI on the real clock: the appliance's clock must
    // agree, or the suspensions it records would have expired in real time.
    srv.clock
        .set(authd::clock::Clock::now(&authd::clock::SystemClock));
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    for _ in 0..2 {
        c.from("127.0.0.11")
            .post(
                "/api/v1/login",
                None,
                json!({"username": "x", "password": WRONG}),
            )
            .await;
    }
    let pem = srv.dir.path().join("data/tls/cert.pem");
    let url = format!("https://localhost:{}", srv.addr.port());
    let sesame = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let online = [
        "--url",
        &url,
        "--token",
        &admin,
        "--ca-cert",
        pem.to_str().unwrap(),
    ];
    let (ok, out, err) = sesame(&[&["admin", "suspensions"][..], &online, &["list"]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("127.0.0.11\tfailed_logins"), "{out}");
    let (ok, out, _) = sesame(
        &[
            &["admin", "suspensions"][..],
            &online,
            &[
                "add",
                "203.0.113.0/24",
                "--reason",
                "scanner",
                "--duration",
                "2h",
            ],
        ]
        .concat(),
    );
    assert!(ok && out.contains("203.0.113.0/24"), "{out}");
    let (ok, _, _) = sesame(
        &[
            &["admin", "suspensions"][..],
            &online,
            &["lift", "127.0.0.11"],
        ]
        .concat(),
    );
    assert!(ok);
    assert_eq!(c.from("127.0.0.11").get("/healthz", None).await.status, 200);
    let (ok, _, err) = sesame(
        &[
            &["admin", "suspensions"][..],
            &online,
            &["lift", "127.0.0.99"],
        ]
        .concat(),
    );
    assert!(!ok && err.contains("not found"), "{err}");
    // Offline, on the stopped appliance's data directory.
    let dir = srv.stop().await;
    let data = dir.path().join("data");
    let offline = ["--data-dir", data.to_str().unwrap()];
    let (ok, out, err) = sesame(&[&["admin", "suspensions"][..], &offline, &["list"]].concat());
    assert!(ok, "{err}");
    assert!(
        out.contains("203.0.113.0/24\tscanner") && !out.contains("127.0.0.11"),
        "{out}"
    );
    let (ok, out, _) =
        sesame(&[&["admin", "suspensions"][..], &offline, &["lift", "--all"]].concat());
    assert!(ok && out.contains("Lifted 1 suspension."), "{out}");
    let (ok, _, err) = sesame(
        &[
            &["admin", "suspensions"][..],
            &offline,
            &["add", "not-an-address", "--reason", "x"],
        ]
        .concat(),
    );
    assert!(!ok && err.contains("not an IP address"), "{err}");
    let (ok, _, err) = sesame(&["admin", "suspensions", "--data-dir", "/nonexistent", "list"]);
    assert!(!ok && err.contains("holds no Sesame store"), "{err}");
}
