//! # support-relay — remote-support sessions brokered over TLS (not built yet)
//!
//! Will broker sessions between a technician's console and a customer's client, both dialling
//! out to the relay over TLS: session keys, sharing, invitations, audit, smart-card forwarding
//! and signed console updates (DESIGN.md §5). It will authenticate technicians through authd by
//! a small `Authenticator` trait and never link authd's internals.
//!
//! This crate is an empty placeholder in the workspace until the relay issue lands; it holds no
//! code on purpose (nothing here pretends to work).
