//! # support-relay — remote-support sessions brokered over TLS
//!
//! A technician's console and a customer's client both dial out to the relay over TLS; the
//! relay authenticates the technician through authd (second factor included, role
//! `technician`), pairs the customer by a one-time session key, and forwards framed channels
//! (chat, shell, file transfer, TCP forwarding, smart card) with per-channel flow
//! control, recording everything per session (JSON-lines record, shell in asciicast v2).
//!
//! It is not an authentication server (it asks authd through [`auth::Authenticator`] and never
//! links authd), and it forwards nothing for a connection that is neither an authenticated
//! technician nor a customer holding a valid key.
//!
//! Entry points:
//! - [`proto`]: the sans-IO wire protocol (hello, frames, control messages) — `PROTOCOL.md`.
//! - [`server::build`] + [`server::serve`]: the relay.
//! - [`client`]: the console's and the customer's sides (used by the binaries and tests).
//! - [`auth`]: the `Authenticator` trait and the HTTPS implementation.
//! - Binaries: `support-relay`, `support-console`, `support-customer` (`src/bin/`, thin: the
//!   command-line programs live in [`cli`]).

pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod conn;
pub mod flow;
pub mod keys;
pub mod mail;
pub mod proto;
pub mod record;
pub mod server;
pub mod tls;
