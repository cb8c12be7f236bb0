//! Enrolment at login: an account whose MFA policy requires a second factor, and which has
//! none, gets no session after its password. It gets an `enrol` challenge instead, with which it
//! can do exactly two things: start a TOTP device and confirm it with a first code. The
//! confirmation consumes the challenge, confirms the device and consumes the code's step in one
//! transaction, and opens the session.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::totp;
use crate::flows::account::{self, TotpEnrolment, TotpOptions};
use crate::flows::login::{
    IssuedSession, LoginStep, MAX_CHALLENGE_ATTEMPTS, challenge_client, live_challenge, new_session,
};
use crate::model::*;
use crate::store::{Effect, Next};
use crate::{Error, Result};
use serde_json::json;

/// Methods that can be enrolled during a login.
pub const METHODS: &[&str] = &["totp"];

/// Start a TOTP device for the challenge's account.
pub fn start(
    app: &Authd,
    challenge: &str,
    method: &str,
    label: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<TotpEnrolment> {
    let (_, user) = live_challenge(app, challenge, ChallengeStage::Enrol, now)?;
    if !METHODS.contains(&method) {
        return Err(Error::MethodNotAvailable);
    }
    let opts = TotpOptions {
        label: label.to_owned(),
        ..Default::default()
    };
    account::totp_enrol_for(app, &user, &opts, client, now)
}

/// Confirm the device with a first code; opens the session.
pub fn confirm(
    app: &Authd,
    challenge: &str,
    id: i64,
    code: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::Enrol, now)?;
    let cred = app
        .store
        .list_totp(user.id)?
        .into_iter()
        .find(|c| c.id == id && !c.confirmed)
        .ok_or(Error::NotFound("TOTP device"))?;
    let audit = |outcome, detail| {
        client.event(
            now,
            Some(&user.username),
            "login.enrol",
            Some(&user.username),
            outcome,
            detail,
        )
    };
    let Some(step) = totp::verify(&app.key, &cred, code, now, app.config.totp.skew_steps)? else {
        app.store.fail_challenge(
            ch.id,
            MAX_CHALLENGE_ATTEMPTS,
            audit(Outcome::Failure, json!({ "id": id, "reason": "bad_code" })),
        )?;
        app.guard.login_failed(client, now.saturating_mul(1000))?;
        return Err(Error::InvalidCode);
    };
    let method = format!("{}+totp", ch.method);
    let (t, s) = new_session(app, &user, &challenge_client(&ch), now, &method, None)?;
    let expires_at = s.expires_at;
    let done = app.store.complete_challenge(
        ch.id,
        Some(Effect::ConfirmTotp {
            credential_id: id,
            step,
        }),
        Next::Session(s),
        now,
        audit(Outcome::Success, json!({ "id": id, "method": "totp" })),
    )?;
    if !done {
        return Err(Error::InvalidCode);
    }
    app.guard
        .login_succeeded(client, user.id, now.saturating_mul(1000));
    Ok(LoginStep::Session(IssuedSession {
        token: t.text,
        expires_at,
        backup_codes_low: None,
    }))
}
