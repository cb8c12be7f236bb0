//! Per-channel credit-based flow control (the rules are in PROTOCOL.md, "Flow control").
//!
//! Each side of a channel may have at most [`WINDOW`] bytes of data in flight towards the other;
//! the receiver grants credit back with window frames as it consumes data. The relay checks the
//! same accounting ([`Credit`]) and cuts a peer that overruns it, so what it buffers per channel is
//! bounded by the window whatever the peers do.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// Initial (and maximum) credit per channel and direction.
pub const WINDOW: u32 = 256 * 1024;

/// Sender side: wait for credit before sending data.
#[derive(Debug, Clone)]
pub struct SendWindow(Arc<Semaphore>);

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow(Arc::new(Semaphore::new(WINDOW as usize)))
    }
}

impl SendWindow {
    /// Wait until `n` bytes may be sent, and take them. `false` if the window was closed.
    pub async fn take(&self, n: usize) -> bool {
        match self.0.acquire_many(n as u32).await {
            Ok(p) => {
                p.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// The peer granted `credit` bytes.
    pub fn grant(&self, credit: u32) {
        let room = (WINDOW as usize).saturating_sub(self.0.available_permits());
        self.0.add_permits((credit as usize).min(room));
    }

    /// Wake any waiter with a failure (the channel closed).
    pub fn close(&self) {
        self.0.close();
    }
}

/// Receiver side: how much to grant back after consuming data.
#[derive(Debug, Default)]
pub struct RecvWindow {
    consumed: u32,
}

impl RecvWindow {
    /// `n` bytes were consumed; returns the credit to grant now, if any (batched by quarter window).
    pub fn consumed(&mut self, n: usize) -> Option<u32> {
        self.consumed = self.consumed.saturating_add(n as u32);
        if self.consumed >= WINDOW / 4 {
            Some(std::mem::take(&mut self.consumed))
        } else {
            None
        }
    }
}

/// The relay's view of one direction of a channel.
#[derive(Debug, Clone, Copy)]
pub struct Credit(u32);

impl Default for Credit {
    fn default() -> Self {
        Credit(WINDOW)
    }
}

impl Credit {
    /// Data of `n` bytes passes; `false` if it overruns the window (protocol violation).
    pub fn spend(&mut self, n: usize) -> bool {
        match self.0.checked_sub(n as u32) {
            Some(left) if n <= WINDOW as usize => {
                self.0 = left;
                true
            }
            _ => false,
        }
    }

    /// A window frame passes; `false` if it grants more than was spent.
    pub fn grant(&mut self, credit: u32) -> bool {
        match self.0.checked_add(credit) {
            Some(c) if c <= WINDOW => {
                self.0 = c;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_credit_enforces_the_window() {
        let mut c = Credit::default();
        assert!(c.spend(WINDOW as usize));
        assert!(!c.spend(1), "overrun");
        assert!(c.grant(10));
        assert!(!c.grant(WINDOW), "more than was spent");
        assert!(c.spend(10));
    }

    #[test]
    fn receiver_batches_grants() {
        let mut r = RecvWindow::default();
        assert_eq!(r.consumed(1000), None);
        assert_eq!(r.consumed(WINDOW as usize / 4), Some(1000 + WINDOW / 4));
        assert_eq!(r.consumed(1), None);
    }

    #[tokio::test]
    async fn sender_waits_for_credit() {
        let w = SendWindow::default();
        assert!(w.take(WINDOW as usize).await);
        let w2 = w.clone();
        let t = tokio::spawn(async move { w2.take(5).await });
        tokio::task::yield_now().await;
        assert!(!t.is_finished());
        w.grant(5);
        assert!(t.await.expect("join"));
    }
}
