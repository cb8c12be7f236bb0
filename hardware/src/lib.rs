//! `sesame-hardware`: Sesame's one OTP engine, and the hardware-key side.
//!
//! # What it is
//! - **OTP algorithms**: HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1/256/512, 6 or 8
//!   digits, verification with skew, drift, look-ahead and replay refusal, and resync from two
//!   consecutive codes. Used by authd for authenticator apps and for hardware OTP keys.
//! - **Secrets**: [`OtpSecret`] (wiped on drop, redacted in `Debug`), base32, `otpauth://` URIs.
//! - **Seed files** ([`seeds`]): the vendor's file for a batch of hardware OTP keys, PSKC
//!   (RFC 6030, plain or encrypted) or CSV, imported all or nothing into [`TokenSeed`]s, with
//!   every faulty entry reported at once.
//! - **Key emulator** ([`emulator`]): what a given hardware key displays at a given time or
//!   button press; the `otpkey` binary prints it for demos and tests.
//! - **Smart cards** ([`card`]): command/response APDUs, the vpcd virtual-reader protocol and
//!   its card end, a PC/SC bridge (feature `pcsc`) and a software card, for forwarding a
//!   technician's card into a support session.
//!
//! # What it is not
//! No storage, no clock reading, no random number generator, and no I/O outside [`card`]'s
//! vpcd socket and PC/SC calls. Time (`now_unix`) and
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
//! - Import a seed file: [`seeds::import_pskc`] (with a [`seeds::Decryption`] for encrypted
//!   files), [`seeds::import_csv`], or [`seeds::import`] which tells them apart; errors are
//!   [`seeds::ImportError`] (stable `code()`), entry problems [`seeds::Fault`].
//! - Emulate a key: [`emulator::KeyEmulator::from_seed`], then
//!   [`emulator::KeyEmulator::display_at`]; [`emulator::find`] picks a key by serial.
//! - Smart cards: see [`card`]'s documentation (it maps the API for the relay).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod card;
pub mod emulator;
pub mod otp;
pub mod otpauth;
pub mod secret;
pub mod seeds;

pub use otp::{
    Algorithm, Digits, OtpCode, OtpParamError, TotpParams, hotp, resync_hotp, resync_totp,
    totp_at_step, verify_hotp, verify_totp,
};
pub use otpauth::otpauth_uri;
pub use secret::{OtpSecret, SecretError, group_for_typing};
pub use seeds::{TokenKind, TokenSeed};
