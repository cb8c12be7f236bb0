//! Test fixtures for flows: an `Authd` on a temporary store with a manual clock and cheap
//! argon2 parameters (`danger_test_defaults`).

use crate::app::Authd;
use crate::clock::ManualClock;
use crate::flows::admin::{self, CreateUser};
use crate::flows::login::{self, Authenticated, LoginStep};
use crate::model::{ClientInfo, User};
use crate::secrets::MasterKey;
use crate::store::sqlite::SqliteStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A test appliance; the temporary directory lives as long as it does.
pub(crate) struct Kit {
    pub(crate) app: Authd,
    pub(crate) clock: ManualClock,
    pub(crate) dir: tempfile::TempDir,
    /// Unused backup codes of the accounts `user` equipped with a second factor.
    pub(crate) codes: Codes,
}

/// Backup codes by username, shared with the test browser.
pub(crate) type Codes = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// 2026-11-23T12:00:00Z
pub(crate) const T0: i64 = 1_795_435_200;

pub(crate) fn client() -> ClientInfo {
    ClientInfo {
        address: "192.0.2.1".into(),
        user_agent: "test".into(),
        ip: "192.0.2.1".parse().ok(),
        ..Default::default()
    }
}

impl Kit {
    pub(crate) fn new() -> Kit {
        let dir = tempfile::tempdir().unwrap();
        Kit::open(dir)
    }

    /// Open (or reopen) a kit on an existing directory.
    pub(crate) fn open(dir: tempfile::TempDir) -> Kit {
        Kit::open_with(dir, |_| {})
    }

    /// A kit whose configuration `tweak` adjusts.
    pub(crate) fn with(tweak: impl FnOnce(&mut sesame_config::Config)) -> Kit {
        Kit::open_with(tempfile::tempdir().unwrap(), tweak)
    }

    fn open_with(dir: tempfile::TempDir, tweak: impl FnOnce(&mut sesame_config::Config)) -> Kit {
        let clock = ManualClock::new(T0);
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let key = MasterKey::load_or_create(dir.path()).unwrap();
        let mut cfg = sesame_config::Config::danger_test_defaults();
        tweak(&mut cfg);
        let app = Authd::new(cfg, store, key, Arc::new(clock.clone())).unwrap();
        Kit {
            app,
            clock,
            dir,
            codes: Codes::default(),
        }
    }

    /// Close and reopen the store on the same directory (a restart).
    pub(crate) fn restart(self) -> Kit {
        let now = self.clock_now();
        let Kit {
            app, dir, codes, ..
        } = self;
        drop(app);
        let mut k = Kit::open(dir);
        k.clock.set(now);
        k.codes = codes;
        k
    }

    pub(crate) fn clock_now(&self) -> i64 {
        use crate::clock::Clock;
        self.clock.now()
    }

    /// Create an account. Where the MFA policy requires a second factor (admin, helpdesk,
    /// technician by default), it also gets a confirmed TOTP device and backup codes that
    /// [`Kit::login`] uses, as a real user of that role would have.
    pub(crate) fn user(&self, name: &str, password: &str, roles: &[&str]) -> User {
        let u = admin::create_user_as(
            &self.app,
            None,
            &CreateUser {
                username: name.into(),
                password: password.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                must_change_password: false,
            },
            &client(),
            self.clock_now(),
        )
        .unwrap();
        if crate::flows::policy::mfa_required(&self.app, &u).unwrap() {
            self.equip_mfa(&u);
        }
        u
    }

    /// Give `user` a confirmed TOTP device and 50 backup codes (kept for [`Kit::login`]).
    pub(crate) fn equip_mfa(&self, user: &User) {
        use crate::credentials::{backup_codes, totp};
        let now = self.clock_now();
        let params = sesame_hardware::otp::TotpParams::default();
        let m =
            totp::new_material(&self.app.key, user.id, "Sesame", &user.username, &params).unwrap();
        let ev = || {
            client().event(
                now,
                None,
                "test.setup",
                None,
                crate::model::Outcome::Success,
                serde_json::json!({}),
            )
        };
        let id = self
            .app
            .store
            .add_totp(
                crate::store::NewTotp {
                    user_id: user.id,
                    label: "kit".into(),
                    sealed_secret: m.sealed,
                    params,
                    created_at: now,
                },
                ev(),
            )
            .unwrap();
        assert!(
            self.app
                .store
                .confirm_totp(user.id, id, 0, now, ev())
                .unwrap()
        );
        let codes = backup_codes::generate(50).unwrap();
        let rows = codes
            .iter()
            .map(|c| {
                (
                    c.tag.clone(),
                    self.app.hasher.hash(c.normalized.as_bytes()).unwrap(),
                )
            })
            .collect();
        self.app
            .store
            .replace_backup_codes(user.id, rows, now, ev())
            .unwrap();
        self.codes.lock().unwrap().insert(
            user.username.clone(),
            codes.iter().map(|c| c.display.to_string()).collect(),
        );
    }

    /// An unused backup code of `username` (equipped by [`Kit::user`]).
    pub(crate) fn backup_code(&self, username: &str) -> String {
        next_code(&self.codes, username)
    }

    /// Log in with the password, and a backup code when the account has a second factor
    /// (panics unless a session results).
    pub(crate) fn login(&self, name: &str, password: &str) -> Authenticated {
        let now = self.clock_now();
        let step = match login::password_step(&self.app, name, password, &client(), now).unwrap() {
            LoginStep::MfaRequired { challenge, .. } => {
                let code = self.backup_code(name);
                login::mfa_step(
                    &self.app,
                    &challenge,
                    login::MfaMethod::BackupCode,
                    &code,
                    &client(),
                    now,
                )
                .unwrap()
            }
            other => other,
        };
        match step {
            LoginStep::Session(s) => login::authenticate(&self.app, &s.token, now).unwrap(),
            other => panic!("expected a session, got {other:?}"),
        }
    }
}

/// Take an unused backup code of `username` from `codes`.
pub(crate) fn next_code(codes: &Codes, username: &str) -> String {
    codes
        .lock()
        .unwrap()
        .get_mut(username)
        .and_then(Vec::pop)
        .unwrap_or_else(|| panic!("{username} has no backup codes left in the kit"))
}
