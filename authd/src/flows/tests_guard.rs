//! Flow tests of the guard (issue "The guard"): triggers, expiry, persistence, account
//! throttling, IP rules incl. IPv6 and the self-lockout check, and that failures from refused
//! or suspended addresses never move a victim's counters.

use super::guard_admin;
use super::login::{LoginStep, password_step};
use super::testkit::*;
use crate::guard::Gate;
use crate::model::ClientInfo;
use std::net::IpAddr;

const PW: &str = "tortue-lavande-9";

fn from(ip: &str) -> ClientInfo {
    ClientInfo {
        address: ip.into(),
        user_agent: "test".into(),
        ip: ip.parse().ok(),
        ..Default::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fail_count(kit: &Kit, name: &str) -> u32 {
    kit.app
        .store
        .user_by_name(name)
        .unwrap()
        .unwrap()
        .fail_count
}

#[test]
fn ten_failed_logins_suspend_the_address_durably_until_expiry() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let attacker = from("198.51.100.7");
    for i in 0..10 {
        assert!(
            password_step(
                &kit.app,
                "alice",
                "wrong guess 12345",
                &attacker,
                kit.clock_now()
            )
            .is_err()
        );
        let gate = kit
            .app
            .guard
            .gate(ip("198.51.100.7"), kit.clock_now() * 1000 + i);
        assert_eq!(
            matches!(gate, Gate::Suspended { .. }),
            i == 9,
            "after {} failures",
            i + 1
        );
        kit.clock.advance(10);
    }
    // Other addresses are not affected.
    assert_eq!(
        kit.app
            .guard
            .gate(ip("198.51.100.8"), kit.clock_now() * 1000),
        Gate::Pass
    );
    let s = kit.app.store.suspensions(kit.clock_now()).unwrap();
    assert_eq!(
        (s[0].address.as_str(), s[0].reason.as_str(), s[0].count),
        ("198.51.100.7", "failed_logins", 10)
    );
    // Survives a restart.
    let now = kit.clock_now();
    let kit = kit.restart();
    assert!(
        matches!(kit.app.guard.gate(ip("198.51.100.7"), now * 1000), Gate::Suspended { retry_after } if retry_after > 3500)
    );
    // Expires after an hour.
    kit.clock.advance(3601);
    assert_eq!(
        kit.app
            .guard
            .gate(ip("198.51.100.7"), kit.clock_now() * 1000),
        Gate::Pass
    );
}

#[test]
fn accounts_are_throttled_then_locked_and_a_success_resets() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    // Failures from many addresses (none reaches its own suspension threshold).
    for i in 0..5 {
        let c = from(&format!("203.0.113.{i}"));
        assert!(
            password_step(&kit.app, "alice", "wrong guess 12345", &c, kit.clock_now()).is_err()
        );
    }
    assert_eq!(fail_count(&kit, "alice"), 5);
    // The fifth failure imposed a delay: even the right password waits.
    let e = password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).unwrap_err();
    assert_eq!(e.code(), "invalid_credentials");
    kit.clock.advance(1);
    assert!(matches!(
        password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).unwrap(),
        LoginStep::Session(_)
    ));
    assert_eq!(fail_count(&kit, "alice"), 0, "a success resets the count");
    // 100 consecutive failures lock the account until an admin unlocks it.
    for i in 0..100 {
        kit.clock.advance(900);
        let c = from(&format!("2001:db8::{i:x}"));
        let _ = password_step(&kit.app, "alice", "wrong guess 12345", &c, kit.clock_now());
    }
    assert_eq!(fail_count(&kit, "alice"), 100);
    kit.clock.advance(3600);
    assert!(
        password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).is_err(),
        "locked"
    );
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    guard_admin::unlock_account(&kit.app, &root, "alice", &client(), kit.clock_now()).unwrap();
    assert!(password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).is_ok());
}

#[test]
fn refused_and_suspended_addresses_never_move_the_victims_counters() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    guard_admin::add_rule(
        &kit.app,
        &root,
        "global",
        "deny",
        "198.51.100.0/24",
        &client(),
        kit.clock_now(),
    )
    .unwrap();
    let mut refused = from("198.51.100.9");
    refused.refused = !kit.app.guard.allows(ip("198.51.100.9"), None);
    assert!(refused.refused);
    for _ in 0..50 {
        let e = password_step(
            &kit.app,
            "alice",
            "wrong guess 12345",
            &refused,
            kit.clock_now(),
        )
        .unwrap_err();
        assert_eq!(
            e.code(),
            "invalid_credentials",
            "same answer as a wrong password"
        );
    }
    assert_eq!(fail_count(&kit, "alice"), 0);
    // Not counted toward a suspension of the address either: it is refused anyway.
    assert_eq!(
        kit.app
            .guard
            .gate(ip("198.51.100.9"), kit.clock_now() * 1000),
        Gate::Pass
    );
    // Even the right password does not get in from there.
    assert!(password_step(&kit.app, "alice", PW, &refused, kit.clock_now()).is_err());
}

#[test]
fn role_rules_and_ipv6_ranges() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    kit.user("alice", PW, &[]);
    let office = from("2001:db8:10::5");
    let root = {
        let now = kit.clock_now();
        let step = match password_step(&kit.app, "root", PW, &office, now).unwrap() {
            LoginStep::MfaRequired { challenge, .. } => crate::flows::login::mfa_step(
                &kit.app,
                &challenge,
                crate::flows::login::MfaMethod::BackupCode,
                &kit.backup_code("root"),
                &office,
                now,
            )
            .unwrap(),
            other => other,
        };
        match step {
            LoginStep::Session(s) => {
                crate::flows::login::authenticate(&kit.app, &s.token, now).unwrap()
            }
            other => panic!("{other:?}"),
        }
    };
    // Admins only from the office range.
    guard_admin::add_rule(
        &kit.app,
        &root,
        "role:admin",
        "allow",
        "2001:db8:10::/48",
        &office,
        kit.clock_now(),
    )
    .unwrap();
    assert!(password_step(&kit.app, "root", PW, &from("192.0.2.50"), kit.clock_now()).is_err());
    assert_eq!(
        fail_count(&kit, "root"),
        0,
        "refused before hashing, not counted"
    );
    assert!(
        password_step(
            &kit.app,
            "root",
            PW,
            &from("2001:db8:10:ffff::1"),
            kit.clock_now()
        )
        .is_ok()
    );
    // Users are not restricted by the admin rule.
    assert!(password_step(&kit.app, "alice", PW, &from("192.0.2.50"), kit.clock_now()).is_ok());
    // Per-user deny.
    guard_admin::add_rule(
        &kit.app,
        &root,
        "user:alice",
        "deny",
        "192.0.2.0/24",
        &office,
        kit.clock_now(),
    )
    .unwrap();
    assert!(password_step(&kit.app, "alice", PW, &from("192.0.2.50"), kit.clock_now()).is_err());
    assert!(password_step(&kit.app, "alice", PW, &from("192.0.3.50"), kit.clock_now()).is_ok());
}

#[test]
fn admins_cannot_lock_themselves_out() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let here = client(); // 192.0.2.1
    let now = kit.clock_now();
    for (scope, action, cidr) in [
        ("role:admin", "allow", "10.0.0.0/8"),
        ("global", "deny", "192.0.2.0/24"),
        ("user:root", "allow", "2001:db8::/32"),
        ("global", "allow", "198.51.100.0/24"),
    ] {
        let e =
            guard_admin::add_rule(&kit.app, &root, scope, action, cidr, &here, now).unwrap_err();
        assert_eq!(e.code(), "rule_locks_you_out", "{scope} {action} {cidr}");
    }
    assert!(
        kit.app.store.ip_rules().unwrap().is_empty(),
        "nothing saved"
    );
    // Allowed once the admin's own address is covered.
    guard_admin::add_rule(
        &kit.app,
        &root,
        "role:admin",
        "allow",
        "192.0.2.1",
        &here,
        now,
    )
    .unwrap();
    let r = guard_admin::add_rule(
        &kit.app,
        &root,
        "role:admin",
        "allow",
        "10.0.0.0/8",
        &here,
        now,
    )
    .unwrap();
    // Deleting the rule that lets the admin in is refused too.
    let mine = kit
        .app
        .store
        .ip_rules()
        .unwrap()
        .into_iter()
        .find(|x| x.net.to_string() == "192.0.2.1/32")
        .unwrap();
    assert_eq!(
        guard_admin::delete_rule(&kit.app, &root, mine.id, &here, now)
            .unwrap_err()
            .code(),
        "rule_locks_you_out"
    );
    guard_admin::delete_rule(&kit.app, &root, r.id, &here, now).unwrap();
    // And an admin cannot suspend their own address.
    assert_eq!(
        guard_admin::suspend(&kit.app, &root, "192.0.2.0/24", "test", None, &here, now)
            .unwrap_err()
            .code(),
        "rule_locks_you_out"
    );
    for bad in ["office", "192.0.2.0/33"] {
        assert_eq!(
            guard_admin::add_rule(&kit.app, &root, "global", "deny", bad, &here, now)
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }
}

#[test]
fn manual_suspension_of_a_range_then_lift() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let now = kit.clock_now();
    guard_admin::suspend(
        &kit.app,
        &root,
        "2001:db8:bad::/48",
        "scanner",
        Some("2h"),
        &client(),
        now,
    )
    .unwrap();
    assert!(matches!(
        kit.app.guard.gate(ip("2001:db8:bad::77"), now * 1000),
        Gate::Suspended { .. }
    ));
    assert_eq!(
        kit.app.guard.gate(ip("2001:db8:beef::1"), now * 1000),
        Gate::Pass
    );
    let listed = guard_admin::list_suspensions(&kit.app, &root, None, Some("bad"), now).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        guard_admin::lift(&kit.app, &root, Some("2001:db8:bad::/48"), &client(), now).unwrap(),
        1
    );
    assert_eq!(
        kit.app.guard.gate(ip("2001:db8:bad::77"), now * 1000),
        Gate::Pass
    );
    assert_eq!(
        guard_admin::lift(&kit.app, &root, Some("2001:db8:bad::/48"), &client(), now)
            .unwrap_err()
            .code(),
        "not_found"
    );
    let trail = kit.app.store.list_audit(&Default::default()).unwrap();
    let lift = trail
        .iter()
        .find(|e| e.action == "suspension.lift" && e.actor.as_deref() == Some("root"))
        .expect("the lift is audited");
    assert_eq!(
        lift.detail["count"], 1,
        "the entry says how many were lifted"
    );

    // Lifting every suspension records how many it lifted.
    for a in ["203.0.113.1", "203.0.113.2", "198.51.100.0/24"] {
        guard_admin::suspend(&kit.app, &root, a, "test", None, &client(), now).unwrap();
    }
    assert_eq!(
        guard_admin::lift(&kit.app, &root, None, &client(), now).unwrap(),
        3
    );
    let trail = kit.app.store.list_audit(&Default::default()).unwrap();
    let all = trail
        .iter()
        .find(|e| e.action == "suspension.lift" && e.detail["all"] == true)
        .expect("the lift of all is audited");
    assert_eq!(all.detail["count"], 3);
}

#[test]
fn flood_and_forbidden_calls_suspend() {
    let kit = Kit::new();
    let g = &kit.app.guard;
    let t = kit.clock_now() * 1000;
    let flooder = ip("192.0.2.99");
    let mut suspend_at = None;
    for i in 0..3000 {
        match g.gate(flooder, t + i) {
            Gate::SuspendNow { count } => {
                g.suspend(flooder, crate::guard::Trigger::Flood, count, t + i)
                    .unwrap();
                suspend_at = Some(i);
                break;
            }
            Gate::Suspended { .. } => panic!("suspended before SuspendNow"),
            _ => {}
        }
    }
    assert!(suspend_at.is_some_and(|i| i >= 1000), "{suspend_at:?}");
    assert!(matches!(g.gate(flooder, t + 5000), Gate::Suspended { .. }));
    let prober = ip("192.0.2.98");
    let hits: Vec<_> = (0..20).map(|i| g.forbidden(prober, t + i * 1000)).collect();
    assert!(hits[..19].iter().all(Option::is_none));
    assert_eq!(hits[19], Some(20));
}

#[test]
fn attackers_elsewhere_cannot_lock_the_owner_out() {
    let kit = Kit::with(|c| c.guard.account_lock_after = 20);
    kit.user("alice", PW, &[]);
    // Alice logs in from her usual address.
    assert!(password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).is_ok());
    // A slow distributed attack: 30 wrong passwords from 30 addresses, each after the delay.
    for i in 0..30 {
        kit.clock.advance(900);
        let c = from(&format!("203.0.{}.{}", i / 200, i % 200 + 1));
        let _ = password_step(&kit.app, "alice", "wrong guess 12345", &c, kit.clock_now());
    }
    assert!(fail_count(&kit, "alice") >= 20);
    // Locked for everyone else — even with the right password...
    assert!(
        password_step(
            &kit.app,
            "alice",
            PW,
            &from("198.51.100.1"),
            kit.clock_now()
        )
        .is_err()
    );
    // ...but not for Alice from where she logged in before; and her success resets the count.
    assert!(matches!(
        password_step(&kit.app, "alice", PW, &client(), kit.clock_now()).unwrap(),
        LoginStep::Session(_)
    ));
    assert_eq!(fail_count(&kit, "alice"), 0);
}

#[test]
fn two_admins_cannot_together_lock_themselves_out() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let root = kit.login("root", PW);
    let here = client(); // 192.0.2.1
    let now = kit.clock_now();
    let x = guard_admin::add_rule(
        &kit.app,
        &root,
        "global",
        "allow",
        "192.0.2.0/24",
        &here,
        now,
    )
    .unwrap();
    guard_admin::add_rule(
        &kit.app,
        &root,
        "global",
        "allow",
        "198.51.100.0/24",
        &here,
        now,
    )
    .unwrap();
    let y =
        guard_admin::add_rule(&kit.app, &root, "global", "allow", "192.0.2.1", &here, now).unwrap();
    // Deleting X alone or Y alone is fine; both together would shut 192.0.2.1 out.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = [x.id, y.id]
        .into_iter()
        .map(|id| {
            let (app, who, b) = (kit.app.clone(), root.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                guard_admin::delete_rule(&app, &who, id, &client(), now).map_err(|e| e.code())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results.contains(&Err("rule_locks_you_out")), "{results:?}");
    assert!(kit.app.guard.allows(ip("192.0.2.1"), None));
}
