//! Registering a security key or passkey for the signed-in user.
//!
//! Two kinds ([`KeyKind`]): a **passkey** is registered with user verification required (PIN,
//! biometrics) and a discoverable credential preferred, and may sign in alone; a **security
//! key** is registered with user verification preferred (webauthn-rs's `SecurityKey`), for keys
//! without a PIN, and is a second factor only (after the password). webauthn-rs remembers the
//! policy in the credential, so a key that did verify its user at registration must always do so.
//!
//! For the roles of `webauthn.attestation_roles` the attestation policy applies
//! (`credentials::webauthn_policy`): with CA files the registration is an attested one
//! (`start_attested_passkey_registration`, or a security key with the CA list) and webauthn-rs
//! verifies the chain and the model; without, only the announced AAGUID is compared.
//!
//! Entry points: [`register_start`] (a passkey), [`register_start_kind`], [`register_finish`].

use super::webauthn::{Started, clean_label, internal, parse, record_ceremony, usable};
use crate::app::Authd;
use crate::clock::UnixTime;
use crate::credentials::tokens;
use crate::credentials::webauthn::{self as wa, KeyKind, Refusal};
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::store::webauthn::KeyRegistration;
use crate::{Error, Result};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    AttestedPasskeyRegistration, Credential, PasskeyRegistration, RegisterPublicKeyCredential,
    SecurityKeyRegistration,
};

/// The stored state of a registration: exactly one of the three webauthn-rs states. (A
/// session-2 state, `{"state","handle"}`, still reads as a passkey registration.)
#[derive(serde::Serialize, serde::Deserialize)]
struct RegState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<PasskeyRegistration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attested: Option<AttestedPasskeyRegistration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_key: Option<SecurityKeyRegistration>,
    handle: String,
}

/// Start registering a passkey for the signed-in user.
pub fn register_start(
    app: &Authd,
    who: &Authenticated,
    label: &str,
    now: UnixTime,
) -> Result<Started> {
    register_start_kind(app, who, label, KeyKind::Passkey, now)
}

/// Start registering a key of `kind` for the signed-in user.
pub fn register_start_kind(
    app: &Authd,
    who: &Authenticated,
    label: &str,
    kind: KeyKind,
    now: UnixTime,
) -> Result<Started> {
    let label = clean_label(label)?;
    let rp = &app.webauthn.rp;
    let policy = &app.webauthn.attestation;
    let existing = app.store.list_webauthn(who.user.id)?;
    let handle = match existing.first() {
        Some(k) => k.user_handle.clone(),
        None => wa::new_user_handle()?,
    };
    let uuid = wa::handle_uuid(&handle).ok_or_else(|| internal("user handle", "length"))?;
    let exclude = existing.iter().map(|k| k.cred_id.clone()).collect();
    let name = who.user.username.as_str();
    let attested = policy.applies_to(&who.user);
    let cas = if attested {
        policy.ca_list().cloned()
    } else {
        None
    };
    let announced_only = attested && cas.is_none();
    let start_err = |e| internal("start registration", e);
    let mut st = RegState {
        state: None,
        attested: None,
        security_key: None,
        handle: wa::b64(&handle),
    };
    let ccr = match (kind, cas) {
        (KeyKind::Passkey, None) => {
            let (ccr, s) = rp
                .start_passkey_registration(uuid, name, name, Some(exclude))
                .map_err(start_err)?;
            st.state = Some(s);
            ccr
        }
        (KeyKind::Passkey, Some(cas)) => {
            let (ccr, s) = rp
                .start_attested_passkey_registration(uuid, name, name, Some(exclude), cas, None)
                .map_err(start_err)?;
            st.attested = Some(s);
            ccr
        }
        (KeyKind::SecurityKey, cas) => {
            let (ccr, s) = rp
                .start_securitykey_registration(uuid, name, name, Some(exclude), cas, None)
                .map_err(start_err)?;
            st.security_key = Some(s);
            ccr
        }
    };
    let mut options = serde_json::to_value(&ccr).map_err(|e| internal("options", e))?;
    if kind == KeyKind::Passkey
        && let Some(sel) = options["publicKey"].get_mut("authenticatorSelection")
    {
        // Ask for a discoverable credential, so the key can also sign in without a password.
        sel["residentKey"] = json!("preferred");
    }
    if announced_only {
        // The model must be told (the announced AAGUID is compared at finish).
        options["publicKey"]["attestation"] = json!("direct");
    }
    let state = serde_json::to_string(&st).map_err(|e| internal("state", e))?;
    let id = record_ceremony(
        app,
        CeremonyKind::Register,
        Some(who.user.id),
        None,
        &label,
        state,
        now,
    )?;
    Ok(Started { id, options })
}

/// Finish registering: verify the authenticator's answer (and its attestation where the
/// policy asks) and record the key. Returns the credential id (base64url) and the label.
pub fn register_finish(
    app: &Authd,
    who: &Authenticated,
    id: &str,
    credential: &Value,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<(String, String)> {
    let c = usable(
        app.store.ceremony_by_hash(&tokens::hash_token(id))?,
        CeremonyKind::Register,
        now,
    )?;
    if c.user_id != Some(who.user.id) {
        return Err(Refusal::CeremonyExpired.into());
    }
    let st: RegState = serde_json::from_str(&c.state).map_err(|e| internal("state", e))?;
    let reg: RegisterPublicKeyCredential = parse(credential, "registration")?;
    let rp = &app.webauthn.rp;
    let policy = &app.webauthn.attestation;
    let name = who.user.username.as_str();
    let audit = |outcome: Outcome, detail: Value| {
        client.event(
            now,
            Some(name),
            "webauthn.register",
            Some(name),
            outcome,
            detail,
        )
    };
    let refuse = |r: Refusal| -> Error {
        match app.store.append_audit(audit(
            Outcome::Failure,
            json!({ "reason": r.code(), "label": c.label }),
        )) {
            Ok(()) => r.into(),
            Err(e) => e.into(),
        }
    };
    let from_wa = |e| refuse(Refusal::from_webauthn(&e));
    let attested = policy.applies_to(&who.user);
    let cred: Credential = if let Some(s) = &st.attested {
        rp.finish_attested_passkey_registration(&reg, s)
            .map_err(from_wa)?
            .into()
    } else if let Some(s) = &st.security_key {
        rp.finish_securitykey_registration(&reg, s)
            .map_err(from_wa)?
            .into()
    } else if let Some(s) = &st.state {
        if attested && policy.ca_list().is_some() {
            // Started before the CA policy applied (a restart with a new configuration).
            return Err(refuse(Refusal::AttestationUntrusted));
        }
        rp.finish_passkey_registration(&reg, s)
            .map_err(from_wa)?
            .into()
    } else {
        return Err(internal("state", "no registration state"));
    };
    let aaguid = wa::aaguid_of(&reg);
    if attested && policy.ca_list().is_none() && !policy.announced_model_allowed(aaguid.as_deref())
    {
        return Err(refuse(Refusal::ModelNotAllowed));
    }
    let kind = KeyKind::of(&cred);
    let handle = wa::unb64(&st.handle).ok_or_else(|| internal("state", "handle"))?;
    let credential_id = wa::b64(&cred.cred_id);
    let new = NewWebauthnCredential {
        cred_id: cred.cred_id.to_vec(),
        user_id: who.user.id,
        user_handle: handle,
        label: c.label.clone(),
        credential_json: serde_json::to_string(&cred).map_err(|e| internal("credential", e))?,
        counter: cred.counter,
        backup_eligible: cred.backup_eligible,
        backup_state: cred.backup_state,
        aaguid: aaguid.clone(),
        created_at: now,
    };
    let ok = audit(
        Outcome::Success,
        json!({ "label": c.label, "credential_id": credential_id, "aaguid": aaguid,
                "kind": kind.as_str(), "attested": st.attested.is_some()
                    || (st.security_key.is_some() && attested && policy.ca_list().is_some()) }),
    );
    match app.store.add_webauthn(c.id, new, now, ok)? {
        KeyRegistration::Added(_) => Ok((credential_id, c.label)),
        KeyRegistration::CeremonyGone => Err(refuse(Refusal::CeremonyUsed)),
        KeyRegistration::Exists => Err(refuse(Refusal::CredentialExists)),
    }
}
