//! The `smartcard` channel's messages, sans IO (PROTOCOL.md, "smartcard").
//!
//! The channel's data is a stream of messages, cut into data frames as needed (a message may
//! be larger than one frame's 64 KiB payload: an extended command APDU is up to 65 544 bytes):
//!
//! ```text
//! message = type:u8 length:u32be body        (5-byte header; length = body bytes)
//! ```
//!
//! | type | name | direction | body |
//! |---|---|---|---|
//! | 1 | `present` | card → customer | the card's ATR, 2..=33 bytes (card present, or the answer to `reset`) |
//! | 2 | `command` | customer → card | a command APDU, 4..=65 544 bytes |
//! | 3 | `response` | card → customer | a response APDU, 2..=65 538 bytes |
//! | 4 | `reset` | customer → card | empty: reset the card (vpcd power on, power off or reset) |
//! | 5 | `removed` | card → customer | empty: the card left the technician's reader |
//! | 6 | `end` | either | a UTF-8 reason of at most 128 bytes: the sender stops |
//!
//! "card" is the technician's side (the console, which holds the real card), "customer" the
//! customer's side (the vpcd card end). A length beyond the type's bound is refused as soon as
//! the header is read (the body is never buffered); an unknown type, a message in the wrong
//! direction or a body outside its bounds is refused too. Each refusal closes the channel
//! (only that channel). Truncated input is incomplete ([`Decoder::decode`] gives `Ok(None)`),
//! and a stream that ends inside a message is refused by [`Decoder::finish`].
//!
//! Two readers: [`Decoder`] (the ends: whole messages) and [`Scanner`] (the relay: it checks
//! and counts without keeping bodies, except the ATR, which is public).
//!
//! `Debug` of a [`Message`] shows lengths, never APDU bytes (VERIFY carries PINs).

use bytes::{Buf, BufMut, BytesMut};
use std::fmt;

/// Bytes before a message's body.
pub const HEADER_LEN: usize = 5;
/// Shortest ATR (TS and T0).
pub const MIN_ATR: usize = 2;
/// Longest ATR (ISO/IEC 7816-3).
pub const MAX_ATR: usize = 33;
/// Shortest command APDU (the header).
pub const MIN_COMMAND: usize = 4;
/// Longest command APDU: header, 3-byte Lc, 65 535 data bytes, 2-byte Le.
pub const MAX_COMMAND: usize = 65_544;
/// Shortest response APDU (the status word).
pub const MIN_RESPONSE: usize = 2;
/// Longest response APDU: 65 536 data bytes and the status word.
pub const MAX_RESPONSE: usize = 65_538;
/// Longest `end` reason.
pub const MAX_REASON: usize = 128;
/// Longest message on the wire.
pub const MAX_MESSAGE: usize = HEADER_LEN + MAX_COMMAND;

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The technician's side (holds the card) towards the customer.
    FromCard,
    /// The customer's side (the vpcd reader's programs) towards the card.
    ToCard,
}

/// One message of the channel.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A card is present with this ATR (first message, and the answer to [`Message::Reset`]).
    Present(Vec<u8>),
    /// A command APDU for the card.
    Command(Vec<u8>),
    /// The card's response APDU.
    Response(Vec<u8>),
    /// Reset the card.
    Reset,
    /// The card was taken out of the technician's reader.
    Removed,
    /// The sender stops (reason); a close frame follows.
    End(String),
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Present(a) => write!(f, "Present({} bytes)", a.len()),
            Message::Command(a) => write!(f, "Command({} bytes)", a.len()),
            Message::Response(a) => write!(f, "Response({} bytes)", a.len()),
            Message::Reset => f.write_str("Reset"),
            Message::Removed => f.write_str("Removed"),
            Message::End(r) => write!(f, "End({r:?})"),
        }
    }
}

const T_PRESENT: u8 = 1;
const T_COMMAND: u8 = 2;
const T_RESPONSE: u8 = 3;
const T_RESET: u8 = 4;
const T_REMOVED: u8 = 5;
const T_END: u8 = 6;

/// Why bytes are not a valid message stream. Each closes the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScError {
    /// A type we do not know.
    #[error("unknown smartcard message type {0}")]
    UnknownType(u8),
    /// A message the sender may not send (e.g. a command from the card's side).
    #[error("smartcard message type {0} in the wrong direction")]
    WrongDirection(u8),
    /// A body longer than its type allows (refused from the header).
    #[error("smartcard message of {len} bytes exceeds the {max}-byte limit of its type")]
    Oversized {
        /// Announced body length.
        len: u64,
        /// The type's limit.
        max: usize,
    },
    /// A body shorter than its type needs, or not UTF-8 where text is expected.
    #[error("malformed smartcard message of type {0}")]
    Malformed(u8),
    /// The stream ended inside a message.
    #[error("the smartcard stream ended inside a message")]
    Truncated,
}

impl ScError {
    /// Stable code for logs, records and close reasons.
    pub fn code(&self) -> &'static str {
        match self {
            ScError::UnknownType(_) => "smartcard_unknown_type",
            ScError::WrongDirection(_) => "smartcard_wrong_direction",
            ScError::Oversized { .. } => "smartcard_oversized",
            ScError::Malformed(_) => "smartcard_malformed",
            ScError::Truncated => "smartcard_truncated",
        }
    }
}

/// Checks a header: the body bounds of its type, for this direction.
fn bounds(dir: Direction, ty: u8) -> Result<(usize, usize), ScError> {
    let (from_card, min, max) = match ty {
        T_PRESENT => (true, MIN_ATR, MAX_ATR),
        T_COMMAND => (false, MIN_COMMAND, MAX_COMMAND),
        T_RESPONSE => (true, MIN_RESPONSE, MAX_RESPONSE),
        T_RESET => (false, 0, 0),
        T_REMOVED => (true, 0, 0),
        T_END => return Ok((0, MAX_REASON)),
        other => return Err(ScError::UnknownType(other)),
    };
    if from_card != (dir == Direction::FromCard) {
        return Err(ScError::WrongDirection(ty));
    }
    Ok((min, max))
}

fn check_header(dir: Direction, ty: u8, len: u32) -> Result<usize, ScError> {
    let (min, max) = bounds(dir, ty)?;
    let len = len as usize;
    if len > max {
        return Err(ScError::Oversized {
            len: len as u64,
            max,
        });
    }
    if len < min {
        return Err(ScError::Malformed(ty));
    }
    Ok(len)
}

impl Message {
    fn parts(&self) -> (u8, &[u8]) {
        match self {
            Message::Present(b) => (T_PRESENT, b),
            Message::Command(b) => (T_COMMAND, b),
            Message::Response(b) => (T_RESPONSE, b),
            Message::Reset => (T_RESET, &[]),
            Message::Removed => (T_REMOVED, &[]),
            Message::End(r) => (T_END, r.as_bytes()),
        }
    }

    /// Who may send this message (`None`: either side).
    pub fn direction(&self) -> Option<Direction> {
        match self {
            Message::Present(_) | Message::Response(_) | Message::Removed => {
                Some(Direction::FromCard)
            }
            Message::Command(_) | Message::Reset => Some(Direction::ToCard),
            Message::End(_) => None,
        }
    }

    /// An `end` message, its reason cut to [`MAX_REASON`] bytes (at a character boundary).
    pub fn end(reason: &str) -> Message {
        let mut n = reason.len().min(MAX_REASON);
        while !reason.is_char_boundary(n) {
            n -= 1;
        }
        Message::End(reason[..n].to_owned())
    }

    /// Append the encoded message to `out`; refused (nothing written) if its body is outside
    /// the bounds of its type.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ScError> {
        let (ty, body) = self.parts();
        let dir = self.direction().unwrap_or(Direction::ToCard);
        let len = u32::try_from(body.len()).map_err(|_| ScError::Oversized {
            len: body.len() as u64,
            max: MAX_COMMAND,
        })?;
        check_header(dir, ty, len)?;
        out.reserve(HEADER_LEN + body.len());
        out.put_u8(ty);
        out.put_u32(len);
        out.put_slice(body);
        Ok(())
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Result<BytesMut, ScError> {
        let mut b = BytesMut::new();
        self.encode(&mut b)?;
        Ok(b)
    }
}

/// Incremental decoder of the messages one side receives.
#[derive(Debug)]
pub struct Decoder {
    dir: Direction,
}

impl Decoder {
    /// A decoder of the messages sent by `dir`'s side.
    pub fn new(dir: Direction) -> Decoder {
        Decoder { dir }
    }

    /// Take one message off the front of `buf`: `Ok(None)` if it is not complete yet (nothing
    /// consumed), an error if it is invalid (the channel is then closed).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ScError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let ty = buf[0];
        bounds(self.dir, ty)?;
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = check_header(
            self.dir,
            ty,
            u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]),
        )?;
        if buf.len() < HEADER_LEN + len {
            buf.reserve(HEADER_LEN + len - buf.len());
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let body = buf.split_to(len).to_vec();
        Ok(Some(match ty {
            T_PRESENT => Message::Present(body),
            T_COMMAND => Message::Command(body),
            T_RESPONSE => Message::Response(body),
            T_RESET => Message::Reset,
            T_REMOVED => Message::Removed,
            _ => Message::End(String::from_utf8(body).map_err(|_| ScError::Malformed(ty))?),
        }))
    }

    /// The stream ended: an error if `buf` still holds part of a message.
    pub fn finish(&self, buf: &BytesMut) -> Result<(), ScError> {
        if buf.is_empty() {
            Ok(())
        } else {
            Err(ScError::Truncated)
        }
    }
}

/// What a [`Scanner`] counted (contents never kept, except the last ATR, which is public).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Command APDUs (customer → card).
    pub commands: u64,
    /// Response APDUs (card → customer).
    pub responses: u64,
    /// Bytes of command APDUs.
    pub command_bytes: u64,
    /// Bytes of response APDUs.
    pub response_bytes: u64,
    /// Resets asked.
    pub resets: u64,
    /// Times the card was reported removed.
    pub removals: u64,
    /// The last ATR announced.
    pub atr: Option<Vec<u8>>,
    /// An `end` was seen.
    pub ended: bool,
}

/// The relay's checker for one direction of a channel: validates headers and bounds as bytes
/// pass, counts messages and bytes, and keeps no body except the ATR.
#[derive(Debug)]
pub struct Scanner {
    dir: Direction,
    header: [u8; HEADER_LEN],
    have: usize,
    ty: u8,
    left: usize,
    body_len: usize,
    atr: Vec<u8>,
    text: Vec<u8>,
    /// What passed so far.
    pub counts: Counts,
}

impl Scanner {
    /// A scanner of what `dir`'s side sends.
    pub fn new(dir: Direction) -> Scanner {
        Scanner {
            dir,
            header: [0; HEADER_LEN],
            have: 0,
            ty: 0,
            left: 0,
            body_len: 0,
            atr: Vec::new(),
            text: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Whether the scanner is between messages.
    pub fn at_boundary(&self) -> bool {
        self.have == 0
    }

    /// Check and count `data`, the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ScError> {
        while !data.is_empty() {
            if self.have < HEADER_LEN {
                if self.have == 0 {
                    bounds(self.dir, data[0])?;
                }
                let n = (HEADER_LEN - self.have).min(data.len());
                self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                self.have += n;
                data = &data[n..];
                if self.have < HEADER_LEN {
                    return Ok(());
                }
                self.ty = self.header[0];
                let h = &self.header;
                self.body_len = check_header(
                    self.dir,
                    self.ty,
                    u32::from_be_bytes([h[1], h[2], h[3], h[4]]),
                )?;
                self.left = self.body_len;
                self.atr.clear();
                self.text.clear();
            }
            let n = self.left.min(data.len());
            match self.ty {
                T_PRESENT => self.atr.extend_from_slice(&data[..n]),
                T_END => self.text.extend_from_slice(&data[..n]),
                _ => {}
            }
            self.left -= n;
            data = &data[n..];
            if self.left == 0 {
                self.complete()?;
            }
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), ScError> {
        let c = &mut self.counts;
        let len = self.body_len as u64;
        match self.ty {
            T_PRESENT => c.atr = Some(std::mem::take(&mut self.atr)),
            T_COMMAND => {
                c.commands += 1;
                c.command_bytes += len;
            }
            T_RESPONSE => {
                c.responses += 1;
                c.response_bytes += len;
            }
            T_RESET => c.resets += 1,
            T_REMOVED => c.removals += 1,
            _ => {
                if std::str::from_utf8(&self.text).is_err() {
                    return Err(ScError::Malformed(T_END));
                }
                c.ended = true;
            }
        }
        self.have = 0;
        Ok(())
    }
}

/// The reader named in a `smartcard` open's `params.reader` (control characters dropped, at
/// most 200 characters): shown to the customer and recorded.
pub fn reader_name(params: &serde_json::Value) -> String {
    params["reader"]
        .as_str()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// Fuzzing and hostile-input entry point: decode `data` as each side's stream, whole and cut
/// at every position the first byte names, with the decoder and the scanner; they must agree.
/// Never panics on any input (a disagreement is a bug, reported by a panic).
#[doc(hidden)]
pub fn fuzz_messages(data: &[u8]) {
    for dir in [Direction::FromCard, Direction::ToCard] {
        let mut dec = Decoder::new(dir);
        let mut buf = BytesMut::from(data);
        let mut decoded = Ok(());
        let mut n = 0u64;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => {
                    n += 1;
                    let again = m.to_bytes().expect("a decoded message encodes");
                    let mut again = again;
                    assert_eq!(
                        Decoder::new(dir).decode(&mut again),
                        Ok(Some(m)),
                        "round trip"
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    decoded = Err(e);
                    break;
                }
            }
        }
        let cut = data.first().map_or(1, |b| usize::from(*b).max(1));
        let mut sc = Scanner::new(dir);
        let scanned = data.chunks(cut).try_for_each(|c| sc.feed(c));
        let c = &sc.counts;
        let seen = c.commands + c.responses + c.resets + c.removals + u64::from(c.ended);
        match (&decoded, &scanned) {
            (Ok(()), Ok(())) => assert!(seen <= n, "scanner saw more than the decoder"),
            (Err(a), Err(b)) => assert_eq!(a, b, "same refusal"),
            _ => panic!("decoder {decoded:?} and scanner {scanned:?} disagree"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from_card() -> impl Strategy<Value = Message> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), MIN_ATR..=MAX_ATR).prop_map(Message::Present),
            proptest::collection::vec(any::<u8>(), MIN_RESPONSE..600).prop_map(Message::Response),
            Just(Message::Removed),
            "[a-z ]{0,40}".prop_map(|s| Message::end(&s)),
        ]
    }

    fn to_card() -> impl Strategy<Value = Message> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), MIN_COMMAND..600).prop_map(Message::Command),
            Just(Message::Reset),
            "[a-z é]{0,40}".prop_map(|s| Message::end(&s)),
        ]
    }

    fn both() -> impl Strategy<Value = (Direction, Vec<Message>)> {
        prop_oneof![
            proptest::collection::vec(from_card(), 0..6).prop_map(|m| (Direction::FromCard, m)),
            proptest::collection::vec(to_card(), 0..6).prop_map(|m| (Direction::ToCard, m)),
        ]
    }

    fn encode_all(ms: &[Message]) -> BytesMut {
        let mut b = BytesMut::new();
        for m in ms {
            m.encode(&mut b).expect("encode");
        }
        b
    }

    proptest! {
        #[test]
        fn round_trip_through_any_chunking((dir, ms) in both(), cut in 1usize..700) {
            let wire = encode_all(&ms);
            let mut dec = Decoder::new(dir);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut sc = Scanner::new(dir);
            for chunk in wire.chunks(cut) {
                sc.feed(chunk).expect("scan");
                buf.extend_from_slice(chunk);
                while let Some(m) = dec.decode(&mut buf).expect("decode") {
                    out.push(m);
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert!(dec.finish(&buf).is_ok());
            prop_assert!(sc.at_boundary());
            let commands = ms.iter().filter(|m| matches!(m, Message::Command(_))).count();
            prop_assert_eq!(sc.counts.commands, commands as u64);
            let bytes: usize = ms.iter().map(|m| match m { Message::Response(b) => b.len(), _ => 0 }).sum();
            prop_assert_eq!(sc.counts.response_bytes, bytes as u64);
            prop_assert_eq!(out, ms);
        }

        #[test]
        fn every_truncation_is_incomplete_then_refused((dir, ms) in both()) {
            prop_assume!(!ms.is_empty());
            let wire = encode_all(&ms[..1]);
            for cut in 0..wire.len() {
                let mut part = BytesMut::from(&wire[..cut]);
                let mut dec = Decoder::new(dir);
                prop_assert_eq!(dec.decode(&mut part), Ok(None));
                prop_assert_eq!(part.len(), cut, "nothing consumed");
                prop_assert_eq!(dec.finish(&part).is_err(), cut > 0);
                let mut sc = Scanner::new(dir);
                sc.feed(&wire[..cut]).expect("a prefix scans");
                prop_assert_eq!(sc.at_boundary(), cut == 0);
            }
        }

        #[test]
        fn oversize_refused_from_the_header(len in (MAX_RESPONSE as u32 + 1)..=u32::MAX) {
            let mut h = BytesMut::new();
            h.put_u8(T_RESPONSE);
            h.put_u32(len);
            let err = Decoder::new(Direction::FromCard).decode(&mut h.clone());
            let oversized = |r: Result<_, ScError>| matches!(r, Err(ScError::Oversized { .. }));
            prop_assert!(oversized(err.map(|_| ())));
            prop_assert!(oversized(Scanner::new(Direction::FromCard).feed(&h)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            fuzz_messages(&data);
        }
    }

    #[test]
    fn limits_are_inclusive_and_checked_both_ways() {
        let big = Message::Command(vec![0; MAX_COMMAND]);
        let wire = big.to_bytes().expect("the largest command fits");
        assert_eq!(wire.len(), MAX_MESSAGE);
        assert!(
            wire.len() > crate::proto::MAX_PAYLOAD,
            "it spans two frames"
        );
        assert_eq!(
            Decoder::new(Direction::ToCard).decode(&mut wire.clone()),
            Ok(Some(big))
        );
        assert!(matches!(
            Message::Command(vec![0; MAX_COMMAND + 1]).to_bytes(),
            Err(ScError::Oversized { .. })
        ));
        assert_eq!(
            Message::Command(vec![0; 3]).to_bytes(),
            Err(ScError::Malformed(T_COMMAND))
        );
        assert!(Message::Response(vec![0; MAX_RESPONSE]).to_bytes().is_ok());
        assert!(Message::Present(vec![0; MAX_ATR + 1]).to_bytes().is_err());
        assert!(Message::Present(vec![0; 1]).to_bytes().is_err());
        assert_eq!(
            Message::end(&"é".repeat(100)).to_bytes().map(|b| b.len()),
            Ok(HEADER_LEN + 128)
        );
    }

    #[test]
    fn wrong_direction_unknown_type_and_bad_text_are_refused() {
        let cmd = Message::Command(vec![0, 0xA4, 4, 0])
            .to_bytes()
            .expect("cmd");
        assert_eq!(
            Decoder::new(Direction::FromCard).decode(&mut cmd.clone()),
            Err(ScError::WrongDirection(T_COMMAND))
        );
        assert_eq!(
            Scanner::new(Direction::FromCard).feed(&cmd[..1]),
            Err(ScError::WrongDirection(T_COMMAND))
        );
        let mut unknown = BytesMut::from(&[9u8][..]);
        assert_eq!(
            Decoder::new(Direction::ToCard).decode(&mut unknown),
            Err(ScError::UnknownType(9))
        );
        let mut reset_with_body = BytesMut::from(&[T_RESET, 0, 0, 0, 1, 7][..]);
        assert!(matches!(
            Decoder::new(Direction::ToCard).decode(&mut reset_with_body),
            Err(ScError::Oversized { .. })
        ));
        let bad_text = [T_END, 0, 0, 0, 2, 0xC3, 0x28];
        assert_eq!(
            Decoder::new(Direction::ToCard).decode(&mut BytesMut::from(&bad_text[..])),
            Err(ScError::Malformed(T_END))
        );
        assert_eq!(
            Scanner::new(Direction::ToCard).feed(&bad_text),
            Err(ScError::Malformed(T_END))
        );
        assert_eq!(ScError::Truncated.code(), "smartcard_truncated");
        assert_eq!(
            format!(
                "{:?}",
                Message::Command(b"\x00\x20\x00\x81\x06123456".to_vec())
            ),
            "Command(11 bytes)"
        );
    }

    #[test]
    fn the_scanner_keeps_the_atr_and_counts() {
        let mut sc = Scanner::new(Direction::FromCard);
        let mut wire = Message::Present(vec![0x3B, 0x00]).to_bytes().expect("atr");
        Message::Response(vec![1, 2, 0x90, 0])
            .encode(&mut wire)
            .expect("r");
        Message::Removed.encode(&mut wire).expect("removed");
        for b in wire.iter() {
            sc.feed(&[*b]).expect("byte by byte");
        }
        assert_eq!(sc.counts.atr.as_deref(), Some(&[0x3B, 0x00][..]));
        assert_eq!(
            (
                sc.counts.responses,
                sc.counts.response_bytes,
                sc.counts.removals
            ),
            (1, 4, 1)
        );
    }
}
