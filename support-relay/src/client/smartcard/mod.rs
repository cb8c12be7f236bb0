//! Smart-card forwarding over a `smartcard` channel (issue 9), both ends.
//!
//! - [`share`] (technician, `support-console smartcard share`): opens the channel for one named
//!   reader, then answers the customer's APDUs with the real card through PC/SC — each APDU in
//!   its own PC/SC transaction, every PC/SC call on a dedicated thread, never on the async
//!   workers — until stopped, the card is pulled, or the session ends. [`readers`] lists the
//!   local readers (`support-console smartcard readers`).
//! - [`serve`] (customer, `support-customer --vpcd`): once the technician's card is present,
//!   connects to the local vpcd reader as that card ([`sesame_hardware::card::CardEnd`] on a
//!   blocking thread) and forwards what the customer's programs send; vpcd's power on, power off
//!   and reset become a `reset` of the real card. When the channel ends the vpcd connection is
//!   closed, so the card leaves the customer's reader.
//!
//! The wire format is [`crate::proto::smartcard`]. Nothing here logs or prints APDU bytes.
//! It is not the card side itself (APDUs, vpcd, PC/SC live in `sesame-hardware`).

mod card;
mod share;

pub use card::{DEFAULT_VPCD, serve};
pub use share::{ReaderLine, ShareEnd, ShareReport, readers, share};

use super::{ChanEvent, Channel, ClientError};
use crate::proto::smartcard::{Decoder, Direction, Message, ScError};
use bytes::BytesMut;

/// What a [`Link`] received.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A whole message.
    Msg(Message),
    /// The channel closed (reason).
    Closed(String),
}

/// A channel speaking smart-card messages: encodes what it sends, decodes what it receives.
#[derive(Debug)]
pub(crate) struct Link {
    ch: Channel,
    dec: Decoder,
    buf: BytesMut,
}

impl Link {
    /// `peer` is the side whose messages this link receives.
    pub(crate) fn new(ch: Channel, peer: Direction) -> Link {
        Link {
            ch,
            dec: Decoder::new(peer),
            buf: BytesMut::new(),
        }
    }

    pub(crate) async fn send(&self, m: &Message) -> Result<(), ClientError> {
        let bytes = m
            .to_bytes()
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.ch.send(&bytes).await
    }

    /// The next message; a message that breaks the rules is an error (close the channel).
    /// Cancel-safe: bytes already received stay buffered.
    pub(crate) async fn recv(&mut self) -> Result<Incoming, ScError> {
        loop {
            if let Some(m) = self.dec.decode(&mut self.buf)? {
                return Ok(Incoming::Msg(m));
            }
            match self.ch.recv().await {
                Some(ChanEvent::Data(d)) => self.buf.extend_from_slice(&d),
                Some(ChanEvent::Ctrl(_)) => {}
                Some(ChanEvent::Eof) => {
                    self.dec.finish(&self.buf)?;
                    return Ok(Incoming::Closed("eof".into()));
                }
                Some(ChanEvent::Close(r)) => return Ok(Incoming::Closed(r)),
                None => return Ok(Incoming::Closed("connection closed".into())),
            }
        }
    }

    /// Send `end` (best effort) and close the channel with `reason`.
    pub(crate) async fn end(&self, reason: &str) {
        let _ = self.send(&Message::end(reason)).await;
        self.ch.close(reason);
    }

    /// Close the channel without an `end` (after a refusal).
    pub(crate) fn close(&self, reason: &str) {
        self.ch.close(reason);
    }
}
