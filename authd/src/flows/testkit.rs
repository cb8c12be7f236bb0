//! Test fixtures for flows: an `Authd` on a temporary store with a manual clock and cheap
//! argon2 parameters (`danger_test_defaults`).

use crate::app::Authd;
use crate::clock::ManualClock;
use crate::flows::admin::{self, CreateUser};
use crate::flows::login::{self, Authenticated, LoginStep};
use crate::model::{ClientInfo, User};
use crate::secrets::MasterKey;
use crate::store::sqlite::SqliteStore;
use std::sync::Arc;

/// A test appliance; the temporary directory lives as long as it does.
pub(crate) struct Kit {
    pub(crate) app: Authd,
    pub(crate) clock: ManualClock,
    pub(crate) dir: tempfile::TempDir,
}

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
        Kit { app, clock, dir }
    }

    /// Close and reopen the store on the same directory (a restart).
    pub(crate) fn restart(self) -> Kit {
        let now = self.clock_now();
        let Kit { app, dir, .. } = self;
        drop(app);
        let k = Kit::open(dir);
        k.clock.set(now);
        k
    }

    pub(crate) fn clock_now(&self) -> i64 {
        use crate::clock::Clock;
        self.clock.now()
    }

    pub(crate) fn user(&self, name: &str, password: &str, roles: &[&str]) -> User {
        admin::create_user_as(
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
        .unwrap()
    }

    /// Log in with a password only (panics unless a session results).
    pub(crate) fn login(&self, name: &str, password: &str) -> Authenticated {
        let now = self.clock_now();
        match login::password_step(&self.app, name, password, &client(), now).unwrap() {
            LoginStep::Session(s) => login::authenticate(&self.app, &s.token, now).unwrap(),
            other => panic!("expected a session, got {other:?}"),
        }
    }
}
