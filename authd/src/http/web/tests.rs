//! Page tests: login in both languages, CSRF refusals, the full flow with an authenticator
//! app, backup codes, forced password change, administration, escaping. Every HTML answer is
//! also checked against the CSP by [`Browser`].

use super::test_browser::{Browser, between, code_now};
use crate::flows::account::{self, TotpOptions};
use crate::flows::admin::{self, CreateUser};
use crate::flows::login::{self, LoginStep, MfaMethod};
use crate::flows::testkit::{Kit, client};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sesame_hardware::secret::OtpSecret;

const PW: &str = "tortue-lavande-9";

#[tokio::test]
async fn login_page_speaks_french_or_english() {
    let kit = Kit::new();
    let mut b = Browser::new(&kit);
    let p = b.get("/login").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("<html lang=\"en\">"));
    assert!(p.body.contains("Sign in"));
    assert!(p.body.contains("autocomplete=\"current-password\""));
    assert!(p.body.contains("autocomplete=\"username\""));
    assert!(p.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(p.set_cookie("sesame_pre").is_some());

    let mut fr = Browser::new(&kit);
    fr.accept_language = Some("fr-FR,fr;q=0.9");
    let p = fr.get("/login").await;
    assert!(p.body.contains("<html lang=\"fr\">"), "{}", p.body);
    assert!(p.body.contains("Connexion"));
    assert!(p.body.contains("Nom d’utilisateur"));

    // `?lang=fr` wins over the header and is remembered in a cookie.
    let mut en = Browser::new(&kit);
    en.accept_language = Some("en-GB,en;q=0.9");
    let p = en.get("/login?lang=fr").await;
    assert!(p.body.contains("<html lang=\"fr\">"));
    let cookie = p.set_cookie("sesame_lang").unwrap();
    assert!(
        cookie.starts_with("sesame_lang=fr; Path=/; Max-Age="),
        "{cookie}"
    );
    let p = en.get("/login").await;
    assert!(p.body.contains("<html lang=\"fr\">"));
    assert!(p.body.contains("href=\"/login?lang=en\""));
}

#[tokio::test]
async fn a_post_without_a_valid_csrf_token_changes_nothing() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    b.sign_in("alice", PW).await;
    let new_pw = "un-autre-mot-de-passe-7";
    for csrf in [None, Some("x".repeat(43)), Some(String::new())] {
        let mut fields = vec![
            ("current", PW),
            ("new_password", new_pw),
            ("repeat", new_pw),
        ];
        if let Some(c) = &csrf {
            fields.push(("csrf", c));
        }
        let p = b.post("/account/password", &fields).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(p.body.contains("The form has expired"), "{}", p.body);
    }
    // The token of another session does not work either.
    let mut other = Browser::new(&kit);
    let theirs = other.sign_in("alice", PW).await.csrf();
    let fields = [
        ("csrf", theirs.as_str()),
        ("current", PW),
        ("new_password", new_pw),
        ("repeat", new_pw),
    ];
    let p = b.post("/account/password", &fields).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A valid token from a cross-site page is refused by the origin check.
    let mine = b.get("/account").await.csrf();
    let req = Request::post("/account/password")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(format!(
            "csrf={mine}&current={PW}&new_password={new_pw}&repeat={new_pw}"
        )))
        .unwrap();
    let p = b.send(req).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Nothing changed: the old password still opens a session, the new one does not.
    kit.login("alice", PW);
    let now = kit.clock_now();
    assert!(login::password_step(&kit.app, "alice", new_pw, &client(), now).is_err());

    // The anonymous login form is protected too (login CSRF).
    let mut anon = Browser::new(&kit);
    anon.get("/login").await;
    let p = anon
        .post("/login", &[("username", "alice"), ("password", PW)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.set_cookie(&kit.app.config.session.cookie_name).is_none());
    // In French, the refusal is French.
    anon.accept_language = Some("fr");
    let p = anon.post("/logout", &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("Le formulaire a expiré"));
}

#[tokio::test]
async fn full_flow_with_an_authenticator_app() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);

    // Password only: the session cookie is safe and lasts the session lifetime.
    let p = b.get("/").await;
    assert_eq!(p.location(), "/login");
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/account");
    let cookie = p.set_cookie("sesame_session").unwrap();
    for attr in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=14400",
    ] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert_eq!(b.get("/").await.location(), "/account");
    let account = b.get("/account").await;
    assert!(account.body.contains("alice"));
    assert!(account.body.contains("this session"));
    assert!(!account.body.contains("/admin/users"));

    // Add an authenticator app: QR code, manual key and link on the page.
    let p = b
        .post(
            "/account/totp",
            &[("csrf", &account.csrf()), ("label", "phone")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("<svg"));
    assert!(!p.body.contains("<?xml"));
    assert!(p.body.contains("otpauth://totp/"));
    let key = between(&p.body, "<code class=\"secret\">", "</code>").unwrap();
    let secret = OtpSecret::from_base32(&key).unwrap();
    let secret = secret.as_bytes().to_vec();
    let action = between(&p.body, "action=\"/account/totp/", "/confirm\"").unwrap();
    let confirm = format!("/account/totp/{action}/confirm");
    // A wrong code keeps the device pending and says so.
    let p2 = b
        .post(&confirm, &[("csrf", &p.csrf()), ("code", "000000")])
        .await;
    assert_eq!(p2.status, StatusCode::UNAUTHORIZED);
    assert!(p2.body.contains("The code is incorrect"));
    let code = code_now(&kit, &secret);
    let p = b
        .post(&confirm, &[("csrf", &p.csrf()), ("code", &code)])
        .await;
    assert_eq!(p.location(), "/account?done=totp_confirmed");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The authenticator app is active"));
    assert!(p.body.contains("Active"));

    // Sign out: the cookie is cleared and the session is dead.
    let p = b.post("/logout", &[("csrf", &p.csrf())]).await;
    assert_eq!(p.location(), "/login?done=logged_out");
    assert!(
        p.set_cookie("sesame_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        b.get("/login?done=logged_out")
            .await
            .body
            .contains("You are signed out")
    );
    assert_eq!(b.get("/account").await.location(), "/login");

    // Sign in again: the password leads to the second step; the challenge is in a cookie.
    kit.clock.advance(30);
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
        )
        .await;
    assert_eq!(p.location(), "/login/mfa");
    assert!(p.set_cookie("sesame_session").is_none());
    let ch = p.set_cookie("sesame_challenge").unwrap();
    assert!(
        ch.contains("Path=/login;") && ch.contains("Max-Age=300"),
        "{ch}"
    );
    let p = b.get("/login/mfa").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("autocomplete=\"one-time-code\""));
    let csrf = p.csrf();
    let bad = b
        .post(
            "/login/mfa",
            &[("csrf", &csrf), ("method", "totp"), ("code", "999999")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("The code is incorrect"));
    let code = code_now(&kit, &secret);
    let p = b
        .post(
            "/login/mfa",
            &[("csrf", &csrf), ("method", "totp"), ("code", &code)],
        )
        .await;
    assert_eq!(p.location(), "/account", "{}", p.body);
    assert!(
        p.set_cookie("sesame_challenge")
            .unwrap()
            .contains("Max-Age=0")
    );
    let p = b.get("/account").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("password+totp"));
    // The challenge is spent: the MFA page sends back to the start.
    assert_eq!(b.get("/login/mfa").await.location(), "/login?done=expired");
}

#[tokio::test]
async fn backup_codes_are_shown_once_and_a_low_count_warns() {
    let kit = Kit::new();
    kit.user("bob", PW, &[]);
    let who = kit.login("bob", PW);
    let now = kit.clock_now();
    let opts = TotpOptions {
        label: "phone".into(),
        ..Default::default()
    };
    let e = account::totp_enrol(&kit.app, &who, &opts, &client(), now).unwrap();
    let secret = OtpSecret::from_base32(&e.secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let code = code_now(&kit, &secret);
    account::totp_confirm(&kit.app, &who, e.id, &code, &client(), now).unwrap();

    // Generate the codes from the page (the session needs a second factor now).
    let mut b = Browser::new(&kit);
    let who_token = match login::password_step(&kit.app, "bob", PW, &client(), now).unwrap() {
        LoginStep::MfaRequired { challenge, .. } => challenge.to_string(),
        other => panic!("{other:?}"),
    };
    kit.clock.advance(30);
    let code = code_now(&kit, &secret);
    let s = match login::mfa_step(
        &kit.app,
        &who_token,
        MfaMethod::Totp,
        &code,
        &client(),
        kit.clock_now(),
    )
    .unwrap()
    {
        LoginStep::Session(s) => s,
        other => panic!("{other:?}"),
    };
    b.jar.insert("sesame_session".into(), s.token.to_string());
    let csrf = b.get("/account").await.csrf();
    let p = b.post("/account/backup-codes", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("they will not be shown again"));
    let codes: Vec<String> = p
        .body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(b.get("/account").await.body.contains("<strong>10</strong>"));

    // Use seven codes outside the pages, the eighth through them: two remain, a warning shows.
    for c in &codes[..7] {
        let t = match login::password_step(&kit.app, "bob", PW, &client(), now).unwrap() {
            LoginStep::MfaRequired { challenge, .. } => challenge.to_string(),
            other => panic!("{other:?}"),
        };
        login::mfa_step(&kit.app, &t, MfaMethod::BackupCode, c, &client(), now).unwrap();
    }
    let mut b = Browser::new(&kit);
    b.accept_language = Some("fr");
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "bob"), ("password", PW)],
        )
        .await;
    assert_eq!(p.location(), "/login/mfa");
    let p = b.get("/login/mfa").await;
    assert!(p.body.contains("code de secours"));
    let p = b
        .post(
            "/login/mfa",
            &[
                ("csrf", &p.csrf()),
                ("method", "backup_code"),
                ("code", &codes[7]),
            ],
        )
        .await;
    assert_eq!(p.location(), "/account?done=backup_low");
    let p = b.get(p.location()).await;
    assert!(
        p.body.contains("Il ne vous reste que 2 codes de secours"),
        "{}",
        p.body
    );
}

#[tokio::test]
async fn a_forced_password_change_comes_before_the_session() {
    let kit = Kit::new();
    admin::create_user_as(
        &kit.app,
        None,
        &CreateUser {
            username: "carol".into(),
            password: PW.into(),
            roles: vec![],
            must_change_password: true,
        },
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let mut b = Browser::new(&kit);
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "carol"), ("password", PW)],
        )
        .await;
    assert_eq!(p.location(), "/login/password");
    let p = b.get("/login/password").await;
    assert!(p.body.contains("autocomplete=\"new-password\""));
    let csrf = p.csrf();
    let new_pw = "lanterne-bleue-du-port";
    let p = b
        .post(
            "/login/password",
            &[
                ("csrf", &csrf),
                ("new_password", new_pw),
                ("repeat", "autre"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("not the same"));
    let p = b
        .post(
            "/login/password",
            &[
                ("csrf", &csrf),
                ("new_password", "short"),
                ("repeat", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("at least 15 characters"), "{}", p.body);
    let p = b
        .post(
            "/login/password",
            &[
                ("csrf", &csrf),
                ("new_password", new_pw),
                ("repeat", new_pw),
            ],
        )
        .await;
    assert_eq!(p.location(), "/account");
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    kit.login("carol", new_pw);
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_with_the_error() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    b.accept_language = Some("fr-CA, en;q=0.5");
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "alice"), ("password", "nope")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(
        p.body
            .contains("Le nom d’utilisateur ou le mot de passe est incorrect.")
    );
    assert!(p.body.contains("value=\"alice\""));
    // A malformed form is a page too, not axum's plain text.
    let p = b
        .post("/login", &[("csrf", &csrf), ("username", "alice")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("<html lang=\"fr\">"));
}

#[tokio::test]
async fn only_admins_reach_the_user_administration() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    kit.user("root", PW, &["admin"]);
    let mut user = Browser::new(&kit);
    user.sign_in("alice", PW).await;
    let p = user.get("/admin/users").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("Access denied"));
    let csrf = user.get("/account").await.csrf();
    let fields = [("csrf", csrf.as_str()), ("username", "root")];
    let p = user.post("/admin/users/disable", &fields).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        !kit.app
            .store
            .user_by_name("root")
            .unwrap()
            .unwrap()
            .disabled
    );

    let mut adm = Browser::new(&kit);
    let account = adm.sign_in("root", PW).await;
    assert!(account.body.contains("href=\"/admin/users\""));
    let p = adm.get("/admin/users").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("alice"));
    let csrf = p.csrf();
    let p = adm
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "dave"),
                ("password", "a-long-enough-passphrase"),
                ("role_user", "on"),
                ("role_helpdesk", "on"),
                ("must_change", "on"),
            ],
        )
        .await;
    assert_eq!(p.location(), "/admin/users?done=user_created", "{}", p.body);
    let dave = kit.app.store.user_by_name("dave").unwrap().unwrap();
    assert!(dave.must_change_password);
    assert_eq!(dave.roles.len(), 2);
    let fields = [("csrf", csrf.as_str()), ("username", "alice")];
    let p = adm.post("/admin/users/disable", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=user_updated");
    assert!(
        kit.app
            .store
            .user_by_name("alice")
            .unwrap()
            .unwrap()
            .disabled
    );
    let p = adm.post("/admin/users/delete", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = [
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("confirm", "on"),
    ];
    let p = adm.post("/admin/users/delete", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=user_deleted");
    assert!(kit.app.store.user_by_name("alice").unwrap().is_none());
    // The domain refuses self-disabling; the page says so in the page's language.
    adm.accept_language = Some("fr");
    let fields = [("csrf", csrf.as_str()), ("username", "root")];
    let p = adm.post("/admin/users/disable", &fields).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.body
            .contains("Vous ne pouvez pas désactiver votre propre compte.")
    );
}

#[tokio::test]
async fn labels_are_html_escaped() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let csrf = b.sign_in("alice", PW).await.csrf();
    let label = "<b>bold</b> \"x\" & 'y'";
    let p = b
        .post("/account/totp", &[("csrf", &csrf), ("label", label)])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let p = b.get("/account").await;
    assert!(!p.body.contains("<b>bold</b>"));
    assert!(p.body.contains("&#60;b&#62;bold&#60;/b&#62;"), "{}", p.body);
    assert!(p.body.contains("&#34;x&#34; &#38; &#39;y&#39;"));
}

#[tokio::test]
async fn stylesheet_and_sessions_list() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let p = b.get("/static/sesame.css").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(
        p.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(p.body.contains("font-family"));

    // Two sessions; ending the other one keeps this one, ending this one signs out.
    let other = kit.login("alice", PW);
    let p = b.sign_in("alice", PW).await;
    let csrf = p.csrf();
    let revoke = format!("/account/sessions/{}/revoke", other.session.id);
    assert!(p.body.contains(&revoke));
    let p = b.post(&revoke, &[("csrf", &csrf)]).await;
    assert_eq!(p.location(), "/account?done=session_revoked");
    let p = b.get("/account").await;
    assert!(!p.body.contains(&revoke));
    // A bad id is a page, not a crash.
    let bad = b
        .post("/account/sessions/abc/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert!(bad.body.contains("Page not found."));
    let mine = between(&p.body, "action=\"/account/sessions/", "/revoke\"").unwrap();
    let p = b
        .post(
            &format!("/account/sessions/{mine}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.location(), "/login?done=logged_out");
    assert_eq!(b.get("/account").await.location(), "/login");
}
