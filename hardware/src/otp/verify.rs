//! Checking typed codes: TOTP and HOTP verification, resynchronisation from two codes.
//!
//! Rules shared by every function here:
//! - Time and counters are arguments; nothing reads the clock or stores state.
//! - The candidate is normalised first (spaces removed anywhere, so "123 456" is accepted);
//!   anything but ASCII digits, or the wrong length, returns `None` before any HMAC is computed.
//! - Each step or counter is compared in constant time; the search stops at the first full
//!   match. The cost is linear in the window: one HMAC per step or counter searched.
//! - Nothing returned is ever below the caller's high-water mark (`last_accepted_step`,
//!   `next_counter`). The caller must consume the result with one conditional write
//!   (`UPDATE … SET last_step = ? WHERE id = ? AND last_step < ?`) and report success only if
//!   that write changed a row; resync results are stored the same way.

use super::{Algorithm, Digits, OtpCode, TotpParams, hotp, totp_at_step};

/// A candidate code, normalised: ASCII digits only, exactly `digits` long.
struct Candidate {
    buf: [u8; 8],
    len: usize,
}

impl Candidate {
    /// Removes spaces; `None` for any other non-digit or a wrong length. Stops reading as soon
    /// as the input is known to be too long, so a huge input costs nothing.
    fn parse(input: &str, digits: Digits) -> Option<Self> {
        let mut buf = [0u8; 8];
        let mut len = 0;
        for byte in input.bytes().filter(|&b| b != b' ') {
            if !byte.is_ascii_digit() || len == digits.len() {
                return None;
            }
            buf[len] = byte;
            len += 1;
        }
        (len == digits.len()).then_some(Self { buf, len })
    }

    fn matches(&self, code: &OtpCode) -> bool {
        code.matches_bytes(&self.buf[..self.len])
    }
}

/// Offsets around a centre, nearest first, past before future: 0, -1, +1, -2, +2, …, ±`reach`.
fn nearest_first(reach: u64) -> impl Iterator<Item = i128> {
    std::iter::once(0).chain((1..=i128::from(reach)).flat_map(|k| [-k, k]))
}

/// Verifies a TOTP `candidate` at `now_unix`, returning the matched step.
///
/// Steps are searched around `step_at(now_unix) + drift_steps` (the drift recorded by the last
/// resync), exact step first, then -1, +1, -2, +2 … up to `skew_steps`. A step at or below
/// `last_accepted_step` is never returned (replay protection), nor is one outside `0..=u64::MAX`.
pub fn verify_totp(
    secret: &[u8],
    params: &TotpParams,
    candidate: &str,
    now_unix: u64,
    skew_steps: u64,
    last_accepted_step: Option<u64>,
    drift_steps: i64,
) -> Option<u64> {
    let candidate = Candidate::parse(candidate, params.digits())?;
    let centre = i128::from(params.step_at(now_unix)) + i128::from(drift_steps);
    nearest_first(skew_steps)
        .filter_map(|offset| u64::try_from(centre + offset).ok())
        .filter(|&step| last_accepted_step.is_none_or(|last| step > last))
        .find(|&step| candidate.matches(&totp_at_step(secret, step, params)))
}

/// Verifies an HOTP `candidate`, returning the matched counter in
/// `next_counter..=next_counter + look_ahead` (lowest first). The caller then stores
/// `counter + 1` as the new `next_counter`.
pub fn verify_hotp(
    secret: &[u8],
    algorithm: Algorithm,
    digits: Digits,
    candidate: &str,
    next_counter: u64,
    look_ahead: u64,
) -> Option<u64> {
    let candidate = Candidate::parse(candidate, digits)?;
    let last = next_counter.saturating_add(look_ahead);
    (next_counter..=last)
        .find(|&counter| candidate.matches(&hotp(secret, counter, algorithm, digits)))
}

/// Resynchronises an HOTP key from two consecutive codes: finds `c` with `code1` at `c` and
/// `code2` at `c + 1`, both in `next_counter..=next_counter + window`, lowest first, and
/// returns `c + 1` (the counter of `code2`; the caller stores `c + 2` as `next_counter`).
pub fn resync_hotp(
    secret: &[u8],
    algorithm: Algorithm,
    digits: Digits,
    code1: &str,
    code2: &str,
    next_counter: u64,
    window: u64,
) -> Option<u64> {
    let code1 = Candidate::parse(code1, digits)?;
    let code2 = Candidate::parse(code2, digits)?;
    let last = next_counter.saturating_add(window);
    (next_counter..last).find_map(|counter| {
        let next = counter + 1;
        (code1.matches(&hotp(secret, counter, algorithm, digits))
            && code2.matches(&hotp(secret, next, algorithm, digits)))
        .then_some(next)
    })
}

/// Resynchronises a TOTP key from two consecutive codes: `code1` at step `s`, `code2` at
/// `s + 1`, with `s + 1` within `±window_steps` of `step_at(now_unix)` (nearest first).
/// Returns `(s + 1, drift)` where `drift = s + 1 - step_at(now_unix)`, to be passed as
/// `drift_steps` to [`verify_totp`] from then on, and `s + 1` to be stored as the last
/// accepted step (conditionally: refuse if it is not above the stored one).
pub fn resync_totp(
    secret: &[u8],
    params: &TotpParams,
    code1: &str,
    code2: &str,
    now_unix: u64,
    window_steps: u64,
) -> Option<(u64, i64)> {
    let code1 = Candidate::parse(code1, params.digits())?;
    let code2 = Candidate::parse(code2, params.digits())?;
    let now_step = i128::from(params.step_at(now_unix));
    nearest_first(window_steps).find_map(|drift| {
        let second = u64::try_from(now_step + drift).ok()?;
        let first = second.checked_sub(1)?;
        let drift = i64::try_from(drift).ok()?;
        (code1.matches(&totp_at_step(secret, first, params))
            && code2.matches(&totp_at_step(secret, second, params)))
        .then_some((second, drift))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    fn params() -> TotpParams {
        TotpParams::default()
    }

    /// The 6-digit TOTP code at `step` with default parameters.
    fn code_at(step: u64) -> String {
        totp_at_step(SECRET, step, &params()).to_string()
    }

    fn hotp6(counter: u64) -> String {
        hotp(SECRET, counter, Algorithm::Sha1, Digits::SIX).to_string()
    }

    const NOW: u64 = 1_700_000_000;

    fn now_step() -> u64 {
        params().step_at(NOW)
    }

    fn verify(candidate: &str, skew: u64, last: Option<u64>, drift: i64) -> Option<u64> {
        verify_totp(SECRET, &params(), candidate, NOW, skew, last, drift)
    }

    #[test]
    fn totp_accepts_exact_step_and_within_skew() {
        let s = now_step();
        assert_eq!(verify(&code_at(s), 0, None, 0), Some(s));
        assert_eq!(verify(&code_at(s - 1), 1, None, 0), Some(s - 1));
        assert_eq!(verify(&code_at(s + 1), 1, None, 0), Some(s + 1));
        assert_eq!(verify(&code_at(s + 2), 2, None, 0), Some(s + 2));
    }

    #[test]
    fn totp_refuses_beyond_skew() {
        let s = now_step();
        assert_eq!(verify(&code_at(s - 1), 0, None, 0), None);
        assert_eq!(verify(&code_at(s + 2), 1, None, 0), None);
        assert_eq!(verify(&code_at(s - 2), 1, None, 0), None);
    }

    #[test]
    fn totp_never_returns_a_step_at_or_below_last_accepted() {
        let s = now_step();
        assert_eq!(verify(&code_at(s), 1, Some(s), 0), None);
        assert_eq!(verify(&code_at(s - 1), 1, Some(s - 1), 0), None);
        assert_eq!(verify(&code_at(s - 1), 1, Some(s + 5), 0), None);
        assert_eq!(verify(&code_at(s + 1), 1, Some(s), 0), Some(s + 1));
        assert_eq!(verify(&code_at(s), 1, Some(s - 1), 0), Some(s));
    }

    #[test]
    fn totp_applies_drift() {
        let s = now_step();
        assert_eq!(verify(&code_at(s + 10), 1, None, 10), Some(s + 10));
        assert_eq!(verify(&code_at(s + 11), 1, None, 10), Some(s + 11));
        assert_eq!(verify(&code_at(s - 7), 0, None, -7), Some(s - 7));
        assert_eq!(verify(&code_at(s), 1, None, 10), None);
    }

    #[test]
    fn totp_handles_the_edges_of_time() {
        let p = params();
        let at0 = totp_at_step(SECRET, 0, &p).to_string();
        assert_eq!(verify_totp(SECRET, &p, &at0, 0, 3, None, 0), Some(0));
        assert_eq!(verify_totp(SECRET, &p, &at0, 0, 3, None, -100), None);
        let at_max = totp_at_step(SECRET, u64::MAX, &p).to_string();
        let got = verify_totp(SECRET, &p, &at_max, 0, 1, None, i64::MAX);
        assert_eq!(got, None, "far outside the window");
    }

    #[test]
    fn totp_rejects_malformed_candidates() {
        let s = now_step();
        let good = code_at(s);
        assert_eq!(verify(&format!(" {good} "), 0, None, 0), Some(s));
        assert_eq!(
            verify(&format!("{} {}", &good[..3], &good[3..]), 0, None, 0),
            Some(s)
        );
        assert_eq!(verify(&good[..5], 0, None, 0), None);
        assert_eq!(verify(&format!("{good}0"), 0, None, 0), None);
        assert_eq!(verify("", 0, None, 0), None);
        assert_eq!(verify("12a456", 0, None, 0), None);
        assert_eq!(verify("+12345", 0, None, 0), None);
        assert_eq!(verify(&format!("{good}\n"), 0, None, 0), None);
        assert_eq!(verify("１２３４５６", 0, None, 0), None); // full-width digits
        assert_eq!(verify(&"1".repeat(1 << 20), 0, None, 0), None);
    }

    #[test]
    fn candidate_parse_checks_length_against_digits() {
        assert!(Candidate::parse("12345678", Digits::EIGHT).is_some());
        assert!(Candidate::parse("12345678", Digits::SIX).is_none());
        assert!(Candidate::parse("123456", Digits::EIGHT).is_none());
        assert!(Candidate::parse("   ", Digits::SIX).is_none());
    }

    #[test]
    fn search_order_is_nearest_first_past_before_future() {
        let order: Vec<i128> = nearest_first(2).collect();
        assert_eq!(order, [0, -1, 1, -2, 2]);
        assert_eq!(nearest_first(0).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn hotp_window_edges() {
        let v = |code: &str, next, ahead| {
            verify_hotp(SECRET, Algorithm::Sha1, Digits::SIX, code, next, ahead)
        };
        assert_eq!(v(&hotp6(5), 5, 0), Some(5));
        assert_eq!(v(&hotp6(8), 5, 3), Some(8));
        assert_eq!(v(&hotp6(9), 5, 3), None, "just beyond the look-ahead");
        assert_eq!(v(&hotp6(4), 5, 3), None, "already consumed");
        assert_eq!(v("75522", 0, 10), None);
        assert_eq!(v("75522x", 0, 10), None);
        let at_max = hotp(SECRET, u64::MAX, Algorithm::Sha1, Digits::SIX).to_string();
        assert_eq!(v(&at_max, u64::MAX - 1, 10), Some(u64::MAX));
    }

    #[test]
    fn hotp_resync_finds_consecutive_codes() {
        let r = |c1: &str, c2: &str, next, window| {
            resync_hotp(SECRET, Algorithm::Sha1, Digits::SIX, c1, c2, next, window)
        };
        assert_eq!(r(&hotp6(500), &hotp6(501), 10, 1000), Some(501));
        assert_eq!(
            r(&hotp6(10), &hotp6(11), 10, 1),
            Some(11),
            "both at the low edge"
        );
        assert_eq!(
            r(&hotp6(10), &hotp6(11), 10, 0),
            None,
            "code2 beyond the window"
        );
        assert_eq!(
            r(&hotp6(9), &hotp6(10), 10, 1000),
            None,
            "code1 already consumed"
        );
        assert_eq!(
            r(&hotp6(500), &hotp6(502), 10, 1000),
            None,
            "not consecutive"
        );
        assert_eq!(r(&hotp6(501), &hotp6(500), 10, 1000), None, "wrong order");
        assert_eq!(r("12345", &hotp6(11), 10, 1000), None);
    }

    #[test]
    fn totp_resync_finds_consecutive_codes_and_drift() {
        let p = params();
        let s = now_step();
        let r = |c1: &str, c2: &str, window| resync_totp(SECRET, &p, c1, c2, NOW, window);
        assert_eq!(r(&code_at(s - 1), &code_at(s), 2880), Some((s, 0)));
        assert_eq!(
            r(&code_at(s + 99), &code_at(s + 100), 2880),
            Some((s + 100, 100))
        );
        assert_eq!(
            r(&code_at(s - 501), &code_at(s - 500), 2880),
            Some((s - 500, -500))
        );
        assert_eq!(
            r(&code_at(s + 2880 - 1), &code_at(s + 2880), 2880),
            Some((s + 2880, 2880))
        );
        assert_eq!(
            r(&code_at(s + 2880), &code_at(s + 2881), 2880),
            None,
            "beyond the window"
        );
        assert_eq!(
            r(&code_at(s), &code_at(s + 2), 2880),
            None,
            "not consecutive"
        );
        assert_eq!(r(&code_at(s), &code_at(s), 2880), None);
        // After a resync, verification with the drift accepts the next code, not the old ones.
        let (step, drift) = r(&code_at(s + 99), &code_at(s + 100), 2880).unwrap();
        let next = code_at(s + 101);
        assert_eq!(
            verify_totp(SECRET, &p, &next, NOW, 1, Some(step), drift),
            Some(s + 101)
        );
        let old = code_at(s + 100);
        assert_eq!(
            verify_totp(SECRET, &p, &old, NOW, 1, Some(step), drift),
            None
        );
    }
}
