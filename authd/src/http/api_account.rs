//! API routes of #5: enrolment at login, the caller's profile, photo and step-up, groups, the
//! MFA policy, and resets of second factors. Contract in `docs/api.md`.

use super::AppState;
use super::api::step_json;
use super::error::ApiError;
use super::extract::{Admin, ApiJson, Caller, Client, Helpdesk};
use crate::clock::rfc3339;
use crate::flows::directory::{self, ProfilePatch};
use crate::flows::login::MfaMethod;
use crate::flows::{enrol, resets};
use crate::model::{Group, MfaPolicy, MfaReset, Profile, Requirement, ResetOutcome};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login/enrol", post(login_enrol))
        .route("/api/v1/login/enrol/confirm", post(login_enrol_confirm))
        .route("/api/v1/me", axum::routing::patch(me_patch))
        .route("/api/v1/me/reauth", post(me_reauth))
        .route(
            "/api/v1/me/photo",
            axum::routing::put(photo_put).delete(photo_delete),
        )
        .route("/api/v1/users/{username}/photo", get(photo_get))
        .route("/api/v1/groups", get(groups_list).post(groups_create))
        .route("/api/v1/groups/{name}", delete(groups_delete))
        .route("/api/v1/mfa-policy", get(policy_get).put(policy_put))
        .route("/api/v1/users/{username}/mfa-reset", post(reset_request))
        .route("/api/v1/mfa-resets", get(resets_list))
        .route("/api/v1/mfa-resets/{id}/approve", post(reset_approve))
}

/// JSON view of a profile (fields of `GET /api/v1/me`).
pub(crate) fn profile_json(p: &Profile) -> Value {
    json!({
        "email": p.email,
        "language": p.language,
        "display_name_private": p.display_name_private,
        "display_name_public": p.public_name(),
        "display_names_linked": p.display_name_public.is_none(),
        "photo": p.photo.as_ref().map(|i| json!({
            "type": i.content_type, "width": i.width, "height": i.height,
        })),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolReq {
    challenge: String,
    method: String,
    label: String,
}

async fn login_enrol(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<EnrolReq>,
) -> ApiResult {
    let now = st.app.now();
    let m = st
        .app
        .blocking(move |app| enrol::start(app, &r.challenge, &r.method, &r.label, &c, now))
        .await?;
    Ok(Json(json!({
        "id": m.id,
        "otpauth_uri": m.otpauth_uri,
        "secret": m.secret,
        "qr_svg": m.qr_svg,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolConfirmReq {
    challenge: String,
    id: i64,
    code: String,
}

async fn login_enrol_confirm(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<EnrolConfirmReq>,
) -> ApiResult {
    let now = st.app.now();
    let step = st
        .app
        .blocking(move |app| enrol::confirm(app, &r.challenge, r.id, &r.code, &c, now))
        .await?;
    Ok(Json(step_json(step)))
}

async fn me_patch(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    ApiJson(r): ApiJson<ProfilePatch>,
) -> ApiResult {
    let now = st.app.now();
    let p = st
        .app
        .blocking(move |app| directory::update_profile(app, &who, &r, &c, now))
        .await?;
    Ok(Json(profile_json(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReauthReq {
    password: String,
    method: Option<MfaMethod>,
    code: Option<String>,
}

async fn me_reauth(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    ApiJson(r): ApiJson<ReauthReq>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| {
            let second = match (r.method, r.code.as_deref()) {
                (Some(m), Some(code)) => Some((m, code)),
                (None, None) => None,
                _ => {
                    return Err(crate::Error::InvalidRequest(
                        "send \"method\" and \"code\" together".into(),
                    ));
                }
            };
            resets::reauth(app, &who, &r.password, second, &c, now)
        })
        .await?;
    Ok(Json(json!({ "reauthenticated_at": rfc3339(now) })))
}

async fn photo_put(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
    body: Body,
) -> ApiResult {
    // One byte over the limit is enough to know it is too large.
    let bytes = axum::body::to_bytes(body, crate::photo::MAX_BYTES + 1)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "photo_too_large",
                crate::photo::PhotoError::TooLarge.to_string(),
            )
        })?;
    if bytes.len() > crate::photo::MAX_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "photo_too_large",
            crate::photo::PhotoError::TooLarge.to_string(),
        ));
    }
    let now = st.app.now();
    let info = st
        .app
        .blocking(move |app| directory::set_photo(app, &who, &bytes, &c, now))
        .await?;
    Ok(Json(json!({
        "type": info.content_type, "width": info.width, "height": info.height,
    })))
}

async fn photo_delete(
    State(st): State<AppState>,
    Caller(who): Caller,
    Client(c): Client,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| directory::remove_photo(app, &who, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

async fn photo_get(
    State(st): State<AppState>,
    Caller(_who): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = st
        .app
        .blocking(move |app| directory::photo_of(app, &name))
        .await?;
    let mut r = Bytes::from(p.bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if p.info.content_type == "image/png" {
            "image/png"
        } else {
            "image/jpeg"
        }),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(r)
}

fn group_json(g: &Group) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "created_at": rfc3339(g.created_at),
        "members": g.members,
    })
}

async fn groups_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let gs = st
        .app
        .blocking(move |app| directory::groups(app, &who))
        .await?;
    Ok(Json(
        json!({ "groups": gs.iter().map(group_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupReq {
    name: String,
    #[serde(default)]
    description: String,
}

async fn groups_create(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<GroupReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let g = st
        .app
        .blocking(move |app| directory::create_group(app, &who, &r.name, &r.description, &c, now))
        .await?;
    Ok((StatusCode::CREATED, Json(group_json(&g))))
}

async fn groups_delete(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(name): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| directory::delete_group(app, &who, &name, &c, now))
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

fn policy_json(p: &MfaPolicy) -> Value {
    let mut roles = serde_json::Map::new();
    for r in crate::model::Role::ALL {
        let req = p.get(&crate::model::PolicyScope::Role(r));
        roles.insert(r.as_str().into(), json!(req.as_str()));
    }
    let mut groups = serde_json::Map::new();
    for (scope, req) in &p.entries {
        if let crate::model::PolicyScope::Group(g) = scope {
            groups.insert(g.clone(), json!(req.as_str()));
        }
    }
    json!({ "roles": roles, "groups": groups })
}

async fn policy_get(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let p = st
        .app
        .blocking(move |app| directory::policy(app, &who))
        .await?;
    Ok(Json(policy_json(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyReq {
    #[serde(default)]
    roles: std::collections::BTreeMap<String, Requirement>,
    #[serde(default)]
    groups: std::collections::BTreeMap<String, Option<Requirement>>,
}

async fn policy_put(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<PolicyReq>,
) -> ApiResult {
    let mut changes: Vec<(String, Option<Requirement>)> = r
        .roles
        .into_iter()
        .map(|(k, v)| (format!("role:{k}"), Some(v)))
        .collect();
    changes.extend(r.groups.into_iter().map(|(k, v)| (format!("group:{k}"), v)));
    let now = st.app.now();
    let p = st
        .app
        .blocking(move |app| directory::set_policy(app, &who, &changes, &c, now))
        .await?;
    Ok(Json(policy_json(&p)))
}

fn reset_json(r: &MfaReset, now: i64) -> Value {
    json!({
        "id": r.id,
        "target": r.target,
        "requested_by": r.requested_by,
        "created_at": rfc3339(r.created_at),
        "expires_at": rfc3339(r.expires_at),
        "approved_by": r.approved_by,
        "done_at": r.done_at.map(rfc3339),
        "state": r.state(now).as_str(),
    })
}

fn outcome_json(o: &ResetOutcome) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

async fn reset_request(
    State(st): State<AppState>,
    Helpdesk(who): Helpdesk,
    Client(c): Client,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let filed = st
        .app
        .blocking(move |app| resets::request(app, &who, &name, &c, now))
        .await?;
    Ok(match filed {
        resets::Filed::Pending(r) => (StatusCode::ACCEPTED, Json(reset_json(&r, now))),
        resets::Filed::Done { id, outcome } => (
            StatusCode::OK,
            Json(json!({ "id": id, "state": "done", "removed": outcome_json(&outcome) })),
        ),
    })
}

async fn resets_list(State(st): State<AppState>, Admin(_who): Admin) -> ApiResult {
    let now = st.app.now();
    let rs = st
        .app
        .blocking(move |app| Ok(app.store.list_mfa_resets()?))
        .await?;
    Ok(Json(json!({
        "resets": rs.iter().map(|r| reset_json(r, now)).collect::<Vec<_>>(),
    })))
}

async fn reset_approve(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(id): Path<i64>,
) -> ApiResult {
    let now = st.app.now();
    let (r, outcome) = st
        .app
        .blocking(move |app| resets::approve(app, &who, id, &c, now))
        .await?;
    let mut v = reset_json(&r, now);
    v["removed"] = outcome_json(&outcome);
    Ok(Json(v))
}
