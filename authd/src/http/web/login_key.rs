//! Sign-in with a hardware OTP key: the passcode form of the sign-in page (`POST /login/key`:
//! PIN ‖ code, the code alone on first use, or a temporary password from the helpdesk), then
//! on first use the choice of a PIN (`/login/pin`) before the session opens. The rules are
//! `flows::keys`; a refusal is the same generic error as a wrong password.

use super::extract::{AnonForm, Secret, clear_session};
use super::i18n::Lang;
use super::login::{LoginView, clear_challenge, expired, login_page, next_step, step_page};
use super::{AppState, Chrome, St, Tr, error_text, render, status_of};
use crate::flows::keys;
use crate::model::ChallengeStage;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct KeyLoginForm {
    username: String,
    passcode: Secret,
}

/// `POST /login/key`.
pub(super) async fn submit(State(st): St, parts: Parts, f: AnonForm<KeyLoginForm>) -> Response {
    let client = crate::http::extract::client_info(&parts);
    let now = st.app.now();
    let KeyLoginForm { username, passcode } = f.form;
    let name = username.clone();
    let r = st
        .app
        .blocking(move |app| keys::key_step(app, &name, passcode.as_str(), &client, now, true))
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(e) => {
            let view = LoginView {
                query: None,
                status: status_of(&e),
                error: Some(error_text(f.lang, &e)),
                username: username.chars().take(150).collect(),
                key_open: true,
                set: vec![clear_session(&st), clear_challenge()],
            };
            login_page(&st, f.lang, &parts.headers, view)
        }
    }
}

#[derive(Template)]
#[template(path = "pin.html")]
struct PinPage {
    t: &'static Tr,
    c: Chrome,
    /// The length rule, with the configured bounds.
    rule_length: String,
    min: usize,
    max: usize,
}

fn render_pin(
    st: &AppState,
    lang: Lang,
    csrf: String,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let t = lang.tr();
    let (min, max) = (
        st.app.config.keys.pin_min_length,
        st.app.config.keys.pin_max_length,
    );
    let page = PinPage {
        t,
        c: Chrome::anonymous(st, lang, "/login/pin", csrf).with_error(error),
        rule_length: t
            .keys
            .pin_rule_length
            .replace("{min}", &min.to_string())
            .replace("{max}", &max.to_string()),
        min,
        max,
    };
    render(status, &page)
}

/// `GET /login/pin`: only with a live PIN-setup challenge.
pub(super) async fn pin_page(State(st): St, lang: Lang, parts: Parts) -> Response {
    step_page(&st, lang, &parts, ChallengeStage::PinSetup, render_pin).await
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    pin: Secret,
    repeat: Secret,
}

/// `POST /login/pin`: a PIN breaking a rule shows the page again with the rule; the
/// challenge stays usable until it expires.
pub(super) async fn pin_submit(State(st): St, f: AnonForm<PinForm>) -> Response {
    let Some(challenge) = f.challenge else {
        return expired();
    };
    if f.form.pin != f.form.repeat {
        let error = Some(f.lang.tr().keys.pins_differ.to_owned());
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render_pin(&st, f.lang, f.csrf, status, error);
    }
    let now = st.app.now();
    let pin = f.form.pin;
    let r = st
        .app
        .blocking(move |app| keys::pin_step(app, &challenge, pin.as_str(), now, true))
        .await;
    match r {
        Ok(step) => next_step(&st, step),
        Err(crate::Error::ChallengeExpired) => expired(),
        Err(e) => {
            let error = Some(error_text(f.lang, &e));
            render_pin(&st, f.lang, f.csrf, status_of(&e), error)
        }
    }
}
