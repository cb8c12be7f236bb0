//! Who may do what: the permission matrix, in one place.
//!
//! Roles (`user`, `helpdesk`, `technician`, `admin`) grant coarse permissions; the HTTP
//! extractors (`http::extract::{Caller, Helpdesk, Admin}`) and the page extractors ask
//! [`allows`], never a role directly. On top of the matrix, rules about the *target* of an
//! action (nobody resets their own factors; helpdesk staff act on ordinary accounts only) live
//! in [`may_act_on`]. [`ROUTES`] lists every API route and page with the permission it needs;
//! `docs/api.md` carries the same matrix, and a test walks it over HTTP for every role.

use crate::model::{Role, User};

/// What a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Manage one's own account: profile, photo, password, second factors, sessions.
    OwnAccount,
    /// Look after other people's credentials: hardware keys, PINs, temporary passwords, and
    /// second-factor resets of ordinary accounts.
    Helpdesk,
    /// Open and run remote-support sessions through the support relay.
    Support,
    /// Run the appliance: accounts, roles, groups, the MFA policy, admin resets and their
    /// approval, connected sessions, the audit trail, the guard, backups.
    Administration,
}

impl Permission {
    /// Every permission, in display order.
    pub const ALL: [Permission; 4] = [
        Permission::OwnAccount,
        Permission::Helpdesk,
        Permission::Support,
        Permission::Administration,
    ];

    /// Stable name (docs, audit).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::OwnAccount => "own_account",
            Permission::Helpdesk => "helpdesk",
            Permission::Support => "support",
            Permission::Administration => "administration",
        }
    }
}

/// The matrix: the roles that hold each permission.
pub const MATRIX: [(Permission, &[Role]); 4] = [
    (
        Permission::OwnAccount,
        &[Role::User, Role::Helpdesk, Role::Technician, Role::Admin],
    ),
    (Permission::Helpdesk, &[Role::Helpdesk, Role::Admin]),
    (Permission::Support, &[Role::Technician]),
    (Permission::Administration, &[Role::Admin]),
];

/// Whether an account holding `roles` has permission `p`.
pub fn allows(roles: &[Role], p: Permission) -> bool {
    MATRIX
        .iter()
        .filter(|(q, _)| *q == p)
        .any(|(_, holders)| roles.iter().any(|r| holders.contains(r)))
}

/// Why an action on another account is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRefusal {
    /// The actor is the target.
    OwnAccount,
    /// The actor's permissions do not reach this account.
    Forbidden,
}

/// Whether `actor`, using permission `p`, may act on `target`: never on themselves; helpdesk
/// staff (without `administration`) only on accounts that hold neither `helpdesk` nor `admin`.
pub fn may_act_on(actor: &User, target: &User, p: Permission) -> Result<(), TargetRefusal> {
    if !allows(&actor.roles, p) {
        return Err(TargetRefusal::Forbidden);
    }
    if actor.id == target.id {
        return Err(TargetRefusal::OwnAccount);
    }
    let admin = allows(&actor.roles, Permission::Administration);
    if p == Permission::Helpdesk
        && !admin
        && (allows(&target.roles, Permission::Helpdesk)
            || allows(&target.roles, Permission::Administration))
    {
        return Err(TargetRefusal::Forbidden);
    }
    Ok(())
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in steps, health, static files, the public photo check is below).
    Public,
    /// A signed-in account with this permission.
    Needs(Permission),
}

/// Every API route and page: method, path pattern, what it needs. Kept equal to the routers by
/// the matrix test, and to `docs/api.md`. (`GET /updates/…` is not here: it answers to a
/// console's update token, never to a session.)
pub const ROUTES: &[(&str, &str, Access)] = {
    use Access::{Needs, Public};
    use Permission::*;
    &[
        ("GET", "/healthz", Public),
        ("GET", "/metrics", Public),
        ("POST", "/api/v1/login", Public),
        ("POST", "/api/v1/login/mfa", Public),
        ("POST", "/api/v1/login/password", Public),
        ("POST", "/api/v1/login/enrol", Public),
        ("POST", "/api/v1/login/enrol/confirm", Public),
        ("POST", "/api/v1/login/pin", Public),
        ("POST", "/api/v1/login/webauthn/start", Public),
        ("POST", "/api/v1/login/webauthn/finish", Public),
        ("POST", "/api/v1/login/passkey/start", Public),
        ("POST", "/api/v1/login/passkey/finish", Public),
        ("POST", "/api/v1/validate", Public),
        ("POST", "/api/v1/logout", Needs(OwnAccount)),
        ("GET", "/api/v1/me", Needs(OwnAccount)),
        ("PATCH", "/api/v1/me", Needs(OwnAccount)),
        ("POST", "/api/v1/me/reauth", Needs(OwnAccount)),
        ("PUT", "/api/v1/me/photo", Needs(OwnAccount)),
        ("DELETE", "/api/v1/me/photo", Needs(OwnAccount)),
        ("POST", "/api/v1/me/password", Needs(OwnAccount)),
        ("GET", "/api/v1/me/totp", Needs(OwnAccount)),
        ("POST", "/api/v1/me/totp", Needs(OwnAccount)),
        ("POST", "/api/v1/me/totp/{id}/confirm", Needs(OwnAccount)),
        ("DELETE", "/api/v1/me/totp/{id}", Needs(OwnAccount)),
        ("GET", "/api/v1/me/backup-codes", Needs(OwnAccount)),
        ("POST", "/api/v1/me/backup-codes", Needs(OwnAccount)),
        ("GET", "/api/v1/me/sessions", Needs(OwnAccount)),
        ("DELETE", "/api/v1/me/sessions", Needs(OwnAccount)),
        ("DELETE", "/api/v1/me/sessions/{id}", Needs(OwnAccount)),
        ("GET", "/api/v1/users/{username}/photo", Needs(OwnAccount)),
        ("GET", "/api/v1/me/webauthn", Needs(OwnAccount)),
        (
            "POST",
            "/api/v1/me/webauthn/register/start",
            Needs(OwnAccount),
        ),
        (
            "POST",
            "/api/v1/me/webauthn/register/finish",
            Needs(OwnAccount),
        ),
        (
            "DELETE",
            "/api/v1/me/webauthn/{credential_id}",
            Needs(OwnAccount),
        ),
        ("GET", "/api/v1/users/{username}/webauthn", Needs(Helpdesk)),
        (
            "DELETE",
            "/api/v1/users/{username}/webauthn/{credential_id}",
            Needs(Helpdesk),
        ),
        ("GET", "/api/v1/keys", Needs(Helpdesk)),
        ("POST", "/api/v1/keys/import", Needs(Helpdesk)),
        ("POST", "/api/v1/keys/{serial}/pin/cancel", Needs(Helpdesk)),
        ("POST", "/api/v1/keys/{serial}/disable", Needs(Helpdesk)),
        ("POST", "/api/v1/keys/{serial}/resync", Needs(Helpdesk)),
        ("POST", "/api/v1/keys/{serial}/unlock", Needs(Helpdesk)),
        ("POST", "/api/v1/users/{username}/keys", Needs(Helpdesk)),
        (
            "POST",
            "/api/v1/users/{username}/temporary-password",
            Needs(Helpdesk),
        ),
        (
            "DELETE",
            "/api/v1/users/{username}/temporary-password",
            Needs(Helpdesk),
        ),
        (
            "POST",
            "/api/v1/users/{username}/mfa-reset",
            Needs(Helpdesk),
        ),
        ("GET", "/api/v1/mfa-resets", Needs(Administration)),
        (
            "POST",
            "/api/v1/mfa-resets/{id}/approve",
            Needs(Administration),
        ),
        ("GET", "/api/v1/users", Needs(Administration)),
        ("POST", "/api/v1/users", Needs(Administration)),
        ("GET", "/api/v1/users/{username}", Needs(Administration)),
        ("PATCH", "/api/v1/users/{username}", Needs(Administration)),
        ("DELETE", "/api/v1/users/{username}", Needs(Administration)),
        (
            "POST",
            "/api/v1/users/{username}/password",
            Needs(Administration),
        ),
        (
            "POST",
            "/api/v1/users/{username}/unlock",
            Needs(Administration),
        ),
        ("GET", "/api/v1/groups", Needs(Administration)),
        ("POST", "/api/v1/groups", Needs(Administration)),
        ("DELETE", "/api/v1/groups/{name}", Needs(Administration)),
        ("GET", "/api/v1/mfa-policy", Needs(Administration)),
        ("PUT", "/api/v1/mfa-policy", Needs(Administration)),
        ("GET", "/api/v1/sessions", Needs(Administration)),
        ("DELETE", "/api/v1/sessions/{id}", Needs(Administration)),
        (
            "DELETE",
            "/api/v1/users/{username}/sessions",
            Needs(Administration),
        ),
        ("GET", "/api/v1/audit", Needs(Administration)),
        ("GET", "/api/v1/audit/verify", Needs(Administration)),
        ("GET", "/api/v1/ip-rules", Needs(Administration)),
        ("POST", "/api/v1/ip-rules", Needs(Administration)),
        ("DELETE", "/api/v1/ip-rules/{id}", Needs(Administration)),
        ("GET", "/api/v1/suspensions", Needs(Administration)),
        ("POST", "/api/v1/suspensions", Needs(Administration)),
        ("DELETE", "/api/v1/suspensions", Needs(Administration)),
        (
            "DELETE",
            "/api/v1/suspensions/{address}",
            Needs(Administration),
        ),
        ("POST", "/api/v1/console-installs", Needs(Support)),
        ("POST", "/api/v1/console-installs/deploy", Public),
        ("GET", "/api/v1/console-installs", Needs(Administration)),
        (
            "DELETE",
            "/api/v1/console-installs/{install_id}",
            Needs(Administration),
        ),
        ("GET", "/api/v1/deploy-tokens", Needs(Administration)),
        ("POST", "/api/v1/deploy-tokens", Needs(Administration)),
        (
            "DELETE",
            "/api/v1/deploy-tokens/{id}",
            Needs(Administration),
        ),
        ("GET", "/download", Public),
        ("GET", "/download/console/{platform}", Public),
        ("GET", "/account", Needs(OwnAccount)),
        ("GET", "/account/photo", Needs(OwnAccount)),
        ("GET", "/account/reauth", Needs(OwnAccount)),
        ("GET", "/helpdesk", Needs(Helpdesk)),
        ("GET", "/helpdesk/webauthn", Needs(Helpdesk)),
        ("GET", "/admin/users", Needs(Administration)),
        ("GET", "/admin/guard", Needs(Administration)),
        ("GET", "/admin/policy", Needs(Administration)),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, roles: &[Role]) -> User {
        User {
            id,
            username: format!("u{id}"),
            password_hash: String::new(),
            roles: roles.to_vec(),
            disabled: false,
            must_change_password: false,
            created_at: 0,
            password_changed_at: 0,
            fail_count: 0,
            throttled_until: 0,
        }
    }

    #[test]
    fn the_matrix_cell_by_cell() {
        let expected: [(Role, [bool; 4]); 4] = [
            (Role::User, [true, false, false, false]),
            (Role::Helpdesk, [true, true, false, false]),
            (Role::Technician, [true, false, true, false]),
            (Role::Admin, [true, true, false, true]),
        ];
        for (role, row) in expected {
            for (p, want) in Permission::ALL.into_iter().zip(row) {
                assert_eq!(allows(&[role], p), want, "{role:?} {p:?}");
            }
        }
        // Roles add up.
        let both = [Role::Technician, Role::Admin];
        assert!(allows(&both, Permission::Support));
        assert!(allows(&both, Permission::Administration));
        assert!(!allows(&[], Permission::OwnAccount));
    }

    #[test]
    fn targets_of_helpdesk_and_admin_actions() {
        let admin = user(1, &[Role::Admin]);
        let admin2 = user(2, &[Role::Admin]);
        let hd = user(3, &[Role::Helpdesk]);
        let hd2 = user(4, &[Role::Helpdesk]);
        let tech = user(5, &[Role::Technician]);
        let plain = user(6, &[Role::User]);
        let p = Permission::Helpdesk;
        assert_eq!(may_act_on(&hd, &plain, p), Ok(()));
        assert_eq!(may_act_on(&hd, &tech, p), Ok(()));
        assert_eq!(may_act_on(&hd, &hd2, p), Err(TargetRefusal::Forbidden));
        assert_eq!(may_act_on(&hd, &admin, p), Err(TargetRefusal::Forbidden));
        assert_eq!(may_act_on(&hd, &hd, p), Err(TargetRefusal::OwnAccount));
        assert_eq!(may_act_on(&admin, &admin2, p), Ok(()));
        assert_eq!(
            may_act_on(&admin, &admin, p),
            Err(TargetRefusal::OwnAccount)
        );
        assert_eq!(may_act_on(&plain, &tech, p), Err(TargetRefusal::Forbidden));
        assert_eq!(
            may_act_on(&tech, &plain, Permission::Support),
            Ok(()),
            "support reaches customers' accounts"
        );
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (m, p, _) in ROUTES {
            assert!(seen.insert((m, p)), "{m} {p} twice");
        }
    }
}
