//! OTP parameters: hash algorithm, number of digits, TOTP period.
//!
//! Every value here is validated when it is built, so the code functions in
//! [`crate::otp`] cannot fail: a 7-digit code or a zero period cannot exist.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

/// An OTP parameter that this engine does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpParamError {
    /// The algorithm name is not one of SHA1, SHA256, SHA512.
    #[error("unknown OTP algorithm {name:?} (expected SHA1, SHA256 or SHA512)")]
    UnknownAlgorithm {
        /// The name as given (at most its first 32 characters).
        name: String,
    },
    /// The number of digits is not 6 or 8.
    #[error("unsupported number of OTP digits {digits} (expected 6 or 8)")]
    UnsupportedDigits {
        /// The number as given.
        digits: u8,
    },
    /// A TOTP period of zero seconds.
    #[error("the TOTP period must be at least one second")]
    ZeroPeriod,
}

impl OtpParamError {
    /// Stable snake_case code for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownAlgorithm { .. } => "unknown_otp_algorithm",
            Self::UnsupportedDigits { .. } => "unsupported_otp_digits",
            Self::ZeroPeriod => "zero_otp_period",
        }
    }
}

/// The HMAC hash function (RFC 4226 uses SHA-1; RFC 6238 adds SHA-256 and SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1: what every authenticator app and most keys support.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs and by oathtool: `SHA1`, `SHA256`, `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = OtpParamError;

    /// Case-insensitive; accepts `SHA1` and `SHA-1` spellings (same for 256, 512).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "SHA1" | "SHA-1" => Ok(Self::Sha1),
            "SHA256" | "SHA-256" => Ok(Self::Sha256),
            "SHA512" | "SHA-512" => Ok(Self::Sha512),
            _ => Err(OtpParamError::UnknownAlgorithm {
                name: s.chars().take(32).collect(),
            }),
        }
    }
}

/// Number of decimal digits in a code: 6 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, the usual choice.
    pub const SIX: Self = Self(6);
    /// Eight digits (RFC 6238 test vectors, some hardware keys).
    pub const EIGHT: Self = Self(8);

    /// Accepts 6 or 8.
    pub fn new(digits: u8) -> Result<Self, OtpParamError> {
        match digits {
            6 => Ok(Self::SIX),
            8 => Ok(Self::EIGHT),
            _ => Err(OtpParamError::UnsupportedDigits { digits }),
        }
    }

    /// The number of digits.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The code length in characters.
    pub(crate) fn len(self) -> usize {
        usize::from(self.0)
    }

    /// `10^digits`, the modulus of RFC 4226 section 5.3.
    pub(crate) fn modulus(self) -> u32 {
        10u32.pow(u32::from(self.0))
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

impl TryFrom<u8> for Digits {
    type Error = OtpParamError;

    fn try_from(digits: u8) -> Result<Self, Self::Error> {
        Self::new(digits)
    }
}

/// The period authenticator apps assume: 30 seconds.
const DEFAULT_PERIOD: NonZeroU64 = NonZeroU64::new(30).expect("30 is not zero");

/// TOTP parameters (RFC 6238) with T0 = 0: algorithm, digits and period in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TotpParams {
    algorithm: Algorithm,
    digits: Digits,
    period: NonZeroU64,
}

impl TotpParams {
    /// Builds parameters; the period is in seconds and must not be zero.
    pub fn new(algorithm: Algorithm, digits: Digits, period: u64) -> Result<Self, OtpParamError> {
        let period = NonZeroU64::new(period).ok_or(OtpParamError::ZeroPeriod)?;
        Ok(Self {
            algorithm,
            digits,
            period,
        })
    }

    /// The HMAC hash function.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The number of digits.
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// The period (time step) in seconds, never zero.
    pub fn period(&self) -> u64 {
        self.period.get()
    }

    /// The time step containing `unix_secs`: `unix_secs / period` (T0 = 0).
    pub fn step_at(&self, unix_secs: u64) -> u64 {
        unix_secs / self.period
    }
}

impl Default for TotpParams {
    /// SHA1, 6 digits, 30 seconds: what every authenticator app supports.
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            digits: Digits::SIX,
            period: DEFAULT_PERIOD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_parse_leniently() {
        for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
        assert_eq!("sha-1".parse(), Ok(Algorithm::Sha1));
        assert_eq!("Sha-256".parse(), Ok(Algorithm::Sha256));
        assert_eq!("sha512".parse(), Ok(Algorithm::Sha512));
        assert_eq!(Algorithm::default(), Algorithm::Sha1);
        assert!("MD5".parse::<Algorithm>().is_err());
        assert!(" SHA1".parse::<Algorithm>().is_err());
    }

    #[test]
    fn digits_accept_only_six_and_eight() {
        assert_eq!(Digits::new(6).map(Digits::get), Ok(6));
        assert_eq!(Digits::try_from(8), Ok(Digits::EIGHT));
        for bad in [0, 5, 7, 9, 10, 255] {
            assert_eq!(
                Digits::new(bad),
                Err(OtpParamError::UnsupportedDigits { digits: bad })
            );
        }
        assert_eq!(Digits::EIGHT.modulus(), 100_000_000);
    }

    #[test]
    fn totp_params_default_and_step() {
        let p = TotpParams::default();
        assert_eq!(
            (p.algorithm(), p.digits(), p.period()),
            (Algorithm::Sha1, Digits::SIX, 30)
        );
        assert_eq!(p.step_at(0), 0);
        assert_eq!(p.step_at(29), 0);
        assert_eq!(p.step_at(30), 1);
        assert_eq!(p.step_at(59), 1);
        assert_eq!(p.step_at(u64::MAX), u64::MAX / 30);
        let p60 = TotpParams::new(Algorithm::Sha256, Digits::EIGHT, 60).unwrap();
        assert_eq!(p60.step_at(119), 1);
        assert_eq!(
            TotpParams::new(Algorithm::Sha1, Digits::SIX, 0),
            Err(OtpParamError::ZeroPeriod)
        );
    }

    #[test]
    fn error_display_and_codes_are_stable() {
        let cases = [
            (
                OtpParamError::UnknownAlgorithm { name: "MD5".into() },
                "unknown_otp_algorithm",
                "unknown OTP algorithm \"MD5\" (expected SHA1, SHA256 or SHA512)",
            ),
            (
                OtpParamError::UnsupportedDigits { digits: 7 },
                "unsupported_otp_digits",
                "unsupported number of OTP digits 7 (expected 6 or 8)",
            ),
            (
                OtpParamError::ZeroPeriod,
                "zero_otp_period",
                "the TOTP period must be at least one second",
            ),
        ];
        for (err, code, display) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.to_string(), display);
        }
    }

    #[test]
    fn unknown_algorithm_name_is_bounded() {
        let long = "X".repeat(1000);
        let Err(OtpParamError::UnknownAlgorithm { name }) = long.parse::<Algorithm>() else {
            panic!("expected UnknownAlgorithm");
        };
        assert_eq!(name.len(), 32);
    }
}
