//! One-time codes (session keys, invitation codes) and the throttle against guessing them.
//!
//! Codes are stored only as SHA-256 digests keyed by a per-process secret; a code is consumed
//! by the same call that accepts it (no check-then-consume). Time is an argument (`now`, Unix
//! seconds) — nothing here reads a clock.
//!
//! Throttle state machine, per client address:
//! ```text
//! clean --failure--> counting(n) --n reaches fail_limit--> suspended(until now+suspend)
//!   ^                   |  window (10 min) passes without failure        | until passes
//!   +-------------------+------------------------------------------------+
//! ```
//! While suspended every attempt is refused with the same error as a wrong key, even a right
//! one (which stays valid), so a guesser learns nothing.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// Failures are counted over this window (seconds).
pub const FAIL_WINDOW: i64 = 600;

/// Why a code was refused — one uniform answer on the wire (`invalid_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Unknown, expired, already used — or the address is suspended.
    #[error("the key is unknown, expired or already used")]
    Invalid,
}

/// Random bytes (the OS generator).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // getrandom fails only without an OS generator, where nothing secure can run anyway.
    getrandom::fill(&mut b).expect("the OS random generator is unavailable");
    b
}

/// A random token (hex, 128 bits) for ids and resume tokens.
pub fn random_token() -> String {
    data_encoding::HEXLOWER.encode(&random_bytes::<16>())
}

/// `digits` random decimal digits, uniform.
pub fn random_digits(digits: u32) -> String {
    let digits = digits.clamp(4, 12);
    let modulus = 10u64.pow(digits);
    let limit = u64::MAX - u64::MAX % modulus;
    loop {
        let v = u64::from_be_bytes(random_bytes::<8>());
        if v < limit {
            return format!("{:0width$}", v % modulus, width = digits as usize);
        }
    }
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    expires_at: i64,
}

/// Live one-time codes mapping to a `T`.
#[derive(Debug)]
pub struct OneTimeCodes<T> {
    secret: [u8; 32],
    live: HashMap<[u8; 32], Entry<T>>,
}

impl<T> Default for OneTimeCodes<T> {
    fn default() -> Self {
        OneTimeCodes {
            secret: random_bytes(),
            live: HashMap::new(),
        }
    }
}

impl<T> OneTimeCodes<T> {
    /// The stored digest of `code` (to recognise a consumed key later without keeping it).
    pub fn digest_of(&self, code: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(code.trim().replace([' ', '-'], "").as_bytes());
        h.finalize().into()
    }

    /// Store `code` for `value` until `expires_at`; `false` if the code is already live.
    pub fn insert(&mut self, code: &str, value: T, expires_at: i64, now: i64) -> bool {
        self.live.retain(|_, e| e.expires_at > now);
        let d = self.digest_of(code);
        if self.live.contains_key(&d) {
            return false;
        }
        self.live.insert(d, Entry { value, expires_at });
        true
    }

    /// Consume `code`: its value if it is live (it is then gone).
    pub fn take(&mut self, code: &str, now: i64) -> Option<T> {
        let d = self.digest_of(code);
        let e = self.live.remove(&d)?;
        (e.expires_at > now).then_some(e.value)
    }

    /// Drop every code whose value matches.
    pub fn remove_where(&mut self, mut f: impl FnMut(&T) -> bool) {
        self.live.retain(|_, e| !f(&e.value));
    }

    /// Live codes (after expiry at `now`).
    pub fn len(&mut self, now: i64) -> usize {
        self.live.retain(|_, e| e.expires_at > now);
        self.live.len()
    }

    /// Whether none are live.
    pub fn is_empty(&mut self, now: i64) -> bool {
        self.len(now) == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
    suspended_until: i64,
}

/// Per-address failure counting and suspension.
#[derive(Debug)]
pub struct Throttle {
    fail_limit: u32,
    suspend_secs: i64,
    by_addr: HashMap<IpAddr, Failures>,
}

impl Throttle {
    /// Suspend an address for `suspend_secs` after `fail_limit` failures within [`FAIL_WINDOW`].
    pub fn new(fail_limit: u32, suspend_secs: i64) -> Throttle {
        Throttle {
            fail_limit: fail_limit.max(1),
            suspend_secs,
            by_addr: HashMap::new(),
        }
    }

    /// Whether `addr` may try now.
    pub fn allowed(&self, addr: IpAddr, now: i64) -> bool {
        self.by_addr
            .get(&addr)
            .is_none_or(|f| f.suspended_until <= now)
    }

    /// Record a failure; returns whether the address is now suspended.
    pub fn fail(&mut self, addr: IpAddr, now: i64) -> bool {
        self.by_addr
            .retain(|_, f| f.suspended_until > now || now - f.last < FAIL_WINDOW);
        let f = self.by_addr.entry(addr).or_insert(Failures {
            count: 0,
            last: now,
            suspended_until: 0,
        });
        if now - f.last >= FAIL_WINDOW {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        if f.count >= self.fail_limit {
            f.suspended_until = now + self.suspend_secs;
            f.count = 0;
            return true;
        }
        false
    }
}

/// Codes guarded by the throttle: the session-key book.
#[derive(Debug)]
pub struct GuardedCodes<T> {
    /// The codes.
    pub codes: OneTimeCodes<T>,
    /// The throttle.
    pub throttle: Throttle,
}

impl<T> GuardedCodes<T> {
    /// With the throttle's parameters.
    pub fn new(fail_limit: u32, suspend_secs: i64) -> Self {
        GuardedCodes {
            codes: OneTimeCodes::default(),
            throttle: Throttle::new(fail_limit, suspend_secs),
        }
    }

    /// Redeem a code from `addr` at `now`: consumed on success; a failure counts against `addr`.
    pub fn redeem(&mut self, code: &str, addr: IpAddr, now: i64) -> Result<T, CodeError> {
        if !self.throttle.allowed(addr, now) {
            return Err(CodeError::Invalid);
        }
        match self.codes.take(code, now) {
            Some(v) => Ok(v),
            None => {
                if self.throttle.fail(addr, now) {
                    tracing::warn!(%addr, "address suspended after repeated wrong session keys");
                }
                Err(CodeError::Invalid)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 9));

    #[test]
    fn single_use_and_expiry() {
        let mut g = GuardedCodes::new(5, 900);
        assert!(g.codes.insert("1234567", 1, 1600, 1000));
        assert_eq!(g.redeem("123 4567", A, 1001), Ok(1));
        assert_eq!(g.redeem("1234567", A, 1002), Err(CodeError::Invalid));
        assert!(g.codes.insert("7654321", 2, 1600, 1000));
        assert_eq!(g.redeem("7654321", A, 1600), Err(CodeError::Invalid));
    }

    #[test]
    fn suspension_refuses_even_the_right_key_then_lifts() {
        let mut g = GuardedCodes::new(3, 900);
        assert!(g.codes.insert("1111111", 7, 5000, 1000));
        for _ in 0..3 {
            assert_eq!(g.redeem("0000000", A, 1000), Err(CodeError::Invalid));
        }
        assert_eq!(g.redeem("1111111", A, 1001), Err(CodeError::Invalid));
        let other: IpAddr = "127.0.0.10".parse().expect("ip");
        assert!(g.throttle.allowed(other, 1001));
        assert_eq!(g.redeem("1111111", A, 1900), Ok(7), "suspension over");
    }

    #[test]
    fn failures_age_out() {
        let mut t = Throttle::new(3, 900);
        assert!(!t.fail(A, 0));
        assert!(!t.fail(A, 1));
        assert!(!t.fail(A, 1 + FAIL_WINDOW));
        assert!(t.allowed(A, 2 + FAIL_WINDOW));
    }

    #[test]
    fn digits_are_digits() {
        for _ in 0..100 {
            let k = random_digits(7);
            assert_eq!(k.len(), 7);
            assert!(k.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(random_token().len(), 32);
    }
}
