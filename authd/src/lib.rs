//! # authd — Sesame's authentication daemon
//!
//! A hardened auth service over HTTPS: accounts and roles, argon2id passwords, software TOTP,
//! backup codes, sessions and a hash-chained audit trail, on a durable embedded store.
//!
//! Layers, top to bottom (DESIGN.md §3): [`http`] parses and maps errors, nothing more;
//! [`flows`] holds one module per user-facing flow as plain functions over [`Authd`];
//! [`credentials`] one module per credential kind; [`store`] is the only code that knows SQL.
//! Cross-cutting: [`clock`] (time is an argument), [`audit`] (the hash chain), [`secrets`]
//! (AES-256-GCM envelope for OTP seeds).
//!
//! Entry points: [`server::start`] assembles everything from a [`sesame_config::Config`] and
//! [`server::serve`] runs the HTTPS service on a bound listener until shutdown.
//!
//! What it is not: no OTP maths (crate `sesame-hardware`), no configuration parsing (crate
//! `sesame-config`), no remote-support logic.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod audit;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod flows;
pub mod fsutil;
pub mod guard;
pub mod http;
pub mod model;
pub mod photo;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tls;

pub use app::Authd;
pub use error::{Error, Result};
