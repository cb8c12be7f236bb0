//! Flow tests of second-factor resets and step-up (issue "who may do what").

use super::helpdesk;
use super::login::MfaMethod;
use super::resets::{self, Filed};
use super::testkit::*;
use crate::Error;
use crate::model::KeyState;
use sesame_hardware::seeds::Decryption;

const PW: &str = "tortue-lavande-9";
const CSV: &str = "serial,seed,type,digits,period_or_counter
TK-0001,3132333435363738393031323334353637383930,totp,6,60
";

#[test]
fn a_reset_removes_every_factor_and_disables_keys_in_one_go() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let bob = kit.user("bob", PW, &["user"]);
    kit.equip_mfa(&bob);
    let root = kit.login("root", PW);
    helpdesk::import(
        &kit.app,
        &root,
        CSV.as_bytes(),
        &Decryption::None,
        false,
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    helpdesk::assign(
        &kit.app,
        &root,
        "bob",
        "TK-0001",
        None,
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let bob_session = kit.login("bob", PW);
    let done = resets::request(&kit.app, &root, "bob", &client(), kit.clock_now()).unwrap();
    let Filed::Done { outcome, .. } = done else {
        panic!("a user's reset applies at once: {done:?}")
    };
    assert_eq!((outcome.totp_devices, outcome.keys), (1, 1));
    assert!(outcome.backup_codes >= 40, "{outcome:?}");
    assert!(outcome.sessions >= 1);
    let now = kit.clock_now();
    assert!(kit.app.store.list_totp(bob.id).unwrap().is_empty());
    assert_eq!(kit.app.store.count_backup_codes(bob.id).unwrap(), 0);
    let key = kit.app.store.key_by_serial("TK-0001").unwrap().unwrap();
    assert!(
        matches!(key.state, KeyState::Disabled(_)),
        "{:?}",
        key.state
    );
    assert!(
        kit.app
            .store
            .list_sessions(bob.id, now)
            .unwrap()
            .iter()
            .all(|s| s.id != bob_session.session.id),
        "bob's sessions ended"
    );
}

#[test]
fn two_approvals_raced_apply_the_reset_once() {
    let kit = Kit::with(|c| c.mfa.two_person_admin_reset = true);
    for n in ["root", "a2", "a3", "a4"] {
        kit.user(n, PW, &["admin"]);
    }
    let root = kit.login("root", PW);
    let Filed::Pending(r) =
        resets::request(&kit.app, &root, "a4", &client(), kit.clock_now()).unwrap()
    else {
        panic!("an admin's reset waits")
    };
    let a2 = kit.login("a2", PW);
    let a3 = kit.login("a3", PW);
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = [&a2, &a3]
            .into_iter()
            .map(|who| {
                let app = &kit.app;
                let now = kit.clock_now();
                s.spawn(move || resets::approve(app, who, r.id, &client(), now))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().any(|r| matches!(
        r,
        Err(Error::Conflict {
            code: "reset_not_pending",
            ..
        })
    )));
}

#[test]
fn one_other_admin_suffices_when_the_two_person_rule_is_off() {
    let kit = Kit::with(|c| c.mfa.two_person_admin_reset = false);
    kit.user("root", PW, &["admin"]);
    kit.user("a2", PW, &["admin"]);
    let root = kit.login("root", PW);
    let r = resets::request(&kit.app, &root, "a2", &client(), kit.clock_now()).unwrap();
    assert!(matches!(r, Filed::Done { .. }), "{r:?}");
}

#[test]
fn helpdesk_cannot_approve_and_step_up_codes_are_single_use() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    kit.user("a2", PW, &["admin"]);
    kit.user("hd", PW, &["helpdesk"]);
    let root = kit.login("root", PW);
    let Filed::Pending(r) =
        resets::request(&kit.app, &root, "a2", &client(), kit.clock_now()).unwrap()
    else {
        panic!("pending")
    };
    let hd = kit.login("hd", PW);
    assert!(matches!(
        resets::approve(&kit.app, &hd, r.id, &client(), kit.clock_now()),
        Err(Error::Forbidden)
    ));
    // Eleven minutes on, root must re-authenticate; a backup code works once.
    kit.clock.advance(11 * 60);
    assert!(matches!(
        resets::require_recent(&kit.app, &root, kit.clock_now()),
        Err(Error::ReauthRequired)
    ));
    let code = kit.backup_code("root");
    let now = kit.clock_now();
    resets::reauth(
        &kit.app,
        &root,
        PW,
        Some((MfaMethod::BackupCode, &code)),
        &client(),
        now,
    )
    .unwrap();
    assert!(matches!(
        resets::reauth(
            &kit.app,
            &root,
            PW,
            Some((MfaMethod::BackupCode, &code)),
            &client(),
            now
        ),
        Err(Error::InvalidCode)
    ));
    assert!(matches!(
        resets::reauth(&kit.app, &root, "wrong password here", None, &client(), now),
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        resets::reauth(&kit.app, &root, PW, None, &client(), now),
        Err(Error::InvalidRequest(_))
    ));
    // The session now counts as freshly authenticated.
    let stored = kit
        .app
        .store
        .list_sessions(root.user.id, now)
        .unwrap()
        .into_iter()
        .find(|s| s.id == root.session.id)
        .unwrap();
    assert_eq!(stored.authenticated_at, now);
}
