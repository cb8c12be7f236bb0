//! Domain operations on WebAuthn keys and ceremonies.
//!
//! A ceremony (the state webauthn-rs needs between `start` and `finish`) is a row, so it
//! survives a restart and works across nodes. It is consumed by one conditional write
//! (`UPDATE … SET used_at = ? WHERE used_at IS NULL AND expires_at > ?`) inside the transaction
//! that registers the key or grants the login step; the key's counter advances in the same
//! transaction (`WHERE counter < ?`), so neither a ceremony nor an assertion counts twice.

use super::{Next, StoreResult};
use crate::clock::UnixTime;
use crate::model::*;

/// How completing a WebAuthn login step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLoginOutcome {
    /// Done: ceremony consumed, counter stored, `next` recorded.
    Done,
    /// The ceremony (or the login challenge) was used or expired meanwhile: nothing changed.
    CeremonyGone,
    /// The counter did not advance past the stored one (a concurrent use, or a clone):
    /// nothing changed.
    CounterRegressed,
}

/// How recording a new key went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRegistration {
    /// Recorded.
    Added(i64),
    /// The ceremony was used or expired meanwhile: nothing changed.
    CeremonyGone,
    /// This credential id is registered already: nothing changed.
    Exists,
}

/// WebAuthn keys and ceremonies.
pub trait WebauthnStore {
    /// Record a ceremony (and forget ceremonies that expired more than a day ago).
    fn create_ceremony(&self, new: NewCeremony) -> StoreResult<()>;
    /// A ceremony by token hash, used or not, expired or not.
    fn ceremony_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Ceremony>>;
    /// The newest ceremony started for login challenge `challenge_id`.
    fn ceremony_for_challenge(&self, challenge_id: i64) -> StoreResult<Option<Ceremony>>;
    /// The user's keys, oldest first.
    fn list_webauthn(&self, user: UserId) -> StoreResult<Vec<WebauthnCredential>>;
    /// A key by its credential id.
    fn webauthn_by_cred_id(&self, cred_id: &[u8]) -> StoreResult<Option<WebauthnCredential>>;
    /// Consume registration ceremony `ceremony` and record the key, with its audit entry.
    fn add_webauthn(
        &self,
        ceremony: i64,
        new: NewWebauthnCredential,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<KeyRegistration>;
    /// Complete a login step with a key: consume `ceremony` and, for a second factor, the
    /// login `challenge`; advance the key's counter; record `next` and the audit entry.
    fn complete_webauthn_login(
        &self,
        ceremony: i64,
        challenge: Option<i64>,
        key: KeyUse,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<KeyLoginOutcome>;
    /// Mark a key as possibly cloned (its counter went backwards), with the audit entry.
    fn mark_webauthn_cloned(&self, id: i64, audit: AuditEvent) -> StoreResult<()>;
    /// Remove one of `user`'s keys. False if it does not exist.
    fn delete_webauthn(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool>;
}
