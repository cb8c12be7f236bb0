//! The thin async layer around the codec: TLS set-up, hello exchange, a frame reader and a
//! writer task with two queues (interactive ahead of bulk) and a cap on queued bytes.
//!
//! Flow control lives in the peers ([`crate::flow`]): a sender never has more than the window
//! in flight per channel, so a well-behaved peer never fills the cap; a peer that does is cut.

use crate::proto::frame::{self, Decoder, Frame, HELLO_LEN, Kind};
use bytes::BytesMut;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// Read buffer and write batch size: large buffers on the data path (8 KiB halves throughput).
pub const IO_BUF: usize = 128 * 1024;
/// A connection whose peer answers nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Keep-alive period.
pub const PING_EVERY: Duration = Duration::from_secs(20);

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Socket or TLS error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(#[from] frame::DecodeError),
    /// The peer sent nothing for [`IDLE_TIMEOUT`].
    #[error("peer idle for too long")]
    Idle,
    /// Our queue towards the peer is full: the peer does not read.
    #[error("peer does not read its data (queue full)")]
    Overloaded,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Exchange hellos on a fresh stream (we write first; both sides may).
pub async fn exchange_hello<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), ConnError> {
    s.write_all(&frame::hello()).await?;
    s.flush().await?;
    let mut buf = [0u8; HELLO_LEN];
    let mut got = 0;
    while got < HELLO_LEN {
        let n = s.read(&mut buf[got..]).await?;
        if n == 0 {
            return Err(ConnError::Closed);
        }
        got += n;
        frame::parse_hello(&buf[..got])?;
    }
    Ok(())
}

/// Reading side of a connection.
#[derive(Debug)]
pub struct FrameReader<S> {
    rd: ReadHalf<S>,
    buf: BytesMut,
    dec: Decoder,
}

impl<S: AsyncRead + AsyncWrite> FrameReader<S> {
    /// Next frame; `Ok(None)` at a clean end of stream. Pings are answered through `out`.
    pub async fn next(&mut self, out: &Outbound) -> Result<Option<Frame>, ConnError> {
        loop {
            if out.closer.is_closed() {
                return Err(ConnError::Closed);
            }
            if let Some(f) = self.dec.decode(&mut self.buf)? {
                match f.kind {
                    Kind::Ping => {
                        out.send(Frame::new(Kind::Pong, 0, f.payload), true)?;
                        continue;
                    }
                    Kind::Pong => continue,
                    _ => return Ok(Some(f)),
                }
            }
            if self.buf.capacity() - self.buf.len() < IO_BUF / 2 {
                self.buf.reserve(IO_BUF);
            }
            let n = tokio::select! {
                r = tokio::time::timeout(IDLE_TIMEOUT, self.rd.read_buf(&mut self.buf)) => r.map_err(|_| ConnError::Idle)??,
                _ = out.closer.closed() => return Err(ConnError::Closed),
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Closed)
                };
            }
        }
    }
}

/// Sending side: cheap to clone; frames go to the writer task.
#[derive(Debug, Clone)]
pub struct Outbound {
    hi: mpsc::UnboundedSender<Frame>,
    lo: mpsc::UnboundedSender<Frame>,
    queued: Arc<AtomicUsize>,
    cap: usize,
    closer: Closer,
}

/// A one-way "close now" signal shared by a connection's tasks.
#[derive(Debug, Clone, Default)]
pub struct Closer(Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl Closer {
    /// Ask every waiter to stop.
    pub fn close(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    /// Whether close was asked.
    pub fn is_closed(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }

    /// Resolves once close is asked.
    pub async fn closed(&self) {
        loop {
            let n = self.0.1.notified();
            if self.is_closed() {
                return;
            }
            n.await;
        }
    }
}

impl Outbound {
    /// Flush what is queued, then close the connection (reader and writer).
    pub fn close(&self) {
        self.closer.close();
    }

    /// The connection's close signal.
    pub fn closer(&self) -> &Closer {
        &self.closer
    }

    /// Queue a frame; `interactive` frames go ahead of bulk ones. Fails when the peer's queue
    /// holds more than the cap (the caller then closes the connection) or the writer is gone.
    pub fn send(&self, f: Frame, interactive: bool) -> Result<(), ConnError> {
        let len = f.wire_len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.cap {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(ConnError::Overloaded);
        }
        let q = if interactive { &self.hi } else { &self.lo };
        q.send(f).map_err(|_| ConnError::Closed)
    }

    /// Queue a control message.
    pub fn control(&self, c: &crate::proto::Control) -> Result<(), ConnError> {
        self.send(Frame::new(Kind::Control, 0, c.to_payload()), true)
    }

    /// Bytes waiting in the queues.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether the writer is gone.
    pub fn is_closed(&self) -> bool {
        self.hi.is_closed()
    }
}

/// Split a stream into a reader and a writer task; the task ends (and shuts the stream down)
/// when every [`Outbound`] clone is dropped.
pub fn split<S>(s: S, cap: usize) -> (FrameReader<S>, Outbound, tokio::task::JoinHandle<()>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(s);
    let (hi, hi_rx) = mpsc::unbounded_channel();
    let (lo, lo_rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let closer = Closer::default();
    let task = tokio::spawn(writer(wr, hi_rx, lo_rx, queued.clone(), closer.clone()));
    (
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(IO_BUF),
            dec: Decoder::new(),
        },
        Outbound {
            hi,
            lo,
            queued,
            cap,
            closer,
        },
        task,
    )
}

async fn writer<S: AsyncWrite>(
    mut wr: WriteHalf<S>,
    mut hi: mpsc::UnboundedReceiver<Frame>,
    mut lo: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<AtomicUsize>,
    closer: Closer,
) {
    let mut buf = BytesMut::with_capacity(IO_BUF);
    let mut hi_open = true;
    let mut lo_open = true;
    while hi_open || lo_open {
        let first = tokio::select! {
            biased;
            _ = closer.closed() => {
                // Send what is already queued (e.g. the final error), then stop.
                while let Ok(f) = hi.try_recv() {
                    let _ = f.encode(&mut buf);
                }
                let _ = wr.write_all(&buf).await;
                break;
            }
            f = hi.recv(), if hi_open => match f { Some(f) => f, None => { hi_open = false; continue } },
            f = lo.recv(), if lo_open => match f { Some(f) => f, None => { lo_open = false; continue } },
        };
        let add = |f: Frame, buf: &mut BytesMut| {
            queued.fetch_sub(f.wire_len(), Ordering::Relaxed);
            // Frames were checked against the limit when built; a bad one is dropped.
            let _ = f.encode(buf);
        };
        add(first, &mut buf);
        // Batch what is already waiting, interactive first, up to the batch size.
        while buf.len() < IO_BUF {
            if let Ok(f) = hi.try_recv() {
                add(f, &mut buf);
            } else if let Ok(f) = lo.try_recv() {
                add(f, &mut buf);
            } else {
                break;
            }
        }
        if wr.write_all(&buf).await.is_err() {
            break;
        }
        buf.clear();
        if hi.is_empty() && lo.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}
