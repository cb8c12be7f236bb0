//! Page tests of "who may do what", the caller's side: the profile (fr and en, linked display
//! names), groups and the MFA note, the photo (upload, serving without metadata, every
//! refusal), CSRF on every new form, and 403 for plain users. The admin side (policy page,
//! resets, technician role): `tests_policy.rs`.

use super::test_browser::{Browser, Page};
use crate::flows::testkit::Kit;
use crate::photo::samples;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

pub(super) const PW: &str = "tortue-lavande-9";

/// Post the photo form as a browser does (`multipart/form-data`).
pub(super) async fn upload(
    b: &mut Browser,
    csrf: Option<&str>,
    name: &str,
    ct: &str,
    data: &[u8],
) -> Page {
    let boundary = "----sesame-test-7d3f0a";
    let mut body = Vec::new();
    if let Some(c) = csrf {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{c}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
             filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::post("/account/photo")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::ORIGIN, "https://sso.example")
        .body(Body::from(body))
        .expect("request");
    b.send(req).await
}

async fn save_profile(b: &mut Browser, fields: &[(&str, &str)]) -> Page {
    let csrf = b.get("/account").await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    b.post("/account/profile", &all).await
}

/// A form of `page` posted with a fresh CSRF token.
pub(super) async fn post_from(
    b: &mut Browser,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let csrf = b.get(page).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    b.post(path, &all).await
}

#[tokio::test]
async fn profile_round_trip_in_french_and_english() {
    let kit = Kit::new();
    let alice = kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let account = b.sign_in("alice", PW).await;
    assert!(account.body.contains("Profile"), "{}", account.body);
    assert!(account.body.contains("You are in no group."));
    assert!(!account.body.contains("must have a second factor"));

    // French chosen: the notice, the page and the language cookie follow.
    let p = save_profile(
        &mut b,
        &[
            ("email", "alice@example.org"),
            ("language", "fr"),
            ("name_private", "Alice Martin"),
            ("name_public", ""),
            ("same", "on"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/account?done=profile_saved");
    assert!(
        p.set_cookie("sesame_lang")
            .is_some_and(|c| c.contains("=fr"))
    );
    let p = b.get(p.location()).await;
    assert!(
        p.body.contains("Votre profil a été enregistré."),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"alice@example.org\""));
    assert!(
        p.body
            .contains("<option value=\"fr\" lang=\"fr\" selected>")
    );
    assert!(p.body.contains("value=\"Alice Martin\""));
    let profile = kit.app.store.profile(alice.id).expect("profile");
    assert_eq!(profile.email.as_deref(), Some("alice@example.org"));
    assert_eq!(profile.public_name(), Some("Alice Martin"));

    // The public name follows the private one...
    save_profile(&mut b, &[("name_private", "Alice M."), ("same", "on")]).await;
    let profile = kit.app.store.profile(alice.id).expect("profile");
    assert_eq!(profile.public_name(), Some("Alice M."));
    assert_eq!(profile.display_name_public, None);
    // ... until set apart; then it stays when the private one changes.
    let p = save_profile(
        &mut b,
        &[
            ("name_private", "Alice M."),
            ("name_public", "Alice (support)"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    save_profile(
        &mut b,
        &[
            ("name_private", "Alice Martin"),
            ("name_public", "Alice (support)"),
        ],
    )
    .await;
    let profile = kit.app.store.profile(alice.id).expect("profile");
    assert_eq!(
        profile.display_name_private.as_deref(),
        Some("Alice Martin")
    );
    assert_eq!(profile.public_name(), Some("Alice (support)"));
    let p = b.get("/account").await;
    assert!(p.body.contains("value=\"Alice (support)\""));
    assert!(!p.body.contains("name=\"same\" value=\"on\" checked"));
    // The box joins them again.
    save_profile(&mut b, &[("name_private", "Alice Martin"), ("same", "on")]).await;
    let profile = kit.app.store.profile(alice.id).expect("profile");
    assert_eq!(profile.public_name(), Some("Alice Martin"));

    // A refusal in French, then English chosen.
    let p = save_profile(&mut b, &[("email", "not-an-address"), ("language", "fr")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains("Cette adresse e-mail n’est pas valide."),
        "{}",
        p.body
    );
    let fields = [
        ("email", "alice@example.org"),
        ("language", "en"),
        ("name_private", "Alice Martin"),
        ("same", "on"),
    ];
    let p = save_profile(&mut b, &fields).await;
    assert!(
        p.set_cookie("sesame_lang")
            .is_some_and(|c| c.contains("=en"))
    );
    let p = b.get(p.location()).await;
    assert!(
        p.body.contains("Your profile has been saved."),
        "{}",
        p.body
    );
    let p = save_profile(&mut b, &[("email", "a b@example.org")]).await;
    assert!(p.body.contains("is not an e-mail address."), "{}", p.body);
    assert_eq!(
        kit.app
            .store
            .profile(alice.id)
            .expect("profile")
            .email
            .as_deref(),
        Some("alice@example.org"),
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn groups_and_the_mfa_note_on_the_account_page() {
    let kit = Kit::new();
    kit.user("hd", PW, &["helpdesk"]);
    let mut b = Browser::new(&kit);
    b.accept_language = Some("fr");
    let p = b.sign_in("hd", PW).await;
    assert!(
        p.body.contains("Votre compte doit avoir un second facteur"),
        "{}",
        p.body
    );
    // Removing the only device is refused with the flow's sentence.
    let hd = kit
        .app
        .store
        .user_by_name("hd")
        .expect("store")
        .expect("hd");
    let id = kit.app.store.list_totp(hd.id).expect("totp")[0].id;
    let p = post_from(
        &mut b,
        "/account",
        &format!("/account/totp/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.body
            .contains("Votre compte doit garder un second facteur"),
        "{}",
        p.body
    );
    assert_eq!(kit.app.store.list_totp(hd.id).expect("totp").len(), 1);
}

#[tokio::test]
async fn photo_upload_is_served_clean_and_every_refusal_is_shown() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let mut b = Browser::new(&kit);
    let p = b.sign_in("alice", PW).await;
    assert!(p.body.contains("No photo."));
    assert!(p.body.contains("enctype=\"multipart/form-data\""));
    assert!(p.body.contains("accept=\"image/png,image/jpeg\""));
    assert_eq!(b.get("/account/photo").await.status, StatusCode::NOT_FOUND);

    let csrf = p.csrf();
    let png = samples::png(120, 90, "GPS 48.85,2.35 secret");
    let p = upload(&mut b, Some(&csrf), "me.png", "image/png", &png).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/account?done=photo_saved");
    let p = b.get(p.location()).await;
    assert!(p.body.contains("Your photo has been saved."));
    assert!(
        p.body
            .contains("<img class=\"photo\" src=\"/account/photo\"")
    );
    assert!(p.body.contains("120×90 · image/png"));
    let img = b.get("/account/photo").await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.headers[header::CONTENT_TYPE], "image/png");
    assert!(img.bytes.starts_with(b"\x89PNG"));
    assert!(!img.body.contains("secret") && !img.body.contains("GPS"));
    assert!(img.bytes.len() < png.len());
    let jpeg = samples::jpeg(200, 150, "camera serial 1234");
    let p = upload(&mut b, Some(&csrf), "me.jpg", "image/jpeg", &jpeg).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let img = b.get("/account/photo").await;
    assert_eq!(img.headers[header::CONTENT_TYPE], "image/jpeg");
    assert!(!img.body.contains("camera serial"));

    // Each refusal, with the flow's sentence on the account page; the photo stays.
    let mut too_large = samples::png(100, 100, "");
    too_large.resize(crate::photo::MAX_BYTES + 1, 0);
    let mut truncated = samples::png(100, 100, "");
    truncated.truncate(truncated.len() - 10);
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[100, 0, 100, 0, 0, 0, 0]);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "small.png",
            samples::png(79, 80, ""),
            "The photo must be at least 80×80 pixels (this one is 79×80).",
        ),
        ("big.png", too_large, "The photo is larger than 1 MB."),
        ("renamed.png", gif, "The photo must be a PNG or JPEG image."),
        (
            "cut.png",
            truncated,
            "The photo file is damaged or incomplete",
        ),
    ];
    for (name, data, sentence) in cases {
        let p = upload(&mut b, Some(&csrf), name, "image/png", &data).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(p.body.contains(sentence), "{name}: {}", p.body);
        assert!(
            p.body.contains("id=\"photo-title\""),
            "shown on the account page"
        );
    }
    b.accept_language = Some("fr");
    b.jar.remove("sesame_lang");
    let p = upload(
        &mut b,
        Some(&csrf),
        "s.png",
        "image/png",
        &samples::png(79, 80, ""),
    )
    .await;
    assert!(
        p.body
            .contains("La photo doit faire au moins 80×80 pixels (celle-ci fait 79×80)."),
        "{}",
        p.body
    );
    assert_eq!(
        b.get("/account/photo").await.headers[header::CONTENT_TYPE],
        "image/jpeg"
    );
    // Beyond the form's limit: refused unread.
    let huge = vec![0u8; super::account_profile::PHOTO_FORM_LIMIT + 1];
    let p = upload(&mut b, Some(&csrf), "huge.png", "image/png", &huge).await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(p.body.contains("La photo dépasse 1 Mo."), "{}", p.body);

    // Removed.
    let p = post_from(&mut b, "/account", "/account/photo/delete", &[]).await;
    assert_eq!(p.location(), "/account?done=photo_removed");
    assert_eq!(b.get("/account/photo").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_new_form_refuses_a_post_without_its_csrf_token() {
    let kit = Kit::new();
    kit.user("root", PW, &["admin"]);
    let alice = kit.user("alice", PW, &[]);
    let mut adm = Browser::new(&kit);
    adm.sign_in("root", PW).await;
    let cases: [(&str, &[(&str, &str)]); 9] = [
        (
            "/account/profile",
            &[("email", "evil@example.org"), ("same", "on")],
        ),
        ("/account/photo/delete", &[]),
        (
            "/account/reauth",
            &[("password", PW), ("next", "/admin/users")],
        ),
        ("/admin/users/mfa-reset", &[("username", "alice")]),
        (
            "/admin/users/groups",
            &[("username", "alice"), ("groups", "")],
        ),
        ("/admin/policy", &[("role:user", "required")]),
        ("/admin/groups", &[("name", "evil")]),
        ("/admin/groups/delete", &[("name", "evil")]),
        ("/helpdesk/mfa-reset", &[("username", "alice")]),
    ];
    for (path, fields) in cases {
        let mut with_bad = vec![("csrf", "forged")];
        with_bad.extend_from_slice(fields);
        for body in [fields.to_vec(), with_bad] {
            let p = adm.post(path, &body).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
            assert!(
                p.body.contains("The form has expired"),
                "{path}: {}",
                p.body
            );
        }
    }
    let p = adm.post("/admin/resets/1/approve", &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = upload(
        &mut adm,
        None,
        "a.png",
        "image/png",
        &samples::png(100, 100, ""),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = upload(
        &mut adm,
        Some("forged"),
        "a.png",
        "image/png",
        &samples::png(100, 100, ""),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Nothing happened.
    let root = kit
        .app
        .store
        .user_by_name("root")
        .expect("store")
        .expect("root");
    assert_eq!(kit.app.store.profile(root.id).expect("profile").email, None);
    assert_eq!(kit.app.store.photo(root.id).expect("photo"), None);
    assert!(kit.app.store.list_groups().expect("groups").is_empty());
    assert!(kit.app.store.list_mfa_resets().expect("resets").is_empty());
    assert!(!crate::flows::policy::mfa_required(&kit.app, &alice).expect("policy"));
}

#[tokio::test]
async fn a_plain_user_gets_403_on_the_admin_pages() {
    let kit = Kit::new();
    kit.user("alice", PW, &[]);
    let bob = kit.user("bob", PW, &[]);
    kit.equip_mfa(&bob);
    let mut b = Browser::new(&kit);
    let p = b.sign_in("alice", PW).await;
    assert!(!p.body.contains("href=\"/admin/policy\""));
    assert_eq!(b.get("/admin/policy").await.status, StatusCode::FORBIDDEN);
    // The step-up page is the caller's own.
    let p = b.get("/account/reauth?next=//evil.example/").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("name=\"next\" value=\"/account\""));
    // Valid tokens do not open the admin forms.
    let posts: [(&str, &[(&str, &str)]); 6] = [
        ("/admin/policy", &[("role:user", "required")]),
        ("/admin/groups", &[("name", "evil")]),
        ("/admin/groups/delete", &[("name", "evil")]),
        ("/admin/users/mfa-reset", &[("username", "bob")]),
        ("/admin/resets/1/approve", &[]),
        ("/helpdesk/mfa-reset", &[("username", "bob")]),
    ];
    for (path, fields) in posts {
        let p = post_from(&mut b, "/account", path, fields).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
        assert!(p.body.contains("You are not allowed"), "{path}: {}", p.body);
    }
    assert!(kit.app.store.list_groups().expect("groups").is_empty());
    assert_eq!(kit.app.store.list_totp(bob.id).expect("totp").len(), 1);
    // Its own re-authentication works with the password alone (no second factor).
    let p = b.get("/account/reauth?next=/account").await;
    let fields = [
        ("csrf", p.csrf()),
        ("password", PW.to_owned()),
        ("next", "/account".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post("/account/reauth", &fields).await;
    assert_eq!(p.location(), "/account");
}
