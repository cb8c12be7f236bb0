//! Flow tests of the attestation policy with a certificate chain (attested passkeys and
//! security keys against `webauthn.attestation_ca_files`) and of security keys without user
//! verification as a second factor only.
//!
//! The authenticators are `webauthn-authenticator-rs`'s `SoftToken`s: each makes its own
//! attestation CA (a self-made one, as a manufacturer's) and signs a packed attestation with a
//! certificate that CA issued, announcing the soft token's AAGUID. Two tokens therefore
//! announce the same model under different CAs — the case an AAGUID list alone cannot tell.
//! `SoftToken::new(false)` cannot verify its user (no PIN pad): asked for verification it
//! refuses, otherwise it reports presence only.

use super::login::{self, LoginStep, MfaMethod};
use super::testkit::*;
use super::webauthn as flow;
use crate::Error;
use crate::credentials::webauthn::{KeyKind, Refusal, b64};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::{AAGUID, SoftToken};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

const PW: &str = "tortue-lavande-9";
const ORIGIN: &str = "https://localhost:8443";

fn url() -> Url {
    Url::parse(ORIGIN).expect("url")
}

fn refusal(e: Error) -> Refusal {
    match e {
        Error::Webauthn(r) => r,
        other => panic!("expected a WebAuthn refusal, got {other:?}"),
    }
}

/// A soft token (that verifies its user when asked) and its attestation CA as PEM.
fn token(uv: bool) -> (SoftToken, String) {
    let (tok, _) = SoftToken::new(uv).expect("soft token");
    let v = serde_json::to_value(&tok).expect("token json");
    let der = BASE64URL_NOPAD
        .decode(v["ca_cert"].as_str().expect("ca_cert").as_bytes())
        .expect("der");
    let body = BASE64.encode(&der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("ascii"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    (tok, pem)
}

/// A kit whose admins may register only keys attested by the CAs in `pems`, of models
/// `aaguids` (empty: any model of those CAs).
fn ca_kit(pems: &[&str], aaguids: &str) -> (Kit, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let files: Vec<String> = pems
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            let p = dir.path().join(format!("ca{i}.pem"));
            std::fs::write(&p, pem).expect("write CA");
            p.display().to_string()
        })
        .collect();
    let aaguids = aaguids.to_owned();
    let kit = Kit::with(move |c| {
        c.webauthn.attestation_roles = "admin".into();
        c.webauthn.attestation_ca_files = files.join(",");
        c.webauthn.attestation_aaguids = aaguids;
    });
    (kit, dir)
}

/// Start, let `dev` answer, finish; the credential id or the refusal.
fn try_register(
    kit: &Kit,
    who: &login::Authenticated,
    dev: &mut dyn AuthenticatorBackend,
    kind: KeyKind,
) -> (Result<String, Error>, Vec<u8>) {
    let now = kit.clock_now();
    let s = flow::register_start_kind(&kit.app, who, "key", kind, now).expect("start");
    let ccr: CreationChallengeResponse = serde_json::from_value(s.options.clone()).expect("ccr");
    let handle = ccr.public_key.user.id.to_vec();
    let reg = register_with(dev, ccr).expect("authenticator registers");
    let v = serde_json::to_value(&reg).expect("json");
    (
        flow::register_finish(&kit.app, who, &s.id, &v, &client(), now).map(|(id, _)| id),
        handle,
    )
}

/// The authenticator's registration answer, as the browser passes it on.
fn register_with(
    dev: &mut dyn AuthenticatorBackend,
    ccr: CreationChallengeResponse,
) -> Result<webauthn_rs::prelude::RegisterPublicKeyCredential, String> {
    dev.perform_register(url(), ccr.public_key, 60_000)
        .map_err(|e| format!("{e:?}"))
}

/// The key's answer to `options` (edited by `tweak` as a browser's choice would).
fn answer(
    dev: &mut dyn AuthenticatorBackend,
    options: &Value,
    discoverable: Option<(&str, &[u8])>,
    tweak: impl FnOnce(&mut Value),
) -> Value {
    let mut o = options.clone();
    if let Some((id, _)) = discoverable {
        o["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": id }]);
    }
    tweak(&mut o);
    let rcr: RequestChallengeResponse = serde_json::from_value(o).expect("rcr");
    let resp = dev
        .perform_auth(url(), rcr.public_key, 60_000)
        .expect("authenticator signs");
    let mut v = serde_json::to_value(&resp).expect("json");
    if let Some((_, handle)) = discoverable {
        v["response"]["userHandle"] = json!(b64(handle));
    }
    v
}

#[test]
fn attested_key_is_accepted_when_its_ca_is_listed() {
    let (mut tok, pem) = token(true);
    let (kit, _cas) = ca_kit(&[&pem], &AAGUID.to_string());
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let now = kit.clock_now();
    let s = flow::register_start(&kit.app, &root, "k", now).expect("start");
    assert_eq!(s.options["publicKey"]["attestation"], "direct");
    let (r, handle) = try_register(&kit, &root, &mut tok, KeyKind::Passkey);
    let id = r.expect("attested by a listed CA, listed model");
    let keys = flow::list(&kit.app, root.user.id).expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].aaguid.as_deref(), Some(AAGUID.to_string().as_str()));
    assert_eq!(keys[0].kind, "passkey");
    // It signs in without a password like any passkey.
    let s = flow::passkey_start(&kit.app, now).expect("start");
    let a = answer(&mut tok, &s.options, Some((&id, &handle)), |_| {});
    let step = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).expect("signs in");
    assert!(matches!(step, LoginStep::Session(_)), "{step:?}");
    // As a security key (second factor) under the same CA policy: accepted too.
    let (mut tok2, pem2) = token(false);
    let (kit, _cas) = ca_kit(&[&pem, &pem2], "");
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let (r, _) = try_register(&kit, &root, &mut tok2, KeyKind::SecurityKey);
    r.expect("any model of a listed CA");
}

#[test]
fn attested_key_is_refused_when_its_ca_is_not_listed_even_announcing_a_listed_model() {
    let (mut stranger, _) = token(true);
    let (_, listed_pem) = token(true);
    // The listed model is the very AAGUID the stranger announces; its CA is another.
    let (kit, _cas) = ca_kit(&[&listed_pem], &AAGUID.to_string());
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let (r, _) = try_register(&kit, &root, &mut stranger, KeyKind::Passkey);
    assert_eq!(
        refusal(r.expect_err("chain ends at an unlisted CA")),
        Refusal::AttestationUntrusted
    );
    let (r, _) = try_register(&kit, &root, &mut stranger, KeyKind::SecurityKey);
    assert_eq!(refusal(r.expect_err("same")), Refusal::AttestationUntrusted);
    // A passkey with no attestation at all (the soft passkey sends none): refused.
    let mut none = SoftPasskey::new(true);
    let (r, _) = try_register(&kit, &root, &mut none, KeyKind::Passkey);
    assert_eq!(
        refusal(r.expect_err("unattested")),
        Refusal::AttestationUntrusted
    );
    assert!(flow::list(&kit.app, root.user.id).expect("list").is_empty());
    // Audited with the reason.
    let trail = kit
        .app
        .store
        .list_audit(&crate::model::AuditFilter::default())
        .expect("audit");
    assert!(trail.iter().any(|e| e.action == "webauthn.register"
        && e.detail["reason"] == "webauthn_attestation_untrusted"));
    // A user outside the policy's roles registers the same key freely.
    kit.user("plain", PW, &["user"]);
    let plain = kit.login("plain", PW);
    let (r, _) = try_register(&kit, &plain, &mut stranger, KeyKind::Passkey);
    r.expect("no policy for the user role");
}

#[test]
fn listed_ca_but_unlisted_model_is_refused_as_model_not_allowed() {
    let (mut tok, pem) = token(true);
    let (kit, _cas) = ca_kit(&[&pem], "cb69481e-8ff7-4039-93ec-0a2729a154a8");
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let (r, _) = try_register(&kit, &root, &mut tok, KeyKind::Passkey);
    assert_eq!(refusal(r.expect_err("model")), Refusal::ModelNotAllowed);
}

#[test]
fn a_bad_ca_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("junk.pem");
    std::fs::write(&p, "not a certificate").expect("write");
    let store =
        std::sync::Arc::new(crate::store::sqlite::SqliteStore::open(dir.path()).expect("store"));
    let key = crate::secrets::MasterKey::load_or_create(dir.path()).expect("key");
    let mut cfg = sesame_config::Config::danger_test_defaults();
    cfg.webauthn.attestation_roles = "admin".into();
    cfg.webauthn.attestation_ca_files = p.display().to_string();
    let e = crate::app::Authd::new(
        cfg,
        store,
        key,
        std::sync::Arc::new(crate::clock::ManualClock::new(T0)),
    )
    .expect_err("junk CA file");
    assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
}

#[test]
fn security_key_without_user_verification_is_a_second_factor_only() {
    let kit = Kit::new();
    kit.user("sam", PW, &["user"]);
    let who = kit.login("sam", PW);
    let (mut key, _) = token(false);
    // As a passkey it cannot register: the key cannot verify its user.
    let now = kit.clock_now();
    let s = flow::register_start(&kit.app, &who, "k", now).expect("start");
    let ccr: CreationChallengeResponse = serde_json::from_value(s.options).expect("ccr");
    assert!(
        register_with(&mut key, ccr).is_err(),
        "a passkey registration requires user verification"
    );
    // As a security key: user verification preferred, not required.
    let s =
        flow::register_start_kind(&kit.app, &who, "k", KeyKind::SecurityKey, now).expect("start");
    assert_eq!(
        s.options["publicKey"]["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    let (r, handle) = try_register(&kit, &who, &mut key, KeyKind::SecurityKey);
    let id = r.expect("registers without user verification");
    let keys = flow::list(&kit.app, who.user.id).expect("list");
    assert_eq!(keys[0].kind, "security_key");

    // After the password it is the second factor.
    let step = login::password_step(&kit.app, "sam", PW, &client(), now).expect("password");
    let LoginStep::MfaRequired { challenge, methods } = step else {
        panic!("expected mfa");
    };
    assert!(methods.contains(&MfaMethod::Webauthn));
    let s = flow::second_factor_start(&kit.app, &challenge, now).expect("start");
    assert_eq!(s.options["publicKey"]["userVerification"], "preferred");
    let a = answer(&mut key, &s.options, None, |_| {});
    let step = flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now)
        .expect("second factor");
    let LoginStep::Session(sess) = step else {
        panic!("expected a session");
    };
    let me = login::authenticate(&kit.app, &sess.token, now).expect("session");
    assert_eq!(me.session.method, "password+webauthn");

    // Passwordless: refused with its own code, whatever the key's answer says.
    let s = flow::passkey_start(&kit.app, now).expect("start");
    let a = answer(&mut key, &s.options, Some((&id, &handle)), |o| {
        o["publicKey"]["userVerification"] = json!("discouraged");
    });
    let e = flow::passkey_finish(&kit.app, &s.id, &a, &client(), now).expect_err("refused");
    assert_eq!(refusal(e), Refusal::SecondFactorOnly);
    assert_eq!(
        Refusal::SecondFactorOnly.code(),
        "webauthn_second_factor_only"
    );
}

#[test]
fn a_passkey_still_needs_user_verification_beside_a_security_key() {
    let kit = Kit::new();
    kit.user("mix", PW, &["user"]);
    let who = kit.login("mix", PW);
    // A key that verifies its user when asked, registered as a passkey…
    let (mut pk, _) = token(true);
    let (r, _) = try_register(&kit, &who, &mut pk, KeyKind::Passkey);
    r.expect("passkey");
    // …and a security key: the second-factor ceremony prefers verification only.
    let (mut sk, _) = token(false);
    let (r, _) = try_register(&kit, &who, &mut sk, KeyKind::SecurityKey);
    r.expect("security key");
    let now = kit.clock_now();
    let step = login::password_step(&kit.app, "mix", PW, &client(), now).expect("password");
    let LoginStep::MfaRequired { challenge, .. } = step else {
        panic!("expected mfa");
    };
    let s = flow::second_factor_start(&kit.app, &challenge, now).expect("start");
    assert_eq!(s.options["publicKey"]["userVerification"], "preferred");
    // The passkey answers without verifying (asked "preferred", the soft token does not):
    // webauthn-rs remembers it was registered with verification required.
    let a = answer(&mut pk, &s.options, None, |_| {});
    let e = flow::second_factor_finish(&kit.app, &challenge, &a, &client(), now)
        .expect_err("passkey without UV");
    assert_eq!(refusal(e), Refusal::UserNotVerified);
}
