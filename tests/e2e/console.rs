//! Support-console installations (issue "installer"): update tokens issued at a technician's
//! login, deploy tokens, revocation, and the update repository served only to valid tokens.

use crate::support::*;
use serde_json::{Value, json};

const PW: &str = "a long enough user pass";
const INSTALL_A: &str = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff";
const INSTALL_B: &str = "ffeeddcc-bbaa-4999-8877-665544332211";

fn facts(id: &str, version: &str) -> Value {
    json!({"install_id": id, "platform": "linux-x86_64", "version": version})
}

async fn fetch(c: &Client, path: &str, token: Option<&str>, version: &str) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("x-sesame-console-version", version)];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    c.request_with("GET", path, &headers, vec![]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_tokens_deploy_tokens_and_the_repository() {
    let srv = Server::start().await;
    let c = srv.client();
    let admin = admin_session(&c, "second root passphrase").await;
    for (name, role) in [("tess", "technician"), ("uma", "user")] {
        let r = c
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"username": name, "password": PW, "roles": [role], "must_change_password": false}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let step = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "tess", "password": PW}),
        )
        .await
        .json();
    let (tess, _) = enrol_at_login(&c, &step).await;
    let uma = c
        .post(
            "/api/v1/login",
            None,
            json!({"username": "uma", "password": PW}),
        )
        .await
        .json()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    // Only technicians' consoles get update tokens.
    let r = c
        .post(
            "/api/v1/console-installs",
            Some(&uma),
            facts(INSTALL_A, "1.0.0"),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = c
        .post(
            "/api/v1/console-installs",
            Some(&tess),
            facts("short", "1.0.0"),
        )
        .await;
    assert_eq!(r.code(), "invalid_request");
    let r = c
        .post(
            "/api/v1/console-installs",
            Some(&tess),
            facts(INSTALL_A, "1.0.0"),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.json()["update_token"].as_str().unwrap().to_owned();

    // The repository answers only to a valid update token.
    let repo = srv.dir.path().join("data/console-updates/repository");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("timestamp.json"), br#"{"signed":{}}"#).unwrap();
    std::fs::write(srv.dir.path().join("data/secret.txt"), b"not for consoles").unwrap();
    let r = fetch(&c, "/updates/timestamp.json", None, "1.0.0").await;
    assert_eq!((r.status, r.code().as_str()), (401, "update_token_missing"));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/download")
    );
    let r = fetch(&c, "/updates/timestamp.json", Some("made-up"), "1.0.0").await;
    assert_eq!(r.code(), "update_token_invalid");
    let r = fetch(&c, "/updates/timestamp.json", Some(&token), "1.0.1").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], br#"{"signed":{}}"#);
    for escape in [
        "/updates/..%2Fsecret.txt",
        "/updates/../secret.txt",
        "/updates/.hidden",
    ] {
        let r = fetch(&c, escape, Some(&token), "1.0.1").await;
        assert_ne!(r.status, 200, "{escape}");
    }
    // Admins see the installation, with the version its last check reported, and revoke it.
    let list = c.get("/api/v1/console-installs", Some(&admin)).await.json();
    let row = &list["installs"][0];
    assert_eq!(
        (
            row["install_id"].as_str(),
            row["user"].as_str(),
            row["version"].as_str(),
            row["via"].as_str()
        ),
        (Some(INSTALL_A), Some("tess"), Some("1.0.1"), Some("login"))
    );
    assert_eq!(
        c.get("/api/v1/console-installs", Some(&tess)).await.status,
        403
    );
    let r = c
        .delete(
            &format!("/api/v1/console-installs/{INSTALL_A}"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = fetch(&c, "/updates/timestamp.json", Some(&token), "1.0.1").await;
    assert_eq!(r.code(), "update_token_invalid");
    // Logging in again issues a new token.
    let r = c
        .post(
            "/api/v1/console-installs",
            Some(&tess),
            facts(INSTALL_A, "1.0.1"),
        )
        .await;
    let token2 = r.json()["update_token"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&c, "/updates/timestamp.json", Some(&token2), "1.0.1")
            .await
            .status,
        200
    );

    // A deploy token for one installation, valid a day.
    let r = c
        .post(
            "/api/v1/deploy-tokens",
            Some(&admin),
            json!({"label": "lab rollout", "valid_for": "1d", "max_installs": 1}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let deploy = r.json()["token"].as_str().unwrap().to_owned();
    let id = r.json()["id"].as_i64().unwrap();
    let register = |install: &'static str, token: String| {
        let c = c.clone();
        async move {
            let mut body = facts(install, "1.0.0");
            body["deploy_token"] = json!(token);
            c.post("/api/v1/console-installs/deploy", None, body).await
        }
    };
    let r = register(INSTALL_B, deploy.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b_token = r.json()["update_token"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&c, "/updates/timestamp.json", Some(&b_token), "1.0.0")
            .await
            .status,
        200
    );
    // Used up for another installation; the same one may register again.
    let r = register("00000000-0000-4000-8000-000000000000", deploy.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (401, "deploy_token_invalid"));
    let r = register(INSTALL_B, deploy.clone()).await;
    assert_eq!(r.status, 201);
    // Registering again replaces the installation's update token.
    assert_eq!(
        fetch(&c, "/updates/timestamp.json", Some(&b_token), "1.0.0")
            .await
            .code(),
        "update_token_invalid"
    );
    let b_token = r.json()["update_token"].as_str().unwrap().to_owned();
    let r = register(INSTALL_B, "wrong".into()).await;
    assert_eq!(r.code(), "deploy_token_invalid");
    let tokens = c.get("/api/v1/deploy-tokens", Some(&admin)).await.json();
    assert_eq!(tokens["deploy_tokens"][0]["installs"], 1);
    // A revoked deploy token registers nothing more; the installations it registered keep
    // their own update tokens.
    let r = c
        .delete(&format!("/api/v1/deploy-tokens/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        register(INSTALL_B, deploy.clone()).await.code(),
        "deploy_token_invalid"
    );
    assert_eq!(
        fetch(&c, "/updates/timestamp.json", Some(&b_token), "1.0.0")
            .await
            .status,
        200
    );
    // Another one expires after its day.
    let r = c
        .post(
            "/api/v1/deploy-tokens",
            Some(&admin),
            json!({"label": "short", "valid_for": "1h"}),
        )
        .await;
    let short = r.json()["token"].as_str().unwrap().to_owned();
    srv.clock.advance(3601);
    let r = register("11111111-0000-4000-8000-000000000000", short).await;
    assert_eq!(r.code(), "deploy_token_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_page_offers_the_console_of_the_visitors_system() {
    let srv = Server::start().await;
    let c = srv.client();
    let linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36";
    let page = |ua: &'static str, lang: &'static str| {
        let c = c.clone();
        async move {
            let r = c
                .request_with(
                    "GET",
                    "/download",
                    &[("user-agent", ua), ("accept-language", lang)],
                    vec![],
                )
                .await;
            assert_eq!(r.status, 200);
            String::from_utf8_lossy(&r.body).into_owned()
        }
    };
    let html = page(linux, "en").await;
    assert!(
        html.contains("linux-x86_64 <span class=\"muted\">(this computer)"),
        "{html}"
    );
    assert!(html.contains("No package has been published"), "{html}");
    assert_eq!(
        c.get("/download/console/linux-x86_64", None).await.status,
        404
    );
    // Published: the link and the exact silent-install commands appear.
    let dir = srv.dir.path().join("data/console-updates/download");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sesame-console-linux-x86_64.tar.gz"),
        b"\x1f\x8bpackage",
    )
    .unwrap();
    let html = page(linux, "en").await;
    assert!(
        html.contains("href=\"/download/console/linux-x86_64\""),
        "{html}"
    );
    assert!(html.contains(
        "installer /i sesame-console-linux-x86_64.tar.gz /quiet RUNATSTARTUP=1 SHOULDAUTOUPDATE=1"
    ));
    assert!(html.contains("ALLUSERS=1 SHOULDAUTOUPDATE=1 DEPLOYTOKEN=&lt;token&gt;"));
    let html = page("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "fr").await;
    assert!(html.contains("Télécharger la console"), "{html}");
    assert!(
        html.contains("pas encore de console pour votre système"),
        "{html}"
    );
    let r = c.get("/download/console/linux-x86_64", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"\x1f\x8bpackage");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("sesame-console-linux-x86_64.tar.gz")
    );
    assert_eq!(
        c.get("/download/console/windows-x86_64", None).await.status,
        404
    );
}
