//! `/api/v1/validate`: for applications and gateways (VPN, RADIUS bridges) that delegate
//! authentication. Same rules, audit and throttling as a key login, but no session is opened:
//! the answer is a verdict.
//!
//! First use of a key (no PIN yet) answers `challenge` with a challenge id; the gateway then asks
//! the user for a new PIN and calls again with `{"username","passcode": <new PIN>, "challenge"}`.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::flows::keys;
use crate::flows::login::LoginStep;
use crate::model::ClientInfo;
use crate::{Error, Result};
use zeroize::Zeroizing;

/// The answer to a gateway.
#[derive(Debug)]
pub enum Verdict {
    /// The passcode is right.
    Accept,
    /// It is not (same answer for every reason).
    Reject,
    /// First use: ask the user for a new PIN and send it with this challenge.
    Challenge(Zeroizing<String>),
}

/// Verify a passcode, or complete a PIN challenge.
pub fn validate(
    app: &Authd,
    username: &str,
    passcode: &str,
    challenge: Option<&str>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Verdict> {
    let step = match challenge {
        Some(ch) => keys::pin_step(app, ch, passcode, now, false),
        None => keys::key_step(app, username, passcode, client, now, false),
    };
    match step {
        Ok(LoginStep::Accepted) => Ok(Verdict::Accept),
        Ok(LoginStep::PinRequired { challenge }) => Ok(Verdict::Challenge(challenge)),
        Ok(_) => Err(Error::Internal("validate opened a session".into())),
        Err(Error::InvalidCredentials | Error::ChallengeExpired) => Ok(Verdict::Reject),
        Err(e) => Err(e),
    }
}
