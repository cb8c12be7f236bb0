//! The helpdesk console's page of an account's keys in Chromium: a helpdesk member (password +
//! TOTP through the pages) opens `alice`'s keys from the console, sees the key a software
//! passkey registered over the API, removes it with the page's form, and sees the confirmation —
//! in French. Screenshots: `helpdesk-keys-listed-fr`, `helpdesk-keys-removed-fr`.

use super::webdriver::Browser;
use super::{PW, password_sign_in, spki_pin};
use crate::support::{self, Server};
use serde_json::json;
use webauthn_authenticator_rs::prelude::{Url, WebauthnAuthenticator};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::CreationChallengeResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpdesk_removes_a_users_key_fr() {
    let server = Server::start().await;
    let c = server.client();
    let admin = support::admin_session(&c, "a much longer root passphrase").await;
    for (name, role) in [("alice", "user"), ("desk", "helpdesk")] {
        let r = c
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({ "username": name, "password": PW, "roles": [role], "must_change_password": false }),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // The MFA policy asks helpdesk members for a second factor: enrol a TOTP device over the
    // API (the pages' enrolment has its own browser test).
    let step = c
        .post(
            "/api/v1/login",
            None,
            json!({ "username": "desk", "password": PW }),
        )
        .await
        .json();
    let (_, secret) = support::enrol_at_login(&c, &step).await;
    let b = Browser::start(&spki_pin(&server)).await;
    let base = format!("https://localhost:{}", server.addr.port());
    // alice registers a passkey over the API.
    let token = c
        .post(
            "/api/v1/login",
            None,
            json!({ "username": "alice", "password": PW }),
        )
        .await
        .json()["session"]
        .as_str()
        .expect("session")
        .to_owned();
    let s = c
        .post(
            "/api/v1/me/webauthn/register/start",
            Some(&token),
            json!({ "label": "clé du bureau" }),
        )
        .await
        .json();
    let ccr: CreationChallengeResponse =
        serde_json::from_value(s["options"].clone()).expect("options");
    let mut dev = SoftPasskey::new(true);
    let origin = Url::parse(&base).expect("origin");
    let reg = dev.do_registration(origin, ccr).expect("registers");
    let r = c
        .post(
            "/api/v1/me/webauthn/register/finish",
            Some(&token),
            json!({ "id": s["id"], "credential": reg }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The helpdesk member signs in through the pages: password, then a later TOTP code.
    server.clock.advance(30);
    password_sign_in(&b, &base, "fr", "desk").await;
    b.wait_path("/login/mfa").await;
    let now = {
        use authd::clock::Clock;
        server.clock.now()
    };
    b.type_in("#totp-code", &support::totp_code(&secret, now))
        .await;
    b.click("form[action='/login/mfa'] button[type=submit]")
        .await;
    b.wait_path("/account").await;
    b.go(&format!("{base}/helpdesk?lang=fr")).await;
    b.type_in("#hd-webauthn-user", "alice").await;
    b.click("form[action='/helpdesk/webauthn'] button[type=submit]")
        .await;
    b.find("#hd-webauthn-list").await;
    let listed = b.text_of("#hd-webauthn-list").await;
    assert!(listed.contains("clé du bureau"), "{listed}");
    assert!(b.text().await.contains("Clés de alice"));
    b.screenshot("helpdesk-keys-listed-fr").await;
    b.click("form[action='/helpdesk/webauthn/remove'] button[type=submit]")
        .await;
    b.find("#hd-webauthn-none").await;
    assert!(b.text().await.contains("La clé a été retirée."));
    b.screenshot("helpdesk-keys-removed-fr").await;
    let keys = c.get("/api/v1/me/webauthn", Some(&token)).await.json();
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(0), "{keys}");
    drop(b);
    server.stop().await;
}
