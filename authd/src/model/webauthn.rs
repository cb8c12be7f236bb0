//! Domain types of WebAuthn: a registered security key or passkey, and a ceremony in progress.

use super::UserId;
use crate::clock::UnixTime;

/// A registered security key or passkey.
#[derive(Clone)]
pub struct WebauthnCredential {
    /// Primary key.
    pub id: i64,
    /// The authenticator's credential id (raw bytes; base64url in the API).
    pub cred_id: Vec<u8>,
    /// Owner.
    pub user_id: UserId,
    /// The WebAuthn user handle of the owner (16 random bytes, the same for all their keys).
    pub user_handle: Vec<u8>,
    /// The user's name for the key.
    pub label: String,
    /// webauthn-rs's credential (public key, algorithm, registration facts) as JSON. Its
    /// counter and backup state are superseded by the columns below.
    pub credential_json: String,
    /// Last signature counter accepted (0 = the authenticator keeps none).
    pub counter: u32,
    /// The key may be synchronised or backed up (a multi-device passkey).
    pub backup_eligible: bool,
    /// The key says it is backed up now.
    pub backup_state: bool,
    /// Authenticator model, when the authenticator told it (all zero = not told).
    pub aaguid: Option<String>,
    /// A counter went backwards once: the key may have been cloned.
    pub possibly_cloned: bool,
    /// Registration time.
    pub created_at: UnixTime,
    /// Last successful use.
    pub last_used_at: Option<UnixTime>,
}

impl std::fmt::Debug for WebauthnCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnCredential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("counter", &self.counter)
            .field("possibly_cloned", &self.possibly_cloned)
            .finish_non_exhaustive()
    }
}

/// What the store needs to record a new key.
#[derive(Debug, Clone)]
pub struct NewWebauthnCredential {
    /// Credential id.
    pub cred_id: Vec<u8>,
    /// Owner.
    pub user_id: UserId,
    /// Owner's user handle.
    pub user_handle: Vec<u8>,
    /// Label.
    pub label: String,
    /// webauthn-rs credential JSON.
    pub credential_json: String,
    /// Counter at registration.
    pub counter: u32,
    /// Backup eligibility.
    pub backup_eligible: bool,
    /// Backup state.
    pub backup_state: bool,
    /// Model, if told.
    pub aaguid: Option<String>,
    /// Registration time.
    pub created_at: UnixTime,
}

/// Which ceremony a stored state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a key for a signed-in user.
    Register,
    /// A key as the second factor of a login challenge.
    SecondFactor,
    /// Passwordless sign-in with a discoverable passkey.
    Passkey,
}

impl CeremonyKind {
    /// Stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::SecondFactor => "second_factor",
            CeremonyKind::Passkey => "passkey",
        }
    }
    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(CeremonyKind::Register),
            "second_factor" => Some(CeremonyKind::SecondFactor),
            "passkey" => Some(CeremonyKind::Passkey),
            _ => None,
        }
    }
}

/// A ceremony as stored: single-use, with an expiry. A used one is kept (without its state)
/// until it would have expired, so a second use is told apart from an unknown one.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// Primary key.
    pub id: i64,
    /// Kind.
    pub kind: CeremonyKind,
    /// The user concerned (none for a passkey sign-in: the passkey names them).
    pub user_id: Option<UserId>,
    /// The login challenge this second factor belongs to.
    pub challenge_id: Option<i64>,
    /// Label of the key being registered.
    pub label: String,
    /// webauthn-rs state as JSON (empty once used).
    pub state: String,
    /// Expiry.
    pub expires_at: UnixTime,
    /// When it was consumed, if it was.
    pub used_at: Option<UnixTime>,
}

/// What the store needs to record a ceremony.
#[derive(Debug, Clone)]
pub struct NewCeremony {
    /// SHA-256 of the ceremony id given to the client (or of a fresh token for second factors).
    pub token_hash: [u8; 32],
    /// Kind.
    pub kind: CeremonyKind,
    /// User concerned.
    pub user_id: Option<UserId>,
    /// Login challenge (second factor).
    pub challenge_id: Option<i64>,
    /// Label (registration).
    pub label: String,
    /// webauthn-rs state JSON.
    pub state: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// How a successful assertion changes the key, applied with the step it completes.
#[derive(Debug, Clone)]
pub struct KeyUse {
    /// The key's row.
    pub credential: i64,
    /// The counter presented.
    pub counter: u32,
    /// Accept a counter that did not advance (policy `accept`); it is still marked.
    pub accept_regression: bool,
    /// Backup state presented.
    pub backup_state: bool,
    /// Backup eligibility presented.
    pub backup_eligible: bool,
}
