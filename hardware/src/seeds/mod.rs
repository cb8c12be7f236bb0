//! Token seed files: the vendor's file for a batch of hardware OTP keys, imported all or nothing.
//!
//! Two formats, both sans-IO (bytes in, validated tokens out; no file, clock or network):
//! - [`import_pskc`]: PSKC (RFC 6030) XML, plain or encrypted (pre-shared AES key or a password
//!   through PBKDF2, with a MAC on every encrypted value). What is accepted is listed in the
//!   module doc of [`pskc`].
//! - [`import_csv`]: the simple vendor CSV `serial, seed hex, type, digits, period/counter`
//!   (see [`csv`]).
//! - [`import`] picks one of the two from the first byte (`<` means PSKC).
//!
//! # All or nothing
//! An import either returns every token of the file, or an [`ImportError`] and no token.
//! Problems in entries are collected, not stopped at: [`ImportError::Faults`] lists every
//! faulty entry at once (its location, serial when known, field and reason), so the helpdesk
//! can send the whole list back to the vendor. Two entries with the same serial (compared
//! trimmed and ASCII case-insensitively) are a fault naming both locations. Problems with the
//! file as a whole (not XML, wrong key or password, unsupported encryption) are their own
//! [`ImportError`] variants.
//!
//! # Error codes (stable)
//! File-wide ([`ImportError::code`]): `seed_file_faulty` (see the faults), `seed_file_wrong_key`,
//! `seed_file_malformed`, `seed_file_unsupported`, `seed_file_key_required`,
//! `seed_file_not_encrypted`, `seed_file_key_length`, `seed_file_unauthenticated`,
//! `seed_file_empty`, `seed_file_too_large`. Per fault ([`FaultKind::code`]):
//! `seed_field_missing`, `seed_field_invalid`, `seed_field_unsupported`,
//! `seed_unknown_algorithm`, `seed_duplicate_serial`, `seed_mac_mismatch`, `seed_undecryptable`.
//!
//! # Secrets
//! Seeds are held in [`OtpSecret`] (wiped on drop, redacted in `Debug`); decrypted buffers are
//! wiped too. No error, fault or `Debug` output contains seed material, keys or passwords.

pub mod csv;
pub mod pskc;
mod pskc_crypto;
mod xml;

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroize;

use crate::{Algorithm, Digits, OtpSecret, TotpParams};

pub use csv::import_csv;
pub use pskc::import_pskc;

/// Largest seed file accepted, in bytes (about 20 000 PSKC key packages).
pub const MAX_FILE_LEN: usize = 32 * 1024 * 1024;

/// Longest serial accepted, in characters.
pub const MAX_SERIAL_LEN: usize = 64;

/// The TOTP periods hardware keys use, in seconds.
pub const TOTP_PERIODS: [u64; 2] = [30, 60];

/// One hardware OTP key from a seed file, validated.
///
/// `Debug` shows everything but the secret (see [`OtpSecret`]).
#[derive(Debug)]
pub struct TokenSeed {
    /// The serial printed on the key, trimmed, 1 to [`MAX_SERIAL_LEN`] characters.
    pub serial: String,
    /// Time-based or counter-based, with its moving-factor parameter.
    pub kind: TokenKind,
    /// The HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits on the key's display.
    pub digits: Digits,
    /// The seed.
    pub secret: OtpSecret,
    /// Manufacturer named in the file, if any.
    pub manufacturer: Option<String>,
    /// Model named in the file, if any.
    pub model: Option<String>,
}

impl TokenSeed {
    /// Whether this key has `serial` (trimmed, ASCII case-insensitive: how duplicates are
    /// detected too).
    pub fn has_serial(&self, serial: &str) -> bool {
        self.serial.eq_ignore_ascii_case(serial.trim())
    }

    /// The TOTP parameters, for a time-based key.
    pub fn totp_params(&self) -> Option<TotpParams> {
        match self.kind {
            TokenKind::Totp { period } => TotpParams::new(self.algorithm, self.digits, period).ok(),
            TokenKind::Hotp { .. } => None,
        }
    }
}

/// How a key moves from one code to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// TOTP (RFC 6238) with T0 = 0.
    Totp {
        /// The time step in seconds: one of [`TOTP_PERIODS`].
        period: u64,
    },
    /// HOTP (RFC 4226): the code changes on each button press.
    Hotp {
        /// The counter of the next code the key will display.
        counter: u64,
    },
}

/// The key or password protecting the secrets of an encrypted PSKC file.
///
/// Wiped from memory on drop; `Debug` never shows it.
pub enum Decryption {
    /// The file is not encrypted. Giving a key for a plain file is refused
    /// ([`ImportError::NotEncrypted`]), so a substituted plain file cannot slip through.
    None,
    /// The AES key shared with the vendor out of band (16, 24 or 32 bytes).
    PreSharedKey(Vec<u8>),
    /// The password the PBKDF2 key is derived from.
    Password(String),
}

impl Drop for Decryption {
    fn drop(&mut self) {
        match self {
            Self::None => {}
            Self::PreSharedKey(key) => key.zeroize(),
            Self::Password(password) => password.zeroize(),
        }
    }
}

impl fmt::Debug for Decryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("Decryption::None"),
            Self::PreSharedKey(key) => {
                write!(
                    f,
                    "Decryption::PreSharedKey(<redacted, {} bytes>)",
                    key.len()
                )
            }
            Self::Password(_) => f.write_str("Decryption::Password(<redacted>)"),
        }
    }
}

/// What kind of key an encrypted file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An AES key shared with the vendor (`EncryptionKey/ds:KeyName`).
    PreSharedKey,
    /// A password (`EncryptionKey/xenc11:DerivedKey` with PBKDF2).
    Password,
}

/// The two seed-file formats, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// PSKC, RFC 6030.
    Pskc,
    /// The vendor CSV.
    Csv,
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pskc => "PSKC (RFC 6030) document",
            Self::Csv => "CSV seed file",
        })
    }
}

/// Why a seed file was not imported. Nothing is imported in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Some entries are faulty: every fault of every entry, in file order.
    #[error("the seed file has {}; nothing was imported", count(.0.len(), "fault"))]
    Faults(Vec<Fault>),
    /// The key or password is wrong: the MAC key does not decrypt, or no value MAC in the
    /// file verifies. (When only some MACs fail, those entries are [`FaultKind::MacMismatch`].)
    #[error("wrong key or password: the seed file's MACs do not verify with it")]
    Decrypt,
    /// Not a file of that format: not UTF-8, not XML, truncated, wrong root element, …
    #[error("not a valid {format}: {reason}")]
    Format {
        /// The format that was expected.
        format: FileFormat,
        /// What is wrong, in a sentence fragment.
        reason: String,
    },
    /// A file-wide feature this importer does not implement (asymmetric encryption, an
    /// unknown MAC or key-derivation algorithm, …).
    #[error("the seed file uses {what}, which is not supported")]
    Unsupported {
        /// The feature, named as in the file.
        what: String,
    },
    /// The file is encrypted and no key of the right kind was given.
    #[error("the seed file is encrypted with {}: give {}", key_kind_name(*.needed), key_kind_ask(*.needed))]
    KeyRequired {
        /// What the file needs.
        needed: KeyKind,
    },
    /// A key or password was given but the file holds no encrypted secret.
    #[error("a key or password was given but the seed file holds no encrypted secret")]
    NotEncrypted,
    /// The pre-shared key does not have the length the file's cipher needs.
    #[error("the pre-shared key is {len} bytes long; the file's cipher needs {expected}")]
    KeyLength {
        /// Length of the key given.
        len: usize,
        /// Length the cipher needs.
        expected: usize,
    },
    /// The file encrypts secrets but carries no MAC to authenticate them.
    #[error("the seed file encrypts secrets without a MAC (no MACMethod); this is refused")]
    Unauthenticated,
    /// The file is well-formed but holds no token.
    #[error("the seed file holds no token")]
    NoTokens,
    /// The file is larger than [`MAX_FILE_LEN`].
    #[error("the seed file is {len} bytes long; at most {max} are accepted")]
    TooLarge {
        /// Length of the file.
        len: usize,
        /// The maximum, [`MAX_FILE_LEN`].
        max: usize,
    },
}

impl ImportError {
    /// Stable snake_case code for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Faults(_) => "seed_file_faulty",
            Self::Decrypt => "seed_file_wrong_key",
            Self::Format { .. } => "seed_file_malformed",
            Self::Unsupported { .. } => "seed_file_unsupported",
            Self::KeyRequired { .. } => "seed_file_key_required",
            Self::NotEncrypted => "seed_file_not_encrypted",
            Self::KeyLength { .. } => "seed_file_key_length",
            Self::Unauthenticated => "seed_file_unauthenticated",
            Self::NoTokens => "seed_file_empty",
            Self::TooLarge { .. } => "seed_file_too_large",
        }
    }

    pub(crate) fn format(format: FileFormat, reason: impl Into<String>) -> Self {
        Self::Format {
            format,
            reason: reason.into(),
        }
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn key_kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::PreSharedKey => "a pre-shared key",
        KeyKind::Password => "a key derived from a password",
    }
}

fn key_kind_ask(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::PreSharedKey => "that key",
        KeyKind::Password => "the password",
    }
}

/// One problem in one entry of a seed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Where: `"KeyPackage 3"` (PSKC, 1-based) or `"line 7"` (CSV, 1-based).
    pub location: String,
    /// The entry's serial, when it could be read.
    pub serial: Option<String>,
    /// The field, named as in the file: `"DeviceInfo/SerialNo"`, `"Key@Algorithm"`, `"seed"`, …
    pub field: String,
    /// What is wrong, in a sentence. Never contains seed material.
    pub reason: String,
    /// The kind of problem, for a stable code.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location)?;
        if let Some(serial) = &self.serial {
            write!(f, " (serial {serial})")?;
        }
        write!(f, ": {}: {}", self.field, self.reason)
    }
}

/// The kinds of [`Fault`], by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A required field is absent or empty.
    Missing,
    /// A field is present but its value is not acceptable.
    Invalid,
    /// A field uses a feature this importer does not implement.
    Unsupported,
    /// The OTP algorithm (PSKC `Key@Algorithm`, CSV type) is unknown.
    UnknownAlgorithm,
    /// Another entry of the file has the same serial.
    DuplicateSerial,
    /// The value MAC does not match: the entry was altered or corrupted.
    MacMismatch,
    /// The value's MAC matched but it does not decrypt (bad padding or length).
    Undecryptable,
}

impl FaultKind {
    /// Stable snake_case code for API responses and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "seed_field_missing",
            Self::Invalid => "seed_field_invalid",
            Self::Unsupported => "seed_field_unsupported",
            Self::UnknownAlgorithm => "seed_unknown_algorithm",
            Self::DuplicateSerial => "seed_duplicate_serial",
            Self::MacMismatch => "seed_mac_mismatch",
            Self::Undecryptable => "seed_undecryptable",
        }
    }
}

/// Imports either format, chosen by the first significant byte: `<` is PSKC, anything else CSV
/// (which takes no key: giving one is [`ImportError::NotEncrypted`]).
pub fn import(bytes: &[u8], dec: &Decryption) -> Result<Vec<TokenSeed>, ImportError> {
    let first = strip_bom(bytes)
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    if first == Some(b'<') {
        return import_pskc(bytes, dec);
    }
    if !matches!(dec, Decryption::None) {
        return Err(ImportError::NotEncrypted);
    }
    import_csv(bytes)
}

/// The input without a UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// Checks the size, strips a BOM and decodes UTF-8.
pub(crate) fn decode_text(bytes: &[u8], format: FileFormat) -> Result<&str, ImportError> {
    if bytes.len() > MAX_FILE_LEN {
        return Err(ImportError::TooLarge {
            len: bytes.len(),
            max: MAX_FILE_LEN,
        });
    }
    std::str::from_utf8(strip_bom(bytes)).map_err(|e| {
        ImportError::format(
            format,
            format!(
                "the file is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Collects the faults of one entry.
pub(crate) struct Entry {
    pub(crate) location: String,
    pub(crate) serial: Option<String>,
    pub(crate) faults: Vec<Fault>,
}

impl Entry {
    pub(crate) fn new(location: String) -> Self {
        Self {
            location,
            serial: None,
            faults: Vec::new(),
        }
    }

    pub(crate) fn fault(&mut self, kind: FaultKind, field: &str, reason: impl Into<String>) {
        self.faults.push(Fault {
            location: self.location.clone(),
            serial: self.serial.clone(),
            field: field.to_owned(),
            reason: reason.into(),
            kind,
        });
    }

    /// Validates a serial; records a fault and returns `None` when it is unusable.
    pub(crate) fn serial(&mut self, field: &str, raw: Option<&str>) -> Option<String> {
        let serial = raw.map(str::trim).unwrap_or_default();
        if serial.is_empty() {
            self.fault(FaultKind::Missing, field, "the serial is missing");
            return None;
        }
        if serial.chars().count() > MAX_SERIAL_LEN {
            self.fault(
                FaultKind::Invalid,
                field,
                format!("the serial is longer than {MAX_SERIAL_LEN} characters"),
            );
            return None;
        }
        if serial.chars().any(char::is_control) {
            self.fault(
                FaultKind::Invalid,
                field,
                "the serial contains control characters",
            );
            return None;
        }
        self.serial = Some(serial.to_owned());
        Some(serial.to_owned())
    }

    /// Wraps seed bytes; records a fault (without the bytes) when their length is unusable.
    pub(crate) fn secret(&mut self, field: &str, bytes: Vec<u8>) -> Option<OtpSecret> {
        OtpSecret::from_bytes(bytes)
            .map_err(|e| self.fault(FaultKind::Invalid, field, e.to_string()))
            .ok()
    }

    /// Validates a TOTP period.
    pub(crate) fn period(&mut self, field: &str, period: u64) -> Option<TokenKind> {
        if TOTP_PERIODS.contains(&period) {
            Some(TokenKind::Totp { period })
        } else {
            self.fault(
                FaultKind::Unsupported,
                field,
                format!("a TOTP period of {period} s is not supported (30 or 60)"),
            );
            None
        }
    }

    /// Validates a number of digits.
    pub(crate) fn digits(&mut self, field: &str, digits: u64) -> Option<Digits> {
        u8::try_from(digits)
            .ok()
            .and_then(|d| Digits::new(d).ok())
            .or_else(|| {
                self.fault(
                    FaultKind::Unsupported,
                    field,
                    format!("{digits} digits are not supported (6 or 8)"),
                );
                None
            })
    }
}

/// Appends a fault for every entry whose serial was already used by an earlier entry.
pub(crate) fn duplicate_faults(entries: &[(String, String)], field: &str, faults: &mut Vec<Fault>) {
    let mut first_seen: HashMap<String, &str> = HashMap::new();
    for (location, serial) in entries {
        let key = serial.to_ascii_lowercase();
        match first_seen.get(&key) {
            Some(first) => faults.push(Fault {
                location: location.clone(),
                serial: Some(serial.clone()),
                field: field.to_owned(),
                reason: format!("the serial {serial} is also used by {first}"),
                kind: FaultKind::DuplicateSerial,
            }),
            None => {
                first_seen.insert(key, location);
            }
        }
    }
}

/// Sorts faults into file order (faults of one entry stay together) and keeps them stable.
pub(crate) fn order_faults(faults: &mut [Fault]) {
    faults.sort_by_key(|f| {
        f.location
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
}

#[cfg(test)]
mod tests;
