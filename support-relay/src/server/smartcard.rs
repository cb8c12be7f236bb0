//! The relay's part in a `smartcard` channel: check every message as it passes (both
//! directions, [`crate::proto::smartcard::Scanner`]), count APDUs and bytes, and write the audit
//! entry when the channel ends — who shared which reader, the card's ATR, the APDU count and the
//! bytes each way. APDU bodies are never kept, logged or recorded (VERIFY carries PINs).
//!
//! A message that breaks the channel's rules (oversized, malformed, wrong direction) closes that
//! channel only: [`super::session::Session`] sends a close frame with the refusal's code to both
//! sides and drops the route; the connections and the session go on.

use crate::proto::smartcard::{Direction, ScError, Scanner};
use serde_json::{Value, json};

/// Per-channel state kept by the relay.
#[derive(Debug)]
pub(crate) struct Audit {
    by: String,
    reader: String,
    from_card: Scanner,
    to_card: Scanner,
}

impl Audit {
    pub(crate) fn new(by: &str, params: &Value) -> Audit {
        Audit {
            by: by.to_owned(),
            reader: crate::proto::smartcard::reader_name(params),
            from_card: Scanner::new(Direction::FromCard),
            to_card: Scanner::new(Direction::ToCard),
        }
    }

    /// Data from the technician's side (the card's).
    pub(crate) fn tech_data(&mut self, data: &[u8]) -> Result<(), ScError> {
        self.from_card.feed(data)
    }

    /// Data from the customer's side.
    pub(crate) fn customer_data(&mut self, data: &[u8]) -> Result<(), ScError> {
        self.to_card.feed(data)
    }

    /// The record entry written when the channel ends.
    pub(crate) fn summary(&self, channel: u32, ended_by: &str) -> Value {
        let up = &self.to_card.counts;
        let down = &self.from_card.counts;
        json!({
            "channel": channel,
            "by": self.by,
            "reader": self.reader,
            "atr": down.atr.as_deref().map(hex),
            "apdus": up.commands,
            "responses": down.responses,
            "bytes_to_card": up.command_bytes,
            "bytes_from_card": down.response_bytes,
            "resets": up.resets,
            "card_removed": down.removals > 0,
            "ended_by": ended_by,
        })
    }
}

/// Upper-case hex (ATRs are public).
fn hex(b: &[u8]) -> String {
    data_encoding::HEXUPPER.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::smartcard::Message;

    #[test]
    fn counts_without_contents() {
        let mut a = Audit::new("tom", &json!({"reader": "Virtual PCD 00 00\n"}));
        let atr = Message::Present(vec![0x3B, 0x02, 0x14, 0x50])
            .to_bytes()
            .expect("atr");
        a.tech_data(&atr).expect("atr passes");
        let verify = Message::Command(b"\x00\x20\x00\x81\x06SECRET".to_vec())
            .to_bytes()
            .expect("cmd");
        a.customer_data(&verify).expect("command passes");
        let resp = Message::Response(vec![0x90, 0]).to_bytes().expect("resp");
        a.tech_data(&resp).expect("response passes");
        let s = a.summary(3, "technician");
        assert_eq!(s["reader"], "Virtual PCD 00 00");
        assert_eq!(s["atr"], "3B021450");
        assert_eq!(s["apdus"], 1);
        assert_eq!(s["bytes_to_card"], 11);
        assert_eq!(s["bytes_from_card"], 2);
        assert!(!s.to_string().contains("SECRET"));
        // A command from the card's side is refused.
        assert!(a.tech_data(&verify).is_err());
    }
}
