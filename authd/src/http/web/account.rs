//! The user's own account: identity and roles, password change, authenticator apps (add with a
//! QR code, confirm, delete), backup codes (new set shown once) and sessions (end one).

use super::extract::{Secret, UserForm, WebSession, clear_session};
use super::{
    AppState, Chrome, NoFields, St, Tr, error_text, redirect_with, render, status_of, when,
};
use crate::flows::account::{self, TotpOptions};
use crate::model::{Session, TotpCredential};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Longest user agent shown in the session list.
const UA_CHARS: usize = 80;

struct DeviceRow {
    id: i64,
    label: String,
    confirmed: bool,
    last_used: Option<String>,
}

struct SessionRow {
    id: i64,
    started: String,
    last_seen: String,
    address: String,
    client: String,
    method: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    t: &'static Tr,
    c: Chrome,
    username: String,
    roles: String,
    devices: Vec<DeviceRow>,
    backup_remaining: u64,
    backup_low: Option<String>,
    sessions: Vec<SessionRow>,
    /// Profile, groups, MFA policy note and photo (`account_profile`).
    me: super::account_profile::Extras,
    /// The security keys section (our own template, rendered).
    webauthn: String,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct EnrolPage {
    t: &'static Tr,
    c: Chrome,
    id: i64,
    /// QR code, key and link; absent when the confirm form is shown again after a bad code.
    material: Option<Material>,
}

struct Material {
    /// Our own SVG (from the `qrcode` crate, attributes only): rendered unescaped.
    qr_svg: String,
    secret: String,
    uri: String,
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct CodesPage {
    t: &'static Tr,
    c: Chrome,
    codes: Vec<Zeroizing<String>>,
}

struct AccountData {
    devices: Vec<TotpCredential>,
    backup_remaining: u64,
    sessions: Vec<Session>,
    me: super::account_profile::Extras,
    webauthn: Vec<crate::flows::webauthn::KeyView>,
}

/// The account page, its data read fresh. `backup_low` asks for the low-codes warning.
pub(super) async fn account_page(
    st: &AppState,
    s: &WebSession,
    query: Option<&str>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let t = s.lang.tr();
    let who = s.who.clone();
    let now = st.app.now();
    let data = st
        .app
        .blocking(move |app| {
            Ok(AccountData {
                devices: app.store.list_totp(who.user.id)?,
                backup_remaining: app.store.count_backup_codes(who.user.id)?,
                sessions: account::sessions(app, &who, now)?,
                me: super::account_profile::extras(app, &who.user)?,
                webauthn: crate::flows::webauthn::list(app, who.user.id)?,
            })
        })
        .await;
    let data = match data {
        Ok(d) => d,
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let backup_low = (super::query_param(query, "done") == Some("backup_low")).then(|| {
        t.backup_low
            .replace("{n}", &data.backup_remaining.to_string())
    });
    let current = s.who.session.id;
    let page = AccountPage {
        t,
        c: Chrome::signed_in(st, s, "/account")
            .with_notice(t, query)
            .with_error(error),
        username: s.who.user.username.clone(),
        roles: s
            .who
            .user
            .roles
            .iter()
            .map(|r| t.role(*r))
            .collect::<Vec<_>>()
            .join(", "),
        devices: data
            .devices
            .into_iter()
            .map(|d| DeviceRow {
                id: d.id,
                label: d.label,
                confirmed: d.confirmed,
                last_used: d.last_used_at.map(when),
            })
            .collect(),
        webauthn: super::webauthn::account_section(s.lang, &s.csrf, &data.webauthn),
        backup_remaining: data.backup_remaining,
        backup_low,
        sessions: data
            .sessions
            .into_iter()
            .map(|x| SessionRow {
                id: x.id,
                started: when(x.created_at),
                last_seen: when(x.last_seen_at),
                address: x.address,
                client: x.user_agent.chars().take(UA_CHARS).collect(),
                method: x.method,
                current: x.id == current,
            })
            .collect(),
        me: data.me,
    };
    render(status, &page)
}

/// A domain error shown on the account page.
async fn account_error(st: &AppState, s: &WebSession, e: &crate::Error) -> Response {
    let text = error_text(s.lang, e);
    account_page(st, s, None, status_of(e), Some(text)).await
}

/// `GET /account`.
pub(super) async fn page(State(st): St, s: WebSession, parts: Parts) -> Response {
    account_page(&st, &s, parts.uri.query(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    current: Secret,
    new_password: Secret,
    repeat: Secret,
}

/// `POST /account/password`.
pub(super) async fn change_password(
    State(st): St,
    parts: Parts,
    UserForm { s, form }: UserForm<PasswordForm>,
) -> Response {
    if form.new_password != form.repeat {
        let error = Some(s.lang.tr().passwords_differ.to_owned());
        return account_page(&st, &s, None, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    }
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| {
            account::change_password(
                app,
                &who,
                form.current.as_str(),
                form.new_password.as_str(),
                &client,
                now,
            )
        })
        .await;
    match r {
        Ok(()) => Redirect::to("/account?done=password").into_response(),
        Err(e) => account_error(&st, &s, &e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct LabelForm {
    label: String,
}

/// The SVG element of the QR code, without the XML prolog (meaningless inside HTML).
fn svg_element(svg: &str) -> String {
    svg.find("<svg")
        .map(|i| svg[i..].to_owned())
        .unwrap_or_default()
}

/// `POST /account/totp`: a new pending device, shown as a QR code with its confirm form.
pub(super) async fn totp_add(
    State(st): St,
    parts: Parts,
    UserForm { s, form }: UserForm<LabelForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let opts = TotpOptions {
        label: form.label,
        ..TotpOptions::default()
    };
    let r = st
        .app
        .blocking(move |app| account::totp_enrol(app, &who, &opts, &client, now))
        .await;
    match r {
        Ok(e) => {
            let t = s.lang.tr();
            let page = EnrolPage {
                t,
                c: Chrome::signed_in(&st, &s, "/account"),
                id: e.id,
                material: Some(Material {
                    qr_svg: svg_element(&e.qr_svg),
                    secret: e.secret,
                    uri: e.otpauth_uri,
                }),
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// The not-found page for a malformed id in the path.
fn bad_id(st: &AppState, s: &WebSession) -> Response {
    super::error_page(st, s.lang, &crate::Error::NotFound("page"))
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    code: Secret,
}

/// `POST /account/totp/{id}/confirm`.
pub(super) async fn totp_confirm(
    State(st): St,
    Path(id): Path<String>,
    parts: Parts,
    UserForm { s, form }: UserForm<CodeForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_id(&st, &s);
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| account::totp_confirm(app, &who, id, form.code.as_str(), &client, now))
        .await;
    match r {
        Ok(()) => Redirect::to("/account?done=totp_confirmed").into_response(),
        Err(e @ (crate::Error::InvalidCode | crate::Error::Overloaded)) => {
            let t = s.lang.tr();
            let page = EnrolPage {
                t,
                c: Chrome::signed_in(&st, &s, "/account").with_error(Some(error_text(s.lang, &e))),
                id,
                material: None,
            };
            render(status_of(&e), &page)
        }
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// `POST /account/totp/{id}/delete`.
pub(super) async fn totp_delete(
    State(st): St,
    Path(id): Path<String>,
    parts: Parts,
    UserForm { s, .. }: UserForm<NoFields>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_id(&st, &s);
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| account::totp_delete(app, &who, id, &client, now))
        .await;
    match r {
        Ok(()) => Redirect::to("/account?done=totp_deleted").into_response(),
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// `POST /account/backup-codes`: a new set, shown once.
pub(super) async fn backup_codes(
    State(st): St,
    parts: Parts,
    UserForm { s, .. }: UserForm<NoFields>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| account::backup_codes_generate(app, &who, &client, now))
        .await;
    match r {
        Ok(codes) => {
            let t = s.lang.tr();
            let page = CodesPage {
                t,
                c: Chrome::signed_in(&st, &s, "/account"),
                codes,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => account_error(&st, &s, &e).await,
    }
}

/// `POST /account/sessions/{id}/revoke`. Ending the current session signs out.
pub(super) async fn session_revoke(
    State(st): St,
    Path(id): Path<String>,
    parts: Parts,
    UserForm { s, .. }: UserForm<NoFields>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_id(&st, &s);
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| account::revoke_session(app, &who, id, &client, now))
        .await;
    match r {
        Ok(()) if id == s.who.session.id => {
            redirect_with("/login?done=logged_out", vec![clear_session(&st)])
        }
        Ok(()) => Redirect::to("/account?done=session_revoked").into_response(),
        Err(e) => account_error(&st, &s, &e).await,
    }
}
