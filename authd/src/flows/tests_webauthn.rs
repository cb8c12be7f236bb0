//! Flow tests of security keys and passkeys (issue 10), with software authenticators from
//! `webauthn-authenticator-rs` (`SoftPasskey`, `SoftToken`): they sign exactly as a key does,
//! with the origin and RP id we give them. Neither keeps resident credentials, so for a
//! discoverable sign-in the test plays the browser's part of knowing the credential id and
//! user handle (the signature never covers the handle, which is why the server checks it).
//! `new(true)` makes them report user verification when asked (they have no PIN pad); asked
//! for none, they report presence only.

use super::login::{self, LoginStep, MfaMethod};
use super::testkit::*;
use super::webauthn as flow;
use crate::Error;
use crate::credentials::webauthn::{Refusal, b64};
use crate::model::ClientInfo;
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{Url, WebauthnAuthenticator};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

const PW: &str = "tortue-lavande-9";
const ORIGIN: &str = "https://localhost:8443";

/// A registered key: the credential id and user handle a browser would keep.
struct Reg {
    id: String,
    handle: Vec<u8>,
}

fn url(o: &str) -> Url {
    Url::parse(o).expect("url")
}

fn refusal(e: Error) -> Refusal {
    match e {
        Error::Webauthn(r) => r,
        other => panic!("expected a WebAuthn refusal, got {other:?}"),
    }
}

fn register(kit: &Kit, who: &login::Authenticated, dev: &mut dyn AuthenticatorBackend) -> Reg {
    let now = kit.clock_now();
    let s = flow::register_start(&kit.app, who, "my key", now).expect("start");
    let ccr: CreationChallengeResponse = serde_json::from_value(s.options.clone()).expect("ccr");
    assert_eq!(ccr.public_key.rp.id, "localhost");
    let handle = ccr.public_key.user.id.to_vec();
    let reg = dev
        .do_registration(url(ORIGIN), ccr)
        .expect("authenticator registers");
    let v = serde_json::to_value(&reg).expect("json");
    let (id, label) =
        flow::register_finish(&kit.app, who, &s.id, &v, &client(), now).expect("finish");
    assert_eq!(label, "my key");
    Reg { id, handle }
}

/// The authenticator's answer to `options`, as a browser would send it. With `reg`, the
/// answer names that credential and user handle (a discoverable passkey's answer).
fn answer(
    dev: &mut dyn AuthenticatorBackend,
    options: &Value,
    origin: &str,
    reg: Option<&Reg>,
    tweak: impl FnOnce(&mut Value),
) -> Value {
    let mut o = options.clone();
    if let Some(r) = reg {
        o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": r.id }]);
    }
    tweak(&mut o);
    let rcr: RequestChallengeResponse = serde_json::from_value(o).expect("rcr");
    let resp = dev
        .do_authentication(url(origin), rcr)
        .expect("authenticator signs");
    let mut v = serde_json::to_value(&resp).expect("json");
    if let Some(r) = reg {
        v["response"]["userHandle"] = json!(b64(&r.handle));
    }
    v
}

fn session_of(step: LoginStep) -> String {
    match step {
        LoginStep::Session(s) => s.token.to_string(),
        other => panic!("expected a session, got {other:?}"),
    }
}

fn from(addr: &str) -> ClientInfo {
    ClientInfo {
        address: addr.into(),
        user_agent: "test".into(),
        ip: addr.parse().ok(),
        ..Default::default()
    }
}

#[test]
fn passkey_registers_lists_and_signs_in_without_password() {
    let kit = Kit::new();
    kit.user("alice", PW, &["user"]);
    let who = kit.login("alice", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let keys = flow::list(&kit.app, who.user.id).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].credential_id, reg.id);
    assert_eq!(keys[0].label, "my key");
    assert!(keys[0].last_used_at.is_none());

    let now = kit.clock_now();
    let s = flow::passkey_start(&kit.app, now).unwrap();
    assert!(s.options["publicKey"]["challenge"].is_string());
    assert_eq!(s.options["publicKey"]["userVerification"], "required");
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&reg), |_| {});
    let token = session_of(flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap());
    let me = login::authenticate(&kit.app, &token, now).unwrap();
    assert_eq!(me.user.username, "alice");
    assert_eq!(me.session.method, "passkey");
    let keys = flow::list(&kit.app, who.user.id).unwrap();
    assert!(keys[0].last_used_at.is_some());
    // The same answer again: the ceremony was consumed.
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyUsed);
}

#[test]
fn key_as_second_factor_after_password() {
    let kit = Kit::new();
    kit.user("bob", PW, &["user"]);
    let who = kit.login("bob", PW);
    let mut dev = SoftPasskey::new(true);
    register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let step = login::password_step(&kit.app, "bob", PW, &client(), now).unwrap();
    let LoginStep::MfaRequired { challenge, methods } = step else {
        panic!("expected mfa");
    };
    assert_eq!(methods, vec![MfaMethod::Webauthn]);
    let s = flow::second_factor_start(&kit.app, &challenge, now).unwrap();
    assert_eq!(
        s.options["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let a = answer(&mut dev, &s.options, ORIGIN, None, |_| {});
    let token =
        session_of(flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now).unwrap());
    let me = login::authenticate(&kit.app, &token, now).unwrap();
    assert_eq!(me.session.method, "password+webauthn");
    // The challenge went with it.
    let e = flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now).unwrap_err();
    assert!(matches!(e, Error::ChallengeExpired), "{e:?}");
}

#[test]
fn wrong_origin_and_wrong_rp_id_are_refused_each_with_its_code() {
    let kit = Kit::new();
    kit.user("carol", PW, &["user"]);
    let who = kit.login("carol", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();

    let s = flow::passkey_start(&kit.app, now).unwrap();
    let a = answer(
        &mut dev,
        &s.options,
        "https://evil.localhost:8443",
        Some(&reg),
        |_| {},
    );
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::OriginMismatch);

    // A client that does not check the RP id (the low-level interface) signs for another.
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let mut o = s.options.clone();
    o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": reg.id }]);
    o["publicKey"]["rpId"] = json!("example.org");
    let rcr: RequestChallengeResponse = serde_json::from_value(o).unwrap();
    let resp = AuthenticatorBackend::perform_auth(&mut dev, url(ORIGIN), rcr.public_key, 60_000)
        .expect("signs");
    let mut a = serde_json::to_value(&resp).unwrap();
    a["response"]["userHandle"] = json!(b64(&reg.handle));
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::RpIdMismatch);
}

#[test]
fn replayed_assertion_and_used_or_expired_ceremonies_are_refused() {
    let kit = Kit::new();
    kit.user("dave", PW, &["user"]);
    let who = kit.login("dave", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let s1 = flow::passkey_start(&kit.app, now).unwrap();
    let a1 = answer(&mut dev, &s1.options, ORIGIN, Some(&reg), |_| {});
    flow::passkey_finish(&kit.app, &s1.id, &a1, &client(), now).unwrap();
    // Replayed on a fresh ceremony: it answers another challenge.
    let s2 = flow::passkey_start(&kit.app, now).unwrap();
    let e = flow::passkey_finish(&kit.app, &s2.id, &a1, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::ChallengeMismatch);
    // On its own ceremony again: used.
    let e = flow::passkey_finish(&kit.app, &s1.id, &a1, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyUsed);
    // A ceremony past its 5 minutes (injected clock).
    let s3 = flow::passkey_start(&kit.app, now).unwrap();
    let a3 = answer(&mut dev, &s3.options, ORIGIN, Some(&reg), |_| {});
    kit.clock.set(now + 300);
    let e = flow::passkey_finish(&kit.app, &s3.id, &a3, &client(), now + 300).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyExpired);
    // An unknown ceremony id.
    let e = flow::passkey_finish(&kit.app, "nope", &a3, &client(), now + 300).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyExpired);
}

#[test]
fn ceremonies_survive_a_restart_and_stay_single_use_after_it() {
    let kit = Kit::new();
    kit.user("erin", PW, &["user"]);
    let who = kit.login("erin", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let used = flow::passkey_start(&kit.app, now).unwrap();
    let au = answer(&mut dev, &used.options, ORIGIN, Some(&reg), |_| {});
    flow::passkey_finish(&kit.app, &used.id, &au, &client(), now).unwrap();
    let late = flow::passkey_start(&kit.app, now).unwrap();
    let kit = kit.restart();
    // Started before the restart, finished after it.
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&reg), |_| {});
    session_of(flow::passkey_finish(&kit.app, &s.id, &a, &client(), now + 10).unwrap());
    // Used before the restart: still used.
    let e = flow::passkey_finish(&kit.app, &used.id, &au, &client(), now + 10).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyUsed);
    // Expired across the restart.
    let al = answer(&mut dev, &late.options, ORIGIN, Some(&reg), |_| {});
    let e = flow::passkey_finish(&kit.app, &late.id, &al, &client(), now + 301).unwrap_err();
    assert_eq!(refusal(e), Refusal::CeremonyExpired);
}

#[test]
fn a_key_of_user_a_is_refused_for_user_b() {
    let kit = Kit::new();
    kit.user("alice", PW, &["user"]);
    kit.user("bob", PW, &["user"]);
    let alice = kit.login("alice", PW);
    let bob = kit.login("bob", PW);
    let mut dev_a = SoftPasskey::new(true);
    let mut dev_b = SoftPasskey::new(true);
    let reg_a = register(&kit, &alice, &mut dev_a);
    let reg_b = register(&kit, &bob, &mut dev_b);
    let now = kit.clock_now();
    // Second factor: bob's password, alice's key.
    let LoginStep::MfaRequired { challenge, .. } =
        login::password_step(&kit.app, "bob", PW, &client(), now).unwrap()
    else {
        panic!("mfa");
    };
    let s = flow::second_factor_start(&kit.app, &challenge, now).unwrap();
    let a = answer(&mut dev_a, &s.options, ORIGIN, None, |o| {
        o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": reg_a.id }]);
    });
    let e = flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::CredentialNotAllowed);
    // Passwordless: alice's passkey claiming bob's user handle.
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let forged = Reg {
        id: reg_a.id.clone(),
        handle: reg_b.handle.clone(),
    };
    let a = answer(&mut dev_a, &s.options, ORIGIN, Some(&forged), |_| {});
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::CredentialNotAllowed);
}

#[test]
fn passkey_without_user_verification_is_refused() {
    let kit = Kit::new();
    kit.user("frank", PW, &["user"]);
    let who = kit.login("frank", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let s = flow::passkey_start(&kit.app, now).unwrap();
    // The key is not asked to verify the user, so it answers with presence only.
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&reg), |o| {
        o["publicKey"]["userVerification"] = json!("discouraged");
    });
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::UserNotVerified);
}

fn cloned_counter_case(policy: &str) -> (Kit, Result<LoginStep, Error>) {
    let kit = Kit::with(|c| c.webauthn.cloned_counter = policy.into());
    kit.user("gina", PW, &["user"]);
    let who = kit.login("gina", PW);
    let (mut original, _cert) = SoftToken::new(true).expect("soft token");
    let reg = register(&kit, &who, &mut original);
    // A copy of the key, taken now.
    let mut clone = SoftToken::from_cbor(&original.to_cbor().expect("cbor")).expect("clone");
    let now = kit.clock_now();
    for _ in 0..2 {
        let s = flow::passkey_start(&kit.app, now).unwrap();
        let a = answer(&mut original, &s.options, ORIGIN, Some(&reg), |_| {});
        flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).expect("original signs in");
    }
    // The copy's counter is behind the original's.
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let a = answer(&mut clone, &s.options, ORIGIN, Some(&reg), |_| {});
    let r = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now);
    (kit, r)
}

#[test]
fn counter_that_went_backwards_is_refused_marked_and_audited() {
    let (kit, r) = cloned_counter_case("refuse");
    assert_eq!(refusal(r.unwrap_err()), Refusal::CounterRegressed);
    let uid = kit.app.store.user_by_name("gina").unwrap().unwrap().id;
    assert!(flow::list(&kit.app, uid).unwrap()[0].possibly_cloned);
    let trail = kit
        .app
        .store
        .list_audit(&crate::model::AuditFilter::default())
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.detail["reason"] == "webauthn_counter_regressed"),
        "audited"
    );
    // Policy "accept": the sign-in goes through, the key is still marked.
    let (kit, r) = cloned_counter_case("accept");
    session_of(r.expect("accepted by policy"));
    let uid = kit.app.store.user_by_name("gina").unwrap().unwrap().id;
    assert!(flow::list(&kit.app, uid).unwrap()[0].possibly_cloned);
}

#[test]
fn the_same_assertion_raced_on_many_threads_is_accepted_exactly_once() {
    let kit = Kit::new();
    kit.user("hal", PW, &["user"]);
    let who = kit.login("hal", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&reg), |_| {});
    let results: Vec<Result<LoginStep, Error>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let (app, id, a) = (&kit.app, s.id.as_str(), &a);
                sc.spawn(move || {
                    flow::passkey_finish(app, id, a, &from(&format!("198.51.100.{i}")), now)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one accepted");
    for r in results.into_iter().filter_map(Result::err) {
        assert_eq!(refusal(r), Refusal::CeremonyUsed);
    }
}

#[test]
fn passwordless_refused_for_a_denied_role_but_key_still_works_as_second_factor() {
    let kit = Kit::with(|c| c.webauthn.passwordless_denied_roles = "admin".into());
    kit.user("root", PW, &["admin"]);
    let who = kit.login("root", PW);
    let mut dev = SoftPasskey::new(true);
    let reg = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    let s = flow::passkey_start(&kit.app, now).unwrap();
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&reg), |_| {});
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::PasswordlessDenied);
    let LoginStep::MfaRequired { challenge, methods } =
        login::password_step(&kit.app, "root", PW, &client(), now).unwrap()
    else {
        panic!("mfa");
    };
    assert!(methods.contains(&MfaMethod::Webauthn));
    let s = flow::second_factor_start(&kit.app, &challenge, now).unwrap();
    let a = answer(&mut dev, &s.options, ORIGIN, None, |_| {});
    session_of(flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now).unwrap());
}

#[test]
fn removing_a_key_needs_a_recent_sign_in_and_staff_can_remove_one() {
    let kit = Kit::new();
    kit.user("ivy", PW, &["user"]);
    kit.user("desk", PW, &["helpdesk"]);
    let who = kit.login("ivy", PW);
    let mut dev = SoftPasskey::new(true);
    let r1 = register(&kit, &who, &mut dev);
    let r2 = register(&kit, &who, &mut dev);
    let now = kit.clock_now();
    kit.clock.set(now + 301);
    let e = flow::delete(&kit.app, &who, &r1.id, &client(), now + 301).unwrap_err();
    assert_eq!(refusal(e), Refusal::ReauthenticationRequired);
    // A fresh sign-in (with the passkey: the password now asks for the key too).
    let s = flow::passkey_start(&kit.app, now + 301).unwrap();
    let a = answer(&mut dev, &s.options, ORIGIN, Some(&r1), |_| {});
    let token =
        session_of(flow::passkey_finish(&kit.app, &s.id, &a, &client(), now + 301).unwrap());
    let fresh = login::authenticate(&kit.app, &token, now + 301).unwrap();
    let e = flow::delete(&kit.app, &fresh, "AAAA", &client(), now + 301).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
    flow::delete(&kit.app, &fresh, &r1.id, &client(), now + 301).unwrap();
    assert_eq!(flow::list(&kit.app, who.user.id).unwrap().len(), 1);
    // Helpdesk lists and removes the other (a lost key), audited.
    let desk = kit.login("desk", PW);
    let keys = flow::staff_list(&kit.app, &desk, "ivy").unwrap();
    assert_eq!(keys[0].credential_id, r2.id);
    flow::staff_delete(&kit.app, &desk, "ivy", &r2.id, &client(), now + 301).unwrap();
    assert!(flow::list(&kit.app, who.user.id).unwrap().is_empty());
    let trail = kit
        .app
        .store
        .list_audit(&crate::model::AuditFilter::default())
        .unwrap();
    assert!(trail.iter().any(|e| e.action == "webauthn.staff_delete"
        && e.actor.as_deref() == Some("desk")
        && e.target.as_deref() == Some("ivy")));
    // A plain user cannot.
    let e = flow::staff_list(&kit.app, &fresh, "desk").unwrap_err();
    assert!(matches!(e, Error::Forbidden));
}

fn attested_kit(allowed: &str) -> Kit {
    let allowed = allowed.to_owned();
    Kit::with(move |c| {
        c.webauthn.attestation_roles = "admin".into();
        c.webauthn.attestation_aaguids = allowed;
    })
}

#[test]
fn attestation_policy_accepts_only_listed_models_for_the_role() {
    let (mut tok, _) = SoftToken::new(true).expect("token");
    // Which model the soft token announces: register it where any model goes.
    let kit = attested_kit("cb69481e-8ff7-4039-93ec-0a2729a154a8");
    kit.user("plain", PW, &["user"]);
    let plain = kit.login("plain", PW);
    register(&kit, &plain, &mut tok);
    let model = flow::list(&kit.app, plain.user.id).unwrap()[0]
        .aaguid
        .clone()
        .expect("the soft token announces its AAGUID");
    // An admin with a model not on the list: refused.
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let now = kit.clock_now();
    let s = flow::register_start(&kit.app, &root, "k", now).unwrap();
    assert_eq!(s.options["publicKey"]["attestation"], "direct");
    let ccr: CreationChallengeResponse = serde_json::from_value(s.options.clone()).unwrap();
    let reg = tok.do_registration(url(ORIGIN), ccr).unwrap();
    let v = serde_json::to_value(&reg).unwrap();
    let e = flow::register_finish(&kit.app, &root, &s.id, &v, &client(), now).unwrap_err();
    assert_eq!(refusal(e), Refusal::ModelNotAllowed);
    assert!(flow::list(&kit.app, root.user.id).unwrap().is_empty());
    // The same model listed: accepted.
    let kit = attested_kit(&model);
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    register(&kit, &root, &mut tok);
}
