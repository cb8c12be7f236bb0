//! Security keys and passkeys: registration on the account, a key as the second factor after
//! the password, and passwordless sign-in with a discoverable passkey.
//!
//! Every ceremony is a row of the store (single-use, `webauthn.ceremony_lifetime`, from the
//! injected clock), consumed by one conditional write inside the transaction that registers
//! the key or opens the session, together with the key's counter (`WHERE counter < ?`). A
//! counter that went backwards marks the key possibly cloned (audited) and refuses the sign-in
//! unless `webauthn.cloned_counter = "accept"`.
//!
//! Entry points: [`register_start`] / [`register_finish`], [`list`], [`delete`];
//! [`second_factor_start`] / [`second_factor_finish`]; [`passkey_start`] / [`passkey_finish`];
//! for helpdesk and admins [`staff_list`] / [`staff_delete`].

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::tokens;
use crate::credentials::webauthn::{self as wa, KeyKind, Refusal};
use crate::flows::login::{
    Authenticated, LoginStep, MAX_CHALLENGE_ATTEMPTS, challenge_client, live_challenge,
};
use crate::model::*;
use crate::store::Next;
use crate::store::webauthn::KeyLoginOutcome;
use crate::{Error, Result};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PublicKeyCredential, SecurityKey,
    WebauthnError,
};
use zeroize::Zeroizing;

/// A ceremony just started: its id (empty for a second factor, which goes by the login
/// challenge) and the options for `navigator.credentials` (`{"publicKey": …}`).
#[derive(Debug)]
pub struct Started {
    /// Ceremony id to send back with the answer.
    pub id: Zeroizing<String>,
    /// WebAuthn options as webauthn-rs produces them.
    pub options: Value,
}

/// A key as listed to its owner or to staff.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyView {
    /// Credential id, base64url.
    pub credential_id: String,
    /// Label.
    pub label: String,
    /// Registration time (RFC 3339).
    pub created_at: String,
    /// Last use (RFC 3339).
    pub last_used_at: Option<String>,
    /// Authenticator model, when told.
    pub aaguid: Option<String>,
    /// May be synchronised or backed up.
    pub backup_eligible: bool,
    /// Is backed up now.
    pub backup_state: bool,
    /// A counter went backwards once.
    pub possibly_cloned: bool,
    /// `passkey` (may sign in alone) or `security_key` (second factor only).
    pub kind: &'static str,
}

impl KeyView {
    fn of(k: &WebauthnCredential) -> KeyView {
        KeyView {
            credential_id: wa::b64(&k.cred_id),
            label: k.label.clone(),
            created_at: crate::clock::rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(crate::clock::rfc3339),
            aaguid: k.aaguid.clone(),
            backup_eligible: k.backup_eligible,
            backup_state: k.backup_state,
            possibly_cloned: k.possibly_cloned,
            kind: KeyKind::of_stored(k).as_str(),
        }
    }
}

/// A sign-in older than this cannot remove a key.
pub const RECENT_SIGN_IN: i64 = 300;

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

fn role_listed(list: &str, user: &User) -> bool {
    sesame_config::split_list(list)
        .iter()
        .any(|r| Role::parse(r).is_some_and(|r| user.has_role(r)))
}

pub(super) fn record_ceremony(
    app: &Authd,
    kind: CeremonyKind,
    user: Option<UserId>,
    challenge: Option<i64>,
    label: &str,
    state: String,
    now: UnixTime,
) -> Result<Zeroizing<String>> {
    let t = tokens::new_token()?;
    app.store.create_ceremony(NewCeremony {
        token_hash: t.hash,
        kind,
        user_id: user,
        challenge_id: challenge,
        label: label.to_owned(),
        state,
        created_at: now,
        expires_at: now + app.config.webauthn.ceremony_lifetime.as_secs() as i64,
    })?;
    Ok(t.text)
}

/// The ceremony if it can still be completed; otherwise why not.
pub(super) fn usable(c: Option<Ceremony>, kind: CeremonyKind, now: UnixTime) -> Result<Ceremony> {
    let c = c
        .filter(|c| c.kind == kind)
        .ok_or(Refusal::CeremonyExpired)?;
    if c.used_at.is_some() {
        return Err(Refusal::CeremonyUsed.into());
    }
    if c.expires_at <= now {
        return Err(Refusal::CeremonyExpired.into());
    }
    Ok(c)
}

pub(super) fn clean_label(label: &str) -> Result<String> {
    let l = label.trim();
    if l.is_empty() || l.chars().count() > 64 || l.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "label: 1 to 64 characters, no control characters".into(),
        ));
    }
    Ok(l.to_owned())
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| {
        Error::InvalidRequest(format!(
            "credential: not a WebAuthn {what} in JSON form (PublicKeyCredential.toJSON()): {e}"
        ))
    })
}

// ------------------------------------------------------------------ registration

pub use super::webauthn_register::{register_finish, register_start, register_start_kind};

/// The user's keys.
pub fn list(app: &Authd, user: UserId) -> Result<Vec<KeyView>> {
    Ok(app
        .store
        .list_webauthn(user)?
        .iter()
        .map(KeyView::of)
        .collect())
}

fn find_key(app: &Authd, user: UserId, credential_id: &str) -> Result<WebauthnCredential> {
    let raw = wa::unb64(credential_id).ok_or(Error::NotFound("security key"))?;
    app.store
        .webauthn_by_cred_id(&raw)?
        .filter(|k| k.user_id == user)
        .ok_or(Error::NotFound("security key"))
}

/// Remove one of the caller's keys; needs a sign-in within [`RECENT_SIGN_IN`] seconds.
pub fn delete(
    app: &Authd,
    who: &Authenticated,
    credential_id: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    if now - who.session.authenticated_at > RECENT_SIGN_IN {
        return Err(Refusal::ReauthenticationRequired.into());
    }
    let k = find_key(app, who.user.id, credential_id)?;
    crate::flows::policy::check_factor_removal(app, &who.user, true)?;
    let name = who.user.username.as_str();
    let ev = client.event(
        now,
        Some(name),
        "webauthn.delete",
        Some(name),
        Outcome::Success,
        json!({ "label": k.label, "credential_id": credential_id }),
    );
    if !app.store.delete_webauthn(who.user.id, k.id, ev)? {
        return Err(Error::NotFound("security key"));
    }
    Ok(())
}

fn staff_target(app: &Authd, who: &Authenticated, username: &str) -> Result<User> {
    use crate::authz::{Permission, TargetRefusal, allows, may_act_on};
    if !allows(&who.user.roles, Permission::Helpdesk) {
        return Err(Error::Forbidden);
    }
    let target = app
        .store
        .user_by_name(&username.to_lowercase())?
        .ok_or(Error::NotFound("user"))?;
    // The permission matrix's target rules: helpdesk looks after ordinary accounts; nobody acts
    // on their own account here.
    match may_act_on(&who.user, &target, Permission::Helpdesk) {
        Ok(()) => Ok(target),
        Err(TargetRefusal::OwnAccount) => Err(Error::SelfAction(
            "manage your own keys from your account page",
        )),
        Err(TargetRefusal::Forbidden) => Err(Error::Forbidden),
    }
}

/// Helpdesk and admins: a user's keys.
pub fn staff_list(app: &Authd, who: &Authenticated, username: &str) -> Result<Vec<KeyView>> {
    let target = staff_target(app, who, username)?;
    list(app, target.id)
}

/// Helpdesk and admins: remove a user's key (a lost or stolen one), audited.
pub fn staff_delete(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    credential_id: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let target = staff_target(app, who, username)?;
    if target.id == who.user.id {
        return Err(Error::SelfAction(
            "remove your own keys from your account page",
        ));
    }
    let k = find_key(app, target.id, credential_id)?;
    let ev = client.event(
        now,
        Some(&who.user.username),
        "webauthn.staff_delete",
        Some(&target.username),
        Outcome::Success,
        json!({ "label": k.label, "credential_id": credential_id }),
    );
    if !app.store.delete_webauthn(target.id, k.id, ev)? {
        return Err(Error::NotFound("security key"));
    }
    Ok(())
}

// ------------------------------------------------------------------ sign-in

/// Start a key as the second factor of login challenge `challenge`.
pub fn second_factor_start(app: &Authd, challenge: &str, now: UnixTime) -> Result<Started> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::Mfa, now)?;
    let keys = app.store.list_webauthn(user.id)?;
    if keys.is_empty() {
        return Err(Error::MethodNotAvailable);
    }
    let creds = keys
        .iter()
        .map(|k| wa::to_credential(k, true))
        .collect::<Result<Vec<Credential>>>()?;
    let rp = &app.webauthn.rp;
    let start_err = |e| internal("start authentication", e);
    // With a security key among them, user verification is preferred rather than required;
    // webauthn-rs still demands it of every key registered with it (passkeys, and security
    // keys that verified their user at registration).
    let (rcr, st) = if creds.iter().any(|c| KeyKind::of(c) == KeyKind::SecurityKey) {
        let keys: Vec<SecurityKey> = creds.into_iter().map(SecurityKey::from).collect();
        let (rcr, state) = rp
            .start_securitykey_authentication(&keys)
            .map_err(start_err)?;
        (rcr, serde_json::to_string(&state))
    } else {
        let keys: Vec<Passkey> = creds.into_iter().map(Passkey::from).collect();
        let (rcr, state) = rp.start_passkey_authentication(&keys).map_err(start_err)?;
        (rcr, serde_json::to_string(&state))
    };
    let options = serde_json::to_value(&rcr).map_err(|e| internal("options", e))?;
    let st = st.map_err(|e| internal("state", e))?;
    record_ceremony(
        app,
        CeremonyKind::SecondFactor,
        Some(user.id),
        Some(ch.id),
        "",
        st,
        now,
    )?;
    Ok(Started {
        id: Zeroizing::new(String::new()),
        options,
    })
}

/// Start a passwordless sign-in: no username asked, the passkey names its account.
pub fn passkey_start(app: &Authd, now: UnixTime) -> Result<Started> {
    let rp = &app.webauthn.rp;
    let (mut rcr, state) = rp
        .start_discoverable_authentication()
        .map_err(|e| internal("start authentication", e))?;
    // A button, not autofill: the browser asks at once.
    rcr.mediation = None;
    let options = serde_json::to_value(&rcr).map_err(|e| internal("options", e))?;
    let st = serde_json::to_string(&state).map_err(|e| internal("state", e))?;
    let id = record_ceremony(app, CeremonyKind::Passkey, None, None, "", st, now)?;
    Ok(Started { id, options })
}

/// What a verified assertion leads to.
struct Verified {
    key: KeyUse,
    regressed: bool,
}

/// Check `resp` against `state` and the stored key (for a `passwordless` sign-in, the key must
/// be a passkey); a counter regression is audited and marks the key, and refuses unless the
/// policy accepts it.
///
/// `ceremony_used` re-reads the ceremony: when the same assertion was raced and another request
/// has just consumed it, the key's counter already moved, and this request must be refused as a
/// replay (`webauthn_ceremony_used`) without marking an honest key as cloned.
fn verify(
    app: &Authd,
    state_json: &str,
    resp: &PublicKeyCredential,
    stored: &WebauthnCredential,
    passwordless: bool,
    event: &dyn Fn(Outcome, Value) -> AuditEvent,
    ceremony_used: &dyn Fn() -> Result<bool>,
) -> Result<Verified> {
    // Both kinds of state hold the same ceremony facts; reading them as a discoverable state
    // lets us present the key as it is in the store now (its current counter).
    let state: DiscoverableAuthentication =
        serde_json::from_str(state_json).map_err(|e| internal("state", e))?;
    let refuse_cloned = app.config.webauthn.refuse_cloned();
    let cred = wa::to_credential(stored, refuse_cloned)?;
    // A security key (registered after a password, user verification only preferred) never
    // signs in alone; told apart before its answer is even checked.
    if passwordless && KeyKind::of(&cred) != KeyKind::Passkey {
        return Err(Refusal::SecondFactorOnly.into());
    }
    let rp = &app.webauthn.rp;
    let regressed_event = |counter: Option<u32>| {
        event(
            Outcome::Failure,
            json!({ "reason": Refusal::CounterRegressed.code(), "credential_id": wa::b64(&stored.cred_id),
                    "stored_counter": stored.counter, "presented_counter": counter,
                    "refused": refuse_cloned }),
        )
    };
    let res = match rp.finish_discoverable_authentication_v2(resp, state, &cred) {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            if ceremony_used()? {
                return Err(Refusal::CeremonyUsed.into());
            }
            app.store
                .mark_webauthn_cloned(stored.id, regressed_event(None))?;
            return Err(Refusal::CounterRegressed.into());
        }
        Err(e) => return Err(Refusal::from_webauthn(&e).into()),
    };
    let regressed = wa::counter_regressed(stored.counter, res.counter());
    if regressed {
        if ceremony_used()? {
            return Err(Refusal::CeremonyUsed.into());
        }
        app.store
            .mark_webauthn_cloned(stored.id, regressed_event(Some(res.counter())))?;
        if refuse_cloned {
            return Err(Refusal::CounterRegressed.into());
        }
    }
    Ok(Verified {
        key: KeyUse {
            credential: stored.id,
            counter: res.counter(),
            accept_regression: !refuse_cloned,
            backup_state: res.backup_state(),
            backup_eligible: res.backup_eligible(),
        },
        regressed,
    })
}

/// The step after a verified key: the forced password change, an enrolment the MFA policy
/// demands (a key counts as a second factor, so only a key-less account would get one), or the
/// session — the same rule as every other login (`login::after_factors`).
///
/// The key just verified is itself a second factor of the account, so the MFA policy's
/// enrolment step cannot apply: without a forced password change the session follows at once,
/// sparing the two reads `after_factors` makes to count the account's factors (the hot path of
/// a passkey sign-in). A key removed meanwhile is caught by the finishing transaction (its
/// counter update finds no row).
fn next_step(
    app: &Authd,
    user: &User,
    client: &ClientInfo,
    method: &str,
    now: UnixTime,
) -> Result<(LoginStep, Next)> {
    if user.must_change_password {
        return crate::flows::login::after_factors(app, user, method, client, now, false);
    }
    let (t, s) = crate::flows::login::new_session(app, user, client, now, method, None)?;
    Ok((
        LoginStep::Session(crate::flows::login::IssuedSession {
            token: t.text,
            expires_at: s.expires_at,
            backup_codes_low: None,
        }),
        Next::Session(s),
    ))
}

/// Finish the second factor with the key's answer.
pub fn second_factor_finish(
    app: &Authd,
    challenge: &str,
    credential: &Value,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let (ch, user) = live_challenge(app, challenge, ChallengeStage::Mfa, now)?;
    let name = user.username.clone();
    let event = |outcome: Outcome, detail: Value| {
        client.event(
            now,
            Some(&name),
            "login.webauthn",
            Some(&name),
            outcome,
            detail,
        )
    };
    let fail = |e: Error| -> Error {
        let code = e.code();
        let r = app
            .store
            .fail_challenge(
                ch.id,
                MAX_CHALLENGE_ATTEMPTS,
                event(Outcome::Failure, json!({ "reason": code })),
            )
            .map_err(Error::from)
            .and_then(|()| Ok(app.guard.login_failed(client, now.saturating_mul(1000))?));
        match r {
            Ok(()) => e,
            Err(x) => x,
        }
    };
    let c = usable(
        app.store.ceremony_for_challenge(ch.id)?,
        CeremonyKind::SecondFactor,
        now,
    )
    .map_err(fail)?;
    let resp: PublicKeyCredential = parse(credential, "assertion")?;
    let stored = app
        .store
        .webauthn_by_cred_id(resp.raw_id.as_ref())?
        .filter(|k| k.user_id == user.id)
        .ok_or_else(|| fail(Refusal::CredentialNotAllowed.into()))?;
    let used = || -> Result<bool> {
        Ok(app
            .store
            .ceremony_for_challenge(ch.id)?
            .is_none_or(|x| x.used_at.is_some()))
    };
    let v = verify(app, &c.state, &resp, &stored, false, &event, &used).map_err(fail)?;
    let method = format!("{}+webauthn", ch.method);
    let (step, next) = next_step(app, &user, &challenge_client(&ch), &method, now)?;
    let ok = event(
        Outcome::Success,
        json!({ "credential_id": wa::b64(&stored.cred_id), "counter_regressed": v.regressed }),
    );
    finish(app, c.id, Some(ch.id), v.key, next, now, ok, client, &event)?;
    app.guard
        .login_succeeded(client, user.id, now.saturating_mul(1000));
    Ok(step)
}

/// Finish a passwordless sign-in with a discoverable passkey (user verification required).
pub fn passkey_finish(
    app: &Authd,
    id: &str,
    credential: &Value,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<LoginStep> {
    let anon = |outcome: Outcome, detail: Value| {
        client.event(now, None, "login.passkey", None, outcome, detail)
    };
    let fail_anon = |e: Error| -> Error {
        let r = app
            .store
            .append_audit(anon(Outcome::Failure, json!({ "reason": e.code() })))
            .map_err(Error::from)
            .and_then(|()| Ok(app.guard.login_failed(client, now.saturating_mul(1000))?));
        match r {
            Ok(()) => e,
            Err(x) => x,
        }
    };
    if client.refused {
        return Err(fail_anon(Refusal::CredentialNotAllowed.into()));
    }
    let c = usable(
        app.store.ceremony_by_hash(&tokens::hash_token(id))?,
        CeremonyKind::Passkey,
        now,
    )
    .map_err(fail_anon)?;
    let resp: PublicKeyCredential = parse(credential, "assertion")?;
    // The passkey names its account by the user handle; the key must be that account's.
    let handle = resp.get_user_unique_id().map(<[u8]>::to_vec);
    let stored = app
        .store
        .webauthn_by_cred_id(resp.raw_id.as_ref())?
        .filter(|k| Some(&k.user_handle) == handle.as_ref())
        .ok_or_else(|| fail_anon(Refusal::CredentialNotAllowed.into()))?;
    let user = app
        .store
        .user_by_id(stored.user_id)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| fail_anon(Refusal::CredentialNotAllowed.into()))?;
    let name = user.username.clone();
    let event = |outcome: Outcome, detail: Value| {
        client.event(
            now,
            Some(&name),
            "login.passkey",
            Some(&name),
            outcome,
            detail,
        )
    };
    let fail = |e: Error| -> Error {
        let r = app
            .store
            .append_audit(event(Outcome::Failure, json!({ "reason": e.code() })))
            .map_err(Error::from)
            .and_then(|()| Ok(app.guard.login_failed(client, now.saturating_mul(1000))?));
        match r {
            Ok(()) => e,
            Err(x) => x,
        }
    };
    if let Some(ip) = client.ip
        && !app.guard.allows(ip, Some(&user))
    {
        return Err(fail(Refusal::CredentialNotAllowed.into()));
    }
    if role_listed(&app.config.webauthn.passwordless_denied_roles, &user) {
        return Err(fail(Refusal::PasswordlessDenied.into()));
    }
    let used = || -> Result<bool> {
        Ok(app
            .store
            .ceremony_by_hash(&tokens::hash_token(id))?
            .is_none_or(|x| x.used_at.is_some()))
    };
    let v = verify(app, &c.state, &resp, &stored, true, &event, &used).map_err(fail)?;
    let (step, next) = next_step(app, &user, client, "passkey", now)?;
    let ok = event(
        Outcome::Success,
        json!({ "credential_id": wa::b64(&stored.cred_id), "counter_regressed": v.regressed }),
    );
    finish(app, c.id, None, v.key, next, now, ok, client, &event)?;
    app.guard
        .login_succeeded(client, user.id, now.saturating_mul(1000));
    Ok(step)
}

/// The one transaction that consumes the ceremony (and the login challenge), advances the
/// counter and records what follows.
#[allow(clippy::too_many_arguments)]
fn finish(
    app: &Authd,
    ceremony: i64,
    challenge: Option<i64>,
    key: KeyUse,
    next: Next,
    now: UnixTime,
    ok: AuditEvent,
    client: &ClientInfo,
    event: &dyn Fn(Outcome, Value) -> AuditEvent,
) -> Result<()> {
    let credential = key.credential;
    let refusal = match app
        .store
        .complete_webauthn_login(ceremony, challenge, key, next, now, ok)?
    {
        KeyLoginOutcome::Done => return Ok(()),
        KeyLoginOutcome::CeremonyGone => Refusal::CeremonyUsed,
        KeyLoginOutcome::CounterRegressed => {
            // Another ceremony used this key with a higher counter meanwhile.
            app.store.mark_webauthn_cloned(
                credential,
                event(
                    Outcome::Failure,
                    json!({ "reason": Refusal::CounterRegressed.code(), "concurrent": true }),
                ),
            )?;
            Refusal::CounterRegressed
        }
    };
    app.store
        .append_audit(event(Outcome::Failure, json!({ "reason": refusal.code() })))?;
    app.guard.login_failed(client, now.saturating_mul(1000))?;
    Err(refusal.into())
}
