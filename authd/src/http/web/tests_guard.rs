//! Page tests of the guard's administration page: both languages, IP rules (add, list,
//! delete, the self-lockout refusal), suspensions (by hand, filters, lift one, lift all),
//! account unlock, and who may reach the page. The test browser sends the peer address
//! `192.0.2.7`, so the guard layer marks every request with it and the flows' self-lockout
//! check runs as in production.

use super::test_browser::{Browser, Page};
use crate::flows::login;
use crate::flows::testkit::{Kit, client};
use crate::guard::{Gate, Trigger};
use axum::http::StatusCode;

const PW: &str = "tortue-lavande-9";

/// A kit with an admin `root` (signed in on the returned browser) and a user `alice`.
async fn console() -> (Kit, Browser) {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let account = b.sign_in("root", PW).await;
    assert!(account.body.contains("href=\"/admin/guard\""));
    (kit, b)
}

/// A form of the guard's page, with the page's CSRF token.
async fn act(b: &mut Browser, what: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = b.get("/admin/guard").await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    b.post(&format!("/admin/guard/{what}"), &all).await
}

fn rule_count(kit: &Kit) -> usize {
    kit.app.store.ip_rules().unwrap().len()
}

fn suspended(kit: &Kit) -> Vec<String> {
    let now = kit.clock_now();
    let list = kit.app.store.suspensions(now).unwrap();
    list.into_iter().map(|s| s.address).collect()
}

#[tokio::test]
async fn the_page_speaks_english_and_french() {
    let (_kit, mut b) = console().await;
    let p = b.get("/admin/guard").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("<html lang=\"en\">"));
    assert!(p.body.contains("<h1>Access guard</h1>"));
    assert!(p.body.contains("You are connected from 192.0.2.7."));
    assert!(p.body.contains("No address is suspended."));
    assert!(p.body.contains("No rule: every address is allowed."));
    assert!(p.body.contains("the same answer as a wrong password"));
    assert!(p.body.contains("would refuse your own address"));
    assert!(p.body.contains("action=\"/admin/guard/rule-add\""));
    assert!(p.body.contains("action=\"/admin/guard/suspend\""));
    assert!(p.body.contains("action=\"/admin/guard/unlock\""));
    assert!(
        p.body
            .contains("<option value=\"role:helpdesk\">Role: Helpdesk</option>")
    );
    assert!(p.body.contains("href=\"/admin/guard\">Access guard</a>"));

    b.accept_language = Some("fr-FR,fr;q=0.9");
    let p = b.get("/admin/guard").await;
    assert!(p.body.contains("<html lang=\"fr\">"));
    assert!(p.body.contains("<h1>Contrôle d’accès</h1>"));
    assert!(p.body.contains("Vous êtes connecté depuis 192.0.2.7."));
    assert!(p.body.contains("Aucune adresse n’est suspendue."));
    assert!(
        p.body
            .contains("la même réponse qu’un mauvais mot de passe")
    );
    assert!(p.body.contains("qui refuserait votre propre"));
    assert!(
        p.body
            .contains("<option value=\"role:admin\">Rôle : Administrateur</option>")
    );
    let p = b.get("/account").await;
    assert!(
        p.body
            .contains("Gérer les règles IP et les adresses suspendues")
    );
}

#[tokio::test]
async fn add_list_and_delete_a_deny_rule() {
    let (kit, mut b) = console().await;
    let fields = [
        ("scope", "global"),
        ("action", "deny"),
        ("cidr", "198.51.100.77/24"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/admin/guard?done=rule_added");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The rule has been added."));
    assert!(
        p.body.contains("<code>198.51.100.0/24</code>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("Everyone (global)"));
    assert!(
        p.body
            .contains("<span class=\"state state-deny\">Deny</span>")
    );
    assert!(p.body.contains("<span class=\"hint\">root</span>"));
    assert!(!kit.app.guard.allows("198.51.100.9".parse().unwrap(), None));

    // A rule on one account takes the name from its own field.
    let fields = [
        ("scope", "user"),
        ("rule_user", "Alice"),
        ("action", "allow"),
        ("cidr", "2001:db8:1::/48"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.location(), "/admin/guard?done=rule_added", "{}", p.body);
    let p = b.get("/admin/guard").await;
    assert!(p.body.contains("Account: alice"), "{}", p.body);
    assert!(p.body.contains("<code>2001:db8:1::/48</code>"));

    let rules = kit.app.store.ip_rules().unwrap();
    assert_eq!(rules.len(), 2);
    let id = rules[0].id.to_string();
    assert!(p.body.contains(&format!("name=\"id\" value=\"{id}\"")));
    let p = act(&mut b, "rule-delete", &[("id", &id)]).await;
    assert_eq!(p.location(), "/admin/guard?done=rule_deleted", "{}", p.body);
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The rule has been deleted."));
    assert!(!p.body.contains("198.51.100.0/24"));
    assert_eq!(rule_count(&kit), 1);
    assert!(kit.app.guard.allows("198.51.100.9".parse().unwrap(), None));

    // Deleting it again, or a rule id that is not a number, says so on the page.
    let p = act(&mut b, "rule-delete", &[("id", &id)]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("<h1>Access guard</h1>"));
    let p = act(&mut b, "rule-delete", &[("id", "x")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("is not a valid rule id"), "{}", p.body);
}

#[tokio::test]
async fn a_bad_range_is_explained_in_french_and_the_form_kept() {
    let (kit, mut b) = console().await;
    b.accept_language = Some("fr");
    let fields = [
        ("scope", "role:admin"),
        ("action", "allow"),
        ("cidr", "bureau"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains(
            "« bureau » n’est ni une adresse IP ni une plage CIDR (par exemple 192.0.2.0/24 ou \
             2001:db8::/32)."
        ),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"bureau\""));
    assert!(p.body.contains("<option value=\"role:admin\" selected>"));
    assert!(p.body.contains("name=\"action\" value=\"allow\" checked"));
    assert_eq!(rule_count(&kit), 0);

    // One account, but no name.
    let fields = [
        ("scope", "user"),
        ("action", "deny"),
        ("cidr", "10.0.0.0/8"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains("Indiquez le nom d’utilisateur."),
        "{}",
        p.body
    );
    // A bad duration for a suspension.
    let fields = [
        ("address", "203.0.113.9"),
        ("reason", "scan"),
        ("duration", "deux heures"),
    ];
    let p = act(&mut b, "suspend", &fields).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("La durée n’est pas comprise"), "{}", p.body);
    assert!(p.body.contains("value=\"deux heures\""));
    assert!(suspended(&kit).is_empty());
}

#[tokio::test]
async fn a_rule_that_locks_the_admin_out_is_refused() {
    let (kit, mut b) = console().await;
    // A deny rule on the admin's own range, an allow list for admins without it, suspending
    // one's own address: all refused, in the page's language.
    let fields = [
        ("scope", "global"),
        ("action", "deny"),
        ("cidr", "192.0.2.0/24"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body
            .contains("This change would refuse your own address 192.0.2.7"),
        "{}",
        p.body
    );
    b.accept_language = Some("fr");
    let fields = [
        ("scope", "role:admin"),
        ("action", "allow"),
        ("cidr", "10.0.0.0/8"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains(
            "Cette modification refuserait votre propre adresse (192.0.2.7) : ajoutez d’abord \
             une règle qui l’autorise."
        ),
        "{}",
        p.body
    );
    let fields = [("address", "192.0.2.0/28"), ("reason", "oops")];
    let p = act(&mut b, "suspend", &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("Vous ne pouvez pas suspendre votre propre adresse (192.0.2.7).")
    );
    assert_eq!(rule_count(&kit), 0);
    assert!(suspended(&kit).is_empty());

    // With an allow rule for the office first, the admin allow list is accepted; deleting
    // the rule that lets the admin in is then refused.
    let fields = [
        ("scope", "role:admin"),
        ("action", "allow"),
        ("cidr", "192.0.2.0/24"),
    ];
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.location(), "/admin/guard?done=rule_added", "{}", p.body);
    let id = kit.app.store.ip_rules().unwrap()[0].id.to_string();
    let p = act(&mut b, "rule-delete", &[("id", &id)]).await;
    assert_eq!(
        p.status,
        StatusCode::SEE_OTHER,
        "the only allow rule: none is left"
    );
    let p = act(&mut b, "rule-add", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let fields = [
        ("scope", "role:admin"),
        ("action", "allow"),
        ("cidr", "10.0.0.0/8"),
    ];
    act(&mut b, "rule-add", &fields).await;
    let mine = kit
        .app
        .store
        .ip_rules()
        .unwrap()
        .into_iter()
        .find(|r| r.net.to_string() == "192.0.2.0/24")
        .unwrap();
    let p = act(&mut b, "rule-delete", &[("id", &mine.id.to_string())]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body
            .contains("refuserait votre propre adresse (192.0.2.7)")
    );
    assert_eq!(rule_count(&kit), 2);
}

#[tokio::test]
async fn suspend_a_range_by_hand_filter_and_lift() {
    let (kit, mut b) = console().await;
    let fields = [
        ("address", "203.0.113.0/24"),
        ("reason", "port scan"),
        ("duration", "2h"),
    ];
    let p = act(&mut b, "suspend", &fields).await;
    assert_eq!(
        p.location(),
        "/admin/guard?done=address_suspended",
        "{}",
        p.body
    );
    let gate = kit
        .app
        .guard
        .gate("203.0.113.9".parse().unwrap(), kit.app.now_ms());
    assert!(matches!(gate, Gate::Suspended { .. }), "in force at once");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The address has been suspended."));
    assert!(p.body.contains("<code>203.0.113.0/24</code>"), "{}", p.body);
    assert!(p.body.contains("port scan"));
    // Times in UTC; the kit's clock is 2026-11-23 12:00 UTC.
    assert!(p.body.contains("<td>2026-11-23 12:00 UTC</td>"));
    assert!(
        p.body.contains("<td>2026-11-23 14:00 UTC</td>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("<td>root</td>"));

    // Another one until lifted, and one the guard decided itself.
    let fields = [("address", "2001:db8:bad::1"), ("reason", "abuse")];
    let p = act(&mut b, "suspend", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let ip = "198.51.100.20".parse().unwrap();
    kit.app
        .guard
        .suspend(ip, Trigger::FailedLogins, 10, kit.app.now_ms())
        .unwrap();
    let p = b.get("/admin/guard").await;
    assert!(
        p.body.contains("<strong>until lifted</strong>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("Too many failed sign-ins"));
    assert!(p.body.contains("<span class=\"muted\">automatic</span>"));
    assert_eq!(suspended(&kit).len(), 3);

    // Filters: by reason (the automatic one) and by a part of the address.
    let p = b.get("/admin/guard?reason=failed_logins").await;
    assert!(p.body.contains("198.51.100.20"));
    assert!(!p.body.contains("<code>203.0.113.0/24</code>"));
    let p = b.get("/admin/guard?address=203.0.113").await;
    assert!(p.body.contains("<code>203.0.113.0/24</code>"));
    assert!(!p.body.contains("198.51.100.20"));
    let p = b.get("/admin/guard?address=192.168.").await;
    assert!(p.body.contains("No suspension matches."));

    // Lift one.
    let p = act(&mut b, "lift", &[("address", "203.0.113.0/24")]).await;
    assert_eq!(
        p.location(),
        "/admin/guard?done=suspension_lifted",
        "{}",
        p.body
    );
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The suspension has been lifted."));
    assert!(!p.body.contains("<code>203.0.113.0/24</code>"));
    assert_eq!(suspended(&kit).len(), 2);
    let p = act(&mut b, "lift", &[("address", "203.0.113.0/24")]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);

    // Lift all: only with the confirmation.
    let p = act(&mut b, "lift-all", &[]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("Tick the confirmation box"));
    assert_eq!(suspended(&kit).len(), 2);
    let p = act(&mut b, "lift-all", &[("confirm", "on")]).await;
    assert_eq!(p.location(), "/admin/guard?done=suspensions_lifted");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("Every suspension has been lifted."));
    assert!(p.body.contains("No address is suspended."));
    assert!(suspended(&kit).is_empty());
    assert!(kit.app.guard.allows(ip, None));
}

#[tokio::test]
async fn unlock_an_account_after_failed_passwords() {
    let (kit, mut b) = console().await;
    let now = kit.clock_now();
    for _ in 0..3 {
        assert!(login::password_step(&kit.app, "alice", "wrong", &client(), now).is_err());
    }
    let fails = |kit: &Kit| {
        let u = kit.app.store.user_by_name("alice").unwrap().unwrap();
        u.fail_count
    };
    assert_eq!(fails(&kit), 3);
    let p = act(&mut b, "unlock", &[("username", " alice ")]).await;
    assert_eq!(
        p.location(),
        "/admin/guard?done=account_unlocked",
        "{}",
        p.body
    );
    let p = b.get(p.location()).await;
    assert!(p.body.contains("The account has been unlocked."));
    assert_eq!(fails(&kit), 0);
    b.accept_language = Some("fr");
    let p = act(&mut b, "unlock", &[("username", "nobody")]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("Utilisateur introuvable."));
    assert!(p.body.contains("value=\"nobody\""));
}

#[tokio::test]
async fn only_admins_reach_the_guard_page() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    kit.user("hd", PW, &["helpdesk"]);
    for name in ["alice", "hd"] {
        let mut b = Browser::new(&kit);
        let account = b.sign_in(name, PW).await;
        assert!(!account.body.contains("/admin/guard"));
        let p = b.get("/admin/guard").await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.body.contains("Access denied"));
        let csrf = account.csrf();
        for (what, fields) in [
            (
                "rule-add",
                vec![
                    ("scope", "global"),
                    ("action", "deny"),
                    ("cidr", "0.0.0.0/0"),
                ],
            ),
            (
                "suspend",
                vec![("address", "203.0.113.0/24"), ("reason", "x")],
            ),
            ("lift-all", vec![("confirm", "on")]),
        ] {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields);
            let p = b.post(&format!("/admin/guard/{what}"), &all).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{what}");
        }
    }
    assert_eq!(rule_count(&kit), 0);
    assert!(suspended(&kit).is_empty());
    // Signed out: to the sign-in page.
    let mut anon = Browser::new(&kit);
    let p = anon.get("/admin/guard").await;
    assert_eq!(p.location(), "/login");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_changes_nothing() {
    let (kit, mut b) = console().await;
    let deny = [
        ("scope", "global"),
        ("action", "deny"),
        ("cidr", "198.51.100.0/24"),
    ];
    let p = b.post("/admin/guard/rule-add", &deny).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("The form has expired"), "{}", p.body);
    let mut forged = vec![("csrf", "x".repeat(43))];
    forged.extend(deny.iter().map(|(k, v)| (*k, v.to_string())));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post("/admin/guard/rule-add", &forged).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(
            "/admin/guard/suspend",
            &[("address", "203.0.113.0/24"), ("reason", "x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(rule_count(&kit), 0);
    assert!(suspended(&kit).is_empty());
    // An unknown action is a 404 page, not a silent success.
    let p = act(&mut b, "explode", &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}
