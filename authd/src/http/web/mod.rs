//! Server-rendered web pages (DESIGN.md §4 "Web pages"): sign-in with second factor and forced
//! password change, sign-in with a hardware OTP key and the choice of its PIN, the user's own
//! account (password, authenticator apps, backup codes, sessions, profile, photo), the step-up
//! page, the administration of accounts, the MFA policy and groups page, the guard's page (IP rules, suspended addresses, account unlock) and the helpdesk
//! console (keys, seed-file import, temporary passwords). French and English; no JavaScript.
//!
//! - `login`, `login_key`, `account` + `account_profile`, `admin`, `admin_policy`,
//!   `admin_guard`, `helpdesk` + `helpdesk_import`:
//!   the handlers, one module per area; each reads the clock once and calls one flow off the
//!   async workers, like the JSON API.
//! - `extract`: `extract::WebSession` (a page needing a login), `extract::WebAdmin` (the
//!   admin role), `extract::WebHelpdesk` (helpdesk or admin), `extract::UserForm`,
//!   `extract::AdminForm`, `extract::HelpdeskForm` and `extract::AnonForm` (a POST:
//!   same-origin check, size cap, CSRF token verified before anything happens).
//! - `csrf`, `cookies`, `i18n` + `strings` + `strings_keys` + `strings_guard` +
//!   `strings_policy`: tokens,
//!   cookies, languages and texts.
//! - Templates: `authd/templates/*.html` (askama, HTML auto-escaped); the stylesheet:
//!   `authd/static/sesame.css`. The CSP forbids inline scripts and styles: the pages have none.

mod account;
mod account_profile;
mod admin;
mod admin_guard;
mod admin_policy;
mod cookies;
mod csrf;
mod download;
mod extract;
mod helpdesk;
mod helpdesk_import;
mod helpdesk_webauthn;
mod i18n;
mod login;
mod login_enrol;
mod login_key;
mod strings;
mod strings_guard;
mod strings_keys;
mod strings_policy;
mod strings_webauthn;
#[cfg(test)]
mod test_browser;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_account;
#[cfg(test)]
mod tests_guard;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_policy;
#[cfg(test)]
mod tests_webauthn_pages;
mod webauthn;

use super::AppState;
use crate::clock::{UnixTime, rfc3339};
use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use extract::WebSession;
pub(crate) use i18n::{Lang, Tr};

/// Routes of the web pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/download", get(download::page))
        .route("/download/console/{platform}", get(download::package))
        .route("/login", get(login::page).post(login::submit))
        .route("/login/mfa", get(login::mfa_page).post(login::mfa_submit))
        .route(
            "/login/password",
            get(login::password_page).post(login::password_submit),
        )
        .route(
            "/login/enrol",
            get(login_enrol::intro).post(login_enrol::start),
        )
        .route("/login/enrol/confirm", post(login_enrol::confirm))
        .route("/login/key", post(login_key::submit))
        .route(
            "/login/pin",
            get(login_key::pin_page).post(login_key::pin_submit),
        )
        .route("/logout", post(login::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/totp", post(account::totp_add))
        .route("/account/totp/{id}/confirm", post(account::totp_confirm))
        .route("/account/totp/{id}/delete", post(account::totp_delete))
        .route("/account/backup-codes", post(account::backup_codes))
        .route(
            "/account/sessions/{id}/revoke",
            post(account::session_revoke),
        )
        .route("/account/profile", post(account_profile::profile_save))
        .route(
            "/account/photo",
            get(account_profile::photo_get).post(account_profile::photo_upload),
        )
        .route("/account/photo/delete", post(account_profile::photo_delete))
        .route(
            "/account/reauth",
            get(account_profile::reauth).post(account_profile::reauth_submit),
        )
        .route("/admin/users", get(admin::page).post(admin::create))
        .route(
            "/admin/users/mfa-reset",
            post(admin_policy::reset_from_users),
        )
        .route(
            "/admin/policy",
            get(admin_policy::page).post(admin_policy::policy_save),
        )
        .route("/admin/groups", post(admin_policy::group_create))
        .route("/admin/groups/delete", post(admin_policy::group_delete))
        .route("/admin/resets/{id}/approve", post(admin_policy::approve))
        .route(
            "/helpdesk/mfa-reset",
            post(admin_policy::reset_from_helpdesk),
        )
        .route("/admin/users/{action}", post(admin::action))
        .route("/admin/guard", get(admin_guard::page))
        .route("/admin/guard/{what}", post(admin_guard::action))
        .route("/helpdesk", get(helpdesk::page))
        .route("/helpdesk/keys/{action}", post(helpdesk::key_action))
        .route("/helpdesk/import", post(helpdesk_import::import))
        .route("/helpdesk/webauthn", get(helpdesk_webauthn::page))
        .route("/helpdesk/webauthn/remove", post(helpdesk_webauthn::remove))
        .route("/helpdesk/temporary-password", post(helpdesk::temp_issue))
        .route(
            "/helpdesk/temporary-password/revoke",
            post(helpdesk::temp_revoke),
        )
        .route("/static/sesame.css", get(stylesheet))
        .route("/static/webauthn.js", get(webauthn::script))
        .route("/account/webauthn/start", post(webauthn::account_start))
        .route("/account/webauthn/finish", post(webauthn::account_finish))
        .route("/account/webauthn/delete", post(webauthn::account_delete))
        .route("/login/passkey/start", post(webauthn::passkey_start))
        .route("/login/passkey/finish", post(webauthn::passkey_finish))
        .route("/login/mfa/webauthn/start", post(webauthn::mfa_start))
        .route("/login/mfa/webauthn/finish", post(webauthn::mfa_finish))
        .layer(axum::middleware::from_fn(remember_lang))
}

/// `/`: the account page when logged in, else the sign-in page.
async fn index(session: Result<WebSession, Response>) -> Response {
    match session {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(to_login) => to_login,
    }
}

const STYLESHEET: &str = include_str!("../../../static/sesame.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A `?lang=` link sets the language cookie on its response.
async fn remember_lang(req: Request, next: Next) -> Response {
    let chosen = i18n::from_query(req.uri().query());
    let mut resp = next.run(req).await;
    if let Some(lang) = chosen {
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(cookies::LANG, lang.code(), "/", Some(cookies::LANG_MAX_AGE)),
        );
    }
    resp
}

/// What every page shows around its content.
#[derive(Debug)]
pub(crate) struct Chrome {
    /// `<html lang>`.
    pub(crate) lang: &'static str,
    /// The page's own GET path, for the language links.
    pub(crate) here: &'static str,
    /// `server.service_name`.
    pub(crate) service: String,
    /// The signed-in user, if any (shows the menu and the sign-out button).
    pub(crate) user: Option<String>,
    /// Whether to show the administration link.
    pub(crate) is_admin: bool,
    /// Whether to show the helpdesk link (role helpdesk or admin).
    pub(crate) is_helpdesk: bool,
    /// CSRF token of the page's forms.
    pub(crate) csrf: String,
    /// A confirmation after a redirect.
    pub(crate) notice: Option<String>,
    /// What went wrong with the last form.
    pub(crate) error: Option<String>,
}

impl Chrome {
    /// The frame of an anonymous page.
    pub(crate) fn anonymous(st: &AppState, lang: Lang, here: &'static str, csrf: String) -> Self {
        Chrome {
            lang: lang.code(),
            here,
            service: st.app.config.server.service_name.clone(),
            user: None,
            is_admin: false,
            is_helpdesk: false,
            csrf,
            notice: None,
            error: None,
        }
    }

    /// The frame of a signed-in page.
    pub(crate) fn signed_in(st: &AppState, s: &WebSession, here: &'static str) -> Self {
        Chrome {
            user: Some(s.who.user.username.clone()),
            is_admin: s.who.user.has_role(crate::model::Role::Admin),
            is_helpdesk: extract::is_helpdesk(&s.who.user),
            ..Chrome::anonymous(st, s.lang, here, s.csrf.clone())
        }
    }

    /// With an error message.
    pub(crate) fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }

    /// With the notice named by the request's `?done=` key.
    pub(crate) fn with_notice(mut self, t: &Tr, query: Option<&str>) -> Self {
        self.notice = query_param(query, "done")
            .and_then(|k| t.notice(k))
            .map(str::to_owned);
        self
    }
}

/// A generic message page (errors, refusals).
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'static Tr,
    c: Chrome,
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// Render a page; a template failure becomes a bare 500 page (never a blank one).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html><html lang=\"en\"><title>500</title>\
                 <p>Internal error / Erreur interne</p></html>",
            )
                .into_response()
        }
    }
}

/// A message page with a link onwards.
pub(crate) fn message(
    st: &AppState,
    lang: Lang,
    status: StatusCode,
    title: &str,
    text: &str,
    link: &str,
) -> Response {
    let t = lang.tr();
    render(
        status,
        &MessagePage {
            t,
            c: Chrome::anonymous(st, lang, "/", String::new()),
            title,
            message: text,
            link,
            link_text: t.continue_link,
        },
    )
}

/// The page for a domain error that has no better place to be shown.
pub(crate) fn error_page(st: &AppState, lang: Lang, e: &crate::Error) -> Response {
    if let crate::Error::Internal(detail) = e {
        tracing::error!(%detail, "internal error");
    }
    let t = lang.tr();
    message(
        st,
        lang,
        status_of(e),
        t.error_title,
        &i18n::error_message(lang, e),
        "/",
    )
}

/// The HTTP status of a page showing domain error `e`.
pub(crate) fn status_of(e: &crate::Error) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The message of `e` for a page in `lang`, logging internal details.
pub(crate) fn error_text(lang: Lang, e: &crate::Error) -> String {
    if let crate::Error::Internal(detail) = e {
        tracing::error!(%detail, "internal error");
    }
    i18n::error_message(lang, e)
}

/// A 303 redirect that also sets (or clears) cookies.
pub(crate) fn redirect_with(location: &str, set_cookies: Vec<HeaderValue>) -> Response {
    let mut r = Redirect::to(location).into_response();
    for c in set_cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Add `Set-Cookie` headers to a response.
pub(crate) fn with_cookies(mut r: Response, set_cookies: Vec<HeaderValue>) -> Response {
    for c in set_cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// The raw value of a query parameter (our keys and values are plain ASCII words).
pub(crate) fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A time for people: `2026-11-23 12:00 UTC`.
pub(crate) fn when(t: UnixTime) -> String {
    let s = rfc3339(t);
    match (s.get(..10), s.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => s,
    }
}

/// A form with no field but its CSRF token (a button).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct NoFields {}

/// The shared state extractor.
pub(crate) type St = State<AppState>;
