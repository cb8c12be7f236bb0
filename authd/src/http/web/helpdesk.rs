//! The helpdesk console (role `helpdesk` or `admin`, enforced by [`WebHelpdesk`] and
//! [`HelpdeskForm`]): the hardware keys with filters and, per key, assign / cancel the PIN /
//! disable / resync / unlock; temporary passwords (shown once) and their revocation. The
//! seed-file import form is on the same page; its handler is `helpdesk_import`. The rules — who may act on
//! whom, what each state allows — live in `flows::helpdesk`; this module only renders.
//!
//! The key travels in a hidden `serial` field and the account in a `username` field, not in
//! the URL, so any serial or username needs no path encoding. After a key action the browser
//! is sent back to the list filtered on that key, with a `?done=` notice.

use super::extract::{HelpdeskForm, Secret, WebHelpdesk, WebSession};
use super::helpdesk_import::ImportView;
use super::{AppState, Chrome, St, Tr, error_text, render, status_of, when};
use crate::flows::helpdesk;
use crate::model::{DisableReason, KeyKind, KeyState, OtpKey};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Most keys listed on one page; the filters narrow the list.
const MAX_ROWS: usize = 500;

/// The key states, in the order of the filter.
const STATES: [&str; 4] = ["in_stock", "assigned", "disabled", "revoked"];

struct KeyRow {
    serial: String,
    kind: String,
    /// Stable state name (CSS class).
    state_code: &'static str,
    state: &'static str,
    reason: Option<&'static str>,
    note: Option<String>,
    owner: Option<String>,
    pin_set: bool,
    failures: u32,
    locked: bool,
    last_used: Option<String>,
    can_assign: bool,
    can_cancel_pin: bool,
    can_disable: bool,
    can_resync: bool,
    can_unlock: bool,
}

/// The list filters, as typed.
#[derive(Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    state: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    serial: String,
}

impl Filters {
    fn any(&self) -> bool {
        !(self.state.is_empty() && self.user.is_empty() && self.serial.is_empty())
    }
}

struct StateOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "helpdesk.html")]
struct HelpdeskPage {
    t: &'static Tr,
    /// Texts of the security-keys section (its page is `helpdesk_webauthn`).
    wa: &'static super::strings_webauthn::WebauthnTr,
    c: Chrome,
    filters: Filters,
    filtered: bool,
    states: Vec<StateOption>,
    keys: Vec<KeyRow>,
    truncated: Option<String>,
    reasons: Vec<(&'static str, &'static str)>,
    import: ImportView,
    valid_for_hint: String,
}

#[derive(Template)]
#[template(path = "temp_password.html")]
struct TempPasswordPage {
    t: &'static Tr,
    c: Chrome,
    title: String,
    warning: String,
    how: String,
    password: Zeroizing<String>,
    expires: String,
}

fn kind_label(t: &Tr, kind: KeyKind, digits: u8) -> String {
    match kind {
        KeyKind::Totp { period } => t.keys.kind_totp.replace("{period}", &period.to_string()),
        KeyKind::Hotp => t.keys.kind_hotp.to_owned(),
    }
    .replace("{digits}", &digits.to_string())
}

fn row(t: &Tr, k: OtpKey, max_failures: u32) -> KeyRow {
    let assigned = k.state == KeyState::Assigned;
    let live = matches!(k.state, KeyState::InStock | KeyState::Assigned);
    KeyRow {
        kind: kind_label(t, k.kind, k.digits.get()),
        state_code: k.state.as_str(),
        state: t.keys.state(k.state),
        reason: match k.state {
            KeyState::Disabled(r) => Some(t.keys.reason(r)),
            _ => None,
        },
        note: k.disabled_note.filter(|n| !n.is_empty()),
        owner: k.owner_name,
        pin_set: k.pin_hash.is_some(),
        failures: k.fail_count,
        locked: k.fail_count >= max_failures,
        last_used: k.last_used_at.map(when),
        can_assign: k.state == KeyState::InStock,
        can_cancel_pin: assigned && k.pin_hash.is_some(),
        can_disable: live,
        can_resync: live,
        can_unlock: live && k.fail_count > 0,
        serial: k.serial,
    }
}

/// What the console page shows besides the key list.
pub(super) struct View<'a> {
    query: Option<&'a str>,
    filters: Filters,
    status: StatusCode,
    error: Option<String>,
    import: ImportView,
}

impl View<'_> {
    /// The page after a form, with an error or an import result.
    pub(super) fn after_form(
        status: StatusCode,
        error: Option<String>,
        import: ImportView,
    ) -> Self {
        View {
            query: None,
            filters: Filters::default(),
            status,
            error,
            import,
        }
    }
}

/// The console page, its key list read fresh.
pub(super) async fn console(st: &AppState, s: &WebSession, v: View<'_>) -> Response {
    let t = s.lang.tr();
    let max_failures = st.app.config.keys.max_failures;
    let who = s.who.clone();
    let nonempty = |x: &str| Some(x.trim().to_owned()).filter(|x| !x.is_empty());
    let (state, user, serial) = (
        nonempty(&v.filters.state),
        nonempty(&v.filters.user),
        nonempty(&v.filters.serial),
    );
    let listed = st
        .app
        .blocking(move |app| {
            helpdesk::list(
                app,
                &who,
                state.as_deref(),
                user.as_deref(),
                serial.as_deref(),
                helpdesk::Page::default(),
            )
        })
        .await;
    let (mut status, mut error) = (v.status, v.error);
    let list = match listed {
        Ok(l) => l,
        Err(e @ (crate::Error::NotFound(_) | crate::Error::InvalidRequest(_))) => {
            // A filter naming nobody: an empty list and why, not an error page.
            if error.is_none() {
                error = Some(error_text(s.lang, &e));
                status = status_of(&e);
            }
            vec![]
        }
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let truncated =
        (list.len() > MAX_ROWS).then(|| t.keys.too_many_keys.replace("{n}", &MAX_ROWS.to_string()));
    let max_validity = st.app.config.keys.temporary_password_max_validity;
    let page = HelpdeskPage {
        t,
        wa: super::strings_webauthn::of(s.lang),
        c: Chrome::signed_in(st, s, "/helpdesk")
            .with_notice(t, v.query)
            .with_error(error),
        filtered: v.filters.any(),
        states: STATES
            .iter()
            .map(|code| StateOption {
                code,
                label: match *code {
                    "in_stock" => t.keys.state_in_stock,
                    "assigned" => t.keys.state_assigned,
                    "disabled" => t.keys.state_disabled,
                    _ => t.keys.state_revoked,
                },
                selected: v.filters.state == *code,
            })
            .collect(),
        filters: v.filters,
        keys: list
            .into_iter()
            .take(MAX_ROWS)
            .map(|k| row(t, k, max_failures))
            .collect(),
        truncated,
        reasons: [
            DisableReason::Lost,
            DisableReason::Stolen,
            DisableReason::Broken,
            DisableReason::Other,
        ]
        .into_iter()
        .map(|r| (r.as_str(), t.keys.reason(r)))
        .collect(),
        import: v.import,
        valid_for_hint: t
            .keys
            .valid_for_hint
            .replace("{max}", &sesame_config::format_duration(max_validity)),
    };
    render(status, &page)
}

/// `GET /helpdesk?state=&user=&serial=`.
pub(super) async fn page(
    State(st): St,
    WebHelpdesk(s): WebHelpdesk,
    filters: Result<Query<Filters>, QueryRejection>,
    parts: Parts,
) -> Response {
    let filters = filters.map(|Query(f)| f).unwrap_or_default();
    let view = View {
        query: parts.uri.query(),
        filters,
        status: StatusCode::OK,
        error: None,
        import: ImportView::default(),
    };
    console(&st, &s, view).await
}

/// Percent-encode a query value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct KeyActionForm {
    serial: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    replaces: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    code1: Secret,
    #[serde(default)]
    code2: Secret,
}

/// `POST /helpdesk/keys/{action}` with `action` one of `assign`, `cancel-pin`, `disable`,
/// `resync`, `unlock`; the key is the form's `serial`.
pub(super) async fn key_action(
    State(st): St,
    Path(action): Path<String>,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<KeyActionForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let serial = form.serial.trim().to_owned();
    let (done, r) = match action.as_str() {
        "assign" => {
            let f = form;
            let r = st
                .app
                .blocking(move |app| {
                    let replaces = Some(f.replaces.trim()).filter(|x| !x.is_empty());
                    helpdesk::assign(app, &who, &f.username, &f.serial, replaces, &client, now)
                })
                .await;
            ("key_assigned", r.map(drop))
        }
        "cancel-pin" => {
            let r = st
                .app
                .blocking(move |app| helpdesk::cancel_pin(app, &who, &form.serial, &client, now))
                .await;
            ("pin_cancelled", r)
        }
        "disable" => {
            let f = form;
            let r = st
                .app
                .blocking(move |app| {
                    helpdesk::disable(app, &who, &f.serial, &f.reason, &f.note, &client, now)
                })
                .await;
            ("key_disabled", r)
        }
        "resync" => {
            let f = form;
            let r = st
                .app
                .blocking(move |app| {
                    let (c1, c2) = (f.code1.as_str().trim(), f.code2.as_str().trim());
                    helpdesk::resync(app, &who, &f.serial, c1, c2, &client, now)
                })
                .await;
            ("key_resynced", r)
        }
        "unlock" => {
            let r = st
                .app
                .blocking(move |app| helpdesk::unlock(app, &who, &form.serial, &client, now))
                .await;
            ("key_unlocked", r)
        }
        _ => return super::error_page(&st, s.lang, &crate::Error::NotFound("page")),
    };
    match r {
        Ok(()) => {
            let to = format!("/helpdesk?done={done}&serial={}", url_encode(&serial));
            Redirect::to(&to).into_response()
        }
        Err(e) => {
            let t = s.lang.tr();
            let text = t
                .keys
                .key_error
                .replace("{serial}", &serial)
                .replace("{error}", &error_text(s.lang, &e));
            // Codes read off a key that do not resync it are a typing matter, not a refused
            // caller: no 401, which the guard would count against the helpdesk's address.
            let status = match e {
                crate::Error::InvalidCode => StatusCode::UNPROCESSABLE_ENTITY,
                _ => status_of(&e),
            };
            let view = View::after_form(status, Some(text), ImportView::default());
            console(&st, &s, view).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct TempForm {
    username: String,
    #[serde(default)]
    valid_for: String,
}

/// The end of validity in the appliance's local time (`keys.utc_offset`).
fn local_time(st: &AppState, t: crate::clock::UnixTime) -> String {
    match st.app.config.keys.utc_offset_seconds().unwrap_or(0) {
        0 => when(t),
        offset => {
            let local = when(t + offset);
            let day_time = local.strip_suffix(" UTC").unwrap_or(&local);
            format!("{day_time} (UTC{})", st.app.config.keys.utc_offset)
        }
    }
}

/// `POST /helpdesk/temporary-password`: a new temporary password, shown once.
pub(super) async fn temp_issue(
    State(st): St,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<TempForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let name = form.username.trim().to_owned();
    let valid_for = Some(form.valid_for.trim().to_owned()).filter(|v| !v.is_empty());
    let user = name.clone();
    let r = st
        .app
        .blocking(move |app| {
            helpdesk::temporary_password(app, &who, &user, valid_for.as_deref(), &client, now)
        })
        .await;
    match r {
        Ok((password, expires_at)) => {
            let t = s.lang.tr();
            let page = TempPasswordPage {
                t,
                c: Chrome::signed_in(&st, &s, "/helpdesk"),
                title: t.keys.temp_shown_title.replace("{user}", &name),
                warning: t.keys.temp_warning.replace("{user}", &name),
                how: t.keys.temp_how.replace("{user}", &name),
                password,
                expires: local_time(&st, expires_at),
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            let view = View::after_form(status_of(&e), text, ImportView::default());
            console(&st, &s, view).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    username: String,
}

/// `POST /helpdesk/temporary-password/revoke`.
pub(super) async fn temp_revoke(
    State(st): St,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<RevokeForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| {
            helpdesk::revoke_temporary_password(app, &who, &form.username, &client, now)
        })
        .await;
    match r {
        Ok(()) => Redirect::to("/helpdesk?done=temp_revoked").into_response(),
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            let view = View::after_form(status_of(&e), text, ImportView::default());
            console(&st, &s, view).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_encoded_in_the_redirect() {
        assert_eq!(url_encode("TK 1/é&x"), "TK%201%2F%C3%A9%26x");
    }
}
