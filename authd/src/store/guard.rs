//! Domain operations of the guard: IP rules, suspensions, per-account failures.

use super::StoreResult;
use crate::clock::UnixTime;
use crate::guard::rules::IpRule;
use crate::model::{AuditEvent, UserId};

/// A suspended address or range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    /// Address or CIDR range (text form, normalised).
    pub address: String,
    /// `failed_logins`, `flood`, `forbidden_requests`, or `manual`.
    pub reason: String,
    /// Events counted when it was decided.
    pub count: u32,
    /// First offence in the window.
    pub first_seen: UnixTime,
    /// Last offence.
    pub last_seen: UnixTime,
    /// End; `None` = until an admin lifts it.
    pub expires_at: Option<UnixTime>,
    /// Admin who suspended by hand.
    pub created_by: Option<String>,
}

/// A change to the IP rules.
#[derive(Debug, Clone)]
pub enum RuleEdit {
    /// Add this rule.
    Add(IpRule),
    /// Delete the rule with this id.
    Delete(i64),
}

/// What a rule change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    /// Added, with this id.
    Added(i64),
    /// Deleted.
    Deleted,
    /// `allowed` said no: nothing changed.
    Refused,
    /// No rule with that id: nothing changed.
    NotFound,
}

/// The check a rule change must pass, run on the rules as they would be after it.
pub type RuleCheck = Box<dyn FnOnce(&[IpRule]) -> bool + Send>;

/// Guard state in the store.
pub trait GuardStore {
    /// Every IP rule.
    fn ip_rules(&self) -> StoreResult<Vec<IpRule>>;
    /// Add or delete a rule if `allowed` holds for the rules as they would be afterwards —
    /// checked and written in one transaction, so two admins changing rules at once cannot
    /// together lock themselves out.
    fn change_ip_rules(
        &self,
        edit: RuleEdit,
        allowed: RuleCheck,
        audit: AuditEvent,
    ) -> StoreResult<RuleChange>;
    /// Suspensions in force at `now`.
    fn suspensions(&self, now: UnixTime) -> StoreResult<Vec<Suspension>>;
    /// Record (or renew) a suspension.
    fn suspend(&self, s: Suspension, audit: AuditEvent) -> StoreResult<()>;
    /// Lift the suspension of `address` (or every one, with `None`); returns how many.
    fn lift(&self, address: Option<&str>, now: UnixTime, audit: AuditEvent) -> StoreResult<usize>;
    /// Count a failed password for the account; returns the consecutive count. The account's
    /// next attempt is refused until `throttled_until`.
    fn account_failure(
        &self,
        user: UserId,
        throttled_until: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<u32>;
    /// Reset the account's failure count (a success, or an admin's unlock).
    fn account_reset(&self, user: UserId, audit: Option<AuditEvent>) -> StoreResult<()>;
}
