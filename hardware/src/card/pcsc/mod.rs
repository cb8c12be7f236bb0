//! The PC/SC bridge: readers and cards through pcscd, on the `pcsc` crate (feature `pcsc`).
//!
//! - [`PcscContext::establish`] talks to pcscd (`SCARD_E_NO_SERVICE` → [`PcscError::NoService`]
//!   when it is not running); [`PcscContext::readers`] lists readers with their card's ATR.
//! - [`PcscContext::connect`] opens a reader's card ([`PcscCard`]): its ATR, [`PcscCard::transmit`]
//!   (one APDU inside its own PC/SC transaction), [`PcscCard::transaction`] (several APDUs no
//!   other program can interleave with), [`PcscCard::reset`]. A `PcscCard` is also a
//!   [`CardBackend`]: power on, power off and reset all reset the real card, so a remote
//!   program's power cycle clears the card's security state here too.
//! - [`ReaderWatcher`] reports cards inserted and removed, and readers plugged and unplugged
//!   (`SCardGetStatusChange`); a [`Canceller`] wakes a waiting watcher from another thread.
//!
//! All calls block. pcsc-lite serialises the calls made through one context (a transmit
//! holds the context's lock until the card answers), so give each independent actor its own
//! [`PcscContext`]: a card end forwarding into a vpcd reader must not share its context with
//! a program talking to that reader, or the two wait on each other for ever.
//!
//! Nothing here logs; APDU bytes go nowhere but the card.

use std::ffi::CString;
use std::fmt;
use std::time::Duration;

use ::pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use super::apdu::{CommandApdu, ResponseApdu};
use super::card_end::{BackendError, CardBackend};

mod watcher;

pub use watcher::{ReaderEvent, ReaderWatcher};

/// What went wrong talking to pcscd or a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcscError {
    /// pcscd is not running (or not reachable through its socket).
    #[error("the PC/SC service (pcscd) is not running")]
    NoService,
    /// No reader of that name.
    #[error("there is no reader named {0:?}")]
    UnknownReader(String),
    /// The reader is empty.
    #[error("there is no card in the reader")]
    NoCard,
    /// The card was taken out while in use.
    #[error("the card was removed")]
    CardRemoved,
    /// Another program holds the card exclusively.
    #[error("another program uses the card exclusively")]
    SharingViolation,
    /// A wait was cancelled through a [`Canceller`].
    #[error("the wait was cancelled")]
    Cancelled,
    /// Any other PC/SC failure, with the operation that failed.
    #[error("PC/SC {op} failed: {source}")]
    Other {
        /// The PC/SC call.
        op: &'static str,
        /// pcsc-lite's error.
        source: ::pcsc::Error,
    },
}

impl PcscError {
    fn from_pcsc(op: &'static str, e: ::pcsc::Error) -> Self {
        use ::pcsc::Error as E;
        match e {
            E::NoService | E::ServiceStopped => Self::NoService,
            E::NoSmartcard => Self::NoCard,
            E::RemovedCard => Self::CardRemoved,
            E::SharingViolation => Self::SharingViolation,
            E::Cancelled => Self::Cancelled,
            source => Self::Other { op, source },
        }
    }

    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoService => "pcsc_no_service",
            Self::UnknownReader(_) => "pcsc_unknown_reader",
            Self::NoCard => "pcsc_no_card",
            Self::CardRemoved => "pcsc_card_removed",
            Self::SharingViolation => "pcsc_sharing_violation",
            Self::Cancelled => "pcsc_cancelled",
            Self::Other { .. } => "pcsc_error",
        }
    }
}

/// One reader and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader's name, as PC/SC programs see it (e.g. `Virtual PCD 00 00`).
    pub name: String,
    /// The card's ATR, if a card is present.
    pub atr: Option<Vec<u8>>,
    /// Whether another program has the card open exclusively.
    pub exclusive: bool,
}

/// A connection to pcscd.
#[derive(Clone)]
pub struct PcscContext {
    ctx: Context,
}

impl fmt::Debug for PcscContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscContext").finish_non_exhaustive()
    }
}

fn present(state: State) -> bool {
    state.contains(State::PRESENT) && !state.contains(State::MUTE)
}

impl PcscContext {
    /// Connects to pcscd (user scope).
    pub fn establish() -> Result<Self, PcscError> {
        let ctx =
            Context::establish(Scope::User).map_err(|e| PcscError::from_pcsc("establish", e))?;
        Ok(Self { ctx })
    }

    /// The names of the readers pcscd knows (none is not an error).
    pub fn reader_names(&self) -> Result<Vec<String>, PcscError> {
        match self.ctx.list_readers_owned() {
            Ok(names) => Ok(names
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect()),
            Err(::pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => Err(PcscError::from_pcsc("list_readers", e)),
        }
    }

    /// Every reader, with its card's ATR.
    pub fn readers(&self) -> Result<Vec<ReaderInfo>, PcscError> {
        let names = self.reader_names()?;
        let mut states = reader_states(&names)?;
        if states.is_empty() {
            return Ok(Vec::new());
        }
        self.ctx
            .get_status_change(Duration::ZERO, &mut states)
            .map_err(|e| PcscError::from_pcsc("get_status_change", e))?;
        Ok(names
            .into_iter()
            .zip(&states)
            .map(|(name, s)| ReaderInfo {
                name,
                atr: present(s.event_state()).then(|| s.atr().to_vec()),
                exclusive: s.event_state().contains(State::EXCLUSIVE),
            })
            .collect())
    }

    /// Opens the card in `reader`, shared with other programs (they cannot interleave with a
    /// [`PcscCard::transaction`], though).
    pub fn connect(&self, reader: &str) -> Result<PcscCard, PcscError> {
        self.connect_with(reader, false)
    }

    /// Opens the card in `reader`, exclusively if `exclusive` (no other program can open it
    /// until this connection is dropped).
    pub fn connect_with(&self, reader: &str, exclusive: bool) -> Result<PcscCard, PcscError> {
        let name = CString::new(reader).map_err(|_| PcscError::UnknownReader(reader.into()))?;
        let mode = if exclusive {
            ShareMode::Exclusive
        } else {
            ShareMode::Shared
        };
        let card = self
            .ctx
            .connect(&name, mode, Protocols::ANY)
            .map_err(|e| match e {
                ::pcsc::Error::UnknownReader | ::pcsc::Error::ReaderUnavailable => {
                    PcscError::UnknownReader(reader.into())
                }
                e => PcscError::from_pcsc("connect", e),
            })?;
        let mut card = PcscCard {
            card,
            reader: reader.into(),
            mode,
            atr: Vec::new(),
            buf: vec![0; ::pcsc::MAX_BUFFER_SIZE_EXTENDED],
        };
        card.refresh_atr()?;
        Ok(card)
    }

    /// A watcher of the given readers (all current readers when `None`), which also notices
    /// readers plugged in later.
    pub fn watcher(&self, readers: Option<&[&str]>) -> Result<ReaderWatcher, PcscError> {
        ReaderWatcher::new(self.clone(), readers)
    }

    /// A handle that cancels this context's blocking waits from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            ctx: self.ctx.clone(),
        }
    }
}

fn reader_states(names: &[String]) -> Result<Vec<ReaderState>, PcscError> {
    names
        .iter()
        .map(|n| {
            CString::new(n.as_str())
                .map(|c| ReaderState::new(c, State::UNAWARE))
                .map_err(|_| PcscError::UnknownReader(n.clone()))
        })
        .collect()
}

/// Cancels a [`ReaderWatcher::wait`] blocked in another thread.
#[derive(Clone)]
pub struct Canceller {
    ctx: Context,
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller").finish_non_exhaustive()
    }
}

impl Canceller {
    /// Wakes the waits of the context with [`PcscError::Cancelled`].
    pub fn cancel(&self) -> Result<(), PcscError> {
        self.ctx
            .cancel()
            .map_err(|e| PcscError::from_pcsc("cancel", e))
    }
}

/// An open card. Dropping it resets the card (PC/SC's default disposition), so a PIN verified
/// through it does not stay verified.
pub struct PcscCard {
    card: ::pcsc::Card,
    reader: String,
    mode: ShareMode,
    atr: Vec<u8>,
    buf: Vec<u8>,
}

impl fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .field("atr", &format_args!("{}", hex(&self.atr)))
            .finish_non_exhaustive()
    }
}

/// Upper-case hex, for ATRs (public data).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl PcscCard {
    /// The reader the card is in.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's ATR (as of the connection or the last reset).
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn refresh_atr(&mut self) -> Result<(), PcscError> {
        let status = self
            .card
            .status2_owned()
            .map_err(|e| PcscError::from_pcsc("status", e))?;
        self.atr = status.atr().to_vec();
        Ok(())
    }

    /// Whether the card is still in the reader.
    pub fn is_present(&self) -> bool {
        self.card.status2_owned().is_ok()
    }

    /// Resets the card (warm reset) and reads its ATR again.
    pub fn reset(&mut self) -> Result<(), PcscError> {
        self.card
            .reconnect(self.mode, Protocols::ANY, Disposition::ResetCard)
            .map_err(|e| PcscError::from_pcsc("reconnect", e))?;
        self.refresh_atr()
    }

    /// Sends one APDU inside its own transaction and returns the response bytes. If another
    /// program reset the card since, reconnects (leaving the card as it is) and retries once.
    pub fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PcscError> {
        match self.transaction(|tx| tx.transmit(apdu)) {
            Err(PcscError::Other {
                source: ::pcsc::Error::ResetCard,
                ..
            }) => {
                self.card
                    .reconnect(self.mode, Protocols::ANY, Disposition::LeaveCard)
                    .map_err(|e| PcscError::from_pcsc("reconnect", e))?;
                self.refresh_atr()?;
                self.transaction(|tx| tx.transmit(apdu))?
            }
            other => other?,
        }
    }

    /// Runs `f` inside one PC/SC transaction: no other program's APDU comes between the
    /// APDUs `f` sends. Keep it short: other programs wait meanwhile.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut PcscTransaction<'_>) -> T,
    ) -> Result<T, PcscError> {
        let buf = &mut self.buf;
        let tx = self
            .card
            .transaction()
            .map_err(|e| PcscError::from_pcsc("begin_transaction", e))?;
        let mut scope = PcscTransaction { tx, buf };
        let out = f(&mut scope);
        scope
            .tx
            .end(Disposition::LeaveCard)
            .map_err(|(_, e)| PcscError::from_pcsc("end_transaction", e))?;
        Ok(out)
    }
}

/// APDUs sent inside one transaction ([`PcscCard::transaction`]).
pub struct PcscTransaction<'a> {
    tx: ::pcsc::Transaction<'a>,
    buf: &'a mut Vec<u8>,
}

impl fmt::Debug for PcscTransaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscTransaction").finish_non_exhaustive()
    }
}

impl PcscTransaction<'_> {
    /// Sends one APDU and returns the response bytes.
    pub fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PcscError> {
        self.tx
            .transmit(apdu, self.buf)
            .map(<[u8]>::to_vec)
            .map_err(|e| PcscError::from_pcsc("transmit", e))
    }
}

fn backend_error(e: PcscError) -> BackendError {
    match e {
        PcscError::NoCard | PcscError::CardRemoved => BackendError::CardRemoved,
        other => BackendError::Unreachable(other.to_string()),
    }
}

impl CardBackend for PcscCard {
    fn power_on(&mut self) -> Result<(), BackendError> {
        self.reset().map_err(backend_error)
    }
    fn power_off(&mut self) -> Result<(), BackendError> {
        self.reset().map_err(backend_error)
    }
    fn reset(&mut self) -> Result<(), BackendError> {
        PcscCard::reset(self).map_err(backend_error)
    }
    /// Asks pcscd each time (vpcd polls this a few times a second), so that a card pulled
    /// out here is reported as [`BackendError::CardRemoved`] at the next poll.
    fn atr(&mut self) -> Result<Vec<u8>, BackendError> {
        self.refresh_atr().map_err(backend_error)?;
        Ok(self.atr.clone())
    }
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, BackendError> {
        let bytes = PcscCard::transmit(self, &apdu.to_bytes()).map_err(backend_error)?;
        ResponseApdu::parse(&bytes)
            .map_err(|e| BackendError::Unreachable(format!("the card answered badly: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_mapping_are_stable() {
        use ::pcsc::Error as E;
        let all = [
            (
                PcscError::from_pcsc("establish", E::NoService),
                "pcsc_no_service",
            ),
            (
                PcscError::from_pcsc("connect", E::ServiceStopped),
                "pcsc_no_service",
            ),
            (PcscError::UnknownReader("x".into()), "pcsc_unknown_reader"),
            (
                PcscError::from_pcsc("connect", E::NoSmartcard),
                "pcsc_no_card",
            ),
            (
                PcscError::from_pcsc("transmit", E::RemovedCard),
                "pcsc_card_removed",
            ),
            (
                PcscError::from_pcsc("connect", E::SharingViolation),
                "pcsc_sharing_violation",
            ),
            (PcscError::from_pcsc("wait", E::Cancelled), "pcsc_cancelled"),
            (
                PcscError::from_pcsc("transmit", E::InvalidHandle),
                "pcsc_error",
            ),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code, "{err}");
        }
        assert_eq!(
            backend_error(PcscError::CardRemoved),
            BackendError::CardRemoved
        );
        assert_eq!(backend_error(PcscError::NoCard), BackendError::CardRemoved);
        assert!(matches!(
            backend_error(PcscError::NoService),
            BackendError::Unreachable(_)
        ));
        assert_eq!(hex(&[0x3B, 0x0A]), "3B0A");
    }
}
