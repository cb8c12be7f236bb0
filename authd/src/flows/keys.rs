//! Login with a hardware OTP key: passcode = PIN ‖ code on the key.
//!
//! ```text
//!   passcode ──▶ key assigned, not locked? ──▶ code valid (TOTP ± skew after drift, or HOTP
//!                                               within the look-ahead), never a used one
//!        no PIN yet and passcode = code  ──▶ consume code + PIN-setup challenge ──▶ /login/pin
//!        PIN set and PIN verifies        ──▶ consume code + session (temporary password ends)
//!   else a temporary password from the helpdesk ──▶ session
//!   else ──▶ each of the user's keys counts a failure (locked at keys.max_failures)
//! ```
//! Every branch costs about one argon2 verification (a PIN, a temporary password, or a dummy),
//! and every refusal is the same `invalid_credentials` as a wrong password.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::hasher::Priority;
use crate::credentials::{otp_key, password, pin};
use crate::flows::login::{
    IssuedSession, LoginStep, challenge_client, live_challenge, new_challenge, new_session,
};
use crate::model::*;
use crate::store::{Effect, Next};
use crate::{Error, Result};
use serde_json::json;

/// Longest passcode considered (PIN + code, or a temporary password with separators).
const MAX_PASSCODE: usize = 64;

/// Normalised form of a temporary password as typed (separators and case ignored).
pub fn normalize_temp_password(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn windows(app: &Authd) -> otp_key::Windows {
    otp_key::Windows {
        totp_skew: app.config.keys.totp_skew_steps,
        hotp_look_ahead: app.config.keys.hotp_look_ahead,
    }
}

/// What to open when the passcode verifies.
fn next(
    app: &Authd,
    user: &User,
    client: &ClientInfo,
    now: UnixTime,
    method: &str,
    key: Option<i64>,
    issue_session: bool,
) -> Result<(LoginStep, Next)> {
    if !issue_session {
        return Ok((LoginStep::Accepted, Next::Done));
    }
    let (t, s) = new_session(app, user, client, now, method, key)?;
    let expires_at = s.expires_at;
    Ok((
        LoginStep::Session(IssuedSession {
            token: t.text,
            expires_at,
            backup_codes_low: None,
        }),
        Next::Session(s),
    ))
}

/// Step 1 of a key login (`{"username","method":"otp_key","passcode"}`), also used by
/// `/validate` with `issue_session = false`. Refusals count against the address (it may earn
/// a suspension); success makes it known good.
pub fn key_step(
    app: &Authd,
    username: &str,
    passcode: &str,
    client: &ClientInfo,
    now: UnixTime,
    issue_session: bool,
) -> Result<LoginStep> {
    let now_ms = now.saturating_mul(1000);
    let r = key_step_inner(app, username, passcode, client, now, issue_session);
    match &r {
        Err(Error::InvalidCredentials) if !client.refused => {
            app.guard.login_failed(client, now_ms)?
        }
        Ok(LoginStep::Session(_) | LoginStep::Accepted) => {
            let name = password::normalize_username(username).ok();
            if let Some(user) = name
                .map(|n| app.store.user_by_name(&n))
                .transpose()?
                .flatten()
            {
                app.guard.login_succeeded(client, user.id, now_ms);
            }
        }
        _ => {}
    }
    r
}

fn key_step_inner(
    app: &Authd,
    username: &str,
    passcode: &str,
    client: &ClientInfo,
    now: UnixTime,
    issue_session: bool,
) -> Result<LoginStep> {
    let event = |actor: &str, outcome, detail| {
        client.event(
            now,
            Some(actor),
            "login.otp_key",
            Some(actor),
            outcome,
            detail,
        )
    };
    let fail = |actor: &str, reason: &str| -> Result<LoginStep> {
        app.store
            .append_audit(event(actor, Outcome::Failure, json!({ "reason": reason })))?;
        Err(Error::InvalidCredentials)
    };
    let name = password::normalize_username(username).ok();
    let actor = name.clone().unwrap_or_else(|| "?".into());
    // An address refused by a rule: no hashing, and no failure counted against anyone.
    if client.refused {
        return fail(&actor, "address_refused");
    }
    if passcode.len() > MAX_PASSCODE {
        return fail(&actor, "passcode_too_long");
    }
    let user = match &name {
        Some(n) => app.store.user_by_name(n)?,
        None => None,
    };
    let Some(user) = user else {
        app.hasher
            .verify_dummy_with(Priority::Normal, passcode.as_bytes())?;
        return fail(&actor, "unknown_user");
    };
    let prio = Priority::known(
        app.guard
            .known_good(client, user.id, now.saturating_mul(1000)),
    );
    if let Some(ip) = client.ip
        && !app.guard.allows(ip, Some(&user))
    {
        return fail(&actor, "address_refused");
    }
    if user.disabled {
        app.hasher.verify_dummy_with(prio, passcode.as_bytes())?;
        return fail(&actor, "account_disabled");
    }
    let max = app.config.keys.max_failures;
    let keys = app.store.list_keys(&KeyFilter {
        owner: Some(user.id),
        state: Some("assigned".into()),
        ..Default::default()
    })?;
    let mut hashed = false;
    let mut replayed = false;
    for k in keys.iter().filter(|k| !k.locked(max)) {
        let Some((pin_part, code)) = otp_key::split(passcode, usize::from(k.digits.get())) else {
            continue;
        };
        let secret = otp_key::open_secret(&app.key, k)?;
        let consume = otp_key::check_code(&secret, k, code, now, windows(app));
        if consume.is_none() && otp_key::is_replay(&secret, k, code, now, windows(app)) {
            replayed = true;
        }
        let ok = |d: serde_json::Value| event(&user.username, Outcome::Success, d);
        match (&k.pin_hash, consume) {
            (None, Some(consume)) if pin_part.is_empty() => {
                let (t, ch) = new_challenge(
                    app,
                    user.id,
                    ChallengeStage::PinSetup,
                    "otp_key",
                    client,
                    now,
                    Some(k.id),
                )?;
                if app.store.complete_key_login(
                    k.id,
                    consume,
                    Next::Challenge(ch),
                    now,
                    ok(json!({ "serial": k.serial, "next": "pin_setup" })),
                )? {
                    return Ok(LoginStep::PinRequired { challenge: t.text });
                }
                replayed = true;
            }
            (Some(hash), consume) if !pin_part.is_empty() => {
                // Verified whether or not the code matched, so timing says nothing about which.
                let pin_ok = app.hasher.verify_with(prio, pin_part.as_bytes(), hash)?;
                hashed = true;
                if let (true, Some(consume)) = (pin_ok, consume) {
                    let (step, next) = next(
                        app,
                        &user,
                        client,
                        now,
                        "otp_key",
                        Some(k.id),
                        issue_session,
                    )?;
                    if app.store.complete_key_login(
                        k.id,
                        consume,
                        next,
                        now,
                        ok(json!({ "serial": k.serial })),
                    )? {
                        return Ok(step);
                    }
                    replayed = true;
                }
            }
            _ => {}
        }
    }
    if let Some(tp) = app.store.active_temp_password(user.id, now)? {
        hashed = true;
        if app
            .hasher
            .verify_with(prio, normalize_temp_password(passcode).as_bytes(), &tp.hash)?
        {
            let (step, next) = next(
                app,
                &user,
                client,
                now,
                "temporary_password",
                None,
                issue_session,
            )?;
            let audit = event(
                &user.username,
                Outcome::Success,
                json!({ "method": "temporary_password" }),
            );
            match next {
                Next::Session(s) => {
                    app.store.create_session(s, audit)?;
                }
                _ => app.store.append_audit(audit)?,
            }
            return Ok(step);
        }
    }
    if !hashed {
        app.hasher.verify_dummy_with(prio, passcode.as_bytes())?;
    }
    let reason = if replayed {
        "replay"
    } else if keys.is_empty() {
        "no_key"
    } else if keys.iter().all(|k| k.locked(max)) {
        "key_locked"
    } else {
        "bad_passcode"
    };
    let mut counted = false;
    for k in keys.iter().filter(|k| !k.locked(max)) {
        let n = app.store.key_failure(
            k.id,
            event(
                &user.username,
                Outcome::Failure,
                json!({ "reason": reason, "serial": k.serial }),
            ),
        )?;
        counted = true;
        if n >= max {
            tracing::warn!(serial = %k.serial, "key locked after {n} consecutive failures");
        }
    }
    if counted {
        return Err(Error::InvalidCredentials);
    }
    fail(&user.username, reason)
}

/// Step 2 of a first key login: choose the PIN.
pub fn pin_step(
    app: &Authd,
    challenge: &str,
    new_pin: &str,
    now: UnixTime,
    issue_session: bool,
) -> Result<LoginStep> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::PinSetup, now)?;
    let key_id = ch.otp_key_id.ok_or(Error::ChallengeExpired)?;
    pin::check(
        new_pin,
        app.config.keys.pin_min_length,
        app.config.keys.pin_max_length,
    )
    .map_err(Error::WeakPin)?;
    let pin_hash = app.hasher.hash(new_pin.as_bytes())?;
    let client = challenge_client(&ch);
    let (step, next) = next(
        app,
        &user,
        &client,
        now,
        "otp_key",
        Some(key_id),
        issue_session,
    )?;
    let audit = client.event(
        now,
        Some(&user.username),
        "login.pin_setup",
        Some(&user.username),
        Outcome::Success,
        json!({ "key": key_id }),
    );
    if !app
        .store
        .complete_challenge(ch.id, Some(Effect::SetPin { pin_hash }), next, now, audit)?
    {
        return Err(Error::ChallengeExpired);
    }
    app.guard
        .login_succeeded(&client, user.id, now.saturating_mul(1000));
    Ok(step)
}
