//! Status words (SW1 SW2, ISO/IEC 7816-4 §5.6): the two bytes that end every response APDU.

use std::fmt;

/// A status word: SW1 in the high byte, SW2 in the low byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: normal processing.
    pub const OK: Self = Self(0x9000);
    /// `6282`: end of file reached before reading Ne bytes (warning, data returned).
    pub const END_OF_FILE: Self = Self(0x6282);
    /// `6700`: wrong length (Lc or Le, or a malformed command).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `6982`: security status not satisfied (PIN not verified).
    pub const SECURITY_NOT_SATISFIED: Self = Self(0x6982);
    /// `6983`: authentication method blocked (retry counter at 0).
    pub const AUTH_BLOCKED: Self = Self(0x6983);
    /// `6985`: conditions of use not satisfied (e.g. no application selected).
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// `6986`: command not allowed (no current EF).
    pub const NO_CURRENT_EF: Self = Self(0x6986);
    /// `6A80`: incorrect parameters in the command data field.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// `6A82`: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// `6A86`: incorrect parameters P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// `6A88`: referenced data (e.g. the PIN reference in P2) not found.
    pub const REFERENCE_NOT_FOUND: Self = Self(0x6A88);
    /// `6B00`: wrong parameters P1-P2 (offset outside the file).
    pub const WRONG_P1P2: Self = Self(0x6B00);
    /// `6D00`: instruction code not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// `6F00`: no precise diagnosis.
    pub const UNKNOWN_ERROR: Self = Self(0x6F00);

    /// `63Cx`: verification failed, `x` tries left (`retries` is capped at 15).
    pub fn verify_failed(retries: u8) -> Self {
        Self(0x63C0 | u16::from(retries.min(15)))
    }

    /// The tries left if this is a `63Cx` word.
    pub fn retries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x000F) as u8)
    }

    /// SW1.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// `9000`, or `61xx` (more bytes available): the command succeeded.
    pub fn is_success(self) -> bool {
        self == Self::OK || self.sw1() == 0x61
    }

    /// The two bytes as sent on the wire.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_bytes() {
        assert_eq!(StatusWord::verify_failed(2), StatusWord(0x63C2));
        assert_eq!(StatusWord::verify_failed(20), StatusWord(0x63CF));
        assert_eq!(StatusWord(0x63C1).retries_left(), Some(1));
        assert_eq!(StatusWord::OK.retries_left(), None);
        assert_eq!(StatusWord(0x6A82).to_bytes(), [0x6A, 0x82]);
        assert!(StatusWord(0x6110).is_success());
        assert!(!StatusWord::WRONG_LENGTH.is_success());
        assert_eq!(StatusWord(0x6a82).to_string(), "6A82");
    }
}
