//! One module per user-facing flow. Each is a plain function over [`crate::Authd`] taking `now`
//! and the client's facts as arguments, testable without HTTP.

pub mod account;
pub mod admin;
pub mod console;
pub mod directory;
pub mod enrol;
pub mod guard_admin;
pub mod helpdesk;
pub mod keys;
pub mod login;
pub mod policy;
pub mod resets;
pub mod validate;
pub mod webauthn;
pub mod webauthn_register;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_guard;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_resets;
#[cfg(test)]
mod tests_webauthn;
#[cfg(test)]
mod tests_webauthn_policy;
