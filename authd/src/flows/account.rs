//! What a logged-in user does to their own account: change the password, manage TOTP devices
//! and backup codes, see and end their sessions.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::{backup_codes, totp};
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::store::NewTotp;
use crate::{Error, Result};
use serde_json::json;
use sesame_hardware::otp::{Algorithm, Digits, TotpParams};
use zeroize::Zeroizing;

/// Most TOTP devices (confirmed or pending) one account may hold.
pub const MAX_TOTP_DEVICES: usize = 10;
/// Longest device label.
pub const MAX_LABEL_CHARS: usize = 64;

fn event(
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
    action: &'static str,
    detail: serde_json::Value,
) -> AuditEvent {
    client.event(
        now,
        Some(&who.user.username),
        action,
        Some(&who.user.username),
        Outcome::Success,
        detail,
    )
}

/// Change the caller's password (the current one is required); ends their other sessions.
pub fn change_password(
    app: &Authd,
    who: &Authenticated,
    current: &str,
    new: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let cur = crate::credentials::password::normalize(current);
    if !app.hasher.verify(cur.as_bytes(), &who.user.password_hash)? {
        app.store.append_audit(client.event(
            now,
            Some(&who.user.username),
            "account.password",
            Some(&who.user.username),
            Outcome::Failure,
            json!({ "reason": "bad_current_password" }),
        ))?;
        return Err(Error::InvalidCredentials);
    }
    let norm = app
        .policy
        .check(
            new,
            &who.user.username,
            crate::flows::policy::mfa_required(app, &who.user)?,
        )
        .map_err(Error::WeakPassword)?;
    if *norm == *cur {
        return Err(Error::WeakPassword(
            crate::credentials::password::PolicyViolation::Reused,
        ));
    }
    let hash = app.hasher.hash(norm.as_bytes())?;
    app.store.set_password(
        who.user.id,
        &hash,
        false,
        now,
        Some(who.session.id),
        event(who, client, now, "account.password", json!({})),
    )?;
    Ok(())
}

/// Options for a new TOTP device; absent fields take the configured defaults.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpOptions {
    /// The user's name for the device.
    pub label: String,
    /// `SHA1` (default), `SHA256` or `SHA512`.
    pub algorithm: Option<String>,
    /// 6 (default) or 8.
    pub digits: Option<u8>,
    /// 30 (default) or 60 seconds.
    pub period: Option<u64>,
}

/// A device being enrolled.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// Device id, for the confirm call.
    pub id: i64,
    /// `otpauth://` URI.
    pub otpauth_uri: String,
    /// base32 seed grouped for typing.
    pub secret: String,
    /// QR code (SVG) of the URI.
    pub qr_svg: String,
}

fn totp_params(app: &Authd, o: &TotpOptions) -> Result<TotpParams> {
    let bad = |m: String| Error::InvalidRequest(m);
    let alg: Algorithm = o
        .algorithm
        .as_deref()
        .unwrap_or(&app.config.totp.algorithm)
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    let digits =
        Digits::new(o.digits.unwrap_or(app.config.totp.digits)).map_err(|e| bad(e.to_string()))?;
    let period = o.period.unwrap_or(app.config.totp.period);
    if period != 30 && period != 60 {
        return Err(bad(format!(
            "period must be 30 or 60 seconds, got {period}"
        )));
    }
    TotpParams::new(alg, digits, period).map_err(|e| bad(e.to_string()))
}

/// Start enrolling a TOTP device. It is usable only once confirmed with a valid code.
pub fn totp_enrol(
    app: &Authd,
    who: &Authenticated,
    opts: &TotpOptions,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<TotpEnrolment> {
    totp_enrol_for(app, &who.user, opts, client, now)
}

/// Start enrolling a TOTP device for `user` (from their account, or at a login that must enrol).
pub(crate) fn totp_enrol_for(
    app: &Authd,
    user: &User,
    opts: &TotpOptions,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<TotpEnrolment> {
    let label = opts.label.trim();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(Error::InvalidRequest(format!(
            "the label must be 1 to {MAX_LABEL_CHARS} printable characters"
        )));
    }
    let params = totp_params(app, opts)?;
    if app.store.list_totp(user.id)?.len() >= MAX_TOTP_DEVICES {
        return Err(Error::InvalidRequest(format!(
            "an account may hold at most {MAX_TOTP_DEVICES} TOTP devices"
        )));
    }
    let m = totp::new_material(
        &app.key,
        user.id,
        &app.config.server.service_name,
        &user.username,
        &params,
    )?;
    let detail = json!({ "label": label, "algorithm": params.algorithm().as_str(), "digits": params.digits().get(), "period": params.period() });
    let id = app.store.add_totp(
        NewTotp {
            user_id: user.id,
            label: label.to_owned(),
            sealed_secret: m.sealed,
            params,
            created_at: now,
        },
        client.event(
            now,
            Some(&user.username),
            "totp.enrol",
            Some(&user.username),
            Outcome::Success,
            detail,
        ),
    )?;
    Ok(TotpEnrolment {
        id,
        otpauth_uri: m.uri,
        secret: m.secret_grouped,
        qr_svg: m.qr_svg,
    })
}

/// Confirm a pending device with a code from the app.
pub fn totp_confirm(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    code: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let cred = app
        .store
        .list_totp(who.user.id)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound("TOTP device"))?;
    if cred.confirmed {
        return Err(Error::InvalidRequest(
            "this TOTP device is already confirmed".into(),
        ));
    }
    let step = totp::verify(&app.key, &cred, code, now, app.config.totp.skew_steps)?;
    let ok = match step {
        Some(step) => app.store.confirm_totp(
            who.user.id,
            id,
            step,
            now,
            event(who, client, now, "totp.confirm", json!({ "id": id })),
        )?,
        None => false,
    };
    if !ok {
        app.store.append_audit(client.event(
            now,
            Some(&who.user.username),
            "totp.confirm",
            Some(&who.user.username),
            Outcome::Failure,
            json!({ "id": id, "reason": "bad_code" }),
        ))?;
        return Err(Error::InvalidCode);
    }
    Ok(())
}

/// Remove a device.
pub fn totp_delete(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let confirmed = app
        .store
        .list_totp(who.user.id)?
        .iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound("TOTP device"))?
        .confirmed;
    crate::flows::policy::check_factor_removal(app, &who.user, confirmed)?;
    if !app.store.delete_totp(
        who.user.id,
        id,
        event(who, client, now, "totp.delete", json!({ "id": id })),
    )? {
        return Err(Error::NotFound("TOTP device"));
    }
    Ok(())
}

/// Replace the caller's backup codes with a fresh set; returns the codes (shown once).
pub fn backup_codes_generate(
    app: &Authd,
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Vec<Zeroizing<String>>> {
    let codes = backup_codes::generate(app.config.backup_codes.count)?;
    let mut rows = Vec::with_capacity(codes.len());
    for c in &codes {
        rows.push((c.tag.clone(), app.hasher.hash(c.normalized.as_bytes())?));
    }
    app.store.replace_backup_codes(
        who.user.id,
        rows,
        now,
        event(
            who,
            client,
            now,
            "backup_codes.generate",
            json!({ "count": codes.len() }),
        ),
    )?;
    Ok(codes.into_iter().map(|c| c.display).collect())
}

/// The caller's live sessions.
pub fn sessions(app: &Authd, who: &Authenticated, now: UnixTime) -> Result<Vec<Session>> {
    Ok(app.store.list_sessions(who.user.id, now)?)
}

/// End every session of the caller but the current one; returns how many ended.
pub fn revoke_other_sessions(
    app: &Authd,
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<usize> {
    Ok(app.store.revoke_other_sessions(
        who.user.id,
        who.session.id,
        event(
            who,
            client,
            now,
            "session.revoke_others",
            json!({ "kept": who.session.id }),
        ),
    )?)
}

/// End one of the caller's sessions.
pub fn revoke_session(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    if !app.store.revoke_session(
        who.user.id,
        id,
        event(who, client, now, "session.revoke", json!({ "session": id })),
    )? {
        return Err(Error::NotFound("session"));
    }
    Ok(())
}
