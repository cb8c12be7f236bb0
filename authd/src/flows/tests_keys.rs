//! Flow tests of hardware keys, the helpdesk and `/validate` (issue "Hardware OTP keys").

use super::helpdesk;
use super::keys::{key_step, pin_step};
use super::login::{Authenticated, LoginStep};
use super::testkit::*;
use super::validate::{Verdict, validate};
use crate::Error;
use sesame_hardware::emulator::KeyEmulator;
use sesame_hardware::seeds::{self, Decryption};

const PW: &str = "tortue-lavande-9";
/// 20-byte seeds in hex; the CSV the vendor ships.
const CSV: &str = "# serial, seed, type, digits, period/counter
serial,seed,type,digits,period_or_counter
TK-0001,3132333435363738393031323334353637383930,totp,6,60
TK-0002,4142434445464748494a4b4c4d4e4f5051525354,totp,6,60
HK-0001,6162636465666768696a6b6c6d6e6f7071727374,hotp,6,0
";

fn emulator(serial: &str) -> KeyEmulator {
    let tokens = seeds::import_csv(CSV.as_bytes()).unwrap();
    let t = tokens.into_iter().find(|t| t.serial == serial).unwrap();
    KeyEmulator::from_seed(t)
}

struct Desk {
    kit: Kit,
    desk: Authenticated,
}

fn desk() -> Desk {
    let kit = Kit::new();
    kit.user("hd", PW, &["helpdesk"]);
    kit.user("alice", PW, &[]);
    let desk = kit.login("hd", PW);
    let report = helpdesk::import(
        &kit.app,
        &desk,
        CSV.as_bytes(),
        &Decryption::None,
        false,
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    assert_eq!(report.len(), 3);
    Desk { kit, desk }
}

impl Desk {
    fn now(&self) -> i64 {
        self.kit.clock_now()
    }
    fn assign(&self, user: &str, serial: &str) {
        helpdesk::assign(
            &self.kit.app,
            &self.desk,
            user,
            serial,
            None,
            &client(),
            self.now(),
        )
        .unwrap();
    }
    fn login(&self, user: &str, passcode: &str) -> Result<LoginStep, Error> {
        key_step(&self.kit.app, user, passcode, &client(), self.now(), true)
    }
    /// First use with the code alone, then choose `pin`.
    fn first_use(&self, user: &str, code: &str, pin: &str) {
        let LoginStep::PinRequired { challenge } = self.login(user, code).unwrap() else {
            panic!("pin required")
        };
        assert!(matches!(
            pin_step(&self.kit.app, &challenge, pin, self.now(), true).unwrap(),
            LoginStep::Session(_)
        ));
    }
}

#[test]
fn import_is_all_or_nothing_with_dry_run_and_duplicates() {
    let d = desk();
    let app = &d.kit.app;
    // The same file again: every serial is taken, nothing imported, each named.
    let e = helpdesk::import(
        app,
        &d.desk,
        CSV.as_bytes(),
        &Decryption::None,
        true,
        &client(),
        d.now(),
    )
    .unwrap_err();
    let Error::ImportRejected(faults) = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        faults
            .iter()
            .map(|f| f.serial.clone().unwrap())
            .collect::<Vec<_>>(),
        ["TK-0001", "TK-0002", "HK-0001"]
    );
    // Dry run of a new file: reported, not stored.
    let new = "TK-0100,3132333435363738393031323334353637383930,totp,8,30\n";
    let r = helpdesk::import(
        app,
        &d.desk,
        new.as_bytes(),
        &Decryption::None,
        true,
        &client(),
        d.now(),
    )
    .unwrap();
    assert_eq!(
        (r[0].serial.as_str(), r[0].action, r[0].digits),
        ("TK-0100", "would_import", 8)
    );
    assert!(app.store.key_by_serial("TK-0100").unwrap().is_none());
    // A file with one bad line imports nothing.
    let bad = "TK-0200,3132333435363738393031323334353637383930,totp,6,60\nTK-0201,zz,totp,6,60\n";
    let e = helpdesk::import(
        app,
        &d.desk,
        bad.as_bytes(),
        &Decryption::None,
        false,
        &client(),
        d.now(),
    )
    .unwrap_err();
    let Error::ImportRejected(faults) = e else {
        panic!()
    };
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].location, "line 2");
    assert!(app.store.key_by_serial("TK-0200").unwrap().is_none());
    // Seeds are sealed at rest.
    let db = std::fs::read(d.kit.dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    let wal = std::fs::read(
        d.kit
            .dir
            .path()
            .join(format!("{}-wal", crate::store::sqlite::DB_FILE)),
    )
    .unwrap_or_default();
    for hay in [db, wal] {
        assert!(!hay.windows(20).any(|w| w == b"12345678901234567890"));
    }
}

#[test]
fn first_use_then_pin_then_pin_plus_code() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    let code = key.display_at(d.now() as u64);
    let LoginStep::PinRequired { challenge } = d.login("alice", &code).unwrap() else {
        panic!()
    };
    // PIN rules apply.
    for (bad, code_) in [
        ("1234", "pin_run"),
        ("0000", "pin_repeated_digit"),
        ("1975", "pin_date"),
        ("12", "pin_length"),
        ("12ab", "pin_not_digits"),
    ] {
        assert_eq!(
            pin_step(&d.kit.app, &challenge, bad, d.now(), true)
                .unwrap_err()
                .code(),
            code_,
            "{bad}"
        );
    }
    assert!(matches!(
        pin_step(&d.kit.app, &challenge, "4711", d.now(), true).unwrap(),
        LoginStep::Session(_)
    ));
    // The same code (already consumed) with the PIN is refused; the next minute's works.
    assert_eq!(
        d.login("alice", &format!("4711{code}")).unwrap_err().code(),
        "invalid_credentials"
    );
    d.kit.clock.advance(60);
    let code = key.display_at(d.now() as u64);
    assert!(matches!(
        d.login("alice", &format!("4711{code}")).unwrap(),
        LoginStep::Session(_)
    ));
    // Code alone no longer works once a PIN is set; neither does a wrong PIN.
    d.kit.clock.advance(60);
    let code = key.display_at(d.now() as u64);
    assert!(d.login("alice", &code).is_err());
    assert!(d.login("alice", &format!("4712{code}")).is_err());
    assert!(d.login("alice", &format!("4711{code}")).is_ok());
}

#[test]
fn replay_refused_after_restart() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    d.kit.clock.advance(60);
    let passcode = format!("4711{}", key.display_at(d.now() as u64));
    assert!(d.login("alice", &passcode).is_ok());
    let Desk { kit, desk: _ } = d;
    let kit = kit.restart();
    let e = key_step(
        &kit.app,
        "alice",
        &passcode,
        &client(),
        kit.clock_now(),
        true,
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_credentials");
    let trail = kit.app.store.list_audit(&Default::default()).unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == "login.otp_key" && e.detail["reason"] == "replay")
    );
}

#[test]
fn the_same_passcode_raced_is_accepted_exactly_once() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    d.kit.clock.advance(60);
    let passcode = format!("4711{}", key.display_at(d.now() as u64));
    let now = d.now();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (app, pc, b) = (d.kit.app.clone(), passcode.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                matches!(
                    key_step(&app, "alice", &pc, &client(), now, true),
                    Ok(LoginStep::Session(_))
                )
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn locked_after_ten_failures_until_unlocked() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    for _ in 0..10 {
        assert!(d.login("alice", "4711000000").is_err());
    }
    let k = d.kit.app.store.key_by_serial("TK-0001").unwrap().unwrap();
    assert!(k.locked(10));
    d.kit.clock.advance(60);
    let good = format!("4711{}", key.display_at(d.now() as u64));
    assert!(
        d.login("alice", &good).is_err(),
        "locked key refuses the right passcode"
    );
    helpdesk::unlock(&d.kit.app, &d.desk, "TK-0001", &client(), d.now()).unwrap();
    assert!(d.login("alice", &good).is_ok());
}

#[test]
fn cancel_pin_and_disable_end_sessions() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    let alice = d.kit.app.store.user_by_name("alice").unwrap().unwrap();
    assert_eq!(
        d.kit
            .app
            .store
            .list_sessions(alice.id, d.now())
            .unwrap()
            .len(),
        1
    );
    helpdesk::cancel_pin(&d.kit.app, &d.desk, "TK-0001", &client(), d.now()).unwrap();
    assert!(
        d.kit
            .app
            .store
            .list_sessions(alice.id, d.now())
            .unwrap()
            .is_empty()
    );
    // Back to first use: the code alone asks for a new PIN.
    d.kit.clock.advance(60);
    d.first_use("alice", &key.display_at(d.now() as u64), "2580");
    assert_eq!(
        d.kit
            .app
            .store
            .list_sessions(alice.id, d.now())
            .unwrap()
            .len(),
        1
    );
    helpdesk::disable(
        &d.kit.app,
        &d.desk,
        "TK-0001",
        "lost",
        "left on the bus",
        &client(),
        d.now(),
    )
    .unwrap();
    assert!(
        d.kit
            .app
            .store
            .list_sessions(alice.id, d.now())
            .unwrap()
            .is_empty()
    );
    d.kit.clock.advance(60);
    assert!(
        d.login("alice", &format!("2580{}", key.display_at(d.now() as u64)))
            .is_err()
    );
    assert_eq!(
        helpdesk::disable(
            &d.kit.app,
            &d.desk,
            "TK-0001",
            "stolen",
            "",
            &client(),
            d.now()
        )
        .unwrap_err()
        .code(),
        "key_not_active"
    );
    assert_eq!(
        helpdesk::disable(
            &d.kit.app,
            &d.desk,
            "TK-0002",
            "misplaced",
            "",
            &client(),
            d.now()
        )
        .unwrap_err()
        .code(),
        "invalid_request"
    );
}

#[test]
fn temporary_password_lasts_the_day_and_ends_with_the_key() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    // T0 is 12:00 UTC: valid until midnight.
    let (pw, exp) =
        helpdesk::temporary_password(&d.kit.app, &d.desk, "alice", None, &client(), d.now())
            .unwrap();
    assert_eq!(exp, T0 + 12 * 3600);
    assert!(matches!(
        d.login("alice", &pw).unwrap(),
        LoginStep::Session(_)
    ));
    assert!(
        d.login("alice", &pw.to_uppercase().replace('-', " "))
            .is_ok(),
        "forgiving input"
    );
    d.kit.clock.advance(12 * 3600 - 1);
    assert!(d.login("alice", &pw).is_ok());
    d.kit.clock.advance(1);
    assert!(d.login("alice", &pw).is_err(), "expired at midnight");
    // A new one ends when the key is used again.
    let (pw, _) =
        helpdesk::temporary_password(&d.kit.app, &d.desk, "alice", Some("2h"), &client(), d.now())
            .unwrap();
    assert!(d.login("alice", &pw).is_ok());
    d.kit.clock.advance(60);
    assert!(
        d.login("alice", &format!("4711{}", key.display_at(d.now() as u64)))
            .is_ok()
    );
    assert!(d.login("alice", &pw).is_err(), "ended by the key login");
    // Revoked by the helpdesk; bounds on validity.
    let (pw, _) =
        helpdesk::temporary_password(&d.kit.app, &d.desk, "alice", Some("1h"), &client(), d.now())
            .unwrap();
    helpdesk::revoke_temporary_password(&d.kit.app, &d.desk, "alice", &client(), d.now()).unwrap();
    assert!(d.login("alice", &pw).is_err());
    assert_eq!(
        helpdesk::temporary_password(&d.kit.app, &d.desk, "alice", Some("8d"), &client(), d.now())
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(
        helpdesk::end_of_local_day(T0, 3600),
        T0 + 11 * 3600,
        "UTC+1: midnight is 23:00 UTC"
    );
}

#[test]
fn totp_resync_learns_the_drift() {
    let d = desk();
    d.assign("alice", "TK-0002");
    let mut key = emulator("TK-0002");
    d.first_use("alice", &key.display_at(d.now() as u64), "4711");
    // The key's clock runs 50 minutes fast: its codes are far outside ±1 step.
    let fast =
        |k: &mut KeyEmulator, now: i64, steps: i64| k.display_at((now + 3000 + steps * 60) as u64);
    assert!(
        d.login("alice", &format!("4711{}", fast(&mut key, d.now(), 0)))
            .is_err()
    );
    helpdesk::unlock(&d.kit.app, &d.desk, "TK-0002", &client(), d.now()).unwrap();
    // The user reads a code, waits for the next one, and reads it too.
    let c1 = fast(&mut key, d.now(), 0);
    d.kit.clock.advance(60);
    let c2 = fast(&mut key, d.now(), 0);
    assert_eq!(
        helpdesk::resync(&d.kit.app, &d.desk, "TK-0002", &c2, &c1, &client(), d.now())
            .unwrap_err()
            .code(),
        "invalid_code",
        "order matters"
    );
    helpdesk::resync(&d.kit.app, &d.desk, "TK-0002", &c1, &c2, &client(), d.now()).unwrap();
    let k = d.kit.app.store.key_by_serial("TK-0002").unwrap().unwrap();
    assert_eq!(k.drift, 50);
    // The code used for the resync is consumed.
    assert!(d.login("alice", &format!("4711{c2}")).is_err());
    d.kit.clock.advance(180);
    assert!(
        d.login("alice", &format!("4711{}", fast(&mut key, d.now(), 0)))
            .is_ok()
    );
}

#[test]
fn hotp_look_ahead_and_resync() {
    let d = desk();
    d.assign("alice", "HK-0001");
    let mut key = emulator("HK-0001");
    d.first_use("alice", &key.display_at(0), "4711");
    // Five presses in a pocket: still within the look-ahead of 10.
    for _ in 0..5 {
        key.display_at(0);
    }
    assert!(
        d.login("alice", &format!("4711{}", key.display_at(0)))
            .is_ok()
    );
    // Twelve presses: beyond the window.
    for _ in 0..11 {
        key.display_at(0);
    }
    let far = key.display_at(0);
    assert!(d.login("alice", &format!("4711{far}")).is_err());
    let (c1, c2) = (key.display_at(0), key.display_at(0));
    helpdesk::resync(&d.kit.app, &d.desk, "HK-0001", &c1, &c2, &client(), d.now()).unwrap();
    assert!(
        d.login("alice", &format!("4711{}", key.display_at(0)))
            .is_ok()
    );
}

#[test]
fn helpdesk_least_privilege() {
    let d = desk();
    d.kit.user("root", PW, &["admin"]);
    let alice = d.kit.login("alice", PW);
    let now = d.now();
    assert_eq!(
        helpdesk::list(&d.kit.app, &alice, None, None, None, Default::default())
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        helpdesk::assign(&d.kit.app, &d.desk, "root", "TK-0001", None, &client(), now)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        helpdesk::temporary_password(&d.kit.app, &d.desk, "root", None, &client(), now)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        helpdesk::temporary_password(&d.kit.app, &d.desk, "hd", None, &client(), now)
            .unwrap_err()
            .code(),
        "self_action_refused"
    );
    d.assign("alice", "TK-0001");
    assert_eq!(
        helpdesk::assign(
            &d.kit.app,
            &d.desk,
            "alice",
            "TK-0001",
            None,
            &client(),
            now
        )
        .unwrap_err()
        .code(),
        "key_not_in_stock"
    );
    // Replacing a key revokes the old one.
    helpdesk::assign(
        &d.kit.app,
        &d.desk,
        "alice",
        "TK-0002",
        Some("TK-0001"),
        &client(),
        now,
    )
    .unwrap();
    let old = d.kit.app.store.key_by_serial("TK-0001").unwrap().unwrap();
    assert_eq!(old.state.as_str(), "revoked");
    let listed = helpdesk::list(
        &d.kit.app,
        &d.desk,
        Some("assigned"),
        Some("alice"),
        None,
        Default::default(),
    )
    .unwrap();
    assert_eq!(
        listed.iter().map(|k| k.serial.as_str()).collect::<Vec<_>>(),
        ["TK-0002"]
    );
}

#[test]
fn validate_answers_accept_reject_and_pin_challenge() {
    let d = desk();
    d.assign("alice", "TK-0001");
    let mut key = emulator("TK-0001");
    let app = &d.kit.app;
    let code = key.display_at(d.now() as u64);
    let Verdict::Challenge(ch) = validate(app, "alice", &code, None, &client(), d.now()).unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        validate(app, "alice", "4711", Some(&ch), &client(), d.now()).unwrap(),
        Verdict::Accept
    ));
    d.kit.clock.advance(60);
    let pc = format!("4711{}", key.display_at(d.now() as u64));
    assert!(matches!(
        validate(app, "alice", &pc, None, &client(), d.now()).unwrap(),
        Verdict::Accept
    ));
    assert!(matches!(
        validate(app, "alice", &pc, None, &client(), d.now()).unwrap(),
        Verdict::Reject
    ));
    assert!(matches!(
        validate(app, "nobody", &pc, None, &client(), d.now()).unwrap(),
        Verdict::Reject
    ));
    // No session was opened by validate.
    let alice = app.store.user_by_name("alice").unwrap().unwrap();
    assert!(
        app.store
            .list_sessions(alice.id, d.now())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_disabled_key_cannot_be_resynced_or_unlocked() {
    let d = desk();
    helpdesk::assign(
        &d.kit.app,
        &d.desk,
        "alice",
        "TK-0001",
        None,
        &client(),
        d.now(),
    )
    .unwrap();
    helpdesk::disable(
        &d.kit.app,
        &d.desk,
        "TK-0001",
        "stolen",
        "",
        &client(),
        d.now(),
    )
    .unwrap();
    let mut emu = emulator("TK-0001");
    let c1 = emu.display_at(d.now() as u64);
    let c2 = emu.display_at(d.now() as u64 + 60);
    let code = |e: Error| e.code();
    assert_eq!(
        code(
            helpdesk::resync(&d.kit.app, &d.desk, "TK-0001", &c1, &c2, &client(), d.now())
                .unwrap_err()
        ),
        "key_not_active"
    );
    assert_eq!(
        code(helpdesk::unlock(&d.kit.app, &d.desk, "TK-0001", &client(), d.now()).unwrap_err()),
        "key_not_active"
    );
    let key = d.kit.app.store.key_by_serial("TK-0001").unwrap().unwrap();
    assert!(matches!(key.state, crate::model::KeyState::Disabled(_)));
}

#[test]
fn the_key_list_pages_in_serial_order() {
    let d = desk();
    let all = helpdesk::list(&d.kit.app, &d.desk, None, None, None, Default::default()).unwrap();
    let serials: Vec<_> = all.iter().map(|k| k.serial.as_str()).collect();
    assert_eq!(serials, ["HK-0001", "TK-0001", "TK-0002"]);

    let page = |after: Option<&str>| {
        helpdesk::list(
            &d.kit.app,
            &d.desk,
            None,
            None,
            None,
            helpdesk::Page {
                after: after.map(str::to_owned),
                limit: Some(2),
            },
        )
        .unwrap()
        .into_iter()
        .map(|k| k.serial)
        .collect::<Vec<_>>()
    };
    assert_eq!(page(None), ["HK-0001", "TK-0001"]);
    assert_eq!(page(Some("TK-0001")), ["TK-0002"]);
    assert!(page(Some("TK-0002")).is_empty());
}
