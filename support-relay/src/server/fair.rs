//! Per-session bandwidth share: a token bucket over forwarded data bytes. A frame that finds
//! the bucket empty is still forwarded, but the connection it came from pauses reading for the
//! returned delay — TCP back-pressure then slows that sender, not the other sessions.
//! Time is an argument (`now`, a monotonic instant).

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket; `rate == 0` means unlimited.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst: burst.max(rate / 10).max(64 * 1024),
            tokens: burst as f64,
            last: now,
        }
    }

    /// Spend `n` bytes at `now`; how long the sender should pause.
    pub(crate) fn spend(&mut self, n: usize, now: Instant) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.burst as f64);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_and_limited() {
        let t0 = Instant::now();
        let mut u = TokenBucket::new(0, 0, t0);
        assert_eq!(u.spend(1 << 30, t0), Duration::ZERO);
        let mut b = TokenBucket::new(1_000_000, 100_000, t0);
        assert_eq!(b.spend(100_000, t0), Duration::ZERO);
        let d = b.spend(500_000, t0);
        assert!((d.as_secs_f64() - 0.5).abs() < 1e-6, "{d:?}");
        // A second later the debt is repaid plus 0.5 s of credit (capped at the burst).
        assert_eq!(
            b.spend(100_000, t0 + Duration::from_secs(2)),
            Duration::ZERO
        );
    }
}

#[cfg(test)]
mod fairness {
    use super::*;

    /// Two busy sessions sharing the relay, each reader forwarding whenever its pause is over:
    /// one sends 64 KiB frames, the other 4 KiB frames as fast as it can. Over 10 s of virtual
    /// time the bytes the relay granted each are the same share (the rate, plus the burst).
    #[test]
    fn two_busy_sessions_get_the_same_share() {
        let rate = 8_000_000u64;
        let t0 = Instant::now();
        let mut buckets = [TokenBucket::new(rate, 0, t0), TokenBucket::new(rate, 0, t0)];
        let frame = [64 * 1024usize, 4 * 1024];
        let mut next = [t0, t0];
        let mut granted = [0u64; 2];
        for ms in 0..10_000u64 {
            let now = t0 + Duration::from_millis(ms);
            for s in 0..2 {
                while next[s] <= now {
                    granted[s] += frame[s] as u64;
                    next[s] = now + buckets[s].spend(frame[s], now);
                }
            }
        }
        let expect = rate as f64 * 10.0;
        for g in granted {
            let share = g as f64 / expect;
            assert!((0.98..1.03).contains(&share), "{granted:?}");
        }
        let ratio = granted[0] as f64 / granted[1] as f64;
        assert!((0.97..1.03).contains(&ratio), "{granted:?}");
    }
}
