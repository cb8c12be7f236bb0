//! A software stand-in for a hardware OTP key, built from its imported seed: what the key
//! would display, for demos and tests (`otpkey` is its command-line face).
//!
//! A TOTP key shows the code of the time it is given; an HOTP key shows its next code and
//! advances its counter, as one press of the button does. Time is an argument.

use crate::seeds::{TokenKind, TokenSeed};
use crate::{hotp, totp_at_step};

/// One emulated key.
#[derive(Debug)]
pub struct KeyEmulator {
    seed: TokenSeed,
    counter: u64,
}

impl KeyEmulator {
    /// A key fresh from the factory: an HOTP key starts at the seed file's counter.
    pub fn from_seed(seed: TokenSeed) -> Self {
        let counter = match seed.kind {
            TokenKind::Hotp { counter } => counter,
            TokenKind::Totp { .. } => 0,
        };
        Self { seed, counter }
    }

    /// The code on the display at `unix` (seconds since the epoch). For an HOTP key this is a
    /// button press: the next code, and the counter moves on (`unix` is not used). At
    /// `u64::MAX` the counter stays put, as a key cannot go further.
    pub fn display_at(&mut self, unix: u64) -> String {
        let seed = &self.seed;
        let code = match seed.totp_params() {
            Some(params) => totp_at_step(seed.secret.as_bytes(), params.step_at(unix), &params),
            None => {
                let code = hotp(
                    seed.secret.as_bytes(),
                    self.counter,
                    seed.algorithm,
                    seed.digits,
                );
                self.counter = self.counter.saturating_add(1);
                code
            }
        };
        code.as_str().to_owned()
    }

    /// The counter of the next HOTP code (0 for a TOTP key).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The seed this key was built from.
    pub fn seed(&self) -> &TokenSeed {
        &self.seed
    }
}

/// The key with `serial` among `tokens` (trimmed, ASCII case-insensitive).
pub fn find<'a>(tokens: &'a [TokenSeed], serial: &str) -> Option<&'a TokenSeed> {
    tokens.iter().find(|t| t.has_serial(serial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds::import_csv;

    const SEED: &str = "3132333435363738393031323334353637383930";

    fn tokens() -> Vec<TokenSeed> {
        let text = format!(
            "T30,{SEED},totp,8,30\nT60,{SEED},totp,6,60\nH,{SEED},hotp,6,0\nH5,{SEED},hotp,6,5\n"
        );
        import_csv(text.as_bytes()).unwrap()
    }

    fn key(serial: &str) -> KeyEmulator {
        let seed = tokens().into_iter().find(|t| t.has_serial(serial)).unwrap();
        KeyEmulator::from_seed(seed)
    }

    #[test]
    fn totp_key_shows_the_code_of_the_time() {
        // RFC 6238 Appendix B, SHA1, 8 digits.
        let mut k = key("T30");
        assert_eq!(k.display_at(59), "94287082");
        assert_eq!(k.display_at(1_111_111_109), "07081804");
        assert_eq!(k.display_at(59), "94287082", "TOTP has no state");
        // A 60 s key: the 6-digit code of step unix/60, i.e. HOTP at that counter.
        let mut k60 = key("t60");
        let step = 1_234_567_890 / 60;
        let want = hotp(SEED_BYTES, step, crate::Algorithm::Sha1, crate::Digits::SIX);
        assert_eq!(k60.display_at(1_234_567_890), want.as_str());
        assert_eq!(k60.display_at(step * 60 + 59), want.as_str());
        assert_eq!(k60.counter(), 0);
    }

    const SEED_BYTES: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_key_advances_on_each_press() {
        // RFC 4226 Appendix D.
        let mut k = key("H");
        for want in ["755224", "287082", "359152"] {
            assert_eq!(k.display_at(0), want);
        }
        assert_eq!(k.counter(), 3);
        let mut k5 = key("h5");
        assert_eq!(k5.display_at(123), "254676");
        assert_eq!(k5.counter(), 6);
        assert_eq!(k5.seed().serial, "H5");
    }

    #[test]
    fn find_by_serial() {
        let all = tokens();
        assert_eq!(find(&all, " t60 ").map(|t| t.serial.as_str()), Some("T60"));
        assert!(find(&all, "T90").is_none());
        assert!(
            !format!("{:?}", key("H")).contains("12345"),
            "Debug hides the seed"
        );
    }
}
