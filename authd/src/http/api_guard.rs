//! JSON API of the guard (role `admin`): IP rules, suspensions, account unlock.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, ApiJson, Client};
use crate::clock::rfc3339;
use crate::flows::guard_admin;
use crate::guard::rules::IpRule;
use crate::store::Suspension;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ip-rules", get(rules_list).post(rules_add))
        .route("/api/v1/ip-rules/{id}", delete(rules_delete))
        .route(
            "/api/v1/suspensions",
            get(susp_list).post(susp_add).delete(susp_lift_all),
        )
        .route("/api/v1/suspensions/{*address}", delete(susp_lift))
        .route("/api/v1/users/{username}/unlock", post(user_unlock))
}

fn rule_json(r: &IpRule) -> Value {
    json!({
        "id": r.id,
        "scope": r.scope.to_text(),
        "action": r.action.as_str(),
        "cidr": r.net.to_string(),
        "created_at": rfc3339(r.created_at),
        "created_by": r.created_by,
    })
}

/// JSON view of a suspension.
pub fn suspension_json(s: &Suspension) -> Value {
    json!({
        "address": s.address,
        "reason": s.reason,
        "count": s.count,
        "first_seen": rfc3339(s.first_seen),
        "last_seen": rfc3339(s.last_seen),
        "expires_at": s.expires_at.map(rfc3339),
        "created_by": s.created_by,
    })
}

async fn rules_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let list = st
        .app
        .blocking(move |app| guard_admin::list_rules(app, &who))
        .await?;
    Ok(Json(
        json!({ "rules": list.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleReq {
    scope: String,
    action: String,
    cidr: String,
}

async fn rules_add(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<RuleReq>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let rule = st
        .app
        .blocking(move |app| {
            guard_admin::add_rule(app, &who, &r.scope, &r.action, &r.cidr, &c, now)
        })
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(rule_json(&rule))))
}

async fn rules_delete(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("\"{id}\" is not a valid rule id")))?;
    let now = st.app.now();
    st.app
        .blocking(move |app| guard_admin::delete_rule(app, &who, id, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspQuery {
    reason: Option<String>,
    address: Option<String>,
}

async fn susp_list(
    State(st): State<AppState>,
    Admin(who): Admin,
    Query(q): Query<SuspQuery>,
) -> ApiResult {
    let now = st.app.now();
    let list = st
        .app
        .blocking(move |app| {
            guard_admin::list_suspensions(
                app,
                &who,
                q.reason.as_deref().filter(|s| !s.is_empty()),
                q.address.as_deref().filter(|s| !s.is_empty()),
                now,
            )
        })
        .await?;
    Ok(Json(
        json!({ "suspensions": list.iter().map(suspension_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspReq {
    address: String,
    reason: String,
    duration: Option<String>,
}

async fn susp_add(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<SuspReq>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let s = st
        .app
        .blocking(move |app| {
            guard_admin::suspend(
                app,
                &who,
                &r.address,
                &r.reason,
                r.duration.as_deref(),
                &c,
                now,
            )
        })
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(suspension_json(&s))))
}

async fn susp_lift(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(address): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    let n = st
        .app
        .blocking(move |app| guard_admin::lift(app, &who, Some(&address), &c, now))
        .await?;
    Ok(Json(json!({ "lifted": n })))
}

async fn susp_lift_all(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
) -> ApiResult {
    let now = st.app.now();
    let n = st
        .app
        .blocking(move |app| guard_admin::lift(app, &who, None, &c, now))
        .await?;
    Ok(Json(json!({ "lifted": n })))
}

async fn user_unlock(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(username): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| guard_admin::unlock_account(app, &who, &username, &c, now))
        .await?;
    Ok(Json(json!({ "unlocked": true })))
}
