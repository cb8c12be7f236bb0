//! A software smart card: deterministic, ISO 7816-4, small enough to read in one sitting.
//! Tests and benchmarks put it into a vpcd reader as "the technician's card"; it is not a
//! model of any real card product.
//!
//! # The card
//! - ATR [`ATR`] (T=1, historical bytes "Sesame"); one application, [`AID`]; one transparent
//!   file, [`FILE_ID`] (short file identifier [`FILE_SFI`]), readable without the PIN.
//! - A PIN (reference `81`) with a retry counter of [`PIN_RETRIES`]: a wrong PIN answers
//!   `63Cx` (x tries left), a right one resets the counter; at zero every PIN operation answers
//!   `6983`. The counter survives power cycles; the "verified" state does not.
//! - A 32-byte key that no command reveals, used by INTERNAL AUTHENTICATE once the PIN is
//!   verified: the answer is HMAC-SHA256(key, challenge) ([`internal_authenticate_answer`]).
//!
//! | command | APDU | answers |
//! |---|---|---|
//! | SELECT application | `00 A4 04 00 Lc AID [Le]` | `9000`, `6A82` |
//! | SELECT file | `00 A4 02 0C 02 01 01` | `9000`, `6A82`, `6985` (no application) |
//! | VERIFY | `00 20 00 81 [Lc PIN]` | `9000`, `63Cx`, `6983`; without data: the state |
//! | CHANGE REFERENCE DATA | `00 24 00 81 Lc old‖new` | `9000`, `63Cx`, `6983`, `6A80` |
//! | INTERNAL AUTHENTICATE | `00 88 00 00 Lc challenge Le` | 32 bytes `9000`, `6982` |
//! | READ BINARY | `00 B0 P1 P2 Le` (offset, or `80|SFI` in P1) | data `9000`/`6282`, `6B00` |
//! | GET CHALLENGE | `00 84 00 00 Le` (Le ≤ 32) | deterministic bytes `9000` |
//!
//! Entry points: [`EmulatedCard::test_card`] (the fixed card the tests use) or
//! [`EmulatedCard::new`], then [`EmulatedCard::process`], or the card as a
//! [`CardBackend`] for [`super::card_end::CardEnd::run`].

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::apdu::{CommandApdu, ResponseApdu};
use super::card_end::{BackendError, CardBackend};
use super::status::StatusWord;

/// The emulator's ATR: `3B 86 80 01` + "Sesame" + TCK (T=1).
pub const ATR: &[u8] = &[
    0x3B, 0x86, 0x80, 0x01, b'S', b'e', b's', b'a', b'm', b'e', 0x2B,
];
/// The application identifier (a proprietary RID, `F0`).
pub const AID: &[u8] = &[0xF0, 0x53, 0x45, 0x53, 0x41, 0x4D, 0x45, 0x01];
/// The file identifier of the readable file.
pub const FILE_ID: u16 = 0x0101;
/// The short file identifier of the readable file.
pub const FILE_SFI: u8 = 1;
/// PIN tries before the PIN is blocked.
pub const PIN_RETRIES: u8 = 3;
/// The PIN of [`EmulatedCard::test_card`].
pub const TEST_PIN: &[u8] = b"123456";
/// The key of [`EmulatedCard::test_card`] (a test value; a real card's key never leaves it).
pub const TEST_KEY: [u8; 32] = *b"sesame-emulator-test-key-32bytes";
/// Length of the answer to INTERNAL AUTHENTICATE.
pub const AUTH_LEN: usize = 32;

const INS_SELECT: u8 = 0xA4;
const INS_VERIFY: u8 = 0x20;
const INS_CHANGE_REFERENCE: u8 = 0x24;
const INS_INTERNAL_AUTHENTICATE: u8 = 0x88;
const INS_READ_BINARY: u8 = 0xB0;
const INS_GET_CHALLENGE: u8 = 0x84;
const PIN_REFERENCE: u8 = 0x81;

/// The answer the card gives to INTERNAL AUTHENTICATE of `challenge`, for checking it.
pub fn internal_authenticate_answer(key: &[u8; 32], challenge: &[u8]) -> [u8; AUTH_LEN] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(challenge);
    mac.finalize().into_bytes().into()
}

/// The content of the test card's file: 300 bytes, so that a short READ BINARY of 256 bytes
/// does not read it all.
pub fn test_file() -> Vec<u8> {
    let mut file = b"Sesame emulated card, file 0101.\n".to_vec();
    file.extend((0..300 - file.len()).map(|i| (i * 7 + 3) as u8));
    file
}

/// The challenge [`test_script`] authenticates.
pub const TEST_CHALLENGE: &[u8] = b"sesame challenge 0001";
/// The wrong PIN [`test_script`] ends with.
pub const WRONG_PIN: &[u8] = b"000000";

/// The script the tests run against the test card, directly and through a relay: SELECT the
/// application, VERIFY the right PIN, INTERNAL AUTHENTICATE [`TEST_CHALLENGE`], SELECT the
/// file, READ BINARY (short Le, then the rest with an extended Le), GET CHALLENGE, VERIFY a
/// wrong PIN (the retry counter goes down), VERIFY without data (reads the counter).
pub fn test_script() -> Vec<CommandApdu> {
    let c = |ins, p1, p2, data: &[u8], ne| {
        CommandApdu::new(0x00, ins, p1, p2, data.to_vec(), ne).expect("valid test APDU")
    };
    vec![
        c(INS_SELECT, 0x04, 0x00, AID, None),
        c(INS_VERIFY, 0x00, PIN_REFERENCE, TEST_PIN, None),
        c(INS_INTERNAL_AUTHENTICATE, 0, 0, TEST_CHALLENGE, Some(256)),
        c(INS_SELECT, 0x02, 0x0C, &FILE_ID.to_be_bytes(), None),
        c(INS_READ_BINARY, 0x00, 0x00, &[], Some(256)),
        c(INS_READ_BINARY, 0x01, 0x00, &[], Some(1000)),
        c(INS_GET_CHALLENGE, 0, 0, &[], Some(8)),
        c(INS_VERIFY, 0x00, PIN_REFERENCE, WRONG_PIN, None),
        c(INS_VERIFY, 0x00, PIN_REFERENCE, &[], None),
    ]
}

/// A PIN outside 4..=16 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a PIN must have 4 to 16 bytes, not {0}")]
pub struct InvalidPin(pub usize);

/// The emulated card and its state. `Debug` shows the state, never the PIN or the key.
pub struct EmulatedCard {
    pin: Zeroizing<Vec<u8>>,
    key: Zeroizing<[u8; 32]>,
    file: Vec<u8>,
    retries: u8,
    verified: bool,
    app_selected: bool,
    ef_selected: bool,
    challenges: u64,
}

impl fmt::Debug for EmulatedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatedCard")
            .field("retries", &self.retries)
            .field("verified", &self.verified)
            .field("app_selected", &self.app_selected)
            .field("ef_selected", &self.ef_selected)
            .finish_non_exhaustive()
    }
}

impl EmulatedCard {
    /// A card with this PIN (4 to 16 bytes), key and file content.
    pub fn new(pin: &[u8], key: [u8; 32], file: Vec<u8>) -> Result<Self, InvalidPin> {
        if !(4..=16).contains(&pin.len()) {
            return Err(InvalidPin(pin.len()));
        }
        Ok(Self {
            pin: Zeroizing::new(pin.to_vec()),
            key: Zeroizing::new(key),
            file,
            retries: PIN_RETRIES,
            verified: false,
            app_selected: false,
            ef_selected: false,
            challenges: 0,
        })
    }

    /// The card the tests use: [`TEST_PIN`], [`TEST_KEY`], [`test_file`].
    pub fn test_card() -> Self {
        Self::new(TEST_PIN, TEST_KEY, test_file()).expect("the test PIN has a valid length")
    }

    /// PIN tries left.
    pub fn retries_left(&self) -> u8 {
        self.retries
    }

    /// Whether the PIN is verified in this power cycle.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Power off, power on or reset: the volatile state is lost, the retry counter is not.
    pub fn power_cycle(&mut self) {
        self.verified = false;
        self.app_selected = false;
        self.ef_selected = false;
    }

    /// Runs one command.
    pub fn process(&mut self, apdu: &CommandApdu) -> ResponseApdu {
        if apdu.cla() != 0x00 {
            return ResponseApdu::status(StatusWord::CLA_NOT_SUPPORTED);
        }
        let result = match apdu.ins() {
            INS_SELECT => self.select(apdu),
            INS_VERIFY => self.verify(apdu),
            INS_CHANGE_REFERENCE => self.change_reference(apdu),
            INS_INTERNAL_AUTHENTICATE => self.internal_authenticate(apdu),
            INS_READ_BINARY => self.read_binary(apdu),
            INS_GET_CHALLENGE => self.get_challenge(apdu),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        };
        match result {
            Ok(resp) => resp,
            Err(sw) => ResponseApdu::status(sw),
        }
    }

    fn select(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        match (apdu.p1(), apdu.p2()) {
            (0x04, 0x00 | 0x0C) => {
                self.ef_selected = false;
                self.app_selected = apdu.data() == AID;
                if !self.app_selected {
                    return Err(StatusWord::FILE_NOT_FOUND);
                }
            }
            (0x02, 0x00 | 0x0C) => {
                if !self.app_selected {
                    return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
                }
                if apdu.data() != FILE_ID.to_be_bytes() {
                    return Err(StatusWord::FILE_NOT_FOUND);
                }
                self.ef_selected = true;
            }
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        Ok(ResponseApdu::status(StatusWord::OK))
    }

    fn check_pin_reference(&self, apdu: &CommandApdu) -> Result<(), StatusWord> {
        if apdu.p1() != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if apdu.p2() != PIN_REFERENCE {
            return Err(StatusWord::REFERENCE_NOT_FOUND);
        }
        if !self.app_selected {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        if self.retries == 0 {
            return Err(StatusWord::AUTH_BLOCKED);
        }
        Ok(())
    }

    /// Compares `candidate` with the PIN, counting a failure.
    fn try_pin(&mut self, candidate: &[u8]) -> Result<(), StatusWord> {
        if bool::from(candidate.ct_eq(&self.pin)) {
            self.retries = PIN_RETRIES;
            self.verified = true;
            Ok(())
        } else {
            self.retries -= 1;
            self.verified = false;
            Err(StatusWord::verify_failed(self.retries))
        }
    }

    fn verify(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        self.check_pin_reference(apdu)?;
        if apdu.data().is_empty() {
            return if self.verified {
                Ok(ResponseApdu::status(StatusWord::OK))
            } else {
                Err(StatusWord::verify_failed(self.retries))
            };
        }
        self.try_pin(apdu.data())?;
        Ok(ResponseApdu::status(StatusWord::OK))
    }

    fn change_reference(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        self.check_pin_reference(apdu)?;
        let data = apdu.data();
        let old_len = self.pin.len();
        if data.len() < old_len + 4 || data.len() > old_len + 16 {
            return Err(StatusWord::WRONG_DATA);
        }
        let (old, new) = data.split_at(old_len);
        self.try_pin(old)?;
        self.pin = Zeroizing::new(new.to_vec());
        Ok(ResponseApdu::status(StatusWord::OK))
    }

    fn internal_authenticate(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        if (apdu.p1(), apdu.p2()) != (0, 0) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !self.app_selected {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        if !self.verified {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        match apdu.ne() {
            Some(ne) if ne as usize >= AUTH_LEN && !apdu.data().is_empty() => {}
            Some(ne) if (ne as usize) < AUTH_LEN => {
                return Err(StatusWord(0x6C00 | AUTH_LEN as u16));
            }
            _ => return Err(StatusWord::WRONG_LENGTH),
        }
        let answer = internal_authenticate_answer(&self.key, apdu.data());
        Ok(ResponseApdu::new(answer.to_vec(), StatusWord::OK).expect("32 bytes fit"))
    }

    fn read_binary(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        if !self.app_selected {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let offset = if apdu.p1() & 0x80 != 0 {
            if apdu.p1() & 0x60 != 0 || apdu.p1() & 0x1F != FILE_SFI {
                return Err(StatusWord::FILE_NOT_FOUND);
            }
            self.ef_selected = true;
            usize::from(apdu.p2())
        } else {
            if !self.ef_selected {
                return Err(StatusWord::NO_CURRENT_EF);
            }
            usize::from(u16::from_be_bytes([apdu.p1(), apdu.p2()]))
        };
        let Some(ne) = apdu.ne().filter(|_| apdu.data().is_empty()) else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        if offset >= self.file.len() {
            return Err(StatusWord::WRONG_P1P2);
        }
        let end = self.file.len().min(offset + ne as usize);
        let sw = if end - offset < ne as usize {
            StatusWord::END_OF_FILE
        } else {
            StatusWord::OK
        };
        Ok(ResponseApdu::new(self.file[offset..end].to_vec(), sw).expect("at most Ne bytes"))
    }

    fn get_challenge(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, StatusWord> {
        if (apdu.p1(), apdu.p2()) != (0, 0) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let ne = match apdu.ne() {
            Some(ne) if ne as usize <= AUTH_LEN && apdu.data().is_empty() => ne as usize,
            _ => return Err(StatusWord::WRONG_LENGTH),
        };
        self.challenges += 1;
        let mut input = b"get-challenge".to_vec();
        input.extend_from_slice(&self.challenges.to_be_bytes());
        let bytes = internal_authenticate_answer(&self.key, &input);
        Ok(ResponseApdu::new(bytes[..ne].to_vec(), StatusWord::OK).expect("at most 32 bytes"))
    }
}

impl CardBackend for EmulatedCard {
    fn power_on(&mut self) -> Result<(), BackendError> {
        self.power_cycle();
        Ok(())
    }
    fn power_off(&mut self) -> Result<(), BackendError> {
        self.power_cycle();
        Ok(())
    }
    fn reset(&mut self) -> Result<(), BackendError> {
        self.power_cycle();
        Ok(())
    }
    fn atr(&mut self) -> Result<Vec<u8>, BackendError> {
        Ok(ATR.to_vec())
    }
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, BackendError> {
        Ok(self.process(apdu))
    }
}

#[cfg(test)]
#[path = "emulator_tests.rs"]
mod tests;
