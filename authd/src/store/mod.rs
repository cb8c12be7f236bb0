//! The store: the only code in authd that knows SQL.
//!
//! [`Store`] is a trait of *domain operations* (not a key-value API), so the layers above never
//! see a transaction and a PostgreSQL implementation can be added beside [`sqlite::SqliteStore`]
//! without touching them. Every operation that changes something takes the [`AuditEvent`] that
//! records it and writes both in the same transaction: there is no state change without its
//! audit entry, and no audit entry for a change that did not happen.
//!
//! Single-use things (a TOTP step, a backup code, a login challenge) are consumed by one
//! conditional write inside the transaction that grants success (`UPDATE … WHERE last_step < ?`,
//! zero rows = replay), never read-compare-save. All writes are durable (`synchronous=FULL`)
//! before the call returns.

pub mod accounts;
pub mod console;
mod guard;
mod keys;
pub mod schema;
pub mod sqlite;
pub mod webauthn;
mod writer;

pub use accounts::AccountStore;
pub use console::ConsoleStore;
pub use guard::{GuardStore, RuleChange, RuleCheck, RuleEdit, Suspension};
pub use keys::KeyStore;
pub use webauthn::WebauthnStore;

use crate::clock::UnixTime;
use crate::model::*;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username exists already.
    #[error("username already taken")]
    UsernameTaken,
    /// Every seat is taken (`session.max_sessions`).
    #[error("every session seat is taken")]
    SeatsFull,
    /// A key with this serial exists already.
    #[error("a key with serial {0} exists already")]
    SerialTaken(String),
    /// The database engine reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// A stored row could not be turned into a domain value (corruption or a newer schema).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// Table of the row.
        table: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The database was written by a newer version of Sesame.
    #[error("the store has schema version {found}, newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found on disk.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A group named in a change does not exist.
    #[error("no group named {0}")]
    UnknownGroup(String),
    /// The writer thread is gone (shutting down or crashed).
    #[error("the store's writer has stopped")]
    WriterStopped,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A change to an account's roles or enabled state.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New roles, if changing.
    pub roles: Option<Vec<Role>>,
    /// New disabled flag, if changing. Disabling ends every session of the account.
    pub disabled: Option<bool>,
}

/// What a new account starts with.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-case username.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles (non-empty).
    pub roles: Vec<Role>,
    /// Whether the first login must change the password.
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A TOTP device being enrolled.
#[derive(Debug, Clone)]
pub struct NewTotp {
    /// Owner.
    pub user_id: UserId,
    /// User's label.
    pub label: String,
    /// Seed sealed with the master key.
    pub sealed_secret: Vec<u8>,
    /// Algorithm, digits, period.
    pub params: sesame_hardware::otp::TotpParams,
    /// Creation time.
    pub created_at: UnixTime,
}

/// What completing a login step consumes or changes, applied atomically with the step.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Accept TOTP `step` from credential `credential_id` (refused if a step ≥ it was accepted).
    TotpStep {
        /// The device.
        credential_id: i64,
        /// The matched step.
        step: u64,
    },
    /// Confirm pending TOTP device `credential_id` with its first accepted `step` (refused if
    /// it is already confirmed or the step was used).
    ConfirmTotp {
        /// The device.
        credential_id: i64,
        /// The matched step.
        step: u64,
    },
    /// Use backup code `code_id` (refused if already used).
    BackupCode {
        /// The code's row.
        code_id: i64,
    },
    /// Set a new password hash, clear `must_change_password`, end the user's other sessions.
    SetPassword {
        /// argon2id PHC string.
        password_hash: String,
    },
    /// Set the PIN of the challenge's hardware key (first use or after a cancelled PIN).
    SetPin {
        /// argon2id PHC string of the PIN.
        pin_hash: String,
    },
}

/// What follows a completed login step.
#[derive(Debug, Clone)]
pub enum Next {
    /// The login is complete: open this session.
    Session(NewSession),
    /// Another step is needed: record this challenge.
    Challenge(NewChallenge),
    /// Nothing to open: the caller (`/validate`) only wants the verdict.
    Done,
}

/// The domain operations authd needs from persistent storage.
pub trait Store:
    KeyStore + GuardStore + AccountStore + ConsoleStore + WebauthnStore + Send + Sync + std::fmt::Debug
{
    // ---- accounts
    /// Number of accounts (bootstrap checks for zero).
    fn count_users(&self) -> StoreResult<u64>;
    /// Look an account up by (lower-case) username.
    fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    /// Look an account up by id.
    fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;
    /// Every account, by username.
    fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Create an account.
    fn create_user(&self, new: NewUser, audit: AuditEvent) -> StoreResult<UserId>;
    /// Change roles or the disabled flag. Returns false if the account does not exist.
    fn update_user(&self, id: UserId, change: UserChange, audit: AuditEvent) -> StoreResult<bool>;
    /// Delete an account and everything it owns. Returns false if it did not exist.
    fn delete_user(&self, id: UserId, audit: AuditEvent) -> StoreResult<bool>;
    /// Set a password hash and the `must_change_password` flag; end every session of the user
    /// except `keep_session`.
    fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: bool,
        now: UnixTime,
        keep_session: Option<i64>,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Replace the hash with an equivalent one under new parameters, only if it is still `old`.
    fn rehash_password(&self, id: UserId, old: &str, new: &str) -> StoreResult<bool>;

    // ---- TOTP devices
    /// Record an unconfirmed TOTP device.
    fn add_totp(&self, new: NewTotp, audit: AuditEvent) -> StoreResult<i64>;
    /// The user's TOTP devices (confirmed or not), oldest first.
    fn list_totp(&self, user: UserId) -> StoreResult<Vec<TotpCredential>>;
    /// Confirm a pending device with its first accepted step. False if it does not exist, is
    /// confirmed already, or the step is not newer than its last.
    fn confirm_totp(
        &self,
        user: UserId,
        id: i64,
        step: u64,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Remove a device. False if it does not exist.
    fn delete_totp(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool>;

    // ---- backup codes
    /// Void the user's codes and store a new set of `(tag, hash)`.
    fn replace_backup_codes(
        &self,
        user: UserId,
        codes: Vec<(String, String)>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// The user's unused codes whose tag is `tag`.
    fn unused_backup_codes(&self, user: UserId, tag: &str) -> StoreResult<Vec<BackupCode>>;
    /// How many unused codes the user has.
    fn count_backup_codes(&self, user: UserId) -> StoreResult<u64>;

    // ---- login challenges
    /// Record a pending login step.
    fn create_challenge(&self, new: NewChallenge, audit: AuditEvent) -> StoreResult<()>;
    /// A live (unexpired) challenge by token hash.
    fn challenge_by_hash(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<Option<Challenge>>;
    /// Count a failed attempt; the challenge is deleted when it reaches `max_attempts`.
    fn fail_challenge(&self, id: i64, max_attempts: u32, audit: AuditEvent) -> StoreResult<()>;
    /// Complete a step: delete the challenge, apply `effect` (conditionally), then record `next`.
    /// Returns false — and changes nothing — if the challenge was gone or the effect was a
    /// replay (a step or code already used).
    fn complete_challenge(
        &self,
        id: i64,
        effect: Option<Effect>,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;

    // ---- sessions
    /// Open a session.
    fn create_session(&self, new: NewSession, audit: AuditEvent) -> StoreResult<i64>;
    /// A live (unexpired, unrevoked) session and its account, by token hash.
    fn session_by_hash(
        &self,
        hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<Option<(Session, User)>>;
    /// Note activity on a session (written at most once a minute per session).
    fn touch_session(&self, id: i64, now: UnixTime) -> StoreResult<()>;
    /// The user's live sessions, newest first.
    fn list_sessions(&self, user: UserId, now: UnixTime) -> StoreResult<Vec<Session>>;
    /// End one of the user's sessions. False if it was not live.
    fn revoke_session(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool>;
    /// Every live session on the appliance with its account's username and roles, newest first.
    fn all_sessions(&self, now: UnixTime) -> StoreResult<Vec<(Session, String, Vec<Role>)>>;
    /// End any live session (admins). False if it was not live.
    fn end_session(&self, id: i64, audit: AuditEvent) -> StoreResult<bool>;
    /// End every live session of the user; returns how many ended.
    fn end_user_sessions(&self, user: UserId, audit: AuditEvent) -> StoreResult<usize>;
    /// End every live session of the user except `keep`; returns how many ended.
    fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: i64,
        audit: AuditEvent,
    ) -> StoreResult<usize>;

    // ---- audit
    /// Append an event on its own (failed logins and other refusals).
    fn append_audit(&self, event: AuditEvent) -> StoreResult<()>;
    /// Read the trail, newest first.
    fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// Recompute the hash chain; `Ok(n)` = n entries verified, `Err(id)` = first broken entry.
    fn verify_audit_chain(&self) -> StoreResult<Result<u64, i64>>;
}
