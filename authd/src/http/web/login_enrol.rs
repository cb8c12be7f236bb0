//! The enrolment a login must go through when the MFA policy requires a second factor the
//! account lacks: `GET /login/enrol` (intro and label), `POST /login/enrol` (the QR code, the
//! key to type, the confirmation form), `POST /login/enrol/confirm` (the first code; opens the
//! session). The challenge travels in the login cookie, as on the other step pages.

use super::extract::AnonForm;
use super::i18n::Lang;
use super::login::{challenge_of, expired, next_step, step_page};
use super::{AppState, Chrome, St, Tr, error_text, render, status_of};
use crate::flows::enrol;
use crate::model::ChallengeStage;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

/// The device being set up, as the page shows it.
struct Material {
    id: i64,
    qr_svg: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "login_enrol.html")]
struct EnrolPage {
    t: &'static Tr,
    c: Chrome,
    material: Option<Material>,
}

fn page(
    st: &AppState,
    lang: Lang,
    csrf: String,
    material: Option<Material>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let t = lang.tr();
    let c = Chrome::anonymous(st, lang, "/login/enrol", csrf).with_error(error);
    render(status, &EnrolPage { t, c, material })
}

/// `GET /login/enrol`.
pub(super) async fn intro(State(st): St, lang: Lang, parts: Parts) -> Response {
    step_page(
        &st,
        lang,
        &parts,
        ChallengeStage::Enrol,
        |st, lang, csrf, status, error| page(st, lang, csrf, None, status, error),
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct StartForm {
    label: String,
}

/// `POST /login/enrol`: a new device for the challenge's account.
pub(super) async fn start(State(st): St, parts: Parts, f: AnonForm<StartForm>) -> Response {
    let Some(challenge) = f.challenge.clone() else {
        return expired();
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let label = f.form.label;
    let r = st
        .app
        .blocking(move |app| enrol::start(app, &challenge, "totp", &label, &client, now))
        .await;
    match r {
        Ok(m) => {
            let material = Material {
                id: m.id,
                qr_svg: m.qr_svg,
                secret: m.secret,
            };
            page(&st, f.lang, f.csrf, Some(material), StatusCode::OK, None)
        }
        Err(crate::Error::ChallengeExpired) => expired(),
        Err(e) => {
            let error = Some(error_text(f.lang, &e));
            page(&st, f.lang, f.csrf, None, status_of(&e), error)
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    id: i64,
    code: String,
}

/// `POST /login/enrol/confirm`.
pub(super) async fn confirm(State(st): St, parts: Parts, f: AnonForm<ConfirmForm>) -> Response {
    let Some(challenge) = challenge_of(&parts) else {
        return expired();
    };
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let (id, code) = (f.form.id, f.form.code);
    let r = st
        .app
        .blocking(move |app| enrol::confirm(app, &challenge, id, &code, &client, now))
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(crate::Error::ChallengeExpired) => expired(),
        // Start over with a new device: the pending one stays until the account page deletes it.
        Err(e) => {
            let error = Some(error_text(f.lang, &e));
            page(&st, f.lang, f.csrf, None, status_of(&e), error)
        }
    }
}
