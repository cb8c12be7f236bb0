//! Client side of the protocol, shared by the console and the customer: connect over TLS,
//! exchange hellos, and multiplex channels ([`Mux`], [`Channel`]) with flow control.
//!
//! - [`console`]: technician operations (login, keys, run, push/pull, forward, sharing, admin).
//! - [`customer`]: the customer's side (join, consent, PTY shell, files, forwarding).
//! - [`smartcard`]: smart-card sharing, both sides (PC/SC reader → channel → vpcd reader).

pub mod console;
pub mod customer;
mod pty;
pub mod smartcard;

use crate::conn::{self, ConnError, Outbound};
use crate::flow::{RecvWindow, SendWindow};
use crate::proto::control::ChannelKind;
use crate::proto::{Control, Frame, Kind, MAX_PAYLOAD};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network or TLS.
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    /// The connection failed.
    #[error("{0}")]
    Conn(#[from] ConnError),
    /// The relay refused (code and sentence from the relay).
    #[error("{message} ({code})")]
    Refused {
        /// Stable code.
        code: String,
        /// Sentence.
        message: String,
    },
    /// The relay closed the connection.
    #[error("the relay closed the connection")]
    Closed,
    /// An answer we did not expect.
    #[error("unexpected answer from the relay: {0}")]
    Unexpected(String),
    /// Local I/O (files, sockets).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The relay's refusal code, if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What a channel receives.
#[derive(Debug)]
pub enum ChanEvent {
    /// Data.
    Data(Bytes),
    /// The peer will send no more data.
    Eof,
    /// The channel closed (reason).
    Close(String),
    /// A control message about this channel (accept, refuse, exit, file result).
    Ctrl(Control),
}

#[derive(Debug)]
struct ChanEntry {
    tx: mpsc::UnboundedSender<ChanEvent>,
    win: SendWindow,
}

type Chans = Arc<Mutex<HashMap<u32, ChanEntry>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A multiplexed connection to the relay.
#[derive(Debug)]
pub struct Mux {
    out: Outbound,
    chans: Chans,
    ctrl: mpsc::UnboundedReceiver<Control>,
    next: AtomicU32,
}

/// Connect to the relay at `addr` (`host:port`), checking its certificate against `tls` for
/// `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Mux, ClientError> {
    let ce = |e: &dyn std::fmt::Display| ClientError::Connect(e.to_string());
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| ce(&e))?;
    let tcp = conn::BufferedTcp::new(tcp);
    let name =
        rustls_pki_types::ServerName::try_from(server_name.to_owned()).map_err(|e| ce(&e))?;
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| ce(&e))?;
    conn::exchange_hello(&mut s).await?;
    Ok(Mux::start(s))
}

impl Mux {
    /// Run the demultiplexer over an established stream.
    pub fn start<S>(s: S) -> Mux
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (mut reader, out, _writer) = conn::split(s, usize::MAX / 2);
        let chans: Chans = Arc::default();
        let (ctx, ctrl) = mpsc::unbounded_channel();
        let (o2, c2) = (out.clone(), chans.clone());
        tokio::spawn(async move {
            loop {
                let f = match reader.next(&o2).await {
                    Ok(Some(f)) => f,
                    Ok(None) | Err(_) => break,
                };
                match f.kind {
                    Kind::Control => {
                        let Ok(c) = Control::from_payload(&f.payload) else {
                            continue;
                        };
                        let ch = match &c {
                            Control::OpenOk { channel, .. }
                            | Control::OpenRefused { channel, .. }
                            | Control::Exit { channel, .. }
                            | Control::FileDone { channel, .. } => Some(*channel),
                            _ => None,
                        };
                        match ch.and_then(|id| lock(&c2).get(&id).map(|e| e.tx.clone())) {
                            Some(tx) => {
                                let _ = tx.send(ChanEvent::Ctrl(c));
                            }
                            None => {
                                let _ = ctx.send(c);
                            }
                        }
                    }
                    Kind::Window => {
                        if let (Some(e), Some(c)) = (
                            lock(&c2).get(&f.channel),
                            crate::proto::frame::window_credit(&f.payload),
                        ) {
                            e.win.grant(c);
                        }
                    }
                    Kind::Data | Kind::Eof | Kind::Close => {
                        let mut m = lock(&c2);
                        let ev = match f.kind {
                            Kind::Data => ChanEvent::Data(f.payload),
                            Kind::Eof => ChanEvent::Eof,
                            _ => ChanEvent::Close(String::from_utf8_lossy(&f.payload).into_owned()),
                        };
                        let closing = matches!(ev, ChanEvent::Close(_));
                        if let Some(e) = m.get(&f.channel) {
                            let _ = e.tx.send(ev);
                        }
                        if closing && let Some(e) = m.remove(&f.channel) {
                            e.win.close();
                        }
                    }
                    _ => {}
                }
            }
            o2.close();
            for (_, e) in lock(&c2).drain() {
                let _ = e.tx.send(ChanEvent::Close("connection closed".into()));
                e.win.close();
            }
        });
        Mux {
            out,
            chans,
            ctrl,
            next: AtomicU32::new(1),
        }
    }

    /// Send a control message.
    pub fn send(&self, c: &Control) -> Result<(), ClientError> {
        Ok(self.out.control(c)?)
    }

    /// The next control message not about a channel (events, chat, answers).
    pub async fn next_control(&mut self) -> Option<Control> {
        self.ctrl.recv().await
    }

    /// Send `c` and wait for its answer: the next control message that is not an event or a
    /// chat line (those are passed to `side`). `error` becomes [`ClientError::Refused`].
    pub async fn request_with(
        &mut self,
        c: &Control,
        mut side: impl FnMut(&Control),
    ) -> Result<Control, ClientError> {
        self.send(c)?;
        loop {
            match self.ctrl.recv().await {
                None => return Err(ClientError::Closed),
                Some(m @ (Control::Event { .. } | Control::Chat { .. })) => side(&m),
                Some(Control::Error { code, message }) => {
                    return Err(ClientError::Refused { code, message });
                }
                Some(m) => return Ok(m),
            }
        }
    }

    /// [`Mux::request_with`] ignoring events.
    pub async fn request(&mut self, c: &Control) -> Result<Control, ClientError> {
        self.request_with(c, |_| {}).await
    }

    /// Send `c` and expect `ok`: its body.
    pub async fn call(&mut self, c: &Control) -> Result<Value, ClientError> {
        match self.request(c).await? {
            Control::Ok { body } => Ok(body),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Register channel `id` (before the open is sent or accepted).
    pub fn channel(&self, id: u32, interactive: bool) -> Channel {
        let (tx, rx) = mpsc::unbounded_channel();
        let win = SendWindow::default();
        lock(&self.chans).insert(
            id,
            ChanEntry {
                tx,
                win: win.clone(),
            },
        );
        Channel {
            id,
            out: self.out.clone(),
            rx,
            win,
            recv: RecvWindow::default(),
            interactive,
        }
    }

    /// Open a channel of `kind` and wait until the customer accepts it: the channel and the
    /// acceptance's `info`.
    pub async fn open(
        &self,
        kind: ChannelKind,
        params: Value,
    ) -> Result<(Channel, Value), ClientError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut ch = self.channel(id, kind.interactive());
        self.send(&Control::Open {
            channel: id,
            kind,
            params,
        })?;
        loop {
            match ch.rx.recv().await {
                Some(ChanEvent::Ctrl(Control::OpenOk { info, .. })) => return Ok((ch, info)),
                Some(ChanEvent::Ctrl(Control::OpenRefused { reason, .. })) => {
                    lock(&self.chans).remove(&id);
                    let message = match reason.as_str() {
                        "declined" => "the customer declined".to_owned(),
                        "customer_not_present" => "the customer is not connected".to_owned(),
                        r => format!("the channel was refused: {r}"),
                    };
                    return Err(ClientError::Refused {
                        code: reason,
                        message,
                    });
                }
                Some(_) => continue,
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Close the connection (queued frames are sent first).
    pub fn close(&self) {
        self.out.close();
    }

    /// The outbound handle.
    pub fn outbound(&self) -> &Outbound {
        &self.out
    }
}

impl Drop for Mux {
    /// Dropping the multiplexer closes the connection (its tasks would otherwise keep it open).
    fn drop(&mut self) {
        self.out.close();
    }
}

/// One channel: send with flow control, receive with automatic window grants.
#[derive(Debug)]
pub struct Channel {
    /// Channel id.
    pub id: u32,
    out: Outbound,
    rx: mpsc::UnboundedReceiver<ChanEvent>,
    win: SendWindow,
    recv: RecvWindow,
    interactive: bool,
}

impl Channel {
    /// Send data (split into frames, waiting for window credit).
    pub async fn send(&self, mut data: &[u8]) -> Result<(), ClientError> {
        while !data.is_empty() {
            let n = data.len().min(MAX_PAYLOAD);
            if !self.win.take(n).await {
                return Err(ClientError::Closed);
            }
            self.out.send(
                Frame::new(Kind::Data, self.id, Bytes::copy_from_slice(&data[..n])),
                self.interactive,
            )?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Send owned data of at most [`MAX_PAYLOAD`] bytes without copying.
    pub async fn send_bytes(&self, data: Bytes) -> Result<(), ClientError> {
        if data.len() > MAX_PAYLOAD {
            return self.send(&data).await;
        }
        if !self.win.take(data.len()).await {
            return Err(ClientError::Closed);
        }
        self.out
            .send(Frame::new(Kind::Data, self.id, data), self.interactive)?;
        Ok(())
    }

    /// No more data from us.
    pub fn eof(&self) -> Result<(), ClientError> {
        Ok(self.out.send(
            Frame::new(Kind::Eof, self.id, Bytes::new()),
            self.interactive,
        )?)
    }

    /// Close the channel (queued behind its data).
    pub fn close(&self, reason: &str) {
        let _ = self.out.send(
            Frame::new(
                Kind::Close,
                self.id,
                Bytes::copy_from_slice(reason.as_bytes()),
            ),
            self.interactive,
        );
        self.win.close();
    }

    /// Send a control message about this channel.
    pub fn control(&self, c: &Control) -> Result<(), ClientError> {
        Ok(self.out.control(c)?)
    }

    /// Next event; data is acknowledged (window) as it is handed out.
    pub async fn recv(&mut self) -> Option<ChanEvent> {
        let ev = self.rx.recv().await?;
        if let ChanEvent::Data(d) = &ev
            && let Some(c) = self.recv.consumed(d.len())
        {
            let _ = self.out.send(Frame::window(self.id, c), true);
        }
        Some(ev)
    }

    /// Split into a sending half and a receiving half (for full-duplex pumps).
    pub fn split(self) -> (ChannelTx, ChannelRx) {
        (
            ChannelTx {
                id: self.id,
                out: self.out.clone(),
                win: self.win.clone(),
                interactive: self.interactive,
            },
            ChannelRx {
                id: self.id,
                out: self.out,
                rx: self.rx,
                recv: self.recv,
            },
        )
    }
}

/// Sending half of a channel.
#[derive(Debug, Clone)]
pub struct ChannelTx {
    id: u32,
    out: Outbound,
    win: SendWindow,
    interactive: bool,
}

impl ChannelTx {
    /// See [`Channel::send_bytes`].
    pub async fn send_bytes(&self, data: Bytes) -> Result<(), ClientError> {
        for chunk in data.chunks(MAX_PAYLOAD) {
            if !self.win.take(chunk.len()).await {
                return Err(ClientError::Closed);
            }
            self.out.send(
                Frame::new(Kind::Data, self.id, data.slice_ref(chunk)),
                self.interactive,
            )?;
        }
        Ok(())
    }

    /// No more data from us.
    pub fn eof(&self) {
        let _ = self.out.send(
            Frame::new(Kind::Eof, self.id, Bytes::new()),
            self.interactive,
        );
    }

    /// Close the channel (queued behind its data).
    pub fn close(&self, reason: &str) {
        let _ = self.out.send(
            Frame::new(
                Kind::Close,
                self.id,
                Bytes::copy_from_slice(reason.as_bytes()),
            ),
            self.interactive,
        );
        self.win.close();
    }

    /// Send a control message.
    pub fn control(&self, c: &Control) {
        let _ = self.out.control(c);
    }
}

/// Receiving half of a channel.
#[derive(Debug)]
pub struct ChannelRx {
    id: u32,
    out: Outbound,
    rx: mpsc::UnboundedReceiver<ChanEvent>,
    recv: RecvWindow,
}

impl ChannelRx {
    /// See [`Channel::recv`].
    pub async fn recv(&mut self) -> Option<ChanEvent> {
        let ev = self.rx.recv().await?;
        if let ChanEvent::Data(d) = &ev
            && let Some(c) = self.recv.consumed(d.len())
        {
            let _ = self.out.send(Frame::window(self.id, c), true);
        }
        Some(ev)
    }
}

/// Pump a TCP stream and a channel both ways until both directions end; closes the channel.
pub async fn pump_tcp(tcp: tokio::net::TcpStream, ch: Channel) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let (tx, mut rx) = ch.split();
    let tx2 = tx.clone();
    let up = async move {
        let mut buf = bytes::BytesMut::with_capacity(MAX_PAYLOAD);
        loop {
            buf.reserve(MAX_PAYLOAD);
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let chunk = buf.split().freeze();
                    if tx2.send_bytes(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
        tx2.eof();
    };
    let down = async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                ChanEvent::Data(d) => {
                    if wr.write_all(&d).await.is_err() {
                        return true;
                    }
                }
                ChanEvent::Eof => break,
                ChanEvent::Close(_) => return true,
                ChanEvent::Ctrl(_) => {}
            }
        }
        let _ = wr.shutdown().await;
        false
    };
    let up = tokio::spawn(up);
    if down.await {
        up.abort();
    } else {
        let _ = up.await;
    }
    tx.close("done");
}
