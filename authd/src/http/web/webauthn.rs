//! Security keys and passkeys on the pages: the keys section of the account page, "Sign in
//! with a passkey" on the sign-in page, "Use a security key" on the second-factor page, and
//! the small JSON endpoints `authd/static/webauthn.js` calls (cookie session or pre-session,
//! CSRF token in `X-CSRF-Token`, same-origin check). Answers of `finish` are
//! `{"redirect": "/…"}` with the cookies a form sign-in would set.

use super::csrf::{self, Binding};
use super::extract::{UserForm, WebSession, session_token};
use super::{Lang, cookies, strings_webauthn as tr};
use crate::Error;
use crate::flows::webauthn as flow;
use crate::http::AppState;
use crate::http::extract::{ApiJson, client_info};
use askama::Template;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

type St = State<AppState>;

const SCRIPT: &str = include_str!("../../../static/webauthn.js");

/// `GET /static/webauthn.js`.
pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCRIPT,
    )
        .into_response()
}

struct KeyRow {
    id: String,
    label: String,
    created: String,
    last_used: String,
    synced: bool,
    cloned: bool,
    passkey: bool,
}

#[derive(Template)]
#[template(path = "webauthn_keys.html")]
struct KeysSection<'a> {
    t: &'static tr::WebauthnTr,
    csrf: &'a str,
    keys: Vec<KeyRow>,
}

#[derive(Template)]
#[template(path = "webauthn_button.html")]
struct Button<'a> {
    t: &'static tr::WebauthnTr,
    kind: &'a str,
    csrf: &'a str,
    start: &'a str,
    finish: &'a str,
    button_id: &'a str,
    text: &'a str,
}

fn html(r: Result<String, askama::Error>) -> String {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "template rendering failed");
        String::new()
    })
}

/// The keys section of the account page (rendered HTML, inserted unescaped: our template).
pub(crate) fn account_section(lang: Lang, csrf: &str, keys: &[flow::KeyView]) -> String {
    let t = tr::of(lang);
    let when = |s: &str| {
        crate::clock::parse_rfc3339(s)
            .map(super::when)
            .unwrap_or_default()
    };
    let keys = keys
        .iter()
        .map(|k| KeyRow {
            id: k.credential_id.clone(),
            label: k.label.clone(),
            created: when(&k.created_at),
            last_used: k
                .last_used_at
                .as_deref()
                .map(when)
                .unwrap_or_else(|| t.never.to_owned()),
            synced: k.backup_state,
            cloned: k.possibly_cloned,
            passkey: k.kind == "passkey",
        })
        .collect();
    html(KeysSection { t, csrf, keys }.render())
}

/// "Sign in with a passkey" (sign-in page).
pub(crate) fn passkey_button(lang: Lang, csrf: &str) -> String {
    let t = tr::of(lang);
    html(
        Button {
            t,
            kind: "passkey",
            csrf,
            start: "/login/passkey/start",
            finish: "/login/passkey/finish",
            button_id: "passkey-sign-in",
            text: t.passkey_sign_in,
        }
        .render(),
    )
}

/// "Use a security key or passkey" (second-factor page).
pub(crate) fn mfa_button(lang: Lang, csrf: &str) -> String {
    let t = tr::of(lang);
    html(
        Button {
            t,
            kind: "mfa",
            csrf,
            start: "/login/mfa/webauthn/start",
            finish: "/login/mfa/webauthn/finish",
            button_id: "webauthn-mfa",
            text: t.use_key,
        }
        .render(),
    )
}

/// A JSON error in the page's language.
fn json_error(lang: Lang, e: &Error) -> Response {
    let message = match e {
        Error::Webauthn(r) => tr::refusal(lang, *r),
        other => super::error_text(lang, other),
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Error::Internal(detail) = e {
        tracing::error!(%detail, "internal error");
    }
    let mut r = (
        status,
        axum::Json(json!({ "error": { "code": e.code(), "message": message } })),
    )
        .into_response();
    r.extensions_mut()
        .insert(crate::http::error::ErrorCode(e.code()));
    r
}

fn csrf_ok(st: &AppState, parts: &Parts, binding: Option<Binding<'_>>) -> bool {
    let presented = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    csrf::same_origin(&parts.headers, &parts.uri)
        && binding.is_some_and(|b| csrf::verify(&st.csrf_key, b, presented))
}

fn csrf_refused(lang: Lang) -> Response {
    json_error(
        lang,
        &Error::InvalidRequest("the form has expired; reload the page".into()),
    )
}

/// A login step as JSON for the script: where to go, with the cookies to set.
fn step_json(st: &AppState, step: crate::flows::login::LoginStep) -> Response {
    let r = super::login::next_step(st, step);
    let to = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("/account")
        .to_owned();
    let mut out = axum::Json(json!({ "redirect": to })).into_response();
    for c in r.headers().get_all(header::SET_COOKIE) {
        out.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabelReq {
    label: String,
    /// `passkey` (default) or `security_key` (a second factor only, user verification
    /// preferred).
    #[serde(default)]
    kind: Option<String>,
}

impl LabelReq {
    fn kind(&self) -> Result<crate::credentials::webauthn::KeyKind, crate::Error> {
        match self.kind.as_deref() {
            None => Ok(crate::credentials::webauthn::KeyKind::Passkey),
            Some(k) => crate::credentials::webauthn::KeyKind::parse(k).ok_or_else(|| {
                crate::Error::InvalidRequest("kind: \"passkey\" or \"security_key\"".into())
            }),
        }
    }
}

/// `POST /account/webauthn/start`.
pub(super) async fn account_start(
    State(st): St,
    parts: Parts,
    s: WebSession,
    ApiJson(r): ApiJson<LabelReq>,
) -> Response {
    let token = session_token(&parts, &st);
    if !csrf_ok(
        &st,
        &parts,
        token.as_deref().map(|t| Binding::Session(t.as_str())),
    ) {
        return csrf_refused(s.lang);
    }
    let now = st.app.now();
    let who = s.who.clone();
    let kind = match r.kind() {
        Ok(k) => k,
        Err(e) => return json_error(s.lang, &e),
    };
    match st
        .app
        .blocking(move |app| flow::register_start_kind(app, &who, &r.label, kind, now))
        .await
    {
        Ok(x) => axum::Json(json!({ "id": x.id.as_str(), "options": x.options })).into_response(),
        Err(e) => json_error(s.lang, &e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FinishReq {
    id: String,
    credential: Value,
}

/// `POST /account/webauthn/finish`.
pub(super) async fn account_finish(
    State(st): St,
    parts: Parts,
    s: WebSession,
    ApiJson(r): ApiJson<FinishReq>,
) -> Response {
    let token = session_token(&parts, &st);
    if !csrf_ok(
        &st,
        &parts,
        token.as_deref().map(|t| Binding::Session(t.as_str())),
    ) {
        return csrf_refused(s.lang);
    }
    let client = client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    match st
        .app
        .blocking(move |app| flow::register_finish(app, &who, &r.id, &r.credential, &client, now))
        .await
    {
        Ok(_) => axum::Json(json!({ "redirect": "/account" })).into_response(),
        Err(e) => json_error(s.lang, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    credential_id: String,
}

/// `POST /account/webauthn/delete` (a form).
pub(super) async fn account_delete(
    State(st): St,
    parts: Parts,
    UserForm { s, form }: UserForm<DeleteForm>,
) -> Response {
    let client = client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    match st
        .app
        .blocking(move |app| flow::delete(app, &who, &form.credential_id, &client, now))
        .await
    {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(Error::Webauthn(r)) => super::message(
            &st,
            s.lang,
            StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN),
            tr::of(s.lang).title,
            &tr::refusal(s.lang, r),
            "/account",
        ),
        Err(e) => super::error_page(&st, s.lang, &e),
    }
}

fn anon_lang(parts: &Parts) -> Lang {
    super::i18n::negotiate(&parts.headers, parts.uri.query())
}

fn pre_binding(parts: &Parts) -> Option<Binding<'_>> {
    cookies::get(&parts.headers, cookies::PRE_SESSION).map(Binding::PreSession)
}

/// `POST /login/passkey/start`.
pub(super) async fn passkey_start(State(st): St, parts: Parts) -> Response {
    let lang = anon_lang(&parts);
    if !csrf_ok(&st, &parts, pre_binding(&parts)) {
        return csrf_refused(lang);
    }
    let now = st.app.now();
    match st
        .app
        .blocking(move |app| flow::passkey_start(app, now))
        .await
    {
        Ok(x) => axum::Json(json!({ "id": x.id.as_str(), "options": x.options })).into_response(),
        Err(e) => json_error(lang, &e),
    }
}

/// `POST /login/passkey/finish`.
pub(super) async fn passkey_finish(
    State(st): St,
    parts: Parts,
    ApiJson(r): ApiJson<FinishReq>,
) -> Response {
    let lang = anon_lang(&parts);
    if !csrf_ok(&st, &parts, pre_binding(&parts)) {
        return csrf_refused(lang);
    }
    let client = client_info(&parts);
    let now = st.app.now();
    match st
        .app
        .blocking(move |app| flow::passkey_finish(app, &r.id, &r.credential, &client, now))
        .await
    {
        Ok(step) => step_json(&st, step),
        Err(e) => json_error(lang, &e),
    }
}

/// `POST /login/mfa/webauthn/start` (the login challenge is the cookie's).
pub(super) async fn mfa_start(State(st): St, parts: Parts) -> Response {
    let lang = anon_lang(&parts);
    if !csrf_ok(&st, &parts, pre_binding(&parts)) {
        return csrf_refused(lang);
    }
    let Some(challenge) = super::login::challenge_of(&parts) else {
        return json_error(lang, &Error::ChallengeExpired);
    };
    let now = st.app.now();
    match st
        .app
        .blocking(move |app| flow::second_factor_start(app, &challenge, now))
        .await
    {
        Ok(x) => axum::Json(json!({ "id": "", "options": x.options })).into_response(),
        Err(e) => json_error(lang, &e),
    }
}

/// `POST /login/mfa/webauthn/finish`.
pub(super) async fn mfa_finish(
    State(st): St,
    parts: Parts,
    ApiJson(r): ApiJson<FinishReq>,
) -> Response {
    let lang = anon_lang(&parts);
    if !csrf_ok(&st, &parts, pre_binding(&parts)) {
        return csrf_refused(lang);
    }
    let Some(challenge) = super::login::challenge_of(&parts) else {
        return json_error(lang, &Error::ChallengeExpired);
    };
    let client = client_info(&parts);
    let now = st.app.now();
    match st
        .app
        .blocking(move |app| {
            flow::second_factor_finish(app, &challenge, &r.credential, &client, now)
        })
        .await
    {
        Ok(step) => step_json(&st, step),
        Err(e) => json_error(lang, &e),
    }
}
