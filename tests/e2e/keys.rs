//! The hardware-key story over HTTPS: a PSKC file (RFC 6030 Figure 6, AES-128-CBC with a
//! pre-shared key) is imported through the API, a key is assigned, the user logs in with the
//! code alone, sets a PIN, logs in with PIN + code; the helpdesk disables the key and the login
//! is refused at once.

use crate::support::*;
use serde_json::json;
use sesame_hardware::emulator::KeyEmulator;
use sesame_hardware::seeds::{self, Decryption};

const PSKC: &[u8] = include_bytes!("../../hardware/tests/fixtures/rfc6030-figure6.pskcxml");
const PSK: &str = "12345678901234567890123456789012";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_assign_first_use_pin_login_disable() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    for (name, roles) in [("hd", json!(["helpdesk"])), ("bob", json!(["user"]))] {
        let r = c.post("/api/v1/users", Some(&admin), json!({"username": name, "password": "a long enough user pass", "roles": roles, "must_change_password": false})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // Helpdesk staff must use a second factor: their first login enrols one.
    let step = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "hd", "password": "a long enough user pass"}),
        )
        .await
        .json();
    let (hd, _) = enrol_at_login(&c, &step).await;

    // Users cannot import; a wrong key is refused with its own code; nothing is imported.
    let bob_pw = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "bob", "password": "a long enough user pass"}),
        )
        .await
        .json()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={PSK}"),
            Some(&bob_pw),
            Some("application/pskc+xml"),
            PSKC.to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    let wrong = "00".repeat(16);
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={wrong}"),
            Some(&hd),
            Some("application/pskc+xml"),
            PSKC.to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "seed_file_wrong_key"),
        "{:?}",
        r.body
    );
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={PSK}"),
            Some(&hd),
            Some("application/pskc+xml"),
            PSKC[..PSKC.len() / 2].to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "seed_file_malformed"),
        "{:?}",
        r.body
    );
    // Dry run, then the import.
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={PSK}&dry_run=true"),
            Some(&hd),
            Some("application/pskc+xml"),
            PSKC.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["tokens"][0]["action"], "would_import");
    assert_eq!(
        c.get("/api/v1/keys", Some(&hd)).await.json()["keys"],
        json!([])
    );
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={PSK}"),
            Some(&hd),
            Some("application/pskc+xml"),
            PSKC.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["tokens"][0]["serial"], "987654321");
    let r = c
        .request(
            "POST",
            &format!("/api/v1/keys/import?key={PSK}"),
            Some(&hd),
            Some("application/pskc+xml"),
            PSKC.to_vec(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "import_rejected"));
    assert_eq!(r.json()["error"]["faults"][0]["code"], "serial_taken");

    // Assign to bob.
    let r = c
        .post(
            "/api/v1/users/bob/keys",
            Some(&hd),
            json!({"serial": "987654321"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["state"], "assigned");
    let listed = c
        .get("/api/v1/keys?user=bob&state=assigned", Some(&hd))
        .await
        .json();
    assert_eq!(listed["keys"][0]["pin_set"], false);
    assert_eq!(listed["next"], json!(null), "one key: a single page");
    let r = c.get("/api/v1/keys?limit=0", Some(&hd)).await.json();
    assert_eq!(
        r["keys"].as_array().map(Vec::len),
        Some(1),
        "limit is at least 1"
    );
    assert_eq!(r["next"], json!(null));

    // The key itself, emulated from the same file.
    let tokens = seeds::import_pskc(
        PSKC,
        &Decryption::PreSharedKey(data_encoding::HEXLOWER.decode(PSK.as_bytes()).unwrap()),
    )
    .unwrap();
    let mut key = KeyEmulator::from_seed(tokens.into_iter().next().unwrap());

    // First use: the code alone, then a PIN.
    let code = key.display_at(0);
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "bob", "method": "otp_key", "passcode": code}),
        )
        .await
        .json();
    assert_eq!(r["pin_required"], true, "{r}");
    let bad = c
        .post(
            "/api/v1/login/pin",
            None,
            json!({"challenge": r["challenge"], "pin": "1234"}),
        )
        .await;
    assert_eq!((bad.status, bad.code().as_str()), (422, "pin_run"));
    let s = c
        .post(
            "/api/v1/login/pin",
            None,
            json!({"challenge": r["challenge"], "pin": "4711"}),
        )
        .await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    let first = s.json()["session"].as_str().unwrap().to_owned();
    assert_eq!(
        c.get("/api/v1/me", Some(&first)).await.json()["session"]["method"],
        "otp_key"
    );

    // PIN + code.
    let r = c.post("/api/v1/login", None, json!({"username": "bob", "method": "otp_key", "passcode": format!("4711{}", key.display_at(0))})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let second = r.json()["session"].as_str().unwrap().to_owned();
    // Same answer as a wrong password for a wrong PIN.
    let r = c.post("/api/v1/login", None, json!({"username": "bob", "method": "otp_key", "passcode": format!("9999{}", key.display_at(0))})).await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_credentials"));
    // /validate for a gateway.
    let v = c
        .post(
            "/api/v1/validate",
            None,
            json!({"username": "bob", "passcode": format!("4711{}", key.display_at(0))}),
        )
        .await
        .json();
    assert_eq!(v["result"], "accept");

    // Lost: the helpdesk disables it; sessions end and the next login is refused.
    let r = c
        .post(
            "/api/v1/keys/987654321/disable",
            Some(&hd),
            json!({"reason": "lost", "note": "left on the train"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for s in [&first, &second] {
        assert_eq!(c.get("/api/v1/me", Some(s)).await.status, 401);
    }
    let r = c.post("/api/v1/login", None, json!({"username": "bob", "method": "otp_key", "passcode": format!("4711{}", key.display_at(0))})).await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_credentials"));
    let v = c
        .post(
            "/api/v1/validate",
            None,
            json!({"username": "bob", "passcode": format!("4711{}", key.display_at(0))}),
        )
        .await
        .json();
    assert_eq!(v["result"], "reject");

    // A temporary password for the rest of the day.
    let r = c
        .post("/api/v1/users/bob/temporary-password", Some(&hd), json!({}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tp = r.json()["password"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["expires_at"], "2026-11-24T00:00:00Z");
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "bob", "method": "otp_key", "passcode": tp}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        c.delete("/api/v1/users/bob/temporary-password", Some(&hd))
            .await
            .status,
        200
    );
    let r = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "bob", "method": "otp_key", "passcode": tp}),
        )
        .await;
    assert_eq!(r.status, 401);

    // The audit trail names actor, target and reason.
    let a = c
        .get("/api/v1/audit?user=bob&limit=200", Some(&admin))
        .await
        .json();
    let disable = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "key.disable")
        .unwrap();
    assert_eq!(
        (
            disable["actor"].as_str(),
            disable["detail"]["reason"].as_str()
        ),
        (Some("hd"), Some("lost"))
    );
    srv.stop().await;
}
