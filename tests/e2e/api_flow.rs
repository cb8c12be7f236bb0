//! The whole story of issue "authd core" through the JSON API: bootstrap admin → forced
//! password change → create a user → TOTP enrolment → backup codes → logout → login with TOTP
//! → login with a backup code → sessions → audit.

use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_over_https() {
    let srv = Server::start().await;
    let c = srv.client();
    assert_eq!(c.get("/healthz", None).await.json()["status"], "ok");

    let admin = admin_session(&c, "second root passphrase").await;
    let me = c.get("/api/v1/me", Some(&admin)).await.json();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["roles"], json!(["admin"]));

    // Create a user who chose their own password.
    let r = c.post("/api/v1/users", Some(&admin), json!({"username": "Alice", "password": "violet-harbour-77", "roles": ["user"], "must_change_password": false})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.json()["username"], "alice");
    let r = c
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "alice", "password": "violet-harbour-77"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "username_taken"));

    // Alice logs in with her password only, enrols a TOTP app.
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "alice", "password": "violet-harbour-77"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let alice = r.json()["session"].as_str().unwrap().to_owned();
    let e = c
        .post("/api/v1/me/totp", Some(&alice), json!({"label": "phone"}))
        .await
        .json();
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert!(secret.contains(' '), "grouped for typing: {secret}");
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Sesame:alice?secret=")
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let id = e["id"].as_i64().unwrap();
    // Not usable until confirmed: login still needs only the password.
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "alice", "password": "violet-harbour-77"}),
        )
        .await;
    assert!(r.json()["session"].is_string());
    let r = c
        .post(
            &format!("/api/v1/me/totp/{id}/confirm"),
            Some(&alice),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_code"));
    let r = c
        .post(
            &format!("/api/v1/me/totp/{id}/confirm"),
            Some(&alice),
            json!({"code": totp_code(&secret, T0)}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let list = c.get("/api/v1/me/totp", Some(&alice)).await.json();
    assert_eq!(list["devices"][0]["confirmed"], true);

    // Backup codes.
    let codes = c
        .post("/api/v1/me/backup-codes", Some(&alice), json!({}))
        .await
        .json()["codes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        c.get("/api/v1/me/backup-codes", Some(&alice)).await.json()["remaining"],
        10
    );

    // Logout ends the session.
    assert_eq!(
        c.post("/api/v1/logout", Some(&alice), json!({}))
            .await
            .status,
        200
    );
    let r = c.get("/api/v1/me", Some(&alice)).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));

    // Log back in with the TOTP code of the next step.
    srv.clock.advance(30);
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "alice", "password": "violet-harbour-77"}),
        )
        .await
        .json();
    assert_eq!(r["mfa_required"], true);
    assert_eq!(r["methods"], json!(["totp", "backup_code"]));
    let code = totp_code(&secret, T0 + 30);
    let r = c
        .post(
            "/api/v1/login/mfa",
            None,
            json!({"challenge": r["challenge"], "method": "totp", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let alice = r.json()["session"].as_str().unwrap().to_owned();
    assert_eq!(
        c.get("/api/v1/me", Some(&alice)).await.json()["session"]["method"],
        "password+totp"
    );

    // The same code again is a replay.
    let r = login_mfa(&c, "alice", "violet-harbour-77", "totp", &code).await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_code"));

    // A backup code works once.
    let r = login_mfa(
        &c,
        "alice",
        "violet-harbour-77",
        "backup_code",
        codes[3].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.get("/api/v1/me/backup-codes", Some(&alice)).await.json()["remaining"],
        9
    );

    // Sessions: list, the current one marked, revoke another.
    let s = c.get("/api/v1/me/sessions", Some(&alice)).await.json();
    let sessions = s["sessions"].as_array().unwrap();
    assert!(sessions.len() >= 2);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        c.delete(&format!("/api/v1/me/sessions/{other}"), Some(&alice))
            .await
            .status,
        200
    );
    assert_eq!(
        c.delete(&format!("/api/v1/me/sessions/{other}"), Some(&alice))
            .await
            .status,
        404
    );
    // Sign out everywhere else: only the current session remains.
    let r = c.delete("/api/v1/me/sessions", Some(&alice)).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["revoked"].as_u64().unwrap() >= 1);
    let left = c.get("/api/v1/me/sessions", Some(&alice)).await.json();
    assert_eq!(left["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(left["sessions"][0]["current"], true);

    // Only admins read the audit trail; it holds the story and its chain is intact.
    assert_eq!(c.get("/api/v1/audit", Some(&alice)).await.status, 403);
    let a = c
        .get("/api/v1/audit?user=alice&limit=500", Some(&admin))
        .await
        .json();
    let actions: Vec<&str> = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "user.create",
        "totp.enrol",
        "totp.confirm",
        "backup_codes.generate",
        "logout",
        "login.mfa",
        "login",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let failed = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "login.mfa" && e["outcome"] == "failure")
        .unwrap();
    assert_eq!(failed["detail"]["reason"], "replay");
    assert_eq!(failed["user_agent"], "e2e-test");
    assert_eq!(failed["address"], "127.0.0.1");
    assert_eq!(
        c.get("/api/v1/audit/verify", Some(&admin)).await.json()["intact"],
        true
    );

    // Admin: disable alice → her session dies; enable; delete.
    let r = c
        .request(
            "PATCH",
            "/api/v1/users/alice",
            Some(&admin),
            Some("application/json"),
            br#"{"disabled":true}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/api/v1/me", Some(&alice)).await.status, 401);
    let users = c.get("/api/v1/users", Some(&admin)).await.json();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.delete("/api/v1/users/alice", Some(&admin)).await.status,
        200
    );
    assert_eq!(c.get("/api/v1/users/alice", Some(&admin)).await.status, 404);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_with_the_injected_clock() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    srv.clock.advance(4 * 3600 - 1);
    assert_eq!(c.get("/api/v1/me", Some(&admin)).await.status, 200);
    srv.clock.advance(1);
    let r = c.get("/api/v1/me", Some(&admin)).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_are_set() {
    let srv = Server::start().await;
    let r = srv.client().get("/healthz", None).await;
    let h = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(h("strict-transport-security").contains("max-age="));
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    assert!(!h("content-security-policy").contains("unsafe-inline"));
    assert_eq!(h("x-content-type-options"), "nosniff");
    srv.stop().await;
}
