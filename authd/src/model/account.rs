//! Groups, the MFA policy, the self-service profile and photo, and admin MFA resets.

use super::{Role, UserId};
use crate::clock::UnixTime;

/// Whether a second factor is demanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// The account may have a second factor, or not.
    Optional,
    /// The account must have a second factor and use it at every password login.
    Required,
}

impl Requirement {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Optional => "optional",
            Requirement::Required => "required",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "optional" => Some(Requirement::Optional),
            "required" => Some(Requirement::Required),
            _ => None,
        }
    }
}

/// What the MFA policy is about: every account with a role, or every member of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyScope {
    /// `role:NAME`.
    Role(Role),
    /// `group:NAME`.
    Group(String),
}

impl PolicyScope {
    /// Stored and API form: `role:admin`, `group:parents`.
    pub fn to_text(&self) -> String {
        match self {
            PolicyScope::Role(r) => format!("role:{}", r.as_str()),
            PolicyScope::Group(g) => format!("group:{g}"),
        }
    }
    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(r) = s.strip_prefix("role:") {
            return Role::parse(r).map(PolicyScope::Role);
        }
        let g = s.strip_prefix("group:")?;
        valid_group_name(g).then(|| PolicyScope::Group(g.to_owned()))
    }
}

/// The MFA policy: one requirement per role or group named; a scope not named is optional.
/// An account needs a second factor when any of its roles or groups requires one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    /// `(scope, requirement)`, sorted by scope.
    pub entries: Vec<(PolicyScope, Requirement)>,
}

impl MfaPolicy {
    /// Whether an account with these roles and groups must have a second factor.
    pub fn requires(&self, roles: &[Role], groups: &[String]) -> bool {
        self.entries.iter().any(|(scope, req)| {
            *req == Requirement::Required
                && match scope {
                    PolicyScope::Role(r) => roles.contains(r),
                    PolicyScope::Group(g) => groups.contains(g),
                }
        })
    }
    /// The requirement recorded for `scope` (optional when not named).
    pub fn get(&self, scope: &PolicyScope) -> Requirement {
        self.entries
            .iter()
            .find(|(s, _)| s == scope)
            .map_or(Requirement::Optional, |(_, r)| *r)
    }
}

/// Group names: 1–64 lower-case letters, digits, `-` and `_`, starting with a letter.
pub fn valid_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A named group of accounts (`employees`, `parents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Number of member accounts.
    pub members: u64,
}

/// An account's self-service profile. Display names: the public one follows the private one
/// until the user sets it apart (`display_name_public` = `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Address for notifications.
    pub email: Option<String>,
    /// Preferred language (`fr`, `en`).
    pub language: Option<String>,
    /// The name colleagues see.
    pub display_name_private: Option<String>,
    /// The name outsiders (customers) see; `None` = same as the private one.
    pub display_name_public: Option<String>,
    /// The photo's facts, if one is set.
    pub photo: Option<PhotoInfo>,
}

impl Profile {
    /// The public display name in effect.
    pub fn public_name(&self) -> Option<&str> {
        self.display_name_public
            .as_deref()
            .or(self.display_name_private.as_deref())
    }
}

/// What is known of a stored photo without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoInfo {
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

/// A change to a profile: `Some(None)` clears a field, `None` leaves it.
#[derive(Debug, Clone, Default)]
#[allow(
    clippy::option_option,
    reason = "absent, cleared and set are three distinct requests"
)]
pub struct ProfileChange {
    /// New e-mail address.
    pub email: Option<Option<String>>,
    /// New language.
    pub language: Option<Option<String>>,
    /// New private display name.
    pub display_name_private: Option<Option<String>>,
    /// New public display name (`Some(None)`: follow the private one again).
    pub display_name_public: Option<Option<String>>,
}

/// A checked, metadata-free photo.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its facts.
    pub info: PhotoInfo,
    /// The image file.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("info", &self.info)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Where an admin's request to reset an account's second factors stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetState {
    /// Filed; waits for a second admin's approval.
    Pending,
    /// Applied: the account's factors are gone.
    Done,
    /// Not approved in time.
    Expired,
}

impl ResetState {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetState::Pending => "pending",
            ResetState::Done => "done",
            ResetState::Expired => "expired",
        }
    }
}

/// A request to reset an account's second factors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaReset {
    /// Primary key.
    pub id: i64,
    /// Whose factors.
    pub target_id: UserId,
    /// Their username.
    pub target: String,
    /// Who filed it (`None`: the offline CLI, or a deleted account).
    pub requested_by_id: Option<UserId>,
    /// Their username.
    pub requested_by: String,
    /// When it was filed.
    pub created_at: UnixTime,
    /// A pending request lapses after this.
    pub expires_at: UnixTime,
    /// Who approved it, for a two-person reset.
    pub approved_by: Option<String>,
    /// When it took effect.
    pub done_at: Option<UnixTime>,
    /// `pending` or `done` as stored.
    pub stored_state: ResetState,
}

impl MfaReset {
    /// The state at `now` (a pending request past its expiry is expired).
    pub fn state(&self, now: UnixTime) -> ResetState {
        match self.stored_state {
            ResetState::Pending if now >= self.expires_at => ResetState::Expired,
            s => s,
        }
    }
}

/// What a new reset request records.
#[derive(Debug, Clone)]
pub struct NewMfaReset {
    /// Whose factors.
    pub target_id: UserId,
    /// Who files it (`None`: the offline CLI on a stopped appliance).
    pub requested_by: Option<UserId>,
    /// Filing time.
    pub created_at: UnixTime,
    /// End of the approval window.
    pub expires_at: UnixTime,
}

/// How many factors a reset removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResetOutcome {
    /// TOTP devices deleted.
    pub totp_devices: u64,
    /// WebAuthn security keys and passkeys deleted.
    pub webauthn_keys: u64,
    /// Unused backup codes voided.
    pub backup_codes: u64,
    /// Hardware keys disabled.
    pub keys: u64,
    /// Sessions ended.
    pub sessions: u64,
}
