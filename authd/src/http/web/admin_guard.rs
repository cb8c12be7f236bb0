//! The guard's administration page (role `admin`, enforced by [`WebAdmin`] and [`AdminForm`]):
//! suspended addresses (filters, lift one, lift all, suspend by hand), IP rules (list, add,
//! delete) and unlocking an account after too many wrong passwords. The rules — parsing,
//! the self-lockout check, the audit — live in `flows::guard_admin`; this module only renders.
//!
//! Addresses, rule ids and usernames travel in form fields, not in the URL, so IPv6 ranges and
//! any allowed username need no path encoding. After an action the browser is sent back to
//! `/admin/guard` with a `?done=` notice; a refusal shows the page again with the error in the
//! page's language and the forms as typed.

use super::extract::{AdminForm, WebAdmin, WebSession};
use super::{AppState, Chrome, St, Tr, error_text, render, status_of, when};
use crate::flows::guard_admin;
use crate::guard::rules::{Action, IpRule, Scope};
use crate::store::Suspension;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Most suspensions listed on one page; the filters narrow the list.
const MAX_ROWS: usize = 500;

/// The reasons the guard suspends on its own, in the order of the filter's suggestions.
const AUTO_REASONS: [&str; 3] = ["failed_logins", "flood", "forbidden_requests"];

/// The scope choices of the add form; `user` takes the account from a text field.
const SCOPES: [&str; 6] = [
    "global",
    "role:user",
    "role:helpdesk",
    "role:technician",
    "role:admin",
    "user",
];

struct SuspensionRow {
    address: String,
    /// The automatic reason's label, or the reason as an admin typed it.
    reason: String,
    /// Stable code of an automatic reason (shown beside its label).
    reason_code: Option<String>,
    count: u32,
    first_seen: String,
    last_seen: String,
    /// `None`: until lifted.
    expires: Option<String>,
    /// `None`: suspended by the guard itself.
    by: Option<String>,
}

struct RuleRow {
    id: i64,
    scope: String,
    /// Stable action name (CSS class).
    action_code: &'static str,
    action: &'static str,
    range: String,
    created_at: String,
    created_by: Option<String>,
}

/// The suspension filters, as typed.
#[derive(Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    address: String,
}

impl Filters {
    fn any(&self) -> bool {
        !(self.reason.is_empty() && self.address.is_empty())
    }
}

/// What the forms showed, to fill them again after an error.
struct Draft {
    scope: String,
    rule_user: String,
    action: String,
    cidr: String,
    address: String,
    reason: String,
    duration: String,
    unlock_user: String,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            scope: "global".into(),
            rule_user: String::new(),
            action: "deny".into(),
            cidr: String::new(),
            address: String::new(),
            reason: String::new(),
            duration: String::new(),
            unlock_user: String::new(),
        }
    }
}

struct ScopeOption {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_guard.html")]
struct GuardPage {
    t: &'static Tr,
    c: Chrome,
    your_address: Option<String>,
    filters: Filters,
    filtered: bool,
    reasons: Vec<(&'static str, &'static str)>,
    suspensions: Vec<SuspensionRow>,
    truncated: Option<String>,
    rules: Vec<RuleRow>,
    scopes: Vec<ScopeOption>,
    draft: Draft,
}

fn scope_label(t: &Tr, scope: &Scope) -> String {
    match scope {
        Scope::Global => t.guard.scope_global.to_owned(),
        Scope::Role(r) => t.guard.scope_role.replace("{role}", t.role(*r)),
        Scope::User(u) => t.guard.scope_user.replace("{user}", u),
    }
}

fn rule_row(t: &Tr, r: IpRule) -> RuleRow {
    RuleRow {
        id: r.id,
        scope: scope_label(t, &r.scope),
        action_code: r.action.as_str(),
        action: match r.action {
            Action::Allow => t.guard.allow,
            Action::Deny => t.guard.deny,
        },
        range: r.net.to_string(),
        created_at: when(r.created_at),
        created_by: r.created_by,
    }
}

fn suspension_row(t: &Tr, s: Suspension) -> SuspensionRow {
    // Only the guard's own suspensions carry a reason code; an admin's reason is shown as typed
    // (even if it reads `flood`).
    let label = s
        .created_by
        .is_none()
        .then(|| t.guard.reason(&s.reason))
        .flatten();
    SuspensionRow {
        reason: label.map_or_else(|| s.reason.clone(), str::to_owned),
        reason_code: label.map(|_| s.reason),
        address: s.address,
        count: s.count,
        first_seen: when(s.first_seen),
        last_seen: when(s.last_seen),
        expires: s.expires_at.map(when),
        by: s.created_by,
    }
}

/// What the page shows besides the lists.
struct View<'a> {
    query: Option<&'a str>,
    filters: Filters,
    status: StatusCode,
    error: Option<String>,
    draft: Draft,
}

impl View<'_> {
    /// The page after a refused form: the error, the forms as typed.
    fn after_form(status: StatusCode, error: String, draft: Draft) -> Self {
        View {
            query: None,
            filters: Filters::default(),
            status,
            error: Some(error),
            draft,
        }
    }
}

/// The page, its lists read fresh.
async fn guard_page(st: &AppState, s: &WebSession, parts: &Parts, v: View<'_>) -> Response {
    let t = s.lang.tr();
    let who = s.who.clone();
    let now = st.app.now();
    let nonempty = |x: &str| Some(x.trim().to_owned()).filter(|x| !x.is_empty());
    let (reason, address) = (nonempty(&v.filters.reason), nonempty(&v.filters.address));
    let listed = st
        .app
        .blocking(move |app| {
            let rules = guard_admin::list_rules(app, &who)?;
            let susp = guard_admin::list_suspensions(
                app,
                &who,
                reason.as_deref(),
                address.as_deref(),
                now,
            )?;
            Ok((rules, susp))
        })
        .await;
    let (rules, suspensions) = match listed {
        Ok(l) => l,
        Err(e) => return super::error_page(st, s.lang, &e),
    };
    let truncated = (suspensions.len() > MAX_ROWS)
        .then(|| t.guard.too_many.replace("{n}", &MAX_ROWS.to_string()));
    let your_address = crate::http::extract::client_info(parts)
        .ip
        .map(|ip| t.guard.your_address.replace("{ip}", &ip.to_string()));
    let page = GuardPage {
        t,
        c: Chrome::signed_in(st, s, "/admin/guard")
            .with_notice(t, v.query)
            .with_error(v.error),
        your_address,
        filtered: v.filters.any(),
        filters: v.filters,
        reasons: AUTO_REASONS
            .iter()
            .map(|code| (*code, t.guard.reason(code).unwrap_or(code)))
            .collect(),
        suspensions: suspensions
            .into_iter()
            .take(MAX_ROWS)
            .map(|x| suspension_row(t, x))
            .collect(),
        truncated,
        rules: rules.into_iter().map(|r| rule_row(t, r)).collect(),
        scopes: SCOPES
            .iter()
            .map(|value| ScopeOption {
                value,
                label: match *value {
                    "global" => t.guard.scope_global.to_owned(),
                    "user" => t.guard.scope_one_account.to_owned(),
                    role => {
                        Scope::parse(role).map_or_else(|_| role.to_owned(), |s| scope_label(t, &s))
                    }
                },
                selected: v.draft.scope == *value,
            })
            .collect(),
        draft: v.draft,
    };
    render(v.status, &page)
}

/// `GET /admin/guard?reason=&address=`.
pub(super) async fn page(
    State(st): St,
    WebAdmin(s): WebAdmin,
    filters: Result<Query<Filters>, QueryRejection>,
    parts: Parts,
) -> Response {
    let filters = filters.map(|Query(f)| f).unwrap_or_default();
    let view = View {
        query: parts.uri.query(),
        filters,
        status: StatusCode::OK,
        error: None,
        draft: Draft::default(),
    };
    guard_page(&st, &s, &parts, view).await
}

/// The fields of every form of the page; each action reads its own.
#[derive(Deserialize)]
pub(super) struct GuardForm {
    /// Rule: `global`, `role:NAME` or `user` (then `rule_user` names the account).
    #[serde(default)]
    scope: String,
    #[serde(default)]
    rule_user: String,
    /// Rule: `allow` or `deny`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    cidr: String,
    /// Rule to delete.
    #[serde(default)]
    id: String,
    /// Suspension: address or range (to suspend or to lift).
    #[serde(default)]
    address: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    duration: String,
    /// Account to unlock.
    #[serde(default)]
    username: String,
    confirm: Option<String>,
}

impl GuardForm {
    /// The form as typed, to show it again (bounded like the fields' `maxlength`).
    fn draft(&self, what: &str) -> Draft {
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let mut d = Draft::default();
        match what {
            "rule-add" => {
                if SCOPES.contains(&self.scope.as_str()) {
                    d.scope.clone_from(&self.scope);
                }
                if self.action == "allow" {
                    d.action = "allow".into();
                }
                d.rule_user = cut(&self.rule_user, 150);
                d.cidr = cut(&self.cidr, 64);
            }
            "suspend" => {
                d.address = cut(&self.address, 64);
                d.reason = cut(&self.reason, 200);
                d.duration = cut(&self.duration, 16);
            }
            "unlock" => d.unlock_user = cut(&self.username, 150),
            _ => {}
        }
        d
    }

    /// The scope text of the flow: the account's name joins `user`.
    fn scope_text(&self) -> String {
        if self.scope == "user" {
            format!("user:{}", self.rule_user.trim())
        } else {
            self.scope.clone()
        }
    }
}

/// `POST /admin/guard/{what}` with `what` one of `rule-add`, `rule-delete`, `suspend`,
/// `lift`, `lift-all`, `unlock`.
pub(super) async fn action(
    State(st): St,
    Path(what): Path<String>,
    parts: Parts,
    AdminForm { s, form }: AdminForm<GuardForm>,
) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let who = s.who.clone();
    let draft = form.draft(&what);
    let (done, r) = match what.as_str() {
        "rule-add" => {
            let scope = form.scope_text();
            let r = st
                .app
                .blocking(move |app| {
                    let f = form;
                    guard_admin::add_rule(app, &who, &scope, &f.action, &f.cidr, &client, now)
                })
                .await;
            ("rule_added", r.map(drop))
        }
        "rule-delete" => {
            let r = match form.id.trim().parse::<i64>() {
                Ok(id) => {
                    st.app
                        .blocking(move |app| guard_admin::delete_rule(app, &who, id, &client, now))
                        .await
                }
                Err(_) => Err(crate::Error::InvalidRequest(format!(
                    "\"{}\" is not a valid rule id",
                    form.id
                ))),
            };
            ("rule_deleted", r)
        }
        "suspend" => {
            let r = st
                .app
                .blocking(move |app| {
                    let f = form;
                    let duration = Some(f.duration.trim()).filter(|d| !d.is_empty());
                    guard_admin::suspend(app, &who, &f.address, &f.reason, duration, &client, now)
                })
                .await;
            ("address_suspended", r.map(drop))
        }
        "lift" => {
            let r = st
                .app
                .blocking(move |app| {
                    guard_admin::lift(app, &who, Some(form.address.trim()), &client, now)
                })
                .await;
            ("suspension_lifted", r.map(drop))
        }
        "lift-all" if form.confirm.is_some() => {
            let r = st
                .app
                .blocking(move |app| guard_admin::lift(app, &who, None, &client, now))
                .await;
            ("suspensions_lifted", r.map(drop))
        }
        "lift-all" => {
            let t = s.lang.tr();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let view = View::after_form(status, t.guard.lift_all_unconfirmed.to_owned(), draft);
            return guard_page(&st, &s, &parts, view).await;
        }
        "unlock" => {
            let r = st
                .app
                .blocking(move |app| {
                    guard_admin::unlock_account(app, &who, form.username.trim(), &client, now)
                })
                .await;
            ("account_unlocked", r)
        }
        _ => return super::error_page(&st, s.lang, &crate::Error::NotFound("page")),
    };
    match r {
        Ok(()) => Redirect::to(&format!("/admin/guard?done={done}")).into_response(),
        Err(e) => {
            let view = View::after_form(status_of(&e), error_text(s.lang, &e), draft);
            guard_page(&st, &s, &parts, view).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn every_role_has_a_scope_choice() {
        for r in Role::ALL {
            assert!(SCOPES.contains(&format!("role:{}", r.as_str()).as_str()));
        }
        for s in SCOPES.iter().filter(|s| **s != "user") {
            assert!(Scope::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn a_rule_on_one_account_takes_the_name_field() {
        let form = GuardForm {
            scope: "user".into(),
            rule_user: " Alice ".into(),
            action: "deny".into(),
            cidr: String::new(),
            id: String::new(),
            address: String::new(),
            reason: String::new(),
            duration: String::new(),
            username: String::new(),
            confirm: None,
        };
        assert_eq!(form.scope_text(), "user:Alice");
        assert_eq!(
            Scope::parse(&form.scope_text()).unwrap(),
            Scope::User("alice".into())
        );
    }
}
