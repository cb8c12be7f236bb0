//! The pages in a real browser: headless Chromium driven through WebDriver (`chromedriver`),
//! against a real authd over TLS whose certificate Chromium trusts by its key
//! (`--ignore-certificate-errors-spki-list`), so the page is a secure context as WebAuthn
//! requires. Passkeys come from Chromium's own virtual authenticator (CTAP2, resident keys,
//! user verification), not from a mock. Each test saves screenshots under
//! `target/browser-screenshots/` as artefacts, in English and in French.
//!
//! These tests need Debian's `chromium` and `chromium-driver` (`scripts/setup` installs them);
//! without them they fail, saying so.

mod helpdesk_keys;
mod webdriver;

use crate::support::{self, Server};
use rcgen::PublicKeyData;
use serde_json::json;
use sha2::Digest;
use webdriver::Browser;

const PW: &str = "lavender-tortoise-42";

/// base64(SHA-256(SPKI)) of the server's generated key: what Chromium is told to trust.
fn spki_pin(server: &Server) -> String {
    let pem = std::fs::read_to_string(server.dir.path().join("data/tls/key.pem"))
        .expect("the server's generated key");
    let key = rcgen::KeyPair::from_pem(&pem).expect("key");
    data_encoding::BASE64.encode(&sha2::Sha256::digest(key.subject_public_key_info()))
}

/// A server, an account `name` (role user) with password [`PW`], and a browser.
async fn setup(name: &str) -> (Server, Browser, String) {
    let server = Server::start().await;
    let c = server.client();
    let admin = support::admin_session(&c, "a much longer root passphrase").await;
    let r = c
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({ "username": name, "password": PW, "roles": ["user"], "must_change_password": false }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let browser = Browser::start(&spki_pin(&server)).await;
    let base = format!("https://localhost:{}", server.addr.port());
    (server, browser, base)
}

async fn password_sign_in(b: &Browser, base: &str, lang: &str, name: &str) {
    b.go(&format!("{base}/login?lang={lang}")).await;
    b.type_in("#username", name).await;
    b.type_in("#password", PW).await;
    b.click("form[action='/login'] button[type=submit]").await;
}

/// The method of the current session, from the account page's sessions table.
async fn current_method(b: &Browser) -> String {
    b.script("var r = document.querySelector('tr.current'); return r ? r.cells[4].innerText : '';")
        .await
        .as_str()
        .unwrap_or("")
        .trim()
        .to_owned()
}

async fn sign_out(b: &Browser) {
    b.click("header form[action='/logout'] button").await;
    b.wait_path("/login").await;
}

async fn passkey_round(lang: &str, expect_title: &str, expect_button: &str) {
    let name = format!("pat{lang}");
    let (server, b, base) = setup(&name).await;
    let auth = b.add_virtual_authenticator().await;
    password_sign_in(&b, &base, lang, &name).await;
    b.wait_path("/account").await;
    assert!(
        b.text().await.contains(expect_title),
        "section title in {lang}"
    );
    // Register a passkey on the account page.
    b.type_in("#webauthn-label", "laptop").await;
    b.click("#webauthn-add").await;
    b.find("#webauthn-list").await;
    let listed = b.text_of("#webauthn-list").await;
    assert!(listed.contains("laptop"), "{listed}");
    let creds = b.virtual_credentials(&auth).await;
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(
        creds[0]["isResidentCredential"], true,
        "a discoverable passkey"
    );
    b.screenshot(&format!("passkey-registered-{lang}")).await;
    // Sign out, then sign in with the passkey alone.
    sign_out(&b).await;
    let button = b.text_of("#passkey-sign-in").await;
    assert_eq!(button, expect_button);
    b.screenshot(&format!("passkey-login-page-{lang}")).await;
    b.click("#passkey-sign-in").await;
    b.wait_path("/account").await;
    let page = b.text().await;
    assert!(page.contains(&name), "signed in as {name}: {page}");
    assert_eq!(current_method(&b).await, "passkey");
    b.screenshot(&format!("passkey-signed-in-{lang}")).await;
    drop(b);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_register_sign_out_sign_in_en() {
    passkey_round("en", "Security keys and passkeys", "Sign in with a passkey").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_register_sign_out_sign_in_fr() {
    passkey_round(
        "fr",
        "Clés de sécurité et passkeys",
        "Se connecter avec une passkey",
    )
    .await;
}

async fn totp_round(lang: &str, expect_enrol_word: &str) {
    let name = format!("tom{lang}");
    let (server, b, base) = setup(&name).await;
    password_sign_in(&b, &base, lang, &name).await;
    b.wait_path("/account").await;
    // Enrol an authenticator app through the pages: QR code and manual key shown.
    b.type_in("#label", "phone").await;
    b.click("form[action='/account/totp'] button[type=submit]")
        .await;
    b.find("figure.qr svg").await;
    let secret = b.text_of("code.secret").await;
    assert!(
        secret.replace(' ', "").len() >= 16,
        "manual key shown: {secret}"
    );
    assert!(b.text().await.contains(expect_enrol_word), "page in {lang}");
    b.screenshot(&format!("totp-enrol-{lang}")).await;
    let now = {
        use authd::clock::Clock;
        server.clock.now()
    };
    b.type_in("#code", &support::totp_code(&secret, now)).await;
    b.click("form[action$='/confirm'] button[type=submit]")
        .await;
    b.wait_path("/account").await;
    b.screenshot(&format!("totp-confirmed-{lang}")).await;
    sign_out(&b).await;
    // Password, then a code of a later step.
    server.clock.advance(30);
    password_sign_in(&b, &base, lang, &name).await;
    b.wait_path("/login/mfa").await;
    b.screenshot(&format!("totp-mfa-{lang}")).await;
    b.type_in("#totp-code", &support::totp_code(&secret, now + 30))
        .await;
    b.click("form[action='/login/mfa'] button[type=submit]")
        .await;
    b.wait_path("/account").await;
    assert_eq!(current_method(&b).await, "password+totp");
    b.screenshot(&format!("totp-signed-in-{lang}")).await;
    drop(b);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrol_and_sign_in_en() {
    totp_round("en", "Scan this QR code").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrol_and_sign_in_fr() {
    totp_round("fr", "Scannez ce QR code").await;
}
