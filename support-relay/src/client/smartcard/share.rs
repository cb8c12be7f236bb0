//! The technician's side: list readers, and share one reader's card into a session.
//!
//! PC/SC calls block, so the card lives on a thread of its own ([`CardThread`]: one context,
//! one connection, requests in, answers out) and pulled cards are noticed by a second thread
//! with its own context (a [`ReaderWatcher`]); the async side only passes messages.

use super::{Incoming, Link};
use crate::client::{ClientError, Mux};
use crate::proto::Control;
use crate::proto::control::ChannelKind;
use crate::proto::smartcard::{Direction, Message};
use serde_json::json;
use sesame_hardware::card::CommandApdu;
use sesame_hardware::card::pcsc::{Canceller, PcscContext, PcscError, ReaderEvent, hex};
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// One reader as `smartcard readers` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderLine {
    /// The reader's name (what `share --reader` takes).
    pub name: String,
    /// The card's ATR in hex, if a card is present.
    pub atr: Option<String>,
}

/// The local readers and their cards (PC/SC, on a blocking thread).
pub async fn readers() -> Result<Vec<ReaderLine>, ClientError> {
    let r = tokio::task::spawn_blocking(|| PcscContext::establish()?.readers())
        .await
        .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    Ok(r.map_err(pcsc_error)?
        .into_iter()
        .map(|r| ReaderLine {
            name: r.name,
            atr: r.atr.as_deref().map(hex),
        })
        .collect())
}

fn pcsc_error(e: PcscError) -> ClientError {
    ClientError::Refused {
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}

/// Why sharing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareEnd {
    /// The technician stopped it (the `stop` future resolved).
    Stopped,
    /// The card was taken out of the reader (the customer was told).
    CardRemoved,
    /// The customer's side ended the channel (reason).
    CustomerEnded(String),
    /// The channel was closed (by the relay, with a refusal code, or because a side left).
    Closed(String),
    /// The customer's side sent something that breaks the channel's rules (code); the channel
    /// was closed.
    Refused(&'static str),
    /// The session ended.
    SessionEnded(String),
}

/// What a share did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReport {
    /// Why it ended.
    pub ended: ShareEnd,
    /// APDUs answered.
    pub apdus: u64,
    /// The card's ATR (hex) as first announced.
    pub atr: String,
}

type Reply = oneshot::Sender<Result<Vec<u8>, PcscError>>;

enum CardReq {
    Transmit(Vec<u8>, Reply),
    Reset(Reply),
}

/// The card, on its own thread.
struct CardThread {
    tx: mpsc::UnboundedSender<CardReq>,
}

impl CardThread {
    /// Connects to `reader`'s card on a new thread; returns it and the ATR.
    async fn start(reader: &str) -> Result<(CardThread, Vec<u8>), ClientError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<CardReq>();
        let (ready_tx, ready) = oneshot::channel();
        let reader = reader.to_owned();
        std::thread::Builder::new()
            .name("smartcard-share".into())
            .spawn(move || {
                let card = PcscContext::establish().and_then(|c| {
                    let card = c.connect(&reader)?;
                    Ok((c, card))
                });
                let (_ctx, mut card) = match card {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(card.atr().to_vec()));
                // Ends when the sender is dropped; dropping the card resets it (PC/SC's
                // default disposition), so nothing stays verified after sharing.
                while let Some(req) = rx.blocking_recv() {
                    match req {
                        CardReq::Transmit(apdu, reply) => {
                            let _ = reply.send(card.transmit(&apdu));
                        }
                        CardReq::Reset(reply) => {
                            let _ = reply.send(card.reset().map(|()| card.atr().to_vec()));
                        }
                    }
                }
            })?;
        let atr = ready
            .await
            .map_err(|_| ClientError::Unexpected("the PC/SC thread stopped".into()))?
            .map_err(pcsc_error)?;
        Ok((CardThread { tx }, atr))
    }

    async fn call(&self, req: impl FnOnce(Reply) -> CardReq) -> Result<Vec<u8>, PcscError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(req(reply)).is_err() {
            return Err(PcscError::CardRemoved);
        }
        answer.await.unwrap_or(Err(PcscError::CardRemoved))
    }
}

/// Watches one reader on a thread of its own; reports the card's removal once.
struct Watcher {
    removed: mpsc::UnboundedReceiver<()>,
    cancel: Option<Canceller>,
}

impl Watcher {
    async fn start(reader: &str) -> Result<Watcher, ClientError> {
        let (tx, removed) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let reader = reader.to_owned();
        std::thread::Builder::new()
            .name("smartcard-watch".into())
            .spawn(move || {
                let started = PcscContext::establish().and_then(|ctx| {
                    let w = ctx.watcher(Some(&[reader.as_str()]))?;
                    Ok((ctx, w))
                });
                let (ctx, mut w) = match started {
                    Ok((ctx, w)) => {
                        let _ = ready_tx.send(Ok(ctx.canceller()));
                        (ctx, w)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    match w.wait(None) {
                        Ok(events) => {
                            let gone = events.iter().any(|e| match e {
                                ReaderEvent::CardRemoved { reader: r }
                                | ReaderEvent::ReaderRemoved { reader: r } => *r == reader,
                                _ => false,
                            });
                            // pcscd may report a change of a card that just went in (its event
                            // counter moves more than once): only an empty reader counts. A
                            // card pulled and put back is caught by the next APDU instead
                            // (PC/SC answers "card removed" on the old connection).
                            let empty = ctx.readers().map_or(true, |rs| {
                                !rs.iter().any(|r| r.name == reader && r.atr.is_some())
                            });
                            if gone && empty {
                                let _ = tx.send(());
                                return;
                            }
                        }
                        // Cancelled (sharing over) or pcscd gone: stop watching.
                        Err(_) => return,
                    }
                }
            })?;
        let cancel = ready
            .await
            .map_err(|_| ClientError::Unexpected("the PC/SC watcher stopped".into()))?
            .map_err(pcsc_error)?;
        Ok(Watcher {
            removed,
            cancel: Some(cancel),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.cancel();
        }
    }
}

/// Share `reader`'s card into the session `mux` is attached to, until `stop` resolves, the
/// card is pulled, the customer ends it or the session ends. `progress` gets the APDU count
/// after each APDU. Fails before anything is shared if the reader has no card or the customer
/// refuses.
pub async fn share(
    mux: &mut Mux,
    reader: &str,
    stop: impl Future<Output = ()>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<ShareReport, ClientError> {
    let (card, atr) = CardThread::start(reader).await?;
    let mut watcher = Watcher::start(reader).await?;
    let atr_hex = hex(&atr);
    tokio::pin!(stop);
    let opened = tokio::select! {
        r = mux.open(ChannelKind::Smartcard, json!({"reader": reader})) => r?,
        () = &mut stop => {
            return Ok(ShareReport { ended: ShareEnd::Stopped, apdus: 0, atr: atr_hex });
        }
    };
    let mut link = Link::new(opened.0, Direction::ToCard);
    link.send(&Message::Present(atr)).await?;
    let mut apdus = 0u64;
    let ended = loop {
        tokio::select! {
            () = &mut stop => {
                link.end("stopped by the technician").await;
                break ShareEnd::Stopped;
            }
            Some(()) = watcher.removed.recv() => {
                let _ = link.send(&Message::Removed).await;
                link.end("card removed").await;
                break ShareEnd::CardRemoved;
            }
            m = mux.next_control() => match m {
                Some(Control::Ended { reason }) => break ShareEnd::SessionEnded(reason),
                None => break ShareEnd::SessionEnded("connection closed".into()),
                Some(_) => {}
            },
            m = link.recv() => match m {
                Err(e) => {
                    tracing::warn!(reason = e.code(), "smart-card channel closed: {e}");
                    link.close(e.code());
                    break ShareEnd::Refused(e.code());
                }
                Ok(Incoming::Closed(r)) => break ShareEnd::Closed(r),
                Ok(Incoming::Msg(Message::End(r))) => {
                    link.close("ended by the customer");
                    break ShareEnd::CustomerEnded(r);
                }
                Ok(Incoming::Msg(Message::Command(apdu))) => {
                    // Strict: what does not parse as an APDU never reaches the card.
                    if CommandApdu::parse(&apdu).is_err() {
                        tracing::warn!(reason = "malformed_apdu", "smart-card channel closed: a malformed APDU");
                        link.end("malformed_apdu").await;
                        break ShareEnd::Refused("malformed_apdu");
                    }
                    match card.call(|r| CardReq::Transmit(apdu, r)).await {
                        Ok(resp) => {
                            link.send(&Message::Response(resp)).await?;
                            apdus += 1;
                            progress(apdus);
                        }
                        Err(PcscError::CardRemoved | PcscError::NoCard) => {
                            let _ = link.send(&Message::Removed).await;
                            link.end("card removed").await;
                            break ShareEnd::CardRemoved;
                        }
                        Err(e) => {
                            link.end(e.code()).await;
                            return Err(pcsc_error(e));
                        }
                    }
                }
                Ok(Incoming::Msg(Message::Reset)) => {
                    match card.call(CardReq::Reset).await {
                        Ok(atr) => link.send(&Message::Present(atr)).await?,
                        Err(PcscError::CardRemoved | PcscError::NoCard) => {
                            let _ = link.send(&Message::Removed).await;
                            link.end("card removed").await;
                            break ShareEnd::CardRemoved;
                        }
                        Err(e) => {
                            link.end(e.code()).await;
                            return Err(pcsc_error(e));
                        }
                    }
                }
                // The decoder only lets the customer's side's messages through.
                Ok(Incoming::Msg(_)) => {}
            },
        }
    };
    Ok(ShareReport {
        ended,
        apdus,
        atr: atr_hex,
    })
}
