//! The card end of a vpcd virtual reader: a blocking TCP loop that answers vpcd's messages by
//! calling a [`CardBackend`].
//!
//! Connecting inserts the card into the reader; closing the connection removes it (pcscd polls
//! the reader every 400 ms or so, so programs see the removal within a second). The protocol
//! itself is [`super::vpcd`]; this module adds only the socket.
//!
//! # Latency
//! vpcd writes a message's length and its body in two `send`s. With Nagle's algorithm on
//! vpcd's side, the body waits for our ACK of the length, and Linux delays that ACK by up to
//! 40 ms. So the card end sets `TCP_NODELAY` (for its own answers) and re-arms `TCP_QUICKACK`
//! after every read (the kernel clears it on its own: set once at connect, it made no
//! difference in a measurement here, 44 ms per APDU either way), which brings a round trip
//! from ~40 ms down to ~0.2 ms on loopback. [`CardEndOptions::without_latency_fixes`] turns both off, for
//! the benchmark that shows the difference.
//!
//! # Using it from async code
//! [`CardEnd::run`] blocks; run it on its own thread (`std::thread::spawn` or tokio's
//! `spawn_blocking`) and stop it from anywhere with a [`StopHandle`]. A backend that forwards
//! over the network can bridge to async code with channels (`tokio::sync::mpsc::Sender::blocking_send`
//! for the request, `oneshot::Receiver::blocking_recv` for the answer).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::apdu::{CommandApdu, ResponseApdu};
use super::status::StatusWord;
use super::vpcd::{self, VpcdError, VpcdRequest};

/// What a card end forwards vpcd's requests to: the emulator locally, the relay's channel to
/// the technician's real card remotely.
///
/// Every method may block. An `Err` ends the card end's run: the card leaves the reader.
pub trait CardBackend {
    /// vpcd powers the card on.
    fn power_on(&mut self) -> Result<(), BackendError>;
    /// vpcd powers the card off.
    fn power_off(&mut self) -> Result<(), BackendError>;
    /// vpcd resets the card.
    fn reset(&mut self) -> Result<(), BackendError>;
    /// The card's ATR (vpcd also polls this to see whether the card is still there).
    fn atr(&mut self) -> Result<Vec<u8>, BackendError>;
    /// Sends one command APDU to the card and returns its answer.
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, BackendError>;
}

impl<B: CardBackend + ?Sized> CardBackend for &mut B {
    fn power_on(&mut self) -> Result<(), BackendError> {
        (**self).power_on()
    }
    fn power_off(&mut self) -> Result<(), BackendError> {
        (**self).power_off()
    }
    fn reset(&mut self) -> Result<(), BackendError> {
        (**self).reset()
    }
    fn atr(&mut self) -> Result<Vec<u8>, BackendError> {
        (**self).atr()
    }
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, BackendError> {
        (**self).transmit(apdu)
    }
}

/// Why a backend cannot answer; the card end then removes the card from the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The card is no longer there (pulled out, or sharing stopped).
    #[error("the card was removed")]
    CardRemoved,
    /// The card cannot be reached (reader error, link to the technician lost). The text names
    /// the cause; it never holds APDU bytes.
    #[error("the card cannot be reached: {0}")]
    Unreachable(String),
}

/// Socket options of a card end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardEndOptions {
    /// Set `TCP_NODELAY`.
    pub nodelay: bool,
    /// Re-arm `TCP_QUICKACK` after every read (Linux only; ignored elsewhere).
    pub quickack: bool,
    /// How long to wait for vpcd to accept the connection.
    pub connect_timeout: Duration,
}

impl Default for CardEndOptions {
    fn default() -> Self {
        Self {
            nodelay: true,
            quickack: true,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl CardEndOptions {
    /// Neither `TCP_NODELAY` nor quick ACKs: each APDU then costs ~40 ms. For measurements only.
    pub fn without_latency_fixes() -> Self {
        Self {
            nodelay: false,
            quickack: false,
            ..Self::default()
        }
    }
}

/// Why a card end could not connect or went wrong on the socket.
#[derive(Debug, thiserror::Error)]
pub enum CardEndError {
    /// The address did not resolve to anything.
    #[error("the vpcd address resolves to nothing")]
    NoAddress,
    /// vpcd could not be reached (pcscd not running, wrong port).
    #[error("cannot connect to vpcd at {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// The connection failed while running (other than vpcd closing it, which is a normal end).
    #[error("the vpcd connection failed: {0}")]
    Io(#[from] io::Error),
}

/// How a card end's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// vpcd closed the connection (pcscd stopped, or it dropped the card).
    ReaderClosed,
    /// [`StopHandle::stop`] was called.
    Stopped,
    /// The backend failed; the card was taken out of the reader.
    Backend(BackendError),
}

/// What a run did: why it ended and counts for the audit (never contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Why the run ended.
    pub ended: Ended,
    /// Command APDUs answered (by the backend; malformed ones are counted apart).
    pub apdus: u64,
    /// Bytes of command APDUs received from vpcd.
    pub bytes_to_card: u64,
    /// Bytes of response APDUs sent back.
    pub bytes_from_card: u64,
    /// Malformed messages from vpcd (answered `6700` when vpcd waits for an answer).
    pub malformed: u64,
}

/// Stops a running [`CardEnd`] from another thread: the connection is shut down, so the card
/// leaves the reader.
#[derive(Debug)]
pub struct StopHandle {
    stream: TcpStream,
    stopped: Arc<AtomicBool>,
}

impl StopHandle {
    /// Stops the card end (idempotent).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Already closed is fine: the card is gone either way.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A connection to a vpcd reader, as its card.
#[derive(Debug)]
pub struct CardEnd {
    stream: TcpStream,
    options: CardEndOptions,
    stopped: Arc<AtomicBool>,
}

impl CardEnd {
    /// Connects to vpcd at `addr` (`127.0.0.1:35963` for the first reader): the card is then
    /// in the reader, and pcscd starts asking for its ATR.
    pub fn connect(
        addr: impl ToSocketAddrs,
        options: CardEndOptions,
    ) -> Result<Self, CardEndError> {
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| CardEndError::Connect {
                addr: "(address not resolved)".into(),
                source: e,
            })?
            .collect();
        let mut last = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, options.connect_timeout) {
                Ok(stream) => return Self::from_stream(stream, options),
                Err(e) => last = Some((a.to_string(), e)),
            }
        }
        Err(match last {
            Some((addr, source)) => CardEndError::Connect { addr, source },
            None => CardEndError::NoAddress,
        })
    }

    /// Wraps a connected stream (for callers that connect themselves).
    pub fn from_stream(stream: TcpStream, options: CardEndOptions) -> Result<Self, CardEndError> {
        stream.set_nodelay(options.nodelay)?;
        let card_end = Self {
            stream,
            options,
            stopped: Arc::new(AtomicBool::new(false)),
        };
        card_end.arm_quickack()?;
        Ok(card_end)
    }

    /// A handle that stops [`CardEnd::run`] from another thread.
    pub fn stop_handle(&self) -> Result<StopHandle, CardEndError> {
        Ok(StopHandle {
            stream: self.stream.try_clone()?,
            stopped: Arc::clone(&self.stopped),
        })
    }

    #[cfg(target_os = "linux")]
    fn arm_quickack(&self) -> io::Result<()> {
        if self.options.quickack {
            socket2::SockRef::from(&self.stream).set_tcp_quickack(true)?;
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn arm_quickack(&self) -> io::Result<()> {
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` if the stream ended first.
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Ok(false),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.arm_quickack()?;
        }
        Ok(true)
    }

    fn answer(&mut self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        if vpcd::encode_frame(payload, out).is_err() {
            // A response with more than 65 533 data bytes cannot cross vpcd: answer "no
            // precise diagnosis" rather than cut it.
            out.clear();
            vpcd::encode_frame(&StatusWord::UNKNOWN_ERROR.to_bytes(), out)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        self.stream.write_all(out)
    }

    /// Answers vpcd until it closes the connection, [`StopHandle::stop`] is called, or the
    /// backend fails. The connection is closed on return, so the card leaves the reader.
    pub fn run<B: CardBackend>(mut self, mut backend: B) -> Result<RunSummary, CardEndError> {
        let mut summary = RunSummary {
            ended: Ended::ReaderClosed,
            apdus: 0,
            bytes_to_card: 0,
            bytes_from_card: 0,
            malformed: 0,
        };
        let mut payload = Vec::with_capacity(512);
        let mut out = Vec::with_capacity(512);
        let result = loop {
            let mut header = [0u8; 2];
            let read = self.read_full(&mut header).and_then(|complete| {
                if !complete {
                    return Ok(false);
                }
                payload.resize(vpcd::payload_len(header), 0);
                self.read_full(&mut payload)
            });
            match read {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(_) if self.stopped.load(Ordering::SeqCst) => break Ok(()),
                Err(e) if is_disconnect(&e) => break Ok(()),
                Err(e) => break Err(e),
            }
            let outcome = match VpcdRequest::parse(&payload) {
                Ok(VpcdRequest::PowerOff) => backend.power_off().map(|()| None),
                Ok(VpcdRequest::PowerOn) => backend.power_on().map(|()| None),
                Ok(VpcdRequest::Reset) => backend.reset().map(|()| None),
                Ok(VpcdRequest::GetAtr) => backend.atr().map(Some),
                Ok(VpcdRequest::Apdu(apdu)) => {
                    summary.bytes_to_card += payload.len() as u64;
                    backend.transmit(&apdu).map(|resp| {
                        summary.apdus += 1;
                        let bytes = resp.to_bytes();
                        summary.bytes_from_card += bytes.len() as u64;
                        Some(bytes)
                    })
                }
                Err(VpcdError::BadApdu(_)) => {
                    summary.malformed += 1;
                    Ok(Some(StatusWord::WRONG_LENGTH.to_bytes().to_vec()))
                }
                Err(_) => {
                    // No known message: vpcd waits for nothing we could give.
                    summary.malformed += 1;
                    Ok(None)
                }
            };
            match outcome {
                Ok(Some(answer)) => {
                    if let Err(e) = self.answer(&answer, &mut out) {
                        if self.stopped.load(Ordering::SeqCst) || is_disconnect(&e) {
                            break Ok(());
                        }
                        break Err(e);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    summary.ended = Ended::Backend(e);
                    break Ok(());
                }
            }
        };
        let _ = self.stream.shutdown(Shutdown::Both);
        result?;
        if self.stopped.load(Ordering::SeqCst) && summary.ended == Ended::ReaderClosed {
            summary.ended = Ended::Stopped;
        }
        Ok(summary)
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}
