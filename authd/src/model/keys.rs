//! Hardware OTP keys and temporary passwords: what they are in the domain.
//!
//! A key's life: `in_stock` (imported) → `assigned` (to one user) → `disabled` (lost, stolen,
//! broken, other — refused at once) or `revoked` (replaced). Its passcode is PIN ‖ the code on
//! the key; without a PIN yet (first use, or after the helpdesk cancelled it) the code alone,
//! after which the user must choose a PIN.

use super::UserId;
use crate::clock::UnixTime;
use sesame_hardware::otp::{Algorithm, Digits, TotpParams};

/// TOTP (time steps) or HOTP (button presses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Time-based, with this step in seconds (30 or 60).
    Totp {
        /// Step length in seconds.
        period: u64,
    },
    /// Counter-based.
    Hotp,
}

impl KeyKind {
    /// Stable stored/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Totp { .. } => "totp",
            KeyKind::Hotp => "hotp",
        }
    }
}

/// Why a key was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// The user lost it.
    Lost,
    /// It was stolen.
    Stolen,
    /// It no longer works.
    Broken,
    /// Anything else (see the note).
    Other,
}

impl DisableReason {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Lost => "lost",
            DisableReason::Stolen => "stolen",
            DisableReason::Broken => "broken",
            DisableReason::Other => "other",
        }
    }
    /// Parse a name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Lost, Self::Stolen, Self::Broken, Self::Other]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Imported, not given to anyone.
    InStock,
    /// Given to its owner; usable.
    Assigned,
    /// Refused from the instant it was disabled.
    Disabled(DisableReason),
    /// Replaced by another key; refused.
    Revoked,
}

impl KeyState {
    /// Stable name of the state (without the reason).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::InStock => "in_stock",
            KeyState::Assigned => "assigned",
            KeyState::Disabled(_) => "disabled",
            KeyState::Revoked => "revoked",
        }
    }
}

/// A hardware OTP key.
#[derive(Clone)]
pub struct OtpKey {
    /// Primary key.
    pub id: i64,
    /// Serial number printed on the key.
    pub serial: String,
    /// TOTP or HOTP.
    pub kind: KeyKind,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Seed sealed with the master key (context `otpkey|serial:<serial>`).
    pub sealed_secret: Vec<u8>,
    /// Life-cycle state.
    pub state: KeyState,
    /// Helpdesk's note when disabled.
    pub disabled_note: Option<String>,
    /// Owner, when assigned (kept after disabling, for the record).
    pub owner: Option<UserId>,
    /// Owner's username, for display.
    pub owner_name: Option<String>,
    /// argon2id hash of the PIN; `None` = first use pending.
    pub pin_hash: Option<String>,
    /// Consecutive failures; at `keys.max_failures` the key is locked.
    pub fail_count: u32,
    /// HOTP: next expected counter.
    pub counter: u64,
    /// TOTP: last accepted step.
    pub last_step: Option<u64>,
    /// TOTP: the key's clock offset in steps, learnt at resync.
    pub drift: i64,
    /// Import time.
    pub created_at: UnixTime,
    /// When assigned.
    pub assigned_at: Option<UnixTime>,
    /// When disabled or revoked.
    pub disabled_at: Option<UnixTime>,
    /// When last accepted.
    pub last_used_at: Option<UnixTime>,
    /// Vendor, from the seed file.
    pub manufacturer: Option<String>,
    /// Model, from the seed file.
    pub model: Option<String>,
}

impl std::fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpKey")
            .field("serial", &self.serial)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("owner", &self.owner)
            .field("has_pin", &self.pin_hash.is_some())
            .field("fail_count", &self.fail_count)
            .finish_non_exhaustive()
    }
}

impl OtpKey {
    /// Whether too many failures locked the key.
    pub fn locked(&self, max_failures: u32) -> bool {
        self.fail_count >= max_failures
    }
    /// TOTP parameters, for a TOTP key.
    pub fn totp_params(&self) -> Option<TotpParams> {
        match self.kind {
            KeyKind::Totp { period } => TotpParams::new(self.algorithm, self.digits, period).ok(),
            KeyKind::Hotp => None,
        }
    }
}

/// A key as imported.
#[derive(Clone)]
pub struct NewKey {
    /// Serial number.
    pub serial: String,
    /// TOTP or HOTP.
    pub kind: KeyKind,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Sealed seed.
    pub sealed_secret: Vec<u8>,
    /// HOTP: initial counter.
    pub counter: u64,
    /// Vendor.
    pub manufacturer: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Import time.
    pub created_at: UnixTime,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// What accepting a code moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyConsume {
    /// TOTP: the step accepted (later ones only from now on).
    Step(u64),
    /// HOTP: the next counter expected (the accepted counter + 1).
    Counter(u64),
}

/// Filter for listing keys.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Only keys in this state (`in_stock`, `assigned`, `disabled`, `revoked`).
    pub state: Option<String>,
    /// Only keys of this owner.
    pub owner: Option<UserId>,
    /// Only this serial.
    pub serial: Option<String>,
    /// Only serials after this one (keyset paging: the last serial of the previous page).
    pub after: Option<String>,
    /// At most this many keys (`None`: the store's cap of 10 000).
    pub limit: Option<u32>,
}

/// A helpdesk-issued temporary password.
#[derive(Clone)]
pub struct TempPassword {
    /// Primary key.
    pub id: i64,
    /// Whose.
    pub user_id: UserId,
    /// argon2id hash.
    pub hash: String,
    /// Issue time.
    pub created_at: UnixTime,
    /// End of validity.
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for TempPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempPassword")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
