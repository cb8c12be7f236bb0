//! Domain operations on hardware OTP keys and temporary passwords.
//!
//! As everywhere in the store: every change carries its audit event in the same transaction,
//! and a code is consumed by one conditional write inside the transaction that grants success.

use super::{Next, StoreResult};
use crate::clock::UnixTime;
use crate::model::*;

/// Keys and temporary passwords.
pub trait KeyStore {
    /// Import keys into stock, all or none; a serial that exists already fails the whole import
    /// with `StoreError::SerialTaken`.
    fn import_keys(&self, keys: Vec<NewKey>, audit: AuditEvent) -> StoreResult<()>;
    /// Which of `serials` exist already.
    fn existing_serials(&self, serials: &[String]) -> StoreResult<Vec<String>>;
    /// A key by serial.
    fn key_by_serial(&self, serial: &str) -> StoreResult<Option<OtpKey>>;
    /// Keys matching `filter`, by serial.
    fn list_keys(&self, filter: &KeyFilter) -> StoreResult<Vec<OtpKey>>;
    /// Give an in-stock key to `user`; `replaces` (a key of that user) is revoked and its
    /// sessions end. False if the key was not in stock.
    fn assign_key(
        &self,
        key_id: i64,
        user: UserId,
        replaces: Option<i64>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Disable a key at once; sessions opened with it end. False if already disabled/revoked.
    fn disable_key(
        &self,
        key_id: i64,
        reason: DisableReason,
        note: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Forget the PIN (back to first use); sessions opened with the key end.
    fn cancel_pin(&self, key_id: i64, now: UnixTime, audit: AuditEvent) -> StoreResult<bool>;
    /// Reset the failure counter.
    fn unlock_key(&self, key_id: i64, audit: AuditEvent) -> StoreResult<bool>;
    /// Store a resync result: the consumed position and the drift; resets failures.
    fn resync_key(
        &self,
        key_id: i64,
        consume: KeyConsume,
        drift: i64,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Count a failure; returns the new consecutive count.
    fn key_failure(&self, key_id: i64, audit: AuditEvent) -> StoreResult<u32>;
    /// A code from an assigned key was accepted: consume it (conditionally; false = replay or
    /// key no longer assigned, nothing changed), reset failures, end the owner's temporary
    /// password, and record `next`.
    fn complete_key_login(
        &self,
        key_id: i64,
        consume: KeyConsume,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Replace the user's temporary password.
    fn set_temp_password(
        &self,
        user: UserId,
        hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// The user's temporary password still valid at `now`.
    fn active_temp_password(
        &self,
        user: UserId,
        now: UnixTime,
    ) -> StoreResult<Option<TempPassword>>;
    /// End the user's temporary password. False if none was active.
    fn revoke_temp_password(
        &self,
        user: UserId,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
}
