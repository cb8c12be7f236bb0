//! Hello and frames.
//!
//! ```text
//! hello  = "SESAMERL" version:u16be                      (10 bytes, each side sends one)
//! frame  = length:u32be kind:u8 channel:u32be payload    (length = payload bytes, ≤ MAX_PAYLOAD)
//! ```
//! A frame whose announced length exceeds [`MAX_PAYLOAD`] is an error as soon as its header is
//! read (the payload is never buffered); an unknown kind is an error. Truncated input is
//! `Ok(None)`: the caller reads more bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Magic that opens the hello.
pub const MAGIC: &[u8; 8] = b"SESAMERL";
/// Protocol version this build speaks.
pub const VERSION: u16 = 1;
/// Length of the hello.
pub const HELLO_LEN: usize = 10;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 9;
/// Hard limit on a frame's payload (64 KiB).
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JSON control message ([`crate::proto::Control`]); channel 0 = the connection itself.
    Control = 0,
    /// Channel data (counts against the channel's window).
    Data = 1,
    /// Window update: payload `credit:u32be`, bytes the sender of this frame may now receive.
    Window = 2,
    /// Keep-alive request: 8 opaque bytes echoed in the pong.
    Ping = 3,
    /// Keep-alive answer.
    Pong = 4,
    /// The channel is closed by the sender (no more data either way); payload: UTF-8 reason.
    Close = 5,
    /// End of the half-stream: the sender will send no more data on the channel.
    Eof = 6,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Control,
            1 => Kind::Data,
            2 => Kind::Window,
            3 => Kind::Ping,
            4 => Kind::Pong,
            5 => Kind::Close,
            6 => Kind::Eof,
            _ => return None,
        })
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it carries.
    pub kind: Kind,
    /// Channel id (0 = the connection).
    pub channel: u32,
    /// Payload, at most [`MAX_PAYLOAD`] bytes.
    pub payload: Bytes,
}

impl Frame {
    /// A frame; the payload must not exceed [`MAX_PAYLOAD`] (checked by [`Frame::encode`]).
    pub fn new(kind: Kind, channel: u32, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind,
            channel,
            payload: payload.into(),
        }
    }

    /// A window update granting `credit` bytes on `channel`.
    pub fn window(channel: u32, credit: u32) -> Frame {
        Frame::new(Kind::Window, channel, credit.to_be_bytes().to_vec())
    }

    /// Bytes this frame occupies on the wire.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Append the encoded frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), DecodeError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(DecodeError::Oversized(self.payload.len() as u64));
        }
        out.reserve(self.wire_len());
        out.put_u32(self.payload.len() as u32);
        out.put_u8(self.kind as u8);
        out.put_u32(self.channel);
        out.put_slice(&self.payload);
        Ok(())
    }
}

/// Why a byte stream is not a valid frame sequence. Each closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The hello does not start with the magic.
    #[error("not a relay protocol hello")]
    BadMagic,
    /// The peer speaks a version we do not.
    #[error("unsupported protocol version {0}")]
    Version(u16),
    /// A frame announces more than [`MAX_PAYLOAD`] bytes.
    #[error("frame of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    Oversized(u64),
    /// A frame kind we do not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
}

impl DecodeError {
    /// Stable code for logs and records.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::BadMagic => "bad_magic",
            DecodeError::Version(_) => "unsupported_version",
            DecodeError::Oversized(_) => "frame_too_large",
            DecodeError::UnknownKind(_) => "unknown_frame_kind",
        }
    }
}

/// Our hello.
pub fn hello() -> [u8; HELLO_LEN] {
    let mut h = [0u8; HELLO_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&VERSION.to_be_bytes());
    h
}

/// Parse a peer's hello: `Ok(None)` while fewer than [`HELLO_LEN`] bytes are there (but a wrong
/// magic prefix fails at once).
pub fn parse_hello(buf: &[u8]) -> Result<Option<u16>, DecodeError> {
    let n = buf.len().min(MAGIC.len());
    if buf[..n] != MAGIC[..n] {
        return Err(DecodeError::BadMagic);
    }
    if buf.len() < HELLO_LEN {
        return Ok(None);
    }
    let v = u16::from_be_bytes([buf[8], buf[9]]);
    if v != VERSION {
        return Err(DecodeError::Version(v));
    }
    Ok(Some(v))
}

/// Credit carried by a window frame's payload (`None` if it is not 4 bytes).
pub fn window_credit(payload: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(payload).ok().map(u32::from_be_bytes)
}

/// Incremental frame decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    _private: (),
}

impl Decoder {
    /// A decoder at a frame boundary.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Take one frame off the front of `buf`: `Ok(None)` if it is not complete yet (nothing
    /// consumed), an error if the header is invalid (the stream is then unusable).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(DecodeError::Oversized(len as u64));
        }
        let kind = Kind::from_u8(buf[4]).ok_or(DecodeError::UnknownKind(buf[4]))?;
        if buf.len() < HEADER_LEN + len {
            buf.reserve(HEADER_LEN + len - buf.len());
            return Ok(None);
        }
        let channel = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]);
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(len).freeze();
        Ok(Some(Frame {
            kind,
            channel,
            payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds() -> impl Strategy<Value = Kind> {
        (0u8..7).prop_map(|b| Kind::from_u8(b).expect("valid kind"))
    }

    fn frames() -> impl Strategy<Value = Frame> {
        (
            kinds(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(k, c, p)| Frame::new(k, c, p))
    }

    proptest! {
        #[test]
        fn round_trip(fs in proptest::collection::vec(frames(), 0..8)) {
            let mut buf = BytesMut::new();
            for f in &fs {
                f.encode(&mut buf).expect("encode");
            }
            let mut dec = Decoder::new();
            let mut out = Vec::new();
            while let Some(f) = dec.decode(&mut buf).expect("decode") {
                out.push(f);
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(out, fs);
        }

        #[test]
        fn every_truncation_needs_more(f in frames()) {
            let mut full = BytesMut::new();
            f.encode(&mut full).expect("encode");
            for cut in 0..full.len() {
                let mut part = BytesMut::from(&full[..cut]);
                prop_assert_eq!(Decoder::new().decode(&mut part), Ok(None));
                prop_assert_eq!(part.len(), cut, "nothing consumed");
            }
        }

        #[test]
        fn oversize_rejected_from_the_header(len in (MAX_PAYLOAD as u32 + 1)..=u32::MAX, k in 0u8..7) {
            let mut buf = BytesMut::new();
            buf.put_u32(len);
            buf.put_u8(k);
            buf.put_u32(7);
            prop_assert_eq!(Decoder::new().decode(&mut buf), Err(DecodeError::Oversized(len as u64)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            crate::proto::fuzz_decode(&data);
            let mut with_hello = hello().to_vec();
            with_hello.extend_from_slice(&data);
            crate::proto::fuzz_decode(&with_hello);
        }
    }

    #[test]
    fn hello_checks() {
        assert_eq!(parse_hello(&hello()), Ok(Some(VERSION)));
        assert_eq!(parse_hello(b"SESA"), Ok(None));
        assert_eq!(parse_hello(b"\x16\x03\x01"), Err(DecodeError::BadMagic));
        assert_eq!(
            parse_hello(b"SESAMERL\x00\x09"),
            Err(DecodeError::Version(9))
        );
    }

    #[test]
    fn limit_is_inclusive_and_encode_refuses_more() {
        let ok = Frame::new(Kind::Data, 1, vec![0u8; MAX_PAYLOAD]);
        let mut buf = BytesMut::new();
        ok.encode(&mut buf).expect("64 KiB fits");
        assert_eq!(Decoder::new().decode(&mut buf), Ok(Some(ok)));
        let big = Frame::new(Kind::Data, 1, vec![0u8; MAX_PAYLOAD + 1]);
        assert_eq!(
            big.encode(&mut BytesMut::new()),
            Err(DecodeError::Oversized(MAX_PAYLOAD as u64 + 1))
        );
    }

    #[test]
    fn unknown_kind_and_codes() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0, 42, 0, 0, 0, 1][..]);
        assert_eq!(
            Decoder::new().decode(&mut buf),
            Err(DecodeError::UnknownKind(42))
        );
        assert_eq!(DecodeError::Oversized(1).code(), "frame_too_large");
        assert_eq!(DecodeError::BadMagic.code(), "bad_magic");
        assert_eq!(DecodeError::Version(2).code(), "unsupported_version");
        assert_eq!(DecodeError::UnknownKind(9).code(), "unknown_frame_kind");
        assert_eq!(window_credit(&7u32.to_be_bytes()), Some(7));
        assert_eq!(window_credit(&[1, 2]), None);
    }
}
