//! Page tests of "who may do what", the admin side: the MFA policy page sending a group's
//! member to enrolment, resets from the users page with step-up and the two-person rule,
//! expiry, the helpdesk reset, and the technician role.

use super::test_browser::Browser;
use super::tests_account::{PW, post_from};
use crate::flows::testkit::Kit;
use crate::model::{ResetState, Role};
use axum::http::StatusCode;

#[tokio::test]
async fn a_groups_requirement_sends_its_member_to_enrolment() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let paula = kit.user("paula", PW, &[]);
    let mut adm = Browser::new(&kit);
    let account = adm.sign_in("root", PW).await;
    assert!(account.body.contains("href=\"/admin/policy\""));
    let p = adm.get("/admin/policy").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("No group yet."));

    let p = post_from(
        &mut adm,
        "/admin/policy",
        "/admin/groups",
        &[("name", "Bad Name")],
    )
    .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("A group name is 1 to 64"), "{}", p.body);
    assert!(
        p.body.contains("value=\"Bad Name\""),
        "the form keeps what was typed"
    );
    let fields = [("name", "parents"), ("description", "Parents' evening")];
    let p = post_from(&mut adm, "/admin/policy", "/admin/groups", &fields).await;
    assert_eq!(p.location(), "/admin/policy?done=group_created");
    let fields = [("username", "paula"), ("groups", "parents")];
    let p = post_from(&mut adm, "/admin/users", "/admin/users/groups", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=groups_set", "{}", p.body);
    assert_eq!(
        kit.app.store.user_groups(paula.id).expect("groups"),
        vec!["parents".to_owned()]
    );
    let p = adm.get("/admin/users").await;
    assert!(p.body.contains("<td>parents</td>"), "{}", p.body);
    let fields = [("username", "paula"), ("groups", "nosuch")];
    let p = post_from(&mut adm, "/admin/users", "/admin/users/groups", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("There is no group named"), "{}", p.body);

    // Paula can still sign in without a second factor.
    let mut paula_b = Browser::new(&kit);
    paula_b.sign_in("paula", PW).await;

    // Required for the group, in French this time.
    adm.accept_language = Some("fr");
    let fields = [("role:user", "optional"), ("group:parents", "required")];
    let p = post_from(&mut adm, "/admin/policy", "/admin/policy", &fields).await;
    assert_eq!(
        p.location(),
        "/admin/policy?done=policy_saved",
        "{}",
        p.body
    );
    let p = adm.get(p.location()).await;
    assert!(p.body.contains("La politique MFA a été enregistrée."));
    assert!(p.body.contains("Groupe · parents"), "{}", p.body);
    assert!(
        p.body
            .contains("<option value=\"required\" selected>Obligatoire</option>")
    );
    assert!(crate::flows::policy::mfa_required(&kit.app, &paula).expect("policy"));

    let mut paula_b = Browser::new(&kit);
    let csrf = paula_b.get("/login").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("username", "paula"),
        ("password", PW),
    ];
    let p = paula_b.post("/login", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/login/enrol");

    // Deleting the group frees its member again.
    let p = post_from(
        &mut adm,
        "/admin/policy",
        "/admin/groups/delete",
        &[("name", "parents")],
    )
    .await;
    assert_eq!(p.location(), "/admin/policy?done=group_deleted");
    assert!(!crate::flows::policy::mfa_required(&kit.app, &paula).expect("policy"));
}

#[tokio::test]
async fn resets_step_up_first_then_two_admins_for_an_admin() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let ada = kit.user("ada", PW, &["admin"]);
    kit.user("bob", PW, &["admin"]);
    let alice = kit.user("alice", PW, &[]);
    kit.equip_mfa(&alice);
    let mut root = Browser::new(&kit);
    root.sign_in("root", PW).await;
    kit.clock.advance(11 * 60);

    // Past the step-up window: to the step-up page, then back.
    let fields = [("username", "ada")];
    let p = post_from(&mut root, "/admin/users", "/admin/users/mfa-reset", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/account/reauth?next=/admin/users");
    assert!(kit.app.store.list_mfa_resets().expect("resets").is_empty());
    let p = root.get(p.location()).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("Confirm your identity"));
    assert!(p.body.contains("name=\"next\" value=\"/admin/users\""));
    assert!(p.body.contains("value=\"backup_code\""));
    let csrf = p.csrf();
    let code = kit.backup_code("root");
    let bad = [
        ("csrf", csrf.as_str()),
        ("next", "/admin/users"),
        ("password", "wrong password here"),
        ("method", "backup_code"),
        ("code", code.as_str()),
    ];
    let p = root.post("/account/reauth", &bad).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("The username or password is incorrect."));
    let good = [
        ("csrf", csrf.as_str()),
        ("next", "/admin/users"),
        ("password", PW),
        ("method", "backup_code"),
        ("code", code.as_str()),
    ];
    let p = root.post("/account/reauth", &good).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/admin/users");

    // An admin target: pending.
    let p = post_from(&mut root, "/admin/users", "/admin/users/mfa-reset", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=reset_pending");
    let p = root.get(p.location()).await;
    assert!(p.body.contains("waits for a second admin"));
    let rs = kit.app.store.list_mfa_resets().expect("resets");
    assert_eq!(rs.len(), 1);
    let now = kit.clock_now();
    assert_eq!(rs[0].state(now), ResetState::Pending);
    assert_eq!(rs[0].target, "ada");
    assert_eq!(kit.app.store.list_totp(ada.id).expect("totp").len(), 1);
    // A user target: at once.
    let fields = [("username", "alice")];
    let p = post_from(&mut root, "/admin/users", "/admin/users/mfa-reset", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=reset_done");
    assert!(kit.app.store.list_totp(alice.id).expect("totp").is_empty());

    // The filer cannot approve; the page says why.
    let p = root.get("/admin/policy").await;
    assert!(p.body.contains("Waiting for approval"), "{}", p.body);
    let path = format!("/admin/resets/{}/approve", rs[0].id);
    assert!(p.body.contains(&format!("action=\"{path}\"")));
    let p = post_from(&mut root, "/admin/policy", &path, &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.body
            .contains("A second admin must approve: the admin who filed the reset cannot."),
        "{}",
        p.body
    );
    // A second admin approves.
    let mut bob = Browser::new(&kit);
    bob.sign_in("bob", PW).await;
    let p = post_from(&mut bob, "/admin/policy", &path, &[]).await;
    assert_eq!(
        p.location(),
        "/admin/policy?done=reset_approved",
        "{}",
        p.body
    );
    assert!(kit.app.store.list_totp(ada.id).expect("totp").is_empty());
    let p = bob.get("/admin/policy").await;
    assert!(p.body.contains("<td>Done</td>"));

    // A request nobody approves in time is shown as expired, without a button.
    let fields = [("username", "root")];
    let p = post_from(&mut bob, "/admin/users", "/admin/users/mfa-reset", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=reset_pending");
    kit.clock.advance(25 * 3600);
    let mut cleo = Browser::new(&kit);
    kit.user("cleo", PW, &["admin"]);
    cleo.accept_language = Some("fr");
    cleo.sign_in("cleo", PW).await;
    let p = cleo.get("/admin/policy").await;
    assert!(p.body.contains("<td>Expirée</td>"), "{}", p.body);
    assert!(!p.body.contains("En attente d’approbation"));
    assert!(!p.body.contains("/approve\""));
}

#[tokio::test]
async fn helpdesk_resets_ordinary_accounts_only() {
    let kit = Kit::new();
    kit.user("hd", PW, &["helpdesk"]);
    kit.user("boss", PW, &["admin"]);
    let alice = kit.user("alice", PW, &[]);
    kit.equip_mfa(&alice);
    let mut hd = Browser::new(&kit);
    let p = hd.sign_in("hd", PW).await;
    assert!(p.body.contains("href=\"/helpdesk\""));
    let p = hd.get("/helpdesk").await;
    assert!(p.body.contains("action=\"/helpdesk/mfa-reset\""));
    let p = post_from(
        &mut hd,
        "/helpdesk",
        "/helpdesk/mfa-reset",
        &[("username", "alice")],
    )
    .await;
    assert_eq!(p.location(), "/helpdesk?done=reset_done");
    assert!(kit.app.store.list_totp(alice.id).expect("totp").is_empty());
    let p = hd.get(p.location()).await;
    assert!(p.body.contains("The second factors have been reset"));
    let p = post_from(
        &mut hd,
        "/helpdesk",
        "/helpdesk/mfa-reset",
        &[("username", "boss")],
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.body.contains("You are not allowed to do this."),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("id=\"mfa-reset-title\""),
        "shown on the console"
    );
    assert!(kit.app.store.list_mfa_resets().expect("resets").len() == 1);
    // Past the step-up window: the console sends its member to the step-up page first.
    let bob = kit.user("bob", PW, &[]);
    kit.equip_mfa(&bob);
    kit.clock.advance(11 * 60);
    let p = post_from(
        &mut hd,
        "/helpdesk",
        "/helpdesk/mfa-reset",
        &[("username", "bob")],
    )
    .await;
    assert_eq!(p.location(), "/account/reauth?next=/helpdesk");
    assert_eq!(kit.app.store.list_totp(bob.id).expect("totp").len(), 1);
}

#[tokio::test]
async fn the_technician_checkbox_sets_the_role() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let mut adm = Browser::new(&kit);
    adm.sign_in("root", PW).await;
    let p = adm.get("/admin/users").await;
    assert!(p.body.contains("name=\"role_technician\""));
    let fields = [
        ("username", "tess"),
        ("password", "a long enough user pass"),
        ("role_technician", "on"),
        ("groups", "nosuch"),
    ];
    let p = post_from(&mut adm, "/admin/users", "/admin/users", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "unknown group");
    assert!(kit.app.store.user_by_name("tess").expect("store").is_none());
    assert!(p.body.contains("value=\"nosuch\""));
    let p = post_from(&mut adm, "/admin/users", "/admin/users", &fields[..3]).await;
    assert_eq!(p.location(), "/admin/users?done=user_created", "{}", p.body);
    let tess = kit
        .app
        .store
        .user_by_name("tess")
        .expect("store")
        .expect("tess");
    assert_eq!(tess.roles, vec![Role::Technician]);
    let fields = [("username", "tess"), ("role_user", "on")];
    let p = post_from(&mut adm, "/admin/users", "/admin/users/roles", &fields).await;
    assert_eq!(p.location(), "/admin/users?done=user_updated");
    let tess = kit
        .app
        .store
        .user_by_name("tess")
        .expect("store")
        .expect("tess");
    assert_eq!(tess.roles, vec![Role::User]);
    let fields = [
        ("username", "tess"),
        ("role_user", "on"),
        ("role_technician", "on"),
    ];
    post_from(&mut adm, "/admin/users", "/admin/users/roles", &fields).await;
    let tess = kit
        .app
        .store
        .user_by_name("tess")
        .expect("store")
        .expect("tess");
    assert!(tess.has_role(Role::Technician) && tess.has_role(Role::User));
    let p = adm.get("/admin/users").await;
    assert!(
        p.body
            .contains("name=\"role_technician\" value=\"on\" checked")
    );
}
