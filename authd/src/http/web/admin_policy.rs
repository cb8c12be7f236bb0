//! The MFA policy page and second-factor resets from the pages.
//!
//! - `GET /admin/policy` (admins): the requirement per role and per group (`POST
//!   /admin/policy`), the groups (`POST /admin/groups`, `POST /admin/groups/delete`) and the
//!   reset requests, each pending one with an "Approve" button (`POST
//!   /admin/resets/{id}/approve`).
//! - `POST /admin/users/mfa-reset` (users page) and `POST /helpdesk/mfa-reset` (helpdesk
//!   console): file a reset (`resets::request`). The rules — two admins for an admin's
//!   factors, helpdesk staff on ordinary accounts only, nobody on themselves — are the flow's.
//!
//! A step that needs a recent re-authentication (`reauth_required`) sends the browser to the
//! step-up page, `/account/reauth?next=...`, which comes back to the page afterwards.

use super::extract::{AdminForm, HelpdeskForm, WebAdmin, WebSession};
use super::helpdesk::View;
use super::helpdesk_import::ImportView;
use super::{AppState, Chrome, NoFields, St, Tr, error_text, render, status_of, when};
use crate::flows::{directory, resets};
use crate::model::{
    Group, MfaPolicy, MfaReset, PolicyScope, Requirement, ResetState, Role, valid_group_name,
};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One line of the policy form.
struct ScopeRow {
    /// Form field: `role:admin`, `group:parents`.
    field: String,
    /// Shown: the role's label or the group's name.
    label: String,
    is_role: bool,
    required: bool,
}

struct GroupRow {
    name: String,
    description: String,
    members: u64,
    created: String,
}

struct ResetRow {
    id: i64,
    target: String,
    requested_by: String,
    filed: String,
    expires: String,
    state: &'static str,
    state_code: &'static str,
    approved_by: String,
    pending: bool,
}

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct PolicyPage {
    t: &'static Tr,
    c: Chrome,
    scopes: Vec<ScopeRow>,
    groups: Vec<GroupRow>,
    resets: Vec<ResetRow>,
    /// The create-group form after an error.
    draft_name: String,
    draft_description: String,
}

struct PolicyData {
    policy: MfaPolicy,
    groups: Vec<Group>,
    resets: Vec<MfaReset>,
}

async fn policy_page(
    st: &AppState,
    s: &WebSession,
    query: Option<&str>,
    status: StatusCode,
    error: Option<String>,
    draft: (String, String),
) -> Response {
    let t = s.lang.tr();
    let who = s.who.clone();
    let now = st.app.now();
    let data = st
        .app
        .blocking(move |app| {
            Ok(PolicyData {
                policy: directory::policy(app, &who)?,
                groups: directory::groups(app, &who)?,
                resets: app.store.list_mfa_resets()?,
            })
        })
        .await;
    let d = match data {
        Ok(d) => d,
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let mut scopes: Vec<ScopeRow> = Role::ALL
        .into_iter()
        .map(|r| ScopeRow {
            field: PolicyScope::Role(r).to_text(),
            label: t.role(r).to_owned(),
            is_role: true,
            required: d.policy.get(&PolicyScope::Role(r)) == Requirement::Required,
        })
        .collect();
    scopes.extend(d.groups.iter().map(|g| {
        let scope = PolicyScope::Group(g.name.clone());
        ScopeRow {
            field: scope.to_text(),
            label: g.name.clone(),
            is_role: false,
            required: d.policy.get(&scope) == Requirement::Required,
        }
    }));
    let mut resets = d.resets;
    resets.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let page = PolicyPage {
        t,
        c: Chrome::signed_in(st, s, "/admin/policy")
            .with_notice(t, query)
            .with_error(error),
        scopes,
        groups: d
            .groups
            .into_iter()
            .map(|g| GroupRow {
                created: when(g.created_at),
                name: g.name,
                description: g.description,
                members: g.members,
            })
            .collect(),
        resets: resets
            .into_iter()
            .map(|r| {
                let state = r.state(now);
                ResetRow {
                    id: r.id,
                    requested_by: if r.requested_by_id.is_none() && r.requested_by.is_empty() {
                        t.policy.offline.to_owned()
                    } else {
                        r.requested_by.clone()
                    },
                    target: r.target,
                    filed: when(r.created_at),
                    expires: when(r.expires_at),
                    state: t.policy.reset_state(state),
                    state_code: state.as_str(),
                    approved_by: r.approved_by.unwrap_or_default(),
                    pending: state == ResetState::Pending,
                }
            })
            .collect(),
        draft_name: draft.0,
        draft_description: draft.1,
    };
    render(status, &page)
}

/// The policy page with a domain error.
async fn policy_error(st: &AppState, s: &WebSession, e: &crate::Error) -> Response {
    let text = Some(error_text(s.lang, e));
    policy_page(st, s, None, status_of(e), text, Default::default()).await
}

/// `GET /admin/policy`.
pub(super) async fn page(State(st): St, WebAdmin(s): WebAdmin, parts: Parts) -> Response {
    let q = parts.uri.query();
    policy_page(&st, &s, q, StatusCode::OK, None, Default::default()).await
}

/// `POST /admin/policy`: every `role:NAME` and `group:NAME` field of the form, `optional` or
/// `required`. A group set to optional loses its entry (optional is what no entry means).
pub(super) async fn policy_save(
    State(st): St,
    parts: Parts,
    AdminForm { s, form }: AdminForm<BTreeMap<String, String>>,
) -> Response {
    let mut changes = Vec::new();
    for (k, v) in &form {
        if !(k.starts_with("role:") || k.starts_with("group:")) {
            continue;
        }
        let Some(req) = Requirement::parse(v) else {
            let e = crate::Error::InvalidRequest(format!("{k} needs \"optional\" or \"required\""));
            return policy_error(&st, &s, &e).await;
        };
        let req = match (k.starts_with("group:"), req) {
            (true, Requirement::Optional) => None,
            (_, r) => Some(r),
        };
        changes.push((k.clone(), req));
    }
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| directory::set_policy(app, &who, &changes, &client, now))
        .await;
    match r {
        Ok(_) => Redirect::to("/admin/policy?done=policy_saved").into_response(),
        Err(e) => policy_error(&st, &s, &e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct GroupForm {
    name: String,
    #[serde(default)]
    description: String,
}

/// `POST /admin/groups`: create a group.
pub(super) async fn group_create(
    State(st): St,
    parts: Parts,
    AdminForm { s, form }: AdminForm<GroupForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let name = form.name.trim().to_owned();
    let description = form.description.trim().to_owned();
    let draft = (
        name.chars().take(64).collect(),
        description.chars().take(200).collect(),
    );
    let r = st
        .app
        .blocking(move |app| directory::create_group(app, &who, &name, &description, &client, now))
        .await;
    match r {
        Ok(_) => Redirect::to("/admin/policy?done=group_created").into_response(),
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            policy_page(&st, &s, None, status_of(&e), text, draft).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GroupNameForm {
    name: String,
}

/// `POST /admin/groups/delete`: delete a group (its members leave it).
pub(super) async fn group_delete(
    State(st): St,
    parts: Parts,
    AdminForm { s, form }: AdminForm<GroupNameForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| directory::delete_group(app, &who, &form.name, &client, now))
        .await;
    match r {
        Ok(()) => Redirect::to("/admin/policy?done=group_deleted").into_response(),
        Err(e) => policy_error(&st, &s, &e).await,
    }
}

/// The step-up page, coming back to `back` afterwards.
fn step_up(back: &str) -> Response {
    Redirect::to(&format!("/account/reauth?next={back}")).into_response()
}

/// `POST /admin/resets/{id}/approve`.
pub(super) async fn approve(
    State(st): St,
    Path(id): Path<String>,
    parts: Parts,
    AdminForm { s, .. }: AdminForm<NoFields>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return super::error_page(&st, s.lang, &crate::Error::NotFound("reset"));
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| resets::approve(app, &who, id, &client, now))
        .await;
    match r {
        Ok(_) => Redirect::to("/admin/policy?done=reset_approved").into_response(),
        Err(crate::Error::ReauthRequired) => step_up("/admin/policy"),
        Err(e) => policy_error(&st, &s, &e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    username: String,
}

/// File a reset of `username`'s factors: where to go next, or the error to show.
async fn file_reset(
    st: &AppState,
    s: &WebSession,
    parts: &Parts,
    username: String,
    back: &str,
) -> Result<Response, crate::Error> {
    let client = crate::http::extract::client_info(parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| resets::request(app, &who, &username, &client, now))
        .await;
    match r {
        Ok(resets::Filed::Pending(_)) => {
            Ok(Redirect::to(&format!("{back}?done=reset_pending")).into_response())
        }
        Ok(resets::Filed::Done { .. }) => {
            Ok(Redirect::to(&format!("{back}?done=reset_done")).into_response())
        }
        Err(crate::Error::ReauthRequired) => Ok(step_up(back)),
        Err(e) => Err(e),
    }
}

/// `POST /admin/users/mfa-reset` (the users page).
pub(super) async fn reset_from_users(
    State(st): St,
    parts: Parts,
    AdminForm { s, form }: AdminForm<ResetForm>,
) -> Response {
    match file_reset(&st, &s, &parts, form.username, "/admin/users").await {
        Ok(r) => r,
        Err(e) => super::admin::users_error(&st, &s, &e).await,
    }
}

/// `POST /helpdesk/mfa-reset` (the helpdesk console).
pub(super) async fn reset_from_helpdesk(
    State(st): St,
    parts: Parts,
    HelpdeskForm { s, form }: HelpdeskForm<ResetForm>,
) -> Response {
    match file_reset(&st, &s, &parts, form.username, "/helpdesk").await {
        Ok(r) => r,
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            let view = View::after_form(status_of(&e), text, ImportView::default());
            super::helpdesk::console(&st, &s, view).await
        }
    }
}

/// Group names of a comma-separated field (blank entries ignored).
pub(super) fn group_list(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(|g| g.trim().to_lowercase())
        .filter(|g| !g.is_empty())
        .collect()
}

/// Refuse a group name that is malformed or unknown, before anything is written.
pub(super) fn check_groups(app: &crate::app::Authd, groups: &[String]) -> crate::Result<()> {
    let known = app.store.list_groups()?;
    for g in groups {
        if !valid_group_name(g) || !known.iter().any(|k| &k.name == g) {
            return Err(crate::Error::Unprocessable {
                code: "unknown_group",
                message: format!("there is no group named \"{g}\""),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::group_list;

    #[test]
    fn group_fields() {
        assert_eq!(group_list(""), Vec::<String>::new());
        assert_eq!(group_list(" parents, Staff ,,"), vec!["parents", "staff"]);
    }
}
