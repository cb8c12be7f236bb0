//! Who may do what (issue "who may do what"): the permission matrix walked over HTTP for every
//! role and route, enrolment forced by the MFA policy, the last factor kept, admin resets under
//! the two-person rule with step-up, and account photos.

use crate::support::*;
use authd::authz::{Access, Permission, ROUTES, allows};
use authd::model::Role;
use serde_json::{Value, json};

const PW: &str = "a long enough user pass";

async fn create(c: &Client, admin: &str, name: &str, roles: Value) {
    let r = c
        .post(
            "/api/v1/users",
            Some(admin),
            json!({"username": name, "password": PW, "roles": roles, "must_change_password": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn password(c: &Client, name: &str) -> Value {
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": name, "password": PW}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.json()
}

/// A concrete path for a route pattern (objects that do not exist: the answer may be 404, but
/// never 403 for a role that holds the permission).
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{username}", "nobody-here")
        .replace("{id}", "999999")
        .replace("{serial}", "NOSUCHKEY")
        .replace("{name}", "nogroup")
        .replace("{address}", "198.51.100.77")
        .replace("{install_id}", "0123456789abcdef")
        .replace("{platform}", "linux-x86_64")
        .replace("{credential_id}", "AAAA")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_matrix_holds_for_every_route_and_role() {
    // The walk makes hundreds of calls, many refused on purpose: the guard must not step in.
    let srv = Server::start_with(|c| {
        c.guard.rate_burst = 100_000;
        c.guard.forbidden_requests = 100_000;
        c.guard.flood_refusals = 100_000;
    })
    .await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let mut tokens: Vec<(Role, String)> = vec![(Role::Admin, admin.clone())];
    for (name, role) in [
        ("uma", Role::User),
        ("hal", Role::Helpdesk),
        ("tess", Role::Technician),
    ] {
        create(&c, &admin, name, json!([role.as_str()])).await;
        let step = password(&c, name).await;
        let token = if step["enrolment_required"] == true {
            enrol_at_login(&c, &step).await.0
        } else {
            step["session"].as_str().expect("session").to_owned()
        };
        tokens.push((role, token));
    }
    let cookie_name = "sesame_session";
    for (role, token) in &tokens {
        // Logout last: it ends the session the walk uses.
        let routes = ROUTES
            .iter()
            .filter(|r| r.1 != "/api/v1/logout")
            .chain(ROUTES.iter().filter(|r| r.1 == "/api/v1/logout"));
        for (method, pattern, access) in routes {
            let path = concrete(pattern);
            let page = !path.starts_with("/api/") && path != "/healthz" && path != "/metrics";
            let r = if page {
                let cookie = format!("{cookie_name}={token}");
                c.request_with(method, &path, &[("cookie", cookie.as_str())], vec![])
                    .await
            } else {
                let (ct, body) = if *method == "GET" || *method == "DELETE" {
                    (None, vec![])
                } else {
                    (Some("application/json"), b"{}".to_vec())
                };
                c.request(method, &path, Some(token), ct, body).await
            };
            match access {
                Access::Needs(p) => {
                    let want_forbidden = !allows(&[*role], *p);
                    assert_eq!(
                        r.status == 403 && (page || r.code() == "forbidden"),
                        want_forbidden,
                        "{role:?} {method} {path}: {} {:?}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    );
                    assert_ne!(r.status, 401, "{role:?} {method} {path}");
                }
                Access::Public => {
                    assert_ne!(r.status, 403, "{role:?} {method} {path}");
                }
            }
        }
    }
    // Without a session, every protected API route answers 401.
    for (method, pattern, access) in ROUTES {
        if matches!(access, Access::Needs(_)) && pattern.starts_with("/api/") {
            let path = concrete(pattern);
            let r = c.request(method, &path, None, None, vec![]).await;
            assert_eq!(r.status, 401, "{method} {path}");
        }
    }
    // The table the walk used is the one the docs publish.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
        .expect("docs/api.md");
    for p in Permission::ALL {
        assert!(doc.contains(&format!("`{}`", p.as_str())), "{p:?}");
    }
    for (method, pattern, _) in ROUTES {
        if pattern.starts_with("/api/") {
            assert!(
                doc.contains(&format!("`{method} {pattern}")),
                "docs/api.md lacks {method} {pattern}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_forces_enrolment_and_keeps_the_last_factor() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    create(&c, &admin, "paula", json!(["user"])).await;
    create(&c, &admin, "olga", json!(["user"])).await;
    // Users are optional by default: a session straight after the password.
    assert!(password(&c, "paula").await["session"].is_string());
    // Employees must use a second factor.
    let r = c
        .post(
            "/api/v1/groups",
            Some(&admin),
            json!({"name": "employees", "description": "staff"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .request(
            "PATCH",
            "/api/v1/users/paula",
            Some(&admin),
            Some("application/json"),
            json!({"groups": ["employees"]}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.json()["groups"], json!(["employees"]), "{:?}", r.body);
    let r = c
        .request(
            "PUT",
            "/api/v1/mfa-policy",
            Some(&admin),
            Some("application/json"),
            json!({"groups": {"employees": "required"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["groups"]["employees"], "required");
    assert_eq!(r.json()["roles"]["technician"], "required");
    let r = c
        .request(
            "PUT",
            "/api/v1/mfa-policy",
            Some(&admin),
            Some("application/json"),
            json!({"groups": {"ghosts": "required"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_group"));

    // Paula's next login is an enrolment, and the challenge opens nothing else.
    let step = password(&c, "paula").await;
    assert_eq!(step["enrolment_required"], true, "{step}");
    let challenge = step["challenge"].as_str().unwrap();
    assert_eq!(c.get("/api/v1/me", Some(challenge)).await.status, 401);
    let r = c
        .post(
            "/api/v1/login/mfa",
            None,
            json!({"challenge": challenge, "method": "totp", "code": "123456"}),
        )
        .await;
    assert_eq!(
        r.code(),
        "challenge_expired",
        "an enrol challenge is not an mfa one"
    );
    let m = c
        .post(
            "/api/v1/login/enrol",
            None,
            json!({"challenge": challenge, "method": "totp", "label": "phone"}),
        )
        .await
        .json();
    assert!(m["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(
        m["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let secret = m["secret"].as_str().unwrap().to_owned();
    let wrong = totp_code(&secret, c.clock.now() + 300);
    let r = c
        .post(
            "/api/v1/login/enrol/confirm",
            None,
            json!({"challenge": challenge, "id": m["id"], "code": wrong}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_code"));
    let code = totp_code(&secret, c.clock.now());
    let r = c
        .post(
            "/api/v1/login/enrol/confirm",
            None,
            json!({"challenge": challenge, "id": m["id"], "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let paula = r.json()["session"].as_str().unwrap().to_owned();
    // The challenge is used up; the next login asks for the factor.
    let again = c
        .post(
            "/api/v1/login/enrol/confirm",
            None,
            json!({"challenge": challenge, "id": m["id"], "code": code}),
        )
        .await;
    assert_eq!(again.code(), "challenge_expired");
    assert_eq!(password(&c, "paula").await["mfa_required"], true);

    // Her last factor stays while policy requires one; Olga (optional) may remove hers.
    let dev = &c.get("/api/v1/me/totp", Some(&paula)).await.json()["devices"][0]["id"];
    let r = c
        .delete(&format!("/api/v1/me/totp/{dev}"), Some(&paula))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "mfa_required"),
        "{:?}",
        r.body
    );
    let olga = password(&c, "olga").await["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = c
        .post("/api/v1/me/totp", Some(&olga), json!({"label": "phone"}))
        .await
        .json();
    srv.clock.advance(30);
    let code = totp_code(m["secret"].as_str().unwrap(), c.clock.now());
    let r = c
        .post(
            &format!("/api/v1/me/totp/{}/confirm", m["id"]),
            Some(&olga),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .delete(&format!("/api/v1/me/totp/{}", m["id"]), Some(&olga))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_reset_a_third_admins_totp_and_the_target_enrols_again() {
    let srv = Server::start().await;
    let c = srv.client();
    let (root, root_secret) = admin_session_with_secret(&c, "second root passphrase").await;
    let mut sessions = std::collections::HashMap::new();
    let mut secrets = std::collections::HashMap::new();
    for name in ["alice", "carol"] {
        create(&c, &root, name, json!(["admin"])).await;
        let (s, secret) = enrol_at_login(&c, &password(&c, name).await).await;
        sessions.insert(name, s);
        secrets.insert(name, secret);
    }
    let (alice, carol) = (sessions["alice"].clone(), sessions["carol"].clone());

    // Nobody resets their own factors.
    let r = c
        .post("/api/v1/users/alice/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "self_action_refused"));
    // Step-up: eleven minutes after signing in, alice must re-authenticate first.
    srv.clock.advance(11 * 60);
    let r = c
        .post("/api/v1/users/carol/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "reauth_required"));
    let wrong = c
        .post(
            "/api/v1/me/reauth",
            Some(&alice),
            json!({"password": PW, "method": "totp", "code": "000000"}),
        )
        .await;
    assert_eq!(wrong.code(), "invalid_code");
    let code = totp_code(&secrets["alice"], c.clock.now());
    let r = c
        .post(
            "/api/v1/me/reauth",
            Some(&alice),
            json!({"password": PW, "method": "totp", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Filed: pending, carol keeps her factor and her session for now.
    let r = c
        .post("/api/v1/users/carol/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let filed = r.json();
    assert_eq!(filed["state"], "pending");
    let id = filed["id"].as_i64().unwrap();
    assert_eq!(c.get("/api/v1/me", Some(&carol)).await.status, 200);
    let r = c
        .post("/api/v1/users/carol/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!(r.code(), "reset_already_pending");
    // The admin who filed it cannot approve it; nor can the target.
    let approve = format!("/api/v1/mfa-resets/{id}/approve");
    let r = c.post(&approve, Some(&alice), json!({})).await;
    assert_eq!((r.status, r.code().as_str()), (403, "self_action_refused"));
    let r = c.post(&approve, Some(&carol), json!({})).await;
    assert_eq!((r.status, r.code().as_str()), (403, "self_action_refused"));
    // Root approves after re-authenticating; carol's factor and sessions are gone.
    let r = c.post(&approve, Some(&root), json!({})).await;
    assert_eq!(r.code(), "reauth_required");
    let code = totp_code(&root_secret, c.clock.now());
    let r = c
        .post(
            "/api/v1/me/reauth",
            Some(&root),
            json!({"password": "second root passphrase", "method": "totp", "code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c.post(&approve, Some(&root), json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let done = r.json();
    assert_eq!(
        (done["state"].as_str(), done["approved_by"].as_str()),
        (Some("done"), Some("admin"))
    );
    assert_eq!(done["removed"]["totp_devices"], 1);
    assert_eq!(c.get("/api/v1/me", Some(&carol)).await.status, 401);
    let r = c.post(&approve, Some(&root), json!({})).await;
    assert_eq!(r.code(), "reset_not_pending");
    // Carol logs in and must enrol again.
    let step = password(&c, "carol").await;
    assert_eq!(step["enrolment_required"], true, "{step}");
    let (carol, carol_secret) = enrol_at_login(&c, &step).await;
    assert_eq!(c.get("/api/v1/me", Some(&carol)).await.status, 200);

    // A reset not approved within 24 h expires.
    srv.clock.advance(60);
    let code = totp_code(&secrets["alice"], c.clock.now());
    c.post(
        "/api/v1/me/reauth",
        Some(&alice),
        json!({"password": PW, "method": "totp", "code": code}),
    )
    .await;
    let r = c
        .post("/api/v1/users/root/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!(r.code(), "not_found", "the bootstrap admin is called admin");
    let r = c
        .post("/api/v1/users/admin/mfa-reset", Some(&alice), json!({}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    srv.clock.advance(24 * 3600 + 1);
    let code = totp_code(&carol_secret, c.clock.now());
    let r = login_mfa(&c, "carol", PW, "totp", &code).await;
    let carol = r.json()["session"].as_str().unwrap().to_owned();
    let list = c.get("/api/v1/mfa-resets", Some(&carol)).await.json();
    let row = list["resets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(row["state"], "expired");
    let r = c
        .post(
            &format!("/api/v1/mfa-resets/{id}/approve"),
            Some(&carol),
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "reset_expired");
    // The audit trail has every step.
    let audit = c.get("/api/v1/audit?limit=200", Some(&carol)).await.json();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "mfa_reset.request",
        "mfa_reset.approve",
        "session.reauth",
        "login.enrol",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpdesk_resets_an_ordinary_account_at_once_but_never_an_admin() {
    let srv = Server::start_with(|c| c.mfa.two_person_admin_reset = true).await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    create(&c, &admin, "hal", json!(["helpdesk"])).await;
    create(&c, &admin, "tess", json!(["technician"])).await;
    let (hal, _) = enrol_at_login(&c, &password(&c, "hal").await).await;
    let (_, _) = enrol_at_login(&c, &password(&c, "tess").await).await;
    let r = c
        .post("/api/v1/users/admin/mfa-reset", Some(&hal), json!({}))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = c
        .post("/api/v1/users/tess/mfa-reset", Some(&hal), json!({}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["state"], "done");
    assert_eq!(password(&c, "tess").await["enrolment_required"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_and_photo_rules() {
    use authd::photo::samples;
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    create(&c, &admin, "uma", json!(["user"])).await;
    let uma = password(&c, "uma").await["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |body: Value| {
        let c = c.clone();
        let uma = uma.clone();
        async move {
            c.request(
                "PATCH",
                "/api/v1/me",
                Some(&uma),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    let r = patch(json!({"email": "uma@example.org", "language": "fr", "display_name_private": "Uma Thurman"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let me = c.get("/api/v1/me", Some(&uma)).await.json();
    assert_eq!(
        (me["email"].as_str(), me["language"].as_str()),
        (Some("uma@example.org"), Some("fr"))
    );
    assert_eq!(me["display_name_public"], "Uma Thurman", "kept in sync");
    let r = patch(json!({"display_name_public": "Uma T."})).await;
    assert_eq!(r.json()["display_name_public"], "Uma T.");
    let r = patch(json!({"display_name_private": "Uma Thurman-Smith"})).await;
    assert_eq!(
        r.json()["display_name_public"],
        "Uma T.",
        "set apart, it stays"
    );
    assert_eq!(
        patch(json!({"language": "de"})).await.code(),
        "invalid_request"
    );
    assert_eq!(
        patch(json!({"email": "not-an-address"})).await.code(),
        "invalid_request"
    );
    assert_eq!(patch(json!({"colour": "red"})).await.code(), "invalid_json");

    let put = |bytes: Vec<u8>, ct: &'static str| {
        let c = c.clone();
        let uma = uma.clone();
        async move {
            c.request("PUT", "/api/v1/me/photo", Some(&uma), Some(ct), bytes)
                .await
        }
    };
    let r = put(samples::png(79, 80, ""), "image/png").await;
    assert_eq!((r.status, r.code().as_str()), (422, "photo_too_small"));
    let mut big = samples::png(100, 100, "");
    big.resize(1024 * 1024 + 1, 0);
    let r = put(big, "image/png").await;
    assert_eq!((r.status, r.code().as_str()), (413, "photo_too_large"));
    let gif = b"GIF89a\x64\x00\x64\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec();
    let r = put(gif, "image/png").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "photo_unsupported_type")
    );
    let png = samples::png(120, 120, "GPS 48.8566N 2.3522E");
    let r = put(png[..png.len() - 7].to_vec(), "image/png").await;
    assert_eq!((r.status, r.code().as_str()), (422, "photo_corrupt"));
    assert_eq!(
        c.get("/api/v1/users/uma/photo", Some(&admin)).await.status,
        404
    );
    let r = put(png.clone(), "image/png").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.json()["width"].as_u64(), r.json()["height"].as_u64()),
        (Some(120), Some(120))
    );
    let got = c.get("/api/v1/users/uma/photo", Some(&admin)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["content-type"], "image/png");
    assert!(got.body.len() < png.len() && got.body.starts_with(b"\x89PNG"));
    assert!(
        !got.body.windows(3).any(|w| w == b"GPS"),
        "metadata stripped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_cli_resets_the_last_admin_and_says_so() {
    let srv = Server::start().await;
    let c = srv.client();
    let _admin = admin_session(&c, "second root passphrase").await;
    // The only admin lost their phone: nobody can approve a reset. Stop the appliance.
    let dir = srv.stop().await;
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["admin", "mfa-reset", "admin", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run sesame");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1 TOTP devices"), "{stdout}");
    assert!(stderr.contains("WARNING"), "{stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["admin", "mfa-reset", "nobody", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run sesame");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user not found"));
    // Restarted, the admin enrols again at the next login; the audit names the offline reset.
    let srv = Server::start_on(dir).await;
    let c = srv.client();
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "admin", "password": "second root passphrase"}),
        )
        .await;
    let (admin, _) = enrol_at_login(&c, &r.json()).await;
    let audit = c.get("/api/v1/audit?limit=50", Some(&admin)).await.json();
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "mfa_reset.offline" && e["target"] == "admin"),
        "{audit}"
    );
}

fn sesame(args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sesame");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_works_online_and_on_a_stopped_appliance() {
    let srv = Server::start().await;
    // The CLI reads the real clock; the appliance's must agree for sessions and resets.
    srv.clock
        .set(authd::clock::Clock::now(&authd::clock::SystemClock));
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    let url = format!("https://localhost:{}", srv.addr.port());
    let ca = srv.dir.path().join("data/tls/cert.pem");
    let online = [
        "--url",
        url.as_str(),
        "--token",
        admin.as_str(),
        "--ca-cert",
        ca.to_str().unwrap(),
    ];
    let run = |cmd: &[&str], extra: &[&str], stdin: &str| {
        let args: Vec<&str> = [&["admin"][..], cmd, extra].concat();
        sesame(&args, stdin)
    };
    let (ok, out, err) = run(&["groups", "create", "parents"], &online, "");
    assert!(ok && out.starts_with("parents\t0"), "{out}{err}");
    let (ok, _, err) = run(
        &["users", "create", "tess", "--role", "technician"],
        &online,
        "a long enough user pass\n",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(
        &["users", "set", "tess", "--groups", "parents"],
        &online,
        "",
    );
    assert!(ok && out.contains("[\"parents\"]"), "{out}{err}");
    let (ok, _, err) = run(&["policy", "set", "role:user", "sometimes"], &online, "");
    assert!(!ok && err.contains("optional, required or unset"), "{err}");
    let (ok, out, _) = run(&["sessions", "list"], &online, "");
    assert!(ok && out.contains("\tadmin\t"), "{out}");
    let (ok, _, err) = run(&["users", "delete", "admin"], &online, "");
    assert!(!ok && err.contains("your own account"), "{err}");

    // Stopped: the same commands on the data directory, acting as a named admin.
    let dir = srv.stop().await;
    let data = dir.path().join("data");
    let offline = ["--data-dir", data.to_str().unwrap(), "--as", "admin"];
    let (ok, out, err) = run(
        &["policy", "set", "group:parents", "required"],
        &offline,
        "",
    );
    assert!(ok && out.contains("group:parents\trequired"), "{out}{err}");
    let (ok, out, _) = run(&["users", "list"], &offline, "");
    assert!(ok && out.contains("tess\t[\"technician\"]\t"), "{out}");
    let (ok, _, err) = run(
        &["users", "list"],
        &["--data-dir", data.to_str().unwrap(), "--as", "tess"],
        "",
    );
    assert!(!ok && err.contains("not an enabled admin"), "{err}");
    let (ok, _, err) = run(
        &["groups", "list"],
        &["--data-dir", "/nonexistent", "--as", "admin"],
        "",
    );
    assert!(!ok && err.contains("holds no Sesame store"), "{err}");
    // Back online, the change made offline holds.
    let srv = Server::start_on(dir).await;
    srv.clock
        .set(authd::clock::Clock::now(&authd::clock::SystemClock));
    let c = srv.client();
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "tess", "password": PW}),
        )
        .await;
    assert_eq!(r.json()["enrolment_required"], true);
}
