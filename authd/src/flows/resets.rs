//! Step-up re-authentication and resets of another account's second factors.
//!
//! Rules: nobody resets their own factors; helpdesk staff reset ordinary accounts (the
//! permission matrix's target rules); resetting an **admin's** factors needs two admins other
//! than the target when `mfa.two_person_admin_reset` is on — one files the request, another
//! approves it within `mfa.reset_approval_window` — and one other admin otherwise. Every step
//! needs a sign-in or re-authentication of the acting account within `mfa.step_up_window`
//! (`reauth_required`). A reset removes TOTP devices and unused backup codes, disables the
//! account's hardware keys and ends its sessions and pending logins, in one transaction with
//! its audit entry; the account enrols again at its next login.

use crate::app::Authd;
use crate::authz::{Permission, TargetRefusal, allows, may_act_on};
use crate::clock::UnixTime;
use crate::credentials::{backup_codes, totp};
use crate::flows::login::{Authenticated, MfaMethod};
use crate::model::*;
use crate::store::Effect;
use crate::{Error, Result};
use serde_json::json;

/// Refuse unless `who` signed in or re-authenticated within the step-up window.
pub fn require_recent(app: &Authd, who: &Authenticated, now: UnixTime) -> Result<()> {
    let window = app.config.mfa.step_up_window.as_secs() as i64;
    if now - who.session.authenticated_at > window {
        return Err(Error::ReauthRequired);
    }
    Ok(())
}

/// Re-authenticate the caller on their current session: the password, and a second factor
/// when the account has one (the code is consumed like at login).
pub fn reauth(
    app: &Authd,
    who: &Authenticated,
    password: &str,
    second: Option<(MfaMethod, &str)>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let user = &who.user;
    let audit = |outcome, detail| {
        client.event(
            now,
            Some(&user.username),
            "session.reauth",
            Some(&user.username),
            outcome,
            detail,
        )
    };
    let refuse = |reason: &str, err: Error| -> Result<()> {
        app.store
            .append_audit(audit(Outcome::Failure, json!({ "reason": reason })))?;
        app.guard.login_failed(client, now.saturating_mul(1000))?;
        Err(err)
    };
    let pw = crate::credentials::password::normalize(password);
    if pw.len() > app.policy.max_bytes || !app.hasher.verify(pw.as_bytes(), &user.password_hash)? {
        return refuse("bad_password", Error::InvalidCredentials);
    }
    let methods = crate::flows::login::mfa_methods(app, user)?;
    let effect = if methods.is_empty() {
        None
    } else {
        let Some((method, code)) = second else {
            return Err(Error::InvalidRequest(format!(
                "this account has a second factor: send \"method\" ({}) and \"code\"",
                methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        };
        if !methods.contains(&method) {
            return Err(Error::MethodNotAvailable);
        }
        let found = match method {
            MfaMethod::Totp => {
                let creds = app.store.list_totp(user.id)?;
                totp::find_match(&app.key, &creds, code, now, app.config.totp.skew_steps)?.map(
                    |(credential_id, step)| Effect::TotpStep {
                        credential_id,
                        step,
                    },
                )
            }
            MfaMethod::BackupCode => {
                let mut found = None;
                if let Some(norm) = backup_codes::normalize(code) {
                    for c in app
                        .store
                        .unused_backup_codes(user.id, backup_codes::tag_of(&norm))?
                    {
                        if app.hasher.verify(norm.as_bytes(), &c.hash)? {
                            found = Some(Effect::BackupCode { code_id: c.id });
                            break;
                        }
                    }
                }
                found
            }
            // A key's answer needs a ceremony of its own: step up with a code instead.
            MfaMethod::Webauthn => return Err(Error::MethodNotAvailable),
        };
        match found {
            Some(e) => Some(e),
            None => return refuse("bad_code", Error::InvalidCode),
        }
    };
    let detail = json!({ "method": second.map(|(m, _)| m.as_str()) });
    if !app.store.step_up_session(
        user.id,
        who.session.id,
        effect,
        now,
        audit(Outcome::Success, detail),
    )? {
        return refuse("replay", Error::InvalidCode);
    }
    Ok(())
}

/// What filing a reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    /// Waits for a second admin (two-person rule).
    Pending(MfaReset),
    /// Applied at once.
    Done {
        /// The request's id.
        id: i64,
        /// What was removed.
        outcome: ResetOutcome,
    },
}

fn user_named(app: &Authd, username: &str) -> Result<User> {
    let name = crate::credentials::password::normalize_username(username)
        .map_err(|_| Error::NotFound("user"))?;
    app.store
        .user_by_name(&name)?
        .ok_or(Error::NotFound("user"))
}

/// File a reset of `target`'s second factors (admin, or helpdesk for ordinary accounts).
pub fn request(
    app: &Authd,
    who: &Authenticated,
    target: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Filed> {
    if !allows(&who.user.roles, Permission::Helpdesk) {
        return Err(Error::Forbidden);
    }
    let target = user_named(app, target)?;
    match may_act_on(&who.user, &target, Permission::Helpdesk) {
        Ok(()) => {}
        Err(TargetRefusal::OwnAccount) => {
            return Err(Error::SelfAction(
                "nobody resets their own second factors: ask another admin",
            ));
        }
        Err(TargetRefusal::Forbidden) => return Err(Error::Forbidden),
    }
    require_recent(app, who, now)?;
    let new = NewMfaReset {
        target_id: target.id,
        requested_by: Some(who.user.id),
        created_at: now,
        expires_at: now + app.config.mfa.reset_approval_window.as_secs() as i64,
    };
    let event = |action, detail| {
        client.event(
            now,
            Some(&who.user.username),
            action,
            Some(&target.username),
            Outcome::Success,
            detail,
        )
    };
    if target.has_role(Role::Admin) && app.config.mfa.two_person_admin_reset {
        if let Some(open) = app
            .store
            .list_mfa_resets()?
            .into_iter()
            .find(|r| r.target_id == target.id && r.state(now) == ResetState::Pending)
        {
            return Err(Error::Conflict {
                code: "reset_already_pending",
                message: format!(
                    "a reset of {}'s second factors is already waiting for approval (request {})",
                    target.username, open.id
                ),
            });
        }
        let id = app.store.create_mfa_reset(
            new,
            event("mfa_reset.request", json!({ "two_person": true })),
        )?;
        let filed = app.store.mfa_reset(id)?.ok_or(Error::NotFound("reset"))?;
        return Ok(Filed::Pending(filed));
    }
    let (id, outcome) = app.store.apply_mfa_reset(
        new,
        event("mfa_reset.apply", json!({ "two_person": false })),
    )?;
    Ok(Filed::Done { id, outcome })
}

/// Approve a pending admin reset: a second admin, neither its requester nor its target.
pub fn approve(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(MfaReset, ResetOutcome)> {
    if !allows(&who.user.roles, Permission::Administration) {
        return Err(Error::Forbidden);
    }
    let r = app.store.mfa_reset(id)?.ok_or(Error::NotFound("reset"))?;
    if r.target_id == who.user.id {
        return Err(Error::SelfAction(
            "nobody approves a reset of their own second factors",
        ));
    }
    if r.requested_by_id == Some(who.user.id) {
        return Err(Error::SelfAction(
            "a second admin must approve: the admin who filed the reset cannot",
        ));
    }
    match r.state(now) {
        ResetState::Pending => {}
        ResetState::Expired => {
            return Err(Error::Conflict {
                code: "reset_expired",
                message: "the reset was not approved in time; file a new one".into(),
            });
        }
        ResetState::Done => {
            return Err(Error::Conflict {
                code: "reset_not_pending",
                message: "the reset has already been applied".into(),
            });
        }
    }
    require_recent(app, who, now)?;
    let audit = client.event(
        now,
        Some(&who.user.username),
        "mfa_reset.approve",
        Some(&r.target),
        Outcome::Success,
        json!({ "request": id, "requested_by": r.requested_by }),
    );
    let outcome = app
        .store
        .approve_mfa_reset(id, who.user.id, now, audit)?
        .ok_or(Error::Conflict {
            code: "reset_not_pending",
            message: "the reset is no longer pending".into(),
        })?;
    let done = app.store.mfa_reset(id)?.ok_or(Error::NotFound("reset"))?;
    Ok((done, outcome))
}

/// The offline way out when too few admins exist: reset `target` on a stopped appliance's
/// store. Whoever holds the machine holds the appliance; the audit says so loudly.
pub fn offline(
    store: &dyn crate::store::Store,
    target: &str,
    operator: &str,
    now: UnixTime,
) -> Result<ResetOutcome> {
    let name = crate::credentials::password::normalize_username(target)
        .map_err(|_| Error::NotFound("user"))?;
    let target = store.user_by_name(&name)?.ok_or(Error::NotFound("user"))?;
    let new = NewMfaReset {
        target_id: target.id,
        requested_by: None,
        created_at: now,
        expires_at: now,
    };
    let audit = AuditEvent {
        at: now,
        actor: None,
        action: "mfa_reset.offline",
        target: Some(target.username.clone()),
        outcome: Outcome::Success,
        address: "local".into(),
        user_agent: "sesame admin (offline)".into(),
        detail: json!({
            "warning": "second factors reset from the data directory of a stopped appliance, without any admin's approval",
            "operator": operator,
        }),
    };
    let (_, outcome) = store.apply_mfa_reset(new, audit)?;
    Ok(outcome)
}
