//! Administration of accounts (role `admin`, enforced by [`WebAdmin`] and [`AdminForm`]): list,
//! create, enable/disable, delete, set a password, set roles and groups (second-factor resets:
//! `admin_policy`). The rules (no self-disable, no
//! self-demotion, password policy) live in `flows::admin`; this module only renders.
//!
//! The target account travels in a hidden `username` field, not in the URL, so usernames with
//! any allowed character need no path encoding.

use super::extract::{AdminForm, Secret, WebAdmin, WebSession};
use super::{AppState, Chrome, St, Tr, error_text, render, status_of};
use crate::flows::admin::{self, CreateUser, PatchUser, SetPassword};
use crate::model::{Role, User};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

struct UserRow {
    username: String,
    roles: String,
    is_user: bool,
    is_helpdesk: bool,
    is_technician: bool,
    is_admin: bool,
    groups: String,
    disabled: bool,
    must_change: bool,
    is_self: bool,
}

/// What the create form showed, to fill it again after an error (never the password).
struct CreateDraft {
    username: String,
    user: bool,
    helpdesk: bool,
    technician: bool,
    admin: bool,
    groups: String,
    must_change: bool,
}

impl Default for CreateDraft {
    fn default() -> Self {
        CreateDraft {
            username: String::new(),
            user: true,
            helpdesk: false,
            technician: false,
            admin: false,
            groups: String::new(),
            must_change: true,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    t: &'static Tr,
    c: Chrome,
    users: Vec<UserRow>,
    draft: CreateDraft,
}

fn row(t: &Tr, me: &User, (u, groups): (User, Vec<String>)) -> UserRow {
    UserRow {
        roles: u
            .roles
            .iter()
            .map(|r| t.role(*r))
            .collect::<Vec<_>>()
            .join(", "),
        is_user: u.has_role(Role::User),
        is_helpdesk: u.has_role(Role::Helpdesk),
        is_technician: u.has_role(Role::Technician),
        is_admin: u.has_role(Role::Admin),
        groups: groups.join(", "),
        disabled: u.disabled,
        must_change: u.must_change_password,
        is_self: u.id == me.id,
        username: u.username,
    }
}

async fn users_page(
    st: &AppState,
    s: &WebSession,
    query: Option<&str>,
    status: StatusCode,
    error: Option<String>,
    draft: CreateDraft,
) -> Response {
    let t = s.lang.tr();
    let who = s.who.clone();
    let list = match st
        .app
        .blocking(move |app| {
            let users = admin::list_users(app, &who)?;
            users
                .into_iter()
                .map(|u| {
                    let g = app.store.user_groups(u.id)?;
                    Ok((u, g))
                })
                .collect::<crate::Result<Vec<_>>>()
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let page = UsersPage {
        t,
        c: Chrome::signed_in(st, s, "/admin/users")
            .with_notice(t, query)
            .with_error(error),
        users: list.into_iter().map(|u| row(t, &s.who.user, u)).collect(),
        draft,
    };
    render(status, &page)
}

/// The users page with a domain error.
pub(super) async fn users_error(st: &AppState, s: &WebSession, e: &crate::Error) -> Response {
    let text = Some(error_text(s.lang, e));
    users_page(st, s, None, status_of(e), text, CreateDraft::default()).await
}

/// `GET /admin/users`.
pub(super) async fn page(State(st): St, WebAdmin(s): WebAdmin, parts: Parts) -> Response {
    let q = parts.uri.query();
    users_page(&st, &s, q, StatusCode::OK, None, CreateDraft::default()).await
}

/// Checkbox fields of the role choice.
fn roles_of(user: bool, helpdesk: bool, technician: bool, admin: bool) -> Vec<String> {
    [
        (user, Role::User),
        (helpdesk, Role::Helpdesk),
        (technician, Role::Technician),
        (admin, Role::Admin),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, r)| r.as_str().to_owned())
    .collect()
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    username: String,
    password: Secret,
    role_user: Option<String>,
    role_helpdesk: Option<String>,
    role_technician: Option<String>,
    role_admin: Option<String>,
    #[serde(default)]
    groups: String,
    must_change: Option<String>,
}

/// `POST /admin/users`: create an account.
pub(super) async fn create(
    State(st): St,
    parts: Parts,
    AdminForm { s, form }: AdminForm<CreateForm>,
) -> Response {
    let draft = CreateDraft {
        username: form.username.chars().take(150).collect(),
        user: form.role_user.is_some(),
        helpdesk: form.role_helpdesk.is_some(),
        technician: form.role_technician.is_some(),
        admin: form.role_admin.is_some(),
        groups: form.groups.chars().take(1000).collect(),
        must_change: form.must_change.is_some(),
    };
    let groups = super::admin_policy::group_list(&form.groups);
    let req = CreateUser {
        username: form.username,
        password: form.password.as_str().to_owned(),
        roles: roles_of(draft.user, draft.helpdesk, draft.technician, draft.admin),
        must_change_password: draft.must_change,
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let r = st
        .app
        .blocking(move |app| {
            // Unknown groups are refused before the account exists.
            super::admin_policy::check_groups(app, &groups)?;
            let u = admin::create_user(app, &who, &req, &client, now)?;
            if !groups.is_empty() {
                crate::flows::directory::set_groups(app, &who, &u, &groups, &client, now)?;
            }
            Ok(u)
        })
        .await;
    match r {
        Ok(_) => Redirect::to("/admin/users?done=user_created").into_response(),
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            users_page(&st, &s, None, status_of(&e), text, draft).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    username: String,
    #[serde(default)]
    password: Secret,
    role_user: Option<String>,
    role_helpdesk: Option<String>,
    role_technician: Option<String>,
    role_admin: Option<String>,
    #[serde(default)]
    groups: String,
    must_change: Option<String>,
    confirm: Option<String>,
}

/// `POST /admin/users/{action}` with `action` one of `enable`, `disable`, `delete`,
/// `password`, `roles`, `groups` (comma-separated names); the account is the form's `username`.
pub(super) async fn action(
    State(st): St,
    Path(action): Path<String>,
    parts: Parts,
    AdminForm { s, form }: AdminForm<ActionForm>,
) -> Response {
    let t = s.lang.tr();
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let name = form.username.clone();
    let (done, r) = match action.as_str() {
        "enable" | "disable" => {
            let req = PatchUser {
                roles: None,
                disabled: Some(action == "disable"),
                groups: None,
            };
            let r = st
                .app
                .blocking(move |app| admin::patch_user(app, &who, &name, &req, &client, now))
                .await;
            ("user_updated", r.map(drop))
        }
        "roles" => {
            let req = PatchUser {
                roles: Some(roles_of(
                    form.role_user.is_some(),
                    form.role_helpdesk.is_some(),
                    form.role_technician.is_some(),
                    form.role_admin.is_some(),
                )),
                disabled: None,
                groups: None,
            };
            let r = st
                .app
                .blocking(move |app| admin::patch_user(app, &who, &name, &req, &client, now))
                .await;
            ("user_updated", r.map(drop))
        }
        "groups" => {
            let req = PatchUser {
                roles: None,
                disabled: None,
                groups: Some(super::admin_policy::group_list(&form.groups)),
            };
            let r = st
                .app
                .blocking(move |app| admin::patch_user(app, &who, &name, &req, &client, now))
                .await;
            ("groups_set", r.map(drop))
        }
        "password" => {
            let req = SetPassword {
                password: form.password.as_str().to_owned(),
                must_change_password: form.must_change.is_some(),
            };
            let r = st
                .app
                .blocking(move |app| admin::set_password(app, &who, &name, &req, &client, now))
                .await;
            ("password_set", r)
        }
        "delete" if form.confirm.is_some() => {
            let r = st
                .app
                .blocking(move |app| admin::delete_user(app, &who, &name, &client, now))
                .await;
            ("user_deleted", r)
        }
        "delete" => {
            let error = Some(t.delete_confirm.to_owned());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return users_page(&st, &s, None, status, error, CreateDraft::default()).await;
        }
        _ => return super::error_page(&st, s.lang, &crate::Error::NotFound("page")),
    };
    match r {
        Ok(()) => Redirect::to(&format!("/admin/users?done={done}")).into_response(),
        Err(e) => {
            let text = Some(error_text(s.lang, &e));
            users_page(&st, &s, None, status_of(&e), text, CreateDraft::default()).await
        }
    }
}
