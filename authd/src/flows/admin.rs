//! Account administration (role `admin`): create, list, change, disable, delete accounts and
//! set passwords; read the audit trail. An admin cannot disable, delete or demote themselves
//! (that is how appliances lose their last admin).

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::password;
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::store::{NewUser, UserChange};
use crate::{Error, Result};
use serde_json::json;
use zeroize::Zeroizing;

fn audit(
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
    action: &'static str,
    target: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    client.event(
        now,
        Some(&who.user.username),
        action,
        Some(target),
        Outcome::Success,
        detail,
    )
}

/// Refuse unless the caller is an admin.
pub fn require_admin(who: &Authenticated) -> Result<()> {
    if who.user.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// A new account as requested.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Username (normalised to lower case).
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Roles (default `["user"]`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the user must change the password at first login (default true).
    #[serde(default = "yes")]
    pub must_change_password: bool,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("roles", &self.roles)
            .field("must_change_password", &self.must_change_password)
            .finish()
    }
}

impl std::fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPassword")
            .field("password", &"<redacted>")
            .field("must_change_password", &self.must_change_password)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// Create an account (also used by bootstrap with a system actor).
pub fn create_user_as(
    app: &Authd,
    actor: Option<&str>,
    req: &CreateUser,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<User> {
    let username = password::normalize_username(&req.username).map_err(Error::InvalidUsername)?;
    let roles = parse_roles(&req.roles).map_err(Error::InvalidRequest)?;
    let norm = app
        .policy
        .check(
            &req.password,
            &username,
            crate::flows::policy::mfa_required_for(app, &roles, &[])?,
        )
        .map_err(Error::WeakPassword)?;
    let hash = app.hasher.hash(norm.as_bytes())?;
    let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
    app.store.create_user(
        NewUser {
            username: username.clone(),
            password_hash: hash,
            roles,
            must_change_password: req.must_change_password,
            created_at: now,
        },
        client.event(
            now,
            actor,
            "user.create",
            Some(&username),
            Outcome::Success,
            json!({ "roles": names, "must_change_password": req.must_change_password }),
        ),
    )?;
    app.store
        .user_by_name(&username)?
        .ok_or(Error::NotFound("user"))
}

/// Create an account.
pub fn create_user(
    app: &Authd,
    who: &Authenticated,
    req: &CreateUser,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<User> {
    require_admin(who)?;
    create_user_as(app, Some(&who.user.username), req, client, now)
}

/// Every account.
pub fn list_users(app: &Authd, who: &Authenticated) -> Result<Vec<User>> {
    require_admin(who)?;
    Ok(app.store.list_users()?)
}

/// One account by username.
pub fn get_user(app: &Authd, who: &Authenticated, username: &str) -> Result<User> {
    require_admin(who)?;
    let name = password::normalize_username(username).map_err(|_| Error::NotFound("user"))?;
    app.store
        .user_by_name(&name)?
        .ok_or(Error::NotFound("user"))
}

/// A change requested by an admin.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    /// New roles.
    pub roles: Option<Vec<String>>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
    /// Exactly these groups (each must exist).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// Change roles or the enabled state.
pub fn patch_user(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    req: &PatchUser,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<User> {
    let target = get_user(app, who, username)?;
    let roles = req
        .roles
        .as_deref()
        .map(parse_roles)
        .transpose()
        .map_err(Error::InvalidRequest)?;
    if target.id == who.user.id {
        if req.disabled == Some(true) {
            return Err(Error::SelfAction("you cannot disable your own account"));
        }
        if roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin)) {
            return Err(Error::SelfAction("you cannot remove your own admin role"));
        }
    }
    let detail = json!({
        "roles": roles.as_ref().map(|r| r.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
        "disabled": req.disabled,
    });
    if roles.is_some() || req.disabled.is_some() {
        app.store.update_user(
            target.id,
            UserChange {
                roles,
                disabled: req.disabled,
            },
            audit(who, client, now, "user.update", &target.username, detail),
        )?;
    }
    if let Some(groups) = &req.groups {
        crate::flows::directory::set_groups(app, who, &target, groups, client, now)?;
    }
    app.store
        .user_by_id(target.id)?
        .ok_or(Error::NotFound("user"))
}

/// Delete an account with everything it owns.
pub fn delete_user(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let target = get_user(app, who, username)?;
    if target.id == who.user.id {
        return Err(Error::SelfAction("you cannot delete your own account"));
    }
    if !app.store.delete_user(
        target.id,
        audit(who, client, now, "user.delete", &target.username, json!({})),
    )? {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

/// A password set by an admin.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The new password.
    pub password: String,
    /// Whether the user must change it at next login (default true).
    #[serde(default = "yes")]
    pub must_change_password: bool,
}

/// Set another account's password; its sessions end.
pub fn set_password(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    req: &SetPassword,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let target = get_user(app, who, username)?;
    if target.id == who.user.id {
        return Err(Error::SelfAction(
            "change your own password from your account page",
        ));
    }
    let norm = app
        .policy
        .check(
            &req.password,
            &target.username,
            crate::flows::policy::mfa_required(app, &target)?,
        )
        .map_err(Error::WeakPassword)?;
    let hash = app.hasher.hash(norm.as_bytes())?;
    app.store.set_password(
        target.id,
        &hash,
        req.must_change_password,
        now,
        None,
        audit(
            who,
            client,
            now,
            "user.password",
            &target.username,
            json!({ "must_change_password": req.must_change_password }),
        ),
    )?;
    Ok(())
}

/// Read the audit trail.
pub fn audit_trail(
    app: &Authd,
    who: &Authenticated,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>> {
    require_admin(who)?;
    Ok(app.store.list_audit(filter)?)
}

/// A live session as admins see it.
#[derive(Debug, Clone)]
pub struct ConnectedSession {
    /// The session.
    pub session: Session,
    /// Its account.
    pub username: String,
    /// The account's roles.
    pub roles: Vec<Role>,
}

/// Every live session on the appliance ("suivi des connexions").
pub fn connected_sessions(
    app: &Authd,
    who: &Authenticated,
    now: UnixTime,
) -> Result<Vec<ConnectedSession>> {
    require_admin(who)?;
    Ok(app
        .store
        .all_sessions(now)?
        .into_iter()
        .map(|(session, username, roles)| ConnectedSession {
            session,
            username,
            roles,
        })
        .collect())
}

/// End any live session.
pub fn end_session(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    if !app.store.end_session(
        id,
        audit(
            who,
            client,
            now,
            "session.end",
            &format!("session:{id}"),
            json!({ "session": id }),
        ),
    )? {
        return Err(Error::NotFound("session"));
    }
    Ok(())
}

/// End every live session of an account; returns how many ended.
pub fn end_user_sessions(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<usize> {
    let target = get_user(app, who, username)?;
    let ev = audit(
        who,
        client,
        now,
        "session.end_all",
        &target.username,
        json!({}),
    );
    Ok(app.store.end_user_sessions(target.id, ev)?)
}

/// A session for an admin opened by the operator of a *stopped* appliance, from its data
/// directory (`sesame admin … --data-dir DIR --as ADMIN`): whoever holds the machine holds the
/// appliance. The session goes through the same API and rules as any other (the two-person rule
/// still applies); it lasts five minutes and is audited as `session.operator`.
pub fn operator_session(
    app: &Authd,
    username: &str,
    operator: &str,
    now: UnixTime,
) -> Result<Zeroizing<String>> {
    let name = password::normalize_username(username).map_err(|_| Error::NotFound("user"))?;
    let user = app
        .store
        .user_by_name(&name)?
        .filter(|u| {
            !u.disabled && crate::authz::allows(&u.roles, crate::authz::Permission::Administration)
        })
        .ok_or_else(|| {
            Error::InvalidRequest(format!("{username} is not an enabled admin account"))
        })?;
    let client = ClientInfo {
        address: "local".into(),
        user_agent: "sesame admin (data directory)".into(),
        ..Default::default()
    };
    let (t, mut s) = crate::flows::login::new_session(app, &user, &client, now, "operator", None)?;
    s.expires_at = now + 300;
    s.seat_limit = None;
    let ev = client.event(
        now,
        Some(&user.username),
        "session.operator",
        Some(&user.username),
        Outcome::Success,
        json!({ "operator": operator }),
    );
    app.store.create_session(s, ev)?;
    Ok(t.text)
}
