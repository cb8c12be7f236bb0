//! Flow tests: the rules of issue "authd core", exercised without HTTP.

use super::account::{self, TotpOptions};
use super::admin::{self, CreateUser, PatchUser};
use super::login::{self, LoginStep, MfaMethod};
use super::testkit::*;
use crate::Error;
use crate::credentials::totp;
use sesame_hardware::otp::totp_at_step;

const PW: &str = "tortue-lavande-9";

fn enrol_totp(kit: &Kit, who: &login::Authenticated) -> (i64, Vec<u8>) {
    let now = kit.clock_now();
    let e = account::totp_enrol(
        &kit.app,
        who,
        &TotpOptions {
            label: "phone".into(),
            ..Default::default()
        },
        &client(),
        now,
    )
    .unwrap();
    let cred = kit
        .app
        .store
        .list_totp(who.user.id)
        .unwrap()
        .into_iter()
        .find(|c| c.id == e.id)
        .unwrap();
    let secret = totp::open_secret(&kit.app.key, &cred)
        .unwrap()
        .as_bytes()
        .to_vec();
    // The manual key and the QR code carry the same secret.
    let b32 = e.secret.replace(' ', "");
    assert!(
        e.otpauth_uri.contains(&format!("secret={b32}")),
        "{}",
        e.otpauth_uri
    );
    assert!(e.qr_svg.starts_with("<?xml") || e.qr_svg.starts_with("<svg"));
    let code = code_at(kit, &cred.params, &secret, now);
    account::totp_confirm(&kit.app, who, e.id, &code, &client(), now).unwrap();
    (e.id, secret)
}

fn code_at(
    _kit: &Kit,
    params: &sesame_hardware::otp::TotpParams,
    secret: &[u8],
    now: i64,
) -> String {
    totp_at_step(secret, params.step_at(now as u64), params).to_string()
}

fn default_params() -> sesame_hardware::otp::TotpParams {
    sesame_hardware::otp::TotpParams::default()
}

fn mfa_challenge(kit: &Kit, name: &str) -> String {
    match login::password_step(&kit.app, name, PW, &client(), kit.clock_now()).unwrap() {
        LoginStep::MfaRequired { challenge, methods } => {
            assert_eq!(methods[0], MfaMethod::Totp);
            challenge.to_string()
        }
        other => panic!("expected mfa, got {other:?}"),
    }
}

#[test]
fn unknown_user_wrong_password_and_disabled_look_the_same() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    kit.user("bob", PW, &[]);
    let admin_user = kit.user("root", PW, &["admin"]);
    let _ = admin_user;
    let root = kit.login("root", PW);
    admin::patch_user(
        &kit.app,
        &root,
        "bob",
        &PatchUser {
            disabled: Some(true),
            ..Default::default()
        },
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let now = kit.clock_now();
    let errs: Vec<Error> = vec![
        login::password_step(&kit.app, "nobody", PW, &client(), now).unwrap_err(),
        login::password_step(&kit.app, "alice", "wrong-password-1", &client(), now).unwrap_err(),
        login::password_step(&kit.app, "bob", PW, &client(), now).unwrap_err(),
        login::password_step(&kit.app, "bad name!", PW, &client(), now).unwrap_err(),
    ];
    for e in &errs {
        assert_eq!(e.code(), "invalid_credentials");
        assert_eq!(e.to_string(), errs[0].to_string());
    }
    // Each failure is audited with its true reason (for admins, not for the caller).
    let trail = kit.app.store.list_audit(&Default::default()).unwrap();
    let reasons: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "login.password" && e.outcome == "failure")
        .map(|e| e.detail["reason"].as_str().unwrap().to_owned())
        .collect();
    for r in ["unknown_user", "bad_password", "account_disabled"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
}

#[test]
fn totp_login_step_is_accepted_once_even_after_restart() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    let (_id, secret) = enrol_totp(&kit, &who);
    kit.clock.advance(30);
    let code = code_at(&kit, &default_params(), &secret, kit.clock_now());
    let ch = mfa_challenge(&kit, "alice");
    let step = login::mfa_step(
        &kit.app,
        &ch,
        MfaMethod::Totp,
        &code,
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    assert!(matches!(step, LoginStep::Session(_)));
    // Restart the store: the consumed step stays consumed.
    let kit = kit.restart();
    let ch = mfa_challenge(&kit, "alice");
    let e = login::mfa_step(
        &kit.app,
        &ch,
        MfaMethod::Totp,
        &code,
        &client(),
        kit.clock_now(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_code");
    // The next step's code works.
    kit.clock.advance(30);
    let next = code_at(&kit, &default_params(), &secret, kit.clock_now());
    assert!(matches!(
        login::mfa_step(
            &kit.app,
            &ch,
            MfaMethod::Totp,
            &next,
            &client(),
            kit.clock_now()
        )
        .unwrap(),
        LoginStep::Session(_)
    ));
}

#[test]
fn same_code_raced_on_many_challenges_is_accepted_exactly_once() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    let (_id, secret) = enrol_totp(&kit, &who);
    kit.clock.advance(30);
    let now = kit.clock_now();
    let code = code_at(&kit, &default_params(), &secret, now);
    let challenges: Vec<String> = (0..12).map(|_| mfa_challenge(&kit, "alice")).collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(challenges.len()));
    let handles: Vec<_> = challenges
        .into_iter()
        .map(|ch| {
            let app = kit.app.clone();
            let code = code.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                login::mfa_step(&app, &ch, MfaMethod::Totp, &code, &client(), now).is_ok()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn totp_window_is_plus_minus_one_step() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    let (_id, secret) = enrol_totp(&kit, &who);
    let p = default_params();
    let base = kit.clock_now() + 300;
    kit.clock.set(base);
    // -2 steps: too old; -1 step: accepted; the same again: replay; +2 steps: too far ahead.
    for (offset, ok) in [(-60, false), (-30, true), (-30, false), (60, false)] {
        let code = code_at(&kit, &p, &secret, base + offset);
        let ch = mfa_challenge(&kit, "alice");
        let r = login::mfa_step(&kit.app, &ch, MfaMethod::Totp, &code, &client(), base);
        assert_eq!(r.is_ok(), ok, "offset {offset}");
    }
    // +1 step (a phone slightly ahead) is accepted, being newer than the -1 step used above.
    let code = code_at(&kit, &p, &secret, base + 30);
    let ch = mfa_challenge(&kit, "alice");
    assert!(login::mfa_step(&kit.app, &ch, MfaMethod::Totp, &code, &client(), base).is_ok());
}

#[test]
fn backup_codes_are_single_use_and_warn_when_low() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    enrol_totp(&kit, &who);
    let old = account::backup_codes_generate(&kit.app, &who, &client(), kit.clock_now()).unwrap();
    let codes = account::backup_codes_generate(&kit.app, &who, &client(), kit.clock_now()).unwrap();
    assert_eq!(codes.len(), 10);
    // A new set voids the old one.
    let ch = mfa_challenge(&kit, "alice");
    assert_eq!(
        login::mfa_step(
            &kit.app,
            &ch,
            MfaMethod::BackupCode,
            &old[0],
            &client(),
            kit.clock_now()
        )
        .unwrap_err()
        .code(),
        "invalid_code"
    );
    // Any order; each once.
    for (i, code) in codes.iter().enumerate().rev() {
        let ch = mfa_challenge(&kit, "alice");
        let step = login::mfa_step(
            &kit.app,
            &ch,
            MfaMethod::BackupCode,
            &code.to_uppercase(),
            &client(),
            kit.clock_now(),
        )
        .unwrap();
        let LoginStep::Session(s) = step else {
            panic!()
        };
        let left = i as u64;
        assert_eq!(
            s.backup_codes_low,
            (left <= 2).then_some(left),
            "after using code {i}"
        );
        if i == 0 {
            break;
        }
        let ch = mfa_challenge(&kit, "alice");
        assert_eq!(
            login::mfa_step(
                &kit.app,
                &ch,
                MfaMethod::BackupCode,
                code,
                &client(),
                kit.clock_now()
            )
            .unwrap_err()
            .code(),
            "invalid_code",
            "reuse of code {i}"
        );
    }
    assert_eq!(kit.app.store.count_backup_codes(who.user.id).unwrap(), 0);
}

#[test]
fn challenges_expire_and_die_after_five_failures() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    let (_id, secret) = enrol_totp(&kit, &who);
    kit.clock.advance(60);
    let ch = mfa_challenge(&kit, "alice");
    for _ in 0..5 {
        assert_eq!(
            login::mfa_step(
                &kit.app,
                &ch,
                MfaMethod::Totp,
                "000000",
                &client(),
                kit.clock_now()
            )
            .unwrap_err()
            .code(),
            "invalid_code"
        );
    }
    let good = code_at(&kit, &default_params(), &secret, kit.clock_now());
    assert_eq!(
        login::mfa_step(
            &kit.app,
            &ch,
            MfaMethod::Totp,
            &good,
            &client(),
            kit.clock_now()
        )
        .unwrap_err()
        .code(),
        "challenge_expired"
    );
    let ch = mfa_challenge(&kit, "alice");
    kit.clock.advance(5 * 60 + 1);
    let good = code_at(&kit, &default_params(), &secret, kit.clock_now());
    assert_eq!(
        login::mfa_step(
            &kit.app,
            &ch,
            MfaMethod::Totp,
            &good,
            &client(),
            kit.clock_now()
        )
        .unwrap_err()
        .code(),
        "challenge_expired"
    );
}

#[test]
fn forced_password_change_then_session() {
    let kit = Kit::new();
    let root = {
        kit.user("root", PW, &["admin"]);
        kit.login("root", PW)
    };
    admin::create_user(
        &kit.app,
        &root,
        &CreateUser {
            username: "Carol".into(),
            password: "initial-secret-123".into(),
            roles: vec![],
            must_change_password: true,
        },
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let ch = match login::password_step(
        &kit.app,
        "carol",
        "initial-secret-123",
        &client(),
        kit.clock_now(),
    )
    .unwrap()
    {
        LoginStep::PasswordChangeRequired { challenge } => challenge,
        other => panic!("{other:?}"),
    };
    // Policy applies (15 chars without MFA), and the same password is refused.
    assert_eq!(
        login::password_change_step(&kit.app, &ch, "short-pass-1", &client(), kit.clock_now())
            .unwrap_err()
            .code(),
        "password_too_short"
    );
    assert_eq!(
        login::password_change_step(
            &kit.app,
            &ch,
            "initial-secret-123",
            &client(),
            kit.clock_now()
        )
        .unwrap_err()
        .code(),
        "password_reused"
    );
    let LoginStep::Session(_) = login::password_change_step(
        &kit.app,
        &ch,
        "a much longer passphrase",
        &client(),
        kit.clock_now(),
    )
    .unwrap() else {
        panic!()
    };
    assert!(
        login::password_step(
            &kit.app,
            "carol",
            "initial-secret-123",
            &client(),
            kit.clock_now()
        )
        .is_err()
    );
    kit.login("carol", "a much longer passphrase");
}

#[test]
fn sessions_expire_with_the_clock_and_password_change_revokes_others() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let a = kit.login("alice", PW);
    let b = kit.login("alice", PW);
    let token_probe = |kit: &Kit| {
        kit.app
            .store
            .list_sessions(a.user.id, kit.clock_now())
            .unwrap()
            .len()
    };
    assert_eq!(token_probe(&kit), 2);
    account::change_password(
        &kit.app,
        &a,
        PW,
        "new-passphrase-42",
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let live = kit
        .app
        .store
        .list_sessions(a.user.id, kit.clock_now())
        .unwrap();
    assert_eq!(
        live.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![a.session.id],
        "b revoked, a kept"
    );
    let _ = b;
    // 4 h lifetime.
    kit.clock.advance(4 * 3600 - 1);
    assert_eq!(token_probe(&kit), 1);
    kit.clock.advance(1);
    assert_eq!(token_probe(&kit), 0);
}

#[test]
fn admins_cannot_lock_themselves_out() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let now = kit.clock_now();
    assert_eq!(
        admin::patch_user(
            &kit.app,
            &root,
            "root",
            &PatchUser {
                disabled: Some(true),
                ..Default::default()
            },
            &client(),
            now
        )
        .unwrap_err()
        .code(),
        "self_action_refused"
    );
    assert_eq!(
        admin::patch_user(
            &kit.app,
            &root,
            "root",
            &PatchUser {
                roles: Some(vec!["user".into()]),
                ..Default::default()
            },
            &client(),
            now
        )
        .unwrap_err()
        .code(),
        "self_action_refused"
    );
    assert_eq!(
        admin::delete_user(&kit.app, &root, "root", &client(), now)
            .unwrap_err()
            .code(),
        "self_action_refused"
    );
    // A non-admin cannot administer at all.
    kit.user("alice", PW, &[]);
    let alice = kit.login("alice", PW);
    assert_eq!(
        admin::list_users(&kit.app, &alice).unwrap_err().code(),
        "forbidden"
    );
}

#[test]
fn disabling_an_account_ends_its_sessions() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    kit.user("alice", PW, &[]);
    let root = kit.login("root", PW);
    let alice = kit.login("alice", PW);
    admin::patch_user(
        &kit.app,
        &root,
        "alice",
        &PatchUser {
            disabled: Some(true),
            ..Default::default()
        },
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    assert!(
        kit.app
            .store
            .list_sessions(alice.user.id, kit.clock_now())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn seeds_are_encrypted_at_rest_and_audit_chain_verifies() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let who = kit.login("alice", PW);
    let (_id, secret) = enrol_totp(&kit, &who);
    let db = std::fs::read(kit.dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    let wal = std::fs::read(
        kit.dir
            .path()
            .join(format!("{}-wal", crate::store::sqlite::DB_FILE)),
    )
    .unwrap_or_default();
    let b32 = data_encoding::BASE32_NOPAD.encode(&secret);
    for hay in [&db, &wal] {
        assert!(
            !hay.windows(secret.len()).any(|w| w == secret.as_slice()),
            "raw seed on disk"
        );
        assert!(
            !hay.windows(b32.len()).any(|w| w == b32.as_bytes()),
            "base32 seed on disk"
        );
    }
    assert!(matches!(kit.app.store.verify_audit_chain().unwrap(), Ok(n) if n >= 4));
    // Tampering with an entry is detected.
    let c = rusqlite::Connection::open(kit.dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    c.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2", [])
        .unwrap();
    assert_eq!(kit.app.store.verify_audit_chain().unwrap(), Err(2));
}
