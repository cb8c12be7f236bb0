#![allow(unreachable_pub, clippy::unwrap_used)]
//! End-to-end tests of the appliance over real sockets and real TLS. One test binary, modules
//! inside (a 2-core CI links few binaries).

mod support;

mod admin_policy;
mod api_flow;
mod backup;
mod browser;
mod console;
mod console_update;
mod guard;
mod keys;
mod process;
mod refusals;
mod relay;
mod sessions;
mod webauthn;
