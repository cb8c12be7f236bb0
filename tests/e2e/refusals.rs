//! What the API refuses, and that a refusal changes nothing: enumeration, bad bodies, races.

use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_give_identical_answers() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    c.post(
        "/api/v1/users",
        Some(&admin),
        json!({"username": "bob", "password": "quiet-meadow-881", "must_change_password": false}),
    )
    .await;
    let a = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "nobody", "password": "quiet-meadow-881"}),
        )
        .await;
    let b = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "bob", "password": "wrong-meadow-881"}),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    assert_eq!(a.code(), "invalid_credentials");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_clear_errors_and_change_nothing() {
    let srv = Server::start_with(|c| c.server.body_limit_bytes = 4096).await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    // (what, content type, body, status, code)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "not json",
            Some("application/json"),
            b"{\"username\": ".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "wrong type",
            Some("text/plain"),
            br#"{"username":"x","password":"long enough pass"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "no type",
            None,
            br#"{"username":"x","password":"long enough pass"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "unknown field",
            Some("application/json"),
            br#"{"username":"x","password":"long enough pass","admin":true}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "missing field",
            Some("application/json"),
            br#"{"username":"x"}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "oversized",
            Some("application/json"),
            format!(r#"{{"username":"x","password":"{}"}}"#, "a".repeat(5000)).into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "bad role",
            Some("application/json"),
            br#"{"username":"x","password":"long enough pass","roles":["root"]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "bad username",
            Some("application/json"),
            br#"{"username":"x y","password":"long enough pass phrase"}"#.to_vec(),
            422,
            "invalid_username",
        ),
        (
            "weak password",
            Some("application/json"),
            br#"{"username":"x","password":"password"}"#.to_vec(),
            422,
            "password_too_short",
        ),
        (
            "common password",
            Some("application/json"),
            br#"{"username":"x","password":"password123","roles":["admin"]}"#.to_vec(),
            422,
            "password_common",
        ),
    ];
    for (what, ct, body, status, code) in cases {
        let r = c
            .request("POST", "/api/v1/users", Some(&admin), ct, body)
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let users = c.get("/api/v1/users", Some(&admin)).await.json();
    assert_eq!(
        users["users"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
    // Unknown routes and methods answer in the same JSON shape.
    let r = c.get("/api/v1/nope", Some(&admin)).await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = c
        .request(
            "PUT",
            "/api/v1/login",
            None,
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"));
    let r = c.get("/api/v1/me/totp/abc", Some(&admin)).await;
    assert_eq!(r.status, 405);
    let r = c
        .request("DELETE", "/api/v1/me/totp/abc", Some(&admin), None, vec![])
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_request"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_raced_on_many_connections_is_accepted_once() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let e = c
        .post("/api/v1/me/totp", Some(&admin), json!({"label": "app"}))
        .await
        .json();
    let secret = e["secret"].as_str().unwrap().to_owned();
    let r = c
        .post(
            &format!("/api/v1/me/totp/{}/confirm", e["id"]),
            Some(&admin),
            json!({"code": totp_code(&secret, T0)}),
        )
        .await;
    assert_eq!(r.status, 200);
    srv.clock.advance(30);
    let code = totp_code(&secret, T0 + 30);
    // 16 logins, each on its own connection, all holding a challenge…
    let mut challenges = Vec::new();
    for _ in 0..16 {
        let r = c
            .post(
                "/api/v1/login",
                None,
                json!({"username": "admin", "password": "second root passphrase"}),
            )
            .await
            .json();
        challenges.push(r["challenge"].as_str().unwrap().to_owned());
    }
    // …then the same code sent on all of them at the same moment.
    let mut conns = Vec::new();
    for _ in &challenges {
        conns.push(c.connect().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(challenges.len()));
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(challenges)
        .map(|(mut conn, ch)| {
            let code = code.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                conn.post(
                    "/api/v1/login/mfa",
                    None,
                    json!({"challenge": ch, "method": "totp", "code": code}),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_and_admins_cannot_lock_themselves_out() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    c.post("/api/v1/users", Some(&admin), json!({"username": "eve", "password": "a long enough user pass", "must_change_password": false})).await;
    let eve = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "eve", "password": "a long enough user pass"}),
        )
        .await
        .json()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    for (m, p) in [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/admin"),
        ("DELETE", "/api/v1/users/admin"),
        ("GET", "/api/v1/audit"),
    ] {
        let r = c.request(m, p, Some(&eve), None, vec![]).await;
        assert_eq!((r.status, r.code().as_str()), (403, "forbidden"), "{m} {p}");
    }
    let r = c
        .request(
            "POST",
            "/api/v1/users",
            Some(&eve),
            Some("application/json"),
            br#"{"username":"x","password":"whatever long pass"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .request(
            "PATCH",
            "/api/v1/users/admin",
            Some(&admin),
            Some("application/json"),
            br#"{"disabled":true}"#.to_vec(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "self_action_refused"));
    let r = c.get("/api/v1/me", Some("not-a-session")).await;
    assert_eq!(r.status, 401);
    srv.stop().await;
}
