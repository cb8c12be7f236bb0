//! What the helpdesk does for key owners (role `helpdesk` or `admin`): import seed files, list
//! and assign keys, cancel a forgotten PIN, disable a lost key at once, resync a drifting key,
//! unlock a key after too many failures, and hand out a temporary password valid for the day.
//!
//! Least privilege: helpdesk staff act on ordinary accounts only; an admin's or another
//! helpdesk member's keys are an admin's business, and nobody acts on their own account here.
//! Every action is audited with actor, target and reason.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::otp_key;
use crate::error::ImportFault;
use crate::flows::keys::normalize_temp_password;
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::{Error, Result};
use serde_json::json;
use sesame_hardware::seeds::{self, Decryption, ImportError, TokenKind, TokenSeed};
use zeroize::Zeroizing;

/// Refuse unless the caller may act as helpdesk on `target` (if any): the permission matrix
/// and its target rules (`authz::may_act_on`).
pub fn require_helpdesk(who: &Authenticated, target: Option<&User>) -> Result<()> {
    use crate::authz::{Permission, TargetRefusal, allows, may_act_on};
    if !allows(&who.user.roles, Permission::Helpdesk) {
        return Err(Error::Forbidden);
    }
    match target.map(|t| may_act_on(&who.user, t, Permission::Helpdesk)) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(TargetRefusal::OwnAccount)) => Err(Error::SelfAction(
            "ask a colleague: helpdesk actions on your own account are refused",
        )),
        Some(Err(TargetRefusal::Forbidden)) => Err(Error::Forbidden),
    }
}

fn user_named(app: &Authd, username: &str) -> Result<User> {
    let name = crate::credentials::password::normalize_username(username)
        .map_err(|_| Error::NotFound("user"))?;
    app.store
        .user_by_name(&name)?
        .ok_or(Error::NotFound("user"))
}

/// A key and, when assigned, its owner — after checking the caller may act on it.
fn key_for_action(app: &Authd, who: &Authenticated, serial: &str) -> Result<OtpKey> {
    let key = app
        .store
        .key_by_serial(serial.trim())?
        .ok_or(Error::NotFound("key"))?;
    let owner = match key.owner {
        Some(id) => app.store.user_by_id(id)?,
        None => None,
    };
    require_helpdesk(who, owner.as_ref())?;
    Ok(key)
}

fn event(
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
    action: &'static str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> AuditEvent {
    client.event(
        now,
        Some(&who.user.username),
        action,
        target,
        Outcome::Success,
        detail,
    )
}

/// One token of an import report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedToken {
    /// Serial.
    pub serial: String,
    /// `totp` or `hotp`.
    pub kind: &'static str,
    /// TOTP step.
    pub period: Option<u64>,
    /// Code length.
    pub digits: u8,
    /// HMAC algorithm.
    pub algorithm: &'static str,
    /// `imported`, or `would_import` on a dry run.
    pub action: &'static str,
}

fn import_error(e: ImportError) -> Error {
    match e {
        ImportError::Faults(faults) => Error::ImportRejected(
            faults
                .into_iter()
                .map(|f| ImportFault {
                    code: f.kind.code(),
                    location: f.location,
                    serial: f.serial,
                    field: f.field,
                    reason: f.reason,
                })
                .collect(),
        ),
        other => Error::Unprocessable {
            code: other.code(),
            message: other.to_string(),
        },
    }
}

/// Import a seed file (PSKC or vendor CSV, told apart by content) into stock, all or nothing.
pub fn import(
    app: &Authd,
    who: &Authenticated,
    file: &[u8],
    dec: &Decryption,
    dry_run: bool,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Vec<ImportedToken>> {
    require_helpdesk(who, None)?;
    let tokens: Vec<TokenSeed> = seeds::import(file, dec).map_err(import_error)?;
    let serials: Vec<String> = tokens.iter().map(|t| t.serial.clone()).collect();
    let taken = app.store.existing_serials(&serials)?;
    if !taken.is_empty() {
        return Err(Error::ImportRejected(
            tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| taken.contains(&t.serial))
                .map(|(i, t)| ImportFault {
                    code: "serial_taken",
                    location: format!("token {}", i + 1),
                    serial: Some(t.serial.clone()),
                    field: "serial".into(),
                    reason: "a key with this serial exists already".into(),
                })
                .collect(),
        ));
    }
    let action = if dry_run { "would_import" } else { "imported" };
    let report: Vec<ImportedToken> = tokens
        .iter()
        .map(|t| ImportedToken {
            serial: t.serial.clone(),
            kind: match t.kind {
                TokenKind::Totp { .. } => "totp",
                TokenKind::Hotp { .. } => "hotp",
            },
            period: match t.kind {
                TokenKind::Totp { period } => Some(period),
                TokenKind::Hotp { .. } => None,
            },
            digits: t.digits.get(),
            algorithm: t.algorithm.as_str(),
            action,
        })
        .collect();
    if dry_run {
        return Ok(report);
    }
    let mut keys = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let sealed = app
            .key
            .seal(&otp_key::seal_context(&t.serial), t.secret.as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let (kind, counter) = match t.kind {
            TokenKind::Totp { period } => (KeyKind::Totp { period }, 0),
            TokenKind::Hotp { counter } => (KeyKind::Hotp, counter),
        };
        keys.push(NewKey {
            serial: t.serial.clone(),
            kind,
            algorithm: t.algorithm,
            digits: t.digits,
            sealed_secret: sealed,
            counter,
            manufacturer: t.manufacturer.clone(),
            model: t.model.clone(),
            created_at: now,
        });
    }
    app.store.import_keys(
        keys,
        event(
            who,
            client,
            now,
            "keys.import",
            None,
            json!({ "count": report.len(), "serials": serials }),
        ),
    )?;
    Ok(report)
}

/// One page of a key listing: serials after `after`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The last serial of the previous page, if any.
    pub after: Option<String>,
    /// Page size (`None`: everything up to the store's cap).
    pub limit: Option<u32>,
}

/// Keys matching the filter (`user` is a username), in serial order, one page of them.
pub fn list(
    app: &Authd,
    who: &Authenticated,
    state: Option<&str>,
    user: Option<&str>,
    serial: Option<&str>,
    page: Page,
) -> Result<Vec<OtpKey>> {
    require_helpdesk(who, None)?;
    if let Some(s) = state
        && !["in_stock", "assigned", "disabled", "revoked"].contains(&s)
    {
        return Err(Error::InvalidRequest(format!(
            "unknown state \"{s}\" (expected in_stock, assigned, disabled or revoked)"
        )));
    }
    let owner = match user {
        Some(u) => Some(user_named(app, u)?.id),
        None => None,
    };
    Ok(app.store.list_keys(&KeyFilter {
        state: state.map(str::to_owned),
        owner,
        serial: serial.map(|s| s.trim().to_owned()),
        after: page.after,
        limit: page.limit,
    })?)
}

/// Give a key from stock to a user, optionally replacing one of theirs (revoked at once).
pub fn assign(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    serial: &str,
    replaces: Option<&str>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<OtpKey> {
    let user = user_named(app, username)?;
    require_helpdesk(who, Some(&user))?;
    if user.disabled {
        return Err(Error::Conflict {
            code: "account_disabled",
            message: "the account is disabled".into(),
        });
    }
    let key = app
        .store
        .key_by_serial(serial.trim())?
        .ok_or(Error::NotFound("key"))?;
    if key.state != KeyState::InStock {
        return Err(Error::Conflict {
            code: "key_not_in_stock",
            message: format!("key {} is {}, not in stock", key.serial, key.state.as_str()),
        });
    }
    let old = match replaces {
        Some(s) => {
            let old = app
                .store
                .key_by_serial(s.trim())?
                .ok_or(Error::NotFound("key"))?;
            if old.owner != Some(user.id) || old.state != KeyState::Assigned {
                return Err(Error::Conflict {
                    code: "key_not_assigned_to_user",
                    message: format!("key {} is not assigned to {}", old.serial, user.username),
                });
            }
            Some(old)
        }
        None => None,
    };
    let detail =
        json!({ "serial": key.serial, "replaces": old.as_ref().map(|k| k.serial.clone()) });
    if !app.store.assign_key(
        key.id,
        user.id,
        old.as_ref().map(|k| k.id),
        now,
        event(who, client, now, "key.assign", Some(&user.username), detail),
    )? {
        return Err(Error::Conflict {
            code: "key_not_in_stock",
            message: format!("key {} was just taken", key.serial),
        });
    }
    app.store
        .key_by_serial(&key.serial)?
        .ok_or(Error::NotFound("key"))
}

/// Forget the PIN: the key returns to first use; sessions opened with it end.
pub fn cancel_pin(
    app: &Authd,
    who: &Authenticated,
    serial: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let key = key_for_action(app, who, serial)?;
    let target = key.owner_name.clone();
    if !app.store.cancel_pin(
        key.id,
        now,
        event(
            who,
            client,
            now,
            "key.pin_cancel",
            target.as_deref(),
            json!({ "serial": key.serial }),
        ),
    )? {
        return Err(Error::Conflict {
            code: "key_not_assigned",
            message: format!("key {} is not assigned", key.serial),
        });
    }
    Ok(())
}

/// Disable a key at once (lost, stolen, broken, other); sessions opened with it end.
pub fn disable(
    app: &Authd,
    who: &Authenticated,
    serial: &str,
    reason: &str,
    note: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let reason = DisableReason::parse(reason).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "unknown reason \"{reason}\" (expected lost, stolen, broken or other)"
        ))
    })?;
    if note.chars().count() > 500 {
        return Err(Error::InvalidRequest(
            "the note must be at most 500 characters".into(),
        ));
    }
    let key = key_for_action(app, who, serial)?;
    let target = key.owner_name.clone();
    let detail = json!({ "serial": key.serial, "reason": reason.as_str(), "note": note });
    if !app.store.disable_key(
        key.id,
        reason,
        note,
        now,
        event(who, client, now, "key.disable", target.as_deref(), detail),
    )? {
        return Err(Error::Conflict {
            code: "key_not_active",
            message: format!("key {} is already {}", key.serial, key.state.as_str()),
        });
    }
    Ok(())
}

/// Refuse an action that only makes sense on a key in service (assigned to someone): a
/// disabled (lost, stolen) or revoked key stays out of service until it is replaced.
fn require_assigned(key: &OtpKey) -> Result<()> {
    if key.state != KeyState::Assigned {
        return Err(Error::Conflict {
            code: "key_not_active",
            message: format!(
                "key {} is {}: only an assigned key can be resynchronised or unlocked",
                key.serial,
                key.state.as_str()
            ),
        });
    }
    Ok(())
}

/// Resynchronise a key from two consecutive codes read off it.
pub fn resync(
    app: &Authd,
    who: &Authenticated,
    serial: &str,
    code1: &str,
    code2: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let key = key_for_action(app, who, serial)?;
    require_assigned(&key)?;
    let secret = otp_key::open_secret(&app.key, &key)?;
    let target = key.owner_name.clone();
    let k = &app.config.keys;
    let Some((consume, drift)) = otp_key::resync(
        &secret,
        &key,
        code1,
        code2,
        now,
        k.resync_hotp_window,
        k.resync_totp_window.as_secs(),
    ) else {
        app.store.append_audit(client.event(
            now,
            Some(&who.user.username),
            "key.resync",
            target.as_deref(),
            Outcome::Failure,
            json!({ "serial": key.serial }),
        ))?;
        return Err(Error::InvalidCode);
    };
    if !app.store.resync_key(
        key.id,
        consume,
        drift,
        event(
            who,
            client,
            now,
            "key.resync",
            target.as_deref(),
            json!({ "serial": key.serial, "drift_steps": drift }),
        ),
    )? {
        return Err(Error::InvalidCode);
    }
    Ok(())
}

/// Reset a key's failure counter.
pub fn unlock(
    app: &Authd,
    who: &Authenticated,
    serial: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let key = key_for_action(app, who, serial)?;
    require_assigned(&key)?;
    let target = key.owner_name.clone();
    app.store.unlock_key(
        key.id,
        event(
            who,
            client,
            now,
            "key.unlock",
            target.as_deref(),
            json!({ "serial": key.serial, "failures": key.fail_count }),
        ),
    )?;
    Ok(())
}

/// End of the local day containing `now`, for a UTC offset in seconds.
pub fn end_of_local_day(now: UnixTime, offset: i64) -> UnixTime {
    ((now + offset).div_euclid(86_400) + 1) * 86_400 - offset
}

/// Issue a temporary password (shown once): until the end of the local day, or for
/// `valid_for` (at most `keys.temporary_password_max_validity`).
pub fn temporary_password(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    valid_for: Option<&str>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(Zeroizing<String>, UnixTime)> {
    let user = user_named(app, username)?;
    require_helpdesk(who, Some(&user))?;
    let max = app.config.keys.temporary_password_max_validity;
    let expires_at = match valid_for {
        Some(text) => {
            let d = sesame_config::parse_duration(text)
                .map_err(|e| Error::InvalidRequest(format!("valid_for: {e}")))?;
            if d.as_secs() < 60 || d > max {
                return Err(Error::InvalidRequest(format!(
                    "valid_for must be between 1m and {}",
                    sesame_config::format_duration(max)
                )));
            }
            now + d.as_secs() as i64
        }
        None => end_of_local_day(now, app.config.keys.utc_offset_seconds().unwrap_or(0)),
    };
    // 12 symbols of 31 ≈ 59 bits: short-lived and single-user, it only has to outlast online
    // guessing, which the lock-out and throttling bound.
    let password = crate::credentials::tokens::readable_secret(12)?;
    let hash = app
        .hasher
        .hash(normalize_temp_password(&password).as_bytes())?;
    app.store.set_temp_password(
        user.id,
        &hash,
        expires_at,
        now,
        event(
            who,
            client,
            now,
            "temporary_password.issue",
            Some(&user.username),
            json!({ "expires_at": crate::clock::rfc3339(expires_at) }),
        ),
    )?;
    Ok((password, expires_at))
}

/// Revoke the user's temporary password.
pub fn revoke_temporary_password(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let user = user_named(app, username)?;
    require_helpdesk(who, Some(&user))?;
    if !app.store.revoke_temp_password(
        user.id,
        now,
        event(
            who,
            client,
            now,
            "temporary_password.revoke",
            Some(&user.username),
            json!({}),
        ),
    )? {
        return Err(Error::NotFound("temporary password"));
    }
    Ok(())
}
