//! The thin async layer around the codec: TLS set-up, hello exchange, a frame reader and a
//! writer task with two queues (interactive ahead of bulk) and a cap on queued bytes.
//!
//! Flow control lives in the peers ([`crate::flow`]): a sender never has more than the window
//! in flight per channel, so a well-behaved peer never fills the cap; a peer that does is cut.
//!
//! The data path is built for throughput and small idle memory (measured by
//! `benches/relay.rs`): the socket under TLS is a [`BufferedTcp`] (rustls reads at most 4 KiB
//! per call; this turns those into one 64 KiB socket read, and holds no buffer while idle); the
//! reader's buffer is small while a connection is quiet and grows to [`IO_BUF`] while data
//! streams; the writer hands queued frames to TLS with vectored writes (no copy into a batch
//! buffer; rustls coalesces them into full records) and flushes once per batch; keep-alives and
//! the idle cut are one timer in the reader, not a task per connection.

use crate::proto::frame::{self, Decoder, Frame, HEADER_LEN, HELLO_LEN, Kind};
use bytes::BytesMut;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Read buffer and write batch size: large buffers on the data path (8 KiB halves throughput).
pub const IO_BUF: usize = 128 * 1024;
/// The reader's buffer while a connection is quiet.
const SMALL_BUF: usize = 4 * 1024;
/// One socket read under TLS.
const SOCKET_READ: usize = 64 * 1024;
/// Frames handed to TLS in one vectored write, at most.
const MAX_SLICES: usize = 64;
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
    /// The last read was large: keep a large buffer.
    streaming: bool,
    last_rx: Instant,
    last_ping: Instant,
    /// Send pings on a quiet connection (the relay does; clients answer).
    ping: bool,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<S: AsyncRead + AsyncWrite> FrameReader<S> {
    /// Send a ping when nothing was received for [`PING_EVERY`] (the relay's side).
    pub fn with_keepalive(mut self) -> Self {
        self.ping = true;
        self.timer
            .as_mut()
            .reset(Instant::now() + PING_EVERY.min(IDLE_TIMEOUT));
        self
    }

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
            self.prepare_buf();
            let n = tokio::select! {
                r = self.rd.read_buf(&mut self.buf) => r?,
                _ = self.timer.as_mut() => {
                    self.tick(out)?;
                    continue;
                }
                _ = out.closer.closed() => return Err(ConnError::Closed),
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Closed)
                };
            }
            self.last_rx = Instant::now();
            self.streaming = n >= SMALL_BUF;
        }
    }

    /// Room for the next read: [`IO_BUF`] while data streams, a small buffer (the large one
    /// released) while the connection is quiet.
    fn prepare_buf(&mut self) {
        let spare = self.buf.capacity() - self.buf.len();
        if self.streaming {
            if spare < IO_BUF / 2 {
                self.buf.reserve(IO_BUF);
            }
        } else if self.buf.is_empty() && self.buf.capacity() > 2 * SMALL_BUF {
            self.buf = BytesMut::with_capacity(SMALL_BUF);
        } else if spare < SMALL_BUF / 4 {
            self.buf.reserve(SMALL_BUF);
        }
    }

    /// The keep-alive timer fired: cut an idle peer, ping a quiet one, re-arm.
    fn tick(&mut self, out: &Outbound) -> Result<(), ConnError> {
        let now = Instant::now();
        if now.duration_since(self.last_rx) >= IDLE_TIMEOUT {
            return Err(ConnError::Idle);
        }
        let mut next = self.last_rx + IDLE_TIMEOUT;
        if self.ping {
            let quiet = now.duration_since(self.last_rx) >= PING_EVERY;
            if quiet && now.duration_since(self.last_ping) >= PING_EVERY {
                out.send(Frame::new(Kind::Ping, 0, vec![0u8; 8]), true)?;
                self.last_ping = now;
            }
            let due = self.last_rx.max(self.last_ping) + PING_EVERY;
            next = next.min(due.max(now + Duration::from_millis(10)));
        }
        self.timer.as_mut().reset(next);
        Ok(())
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
            buf: BytesMut::new(),
            dec: Decoder::new(),
            streaming: false,
            last_rx: Instant::now(),
            last_ping: Instant::now(),
            ping: false,
            timer: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
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

/// A frame's 9-byte header.
fn header(f: &Frame) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(f.payload.len() as u32).to_be_bytes());
    h[4] = f.kind as u8;
    h[5..].copy_from_slice(&f.channel.to_be_bytes());
    h
}

/// Write a batch of frames with vectored writes (headers and payloads as they are).
async fn write_batch<W: AsyncWrite + Unpin>(
    wr: &mut W,
    batch: &[([u8; HEADER_LEN], Frame)],
) -> std::io::Result<()> {
    let (mut i, mut off) = (0usize, 0usize);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 * batch.len().min(MAX_SLICES));
    while i < batch.len() {
        slices.clear();
        for (k, (h, f)) in batch[i..].iter().enumerate() {
            let o = if k == 0 { off } else { 0 };
            if o < HEADER_LEN {
                slices.push(IoSlice::new(&h[o..]));
                slices.push(IoSlice::new(&f.payload));
            } else {
                slices.push(IoSlice::new(&f.payload[o - HEADER_LEN..]));
            }
        }
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 && i < batch.len() {
            let left = HEADER_LEN + batch[i].1.payload.len() - off;
            if n >= left {
                n -= left;
                i += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(())
}

async fn writer<S: AsyncWrite>(
    mut wr: WriteHalf<S>,
    mut hi: mpsc::UnboundedReceiver<Frame>,
    mut lo: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<AtomicUsize>,
    closer: Closer,
) {
    let mut batch: Vec<([u8; HEADER_LEN], Frame)> = Vec::new();
    let add = |f: Frame, batch: &mut Vec<([u8; HEADER_LEN], Frame)>, bytes: &mut usize| {
        queued.fetch_sub(f.wire_len(), Ordering::Relaxed);
        // Frames are checked against the limit when built; a bad one is dropped.
        if f.payload.len() <= frame::MAX_PAYLOAD {
            *bytes += f.wire_len();
            batch.push((header(&f), f));
        }
    };
    let mut hi_open = true;
    let mut lo_open = true;
    while hi_open || lo_open {
        let mut bytes = 0usize;
        let first = tokio::select! {
            biased;
            _ = closer.closed() => {
                // Send what is already queued (e.g. the final error), then stop.
                while let Ok(f) = hi.try_recv() {
                    add(f, &mut batch, &mut bytes);
                }
                let _ = write_batch(&mut wr, &batch).await;
                break;
            }
            f = hi.recv(), if hi_open => match f { Some(f) => f, None => { hi_open = false; continue } },
            f = lo.recv(), if lo_open => match f { Some(f) => f, None => { lo_open = false; continue } },
        };
        add(first, &mut batch, &mut bytes);
        // Batch what is already waiting, interactive first, up to the batch size.
        while bytes < IO_BUF && batch.len() < MAX_SLICES {
            if let Ok(f) = hi.try_recv() {
                add(f, &mut batch, &mut bytes);
            } else if let Ok(f) = lo.try_recv() {
                add(f, &mut batch, &mut bytes);
            } else {
                break;
            }
        }
        if write_batch(&mut wr, &batch).await.is_err() {
            break;
        }
        batch.clear();
        if hi.is_empty() && lo.is_empty() {
            if wr.flush().await.is_err() {
                break;
            }
            // Quiet: give the batch's memory back.
            batch = Vec::new();
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// A TCP stream for under TLS. rustls asks its socket for at most 4 KiB per read; this serves
/// those reads from one large socket read ([`SOCKET_READ`]) while data streams, reads straight
/// into the caller's buffer when it is large enough or the connection is quiet, and holds no
/// buffer at all while the connection is quiet (allocating 64 KiB per handshake or control
/// message left the allocator's heap fragmented, resident memory per idle connection). Writes
/// pass through.
#[derive(Debug)]
pub struct BufferedTcp {
    io: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    streaming: bool,
}

impl BufferedTcp {
    /// Wrap a connected socket (TCP_NODELAY is set: frames are batched already).
    pub fn new(io: TcpStream) -> BufferedTcp {
        let _ = io.set_nodelay(true);
        BufferedTcp {
            io,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            streaming: false,
        }
    }
}

impl AsyncRead for BufferedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        loop {
            if me.pos < me.end {
                let k = (me.end - me.pos).min(out.remaining());
                out.put_slice(&me.buf[me.pos..me.pos + k]);
                me.pos += k;
                if me.pos == me.end {
                    (me.pos, me.end) = (0, 0);
                    if !me.streaming {
                        me.buf = Vec::new();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if out.remaining() >= SOCKET_READ || !me.streaming {
                // Large reads, and quiet connections (handshakes, control messages), read
                // straight into the caller's buffer: no 64 KiB buffer is touched for them. A
                // read that fills the caller's buffer says data streams: buffer from then on.
                let before = out.filled().len();
                ready!(Pin::new(&mut me.io).poll_read(cx, out))?;
                if out.filled().len() > before && out.remaining() == 0 {
                    me.streaming = true;
                }
                return Poll::Ready(Ok(()));
            }
            ready!(me.io.poll_read_ready(cx))?;
            if me.buf.is_empty() {
                me.buf = vec![0u8; SOCKET_READ];
            }
            match me.io.try_read(&mut me.buf) {
                Ok(0) => {
                    me.buf = Vec::new();
                    return Poll::Ready(Ok(()));
                }
                Ok(n) => {
                    (me.pos, me.end) = (0, n);
                    me.streaming = n > SOCKET_READ / 4;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for BufferedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Read `n` frames from `r`.
    async fn frames<R: AsyncRead + Unpin>(r: &mut R, n: usize) -> Vec<Frame> {
        let (mut buf, mut dec, mut out) = (BytesMut::new(), Decoder::new(), Vec::new());
        while out.len() < n {
            while let Some(f) = dec.decode(&mut buf).expect("valid frames") {
                out.push(f);
            }
            if out.len() < n {
                buf.reserve(64 * 1024);
                assert!(r.read_buf(&mut buf).await.expect("read") > 0, "eof");
            }
        }
        out
    }

    /// A shell keystroke queued while a large file transfer is under way (the writer blocked
    /// on a full pipe, 40 file frames waiting) is written ahead of nearly all of them.
    #[tokio::test]
    async fn interactive_frames_overtake_queued_bulk() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let (_rd, out, _task) = split(a, usize::MAX / 2);
        for i in 0..40u8 {
            out.send(Frame::new(Kind::Data, 1, vec![i; 64 * 1024]), false)
                .expect("queued");
        }
        // Let the writer take its first batch and block on the full pipe.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            out.queued() < 40 * (64 * 1024 + HEADER_LEN),
            "writer started"
        );
        out.send(Frame::new(Kind::Data, 2, &b"ls\n"[..]), true)
            .expect("queued");
        let got = frames(&mut b, 41).await;
        let at = got
            .iter()
            .position(|f| f.channel == 2)
            .expect("shell frame");
        assert!(at <= 3, "shell frame behind {at} file frames");
        // The file's own frames keep their order.
        let file: Vec<u8> = got
            .iter()
            .filter(|f| f.channel == 1)
            .map(|f| f.payload[0])
            .collect();
        assert_eq!(file, (0..40).collect::<Vec<u8>>());
    }

    /// Reads under TLS come from one large socket read, and no buffer is held while quiet.
    #[tokio::test]
    async fn buffered_tcp_serves_small_reads_and_releases_its_buffer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        let mut c = c.expect("connect");
        let mut s = BufferedTcp::new(s.expect("accept").0);
        c.write_all(&vec![7u8; 100_000]).await.expect("write");
        let mut got = 0;
        let mut small = [0u8; 4096];
        while got < 100_000 {
            let n = s.read(&mut small).await.expect("read");
            assert!(n > 0);
            assert!(small[..n].iter().all(|&b| b == 7));
            got += n;
        }
        // Quiet now: a small write, fully read, leaves no buffer behind.
        c.write_all(b"x").await.expect("write");
        let n = s.read(&mut small).await.expect("read");
        assert_eq!(&small[..n], b"x");
        assert_eq!(s.buf.capacity(), 0, "buffer released when quiet");
        drop(c);
        assert_eq!(s.read(&mut small).await.expect("eof"), 0);
    }
}
