//! The login flow as typed steps: password → (second factor) → (forced password change) →
//! session. Between two HTTP requests the login's progress is a *challenge* kept in the store
//! (it survives a restart); each step consumes its challenge in the same transaction that
//! consumes the code and opens the session or the next challenge, so no step can be skipped or
//! replayed.
//!
//! No enumeration: an unknown user costs a dummy argon2 verification and yields the same error
//! (`invalid_credentials`) as a wrong password or a disabled account.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::hasher::Priority;
use crate::credentials::{backup_codes, password, tokens, totp};
use crate::flows::policy;
use crate::model::*;
use crate::store::{Effect, Next};
use crate::{Error, Result};
use serde_json::json;
use zeroize::Zeroizing;

/// Failed attempts allowed on one challenge before it is dropped.
pub const MAX_CHALLENGE_ATTEMPTS: u32 = 5;

/// A second-factor method a user can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    /// A code from an authenticator app.
    Totp,
    /// One of the user's backup codes.
    BackupCode,
    /// A security key or passkey (`/login/webauthn/start` and `/finish`).
    Webauthn,
}

impl MfaMethod {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::BackupCode => "backup_code",
            MfaMethod::Webauthn => "webauthn",
        }
    }
}

/// What the client must do next.
#[derive(Debug)]
pub enum LoginStep {
    /// Logged in.
    Session(IssuedSession),
    /// Password accepted; send a second factor with this challenge.
    MfaRequired {
        /// Challenge token for `/login/mfa`.
        challenge: Zeroizing<String>,
        /// Methods the account can use.
        methods: Vec<MfaMethod>,
    },
    /// Credentials accepted; the password must be changed with this challenge.
    PasswordChangeRequired {
        /// Challenge token for `/login/password`.
        challenge: Zeroizing<String>,
    },
    /// Every factor verified, but policy requires a second factor the account does not have:
    /// enrol one with this challenge (`/login/enrol`, then `/login/enrol/confirm`).
    EnrolmentRequired {
        /// Challenge token for the enrolment calls.
        challenge: Zeroizing<String>,
        /// Methods that can be enrolled here.
        methods: Vec<&'static str>,
    },
    /// A hardware key's code accepted on first use; choose a PIN with this challenge.
    PinRequired {
        /// Challenge token for `/login/pin`.
        challenge: Zeroizing<String>,
    },
    /// Verified, and no session was asked for (`/validate`).
    Accepted,
}

/// A session just opened.
#[derive(Debug)]
pub struct IssuedSession {
    /// Bearer token (shown once).
    pub token: Zeroizing<String>,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Backup codes left, when 2 or fewer (a warning to show).
    pub backup_codes_low: Option<u64>,
}

/// The most live sessions the appliance may hold when `user` opens one: `session.max_sessions`,
/// less the seats reserved for admins unless `user` is one (`None` = no limit).
fn seat_limit(app: &Authd, user: &User) -> Option<u64> {
    let s = &app.config.session;
    if s.max_sessions == 0 {
        return None;
    }
    let reserved = if user.has_role(Role::Admin) {
        0
    } else {
        s.admin_reserved_seats
    };
    Some(s.max_sessions.saturating_sub(reserved) as u64)
}

/// A session for `user`, opened now from `client`.
pub(crate) fn new_session(
    app: &Authd,
    user: &User,
    client: &ClientInfo,
    now: UnixTime,
    method: &str,
    otp_key_id: Option<i64>,
) -> Result<(tokens::Token, NewSession)> {
    let t = tokens::new_token()?;
    let s = NewSession {
        token_hash: t.hash,
        user_id: user.id,
        created_at: now,
        expires_at: now + app.config.session.lifetime.as_secs() as i64,
        address: client.address.clone(),
        user_agent: client.user_agent.clone(),
        method: method.to_owned(),
        otp_key_id,
        seat_limit: seat_limit(app, user),
    };
    Ok((t, s))
}

/// A pending login step for `user_id`.
pub(crate) fn new_challenge(
    app: &Authd,
    user_id: UserId,
    stage: ChallengeStage,
    method: &str,
    client: &ClientInfo,
    now: UnixTime,
    otp_key_id: Option<i64>,
) -> Result<(tokens::Token, NewChallenge)> {
    let t = tokens::new_token()?;
    let ch = NewChallenge {
        token_hash: t.hash,
        user_id,
        stage,
        created_at: now,
        expires_at: now + app.config.session.challenge_lifetime.as_secs() as i64,
        method: method.to_owned(),
        address: client.address.clone(),
        user_agent: client.user_agent.clone(),
        otp_key_id,
    };
    Ok((t, ch))
}

/// The client facts recorded with a challenge (the login's first step).
pub(crate) fn challenge_client(c: &Challenge) -> ClientInfo {
    ClientInfo {
        address: c.address.clone(),
        user_agent: c.user_agent.clone(),
        ip: c.address.parse().ok(),
        ..Default::default()
    }
}

/// What follows once the factors of this login verified (`method_done`, e.g. `password+totp`):
/// a forced password change, then an enrolment the MFA policy demands, then the session.
/// `skip_password_change` is set by the password-change step itself.
pub(crate) fn after_factors(
    app: &Authd,
    user: &User,
    method_done: &str,
    origin: &ClientInfo,
    now: UnixTime,
    skip_password_change: bool,
) -> Result<(LoginStep, Next)> {
    if user.must_change_password && !skip_password_change {
        let (t, ch) = new_challenge(
            app,
            user.id,
            ChallengeStage::PasswordChange,
            method_done,
            origin,
            now,
            None,
        )?;
        return Ok((
            LoginStep::PasswordChangeRequired { challenge: t.text },
            Next::Challenge(ch),
        ));
    }
    if policy::second_factor_count(app, user)? == 0 && policy::mfa_required(app, user)? {
        let (t, ch) = new_challenge(
            app,
            user.id,
            ChallengeStage::Enrol,
            method_done,
            origin,
            now,
            None,
        )?;
        return Ok((
            LoginStep::EnrolmentRequired {
                challenge: t.text,
                methods: crate::flows::enrol::METHODS.to_vec(),
            },
            Next::Challenge(ch),
        ));
    }
    let (t, s) = new_session(app, user, origin, now, method_done, None)?;
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

/// The second-factor methods `user` has, in the order offered.
pub fn mfa_methods(app: &Authd, user: &User) -> Result<Vec<MfaMethod>> {
    let mut m = Vec::new();
    if app.store.list_totp(user.id)?.iter().any(|c| c.confirmed) {
        m.push(MfaMethod::Totp);
    }
    if !app.store.list_webauthn(user.id)?.is_empty() {
        m.push(MfaMethod::Webauthn);
    }
    if !m.is_empty() && app.store.count_backup_codes(user.id)? > 0 {
        m.push(MfaMethod::BackupCode);
    }
    Ok(m)
}

/// Step 1: username and password.
pub fn password_step(
    app: &Authd,
    username: &str,
    password_in: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let fail = |actor: &str, reason: &str| -> Error {
        let ev = client.event(
            now,
            Some(actor),
            "login.password",
            Some(actor),
            Outcome::Failure,
            json!({ "reason": reason }),
        );
        if let Err(e) = app.store.append_audit(ev) {
            return e.into();
        }
        Error::InvalidCredentials
    };
    let name = password::normalize_username(username).ok();
    let actor = name.clone().unwrap_or_else(|| "?".into());
    let now_ms = now.saturating_mul(1000);
    // An address refused by a rule: no hashing, and no failure counted against anyone.
    if client.refused {
        return Err(fail(&actor, "address_refused"));
    }
    // A failure that counts against the address (it may earn a suspension).
    let failed = |actor: &str, reason: &str| -> Error {
        if let Err(e) = app.guard.login_failed(client, now_ms) {
            return e.into();
        }
        fail(actor, reason)
    };
    let pw = password::normalize(password_in);
    if pw.len() > app.policy.max_bytes {
        return Err(failed(&actor, "password_too_long"));
    }
    let user = match &name {
        Some(n) => app.store.user_by_name(n)?,
        None => None,
    };
    let Some(user) = user else {
        app.hasher
            .verify_dummy_with(Priority::Normal, pw.as_bytes())?;
        return Err(failed(&actor, "unknown_user"));
    };
    if let Some(ip) = client.ip
        && !app.guard.allows(ip, Some(&user))
    {
        return Err(fail(&user.username, "address_refused"));
    }
    // Where the owner logged in from recently, failures caused elsewhere do not hold them back.
    let trusted = app.guard.known_good(client, user.id, now_ms);
    let prio = Priority::known(trusted);
    if !trusted && app.guard.account_locked(user.fail_count) {
        return Err(failed(&user.username, "account_locked"));
    }
    if !trusted && now < user.throttled_until {
        return Err(failed(&user.username, "account_throttled"));
    }
    if !app
        .hasher
        .verify_with(prio, pw.as_bytes(), &user.password_hash)?
    {
        let failures = user.fail_count.saturating_add(1);
        let until = now + app.guard.account_delay(failures);
        let ev = client.event(
            now,
            Some(&user.username),
            "login.password",
            Some(&user.username),
            Outcome::Failure,
            json!({ "reason": "bad_password", "consecutive_failures": failures }),
        );
        app.store.account_failure(user.id, until, ev)?;
        app.guard.login_failed(client, now_ms)?;
        return Err(Error::InvalidCredentials);
    }
    if user.disabled {
        return Err(failed(&user.username, "account_disabled"));
    }
    if user.fail_count > 0 {
        app.store.account_reset(user.id, None)?;
    }
    if app.hasher.needs_rehash(&user.password_hash) {
        let new = app.hasher.hash(pw.as_bytes())?;
        app.store
            .rehash_password(user.id, &user.password_hash, &new)?;
    }
    let methods = mfa_methods(app, &user)?;
    let ok = |action: &'static str, detail| {
        client.event(
            now,
            Some(&user.username),
            action,
            Some(&user.username),
            Outcome::Success,
            detail,
        )
    };
    if !methods.is_empty() {
        let (t, ch) = new_challenge(
            app,
            user.id,
            ChallengeStage::Mfa,
            "password",
            client,
            now,
            None,
        )?;
        app.store
            .create_challenge(ch, ok("login.password", json!({ "next": "mfa" })))?;
        return Ok(LoginStep::MfaRequired {
            challenge: t.text,
            methods,
        });
    }
    let (step, next) = after_factors(app, &user, "password", client, now, false)?;
    match next {
        Next::Session(s) => {
            app.guard.login_succeeded(client, user.id, now_ms);
            app.store
                .create_session(s, ok("login", json!({ "method": "password" })))?;
        }
        Next::Challenge(ch) => {
            let what = if ch.stage == ChallengeStage::Enrol {
                "enrolment"
            } else {
                "password_change"
            };
            app.store
                .create_challenge(ch, ok("login.password", json!({ "next": what })))?;
        }
        Next::Done => {}
    }
    Ok(step)
}

pub(crate) fn live_challenge(
    app: &Authd,
    token: &str,
    stage: ChallengeStage,
    now: UnixTime,
) -> Result<(Challenge, User)> {
    let ch = app
        .store
        .challenge_by_hash(&tokens::hash_token(token), now)?
        .filter(|c| c.stage == stage)
        .ok_or(Error::ChallengeExpired)?;
    let user = app
        .store
        .user_by_id(ch.user_id)?
        .filter(|u| !u.disabled)
        .ok_or(Error::ChallengeExpired)?;
    Ok((ch, user))
}

/// Step 2: a second factor.
pub fn mfa_step(
    app: &Authd,
    challenge: &str,
    method: MfaMethod,
    code: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::Mfa, now)?;
    let methods = mfa_methods(app, &user)?;
    if !methods.contains(&method) {
        return Err(Error::MethodNotAvailable);
    }
    let effect = match method {
        MfaMethod::Totp => {
            let creds = app.store.list_totp(user.id)?;
            totp::find_match(&app.key, &creds, code, now, app.config.totp.skew_steps)?.map(
                |(credential_id, step)| Effect::TotpStep {
                    credential_id,
                    step,
                },
            )
        }
        MfaMethod::Webauthn => {
            return Err(Error::InvalidRequest(
                "a security key answers through /api/v1/login/webauthn/finish".into(),
            ));
        }
        MfaMethod::BackupCode => match backup_codes::normalize(code) {
            None => None,
            Some(norm) => {
                let mut found = None;
                for c in app
                    .store
                    .unused_backup_codes(user.id, backup_codes::tag_of(&norm))?
                {
                    if app.hasher.verify(norm.as_bytes(), &c.hash)? {
                        found = Some(Effect::BackupCode { code_id: c.id });
                        break;
                    }
                }
                found
            }
        },
    };
    let audit = |outcome, detail| {
        client.event(
            now,
            Some(&user.username),
            "login.mfa",
            Some(&user.username),
            outcome,
            detail,
        )
    };
    let Some(effect) = effect else {
        let replay = method == MfaMethod::Totp
            && totp::is_replay(
                &app.key,
                &app.store.list_totp(user.id)?,
                code,
                now,
                app.config.totp.skew_steps,
            )?;
        let reason = if replay { "replay" } else { "bad_code" };
        app.store.fail_challenge(
            ch.id,
            MAX_CHALLENGE_ATTEMPTS,
            audit(
                Outcome::Failure,
                json!({ "method": method.as_str(), "reason": reason }),
            ),
        )?;
        app.guard.login_failed(client, now.saturating_mul(1000))?;
        return Err(Error::InvalidCode);
    };
    let method_done = format!("{}+{}", ch.method, method.as_str());
    let (step, next) = after_factors(app, &user, &method_done, &challenge_client(&ch), now, false)?;
    let done = app.store.complete_challenge(
        ch.id,
        Some(effect),
        next,
        now,
        audit(Outcome::Success, json!({ "method": method.as_str() })),
    )?;
    if !done {
        // Raced by a concurrent request with the same code, or the code was already used.
        app.store.append_audit(audit(
            Outcome::Failure,
            json!({ "method": method.as_str(), "reason": "replay" }),
        ))?;
        app.guard.login_failed(client, now.saturating_mul(1000))?;
        return Err(Error::InvalidCode);
    }
    app.guard
        .login_succeeded(client, user.id, now.saturating_mul(1000));
    Ok(match step {
        LoginStep::Session(mut s) if method == MfaMethod::BackupCode => {
            let left = app.store.count_backup_codes(user.id)?;
            if left as usize <= app.config.backup_codes.warn_at_or_below {
                s.backup_codes_low = Some(left);
            }
            LoginStep::Session(s)
        }
        other => other,
    })
}

/// Step 3 (when required): choose a new password.
pub fn password_change_step(
    app: &Authd,
    challenge: &str,
    new_password: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::PasswordChange, now)?;
    let norm = app
        .policy
        .check(
            new_password,
            &user.username,
            policy::mfa_required(app, &user)?,
        )
        .map_err(Error::WeakPassword)?;
    if app.hasher.verify(norm.as_bytes(), &user.password_hash)? {
        return Err(Error::WeakPassword(password::PolicyViolation::Reused));
    }
    let hash = app.hasher.hash(norm.as_bytes())?;
    let (step, next) = after_factors(app, &user, &ch.method, &challenge_client(&ch), now, true)?;
    let audit = client.event(
        now,
        Some(&user.username),
        "login.password_change",
        Some(&user.username),
        Outcome::Success,
        json!({}),
    );
    if !app.store.complete_challenge(
        ch.id,
        Some(Effect::SetPassword {
            password_hash: hash,
        }),
        next,
        now,
        audit,
    )? {
        return Err(Error::ChallengeExpired);
    }
    Ok(step)
}

/// A request's authenticated caller.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session used.
    pub session: Session,
    /// Its account.
    pub user: User,
}

/// Resolve a bearer token or cookie value to its live session.
pub fn authenticate(app: &Authd, token: &str, now: UnixTime) -> Result<Authenticated> {
    if token.len() > 128 {
        return Err(Error::Unauthenticated);
    }
    let (session, user) = app
        .store
        .session_by_hash(&tokens::hash_token(token), now)?
        .ok_or(Error::Unauthenticated)?;
    if user.disabled {
        return Err(Error::Unauthenticated);
    }
    if now - session.last_seen_at >= 60 {
        app.store.touch_session(session.id, now)?;
    }
    Ok(Authenticated { session, user })
}

/// End the caller's session.
pub fn logout(app: &Authd, who: &Authenticated, client: &ClientInfo, now: UnixTime) -> Result<()> {
    let ev = client.event(
        now,
        Some(&who.user.username),
        "logout",
        Some(&who.user.username),
        Outcome::Success,
        json!({ "session": who.session.id }),
    );
    app.store.revoke_session(who.user.id, who.session.id, ev)?;
    Ok(())
}
