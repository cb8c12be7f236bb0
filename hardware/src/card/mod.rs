//! The smart-card side of Sesame's card forwarding (issue 9): APDUs, the vpcd reader protocol,
//! the card end of a vpcd reader, a PC/SC bridge, and a software card.
//!
//! Forwarding works at the reader level. On the technician's machine a real card sits in a
//! real reader, reached through PC/SC ([`pcsc`], feature `pcsc`). On the customer's machine
//! pcscd runs the vpcd driver (Debian `vsmartcard-vpcd`), whose virtual readers
//! `Virtual PCD 00 00` and `Virtual PCD 00 01` wait on TCP ports 35963 and 35964 for a card to
//! connect; our [`card_end`] connects as that card and answers vpcd's requests through a
//! [`CardBackend`]. Between the two, the relay carries APDUs; this module holds no network
//! code beyond the local vpcd socket.
//!
//! # What it is not
//! No relay channel, no logging, no audit: the relay does those. Nothing here logs or
//! formats APDU data (`Debug` of [`CommandApdu`] and [`ResponseApdu`] shows lengths only),
//! because VERIFY and CHANGE REFERENCE DATA carry PINs.
//!
//! # Modules
//! | module | holds |
//! |---|---|
//! | [`apdu`], [`status`] | command/response APDUs (cases 1, 2S–4S, 2E–4E), strict parser, encoder; status words |
//! | [`vpcd`] | vpcd's framing and messages, sans I/O |
//! | [`card_end`] | the blocking TCP loop of a vpcd card end, [`CardBackend`], [`StopHandle`] |
//! | [`emulator`] | a deterministic ISO 7816 card with a PIN, a hidden key and a file |
//! | [`pcsc`] | readers, cards, transactions and insert/remove events through pcscd |
//!
//! # For the relay (how the pieces fit)
//! **Technician side** (`support-console smartcard readers|share`):
//! 1. [`pcsc::PcscContext::establish`], then [`pcsc::PcscContext::readers`] to list readers
//!    and the ATR of each card.
//! 2. [`pcsc::PcscContext::connect`] the reader the technician named (only that one). Its
//!    [`pcsc::PcscCard::atr`] goes to the customer side (and into the audit).
//! 3. For each APDU from the channel: [`CommandApdu::parse`] (refuse what does not parse:
//!    that closes the channel), [`pcsc::PcscCard::transmit`] (one PC/SC transaction per APDU;
//!    [`pcsc::PcscCard::transaction`] for a batch), send the response back. Power on, power
//!    off and reset requests: [`pcsc::PcscCard::reset`]. `PcscCard` is itself a
//!    [`CardBackend`], which does exactly this.
//! 4. Pulled cards: a [`pcsc::ReaderWatcher`] on that reader reports
//!    [`pcsc::ReaderEvent::CardRemoved`]; `transmit` also fails with
//!    [`pcsc::PcscError::CardRemoved`]. Either way, end the channel.
//!
//! **Customer side** (`support-customer --vpcd HOST:PORT`):
//! 1. Implement [`CardBackend`] by forwarding over the channel: `atr` answers from the ATR
//!    the technician sent (no round trip: vpcd polls it several times a second), `transmit`
//!    sends the APDU and waits for the answer, `power_*`/`reset` send a reset request.
//!    Return [`BackendError::CardRemoved`] once the channel has ended.
//! 2. [`CardEnd::connect`] to vpcd (`127.0.0.1:35963` by default: [`vpcd::DEFAULT_PORT`]),
//!    keep a [`CardEnd::stop_handle`], and [`CardEnd::run`] on a blocking thread. The card
//!    is in the customer's reader while `run` runs.
//! 3. To take the card out (sharing stopped, session over): [`StopHandle::stop`]. pcscd
//!    notices on its next poll (within a second). `stop` does not interrupt a backend call
//!    in progress: make the backend's pending `transmit` return
//!    [`BackendError::CardRemoved`] too. `run` returns a [`RunSummary`] with APDU and byte
//!    counts for the audit.
//! 4. Sharing again on the same vpcd port: a new card end may connect at once. vpcd sees the
//!    old connection closed on its next poll and takes the new one on the poll after (seen
//!    here: removal reported after 0.4 s, insertion after 0.8 s); programs holding the old
//!    card get "card removed" and must reconnect. Until that first poll, pcscd still shows
//!    the old card: to know the new card is in, wait for its insertion event
//!    ([`pcsc::ReaderWatcher`]), not merely for a card in the reader.
//!
//! Tests and benchmarks use [`emulator::EmulatedCard`] as the technician's card, in a vpcd
//! reader of its own through a second [`CardEnd`].

pub mod apdu;
pub mod card_end;
pub mod emulator;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod status;
pub mod vpcd;

pub use apdu::{ApduError, Case, CommandApdu, ResponseApdu};
pub use card_end::{
    BackendError, CardBackend, CardEnd, CardEndError, CardEndOptions, Ended, RunSummary, StopHandle,
};
pub use status::StatusWord;
pub use vpcd::{VpcdError, VpcdRequest};
