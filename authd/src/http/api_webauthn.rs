//! The JSON API of security keys and passkeys (contract in `docs/api.md`): registration and
//! listing on `/api/v1/me/webauthn`, a key as second factor on `/api/v1/login/webauthn/*`,
//! passwordless sign-in on `/api/v1/login/passkey/*`, and staff views of a user's keys.
//! Options are webauthn-rs's JSON (`{"publicKey": …}`); answers are
//! `PublicKeyCredential.toJSON()`.

use super::AppState;
use super::api::step_json;
use super::error::ApiError;
use super::extract::{ApiJson, Caller, Client, Helpdesk};
use crate::flows::webauthn as flow;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Routes of the WebAuthn API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/webauthn", get(list))
        .route("/api/v1/me/webauthn/register/start", post(register_start))
        .route("/api/v1/me/webauthn/register/finish", post(register_finish))
        .route("/api/v1/me/webauthn/{credential_id}", delete(remove))
        .route("/api/v1/login/webauthn/start", post(second_start))
        .route("/api/v1/login/webauthn/finish", post(second_finish))
        .route("/api/v1/login/passkey/start", post(passkey_start))
        .route("/api/v1/login/passkey/finish", post(passkey_finish))
        .route("/api/v1/users/{username}/webauthn", get(staff_list))
        .route(
            "/api/v1/users/{username}/webauthn/{credential_id}",
            delete(staff_remove),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelReq {
    label: String,
    /// `passkey` (default) or `security_key` (a second factor only, user verification
    /// preferred).
    #[serde(default)]
    kind: Option<String>,
}

impl LabelReq {
    fn kind(&self) -> Result<crate::credentials::webauthn::KeyKind, crate::Error> {
        match self.kind.as_deref() {
            None => Ok(crate::credentials::webauthn::KeyKind::Passkey),
            Some(k) => crate::credentials::webauthn::KeyKind::parse(k).ok_or_else(|| {
                crate::Error::InvalidRequest("kind: \"passkey\" or \"security_key\"".into())
            }),
        }
    }
}

async fn register_start(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiJson(r): ApiJson<LabelReq>,
) -> ApiResult {
    let now = st.app.now();
    let kind = r.kind()?;
    let s = st
        .app
        .blocking(move |app| flow::register_start_kind(app, &who, &r.label, kind, now))
        .await?;
    Ok(Json(json!({ "id": s.id.as_str(), "options": s.options })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishReq {
    id: String,
    credential: Value,
}

async fn register_finish(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    ApiJson(r): ApiJson<FinishReq>,
) -> ApiResult {
    let now = st.app.now();
    let (credential_id, label) = st
        .app
        .blocking(move |app| flow::register_finish(app, &who, &r.id, &r.credential, &c, now))
        .await?;
    Ok(Json(
        json!({ "credential_id": credential_id, "label": label }),
    ))
}

async fn list(State(st): State<AppState>, Caller(who): Caller) -> ApiResult {
    let uid = who.user.id;
    let keys = st.app.blocking(move |app| flow::list(app, uid)).await?;
    Ok(Json(json!({ "keys": keys })))
}

async fn remove(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| flow::delete(app, &who, &id, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeReq {
    challenge: String,
}

async fn second_start(State(st): State<AppState>, ApiJson(r): ApiJson<ChallengeReq>) -> ApiResult {
    let now = st.app.now();
    let s = st
        .app
        .blocking(move |app| flow::second_factor_start(app, &r.challenge, now))
        .await?;
    Ok(Json(json!({ "options": s.options })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFinishReq {
    challenge: String,
    credential: Value,
}

async fn second_finish(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<SecondFinishReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| flow::second_factor_finish(app, &r.challenge, &r.credential, &c, now))
        .await?;
    Ok(Json(step_json(step)))
}

async fn passkey_start(State(st): State<AppState>) -> ApiResult {
    let now = st.app.now();
    let s = st
        .app
        .blocking(move |app| flow::passkey_start(app, now))
        .await?;
    Ok(Json(json!({ "id": s.id.as_str(), "options": s.options })))
}

async fn passkey_finish(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<FinishReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| flow::passkey_finish(app, &r.id, &r.credential, &c, now))
        .await?;
    Ok(Json(step_json(step)))
}

async fn staff_list(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Path(name): Path<String>,
) -> ApiResult {
    let keys = st
        .app
        .blocking(move |app| flow::staff_list(app, &who, &name))
        .await?;
    Ok(Json(json!({ "keys": keys })))
}

async fn staff_remove(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| flow::staff_delete(app, &who, &name, &id, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}
