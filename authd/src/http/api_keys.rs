//! JSON API of hardware keys, the helpdesk and `/validate`. Contract in `docs/api.md`.

use super::AppState;
use super::api::session_json;
use super::error::ApiError;
use super::extract::{ApiJson, Client, Helpdesk};
use crate::clock::rfc3339;
use crate::flows::login::LoginStep;
use crate::flows::validate::{self, Verdict};
use crate::flows::{helpdesk, keys};
use crate::model::{KeyKind, KeyState, OtpKey};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sesame_hardware::seeds::Decryption;

type ApiResult = Result<Json<Value>, ApiError>;

/// Largest seed file accepted (a batch of several thousand keys).
const MAX_SEED_FILE: usize = 8 * 1024 * 1024;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login/pin", post(login_pin))
        .route("/api/v1/validate", post(validate_route))
        .route("/api/v1/keys", get(keys_list))
        .route("/api/v1/keys/import", post(keys_import))
        .route("/api/v1/keys/{serial}/pin/cancel", post(key_pin_cancel))
        .route("/api/v1/keys/{serial}/disable", post(key_disable))
        .route("/api/v1/keys/{serial}/resync", post(key_resync))
        .route("/api/v1/keys/{serial}/unlock", post(key_unlock))
        .route("/api/v1/users/{username}/keys", post(key_assign))
        .route(
            "/api/v1/users/{username}/temporary-password",
            post(temp_issue).delete(temp_revoke),
        )
}

/// JSON view of a key (never its seed or PIN hash).
pub fn key_json(k: &OtpKey, max_failures: u32) -> Value {
    json!({
        "serial": k.serial,
        "kind": k.kind.as_str(),
        "period": match k.kind { KeyKind::Totp { period } => Some(period), KeyKind::Hotp => None },
        "digits": k.digits.get(),
        "algorithm": k.algorithm.as_str(),
        "state": k.state.as_str(),
        "disabled_reason": match k.state { KeyState::Disabled(r) => Some(r.as_str()), _ => None },
        "disabled_note": k.disabled_note,
        "owner": k.owner_name,
        "pin_set": k.pin_hash.is_some(),
        "failures": k.fail_count,
        "locked": k.locked(max_failures),
        "drift_steps": k.drift,
        "created_at": rfc3339(k.created_at),
        "assigned_at": k.assigned_at.map(rfc3339),
        "disabled_at": k.disabled_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
        "manufacturer": k.manufacturer,
        "model": k.model,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinReq {
    challenge: String,
    pin: String,
}

async fn login_pin(State(st): State<AppState>, ApiJson(r): ApiJson<PinReq>) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| keys::pin_step(app, &r.challenge, &r.pin, now, true))
        .await?;
    match step {
        LoginStep::Session(s) => Ok(Json(session_json(&s))),
        _ => Err(crate::Error::Internal("unexpected PIN step outcome".into()).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateReq {
    username: String,
    passcode: String,
    challenge: Option<String>,
}

async fn validate_route(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<ValidateReq>,
) -> ApiResult {
    let now = st.app.now();
    let v = st
        .app
        .blocking(move |app| {
            validate::validate(
                app,
                &r.username,
                &r.passcode,
                r.challenge.as_deref(),
                &c,
                now,
            )
        })
        .await?;
    Ok(Json(match v {
        Verdict::Accept => json!({ "result": "accept" }),
        Verdict::Reject => json!({ "result": "reject" }),
        Verdict::Challenge(ch) => {
            json!({ "result": "challenge", "challenge": ch.as_str(), "message": "choose a PIN for your key and send it as the passcode with this challenge" })
        }
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysQuery {
    state: Option<String>,
    user: Option<String>,
    serial: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn keys_list(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Query(q): Query<KeysQuery>,
) -> ApiResult {
    let max = st.app.config.keys.max_failures;
    let nonempty = |o: Option<String>| o.filter(|s| !s.is_empty());
    let (state, user, serial) = (nonempty(q.state), nonempty(q.user), nonempty(q.serial));
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // One more than asked tells whether another page follows.
    let page = helpdesk::Page {
        after: nonempty(q.after),
        limit: Some(limit + 1),
    };
    let mut list = st
        .app
        .blocking(move |app| {
            helpdesk::list(
                app,
                &who,
                state.as_deref(),
                user.as_deref(),
                serial.as_deref(),
                page,
            )
        })
        .await?;
    let more = list.len() > limit as usize;
    list.truncate(limit as usize);
    let next = more
        .then(|| list.last().map(|k| k.serial.clone()))
        .flatten();
    Ok(Json(json!({
        "keys": list.iter().map(|k| key_json(k, max)).collect::<Vec<_>>(),
        "next": next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    key: Option<String>,
    password: Option<String>,
    dry_run: Option<bool>,
}

async fn keys_import(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ![
        "application/pskc+xml",
        "application/xml",
        "text/xml",
        "text/csv",
    ]
    .contains(&mime.as_str())
    {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the seed file as application/pskc+xml or text/csv",
        ));
    }
    let dec = match (q.key, q.password) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either key= or password=, not both",
            ));
        }
        (Some(hex), None) => Decryption::PreSharedKey(
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(hex.trim().as_bytes())
                .map_err(|_| {
                    ApiError::bad_request("key= must be the pre-shared AES key in hexadecimal")
                })?,
        ),
        (None, Some(p)) => Decryption::Password(p),
        (None, None) => Decryption::None,
    };
    let file = axum::body::to_bytes(body, MAX_SEED_FILE)
        .await
        .map_err(|_| ApiError::payload_too_large(MAX_SEED_FILE))?;
    let dry = q.dry_run.unwrap_or(false);
    let now = st.app.now();
    let report = st
        .app
        .blocking(move |app| helpdesk::import(app, &who, &file, &dec, dry, &c, now))
        .await?;
    Ok(Json(
        json!({ "dry_run": dry, "count": report.len(), "tokens": report }),
    ))
}

async fn key_pin_cancel(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(serial): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| helpdesk::cancel_pin(app, &who, &serial, &c, now))
        .await?;
    Ok(Json(json!({ "pin_cancelled": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableReq {
    reason: String,
    #[serde(default)]
    note: String,
}

async fn key_disable(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(serial): Path<String>,
    ApiJson(r): ApiJson<DisableReq>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| helpdesk::disable(app, &who, &serial, &r.reason, &r.note, &c, now))
        .await?;
    Ok(Json(json!({ "disabled": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResyncReq {
    code1: String,
    code2: String,
}

async fn key_resync(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(serial): Path<String>,
    ApiJson(r): ApiJson<ResyncReq>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| helpdesk::resync(app, &who, &serial, &r.code1, &r.code2, &c, now))
        .await?;
    Ok(Json(json!({ "resynchronised": true })))
}

async fn key_unlock(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(serial): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| helpdesk::unlock(app, &who, &serial, &c, now))
        .await?;
    Ok(Json(json!({ "unlocked": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignReq {
    serial: String,
    replaces: Option<String>,
}

async fn key_assign(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(username): Path<String>,
    ApiJson(r): ApiJson<AssignReq>,
) -> ApiResult {
    let now = st.app.now();
    let max = st.app.config.keys.max_failures;
    let k = st
        .app
        .blocking(move |app| {
            helpdesk::assign(
                app,
                &who,
                &username,
                &r.serial,
                r.replaces.as_deref(),
                &c,
                now,
            )
        })
        .await?;
    Ok(Json(key_json(&k, max)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TempReq {
    valid_for: Option<String>,
}

async fn temp_issue(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(username): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    // The body is optional: no body (or `{}`) means "until the end of the local day".
    let bytes = axum::body::to_bytes(body, 4096)
        .await
        .map_err(|_| ApiError::payload_too_large(4096))?;
    let r: TempReq = if bytes.iter().all(u8::is_ascii_whitespace) {
        TempReq::default()
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?
    };
    let now = st.app.now();
    let (pw, exp) = st
        .app
        .blocking(move |app| {
            helpdesk::temporary_password(app, &who, &username, r.valid_for.as_deref(), &c, now)
        })
        .await?;
    Ok(Json(
        json!({ "password": pw.as_str(), "expires_at": rfc3339(exp) }),
    ))
}

async fn temp_revoke(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(username): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| helpdesk::revoke_temporary_password(app, &who, &username, &c, now))
        .await?;
    Ok(Json(json!({ "revoked": true })))
}
