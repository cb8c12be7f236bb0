//! Domain types: what an account, a credential, a session and an audit event *are*, independent
//! of how the store lays them out (the store converts its rows into these with `TryFrom`).

use crate::clock::UnixTime;
use serde::Serialize;

mod account;
mod console;
mod keys;
pub use account::*;
pub use console::*;
pub use keys::*;
mod webauthn;
pub use webauthn::*;

/// Primary key of an account.
pub type UserId = i64;

/// What an account may do. More roles (technician) arrive with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account: manages itself only.
    User,
    /// Looks after users' credentials (keys, PINs, temporary passwords).
    Helpdesk,
    /// Opens remote-support sessions through the support relay.
    Technician,
    /// Manages accounts, roles and the appliance.
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 4] = [Role::User, Role::Helpdesk, Role::Technician, Role::Admin];

    /// The role's stable name (API, store, CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Helpdesk => "helpdesk",
            Role::Technician => "technician",
            Role::Admin => "admin",
        }
    }

    /// Parse a role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Parse a list of role names; the empty list means `["user"]`. Duplicates are folded.
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for n in names {
        let r = Role::parse(n).ok_or_else(|| {
            format!("unknown role \"{n}\" (expected one of: user, helpdesk, technician, admin)")
        })?;
        if !roles.contains(&r) {
            roles.push(r);
        }
    }
    if roles.is_empty() {
        roles.push(Role::User);
    }
    roles.sort();
    Ok(roles)
}

/// An account.
#[derive(Clone, PartialEq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Unique, lower-case login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Sorted, non-empty.
    pub roles: Vec<Role>,
    /// A disabled account cannot log in and its sessions are ended.
    pub disabled: bool,
    /// The next login must set a new password before a session is issued.
    pub must_change_password: bool,
    /// When the account was created.
    pub created_at: UnixTime,
    /// When the password was last set.
    pub password_changed_at: UnixTime,
    /// Consecutive failed password logins (reset by a success or an admin).
    pub fail_count: u32,
    /// Password logins are refused before this time (progressive delay).
    pub throttled_until: UnixTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("must_change_password", &self.must_change_password)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether the account holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A software TOTP device (an authenticator app).
#[derive(Clone)]
pub struct TotpCredential {
    /// Primary key.
    pub id: i64,
    /// Owner.
    pub user_id: UserId,
    /// The user's name for the device ("phone").
    pub label: String,
    /// The seed, sealed with the master key (context `totp|user:<id>`).
    pub sealed_secret: Vec<u8>,
    /// Algorithm, digits, period.
    pub params: sesame_hardware::otp::TotpParams,
    /// Only a confirmed device is accepted at login.
    pub confirmed: bool,
    /// The last accepted time step: that step and every earlier one are refused.
    pub last_step: Option<u64>,
    /// When the device was added.
    pub created_at: UnixTime,
    /// When a code from it was last accepted.
    pub last_used_at: Option<UnixTime>,
}

impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// An unused backup code as stored: a short public tag (its first characters) that narrows the
/// lookup to one hash, and the argon2id hash of the whole code.
#[derive(Clone)]
pub struct BackupCode {
    /// Primary key.
    pub id: i64,
    /// First characters of the code, stored in clear to pick the hash to check.
    pub tag: String,
    /// argon2id PHC string of the whole normalised code.
    pub hash: String,
}

impl std::fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupCode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A live session (the token itself is never stored: only its SHA-256).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Primary key (shown to the user to revoke it; not a secret).
    pub id: i64,
    /// Owner.
    pub user_id: UserId,
    /// Issue time.
    pub created_at: UnixTime,
    /// After this the token is refused.
    pub expires_at: UnixTime,
    /// Last request seen (updated at most once a minute).
    pub last_seen_at: UnixTime,
    /// Client address at login.
    pub address: String,
    /// Client user agent at login.
    pub user_agent: String,
    /// How the login was completed (`password`, `password+totp`, `password+backup_code`,
    /// `otp_key`, `temporary_password`).
    pub method: String,
    /// The hardware key the session was opened with, if any (its sessions end with it).
    pub otp_key_id: Option<i64>,
    /// The last time its owner proved who they are (login, or a step-up re-authentication).
    pub authenticated_at: UnixTime,
}

/// What the store needs to open a session.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    /// Owner.
    pub user_id: UserId,
    /// Issue time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Client address.
    pub address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Method used.
    pub method: String,
    /// Hardware key used, if any.
    pub otp_key_id: Option<i64>,
    /// Refuse the session if the appliance already holds this many live sessions.
    pub seat_limit: Option<u64>,
}

/// Where a multi-step login stands between two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStage {
    /// Password verified; a second factor is expected.
    Mfa,
    /// Password (and second factor, if any) verified; a new password is expected.
    PasswordChange,
    /// A hardware key's code verified on first use; the user must choose a PIN.
    PinSetup,
    /// Every factor verified, but policy requires a second factor the account lacks: it must
    /// enrol one before a session is issued.
    Enrol,
}

impl ChallengeStage {
    /// Stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeStage::Mfa => "mfa",
            ChallengeStage::PasswordChange => "password_change",
            ChallengeStage::PinSetup => "pin_setup",
            ChallengeStage::Enrol => "enrol",
        }
    }
    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mfa" => Some(ChallengeStage::Mfa),
            "password_change" => Some(ChallengeStage::PasswordChange),
            "pin_setup" => Some(ChallengeStage::PinSetup),
            "enrol" => Some(ChallengeStage::Enrol),
            _ => None,
        }
    }
}

/// A pending login step, kept in the store so it survives a restart and works across nodes.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Primary key.
    pub id: i64,
    /// Whose login this is.
    pub user_id: UserId,
    /// What is expected next.
    pub stage: ChallengeStage,
    /// After this the challenge is refused.
    pub expires_at: UnixTime,
    /// Failed attempts so far at this step.
    pub attempts: u32,
    /// Factors verified so far (`password`, `password+totp`, ...).
    pub method: String,
    /// Client address at the password step.
    pub address: String,
    /// Client user agent at the password step.
    pub user_agent: String,
    /// The hardware key this login goes through, if any.
    pub otp_key_id: Option<i64>,
}

/// What the store needs to record a pending login step.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    /// SHA-256 of the challenge token.
    pub token_hash: [u8; 32],
    /// Whose login.
    pub user_id: UserId,
    /// Expected next step.
    pub stage: ChallengeStage,
    /// Issue time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Factors verified so far.
    pub method: String,
    /// Client address.
    pub address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Hardware key concerned, if any.
    pub otp_key_id: Option<i64>,
}

/// Whether an audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

/// One entry of the audit trail, before the store chains it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When.
    pub at: UnixTime,
    /// Who acted (username), if known.
    pub actor: Option<String>,
    /// What (stable dotted name, e.g. `login.password`, `user.create`).
    pub action: &'static str,
    /// On whom or what, if anyone.
    pub target: Option<String>,
    /// Success or failure.
    pub outcome: Outcome,
    /// Client address.
    pub address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Extra facts (reason of a failure, roles set...). Never a secret.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// The event with one more fact in its detail object.
    pub fn with_detail(mut self, key: &str, value: serde_json::Value) -> Self {
        match &mut self.detail {
            serde_json::Value::Object(m) => {
                m.insert(key.to_owned(), value);
            }
            other => {
                let mut m = serde_json::Map::new();
                m.insert(key.to_owned(), value);
                if !other.is_null() {
                    m.insert("detail".to_owned(), other.take());
                }
                *other = serde_json::Value::Object(m);
            }
        }
        self
    }
}

/// A stored audit entry, with its place in the hash chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who acted.
    pub actor: Option<String>,
    /// What.
    pub action: String,
    /// On whom.
    pub target: Option<String>,
    /// Success or failure.
    pub outcome: String,
    /// Client address.
    pub address: String,
    /// Client user agent.
    pub user_agent: String,
    /// Extra facts.
    pub detail: serde_json::Value,
    /// Hex SHA-256 of this entry chained to the previous one.
    pub hash: String,
}

/// Filter for reading the audit trail (default: the newest 100 entries).
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// Only entries whose actor or target is this username.
    pub user: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<UnixTime>,
    /// At most this many (newest first).
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            user: None,
            since: None,
            limit: 100,
        }
    }
}

/// The client facts recorded with every action, and what the guard decided about them.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client address (text; the socket peer, or the forwarded client behind a trusted proxy).
    pub address: String,
    /// User agent, truncated to 256 characters.
    pub user_agent: String,
    /// The client address, when it comes from the network.
    pub ip: Option<std::net::IpAddr>,
    /// Global IP rules refuse this address: login flows answer as for a wrong password,
    /// without hashing anything and without counting a failure against anyone.
    pub refused: bool,
}

impl ClientInfo {
    /// Build an audit event from this client.
    pub fn event(
        &self,
        at: UnixTime,
        actor: Option<&str>,
        action: &'static str,
        target: Option<&str>,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            at,
            actor: actor.map(str::to_owned),
            action,
            target: target.map(str::to_owned),
            outcome,
            address: self.address.clone(),
            user_agent: self.user_agent.clone(),
            detail,
        }
    }
}
