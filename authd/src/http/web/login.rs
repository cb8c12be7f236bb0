//! Sign-in pages: password → (second factor) → (forced password change) → session cookie, and
//! sign-out. The login challenge between two steps travels in the [`cookies::CHALLENGE`]
//! cookie (HttpOnly, `Path=/login`), never in a URL; each POST redirects to the next page.
//! The sign-in page also holds the hardware-key form, handled in `login_key`.

use super::extract::{AnonForm, Secret, UserForm, WebSession, clear_session, pre_session};
use super::i18n::Lang;
use super::{
    AppState, Chrome, NoFields, St, Tr, cookies, error_text, redirect_with, render, status_of,
};
use crate::credentials::tokens;
use crate::flows::login::{self, IssuedSession, LoginStep, MfaMethod};
use crate::model::ChallengeStage;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Tr,
    c: Chrome,
    username: String,
    /// Whether the key form is the one shown open (after a key sign-in attempt).
    key_open: bool,
    /// "Sign in with a passkey" (our own template, rendered).
    passkey: String,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    t: &'static Tr,
    c: Chrome,
    totp: bool,
    backup: bool,
    /// "Use a security key" when the account has one (our own template, rendered).
    webauthn: String,
}

#[derive(Template)]
#[template(path = "password_change.html")]
struct PasswordChangePage {
    t: &'static Tr,
    c: Chrome,
}

fn challenge_cookie(st: &AppState, token: &str) -> HeaderValue {
    let age = st.app.config.session.challenge_lifetime.as_secs();
    cookies::set(cookies::CHALLENGE, token, cookies::LOGIN_PATH, Some(age))
}

pub(super) fn clear_challenge() -> HeaderValue {
    cookies::clear(cookies::CHALLENGE, cookies::LOGIN_PATH)
}

/// The cookies that open a session, and the end of the login cookies.
fn session_cookies(st: &AppState, s: &IssuedSession) -> Vec<HeaderValue> {
    let cfg = &st.app.config.session;
    vec![
        cookies::set(
            &cfg.cookie_name,
            &s.token,
            "/",
            Some(cfg.lifetime.as_secs()),
        ),
        clear_challenge(),
        cookies::clear(cookies::PRE_SESSION, cookies::LOGIN_PATH),
    ]
}

/// Where a login step leads.
pub(super) fn next_step(st: &AppState, step: LoginStep) -> Response {
    match step {
        LoginStep::Session(s) => {
            let to = if s.backup_codes_low.is_some() {
                "/account?done=backup_low"
            } else {
                "/account"
            };
            redirect_with(to, session_cookies(st, &s))
        }
        LoginStep::MfaRequired { challenge, .. } => {
            redirect_with("/login/mfa", vec![challenge_cookie(st, &challenge)])
        }
        LoginStep::PasswordChangeRequired { challenge } => {
            redirect_with("/login/password", vec![challenge_cookie(st, &challenge)])
        }
        LoginStep::EnrolmentRequired { challenge, .. } => {
            redirect_with("/login/enrol", vec![challenge_cookie(st, &challenge)])
        }
        LoginStep::PinRequired { challenge } => {
            redirect_with("/login/pin", vec![challenge_cookie(st, &challenge)])
        }
        // Pages always ask for a session; `Accepted` is `/validate`'s answer.
        LoginStep::Accepted => redirect_with("/login", vec![]),
    }
}

/// What the sign-in page shows around its forms.
pub(super) struct LoginView<'a> {
    /// The request's query (for a `?done=` notice).
    pub(super) query: Option<&'a str>,
    pub(super) status: StatusCode,
    pub(super) error: Option<String>,
    /// The username typed, shown again after an error.
    pub(super) username: String,
    /// Whether the hardware-key form is the one to show open.
    pub(super) key_open: bool,
    /// Cookies to set or clear.
    pub(super) set: Vec<HeaderValue>,
}

/// The sign-in page, with the pre-session cookie its forms are bound to.
pub(super) fn login_page(
    st: &AppState,
    lang: Lang,
    headers: &axum::http::HeaderMap,
    mut v: LoginView<'_>,
) -> Response {
    let (csrf, pre_cookie) = match pre_session(st, headers) {
        Ok(v) => v,
        Err(e) => return super::error_page(st, lang, &e),
    };
    v.set.extend(pre_cookie);
    let t = lang.tr();
    let passkey = super::webauthn::passkey_button(lang, &csrf);
    let c = Chrome::anonymous(st, lang, "/login", csrf)
        .with_notice(t, v.query)
        .with_error(v.error);
    let page = LoginPage {
        t,
        c,
        username: v.username,
        key_open: v.key_open,
        passkey,
    };
    super::with_cookies(render(v.status, &page), v.set)
}

/// `GET /login`.
pub(super) async fn page(State(st): St, lang: Lang, mut parts: Parts) -> Response {
    let mut set = vec![];
    if super::extract::session_token(&parts, &st).is_some() {
        if WebSession::from_request_parts(&mut parts, &st)
            .await
            .is_ok()
        {
            return Redirect::to("/account").into_response();
        }
        set.push(clear_session(&st));
    }
    let query = parts.uri.query();
    let error = (super::query_param(query, "done") == Some("expired"))
        .then(|| error_text(lang, &crate::Error::ChallengeExpired));
    let view = LoginView {
        query,
        status: StatusCode::OK,
        error,
        username: String::new(),
        key_open: super::query_param(query, "with") == Some("key"),
        set,
    };
    login_page(&st, lang, &parts.headers, view)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: Secret,
}

/// `POST /login`.
pub(super) async fn submit(State(st): St, parts: Parts, f: AnonForm<LoginForm>) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let LoginForm { username, password } = f.form;
    let name = username.clone();
    let r = st
        .app
        .blocking(move |app| login::password_step(app, &name, password.as_str(), &client, now))
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(e) => {
            let view = LoginView {
                query: None,
                status: status_of(&e),
                error: Some(error_text(f.lang, &e)),
                username: username.chars().take(150).collect(),
                key_open: false,
                set: vec![clear_session(&st), clear_challenge()],
            };
            login_page(&st, f.lang, &parts.headers, view)
        }
    }
}

/// The live challenge of the request at `stage`, and the second-factor methods of its account.
pub(super) async fn challenge_state(
    st: &AppState,
    token: Option<Zeroizing<String>>,
    stage: ChallengeStage,
) -> Result<Option<Vec<MfaMethod>>, crate::Error> {
    let Some(token) = token else {
        return Ok(None);
    };
    let now = st.app.now();
    st.app
        .blocking(move |app| {
            let Some(ch) = app
                .store
                .challenge_by_hash(&tokens::hash_token(&token), now)?
                .filter(|c| c.stage == stage)
            else {
                return Ok(None);
            };
            let Some(user) = app.store.user_by_id(ch.user_id)?.filter(|u| !u.disabled) else {
                return Ok(None);
            };
            Ok(Some(login::mfa_methods(app, &user)?))
        })
        .await
}

/// Back to the sign-in page because the login attempt is gone.
pub(super) fn expired() -> Response {
    redirect_with("/login?done=expired", vec![clear_challenge()])
}

pub(super) fn challenge_of(parts: &Parts) -> Option<Zeroizing<String>> {
    cookies::get(&parts.headers, cookies::CHALLENGE).map(|v| Zeroizing::new(v.to_owned()))
}

fn render_mfa(
    st: &AppState,
    lang: Lang,
    csrf: String,
    methods: &[MfaMethod],
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let t = lang.tr();
    let page_csrf = csrf.clone();
    let page = MfaPage {
        t,
        c: Chrome::anonymous(st, lang, "/login/mfa", csrf).with_error(error),
        totp: methods.contains(&MfaMethod::Totp),
        backup: methods.contains(&MfaMethod::BackupCode),
        webauthn: if methods.contains(&MfaMethod::Webauthn) {
            super::webauthn::mfa_button(lang, &page_csrf)
        } else {
            String::new()
        },
    };
    render(status, &page)
}

/// `GET /login/mfa`.
pub(super) async fn mfa_page(State(st): St, lang: Lang, parts: Parts) -> Response {
    let methods = match challenge_state(&st, challenge_of(&parts), ChallengeStage::Mfa).await {
        Ok(Some(m)) => m,
        Ok(None) => return expired(),
        Err(e) => return super::error_page(&st, lang, &e),
    };
    let (csrf, pre_cookie) = match pre_session(&st, &parts.headers) {
        Ok(v) => v,
        Err(e) => return super::error_page(&st, lang, &e),
    };
    let r = render_mfa(&st, lang, csrf, &methods, StatusCode::OK, None);
    super::with_cookies(r, pre_cookie.into_iter().collect())
}

#[derive(Deserialize)]
pub(super) struct MfaForm {
    method: String,
    code: Secret,
}

/// `POST /login/mfa`.
pub(super) async fn mfa_submit(State(st): St, parts: Parts, f: AnonForm<MfaForm>) -> Response {
    let method = match f.form.method.as_str() {
        "totp" => MfaMethod::Totp,
        "backup_code" => MfaMethod::BackupCode,
        _ => {
            let t = f.lang.tr();
            let status = StatusCode::BAD_REQUEST;
            let msg = t.bad_form_message;
            return super::message(&st, f.lang, status, t.bad_form_title, msg, "/login/mfa");
        }
    };
    let Some(challenge) = f.challenge.clone() else {
        return expired();
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let code = f.form.code;
    let r = st
        .app
        .blocking(move |app| login::mfa_step(app, &challenge, method, code.as_str(), &client, now))
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(crate::Error::ChallengeExpired) => expired(),
        Err(e) => {
            let error = Some(error_text(f.lang, &e));
            match challenge_state(&st, f.challenge, ChallengeStage::Mfa).await {
                Ok(Some(methods)) => {
                    render_mfa(&st, f.lang, f.csrf, &methods, status_of(&e), error)
                }
                // Too many failures drop the challenge.
                Ok(None) => expired(),
                Err(e2) => super::error_page(&st, f.lang, &e2),
            }
        }
    }
}

fn password_change_page(
    st: &AppState,
    lang: Lang,
    csrf: String,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let t = lang.tr();
    let c = Chrome::anonymous(st, lang, "/login/password", csrf).with_error(error);
    render(status, &PasswordChangePage { t, c })
}

/// The form of a login step, shown only while the request's challenge for `stage` is live;
/// `render` draws it with a fresh CSRF token.
pub(super) async fn step_page(
    st: &AppState,
    lang: Lang,
    parts: &Parts,
    stage: ChallengeStage,
    render: impl FnOnce(&AppState, Lang, String, StatusCode, Option<String>) -> Response,
) -> Response {
    match challenge_state(st, challenge_of(parts), stage).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(),
        Err(e) => return super::error_page(st, lang, &e),
    }
    let (csrf, pre_cookie) = match pre_session(st, &parts.headers) {
        Ok(v) => v,
        Err(e) => return super::error_page(st, lang, &e),
    };
    let r = render(st, lang, csrf, StatusCode::OK, None);
    super::with_cookies(r, pre_cookie.into_iter().collect())
}

/// `GET /login/password`.
pub(super) async fn password_page(State(st): St, lang: Lang, parts: Parts) -> Response {
    step_page(
        &st,
        lang,
        &parts,
        ChallengeStage::PasswordChange,
        password_change_page,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct NewPasswordForm {
    new_password: Secret,
    repeat: Secret,
}

/// `POST /login/password`.
pub(super) async fn password_submit(
    State(st): St,
    parts: Parts,
    f: AnonForm<NewPasswordForm>,
) -> Response {
    let Some(challenge) = f.challenge else {
        return expired();
    };
    if f.form.new_password != f.form.repeat {
        let error = Some(f.lang.tr().passwords_differ.to_owned());
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return password_change_page(&st, f.lang, f.csrf, status, error);
    }
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let new = f.form.new_password;
    let r = st
        .app
        .blocking(move |app| {
            login::password_change_step(app, &challenge, new.as_str(), &client, now)
        })
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(crate::Error::ChallengeExpired) => expired(),
        Err(e) => {
            let error = Some(error_text(f.lang, &e));
            password_change_page(&st, f.lang, f.csrf, status_of(&e), error)
        }
    }
}

/// `POST /logout`.
pub(super) async fn logout(State(st): St, parts: Parts, f: UserForm<NoFields>) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = f.s.who;
    let r = st
        .app
        .blocking(move |app| login::logout(app, &who, &client, now))
        .await;
    if let Err(e) = r {
        return super::error_page(&st, f.s.lang, &e);
    }
    redirect_with(
        "/login?done=logged_out",
        vec![clear_session(&st), clear_challenge()],
    )
}
