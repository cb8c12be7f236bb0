//! OTP shared secrets (seeds): a byte buffer wiped on drop, its base32 form, and length rules.
//!
//! This crate has no random number generator: callers generate [`RECOMMENDED_SECRET_LEN`]
//! random bytes (160 bits, RFC 4226 section 4) and wrap them with [`OtpSecret::from_bytes`].
//! Parsing accepts down to [`MIN_SECRET_LEN`] (80 bits) because some vendors ship 80-bit seeds,
//! although RFC 4226 requires 128 bits; new secrets should never be that short.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use zeroize::{Zeroize, Zeroizing};

/// Shortest secret accepted: 10 bytes (80 bits), for existing vendor seeds.
pub const MIN_SECRET_LEN: usize = 10;
/// Longest secret accepted: 128 bytes (RFC 6238's SHA-512 seeds are 64).
pub const MAX_SECRET_LEN: usize = 128;
/// Length callers should use when generating a secret: 20 bytes (160 bits).
pub const RECOMMENDED_SECRET_LEN: usize = 20;

/// A secret that cannot be used as an OTP seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret at all (empty, or only spaces, hyphens and padding).
    #[error("the secret is empty")]
    Empty,
    /// Characters outside the base32 alphabet, or a length no base32 string can have.
    #[error("the secret is not valid base32")]
    InvalidBase32,
    /// Fewer bytes than [`MIN_SECRET_LEN`].
    #[error("the secret is {len} bytes long; at least {min} are required")]
    TooShort {
        /// Length of the secret in bytes.
        len: usize,
        /// The minimum, [`MIN_SECRET_LEN`].
        min: usize,
    },
    /// More bytes than [`MAX_SECRET_LEN`].
    #[error("the secret is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Length of the secret in bytes.
        len: usize,
        /// The maximum, [`MAX_SECRET_LEN`].
        max: usize,
    },
}

impl SecretError {
    /// Stable snake_case code for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "secret_empty",
            Self::InvalidBase32 => "secret_invalid_base32",
            Self::TooShort { .. } => "secret_too_short",
            Self::TooLong { .. } => "secret_too_long",
        }
    }
}

/// An OTP seed. Wiped from memory on drop; `Debug` shows only its length.
pub struct OtpSecret(Vec<u8>);

impl OtpSecret {
    /// Takes ownership of raw seed bytes, checking [`MIN_SECRET_LEN`]..=[`MAX_SECRET_LEN`].
    /// Rejected bytes are wiped too.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        let secret = Self(bytes); // from here on, dropping wipes the bytes
        match secret.0.len() {
            0 => Err(SecretError::Empty),
            len if len < MIN_SECRET_LEN => Err(SecretError::TooShort {
                len,
                min: MIN_SECRET_LEN,
            }),
            len if len > MAX_SECRET_LEN => Err(SecretError::TooLong {
                len,
                max: MAX_SECRET_LEN,
            }),
            _ => Ok(secret),
        }
    }

    /// The raw seed, for HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, uppercase, without padding (the `secret=` of `otpauth://` URIs).
    /// The string is as sensitive as the secret: do not log it, and drop it soon.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Parses base32 as people and vendors write it: any case, spaces and hyphens anywhere,
    /// with or without trailing `=` padding. Non-zero trailing bits are refused (the encoding
    /// must be canonical). The length rules of [`OtpSecret::from_bytes`] apply.
    pub fn from_base32(input: &str) -> Result<Self, SecretError> {
        // Sized up front so the copy is never reallocated (which would leave unwiped bytes).
        let mut cleaned = Zeroizing::new(String::with_capacity(input.len()));
        cleaned.extend(
            input
                .chars()
                .filter(|c| !matches!(c, ' ' | '-'))
                .map(|c| c.to_ascii_uppercase()),
        );
        let unpadded_len = cleaned.trim_end_matches('=').len();
        cleaned.truncate(unpadded_len);
        if cleaned.is_empty() {
            return Err(SecretError::Empty);
        }
        // Bound the work before decoding: 8 base32 characters carry 5 bytes.
        if cleaned.len() > MAX_SECRET_LEN.div_ceil(5) * 8 {
            return Err(SecretError::TooLong {
                len: cleaned.len() * 5 / 8,
                max: MAX_SECRET_LEN,
            });
        }
        let bytes = BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| SecretError::InvalidBase32)?;
        Self::from_bytes(bytes)
    }
}

impl Drop for OtpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtpSecret(<redacted, {} bytes>)", self.0.len())
    }
}

/// Groups a base32 string by four characters for typing by hand: `"JBSW Y3DP EHPK 3PXP"`.
pub fn group_for_typing(base32: &str) -> String {
    let mut grouped = String::with_capacity(base32.len() + base32.len() / 4);
    for (i, c) in base32.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";
    const RFC_SEED_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn base32_round_trip() {
        let secret = OtpSecret::from_bytes(RFC_SEED.to_vec()).unwrap();
        assert_eq!(secret.to_base32(), RFC_SEED_BASE32);
        let back = OtpSecret::from_base32(&secret.to_base32()).unwrap();
        assert_eq!(back.as_bytes(), RFC_SEED);
        for len in [10, 11, 12, 13, 14, 16, 20, 32, 64, 128] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let secret = OtpSecret::from_bytes(bytes.clone()).unwrap();
            let back = OtpSecret::from_base32(&secret.to_base32()).unwrap();
            assert_eq!(back.as_bytes(), bytes, "length {len}");
        }
    }

    #[test]
    fn base32_parsing_is_tolerant() {
        for input in [
            "JBSWY3DPEHPK3PXP",
            "jbswy3dpehpk3pxp",
            "JBSW Y3DP EHPK 3PXP",
            "jbsw-y3dp-ehpk-3pxp",
            " JBSWY3DP EHPK3PXP ",
        ] {
            let secret = OtpSecret::from_base32(input).unwrap();
            assert_eq!(secret.as_bytes(), b"Hello!\xde\xad\xbe\xef", "{input:?}");
        }
        // 11 bytes need padding in RFC 4648; accept it present or absent.
        let eleven = OtpSecret::from_bytes(b"Hello world".to_vec()).unwrap();
        let unpadded = eleven.to_base32();
        assert_eq!(unpadded, "JBSWY3DPEB3W64TMMQ");
        let padded = format!("{unpadded}======");
        assert_eq!(
            OtpSecret::from_base32(&padded).unwrap().as_bytes(),
            b"Hello world"
        );
    }

    #[test]
    fn base32_parsing_rejects_bad_input() {
        assert_eq!(OtpSecret::from_base32("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            OtpSecret::from_base32(" - = ").unwrap_err(),
            SecretError::Empty
        );
        let invalid = SecretError::InvalidBase32;
        assert_eq!(
            OtpSecret::from_base32("JBSWY3DPEHPK3PX1").unwrap_err(),
            invalid
        );
        assert_eq!(
            OtpSecret::from_base32("JBSWY3DPEHPK3PXPA").unwrap_err(),
            invalid,
            "length"
        );
        assert_eq!(
            OtpSecret::from_base32("JBSWY3DPEB3W64TMMR").unwrap_err(),
            invalid,
            "trailing bits"
        );
        assert_eq!(
            OtpSecret::from_base32("JBSW=Y3DPEHPK3PXP").unwrap_err(),
            invalid
        );
        assert_eq!(
            OtpSecret::from_base32("JBSWY3DPEHPK3PXPé").unwrap_err(),
            invalid
        );
        assert_eq!(
            OtpSecret::from_base32(&BASE32_NOPAD.encode(b"12345678")).unwrap_err(),
            SecretError::TooShort { len: 8, min: 10 }
        );
        let huge = "A".repeat(1 << 20);
        assert!(matches!(
            OtpSecret::from_base32(&huge).unwrap_err(),
            SecretError::TooLong { max: 128, .. }
        ));
        let long = OtpSecret::from_bytes(vec![1; 129]).unwrap_err();
        assert_eq!(long, SecretError::TooLong { len: 129, max: 128 });
    }

    #[test]
    fn from_bytes_checks_length() {
        assert_eq!(
            OtpSecret::from_bytes(Vec::new()).unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            OtpSecret::from_bytes(vec![1; 9]).unwrap_err(),
            SecretError::TooShort { len: 9, min: 10 }
        );
        assert_eq!(
            OtpSecret::from_bytes(vec![1; 10]).unwrap().as_bytes().len(),
            10
        );
        assert_eq!(
            OtpSecret::from_bytes(vec![1; 128])
                .unwrap()
                .as_bytes()
                .len(),
            128
        );
    }

    #[test]
    fn debug_does_not_reveal_the_secret() {
        let secret = OtpSecret::from_bytes(RFC_SEED.to_vec()).unwrap();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "OtpSecret(<redacted, 20 bytes>)");
        assert!(!debug.contains("1234"));
        assert!(!debug.contains(RFC_SEED_BASE32));
        assert!(!debug.contains("49, 50")); // the bytes as a Vec<u8> would print them
    }

    #[test]
    fn grouping_for_typing() {
        assert_eq!(group_for_typing("JBSWY3DPEHPK3PXP"), "JBSW Y3DP EHPK 3PXP");
        assert_eq!(
            group_for_typing("JBSWY3DPEB3W64TMMQ"),
            "JBSW Y3DP EB3W 64TM MQ"
        );
        assert_eq!(group_for_typing("ABC"), "ABC");
        assert_eq!(group_for_typing(""), "");
        let grouped = group_for_typing(RFC_SEED_BASE32);
        assert_eq!(
            OtpSecret::from_base32(&grouped).unwrap().as_bytes(),
            RFC_SEED
        );
    }

    #[test]
    fn error_display_and_codes_are_stable() {
        let cases = [
            (SecretError::Empty, "secret_empty", "the secret is empty"),
            (
                SecretError::InvalidBase32,
                "secret_invalid_base32",
                "the secret is not valid base32",
            ),
            (
                SecretError::TooShort { len: 8, min: 10 },
                "secret_too_short",
                "the secret is 8 bytes long; at least 10 are required",
            ),
            (
                SecretError::TooLong { len: 200, max: 128 },
                "secret_too_long",
                "the secret is 200 bytes long; at most 128 are allowed",
            ),
        ];
        for (err, code, display) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.to_string(), display);
        }
    }
}
