//! The MFA policy applied to one account: whether it must have a second factor, whether it has
//! one, and whether it may give up its last one.
//!
//! The policy lives in the store (`role:NAME` and `group:NAME` scopes, each `optional` or
//! `required`; default: required for admin, helpdesk and technician). An account must have a
//! second factor when *any* of its roles or groups requires one.

use crate::app::Authd;
use crate::model::*;
use crate::{Error, Result};

/// Whether `user` must have and use a second factor.
pub fn mfa_required(app: &Authd, user: &User) -> Result<bool> {
    let groups = app.store.user_groups(user.id)?;
    Ok(app.store.mfa_policy()?.requires(&user.roles, &groups))
}

/// Whether an account with these roles and groups must have a second factor (before it exists).
pub fn mfa_required_for(app: &Authd, roles: &[Role], groups: &[String]) -> Result<bool> {
    Ok(app.store.mfa_policy()?.requires(roles, groups))
}

/// The second factors `user` can present after a password: confirmed TOTP devices and WebAuthn
/// security keys or passkeys. (Hardware OTP keys are a login of their own, PIN ‖ code; backup
/// codes only stand in for a device.)
pub fn second_factor_count(app: &Authd, user: &User) -> Result<usize> {
    let totp = app
        .store
        .list_totp(user.id)?
        .iter()
        .filter(|c| c.confirmed)
        .count();
    Ok(totp + app.store.list_webauthn(user.id)?.len())
}

/// Refuse removing one of `user`'s second factors when it is the last and policy requires one.
pub fn check_factor_removal(app: &Authd, user: &User, removing_confirmed: bool) -> Result<()> {
    if removing_confirmed && second_factor_count(app, user)? <= 1 && mfa_required(app, user)? {
        return Err(Error::MfaRequired);
    }
    Ok(())
}
