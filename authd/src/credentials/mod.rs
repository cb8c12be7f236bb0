//! One module per credential kind: how it is created, how it is verified, and what "used" means
//! for it. Nothing here knows HTTP; the store is reached only through `crate::store::Store`.

pub mod backup_codes;
pub mod hasher;
pub mod otp_key;
pub mod password;
pub mod pin;
pub mod tokens;
pub mod totp;
pub mod webauthn;
pub mod webauthn_policy;
