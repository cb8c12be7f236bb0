//! Support-console installations: the update token a console receives at its technician's
//! first login (bound to the installation, the user and the platform), deploy tokens that let a
//! mass-deployed console register before anyone logs in, the check every update request goes
//! through, and the admin's list and revocations. Only token hashes are stored.

use crate::app::Authd;
use crate::authz::{Permission, allows};
use crate::clock::UnixTime;
use crate::credentials::tokens;
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::{Error, Result};
use serde_json::json;
use zeroize::Zeroizing;

/// Platforms a console package can be built for.
pub const PLATFORMS: &[&str] = &["linux-x86_64"];

/// What a console says about itself when it registers.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallFacts {
    /// Random id created at install time.
    pub install_id: String,
    /// `linux-x86_64`.
    pub platform: String,
    /// Installed version.
    pub version: String,
}

fn check_facts(f: &InstallFacts) -> Result<()> {
    let id_ok = (16..=64).contains(&f.install_id.len())
        && f.install_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !id_ok {
        return Err(Error::InvalidRequest(
            "install_id is 16 to 64 letters, digits and dashes".into(),
        ));
    }
    if !PLATFORMS.contains(&f.platform.as_str()) {
        return Err(Error::InvalidRequest(format!(
            "unknown platform \"{}\" (known: {})",
            f.platform,
            PLATFORMS.join(", ")
        )));
    }
    check_version(&f.version)
}

fn check_version(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if !ok {
        return Err(Error::InvalidRequest(
            "version is 1 to 32 letters, digits, dots, dashes and pluses".into(),
        ));
    }
    Ok(())
}

fn new_install(
    f: &InstallFacts,
    user_id: Option<UserId>,
    now: UnixTime,
) -> Result<(Zeroizing<String>, NewConsoleInstall)> {
    let t = tokens::new_token()?;
    Ok((
        t.text,
        NewConsoleInstall {
            install_id: f.install_id.clone(),
            user_id,
            deploy_token_id: None,
            platform: f.platform.clone(),
            version: f.version.clone(),
            token_hash: t.hash,
            at: now,
        },
    ))
}

/// A technician's console logged in: issue its update token (a new one each time; the
/// previous one stops working).
pub fn register_login(
    app: &Authd,
    who: &Authenticated,
    facts: &InstallFacts,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Zeroizing<String>> {
    if !allows(&who.user.roles, Permission::Support) {
        return Err(Error::Forbidden);
    }
    check_facts(facts)?;
    let (token, new) = new_install(facts, Some(who.user.id), now)?;
    let ev = client.event(
        now,
        Some(&who.user.username),
        "console.register",
        Some(&facts.install_id),
        Outcome::Success,
        json!({ "platform": facts.platform, "version": facts.version, "via": "login" }),
    );
    app.store.upsert_console_install(new, ev)?;
    Ok(token)
}

/// A console installed with a deploy token registers before anyone logs in.
pub fn register_deploy(
    app: &Authd,
    deploy_token: &str,
    facts: &InstallFacts,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Zeroizing<String>> {
    check_facts(facts)?;
    let (token, new) = new_install(facts, None, now)?;
    let ev = client.event(
        now,
        None,
        "console.register",
        Some(&facts.install_id),
        Outcome::Success,
        json!({ "platform": facts.platform, "version": facts.version, "via": "deploy_token" }),
    );
    let hash = tokens::hash_token(deploy_token.trim());
    if !app.store.register_with_deploy_token(&hash, new, ev)? {
        app.store.append_audit(client.event(
            now,
            None,
            "console.register",
            Some(&facts.install_id),
            Outcome::Failure,
            json!({ "reason": "deploy_token_invalid" }),
        ))?;
        return Err(deploy_token_invalid());
    }
    Ok(token)
}

fn deploy_token_invalid() -> Error {
    Error::Unauthorized {
        code: "deploy_token_invalid",
        message: "the deploy token is unknown, expired, revoked or used up".into(),
    }
}

/// The installation an update request comes from (`Authorization: Bearer <update token>`).
pub fn check_update_token(
    app: &Authd,
    token: Option<&str>,
    version: Option<&str>,
    now: UnixTime,
) -> Result<ConsoleInstall> {
    let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return Err(Error::Unauthorized {
            code: "update_token_missing",
            message: "this console has no update token: log in once with the console, or \
                      download the current version from the appliance's /download page"
                .into(),
        });
    };
    let version = version.filter(|v| check_version(v).is_ok());
    app.store
        .console_by_token(&tokens::hash_token(token), version, now)?
        .ok_or(Error::Unauthorized {
            code: "update_token_invalid",
            message: "the update token is unknown or was revoked: log in again with the console"
                .into(),
        })
}

fn require_admin(who: &Authenticated) -> Result<()> {
    if !allows(&who.user.roles, Permission::Administration) {
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// Every installation.
pub fn installs(app: &Authd, who: &Authenticated) -> Result<Vec<ConsoleInstall>> {
    require_admin(who)?;
    Ok(app.store.list_console_installs()?)
}

/// Revoke an installation's update token.
pub fn revoke_install(
    app: &Authd,
    who: &Authenticated,
    install_id: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    let ev = client.event(
        now,
        Some(&who.user.username),
        "console.revoke",
        Some(install_id),
        Outcome::Success,
        json!({}),
    );
    if !app.store.revoke_console_install(install_id, now, ev)? {
        return Err(Error::NotFound("installation"));
    }
    Ok(())
}

/// A new deploy token (shown once).
pub fn create_deploy_token(
    app: &Authd,
    who: &Authenticated,
    label: &str,
    valid_for_secs: i64,
    max_installs: u64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(i64, Zeroizing<String>, UnixTime)> {
    require_admin(who)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "the label is 1 to 100 printable characters".into(),
        ));
    }
    if !(3600..=366 * 86400).contains(&valid_for_secs) {
        return Err(Error::InvalidRequest(
            "a deploy token is valid for 1 hour to 366 days".into(),
        ));
    }
    if !(1..=100_000).contains(&max_installs) {
        return Err(Error::InvalidRequest(
            "max_installs is between 1 and 100000".into(),
        ));
    }
    let t = tokens::new_token()?;
    let expires_at = now + valid_for_secs;
    let ev = client.event(
        now,
        Some(&who.user.username),
        "deploy_token.create",
        None,
        Outcome::Success,
        json!({ "label": label, "expires_at": crate::clock::rfc3339(expires_at), "max_installs": max_installs }),
    );
    let new = NewDeployToken {
        hash: t.hash,
        label: label.to_owned(),
        created_by: Some(who.user.id),
        created_at: now,
        expires_at,
        max_installs,
    };
    let id = app.store.create_deploy_token(new, ev)?;
    Ok((id, t.text, expires_at))
}

/// Every deploy token.
pub fn deploy_tokens(app: &Authd, who: &Authenticated) -> Result<Vec<DeployToken>> {
    require_admin(who)?;
    Ok(app.store.list_deploy_tokens()?)
}

/// Revoke a deploy token.
pub fn revoke_deploy_token(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    let ev = client.event(
        now,
        Some(&who.user.username),
        "deploy_token.revoke",
        None,
        Outcome::Success,
        json!({ "id": id }),
    );
    if !app.store.revoke_deploy_token(id, now, ev)? {
        return Err(Error::NotFound("deploy token"));
    }
    Ok(())
}
