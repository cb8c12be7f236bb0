//! Memory per session in the relay process: N sessions set up by lightweight in-bench clients
//! speaking the real protocol over real TLS (a technician connection and a customer connection
//! per session, as in real use), relay RSS read from `/proc/<pid>/status` before and after,
//! divided by N.
//!
//! - **idle paired**: the technician created a key, the customer joined, the technician is
//!   attached; nothing flows but the relay's keep-alives.
//! - **busy**: the same, plus a forwarded channel per session on which the technician sends
//!   64 KiB frames as fast as the window allows and the customer consumes them (credit granted
//!   as it reads), measured while all sessions stream.

use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support_relay::client::{self, ChanEvent, Mux};
use support_relay::proto::Control;
use support_relay::proto::control::ChannelKind;

/// One set-up session: both connections stay open while this lives.
#[derive(Debug)]
pub(crate) struct Pair {
    tech: Mux,
    _customer: tokio::task::JoinHandle<()>,
}

/// The customer side: join, then accept every channel and consume its data.
async fn customer(mut mux: Mux, key: String) -> Option<tokio::task::JoinHandle<()>> {
    match mux
        .request(&Control::Join {
            key,
            name: "bench".into(),
        })
        .await
    {
        Ok(Control::Joined { .. }) => {}
        _ => return None,
    }
    Some(tokio::spawn(async move {
        while let Some(m) = mux.next_control().await {
            if let Control::Open { channel, .. } = m {
                let mut ch = mux.channel(channel, false);
                let _ = mux.send(&Control::OpenOk {
                    channel,
                    info: serde_json::Value::Null,
                });
                tokio::spawn(async move {
                    while let Some(ev) = ch.recv().await {
                        if matches!(ev, ChanEvent::Close(_)) {
                            break;
                        }
                    }
                });
            }
        }
    }))
}

/// Set up one paired session.
async fn pair(relay: String, tls: Arc<rustls::ClientConfig>) -> Option<Pair> {
    let mut tech = client::connect(&relay, "localhost", tls.clone())
        .await
        .ok()?;
    client::console::authenticate(&mut tech, "bench")
        .await
        .ok()?;
    let key = match tech.request(&Control::KeyNew {}).await.ok()? {
        Control::KeyCreated { key, .. } => key,
        _ => return None,
    };
    let cust = client::connect(&relay, "localhost", tls).await.ok()?;
    let task = customer(cust, key.clone()).await?;
    client::console::attach(&mut tech, &key, 30).await.ok()?;
    Some(Pair {
        tech,
        _customer: task,
    })
}

/// Set up `n` paired sessions, `parallel` at a time.
pub(crate) async fn pairs(
    relay: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    n: usize,
) -> Vec<Pair> {
    let relay = relay.to_string();
    let mut out = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut started = 0;
    while out.len() < n {
        while started < n && set.len() < 64 {
            set.spawn(pair(relay.clone(), tls.clone()));
            started += 1;
        }
        match set.join_next().await {
            Some(Ok(Some(p))) => out.push(p),
            Some(_) => panic!("a session could not be set up ({} so far)", out.len()),
            None => break,
        }
    }
    out
}

/// Start a forwarded channel per session with the technician sending flat out; returns the
/// stop flag and the byte counter.
pub(crate) async fn stream(pairs: &[Pair]) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let chunk = Bytes::from(vec![b'x'; support_relay::proto::MAX_PAYLOAD]);
    for p in pairs {
        let (ch, _) = p
            .tech
            .open(ChannelKind::Forward, json!({"target": "bench:1"}))
            .await
            .expect("open a forwarded channel");
        let (tx, _rx) = ch.split();
        let (stop, sent, chunk) = (stop.clone(), sent.clone(), chunk.clone());
        tokio::spawn(async move {
            let _rx = _rx;
            while !stop.load(Ordering::Relaxed) {
                if tx.send_bytes(chunk.clone()).await.is_err() {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            tx.close("done");
        });
    }
    (stop, sent)
}

/// Wait (up to `max`) until the relay's RSS stops growing (two reads 500 ms apart within 1%).
pub(crate) fn settle(rss: impl Fn() -> u64, max: Duration) -> u64 {
    let t0 = Instant::now();
    let mut last = rss();
    loop {
        #[allow(
            clippy::disallowed_methods,
            reason = "sampling another process's memory over real time, in a benchmark"
        )]
        std::thread::sleep(Duration::from_millis(500));
        let now = rss();
        if now.abs_diff(last) * 100 <= last || t0.elapsed() > max {
            return now;
        }
        last = now;
    }
}
