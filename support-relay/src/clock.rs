//! Time as an argument: the relay reads the clock through [`Clock`] at the edge (one read per
//! incoming message) and passes `now` down. The `sesame` binary and tests inject authd's clock.

/// Unix time source.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Current Unix time in milliseconds.
    fn now_ms(&self) -> i64;
    /// Current Unix time in seconds.
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one production read of wall time, at the edge"
    )]
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}
