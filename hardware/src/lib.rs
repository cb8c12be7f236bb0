//! `sesame-hardware`: Sesame's one OTP engine, and (later) the hardware-key side.
//!
//! # What it is
//! - **OTP algorithms**: HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1/256/512, 6 or 8
//!   digits, verification with skew, drift, look-ahead and replay refusal, and resync from two
//!   consecutive codes. Used by authd for authenticator apps and for hardware OTP keys.
//! - **Secrets**: [`OtpSecret`] (wiped on drop, redacted in `Debug`), base32, `otpauth://` URIs.
//! - Later: token seed-file import (PSKC RFC 6030, vendor CSV), a software emulator of an OTP
//!   key, and the smart-card protocol (APDU types, the vpcd reader protocol).
//!
//! # What it is not
//! No storage, no clock reading, no I/O, no random number generator. Time (`now_unix`) and
//! state (last accepted step, next counter, drift) are arguments; results are returned for the
//! caller to store. Replay protection is the caller's conditional write of the returned
//! step/counter (see [`otp`]).
//!
//! # Entry points
//! - Enrol an authenticator app: [`OtpSecret::from_bytes`] on fresh random bytes
//!   ([`secret::RECOMMENDED_SECRET_LEN`]), then [`otpauth_uri`] for the QR code and
//!   [`group_for_typing`] for manual entry.
//! - Check a code: [`verify_totp`] or [`verify_hotp`]; helpdesk resync: [`resync_totp`],
//!   [`resync_hotp`].
//! - Compute a code (tests, key emulation): [`hotp`], [`totp_at_step`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod otp;
pub mod otpauth;
pub mod secret;

pub use otp::{
    Algorithm, Digits, OtpCode, OtpParamError, TotpParams, hotp, resync_hotp, resync_totp,
    totp_at_step, verify_hotp, verify_totp,
};
pub use otpauth::otpauth_uri;
pub use secret::{OtpSecret, SecretError, group_for_typing};
