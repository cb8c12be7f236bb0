//! Per-address counters as pure state machines over an injected time in milliseconds.
//!
//! ```text
//!             request ──▶ GCRA (rate r/s, burst b) ── over ──▶ 429 ── counts a refusal
//!                                                     refusals ≥ flood_refusals in window ──▶ suspend
//!   failed login ──▶ failed counter ≥ failed_logins in window ──────────────────────────▶ suspend
//!   403/401 ──▶ forbidden counter ≥ forbidden_requests in window ──────────────────────▶ suspend
//! ```
//! Counters are sliding-window estimates over two fixed buckets (the previous bucket weighted
//! by how much of it still overlaps the window), so one address costs a few words of memory
//! whatever it sends. Idle addresses are dropped by [`Limits::prune`]; the map never holds more
//! than `max_addresses` entries.

use std::collections::HashMap;
use std::net::IpAddr;

/// Sliding-window event counter (two buckets).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    start: i64,
    current: u32,
    previous: u32,
}

impl Window {
    /// Count one event at `now` and return the estimate of events in the last `width` ms.
    pub fn hit(&mut self, now: i64, width: i64) -> u32 {
        self.roll(now, width);
        self.current = self.current.saturating_add(1);
        self.estimate(now, width)
    }

    /// Events in the last `width` ms, estimated.
    pub fn estimate(&self, now: i64, width: i64) -> u32 {
        let mut w = *self;
        w.roll(now, width);
        let elapsed = (now - w.start).clamp(0, width);
        let carried = u64::from(w.previous) * (width - elapsed) as u64 / width.max(1) as u64;
        w.current
            .saturating_add(u32::try_from(carried).unwrap_or(u32::MAX))
    }

    fn roll(&mut self, now: i64, width: i64) {
        if now - self.start >= 2 * width {
            *self = Window {
                start: now - (now - self.start) % width,
                current: 0,
                previous: 0,
            };
        } else if now - self.start >= width {
            self.previous = self.current;
            self.current = 0;
            self.start += width;
        }
    }
}

/// Generic cell rate algorithm: `rate` per second with a `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Gcra {
    /// Microseconds between two requests at the sustained rate.
    interval_us: i64,
    /// How far ahead of now the theoretical arrival time may run.
    tolerance_us: i64,
}

impl Gcra {
    /// `rate` requests per second, `burst` at once.
    pub fn new(rate: u32, burst: u32) -> Gcra {
        let interval_us = 1_000_000 / i64::from(rate.max(1));
        Gcra {
            interval_us,
            tolerance_us: interval_us * i64::from(burst.max(1)),
        }
    }

    /// Whether a request at `now_us` conforms; advances `tat` (theoretical arrival time) if so.
    pub fn check(&self, tat: &mut i64, now_us: i64) -> bool {
        let t = (*tat).max(now_us);
        if t + self.interval_us - now_us > self.tolerance_us {
            return false;
        }
        *tat = t + self.interval_us;
        true
    }
}

/// What an address has been up to.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddrState {
    tat_us: i64,
    refusals: Window,
    failed_logins: Window,
    forbidden: Window,
    last_seen: i64,
}

/// Thresholds and windows (from `[guard]`).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Rate limiter.
    pub gcra: Gcra,
    /// Refusals that suspend, and their window in ms.
    pub flood: (u32, i64),
    /// Failed logins that suspend, and their window in ms.
    pub failed_logins: (u32, i64),
    /// Forbidden calls that suspend, and their window in ms.
    pub forbidden: (u32, i64),
}

/// Why an address earned a suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Too many requests.
    Flood,
    /// Too many failed logins.
    FailedLogins,
    /// Too many calls it had no right to.
    Forbidden,
}

impl Trigger {
    /// Stable name (stored as the suspension's reason).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Flood => "flood",
            Trigger::FailedLogins => "failed_logins",
            Trigger::Forbidden => "forbidden_requests",
        }
    }
}

/// The answer to a request's first contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate.
    Pass,
    /// Over the rate: refuse with 429.
    Refuse,
    /// Over the rate long enough: suspend (with the count reached).
    Suspend(u32),
}

/// Every address's counters.
#[derive(Debug)]
pub struct Limits {
    t: Thresholds,
    max_addresses: usize,
    by_addr: HashMap<IpAddr, AddrState>,
}

impl Limits {
    /// Empty state.
    pub fn new(t: Thresholds, max_addresses: usize) -> Limits {
        Limits {
            t,
            max_addresses,
            by_addr: HashMap::new(),
        }
    }

    /// Addresses tracked.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    fn entry(&mut self, ip: IpAddr, now: i64) -> &mut AddrState {
        if self.by_addr.len() >= self.max_addresses && !self.by_addr.contains_key(&ip) {
            self.prune(now);
        }
        let e = self.by_addr.entry(ip).or_default();
        e.last_seen = now;
        e
    }

    /// A request from `ip` at `now` (ms).
    pub fn request(&mut self, ip: IpAddr, now: i64) -> RateVerdict {
        let t = self.t;
        let e = self.entry(ip, now);
        if t.gcra.check(&mut e.tat_us, now.saturating_mul(1000)) {
            return RateVerdict::Pass;
        }
        let n = e.refusals.hit(now, t.flood.1);
        if n >= t.flood.0 {
            RateVerdict::Suspend(n)
        } else {
            RateVerdict::Refuse
        }
    }

    /// A failed login from `ip`: `Some(count)` when it crosses the suspension threshold.
    pub fn failed_login(&mut self, ip: IpAddr, now: i64) -> Option<u32> {
        let t = self.t;
        let n = self
            .entry(ip, now)
            .failed_logins
            .hit(now, t.failed_logins.1);
        (n >= t.failed_logins.0).then_some(n)
    }

    /// A refused call from `ip`: `Some(count)` when it crosses the threshold.
    pub fn forbidden(&mut self, ip: IpAddr, now: i64) -> Option<u32> {
        let t = self.t;
        let n = self.entry(ip, now).forbidden.hit(now, t.forbidden.1);
        (n >= t.forbidden.0).then_some(n)
    }

    /// Forget an address (after it is suspended or lifted: counting starts afresh).
    pub fn forget(&mut self, ip: IpAddr) {
        self.by_addr.remove(&ip);
    }

    /// Drop addresses idle long enough that they hold nothing (rate back to full burst, every
    /// window empty). If the map is still full, drop the least recently seen half.
    pub fn prune(&mut self, now: i64) {
        let t = self.t;
        let longest = t.flood.1.max(t.failed_logins.1).max(t.forbidden.1);
        self.by_addr
            .retain(|_, e| e.tat_us > now.saturating_mul(1000) || now - e.last_seen < 2 * longest);
        if self.by_addr.len() >= self.max_addresses {
            let mut seen: Vec<i64> = self.by_addr.values().map(|e| e.last_seen).collect();
            let mid = seen.len() / 2;
            let (_, median, _) = seen.select_nth_unstable(mid);
            let cut = *median;
            self.by_addr.retain(|_, e| e.last_seen > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            gcra: Gcra::new(20, 100),
            flood: (1000, 60_000),
            failed_logins: (10, 300_000),
            forbidden: (20, 300_000),
        }
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x7f00_0000 + n))
    }

    #[test]
    fn gcra_allows_the_burst_then_the_rate() {
        let g = Gcra::new(20, 100);
        let mut tat = 0;
        let now = 1_000_000_000;
        let passed = (0..150).filter(|_| g.check(&mut tat, now)).count();
        assert_eq!(passed, 100, "the burst, at one instant");
        // 50 ms later exactly one more conforms (20/s).
        assert!(g.check(&mut tat, now + 50_000));
        assert!(!g.check(&mut tat, now + 50_000));
        // After 5 s idle the whole burst is back.
        let later = now + 5_100_000;
        assert_eq!((0..150).filter(|_| g.check(&mut tat, later)).count(), 100);
    }

    #[test]
    fn window_slides() {
        let mut w = Window::default();
        for i in 0..10 {
            w.hit(i * 1000, 60_000);
        }
        assert_eq!(w.estimate(10_000, 60_000), 10);
        // Half a window later the previous bucket counts for about half.
        assert_eq!(w.estimate(90_000, 60_000), 5);
        assert_eq!(w.estimate(200_000, 60_000), 0);
    }

    #[test]
    fn failed_logins_suspend_at_ten_in_five_minutes() {
        let mut l = Limits::new(thresholds(), 1000);
        for i in 0..9 {
            assert_eq!(l.failed_login(ip(1), i * 20_000), None);
        }
        assert_eq!(l.failed_login(ip(1), 190_000), Some(10));
        // Spread out over more than the window: no suspension.
        let mut l = Limits::new(thresholds(), 1000);
        assert!((0..30).all(|i| l.failed_login(ip(2), i * 120_000).is_none()));
    }

    #[test]
    fn flood_refusals_suspend() {
        let mut l = Limits::new(
            Thresholds {
                flood: (50, 60_000),
                ..thresholds()
            },
            1000,
        );
        let mut verdicts = Vec::new();
        for i in 0..200 {
            verdicts.push(l.request(ip(3), 1_000 + i / 100));
        }
        assert_eq!(
            verdicts.iter().filter(|v| **v == RateVerdict::Pass).count(),
            100
        );
        assert!(verdicts.contains(&RateVerdict::Refuse));
        assert!(matches!(verdicts.last(), Some(RateVerdict::Suspend(_))));
        // Another address is unaffected.
        assert_eq!(l.request(ip(4), 1_200), RateVerdict::Pass);
    }

    #[test]
    fn a_million_addresses_stay_bounded() {
        let cap = 100_000;
        let mut l = Limits::new(thresholds(), cap);
        for n in 0..1_000_000u32 {
            // 1 ms apart: a million sources within 17 minutes.
            l.request(ip(n), i64::from(n));
            assert!(l.len() <= cap);
        }
        // Once they are all idle, pruning drops every one of them.
        l.prune(1_000_000 + 11 * 60_000);
        assert!(l.is_empty(), "{} left", l.len());
    }
}
