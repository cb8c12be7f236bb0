//! The helpdesk console's page of an account's security keys and passkeys
//! (`/helpdesk/webauthn?user=`): label, kind, added, last used, model (AAGUID), backup state,
//! and a remove button per key (a CSRF-checked form, audited `webauthn.staff_delete`). Who may
//! act on whom is the flow's rule (`flows::webauthn::staff_list` / `staff_delete`: helpdesk on
//! ordinary accounts, admins on any but their own); this module only renders.

use super::extract::{HelpdeskForm, WebHelpdesk, WebSession};
use super::{AppState, Chrome, St, Tr, error_text, render, status_of, strings_webauthn as wtr};
use crate::flows::webauthn as flow;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

struct Row {
    id: String,
    label: String,
    kind: &'static str,
    created: String,
    last_used: String,
    aaguid: Option<String>,
    backup: &'static str,
    cloned: bool,
}

#[derive(Template)]
#[template(path = "helpdesk_webauthn.html")]
struct Page {
    t: &'static Tr,
    w: &'static wtr::WebauthnTr,
    c: Chrome,
    user: String,
    keys_title: Option<String>,
    keys: Vec<Row>,
}

fn row(w: &wtr::WebauthnTr, k: flow::KeyView) -> Row {
    let when = |s: &str| {
        crate::clock::parse_rfc3339(s)
            .map(super::when)
            .unwrap_or_default()
    };
    Row {
        created: when(&k.created_at),
        last_used: k
            .last_used_at
            .as_deref()
            .map(when)
            .unwrap_or_else(|| w.never.to_owned()),
        kind: if k.kind == "passkey" {
            w.kind_passkey
        } else {
            w.kind_security_key
        },
        backup: match (k.backup_eligible, k.backup_state) {
            (_, true) => w.backed_up,
            (true, false) => w.backup_eligible_only,
            (false, false) => w.not_backed_up,
        },
        aaguid: k.aaguid,
        cloned: k.possibly_cloned,
        label: k.label,
        id: k.credential_id,
    }
}

async fn show(
    st: &AppState,
    s: &WebSession,
    user: String,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let t = s.lang.tr();
    let w = wtr::of(s.lang);
    let user = user.trim().to_owned();
    let (mut status, mut message) = match error {
        Some((code, m)) => (code, Some(m)),
        None => (StatusCode::OK, None),
    };
    let mut keys_title = None;
    let mut keys = Vec::new();
    if !user.is_empty() {
        let who = s.who.clone();
        let name = user.clone();
        match st
            .app
            .blocking(move |app| flow::staff_list(app, &who, &name))
            .await
        {
            Ok(list) => {
                keys_title = Some(w.hd_keys_of.replace("{user}", &user));
                keys = list.into_iter().map(|k| row(w, k)).collect();
            }
            Err(e) => {
                if message.is_none() {
                    status = status_of(&e);
                    message = Some(text(s.lang, &e));
                }
            }
        }
    }
    let mut c = Chrome::signed_in(st, s, "/helpdesk/webauthn").with_error(message);
    c.notice = notice;
    render(
        status,
        &Page {
            t,
            w,
            c,
            user,
            keys_title,
            keys,
        },
    )
}

fn text(lang: super::Lang, e: &crate::Error) -> String {
    match e {
        crate::Error::Webauthn(r) => wtr::refusal(lang, *r),
        other => error_text(lang, other),
    }
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

/// The query of the page.
#[derive(Default, Deserialize)]
pub(super) struct Lookup {
    #[serde(default)]
    user: String,
    #[serde(default)]
    done: String,
}

/// `GET /helpdesk/webauthn?user=`.
pub(super) async fn page(
    State(st): St,
    WebHelpdesk(s): WebHelpdesk,
    q: Result<Query<Lookup>, QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let notice = (q.done == "removed").then(|| wtr::of(s.lang).hd_removed.to_owned());
    show(&st, &s, q.user, notice, None).await
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    username: String,
    credential_id: String,
}

/// `POST /helpdesk/webauthn/remove` (`username`, `credential_id`; CSRF-checked).
pub(super) async fn remove(
    State(st): St,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<RemoveForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let (name, id) = (form.username.trim().to_owned(), form.credential_id);
    let target = name.clone();
    match st
        .app
        .blocking(move |app| flow::staff_delete(app, &who, &target, &id, &client, now))
        .await
    {
        Ok(()) => Redirect::to(&format!(
            "/helpdesk/webauthn?user={}&done=removed",
            url_encode(&name)
        ))
        .into_response(),
        Err(e) => {
            let m = text(s.lang, &e);
            show(&st, &s, name, None, Some((status_of(&e), m))).await
        }
    }
}
