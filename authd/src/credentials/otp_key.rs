//! Hardware OTP keys: sealing their seeds, splitting a passcode into PIN and code, checking a
//! code against a key (TOTP with its drift, or HOTP with a look-ahead window), and resync.
//!
//! Nothing here writes: the flow stores what [`check_code`] returns with the store's
//! conditional write (`complete_key_login`), so a code is accepted at most once.

use crate::Error;
use crate::model::{KeyConsume, KeyKind, OtpKey};
use crate::secrets::MasterKey;
use sesame_hardware::OtpSecret;
use sesame_hardware::otp;

/// Sealing context of a key's seed.
pub fn seal_context(serial: &str) -> String {
    format!("otpkey|serial:{serial}")
}

/// Open a key's seed.
pub fn open_secret(key: &MasterKey, k: &OtpKey) -> Result<OtpSecret, Error> {
    let bytes = key
        .open(&seal_context(&k.serial), &k.sealed_secret)
        .map_err(|e| Error::Internal(format!("key {}: {e}", k.serial)))?;
    OtpSecret::from_bytes(bytes.to_vec())
        .map_err(|e| Error::Internal(format!("key {}: {e}", k.serial)))
}

/// Split `passcode` into `(pin, code)`: the code is the last `digits` characters.
pub fn split(passcode: &str, digits: usize) -> Option<(&str, &str)> {
    let n = passcode.len();
    if n < digits || !passcode.is_char_boundary(n - digits) {
        return None;
    }
    Some(passcode.split_at(n - digits))
}

/// How far the checks reach.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// TOTP steps either side of now (after drift).
    pub totp_skew: u64,
    /// HOTP counters ahead of the expected one.
    pub hotp_look_ahead: u64,
}

/// Whether `code` is the key's current code; returns what accepting it consumes.
pub fn check_code(
    secret: &OtpSecret,
    k: &OtpKey,
    code: &str,
    now: i64,
    w: Windows,
) -> Option<KeyConsume> {
    let now = u64::try_from(now).unwrap_or(0);
    match k.kind {
        KeyKind::Totp { .. } => {
            let params = k.totp_params()?;
            otp::verify_totp(
                secret.as_bytes(),
                &params,
                code,
                now,
                w.totp_skew,
                k.last_step,
                k.drift,
            )
            .map(KeyConsume::Step)
        }
        KeyKind::Hotp => otp::verify_hotp(
            secret.as_bytes(),
            k.algorithm,
            k.digits,
            code,
            k.counter,
            w.hotp_look_ahead,
        )
        .map(|c| KeyConsume::Counter(c.saturating_add(1))),
    }
}

/// Whether `code` is a valid code of the key that was already used (for the audit trail: a
/// replayed code is worth recording as such).
pub fn is_replay(secret: &OtpSecret, k: &OtpKey, code: &str, now: i64, w: Windows) -> bool {
    match k.kind {
        KeyKind::Totp { .. } => {
            let fresh = OtpKey {
                last_step: None,
                ..k.clone()
            };
            matches!(check_code(secret, &fresh, code, now, w), Some(KeyConsume::Step(s)) if Some(s) <= k.last_step)
        }
        KeyKind::Hotp => {
            let from = k.counter.saturating_sub(w.hotp_look_ahead);
            otp::verify_hotp(
                secret.as_bytes(),
                k.algorithm,
                k.digits,
                code,
                from,
                k.counter - from,
            )
            .is_some_and(|c| c < k.counter)
        }
    }
}

/// Resynchronise from two consecutive codes read off the key: what to consume and the drift.
pub fn resync(
    secret: &OtpSecret,
    k: &OtpKey,
    code1: &str,
    code2: &str,
    now: i64,
    hotp_window: u64,
    totp_window_secs: u64,
) -> Option<(KeyConsume, i64)> {
    let now = u64::try_from(now).unwrap_or(0);
    match k.kind {
        KeyKind::Totp { period } => {
            let params = k.totp_params()?;
            let window = totp_window_secs / period.max(1);
            otp::resync_totp(secret.as_bytes(), &params, code1, code2, now, window)
                .map(|(step, drift)| (KeyConsume::Step(step), drift))
        }
        KeyKind::Hotp => otp::resync_hotp(
            secret.as_bytes(),
            k.algorithm,
            k.digits,
            code1,
            code2,
            k.counter,
            hotp_window,
        )
        .map(|c| (KeyConsume::Counter(c.saturating_add(1)), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcode_split() {
        assert_eq!(split("1357123456", 6), Some(("1357", "123456")));
        assert_eq!(split("123456", 6), Some(("", "123456")));
        assert_eq!(split("12345", 6), None);
        assert_eq!(split("é123456", 6), Some(("é", "123456")));
        assert_eq!(split("1é23456", 6), None, "not on a character boundary");
    }
}
