//! Security keys and passkeys over the real HTTPS API, with `webauthn-authenticator-rs`'s
//! software passkey signing exactly as a key does: registration, passwordless sign-in, the
//! second factor after a password, staff removal, and the same assertion raced on many
//! connections (accepted once).

use crate::support::{self, Client, Server};
use serde_json::{Value, json};
use webauthn_authenticator_rs::prelude::{Url, WebauthnAuthenticator};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

const PW: &str = "lavender-tortoise-42";
const ADMIN_NEW: &str = "a much longer root passphrase";

fn origin(server: &Server) -> Url {
    Url::parse(&format!("https://localhost:{}", server.addr.port())).expect("origin")
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(b)
}

/// A user `name` (role user) with a password session.
async fn user(c: &Client, admin: &str, name: &str) -> String {
    let r = c
        .post(
            "/api/v1/users",
            Some(admin),
            json!({ "username": name, "password": PW, "roles": ["user"], "must_change_password": false }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({ "username": name, "password": PW }),
        )
        .await;
    r.json()["session"].as_str().expect("session").to_owned()
}

/// Register a key; returns (credential id, user handle).
async fn register(
    server: &Server,
    c: &Client,
    token: &str,
    dev: &mut SoftPasskey,
) -> (String, Vec<u8>) {
    let r = c
        .post(
            "/api/v1/me/webauthn/register/start",
            Some(token),
            json!({ "label": "yubi" }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v = r.json();
    let ccr: CreationChallengeResponse =
        serde_json::from_value(v["options"].clone()).expect("options are webauthn-rs JSON");
    let handle = ccr.public_key.user.id.to_vec();
    let reg = dev.do_registration(origin(server), ccr).expect("registers");
    let r = c
        .post(
            "/api/v1/me/webauthn/register/finish",
            Some(token),
            json!({ "id": v["id"], "credential": reg }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let done = r.json();
    assert_eq!(done["label"], "yubi");
    (
        done["credential_id"].as_str().expect("id").to_owned(),
        handle,
    )
}

/// The key's answer to `options`; with `(id, handle)`, as a discoverable passkey answers.
fn sign(
    server: &Server,
    dev: &mut SoftPasskey,
    options: &Value,
    discoverable: Option<(&str, &[u8])>,
) -> Value {
    let mut o = options.clone();
    if let Some((id, _)) = discoverable {
        o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": id }]);
    }
    let rcr: RequestChallengeResponse = serde_json::from_value(o).expect("request options");
    let resp = dev.do_authentication(origin(server), rcr).expect("signs");
    let mut v = serde_json::to_value(&resp).expect("json");
    if let Some((_, h)) = discoverable {
        v["response"]["userHandle"] = json!(b64(h));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_and_second_factor_over_https() {
    let server = Server::start().await;
    let c = server.client();
    let admin = support::admin_session(&c, ADMIN_NEW).await;
    let token = user(&c, &admin, "webby").await;
    let mut dev = SoftPasskey::new(true);
    let (id, handle) = register(&server, &c, &token, &mut dev).await;

    let list = c.get("/api/v1/me/webauthn", Some(&token)).await.json();
    assert_eq!(list["keys"][0]["credential_id"], id.as_str());
    assert_eq!(list["keys"][0]["label"], "yubi");
    assert!(list["keys"][0].get("backup_eligible").is_some());

    // Passwordless: no username asked.
    let s = c.post("/api/v1/login/passkey/start", None, json!({})).await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    let s = s.json();
    let a = sign(&server, &mut dev, &s["options"], Some((&id, &handle)));
    let r = c
        .post(
            "/api/v1/login/passkey/finish",
            None,
            json!({ "id": s["id"], "credential": a }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let pk_session = r.json()["session"].as_str().expect("session").to_owned();
    let me = c.get("/api/v1/me", Some(&pk_session)).await.json();
    assert_eq!(me["username"], "webby");
    assert_eq!(me["session"]["method"], "passkey");

    // Second factor: the password step now lists "webauthn".
    let ch = c
        .post(
            "/api/v1/login",
            None,
            json!({ "username": "webby", "password": PW }),
        )
        .await
        .json();
    assert_eq!(ch["mfa_required"], true, "{ch}");
    assert_eq!(ch["methods"], json!(["webauthn"]));
    let s = c
        .post(
            "/api/v1/login/webauthn/start",
            None,
            json!({ "challenge": ch["challenge"] }),
        )
        .await
        .json();
    let a = sign(&server, &mut dev, &s["options"], None);
    let r = c
        .post(
            "/api/v1/login/webauthn/finish",
            None,
            json!({ "challenge": ch["challenge"], "credential": a }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.json()["session"].is_string());

    // A wrong origin, over the wire, has its own code.
    let s = c
        .post("/api/v1/login/passkey/start", None, json!({}))
        .await
        .json();
    let mut o = s["options"].clone();
    o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": id }]);
    let rcr: RequestChallengeResponse = serde_json::from_value(o).expect("options");
    let evil = Url::parse("https://evil.localhost:1").expect("url");
    let mut a = serde_json::to_value(dev.do_authentication(evil, rcr).expect("signs")).expect("j");
    a["response"]["userHandle"] = json!(b64(&handle));
    let r = c
        .post(
            "/api/v1/login/passkey/finish",
            None,
            json!({ "id": s["id"], "credential": a }),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "webauthn_origin_mismatch");

    // Helpdesk/admin: list and remove the user's key (audited).
    let keys = c.get("/api/v1/users/webby/webauthn", Some(&admin)).await;
    assert_eq!(keys.status, 200, "{:?}", keys.body);
    assert_eq!(keys.json()["keys"][0]["credential_id"], id.as_str());
    let r = c
        .delete(&format!("/api/v1/users/webby/webauthn/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let list = c.get("/api/v1/me/webauthn", Some(&token)).await.json();
    assert_eq!(list["keys"], json!([]));
    let audit = c.get("/api/v1/audit?user=webby", Some(&admin)).await.json();
    assert!(
        audit["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "webauthn.staff_delete"),
        "{audit}"
    );
    // A user cannot reach the staff route.
    let r = c.get("/api/v1/users/webby/webauthn", Some(&token)).await;
    assert_eq!(r.status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_assertion_on_many_connections_is_accepted_once() {
    let server = Server::start().await;
    let c = server.client();
    let admin = support::admin_session(&c, ADMIN_NEW).await;
    let token = user(&c, &admin, "racer").await;
    let mut dev = SoftPasskey::new(true);
    let (id, handle) = register(&server, &c, &token, &mut dev).await;
    let s = c
        .post("/api/v1/login/passkey/start", None, json!({}))
        .await
        .json();
    let a = sign(&server, &mut dev, &s["options"], Some((&id, &handle)));
    let body = json!({ "id": s["id"], "credential": a });
    // Each request on its own connection, from its own loopback address (the guard counts
    // failed logins per address).
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let c = c.from(&format!("127.0.0.{}", 10 + i));
            let body = body.clone();
            tokio::spawn(async move { c.post("/api/v1/login/passkey/finish", None, body).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let r = t.await.expect("task");
        if r.status == 200 {
            ok += 1;
        } else {
            assert_eq!(r.status, 401, "{:?}", r.body);
            assert_eq!(r.code(), "webauthn_ceremony_used");
        }
    }
    assert_eq!(ok, 1, "exactly one sign-in");
    server.stop().await;
}

/// A security key without user verification (`SoftToken::new(false)`, no PIN pad) registered
/// with `"kind": "security_key"`: listed as such, the second factor after the password, and
/// refused for a passwordless sign-in with `webauthn_second_factor_only` (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_key_is_a_second_factor_only_over_https() {
    use webauthn_authenticator_rs::AuthenticatorBackend;
    use webauthn_authenticator_rs::softtoken::SoftToken;
    let server = Server::start().await;
    let c = server.client();
    let admin = support::admin_session(&c, ADMIN_NEW).await;
    let token = user(&c, &admin, "keyed").await;
    let (mut key, _) = SoftToken::new(false).expect("soft token");

    let r = c
        .post(
            "/api/v1/me/webauthn/register/start",
            Some(&token),
            json!({ "label": "usb", "kind": "sticker" }),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = c
        .post(
            "/api/v1/me/webauthn/register/start",
            Some(&token),
            json!({ "label": "usb", "kind": "security_key" }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v = r.json();
    let ccr: CreationChallengeResponse =
        serde_json::from_value(v["options"].clone()).expect("options");
    let handle = ccr.public_key.user.id.to_vec();
    let reg = key
        .perform_register(origin(&server), ccr.public_key, 60_000)
        .expect("registers without user verification");
    let r = c
        .post(
            "/api/v1/me/webauthn/register/finish",
            Some(&token),
            json!({ "id": v["id"], "credential": reg }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.json()["credential_id"].as_str().expect("id").to_owned();
    let list = c.get("/api/v1/me/webauthn", Some(&token)).await.json();
    assert_eq!(list["keys"][0]["kind"], "security_key");

    // Second factor after the password.
    let ch = c
        .post(
            "/api/v1/login",
            None,
            json!({ "username": "keyed", "password": PW }),
        )
        .await
        .json();
    let challenge = ch["challenge"].as_str().expect("challenge").to_owned();
    let s = c
        .post(
            "/api/v1/login/webauthn/start",
            None,
            json!({ "challenge": challenge }),
        )
        .await
        .json();
    let rcr: RequestChallengeResponse =
        serde_json::from_value(s["options"].clone()).expect("request options");
    let a = key
        .perform_auth(origin(&server), rcr.public_key, 60_000)
        .expect("signs");
    let r = c
        .post(
            "/api/v1/login/webauthn/finish",
            None,
            json!({ "challenge": challenge, "credential": a }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.json()["session"].is_string());

    // Passwordless: refused with its own code.
    let s = c
        .post("/api/v1/login/passkey/start", None, json!({}))
        .await
        .json();
    let mut o = s["options"].clone();
    o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": id }]);
    o["publicKey"]["userVerification"] = json!("discouraged");
    let rcr: RequestChallengeResponse = serde_json::from_value(o).expect("request options");
    let a = key
        .perform_auth(origin(&server), rcr.public_key, 60_000)
        .expect("signs");
    let mut a = serde_json::to_value(&a).expect("json");
    a["response"]["userHandle"] = json!(b64(&handle));
    let r = c
        .post(
            "/api/v1/login/passkey/finish",
            None,
            json!({ "id": s["id"], "credential": a }),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.json()["error"]["code"], "webauthn_second_factor_only");
}
