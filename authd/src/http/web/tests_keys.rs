//! Page tests of hardware keys and the helpdesk console: seed import (dry run, real, faulty),
//! assignment, first sign-in with the code alone and the PIN choice, PIN ‖ code, disabling a
//! key ends its sessions, the other key actions, temporary passwords, and who may reach the
//! console. Codes come from [`KeyEmulator`] built from the same CSV.

use super::test_browser::{Browser, Page, between};
use crate::flows::testkit::Kit;
use axum::http::StatusCode;
use sesame_hardware::emulator::KeyEmulator;
use sesame_hardware::seeds;

const PW: &str = "tortue-lavande-9";
/// The vendor's CSV: two 60 s TOTP keys and an HOTP key.
const CSV: &str = "# serial, seed, type, digits, period/counter
serial,seed,type,digits,period_or_counter
TK-0001,3132333435363738393031323334353637383930,totp,6,60
TK-0002,4142434445464748494a4b4c4d4e4f5051525354,totp,6,60
HK-0001,6162636465666768696a6b6c6d6e6f7071727374,hotp,6,0
";

fn emulator(serial: &str) -> KeyEmulator {
    let tokens = seeds::import_csv(CSV.as_bytes()).unwrap();
    KeyEmulator::from_seed(tokens.into_iter().find(|t| t.serial == serial).unwrap())
}

/// The code a TOTP key shows `later` seconds from the kit's clock.
fn code(kit: &Kit, serial: &str, later: i64) -> String {
    emulator(serial).display_at((kit.clock_now() + later) as u64)
}

/// A kit with a helpdesk member `hd` (signed in on the returned browser) and a user `alice`.
async fn desk() -> (Kit, Browser) {
    let kit = Kit::new();
    kit.user("hd", PW, &["helpdesk"]);
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let account = b.sign_in("hd", PW).await;
    assert!(account.body.contains("href=\"/helpdesk\""));
    (kit, b)
}

async fn import(b: &mut Browser, file: &str, dry_run: bool) -> Page {
    let csrf = b.get("/helpdesk").await.csrf();
    let mut fields = vec![("csrf", csrf.as_str()), ("file", file)];
    if dry_run {
        fields.push(("dry_run", "on"));
    }
    b.post("/helpdesk/import", &fields).await
}

/// A helpdesk action on a key through its form; returns the redirect or the page.
async fn act(b: &mut Browser, action: &str, serial: &str, extra: &[(&str, &str)]) -> Page {
    let csrf = b.get("/helpdesk").await.csrf();
    let mut fields = vec![("csrf", csrf.as_str()), ("serial", serial)];
    fields.extend_from_slice(extra);
    b.post(&format!("/helpdesk/keys/{action}"), &fields).await
}

async fn key_login(b: &mut Browser, user: &str, passcode: &str) -> Page {
    let csrf = b.get("/login").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("username", user),
        ("passcode", passcode),
    ];
    b.post("/login/key", &fields).await
}

async fn choose_pin(b: &mut Browser, csrf: &str, pin: &str, repeat: &str) -> Page {
    let fields = [("csrf", csrf), ("pin", pin), ("repeat", repeat)];
    b.post("/login/pin", &fields).await
}

async fn issue_temp(b: &mut Browser, csrf: &str, user: &str, valid_for: &str) -> Page {
    let fields = [("csrf", csrf), ("username", user), ("valid_for", valid_for)];
    b.post("/helpdesk/temporary-password", &fields).await
}

fn state_of(kit: &Kit, serial: &str) -> &'static str {
    let k = kit.app.store.key_by_serial(serial).unwrap().unwrap();
    k.state.as_str()
}

#[tokio::test]
async fn import_assign_first_use_pin_then_disable() {
    let (kit, mut hd) = desk().await;
    let page = hd.get("/helpdesk").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"dry_run\" value=\"on\" checked"));
    assert!(page.body.contains("No key matches."));

    // A dry run reports and stores nothing; the file stays in the form for the real import.
    let p = import(&mut hd, CSV, true).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("3 keys would be imported"), "{}", p.body);
    assert_eq!(p.body.matches("would be imported</td>").count(), 3);
    assert!(
        p.body.contains("<td>TOTP · 60 s</td><td>6</td>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("HK-0001,6162"));
    assert!(!p.body.contains("name=\"dry_run\" value=\"on\" checked"));
    assert!(kit.app.store.key_by_serial("TK-0001").unwrap().is_none());
    let p = import(&mut hd, CSV, false).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("3 keys have been imported into stock."));
    assert_eq!(state_of(&kit, "TK-0001"), "in_stock");
    assert!(!p.body.contains("HK-0001,6162"), "the form starts afresh");

    // Assign to alice: back to the list filtered on the key, with a notice.
    let p = act(&mut hd, "assign", "TK-0001", &[("username", "alice")]).await;
    assert_eq!(p.location(), "/helpdesk?done=key_assigned&serial=TK-0001");
    let p = hd.get(p.location()).await;
    assert!(p.body.contains("The key has been assigned."));
    assert!(p.body.contains("<td>alice</td>"), "{}", p.body);
    assert!(!p.body.contains("TK-0002"));
    assert_eq!(state_of(&kit, "TK-0001"), "assigned");

    // Alice, in French: the code alone the first time, then the PIN page.
    let mut u = Browser::new(&kit);
    u.accept_language = Some("fr");
    let login = u.get("/login").await;
    assert!(login.body.contains("Se connecter avec ma clé OTP"));
    assert!(login.body.contains("action=\"/login/key\""));
    assert!(
        login
            .body
            .contains("id=\"passcode\" name=\"passcode\" type=\"text\"")
    );
    assert!(login.body.contains("autocomplete=\"one-time-code\""));
    assert!(!login.body.contains("inputmode=\"numeric\""));
    let p = key_login(&mut u, "alice", &code(&kit, "TK-0001", 0)).await;
    assert_eq!(p.location(), "/login/pin", "{}", p.body);
    assert!(p.set_cookie("sesame_session").is_none());
    assert!(p.set_cookie("sesame_challenge").is_some());
    let p = u.get("/login/pin").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("comporte de 4 à 8 chiffres"), "{}", p.body);
    assert!(p.body.contains("pas 1234, pas 9876"));
    let csrf = p.csrf();
    let p = choose_pin(&mut u, &csrf, "1234", "1234").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("Le code PIN ne doit pas être une suite de chiffres comme 1234 ou 9876."),
        "{}",
        p.body
    );
    let p = choose_pin(&mut u, &csrf, "4711", "4712").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("Les deux codes PIN ne sont pas identiques.")
    );
    let p = choose_pin(&mut u, &csrf, "4711", "4711").await;
    assert_eq!(p.location(), "/account", "{}", p.body);
    assert!(p.set_cookie("sesame_session").is_some());
    let account = u.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("otp_key"));
    assert!(!account.body.contains("href=\"/helpdesk\""));
    // The challenge is spent.
    assert_eq!(u.get("/login/pin").await.location(), "/login?done=expired");

    // Next time: PIN ‖ code, one step later. A wrong one is the password form's error.
    let p = u.post("/logout", &[("csrf", &account.csrf())]).await;
    assert_eq!(p.location(), "/login?done=logged_out");
    kit.clock.advance(60);
    let p = key_login(
        &mut u,
        "alice",
        &format!("1111{}", code(&kit, "TK-0001", 0)),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(
        p.body
            .contains("Le nom d’utilisateur ou le mot de passe est incorrect.")
    );
    assert!(p.body.contains("<details class=\"alt\" open>"));
    assert!(p.body.contains("value=\"alice\""));
    let p = key_login(
        &mut u,
        "alice",
        &format!("4711{}", code(&kit, "TK-0001", 0)),
    )
    .await;
    assert_eq!(p.location(), "/account", "{}", p.body);
    assert_eq!(u.get("/account").await.status, StatusCode::OK);

    // The helpdesk disables the key: alice's session ends at once.
    let note = "left on the train";
    let p = act(
        &mut hd,
        "disable",
        "TK-0001",
        &[("reason", "lost"), ("note", note)],
    )
    .await;
    assert_eq!(p.location(), "/helpdesk?done=key_disabled&serial=TK-0001");
    assert_eq!(u.get("/account").await.location(), "/login");
    let p = hd.get("/helpdesk?serial=TK-0001").await;
    assert!(
        p.body
            .contains("Disabled</span> <span class=\"muted\">(lost)</span>")
    );
    assert!(p.body.contains(note));
    // Disabled twice: the page says why, in the page's language.
    hd.accept_language = Some("fr");
    let p = act(&mut hd, "disable", "TK-0001", &[("reason", "stolen")]).await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(
        p.body
            .contains("Clé TK-0001 : Cette clé est déjà désactivée ou remplacée.")
    );
}

#[tokio::test]
async fn cancel_pin_unlock_and_resync_from_the_console() {
    let (kit, mut hd) = desk().await;
    import(&mut hd, CSV, false).await;
    act(&mut hd, "assign", "TK-0002", &[("username", "alice")]).await;
    let mut u = Browser::new(&kit);
    let p = key_login(&mut u, "alice", &code(&kit, "TK-0002", 0)).await;
    assert_eq!(p.location(), "/login/pin");
    let csrf = u.get("/login/pin").await.csrf();
    let fields = [("csrf", csrf.as_str()), ("pin", "2580"), ("repeat", "2580")];
    assert_eq!(u.post("/login/pin", &fields).await.location(), "/account");

    // Three failures show in the list; unlock clears them.
    let mut thief = Browser::new(&kit);
    for _ in 0..3 {
        let p = key_login(&mut thief, "alice", "0000000000").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    let p = hd.get("/helpdesk?user=alice").await;
    assert!(p.body.contains("<td>3</td>"), "{}", p.body);
    assert!(p.body.contains("action=\"/helpdesk/keys/unlock\""));
    let p = act(&mut hd, "unlock", "TK-0002", &[]).await;
    assert_eq!(p.location(), "/helpdesk?done=key_unlocked&serial=TK-0002");
    let k = kit.app.store.key_by_serial("TK-0002").unwrap().unwrap();
    assert_eq!(k.fail_count, 0);

    // A forgotten PIN: cancelled, the next sign-in takes the code alone again.
    let p = act(&mut hd, "cancel-pin", "TK-0002", &[]).await;
    assert_eq!(p.location(), "/helpdesk?done=pin_cancelled&serial=TK-0002");
    assert_eq!(u.get("/account").await.location(), "/login");
    kit.clock.advance(60);
    let p = key_login(&mut u, "alice", &code(&kit, "TK-0002", 0)).await;
    assert_eq!(p.location(), "/login/pin");

    // A key running ten minutes fast: two consecutive codes resync it; wrong codes do not.
    let bad = act(
        &mut hd,
        "resync",
        "TK-0002",
        &[("code1", "000000"), ("code2", "000000")],
    );
    let p = bad.await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains("Key TK-0002: The code is incorrect"),
        "{}",
        p.body
    );
    let (c1, c2) = (code(&kit, "TK-0002", 600), code(&kit, "TK-0002", 660));
    let p = act(
        &mut hd,
        "resync",
        "TK-0002",
        &[("code1", &c1), ("code2", &c2)],
    )
    .await;
    assert_eq!(p.location(), "/helpdesk?done=key_resynced&serial=TK-0002");
    assert!(hd.get(p.location()).await.body.contains("resynchronised"));

    // Unknown actions and keys are pages, not crashes.
    let p = act(&mut hd, "explode", "TK-0002", &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = act(&mut hd, "unlock", "NOPE", &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("Key NOPE: Key not found."), "{}", p.body);
}

#[tokio::test]
async fn a_faulty_seed_file_lists_its_faults_and_imports_nothing() {
    let (kit, mut hd) = desk().await;
    hd.accept_language = Some("fr");
    let faulty = "TK-0001,3132333435363738393031323334353637383930,totp,6,60
TK-0009,zz,totp,6,60
TK-0001,4142434445464748494a4b4c4d4e4f5051525354,totp,6,60
";
    let p = import(&mut hd, faulty, false).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains("Le fichier n’a pas été importé"),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains("Rien n’a été importé : corrigez ces entrées")
    );
    assert!(p.body.contains("<td>ligne 2</td>"), "{}", p.body);
    assert!(p.body.contains("Valeur invalide"));
    assert!(p.body.contains("Numéro de série en double dans le fichier"));
    assert!(p.body.contains("TK-0009,zz"), "the file stays in the form");
    assert!(kit.app.store.key_by_serial("TK-0001").unwrap().is_none());

    // The same serials twice across imports: the second file is refused whole.
    import(&mut hd, CSV, false).await;
    let p = import(&mut hd, CSV, true).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        p.body
            .matches("Une clé avec ce numéro de série existe déjà")
            .count(),
        3
    );
    assert!(p.body.contains("<td>clé 1</td>"));

    // A key for a CSV file, both a key and a password, a key not in hex.
    let csrf = hd.get("/helpdesk").await.csrf();
    let send = [
        ("csrf", csrf.as_str()),
        ("file", "X,00,totp,6,60"),
        ("key", "00ff"),
    ];
    let p = hd.post("/helpdesk/import", &send).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("le fichier ne contient aucun secret chiffré")
    );
    assert!(p.body.contains("Saisissez de nouveau la clé"));
    let both = [
        ("csrf", csrf.as_str()),
        ("file", "<x/>"),
        ("key", "00"),
        ("password", "p"),
    ];
    let p = hd.post("/helpdesk/import", &both).await;
    assert!(p.body.contains("pas les deux."));
    let hex = [("csrf", csrf.as_str()), ("file", "<x/>"), ("key", "xyz")];
    let p = hd.post("/helpdesk/import", &hex).await;
    assert!(p.body.contains("doit être écrite en hexadécimal"));
    assert!(!p.body.contains("xyz"), "the key is never sent back");
    assert_eq!(state_of(&kit, "TK-0001"), "in_stock");
}

#[tokio::test]
async fn a_temporary_password_is_shown_once_and_opens_a_session() {
    let (kit, mut hd) = desk().await;
    let csrf = hd.get("/helpdesk").await.csrf();
    let p = issue_temp(&mut hd, &csrf, "alice", "").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Temporary password for alice"));
    assert!(p.body.contains("it will not be shown again"));
    // T0 is 2026-11-23 12:00 UTC: valid until the end of that day.
    assert!(p.body.contains("2026-11-24 00:00 UTC"), "{}", p.body);
    let password = between(&p.body, "<code class=\"secret\">", "</code>").unwrap();
    assert_eq!(password.len(), 14);
    assert!(!hd.get("/helpdesk").await.body.contains(&password));

    // It works on the key form (upper case and no dashes too).
    let mut u = Browser::new(&kit);
    let typed = password.replace('-', "").to_uppercase();
    let p = key_login(&mut u, "alice", &typed).await;
    assert_eq!(p.location(), "/account", "{}", p.body);
    // The password form does not take it.
    let mut other = Browser::new(&kit);
    let csrf2 = other.get("/login").await.csrf();
    let f = [
        ("csrf", csrf2.as_str()),
        ("username", "alice"),
        ("password", &password),
    ];
    assert_eq!(
        other.post("/login", &f).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A validity beyond the maximum is refused with the rule; so is acting on oneself.
    hd.accept_language = Some("fr");
    let p = issue_temp(&mut hd, &csrf, "alice", "30d").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body
            .contains("La validité doit être comprise entre 1 minute et 7d.")
    );
    let p = issue_temp(&mut hd, &csrf, "hd", "8h").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("Demandez à un collègue"));

    // Revoked: it no longer opens a session.
    let revoke = [("csrf", csrf.as_str()), ("username", "alice")];
    let p = hd
        .post("/helpdesk/temporary-password/revoke", &revoke)
        .await;
    assert_eq!(p.location(), "/helpdesk?done=temp_revoked");
    assert!(hd.get(p.location()).await.body.contains("a été révoqué"));
    let p = key_login(&mut other, "alice", &password).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = hd
        .post("/helpdesk/temporary-password/revoke", &revoke)
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_helpdesk_and_admins_reach_the_console_and_forms_need_csrf() {
    let (kit, mut hd) = desk().await;
    kit.user("root", PW, &["admin"]);
    let mut user = Browser::new(&kit);
    let account = user.sign_in("alice", PW).await;
    assert!(!account.body.contains("/helpdesk"));
    let p = user.get("/helpdesk").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("Access denied"));
    // A user's own valid token does not make a helpdesk form work.
    let mine = account.csrf();
    let fields = [("csrf", mine.as_str()), ("file", CSV)];
    let p = user.post("/helpdesk/import", &fields).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(kit.app.store.key_by_serial("TK-0001").unwrap().is_none());

    let mut adm = Browser::new(&kit);
    let account = adm.sign_in("root", PW).await;
    assert!(account.body.contains("href=\"/helpdesk\""));
    assert_eq!(adm.get("/helpdesk").await.status, StatusCode::OK);

    // Without a token, or with another session's, a helpdesk POST changes nothing.
    let theirs = adm.get("/helpdesk").await.csrf();
    for csrf in [None, Some(theirs.as_str())] {
        let mut fields = vec![("file", CSV)];
        fields.extend(csrf.map(|c| ("csrf", c)));
        let p = hd.post("/helpdesk/import", &fields).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.body.contains("The form has expired"));
    }
    assert!(kit.app.store.key_by_serial("TK-0001").unwrap().is_none());
    // Not signed in: to the sign-in page.
    let mut anon = Browser::new(&kit);
    assert_eq!(anon.get("/helpdesk").await.location(), "/login");
    // A filter naming nobody: an empty list and why.
    let p = hd.get("/helpdesk?user=nobody&state=assigned").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("User not found."));
    assert!(p.body.contains("<option value=\"assigned\" selected>"));
}
