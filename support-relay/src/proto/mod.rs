//! The relay wire protocol, sans IO: bytes in, values out. Nothing here touches a socket.
//!
//! - [`frame`]: the versioned hello and the length-prefixed frame codec (channel id, kind, hard
//!   payload limit) — [`frame::Decoder`] is incremental (`Ok(None)` = need more bytes).
//! - [`control`]: the JSON control messages carried in [`frame::Kind::Control`] frames.
//!
//! The full description, with the flow-control rules, is `support-relay/PROTOCOL.md`.

pub mod control;
pub mod frame;
pub mod smartcard;

pub use control::Control;
pub use frame::{DecodeError, Decoder, Frame, HELLO_LEN, Kind, MAX_PAYLOAD, VERSION};

/// Fuzzing and hostile-input entry point: feed `data` to a fresh decoder (hello first, then
/// frames) and decode every control payload, until an error or the data runs out. Never panics.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let Ok(Some(_)) = frame::parse_hello(data) else {
        return;
    };
    let mut dec = Decoder::new();
    let mut buf = bytes::BytesMut::from(&data[HELLO_LEN.min(data.len())..]);
    while let Ok(Some(f)) = dec.decode(&mut buf) {
        if f.kind == Kind::Control {
            let _ = Control::from_payload(&f.payload);
        }
        if f.kind == Kind::Window {
            let _ = frame::window_credit(&f.payload);
        }
    }
}
