//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), generation and verification.
//!
//! - [`hotp`] and [`totp_at_step`] compute a code; [`OtpCode`] holds it and compares it with
//!   a candidate in constant time.
//! - [`verify_totp`], [`verify_hotp`], [`resync_totp`] and [`resync_hotp`] check what a user
//!   typed. They never read the clock (`now_unix` is an argument) and never store anything: they
//!   return the matched step or counter, and the caller consumes it with one conditional write
//!   (`… WHERE last_step < ?`) before reporting success.
//!
//! Parameters ([`Algorithm`], [`Digits`], [`TotpParams`]) are validated when built, so computing
//! a code cannot fail.

mod params;
mod verify;

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use params::{Algorithm, Digits, OtpParamError, TotpParams};
pub use verify::{resync_hotp, resync_totp, verify_hotp, verify_totp};

/// A computed one-time code: the zero-padded decimal string, wiped from memory on drop.
///
/// There is deliberately no `PartialEq`: compare with [`OtpCode::matches`], which runs in
/// constant time. `Debug` does not show the digits.
pub struct OtpCode(Zeroizing<String>);

impl OtpCode {
    /// The code, e.g. `"005924"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with `candidate` taken as is (no trimming). False when the
    /// lengths differ (the length is not secret).
    pub fn matches(&self, candidate: &str) -> bool {
        self.matches_bytes(candidate.as_bytes())
    }

    pub(crate) fn matches_bytes(&self, candidate: &[u8]) -> bool {
        let ours = self.0.as_bytes();
        ours.len() == candidate.len() && bool::from(ours.ct_eq(candidate))
    }
}

impl fmt::Display for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtpCode(<redacted, {} digits>)", self.0.len())
    }
}

/// HOTP (RFC 4226 section 5.3): HMAC of the big-endian counter, dynamic truncation, modulo
/// `10^digits`, zero-padded.
pub fn hotp(secret: &[u8], counter: u64, algorithm: Algorithm, digits: Digits) -> OtpCode {
    let message = counter.to_be_bytes();
    let binary = match algorithm {
        Algorithm::Sha1 => truncated_hmac::<sha1::Sha1>(secret, &message),
        Algorithm::Sha256 => truncated_hmac::<sha2::Sha256>(secret, &message),
        Algorithm::Sha512 => truncated_hmac::<sha2::Sha512>(secret, &message),
    };
    let value = binary % digits.modulus();
    OtpCode(Zeroizing::new(format!(
        "{value:0width$}",
        width = digits.len()
    )))
}

/// TOTP (RFC 6238) at time step `step` (see [`TotpParams::step_at`]): HOTP with the step as
/// the counter.
pub fn totp_at_step(secret: &[u8], step: u64, params: &TotpParams) -> OtpCode {
    hotp(secret, step, params.algorithm(), params.digits())
}

/// HMAC of `message` under `key`, then RFC 4226 dynamic truncation to a 31-bit integer. The
/// offset is the low nibble of the last byte, for SHA-256/512 too (RFC 6238 reference code).
fn truncated_hmac<D>(key: &[u8], message: &[u8]) -> u32
where
    Hmac<D>: KeyInit + Mac,
    D: hmac::EagerHash,
{
    let mut mac =
        <Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9.
    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in (0u64..).zip(expected) {
            let code = hotp(
                b"12345678901234567890",
                counter,
                Algorithm::Sha1,
                Digits::SIX,
            );
            assert_eq!(code.as_str(), want, "counter {counter}");
        }
    }

    /// RFC 6238 Appendix B: per-algorithm seeds (20, 32, 64 bytes), 8 digits, period 30.
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let seed20 = b"12345678901234567890".as_slice();
        let seed32 = b"12345678901234567890123456789012".as_slice();
        let seed64 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let vectors: [(u64, [&str; 3]); 6] = [
            (59, ["94287082", "46119246", "90693936"]),
            (1111111109, ["07081804", "68084774", "25091201"]),
            (1111111111, ["14050471", "67062674", "99943326"]),
            (1234567890, ["89005924", "91819424", "93441116"]),
            (2000000000, ["69279037", "90698825", "38618901"]),
            (20000000000, ["65353130", "77737706", "47863826"]),
        ];
        let algorithms = [
            (Algorithm::Sha1, seed20),
            (Algorithm::Sha256, seed32),
            (Algorithm::Sha512, seed64),
        ];
        for (time, codes) in vectors {
            for ((algorithm, seed), want) in algorithms.iter().zip(codes) {
                let params = TotpParams::new(*algorithm, Digits::EIGHT, 30).unwrap();
                let code = totp_at_step(seed, params.step_at(time), &params);
                assert_eq!(code.as_str(), want, "{algorithm} at {time}");
            }
        }
    }

    #[test]
    fn codes_are_zero_padded() {
        // RFC 6238 vector at T=1111111109 for SHA1 starts with a zero.
        let params = TotpParams::new(Algorithm::Sha1, Digits::EIGHT, 30).unwrap();
        let code = totp_at_step(b"12345678901234567890", 1111111109 / 30, &params);
        assert_eq!(code.to_string(), "07081804");
    }

    #[test]
    fn matches_is_exact_and_length_checked() {
        let code = hotp(b"12345678901234567890", 0, Algorithm::Sha1, Digits::SIX);
        assert!(code.matches("755224"));
        assert!(!code.matches("755225"));
        assert!(!code.matches("75522"));
        assert!(!code.matches("7552240"));
        assert!(!code.matches(" 755224"));
        assert!(!code.matches(""));
    }

    #[test]
    fn debug_hides_the_digits() {
        let code = hotp(b"12345678901234567890", 0, Algorithm::Sha1, Digits::SIX);
        let debug = format!("{code:?}");
        assert_eq!(debug, "OtpCode(<redacted, 6 digits>)");
    }

    #[test]
    fn empty_and_long_keys_are_accepted_by_hmac() {
        // Key length is validated by `OtpSecret`, not here; HMAC itself takes any length.
        let _ = hotp(b"", 0, Algorithm::Sha256, Digits::SIX);
        let _ = hotp(&[7u8; 300], 0, Algorithm::Sha512, Digits::EIGHT);
    }
}
