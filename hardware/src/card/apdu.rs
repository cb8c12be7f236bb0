//! Command and response APDUs (ISO/IEC 7816-4 §5.1), short and extended lengths, parsed
//! strictly.
//!
//! A command APDU is a 4-byte header (CLA INS P1 P2) and an optional body carrying the command
//! data (its length Nc, encoded as Lc) and the maximum expected response length (Ne, encoded
//! as Le). Its length alone decides which of the seven cases it is:
//!
//! | case | body | Nc | Ne |
//! |---|---|---|---|
//! | 1 | — | 0 | — |
//! | 2S | `Le` | 0 | 1..=256 (`00` = 256) |
//! | 3S | `Lc data` (Lc ≠ 0) | 1..=255 | — |
//! | 4S | `Lc data Le` | 1..=255 | 1..=256 |
//! | 2E | `00 Le1 Le2` | 0 | 1..=65 536 (`0000` = 65 536) |
//! | 3E | `00 Lc1 Lc2 data` (Lc ≠ 0) | 1..=65 535 | — |
//! | 4E | `00 Lc1 Lc2 data Le1 Le2` | 1..=65 535 | 1..=65 536 |
//!
//! Anything else (a body whose length fits no case, an extended Lc of zero, trailing bytes) is
//! refused: [`CommandApdu::parse`] never guesses. Since extended lengths may also carry small
//! values, a parsed APDU remembers its form, and [`CommandApdu::to_bytes`] gives back exactly
//! the bytes it was parsed from.
//!
//! The data field of a command can hold a PIN (VERIFY, CHANGE REFERENCE DATA), so the `Debug`
//! output of [`CommandApdu`] and [`ResponseApdu`] shows lengths, never the bytes.

use std::fmt;

use super::status::StatusWord;

/// Most command data in a short APDU.
pub const MAX_SHORT_NC: usize = 255;
/// Most response data a short APDU can ask for.
pub const MAX_SHORT_NE: u32 = 256;
/// Most command data in an extended APDU.
pub const MAX_EXTENDED_NC: usize = 65_535;
/// Most response data an extended APDU can ask for.
pub const MAX_EXTENDED_NE: u32 = 65_536;
/// The longest command APDU: header, 3-byte Lc, 65 535 data bytes, 2-byte Le.
pub const MAX_COMMAND_LEN: usize = 4 + 3 + MAX_EXTENDED_NC + 2;
/// The longest response APDU: 65 536 data bytes and the status word.
pub const MAX_RESPONSE_LEN: usize = MAX_EXTENDED_NE as usize + 2;

/// Why bytes are not an APDU, or why an APDU cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// Fewer bytes than the header (command, 4) or the status word (response, 2).
    #[error("an APDU of {len} bytes is shorter than its minimum of {min}")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// The minimum for this kind of APDU.
        min: usize,
    },
    /// More bytes than the longest extended APDU.
    #[error("an APDU of {len} bytes is longer than the maximum of {max}")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// The maximum for this kind of APDU.
        max: usize,
    },
    /// The body's length fits none of the seven cases for the Lc it announces (a truncated
    /// or over-long APDU).
    #[error("the APDU body of {body} bytes fits no ISO 7816-4 case")]
    BadBodyLength {
        /// Bytes after the header.
        body: usize,
    },
    /// An extended Lc of zero (an extended APDU without data must use case 2E).
    #[error("an extended Lc of zero is not allowed")]
    ZeroExtendedLc,
    /// Building an APDU with more command data than an extended APDU can carry.
    #[error("{nc} bytes of command data exceed the maximum of 65535")]
    DataTooLong {
        /// Bytes of data given.
        nc: usize,
    },
    /// Building an APDU with an expected length outside 1..=65536.
    #[error("an expected response length of {ne} is outside 1..=65536")]
    BadNe {
        /// The Ne given.
        ne: u32,
    },
}

impl ApduError {
    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "apdu_too_short",
            Self::TooLong { .. } => "apdu_too_long",
            Self::BadBodyLength { .. } => "apdu_bad_body_length",
            Self::ZeroExtendedLc => "apdu_zero_extended_lc",
            Self::DataTooLong { .. } => "apdu_data_too_long",
            Self::BadNe { .. } => "apdu_bad_ne",
        }
    }
}

/// The ISO 7816-4 case of a command APDU: which of data and Le it carries, short or extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Header only.
    One,
    /// Le, short.
    TwoShort,
    /// Lc and data, short.
    ThreeShort,
    /// Lc, data and Le, short.
    FourShort,
    /// Le, extended.
    TwoExtended,
    /// Lc and data, extended.
    ThreeExtended,
    /// Lc, data and Le, extended.
    FourExtended,
}

/// A command APDU. Build one with [`CommandApdu::new`] or parse one with
/// [`CommandApdu::parse`]; `Debug` never shows the data.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    ne: Option<u32>,
    extended: bool,
}

impl CommandApdu {
    /// A command with `data` (may be empty) and an expected response length `ne`
    /// (1..=65536, `None` for no Le). Uses the short form when it can, the extended one
    /// when Nc > 255 or Ne > 256.
    pub fn new(
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: impl Into<Vec<u8>>,
        ne: Option<u32>,
    ) -> Result<Self, ApduError> {
        let data = data.into();
        if data.len() > MAX_EXTENDED_NC {
            return Err(ApduError::DataTooLong { nc: data.len() });
        }
        if let Some(ne) = ne
            && !(1..=MAX_EXTENDED_NE).contains(&ne)
        {
            return Err(ApduError::BadNe { ne });
        }
        let extended = data.len() > MAX_SHORT_NC || ne.is_some_and(|ne| ne > MAX_SHORT_NE);
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
            extended,
        })
    }

    /// The same command in the extended form (no change for case 1, which has no form).
    pub fn into_extended(mut self) -> Self {
        self.extended = !self.data.is_empty() || self.ne.is_some();
        self
    }

    /// Parses one command APDU, strictly (see the module documentation).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        if bytes.len() < 4 {
            return Err(ApduError::TooShort {
                len: bytes.len(),
                min: 4,
            });
        }
        if bytes.len() > MAX_COMMAND_LEN {
            return Err(ApduError::TooLong {
                len: bytes.len(),
                max: MAX_COMMAND_LEN,
            });
        }
        let (header, body) = bytes.split_at(4);
        let short_ne = |b: u8| if b == 0 { 256 } else { u32::from(b) };
        let ext_ne = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => 65_536,
            n => u32::from(n),
        };
        let bad = || ApduError::BadBodyLength { body: body.len() };
        let (data, ne, extended): (&[u8], Option<u32>, bool) = match body {
            [] => (&[], None, false),
            [le] => (&[], Some(short_ne(*le)), false),
            [0, rest @ ..] if rest.len() >= 2 => {
                let lc = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let after = &rest[2..];
                if after.is_empty() {
                    (&[], Some(ext_ne(rest[0], rest[1])), true)
                } else if lc == 0 {
                    return Err(ApduError::ZeroExtendedLc);
                } else if after.len() == lc {
                    (after, None, true)
                } else if after.len() == lc + 2 {
                    (&after[..lc], Some(ext_ne(after[lc], after[lc + 1])), true)
                } else {
                    return Err(bad());
                }
            }
            [0, ..] => return Err(bad()),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if rest.len() == lc {
                    (rest, None, false)
                } else if rest.len() == lc + 1 {
                    (&rest[..lc], Some(short_ne(rest[lc])), false)
                } else {
                    return Err(bad());
                }
            }
        };
        Ok(Self {
            cla: header[0],
            ins: header[1],
            p1: header[2],
            p2: header[3],
            data: data.to_vec(),
            ne,
            extended,
        })
    }

    /// The bytes of this APDU as sent to a card.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the bytes of this APDU to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let nc = self.data.len();
        if self.extended {
            out.push(0);
            if nc > 0 {
                out.extend_from_slice(&(nc as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.ne {
                // 65 536 is encoded as 0000: the truncation to u16 is the encoding.
                out.extend_from_slice(&((ne % 65_536) as u16).to_be_bytes());
            }
        } else {
            if nc > 0 {
                out.push(nc as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.ne {
                out.push((ne % 256) as u8);
            }
        }
    }

    /// Length of the encoded APDU in bytes.
    pub fn encoded_len(&self) -> usize {
        let nc = self.data.len();
        let (lc_len, le_len) = match (self.extended, nc > 0, self.ne.is_some()) {
            (_, false, false) => (0, 0),
            (false, true, has_le) => (1, usize::from(has_le)),
            (false, false, true) => (0, 1),
            (true, true, has_le) => (3, if has_le { 2 } else { 0 }),
            (true, false, true) => (0, 3),
        };
        4 + lc_len + nc + le_len
    }

    /// The ISO 7816-4 case.
    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.ne.is_some(), self.extended) {
            (true, false, _) => Case::One,
            (true, true, false) => Case::TwoShort,
            (false, false, false) => Case::ThreeShort,
            (false, true, false) => Case::FourShort,
            (true, true, true) => Case::TwoExtended,
            (false, false, true) => Case::ThreeExtended,
            (false, true, true) => Case::FourExtended,
        }
    }

    /// CLA: the class byte.
    pub fn cla(&self) -> u8 {
        self.cla
    }
    /// INS: the instruction byte.
    pub fn ins(&self) -> u8 {
        self.ins
    }
    /// P1.
    pub fn p1(&self) -> u8 {
        self.p1
    }
    /// P2.
    pub fn p2(&self) -> u8 {
        self.p2
    }
    /// The command data (Nc = its length). May hold a PIN: never log it.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Ne, the most response bytes expected (`None`: no Le, no data expected).
    pub fn ne(&self) -> Option<u32> {
        self.ne
    }
    /// Whether the APDU uses extended lengths.
    pub fn is_extended(&self) -> bool {
        self.extended
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandApdu")
            .field("cla", &format_args!("{:02X}", self.cla))
            .field("ins", &format_args!("{:02X}", self.ins))
            .field("p1", &format_args!("{:02X}", self.p1))
            .field("p2", &format_args!("{:02X}", self.p2))
            .field("nc", &self.data.len())
            .field("ne", &self.ne)
            .field("extended", &self.extended)
            .finish()
    }
}

/// A response APDU: response data and the status word. `Debug` never shows the data.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    data: Vec<u8>,
    sw: StatusWord,
}

impl ResponseApdu {
    /// A response with `data` (at most 65 536 bytes) and `sw`.
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Result<Self, ApduError> {
        let data = data.into();
        if data.len() > MAX_EXTENDED_NE as usize {
            return Err(ApduError::TooLong {
                len: data.len() + 2,
                max: MAX_RESPONSE_LEN,
            });
        }
        Ok(Self { data, sw })
    }

    /// A response without data.
    pub fn status(sw: StatusWord) -> Self {
        Self {
            data: Vec::new(),
            sw,
        }
    }

    /// Parses a response: data, then two status bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        if bytes.len() < 2 {
            return Err(ApduError::TooShort {
                len: bytes.len(),
                min: 2,
            });
        }
        if bytes.len() > MAX_RESPONSE_LEN {
            return Err(ApduError::TooLong {
                len: bytes.len(),
                max: MAX_RESPONSE_LEN,
            });
        }
        let (data, sw) = bytes.split_at(bytes.len() - 2);
        Ok(Self {
            data: data.to_vec(),
            sw: StatusWord(u16::from_be_bytes([sw[0], sw[1]])),
        })
    }

    /// The bytes of this response as a card sends them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// The response data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The status word.
    pub fn sw(&self) -> StatusWord {
        self.sw
    }
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseApdu")
            .field("len", &self.data.len())
            .field("sw", &self.sw)
            .finish()
    }
}

/// Fuzzing entry point (`fuzz/fuzz_targets/apdu.rs` and a corpus test): parses `data` as a
/// command and as a response; whatever parses must encode back to the same bytes.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(apdu) = CommandApdu::parse(data) {
        assert_eq!(apdu.to_bytes(), data, "command APDU round trip");
        assert_eq!(apdu.encoded_len(), data.len(), "command APDU length");
    }
    if let Ok(resp) = ResponseApdu::parse(data) {
        assert_eq!(resp.to_bytes(), data, "response APDU round trip");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXUPPER_PERMISSIVE
            .decode(s.replace(' ', "").as_bytes())
            .unwrap()
    }

    #[test]
    fn the_seven_cases() {
        let cases = [
            ("00A40400", Case::One, 0, None),
            ("00B0000000", Case::TwoShort, 0, Some(256)),
            ("00B0000010", Case::TwoShort, 0, Some(16)),
            ("0020008106313233343536", Case::ThreeShort, 6, None),
            ("00880000020102FF", Case::FourShort, 2, Some(255)),
            ("00B00000000000", Case::TwoExtended, 0, Some(65_536)),
            ("00B00000000100", Case::TwoExtended, 0, Some(256)),
            ("002000810000020102", Case::ThreeExtended, 2, None),
            ("00880000000002010201F4", Case::FourExtended, 2, Some(500)),
        ];
        for (h, case, nc, ne) in cases {
            let bytes = hex(h);
            let apdu = CommandApdu::parse(&bytes).unwrap();
            assert_eq!(apdu.case(), case, "{h}");
            assert_eq!(apdu.data().len(), nc, "{h}");
            assert_eq!(apdu.ne(), ne, "{h}");
            assert_eq!(apdu.to_bytes(), bytes, "{h}");
        }
    }

    #[test]
    fn malformed_commands_are_refused() {
        for (h, code) in [
            ("", "apdu_too_short"),
            ("00A404", "apdu_too_short"),
            ("00A4040000", "ok"),
            ("00A404000000", "apdu_bad_body_length"),
            ("0020008106313233", "apdu_bad_body_length"),
            ("00200081063132333435363738", "apdu_bad_body_length"),
            ("002000810000", "apdu_bad_body_length"),
            ("00200081000000AA", "apdu_zero_extended_lc"),
            ("00200081000002AA", "apdu_bad_body_length"),
            ("00200081000002AABBCC", "apdu_bad_body_length"),
        ] {
            let got = CommandApdu::parse(&hex(h))
                .map(|_| "ok")
                .map_err(|e| e.code());
            assert_eq!(got.unwrap_or_else(|e| e), code, "{h}");
        }
        let too_long = vec![0u8; MAX_COMMAND_LEN + 1];
        assert_eq!(
            CommandApdu::parse(&too_long).unwrap_err().code(),
            "apdu_too_long"
        );
    }

    #[test]
    fn builder_picks_the_form() {
        let short = CommandApdu::new(0, 0xB0, 0, 0, vec![], Some(256)).unwrap();
        assert_eq!(short.to_bytes(), hex("00B0000000"));
        let ext = CommandApdu::new(0, 0xB0, 0, 0, vec![], Some(257)).unwrap();
        assert_eq!(ext.to_bytes(), hex("00B00000000101"));
        let big = CommandApdu::new(0, 0xDA, 0, 0, vec![7; 300], None).unwrap();
        assert_eq!(big.case(), Case::ThreeExtended);
        assert_eq!(big.encoded_len(), 4 + 3 + 300);
        let forced = CommandApdu::new(0, 0x88, 0, 0, vec![1], Some(32))
            .unwrap()
            .into_extended();
        assert_eq!(forced.to_bytes(), hex("0088000000000101 0020"));
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0, vec![], Some(0))
                .unwrap_err()
                .code(),
            "apdu_bad_ne"
        );
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0, vec![0; 65_536], None)
                .unwrap_err()
                .code(),
            "apdu_data_too_long"
        );
        let max = CommandApdu::new(0, 0, 0, 0, vec![0; 65_535], Some(65_536)).unwrap();
        assert_eq!(max.encoded_len(), MAX_COMMAND_LEN);
        assert_eq!(CommandApdu::parse(&max.to_bytes()).unwrap(), max);
    }

    #[test]
    fn debug_hides_the_data() {
        let pin = CommandApdu::new(0, 0x20, 0, 0x81, b"9371".to_vec(), None).unwrap();
        let shown = format!("{pin:?}");
        assert!(!shown.contains("9371") && !shown.contains("57, 51") && shown.contains("nc: 4"));
        let resp = ResponseApdu::new(b"secret".to_vec(), StatusWord::OK).unwrap();
        assert!(!format!("{resp:?}").contains("secret"));
    }

    #[test]
    fn responses() {
        let r = ResponseApdu::parse(&hex("0102039000")).unwrap();
        assert_eq!(r.data(), &[1, 2, 3]);
        assert_eq!(r.sw(), StatusWord::OK);
        assert_eq!(r.to_bytes(), hex("0102039000"));
        assert_eq!(
            ResponseApdu::parse(&[0x90]).unwrap_err().code(),
            "apdu_too_short"
        );
        assert_eq!(
            ResponseApdu::status(StatusWord(0x6A82)).to_bytes(),
            [0x6A, 0x82]
        );
    }

    #[test]
    fn error_codes_are_stable() {
        let all = [
            (ApduError::TooShort { len: 1, min: 4 }, "apdu_too_short"),
            (ApduError::TooLong { len: 9, max: 8 }, "apdu_too_long"),
            (ApduError::BadBodyLength { body: 2 }, "apdu_bad_body_length"),
            (ApduError::ZeroExtendedLc, "apdu_zero_extended_lc"),
            (ApduError::DataTooLong { nc: 65_536 }, "apdu_data_too_long"),
            (ApduError::BadNe { ne: 0 }, "apdu_bad_ne"),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            ApduError::BadBodyLength { body: 3 }.to_string(),
            "the APDU body of 3 bytes fits no ISO 7816-4 case"
        );
    }
}
