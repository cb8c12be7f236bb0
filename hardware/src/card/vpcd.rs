//! The vpcd reader protocol, sans I/O: bytes in, messages out.
//!
//! `vpcd` (Debian package `vsmartcard-vpcd`) is a pcscd driver whose virtual readers listen on
//! TCP (35963 for the first reader, 35964 for the second); the *card end* (us) connects and
//! answers. Every message, both ways, is a 2-byte big-endian length followed by that many
//! bytes. From vpcd to the card:
//!
//! | payload | meaning | answer |
//! |---|---|---|
//! | `00` | power off | none |
//! | `01` | power on | none |
//! | `02` | reset | none |
//! | `04` | get ATR | the ATR (a zero-length answer means "no card": vpcd then drops the link) |
//! | 2 or more bytes | a command APDU | the response APDU |
//!
//! A one-byte payload with another value, or an empty one, is no vpcd message
//! ([`VpcdError::UnknownControl`], [`VpcdError::Empty`]). A payload that is not a well-formed
//! APDU is [`VpcdError::BadApdu`]: the frame was read whole, so the stream stays in step and
//! the card end answers `6700` (wrong length) without troubling the card.
//!
//! Entry points: [`decode_frame`] (split one frame off a buffer, or say it is incomplete),
//! [`VpcdRequest::parse`] (what a payload means), [`encode_frame`] (frame an answer);
//! [`VpcdRequest::to_frame`] is vpcd's side, for tests. The TCP loop around them is
//! [`super::card_end`].

use super::apdu::{ApduError, CommandApdu};

/// Default TCP port of vpcd's first reader ("Virtual PCD 00 00").
pub const DEFAULT_PORT: u16 = 35_963;
/// Control byte: power off.
pub const CTRL_POWER_OFF: u8 = 0x00;
/// Control byte: power on.
pub const CTRL_POWER_ON: u8 = 0x01;
/// Control byte: reset.
pub const CTRL_RESET: u8 = 0x02;
/// Control byte: get the ATR.
pub const CTRL_GET_ATR: u8 = 0x04;
/// The largest payload a frame can carry (the length field is 16 bits).
pub const MAX_PAYLOAD: usize = 0xFFFF;

/// What vpcd asks of the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdRequest {
    /// The reader cuts the card's power. No answer.
    PowerOff,
    /// The reader powers the card. No answer.
    PowerOn,
    /// The reader resets the card. No answer.
    Reset,
    /// The reader asks for the ATR (also its way of polling whether the card is there).
    GetAtr,
    /// A command APDU for the card; answered with the response APDU.
    Apdu(CommandApdu),
}

/// Why a vpcd payload means nothing, or an answer cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VpcdError {
    /// A frame with no payload.
    #[error("vpcd sent an empty message")]
    Empty,
    /// A one-byte payload that is no known control code.
    #[error("vpcd sent the unknown control code {0:#04x}")]
    UnknownControl(u8),
    /// A payload of two bytes or more that is not a well-formed command APDU.
    #[error("vpcd sent a malformed APDU: {0}")]
    BadApdu(#[from] ApduError),
    /// An answer longer than a frame can carry.
    #[error("an answer of {len} bytes does not fit a vpcd frame (at most 65535)")]
    AnswerTooLong {
        /// The answer's length.
        len: usize,
    },
}

impl VpcdError {
    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "vpcd_empty_message",
            Self::UnknownControl(_) => "vpcd_unknown_control",
            Self::BadApdu(_) => "vpcd_bad_apdu",
            Self::AnswerTooLong { .. } => "vpcd_answer_too_long",
        }
    }
}

/// Splits the first frame off `buf`: `Some((payload, consumed))`, or `None` while the frame is
/// incomplete. Any 2-byte header announces a valid length, so this never fails.
pub fn decode_frame(buf: &[u8]) -> Option<(&[u8], usize)> {
    let header: [u8; 2] = buf.get(..2)?.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes(header));
    let payload = buf.get(2..2 + len)?;
    Some((payload, 2 + len))
}

/// The payload length a 2-byte frame header announces.
pub fn payload_len(header: [u8; 2]) -> usize {
    usize::from(u16::from_be_bytes(header))
}

/// Frames `payload` (2-byte big-endian length, then the bytes) onto `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), VpcdError> {
    let len = u16::try_from(payload.len())
        .map_err(|_| VpcdError::AnswerTooLong { len: payload.len() })?;
    out.reserve(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

impl VpcdRequest {
    /// What one frame's payload means.
    pub fn parse(payload: &[u8]) -> Result<Self, VpcdError> {
        match payload {
            [] => Err(VpcdError::Empty),
            [CTRL_POWER_OFF] => Ok(Self::PowerOff),
            [CTRL_POWER_ON] => Ok(Self::PowerOn),
            [CTRL_RESET] => Ok(Self::Reset),
            [CTRL_GET_ATR] => Ok(Self::GetAtr),
            [other] => Err(VpcdError::UnknownControl(*other)),
            apdu => Ok(Self::Apdu(CommandApdu::parse(apdu)?)),
        }
    }

    /// The payload vpcd sends for this request.
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            Self::PowerOff => vec![CTRL_POWER_OFF],
            Self::PowerOn => vec![CTRL_POWER_ON],
            Self::Reset => vec![CTRL_RESET],
            Self::GetAtr => vec![CTRL_GET_ATR],
            Self::Apdu(apdu) => apdu.to_bytes(),
        }
    }

    /// The whole frame vpcd sends for this request, or `None` for an APDU too long for a frame
    /// (an extended APDU with more than 65 526 data bytes).
    pub fn to_frame(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        encode_frame(&self.to_payload(), &mut out).ok()?;
        Some(out)
    }

    /// Whether vpcd waits for an answer to this request.
    pub fn expects_answer(&self) -> bool {
        matches!(self, Self::GetAtr | Self::Apdu(_))
    }
}

/// Fuzzing entry point (`fuzz/fuzz_targets/vpcd.rs` and a corpus test): splits `data` into
/// frames and parses each; whatever parses must frame back to the same bytes.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let mut rest = data;
    while let Some((payload, consumed)) = decode_frame(rest) {
        if let Ok(request) = VpcdRequest::parse(payload) {
            assert_eq!(
                request.to_frame().as_deref(),
                Some(&rest[..consumed]),
                "vpcd round trip"
            );
        }
        rest = &rest[consumed..];
    }
    assert!(rest.len() < 2 || payload_len([rest[0], rest[1]]) > rest.len() - 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages() {
        for (byte, req) in [
            (0u8, VpcdRequest::PowerOff),
            (1, VpcdRequest::PowerOn),
            (2, VpcdRequest::Reset),
            (4, VpcdRequest::GetAtr),
        ] {
            let frame = [0, 1, byte];
            let (payload, used) = decode_frame(&frame).unwrap();
            assert_eq!(used, 3);
            assert_eq!(VpcdRequest::parse(payload).unwrap(), req);
            assert_eq!(req.to_frame().unwrap(), frame);
            assert_eq!(req.expects_answer(), byte == 4);
        }
        assert_eq!(
            VpcdRequest::parse(&[3]).unwrap_err(),
            VpcdError::UnknownControl(3)
        );
        assert_eq!(
            VpcdRequest::parse(&[]).unwrap_err().code(),
            "vpcd_empty_message"
        );
    }

    #[test]
    fn apdus_and_partial_frames() {
        let frame = [0, 5, 0x00, 0x84, 0x00, 0x00, 0x08, 0xAA];
        assert_eq!(decode_frame(&frame[..1]), None);
        assert_eq!(decode_frame(&frame[..6]), None);
        let (payload, used) = decode_frame(&frame).unwrap();
        assert_eq!(used, 7);
        match VpcdRequest::parse(payload).unwrap() {
            VpcdRequest::Apdu(a) => assert_eq!((a.ins(), a.ne()), (0x84, Some(8))),
            other => panic!("{other:?}"),
        }
        let bad = VpcdRequest::parse(&[0x00, 0x84]).unwrap_err();
        assert_eq!(bad.code(), "vpcd_bad_apdu");
    }

    #[test]
    fn error_codes_are_stable() {
        let all = [
            (VpcdError::Empty, "vpcd_empty_message"),
            (VpcdError::UnknownControl(3), "vpcd_unknown_control"),
            (
                VpcdError::BadApdu(ApduError::ZeroExtendedLc),
                "vpcd_bad_apdu",
            ),
            (
                VpcdError::AnswerTooLong { len: 70_000 },
                "vpcd_answer_too_long",
            ),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code);
        }
        assert_eq!(
            VpcdError::UnknownControl(3).to_string(),
            "vpcd sent the unknown control code 0x03"
        );
    }

    #[test]
    fn answers_are_framed_and_bounded() {
        let mut out = Vec::new();
        encode_frame(&[0x90, 0x00], &mut out).unwrap();
        assert_eq!(out, [0, 2, 0x90, 0x00]);
        let err = encode_frame(&vec![0; 65_536], &mut out).unwrap_err();
        assert_eq!(err, VpcdError::AnswerTooLong { len: 65_536 });
        assert_eq!(
            err.to_string(),
            "an answer of 65536 bytes does not fit a vpcd frame (at most 65535)"
        );
    }
}
