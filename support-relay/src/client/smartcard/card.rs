//! The customer's side: the technician's card in the local vpcd reader.
//!
//! A [`CardEnd`] runs on a blocking thread with a [`RemoteCard`] backend; the backend hands
//! each request to the async task ([`serve`]) that owns the channel, and waits for the answer.
//! Only one request is ever outstanding (vpcd asks one thing at a time).

use super::{Incoming, Link};
use crate::client::{Channel, ClientError};
use crate::proto::Control;
use crate::proto::smartcard::{Direction, Message};
use serde_json::Value;
use sesame_hardware::card::{
    BackendError, CardBackend, CardEnd, CardEndOptions, CommandApdu, ResponseApdu, RunSummary,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// vpcd's first reader (Debian `vsmartcard-vpcd`).
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";

/// How long the technician's side has to announce the card after the customer accepted.
const PRESENT_WITHIN: Duration = Duration::from_secs(30);

type Answer = oneshot::Sender<Result<Vec<u8>, BackendError>>;

enum Req {
    Command(Vec<u8>, Answer),
    Reset(Answer),
}

/// The card end's backend: every call goes to the technician's card through [`serve`].
struct RemoteCard {
    atr: Arc<Mutex<Vec<u8>>>,
    gone: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Req>,
}

impl RemoteCard {
    fn call(&self, req: impl FnOnce(Answer) -> Req) -> Result<Vec<u8>, BackendError> {
        if self.gone.load(Ordering::SeqCst) {
            return Err(BackendError::CardRemoved);
        }
        let (answer, rx) = oneshot::channel();
        self.tx
            .send(req(answer))
            .map_err(|_| BackendError::CardRemoved)?;
        // The task drops the sender when the channel ends: the card is then gone.
        rx.blocking_recv().unwrap_or(Err(BackendError::CardRemoved))
    }
}

impl CardBackend for RemoteCard {
    fn power_on(&mut self) -> Result<(), BackendError> {
        self.reset()
    }
    fn power_off(&mut self) -> Result<(), BackendError> {
        self.reset()
    }
    fn reset(&mut self) -> Result<(), BackendError> {
        let atr = self.call(Req::Reset)?;
        *self.atr.lock().unwrap_or_else(|p| p.into_inner()) = atr;
        Ok(())
    }
    /// Answered here (vpcd polls it several times a second): the ATR last announced.
    fn atr(&mut self) -> Result<Vec<u8>, BackendError> {
        if self.gone.load(Ordering::SeqCst) {
            return Err(BackendError::CardRemoved);
        }
        Ok(self.atr.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<ResponseApdu, BackendError> {
        let resp = self.call(|a| Req::Command(apdu.to_bytes(), a))?;
        ResponseApdu::parse(&resp)
            .map_err(|e| BackendError::Unreachable(format!("the card answered badly: {e}")))
    }
}

fn say(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// Serve an accepted `smartcard` channel: accept it, wait for the card, put it into the vpcd
/// reader at `vpcd` and forward until the channel ends; the card then leaves the reader.
pub async fn serve(ch: Channel, params: &Value, vpcd: &str) -> Result<(), ClientError> {
    let reader = crate::proto::smartcard::reader_name(params);
    ch.control(&Control::OpenOk {
        channel: ch.id,
        info: Value::Null,
    })?;
    let mut link = Link::new(ch, Direction::FromCard);
    // The first message must announce the card.
    let atr = match tokio::time::timeout(PRESENT_WITHIN, link.recv()).await {
        Ok(Ok(Incoming::Msg(Message::Present(atr)))) => atr,
        Ok(Ok(Incoming::Closed(_) | Incoming::Msg(Message::End(_) | Message::Removed))) => {
            link.close("ended");
            return Ok(());
        }
        Ok(Err(e)) => {
            tracing::warn!(reason = e.code(), "smart-card channel closed: {e}");
            link.close(e.code());
            return Ok(());
        }
        Ok(Ok(Incoming::Msg(_))) | Err(_) => {
            link.close("no card announced");
            return Ok(());
        }
    };
    let atr_shared = Arc::new(Mutex::new(atr));
    let gone = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<Req>();
    let backend = RemoteCard {
        atr: atr_shared.clone(),
        gone: gone.clone(),
        tx,
    };
    let addr = vpcd.to_owned();
    let connected = tokio::task::spawn_blocking(move || {
        let end = CardEnd::connect(addr.as_str(), CardEndOptions::default())?;
        let stop = end.stop_handle()?;
        Ok::<_, sesame_hardware::card::CardEndError>((end, stop))
    })
    .await
    .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    let (end, stop) = match connected {
        Ok(x) => x,
        Err(e) => {
            say(&format!("Cannot put the card into the reader: {e}"));
            link.end("vpcd_unreachable").await;
            return Ok(());
        }
    };
    let run = tokio::task::spawn_blocking(move || end.run(backend));
    say(&format!(
        "The technician's smart card ({reader}) is in your reader at {vpcd}."
    ));
    // One request at a time: what the card end waits for.
    let mut pending: Option<(bool, Answer)> = None;
    let why = loop {
        tokio::select! {
            r = rx.recv(), if pending.is_none() => match r {
                Some(Req::Command(apdu, a)) => {
                    if link.send(&Message::Command(apdu)).await.is_err() {
                        break "connection closed".to_owned();
                    }
                    pending = Some((false, a));
                }
                Some(Req::Reset(a)) => {
                    if link.send(&Message::Reset).await.is_err() {
                        break "connection closed".to_owned();
                    }
                    pending = Some((true, a));
                }
                // The card end stopped (vpcd closed, or pcscd went away).
                None => {
                    link.end("reader closed").await;
                    break "the reader closed".to_owned();
                }
            },
            m = link.recv() => match m {
                Ok(Incoming::Msg(Message::Response(r))) => match pending.take() {
                    Some((false, a)) => { let _ = a.send(Ok(r)); }
                    _ => {
                        link.close("smartcard_unexpected_response");
                        break "unexpected response".to_owned();
                    }
                },
                Ok(Incoming::Msg(Message::Present(atr))) => {
                    *atr_shared.lock().unwrap_or_else(|p| p.into_inner()) = atr.clone();
                    match pending.take() {
                        Some((true, a)) => { let _ = a.send(Ok(atr)); }
                        other => pending = other,
                    }
                }
                Ok(Incoming::Msg(Message::Removed)) => break "the card was removed".to_owned(),
                Ok(Incoming::Msg(Message::End(r))) => {
                    link.close("ended");
                    break r;
                }
                Ok(Incoming::Msg(_)) => {}
                Ok(Incoming::Closed(r)) => break r,
                Err(e) => {
                    tracing::warn!(reason = e.code(), "smart-card channel closed: {e}");
                    link.close(e.code());
                    break e.code().to_owned();
                }
            },
        }
    };
    // Take the card out: no more answers, the connection to vpcd closed.
    gone.store(true, Ordering::SeqCst);
    stop.stop();
    drop(pending);
    drop(rx);
    let summary: Option<RunSummary> = run.await.ok().and_then(Result::ok);
    say(&format!(
        "The smart card left your reader ({why}); {} APDUs forwarded.",
        summary.map_or(0, |s| s.apdus)
    ));
    Ok(())
}
