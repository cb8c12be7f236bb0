//! Domain operations on groups, the MFA policy, profiles and photos, step-up and admin MFA
//! resets. As everywhere in the store, every change carries its audit event in the same
//! transaction.

use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::*;

/// Groups, policy, profiles, step-up, MFA resets.
pub trait AccountStore {
    /// Every group, by name, with its member count.
    fn list_groups(&self) -> StoreResult<Vec<Group>>;
    /// Create a group; false if the name exists.
    fn create_group(
        &self,
        name: &str,
        description: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Delete a group (members leave it; its policy entry goes); false if unknown.
    fn delete_group(&self, name: &str, audit: AuditEvent) -> StoreResult<bool>;
    /// The groups `user` belongs to, by name.
    fn user_groups(&self, user: UserId) -> StoreResult<Vec<String>>;
    /// Replace `user`'s groups. `StoreError::UnknownGroup` names a group that does not exist.
    fn set_user_groups(
        &self,
        user: UserId,
        groups: &[String],
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// The MFA policy.
    fn mfa_policy(&self) -> StoreResult<MfaPolicy>;
    /// Set (or, with `None`, forget) the requirement of one scope. A group scope must name an
    /// existing group (`StoreError::UnknownGroup`).
    fn set_mfa_policy(
        &self,
        scope: &PolicyScope,
        requirement: Option<Requirement>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// `user`'s profile (empty when never set).
    fn profile(&self, user: UserId) -> StoreResult<Profile>;
    /// Change profile fields.
    fn update_profile(
        &self,
        user: UserId,
        change: ProfileChange,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Set or (with `None`) remove the photo.
    fn set_photo(
        &self,
        user: UserId,
        photo: Option<Photo>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// The photo, if any.
    fn photo(&self, user: UserId) -> StoreResult<Option<Photo>>;

    /// Record a step-up re-authentication on a live session of `user`, consuming `effect` (the
    /// second factor used) in the same transaction. False: the session is gone or the code was
    /// already used.
    fn step_up_session(
        &self,
        user: UserId,
        session: i64,
        effect: Option<crate::store::Effect>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;

    /// File a reset request that waits for approval.
    fn create_mfa_reset(&self, new: NewMfaReset, audit: AuditEvent) -> StoreResult<i64>;
    /// A reset request by id.
    fn mfa_reset(&self, id: i64) -> StoreResult<Option<MfaReset>>;
    /// Reset requests, newest first (at most 1 000).
    fn list_mfa_resets(&self) -> StoreResult<Vec<MfaReset>>;
    /// Approve pending request `id` and apply it, in one transaction, if it is still pending at
    /// `now` and `approver` is neither its requester nor its target. `None`: nothing changed.
    fn approve_mfa_reset(
        &self,
        id: i64,
        approver: UserId,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<Option<ResetOutcome>>;
    /// File and apply a reset at once (one-person rule): the request is recorded as done.
    fn apply_mfa_reset(
        &self,
        new: NewMfaReset,
        audit: AuditEvent,
    ) -> StoreResult<(i64, ResetOutcome)>;
}
