//! Page tests of the helpdesk console's page of an account's security keys and passkeys:
//! the list (label, kind, added, last used, model, backup state) in English and French, the
//! CSRF-checked, audited removal, and who may reach it. The key is registered through the
//! flow with a software authenticator (`SoftToken`, which announces its AAGUID).

use super::test_browser::Browser;
use crate::flows::testkit::{Kit, client};
use crate::flows::webauthn as flow;
use axum::http::StatusCode;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softtoken::{AAGUID, SoftToken};
use webauthn_rs::prelude::CreationChallengeResponse;

const PW: &str = "tortue-lavande-9";

/// Register a soft token for `user` (as a passkey); returns its credential id.
fn register(kit: &Kit, user: &str) -> String {
    let who = kit.login(user, PW);
    let now = kit.clock_now();
    let s = flow::register_start(&kit.app, &who, "Badge bleu", now).expect("start");
    let ccr: CreationChallengeResponse = serde_json::from_value(s.options).expect("ccr");
    let (mut tok, _) = SoftToken::new(true).expect("token");
    let reg = tok
        .perform_register(
            Url::parse("https://localhost:8443").expect("url"),
            ccr.public_key,
            60_000,
        )
        .expect("registers");
    let v = serde_json::to_value(&reg).expect("json");
    flow::register_finish(&kit.app, &who, &s.id, &v, &client(), now)
        .expect("finish")
        .0
}

#[tokio::test]
async fn helpdesk_lists_and_removes_a_users_keys() {
    let kit = Kit::new();
    kit.user("hd", PW, &["helpdesk"]);
    kit.user("alice", PW, &["user"]);
    kit.user("root", PW, &["admin"]);
    let id = register(&kit, "alice");
    let mut b = Browser::new(&kit);
    b.sign_in("hd", PW).await;

    // The console links to the page.
    let console = b.get("/helpdesk").await;
    assert!(console.body.contains("action=\"/helpdesk/webauthn\""));
    let p = b.get("/helpdesk/webauthn?user=alice").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Keys of alice"));
    assert!(p.body.contains("Badge bleu"));
    assert!(p.body.contains(&AAGUID.to_string()), "model shown");
    assert!(p.body.contains("passkey (also without a password)"));
    assert!(p.body.contains("this device only"), "backup state");
    assert!(p.body.contains("never"), "not used yet");
    assert!(
        p.body
            .contains(&format!("name=\"credential_id\" value=\"{id}\""))
    );

    // In French.
    b.accept_language = Some("fr");
    let p = b.get("/helpdesk/webauthn?user=alice").await;
    assert!(p.body.contains("Clés de alice"), "{}", p.body);
    assert!(p.body.contains("cet appareil seulement"));
    assert!(p.body.contains("Retirer"));
    b.accept_language = None;

    // Without the CSRF token: refused, the key stays.
    let p = b
        .post(
            "/helpdesk/webauthn/remove",
            &[("username", "alice"), ("credential_id", &id)],
        )
        .await;
    assert_ne!(p.status, StatusCode::SEE_OTHER);
    let alice = kit
        .app
        .store
        .user_by_name("alice")
        .expect("read")
        .expect("alice");
    assert_eq!(flow::list(&kit.app, alice.id).expect("list").len(), 1);

    // With it: removed, audited, and the page says so.
    let csrf = b.get("/helpdesk/webauthn?user=alice").await.csrf();
    let p = b
        .post(
            "/helpdesk/webauthn/remove",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("credential_id", &id),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/helpdesk/webauthn?user=alice&done=removed");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The key was removed."));
    assert!(
        p.body
            .contains("This account has no security key or passkey.")
    );
    assert!(flow::list(&kit.app, alice.id).expect("list").is_empty());
    let trail = kit
        .app
        .store
        .list_audit(&crate::model::AuditFilter::default())
        .expect("audit");
    assert!(trail.iter().any(|e| e.action == "webauthn.staff_delete"
        && e.actor.as_deref() == Some("hd")
        && e.target.as_deref() == Some("alice")));

    // Removing it again: not found, said on the page.
    let csrf = b.get("/helpdesk/webauthn?user=alice").await.csrf();
    let p = b
        .post(
            "/helpdesk/webauthn/remove",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("credential_id", &id),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);

    // Helpdesk staff look after ordinary accounts only, and not their own.
    register(&kit, "root");
    let p = b.get("/helpdesk/webauthn?user=root").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!p.body.contains("Badge bleu"));
    let p = b.get("/helpdesk/webauthn?user=hd").await;
    assert_ne!(p.status, StatusCode::OK);
    let p = b.get("/helpdesk/webauthn?user=nobody").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);

    // A plain user cannot reach the page.
    let mut u = Browser::new(&kit);
    u.sign_in("alice", PW).await;
    let p = u.get("/helpdesk/webauthn?user=alice").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
}
