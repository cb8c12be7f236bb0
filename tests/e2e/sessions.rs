//! Connected sessions: admins see every live session and end one or all of an account's; a
//! limit of concurrent sessions keeps seats for admins.

use crate::support::*;
use serde_json::json;

const PW: &str = "a long enough user pass";

async fn login(c: &Client, user: &str, pw: &str) -> Resp {
    c.post(
        "/api/v1/login",
        None,
        json!({"username": user, "password": pw}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_and_end_sessions_and_seats_are_reserved() {
    let srv = Server::start_with(|c| {
        c.session.max_sessions = 3;
        c.session.admin_reserved_seats = 1;
    })
    .await;
    let c = srv.client();
    let (admin, secret) = admin_session_with_secret(&c, "second root passphrase").await; // 1 live session
    for u in ["ursula", "victor"] {
        let r = c
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"username": u, "password": PW, "must_change_password": false}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = login(&c, "ursula", PW).await; // 2 live
    assert_eq!(r.status, 200);
    let ursula = r.json()["session"].as_str().unwrap().to_owned();
    // The third seat is an admin's: victor is refused, with a clear error.
    let r = login(&c, "victor", PW).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "seats_full"),
        "{:?}",
        r.body
    );
    // An admin still gets in (with the second factor admins must use), up to the limit.
    let admin_login = || async {
        srv.clock.advance(30); // a fresh TOTP step for each login
        let code = totp_code(&secret, c.clock.now());
        login_mfa(&c, "admin", "second root passphrase", "totp", &code).await
    };
    let r = admin_login().await; // 3 live
    assert_eq!(r.status, 200, "{:?}", r.body);
    let admin2 = r.json()["session"].as_str().unwrap().to_owned();
    assert_eq!(admin_login().await.code(), "seats_full");

    // Admins see every live session with who, from where, how.
    assert_eq!(c.get("/api/v1/sessions", Some(&ursula)).await.status, 403);
    let list = c.get("/api/v1/sessions", Some(&admin)).await.json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let hers = sessions.iter().find(|s| s["username"] == "ursula").unwrap();
    assert_eq!(hers["roles"], json!(["user"]));
    assert_eq!(
        (
            hers["address"].as_str(),
            hers["user_agent"].as_str(),
            hers["method"].as_str()
        ),
        (Some("127.0.0.1"), Some("e2e-test"), Some("password"))
    );
    assert!(hers["last_seen_at"].is_string() && hers["created_at"].is_string());

    // End hers: her token stops working. Victor still needs a non-reserved seat...
    let id = hers["id"].as_i64().unwrap();
    assert_eq!(
        c.delete(&format!("/api/v1/sessions/{id}"), Some(&admin))
            .await
            .status,
        200
    );
    assert_eq!(c.get("/api/v1/me", Some(&ursula)).await.status, 401);
    assert_eq!(
        c.delete(&format!("/api/v1/sessions/{id}"), Some(&admin))
            .await
            .status,
        404
    );
    assert_eq!(login(&c, "victor", PW).await.code(), "seats_full");
    // ...which the admin's second session frees when it ends.
    assert_eq!(
        c.post("/api/v1/logout", Some(&admin2), json!({}))
            .await
            .status,
        200
    );
    let r = login(&c, "victor", PW).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let victor = r.json()["session"].as_str().unwrap().to_owned();
    // End all of victor's sessions.
    let r = c
        .delete("/api/v1/users/victor/sessions", Some(&admin))
        .await;
    assert_eq!(r.json()["ended"], 1);
    assert_eq!(c.get("/api/v1/me", Some(&victor)).await.status, 401);
    let a = c.get("/api/v1/audit?limit=20", Some(&admin)).await.json();
    let actions: Vec<&str> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"session.end") && actions.contains(&"session.end_all"),
        "{actions:?}"
    );
    srv.stop().await;
}
