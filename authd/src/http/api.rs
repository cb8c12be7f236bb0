//! The JSON API under `/api/v1`. Each handler: extract, read the clock once, call one flow
//! off the async workers, render. Contract in `docs/api.md`.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, ApiJson, Caller, Client};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::flows::login::{IssuedSession, LoginStep, MfaMethod};
use crate::flows::{account, admin, keys, login};
use crate::model::{AuditFilter, Session, User};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Routes of the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/login", post(login_password))
        .route("/api/v1/login/mfa", post(login_mfa))
        .route("/api/v1/login/password", post(login_password_change))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/password", post(me_password))
        .route("/api/v1/me/totp", get(totp_list).post(totp_enrol))
        .route("/api/v1/me/totp/{id}/confirm", post(totp_confirm))
        .route("/api/v1/me/totp/{id}", axum::routing::delete(totp_delete))
        .route(
            "/api/v1/me/backup-codes",
            get(backup_remaining).post(backup_generate),
        )
        .route(
            "/api/v1/me/sessions",
            get(sessions_list).delete(sessions_revoke_others),
        )
        .route(
            "/api/v1/me/sessions/{id}",
            axum::routing::delete(session_revoke),
        )
        .route("/api/v1/users", get(users_list).post(users_create))
        .route(
            "/api/v1/users/{username}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
        .route("/api/v1/users/{username}/password", post(user_password))
        .route("/api/v1/sessions", get(connected_list))
        .route(
            "/api/v1/sessions/{id}",
            axum::routing::delete(connected_end),
        )
        .route(
            "/api/v1/users/{username}/sessions",
            axum::routing::delete(user_sessions_end),
        )
        .route("/api/v1/audit", get(audit_list))
        .route("/api/v1/audit/verify", get(audit_verify))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(st): State<AppState>) -> String {
    st.metrics.render()
}

/// JSON view of an issued session.
pub fn session_json(s: &IssuedSession) -> Value {
    let mut v = json!({ "session": s.token.as_str(), "expires_at": rfc3339(s.expires_at) });
    if let Some(n) = s.backup_codes_low {
        v["backup_codes_remaining"] = json!(n);
        v["warning"] = json!(format!("only {n} backup codes remain: generate a new set"));
    }
    v
}

/// JSON view of a login step (also used by `api_webauthn`).
pub(crate) fn step_json(step: LoginStep) -> Value {
    match step {
        LoginStep::Session(s) => session_json(&s),
        LoginStep::MfaRequired { challenge, methods } => json!({
            "mfa_required": true,
            "challenge": challenge.as_str(),
            "methods": methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        }),
        LoginStep::PasswordChangeRequired { challenge } => json!({
            "password_change_required": true,
            "challenge": challenge.as_str(),
        }),
        LoginStep::EnrolmentRequired { challenge, methods } => json!({
            "enrolment_required": true,
            "challenge": challenge.as_str(),
            "methods": methods,
        }),
        LoginStep::PinRequired { challenge } => json!({
            "pin_required": true,
            "challenge": challenge.as_str(),
        }),
        LoginStep::Accepted => json!({ "result": "accept" }),
    }
}

fn user_json(u: &User) -> Value {
    json!({
        "username": u.username,
        "roles": u.roles,
        "disabled": u.disabled,
        "must_change_password": u.must_change_password,
        "created_at": rfc3339(u.created_at),
        "password_changed_at": rfc3339(u.password_changed_at),
    })
}

fn session_row_json(s: &Session, current: i64) -> Value {
    json!({
        "id": s.id,
        "created_at": rfc3339(s.created_at),
        "expires_at": rfc3339(s.expires_at),
        "last_seen_at": rfc3339(s.last_seen_at),
        "address": s.address,
        "user_agent": s.user_agent,
        "method": s.method,
        "current": s.id == current,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    username: String,
    /// `password` (default) or `otp_key`.
    method: Option<String>,
    password: Option<String>,
    passcode: Option<String>,
}

async fn login_password(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<LoginReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = match (r.method.as_deref(), r.password, r.passcode) {
        (None | Some("password"), Some(pw), None) => {
            st.app
                .blocking(move |app| login::password_step(app, &r.username, &pw, &c, now))
                .await?
        }
        (Some("otp_key"), None, Some(pc)) => {
            st.app
                .blocking(move |app| keys::key_step(app, &r.username, &pc, &c, now, true))
                .await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "send {\"username\",\"password\"} or {\"username\",\"method\":\"otp_key\",\"passcode\"}",
            ));
        }
    };
    Ok(Json(step_json(step)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaReq {
    challenge: String,
    method: MfaMethod,
    code: String,
}

async fn login_mfa(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<MfaReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| login::mfa_step(app, &r.challenge, r.method, &r.code, &c, now))
        .await?;
    Ok(Json(step_json(step)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChangeReq {
    challenge: String,
    new_password: String,
}

async fn login_password_change(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<PasswordChangeReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| {
            login::password_change_step(app, &r.challenge, &r.new_password, &c, now)
        })
        .await?;
    Ok(Json(step_json(step)))
}

async fn logout(State(st): State<AppState>, Caller(who): Caller, Client(c): Client) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| login::logout(app, &who, &c, now))
        .await?;
    Ok(Json(json!({ "logged_out": true })))
}

async fn me(State(st): State<AppState>, Caller(who): Caller) -> ApiResult {
    let user = who.user.clone();
    let (totp, backup, required, groups, profile) = st
        .app
        .blocking(move |app| {
            Ok((
                app.store.list_totp(user.id)?,
                app.store.count_backup_codes(user.id)?,
                crate::flows::policy::mfa_required(app, &user)?,
                app.store.user_groups(user.id)?,
                app.store.profile(user.id)?,
            ))
        })
        .await?;
    let mut v = user_json(&who.user);
    v["groups"] = json!(groups);
    v["session"] = json!({
        "id": who.session.id,
        "expires_at": rfc3339(who.session.expires_at),
        "method": who.session.method,
        "authenticated_at": rfc3339(who.session.authenticated_at),
    });
    v["mfa"] = json!({
        "totp_devices": totp.iter().filter(|t| t.confirmed).count(),
        "backup_codes_remaining": backup,
        "required_by_policy": required,
    });
    if let Value::Object(m) = crate::http::api_account::profile_json(&profile) {
        for (k, val) in m {
            v[k] = val;
        }
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MePasswordReq {
    current: String,
    new: String,
}

async fn me_password(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    ApiJson(r): ApiJson<MePasswordReq>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| account::change_password(app, &who, &r.current, &r.new, &c, now))
        .await?;
    Ok(Json(json!({ "changed": true })))
}

async fn totp_enrol(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    ApiJson(r): ApiJson<account::TotpOptions>,
) -> ApiResult {
    let now = st.app.now();
    let e = st
        .app
        .blocking(move |app| account::totp_enrol(app, &who, &r, &c, now))
        .await?;
    Ok(Json(
        json!({ "id": e.id, "otpauth_uri": e.otpauth_uri, "secret": e.secret, "qr_svg": e.qr_svg }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeReq {
    code: String,
}

fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("\"{raw}\" is not a valid id")))
}

async fn totp_confirm(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<CodeReq>,
) -> ApiResult {
    let id = path_id(&id)?;
    let now = st.app.now();
    st.app
        .blocking(move |app| account::totp_confirm(app, &who, id, &r.code, &c, now))
        .await?;
    Ok(Json(json!({ "id": id, "confirmed": true })))
}

async fn totp_list(State(st): State<AppState>, Caller(who): Caller) -> ApiResult {
    let uid = who.user.id;
    let list = st
        .app
        .blocking(move |app| Ok(app.store.list_totp(uid)?))
        .await?;
    Ok(Json(json!({ "devices": list.iter().map(|t| json!({
        "id": t.id,
        "label": t.label,
        "confirmed": t.confirmed,
        "algorithm": t.params.algorithm().as_str(),
        "digits": t.params.digits().get(),
        "period": t.params.period(),
        "created_at": rfc3339(t.created_at),
        "last_used_at": t.last_used_at.map(rfc3339),
    })).collect::<Vec<_>>() })))
}

async fn totp_delete(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let id = path_id(&id)?;
    let now = st.app.now();
    st.app
        .blocking(move |app| account::totp_delete(app, &who, id, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

async fn backup_generate(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
) -> ApiResult {
    let now = st.app.now();
    let codes = st
        .app
        .blocking(move |app| account::backup_codes_generate(app, &who, &c, now))
        .await?;
    Ok(Json(
        json!({ "codes": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>() }),
    ))
}

async fn backup_remaining(State(st): State<AppState>, Caller(who): Caller) -> ApiResult {
    let uid = who.user.id;
    let n = st
        .app
        .blocking(move |app| Ok(app.store.count_backup_codes(uid)?))
        .await?;
    Ok(Json(json!({ "remaining": n })))
}

async fn sessions_list(State(st): State<AppState>, Caller(who): Caller) -> ApiResult {
    let now = st.app.now();
    let current = who.session.id;
    let list = st
        .app
        .blocking(move |app| account::sessions(app, &who, now))
        .await?;
    Ok(Json(
        json!({ "sessions": list.iter().map(|s| session_row_json(s, current)).collect::<Vec<_>>() }),
    ))
}

async fn sessions_revoke_others(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
) -> ApiResult {
    let now = st.app.now();
    let n = st
        .app
        .blocking(move |app| account::revoke_other_sessions(app, &who, &c, now))
        .await?;
    Ok(Json(json!({ "revoked": n })))
}

async fn session_revoke(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let id = path_id(&id)?;
    let now = st.app.now();
    st.app
        .blocking(move |app| account::revoke_session(app, &who, id, &c, now))
        .await?;
    Ok(Json(json!({ "revoked": true })))
}

async fn users_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let list = st
        .app
        .blocking(move |app| admin::list_users(app, &who))
        .await?;
    Ok(Json(
        json!({ "users": list.iter().map(user_json).collect::<Vec<_>>() }),
    ))
}

async fn users_create(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<admin::CreateUser>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let u = st
        .app
        .blocking(move |app| admin::create_user(app, &who, &r, &c, now))
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(user_json(&u))))
}

async fn user_get(
    State(st): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> ApiResult {
    let u = st
        .app
        .blocking(move |app| {
            let u = admin::get_user(app, &who, &name)?;
            let groups = app.store.user_groups(u.id)?;
            Ok((u, groups))
        })
        .await?;
    let (u, groups) = u;
    let mut v = user_json(&u);
    v["groups"] = json!(groups);
    Ok(Json(v))
}

async fn user_patch(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(name): Path<String>,
    ApiJson(r): ApiJson<admin::PatchUser>,
) -> ApiResult {
    let now = st.app.now();
    let u = st
        .app
        .blocking(move |app| {
            let u = admin::patch_user(app, &who, &name, &r, &c, now)?;
            let groups = app.store.user_groups(u.id)?;
            Ok((u, groups))
        })
        .await?;
    let (u, groups) = u;
    let mut v = user_json(&u);
    v["groups"] = json!(groups);
    Ok(Json(v))
}

async fn user_delete(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(name): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| admin::delete_user(app, &who, &name, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

async fn user_password(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(name): Path<String>,
    ApiJson(r): ApiJson<admin::SetPassword>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| admin::set_password(app, &who, &name, &r, &c, now))
        .await?;
    Ok(Json(json!({ "changed": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    user: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
}

async fn audit_list(
    State(st): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    let since = match q.since.as_deref() {
        None | Some("") => None,
        Some(s) => Some(parse_rfc3339(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since: \"{s}\" is not an RFC 3339 UTC time like 2026-01-31T08:00:00Z"
            ))
        })?),
    };
    let filter = AuditFilter {
        user: q.user.filter(|u| !u.is_empty()).map(|u| u.to_lowercase()),
        since,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let list = st
        .app
        .blocking(move |app| admin::audit_trail(app, &who, &filter))
        .await?;
    Ok(Json(json!({ "events": list })))
}

async fn audit_verify(State(st): State<AppState>, Admin(_who): Admin) -> ApiResult {
    let r = st
        .app
        .blocking(move |app| Ok(app.store.verify_audit_chain()?))
        .await?;
    Ok(Json(match r {
        Ok(n) => json!({ "intact": true, "entries": n }),
        Err(id) => json!({ "intact": false, "first_broken_entry": id }),
    }))
}

async fn connected_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let now = st.app.now();
    let list = st
        .app
        .blocking(move |app| admin::connected_sessions(app, &who, now))
        .await?;
    Ok(Json(json!({ "sessions": list.iter().map(|c| {
        let mut v = session_row_json(&c.session, -1);
        v["username"] = json!(c.username);
        v["roles"] = json!(c.roles);
        v.as_object_mut().map(|o| o.remove("current"));
        v
    }).collect::<Vec<_>>() })))
}

async fn connected_end(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let id = path_id(&id)?;
    let now = st.app.now();
    st.app
        .blocking(move |app| admin::end_session(app, &who, id, &c, now))
        .await?;
    Ok(Json(json!({ "ended": true })))
}

async fn user_sessions_end(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(name): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    let n = st
        .app
        .blocking(move |app| admin::end_user_sessions(app, &who, &name, &c, now))
        .await?;
    Ok(Json(json!({ "ended": n })))
}
