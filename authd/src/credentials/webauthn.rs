//! The `webauthn` credential kind: FIDO2 security keys and passkeys, on webauthn-rs (RustCrypto,
//! no OpenSSL).
//!
//! What lives here: the relying party built from `[webauthn]`, the refusals with their stable
//! codes ([`Refusal`]), how a stored key becomes a webauthn-rs credential again (the counter and
//! backup state come from their own columns, not from the JSON), the counter rule, and the
//! AAGUID read from a registration's authenticator data. What does not: ceremonies and login
//! steps (`flows::webauthn`), SQL (`store`).
//!
//! webauthn-rs reads the wall clock only to check attestation certificates' validity; nothing
//! here depends on it. Ceremony expiry is ours, from the injected clock, kept in the store.

use super::webauthn_policy::AttestationPolicy;
use crate::model::WebauthnCredential;
use data_encoding::BASE64URL_NOPAD;
use sesame_config::Config;
use webauthn_rs::prelude::{
    Credential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

/// Why a WebAuthn ceremony was refused. Each has its own stable code (API contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The browser's origin is not one of `webauthn.rp_origins`.
    #[error("the key was used from a page that is not this service's origin")]
    OriginMismatch,
    /// The authenticator signed for another relying-party id.
    #[error("the key answered for another relying party")]
    RpIdMismatch,
    /// The assertion answers another ceremony's challenge (replayed or mixed up).
    #[error("this answer does not belong to this sign-in attempt; it may have been replayed")]
    ChallengeMismatch,
    /// The ceremony is unknown or older than `webauthn.ceremony_lifetime`.
    #[error("the security-key request has expired; start again")]
    CeremonyExpired,
    /// The ceremony was completed already (each is single-use).
    #[error("the security-key request was already used; start again")]
    CeremonyUsed,
    /// The key is not one of this account's keys.
    #[error("this security key is not registered for this account")]
    CredentialNotAllowed,
    /// User verification (PIN, biometrics) was required and not performed.
    #[error("the key did not verify the user (PIN or biometrics required)")]
    UserNotVerified,
    /// The signature counter went backwards: the key may have been cloned.
    #[error("the key's signature counter went backwards; it may have been cloned")]
    CounterRegressed,
    /// The role of the account does not allow passwordless sign-in.
    #[error("passwordless sign-in is not allowed for this account; sign in with a password")]
    PasswordlessDenied,
    /// The authenticator model is not on the list allowed for the account's role.
    #[error("this authenticator model is not allowed for this account")]
    ModelNotAllowed,
    /// The key is registered already.
    #[error("this security key is registered already")]
    CredentialExists,
    /// Deleting a key needs a sign-in in the last 5 minutes.
    #[error("sign in again (within the last 5 minutes) before removing a security key")]
    ReauthenticationRequired,
    /// Anything else: bad signature, malformed data, unsupported algorithm.
    #[error("the security key's answer is not valid")]
    InvalidCredential,
    /// The role's attestation policy lists CAs and the key's attestation does not chain to one
    /// of them (or the key gave none).
    #[error("this security key's manufacturer certificate is not one this service accepts")]
    AttestationUntrusted,
    /// A key registered as a second factor (user verification not required) was presented for
    /// a passwordless sign-in.
    #[error(
        "this security key is registered as a second factor only; sign in with your password first"
    )]
    SecondFactorOnly,
}

impl Refusal {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::OriginMismatch => "webauthn_origin_mismatch",
            Refusal::RpIdMismatch => "webauthn_rp_id_mismatch",
            Refusal::ChallengeMismatch => "webauthn_challenge_mismatch",
            Refusal::CeremonyExpired => "webauthn_ceremony_expired",
            Refusal::CeremonyUsed => "webauthn_ceremony_used",
            Refusal::CredentialNotAllowed => "webauthn_credential_not_allowed",
            Refusal::UserNotVerified => "webauthn_user_not_verified",
            Refusal::CounterRegressed => "webauthn_counter_regressed",
            Refusal::PasswordlessDenied => "webauthn_passwordless_denied",
            Refusal::ModelNotAllowed => "webauthn_model_not_allowed",
            Refusal::CredentialExists => "webauthn_credential_exists",
            Refusal::ReauthenticationRequired => "reauthentication_required",
            Refusal::InvalidCredential => "webauthn_invalid_credential",
            Refusal::AttestationUntrusted => "webauthn_attestation_untrusted",
            Refusal::SecondFactorOnly => "webauthn_second_factor_only",
        }
    }

    /// HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Refusal::PasswordlessDenied
            | Refusal::ModelNotAllowed
            | Refusal::AttestationUntrusted
            | Refusal::SecondFactorOnly
            | Refusal::ReauthenticationRequired => 403,
            Refusal::CredentialExists => 409,
            _ => 401,
        }
    }

    /// The refusal for an error of webauthn-rs.
    pub fn from_webauthn(e: &WebauthnError) -> Refusal {
        match e {
            WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => {
                Refusal::OriginMismatch
            }
            WebauthnError::InvalidRPIDHash => Refusal::RpIdMismatch,
            WebauthnError::MismatchedChallenge => Refusal::ChallengeMismatch,
            WebauthnError::CredentialNotFound | WebauthnError::InvalidUserUniqueId => {
                Refusal::CredentialNotAllowed
            }
            WebauthnError::UserNotVerified => Refusal::UserNotVerified,
            WebauthnError::CredentialPossibleCompromise => Refusal::CounterRegressed,
            WebauthnError::CredentialExcludedFromRequest
            | WebauthnError::CredentialAlreadyExists => Refusal::CredentialExists,
            WebauthnError::AttestationUntrustedAaguid
            | WebauthnError::AttestationCertificateAAGUIDMismatch => Refusal::ModelNotAllowed,
            WebauthnError::AttestationChainNotTrusted(_)
            | WebauthnError::AttestationNotVerifiable
            | WebauthnError::AttestationTrustFailure
            | WebauthnError::AttestationLeafCertMissing
            | WebauthnError::AttestationNotSupported
            | WebauthnError::AttestationFormatMissingAaguid
            | WebauthnError::AttestationCertificateTrustStoreEmpty
            | WebauthnError::MissingAttestationCaList => Refusal::AttestationUntrusted,
            _ => Refusal::InvalidCredential,
        }
    }
}

/// The relying party and the attestation policy, built once from `[webauthn]` when authd
/// starts (a mistake in them stops the start, naming the key), then shared by every ceremony.
#[derive(Debug)]
pub struct RelyingParty {
    /// webauthn-rs's relying party.
    pub rp: Webauthn,
    /// The per-role attestation policy.
    pub attestation: AttestationPolicy,
}

impl RelyingParty {
    /// Build both from the configuration (reads the attestation CA files). Only called when
    /// authd starts; the error is a sentence naming the key or file (an `InvalidRequest`, so it
    /// is shown as it is rather than as "internal error").
    pub fn from_config(config: &Config) -> Result<RelyingParty, crate::Error> {
        let shown = |e: crate::Error| match e {
            crate::Error::Internal(m) => crate::Error::InvalidRequest(m),
            other => other,
        };
        Ok(RelyingParty {
            rp: relying_party(config).map_err(shown)?,
            attestation: AttestationPolicy::from_config(config).map_err(|e| {
                crate::Error::InvalidRequest(format!("webauthn configuration: {e}"))
            })?,
        })
    }
}

/// What a registered key may do, from the user-verification policy it was registered under
/// (kept in its webauthn-rs credential, so no column is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// User verification required at registration: a second factor, and passwordless sign-in.
    Passkey,
    /// Registered after a password with user verification preferred: a second factor only.
    SecurityKey,
}

impl KeyKind {
    /// Stable name (API field `kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Passkey => "passkey",
            KeyKind::SecurityKey => "security_key",
        }
    }

    /// Parse the API's name.
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "passkey" => Some(KeyKind::Passkey),
            "security_key" => Some(KeyKind::SecurityKey),
            _ => None,
        }
    }

    /// The kind of a webauthn-rs credential: only a credential registered with user
    /// verification required is a passkey.
    pub fn of(c: &Credential) -> KeyKind {
        // webauthn-rs's default policy is `Required` (the prelude does not name the type).
        if c.registration_policy == Default::default() {
            KeyKind::Passkey
        } else {
            KeyKind::SecurityKey
        }
    }

    /// The kind of a stored key (a credential that cannot be read counts as a security key:
    /// it never signs in without a password).
    pub fn of_stored(stored: &WebauthnCredential) -> KeyKind {
        serde_json::from_str::<Credential>(&stored.credential_json)
            .map(|c| KeyKind::of(&c))
            .unwrap_or(KeyKind::SecurityKey)
    }
}

/// The relying party of this appliance, from `[webauthn]` (and `server.listen`'s port when no
/// origin is configured; with port 0 — any free port, tests — any port of `rp_id` is allowed).
pub fn relying_party(config: &Config) -> Result<Webauthn, crate::Error> {
    let w = &config.webauthn;
    let port = config.server.listen.port();
    let bad = |what: String| crate::Error::Internal(format!("webauthn configuration: {what}"));
    let origins = w
        .origins(port)
        .iter()
        .map(|o| Url::parse(o).map_err(|e| bad(format!("origin {o}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    // A browser refuses an RP id that is not the origin's host or a parent domain of it.
    for o in &origins {
        let host = o.host_str().unwrap_or("");
        if host != w.rp_id && !host.ends_with(&format!(".{}", w.rp_id)) {
            return Err(bad(format!(
                "origin {o} is not on rp_id {} or one of its subdomains",
                w.rp_id
            )));
        }
    }
    let (first, rest) = origins
        .split_first()
        .ok_or_else(|| bad("no origin".into()))?;
    let mut b = WebauthnBuilder::new(&w.rp_id, first)
        .map_err(|e| bad(format!("{e}")))?
        .rp_name("Sesame")
        .timeout(w.ceremony_lifetime);
    for o in rest {
        b = b.append_allowed_origin(o);
    }
    if w.rp_origins.trim().is_empty() && port == 0 {
        b = b.allow_any_port(true);
    }
    b.build().map_err(|e| bad(format!("{e}")))
}

/// A key as webauthn-rs knows it, with the stored counter and backup state. With `counter`
/// `None` the counter is left at 0 so webauthn-rs does not judge it (policy `accept`: the
/// flow judges it and records a regression instead of refusing).
pub fn to_credential(
    stored: &WebauthnCredential,
    keep_counter: bool,
) -> Result<Credential, crate::Error> {
    let mut c: Credential = serde_json::from_str(&stored.credential_json)
        .map_err(|e| crate::Error::Internal(format!("stored webauthn credential: {e}")))?;
    c.counter = if keep_counter { stored.counter } else { 0 };
    c.backup_state = stored.backup_state;
    c.backup_eligible = stored.backup_eligible || c.backup_eligible;
    Ok(c)
}

/// Whether a presented counter went backwards: either counter non-zero and the presented one
/// not above the stored one (WebAuthn §7.2 step 21).
pub fn counter_regressed(stored: u32, presented: u32) -> bool {
    (stored > 0 || presented > 0) && presented <= stored
}

/// 16 random bytes: the WebAuthn user handle of an account (never its username or id).
pub fn new_user_handle() -> Result<Vec<u8>, crate::Error> {
    let mut b = vec![0u8; 16];
    getrandom::fill(&mut b).map_err(|e| crate::Error::Internal(format!("random: {e}")))?;
    Ok(b)
}

/// The handle as the UUID webauthn-rs wants.
pub fn handle_uuid(handle: &[u8]) -> Option<Uuid> {
    Uuid::from_slice(handle).ok()
}

/// base64url without padding (credential ids in the API and the pages).
pub fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// Decode a base64url credential id (padding tolerated).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    BASE64URL_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
}

/// The authenticator model (AAGUID) announced in a registration's authenticator data, or
/// `None` when it is absent, malformed or all zero (the authenticator does not tell).
pub fn aaguid_of(reg: &RegisterPublicKeyCredential) -> Option<String> {
    aaguid_from_attestation_object(reg.response.attestation_object.as_ref())
}

/// [`aaguid_of`] on the raw CBOR attestation object (hostile input: never panics).
pub fn aaguid_from_attestation_object(bytes: &[u8]) -> Option<String> {
    use serde_cbor_2::Value;
    let v: Value = serde_cbor_2::from_slice(bytes).ok()?;
    let Value::Map(m) = v else { return None };
    let auth_data = m.iter().find_map(|(k, v)| match (k, v) {
        (Value::Text(k), Value::Bytes(b)) if k == "authData" => Some(b),
        _ => None,
    })?;
    // rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) when AT (0x40) is set.
    let flags = *auth_data.get(32)?;
    if flags & 0x40 == 0 {
        return None;
    }
    let raw = auth_data.get(37..53)?;
    if raw.iter().all(|b| *b == 0) {
        return None;
    }
    Uuid::from_slice(raw).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rule() {
        assert!(!counter_regressed(0, 0), "no counter kept");
        assert!(!counter_regressed(4, 5));
        assert!(counter_regressed(5, 5));
        assert!(counter_regressed(5, 3));
        assert!(counter_regressed(5, 0));
        assert!(!counter_regressed(0, 1));
    }

    #[test]
    fn codes_are_distinct_and_stable() {
        let all = [
            Refusal::OriginMismatch,
            Refusal::RpIdMismatch,
            Refusal::ChallengeMismatch,
            Refusal::CeremonyExpired,
            Refusal::CeremonyUsed,
            Refusal::CredentialNotAllowed,
            Refusal::UserNotVerified,
            Refusal::CounterRegressed,
            Refusal::PasswordlessDenied,
            Refusal::ModelNotAllowed,
            Refusal::CredentialExists,
            Refusal::ReauthenticationRequired,
            Refusal::InvalidCredential,
            Refusal::AttestationUntrusted,
            Refusal::SecondFactorOnly,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(Refusal::RpIdMismatch.code(), "webauthn_rp_id_mismatch");
        assert_eq!(Refusal::PasswordlessDenied.status(), 403);
        assert_eq!(Refusal::CeremonyUsed.status(), 401);
    }

    #[test]
    fn hostile_attestation_objects_never_panic() {
        let mut corpus: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0xa0],
            vec![0xa1, 0x68],
            // {"authData": h''}
            vec![
                0xa1, 0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a', 0x40,
            ],
            vec![0x9f; 64],
            vec![0xbf; 64],
        ];
        // {"authData": 40 bytes with AT set but truncated}
        let mut m = vec![0xa1, 0x68];
        m.extend_from_slice(b"authData");
        m.push(0x58);
        m.push(40);
        let mut ad = vec![0u8; 40];
        ad[32] = 0x41;
        m.extend_from_slice(&ad);
        corpus.push(m);
        for (i, c) in corpus.iter().enumerate() {
            assert_eq!(aaguid_from_attestation_object(c), None, "input {i}");
        }
        // A well-formed one with an AAGUID.
        let mut m = vec![0xa1, 0x68];
        m.extend_from_slice(b"authData");
        m.push(0x58);
        m.push(53);
        let mut ad = vec![0u8; 53];
        ad[32] = 0x45;
        ad[37..53].copy_from_slice(&[
            0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1,
            0x54, 0xa8,
        ]);
        m.extend_from_slice(&ad);
        assert_eq!(
            aaguid_from_attestation_object(&m).as_deref(),
            Some("cb69481e-8ff7-4039-93ec-0a2729a154a8")
        );
    }

    #[test]
    fn default_relying_party_builds() {
        let c = Config::danger_test_defaults();
        relying_party(&c).expect("localhost, any port");
        let mut c = Config::default();
        c.webauthn.rp_id = "example.org".into();
        relying_party(&c).expect("https://example.org:8443");
        c.webauthn.rp_origins = "https://localhost:8443".into();
        assert!(
            relying_party(&c).is_err(),
            "rp id not a suffix of the origin's host"
        );
    }
}
