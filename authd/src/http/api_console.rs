//! Support-console installations and updates: update tokens issued at a technician's login,
//! deploy tokens, the admin's list and revocations, and `GET /updates/…`, the signed update
//! repository (files under `<data_dir>/console-updates/repository/`) served only to a console presenting a valid
//! update token. Contract in `docs/api.md`.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, ApiJson, Client, Technician, bearer};
use crate::clock::rfc3339;
use crate::flows::console::{self, InstallFacts};
use crate::model::{ConsoleInstall, DeployToken};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Where the signed update repository lives, under the data directory.
pub const REPOSITORY_DIR: &str = "console-updates/repository";
/// Where the current console package of each platform is kept for `/download`, under the data
/// directory: `sesame-console-<platform>.tar.gz`.
pub const DOWNLOAD_DIR: &str = "console-updates/download";

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/console-installs",
            get(installs_list).post(install_register),
        )
        .route("/api/v1/console-installs/deploy", post(install_deploy))
        .route(
            "/api/v1/console-installs/{install_id}",
            delete(install_revoke),
        )
        .route(
            "/api/v1/deploy-tokens",
            get(deploy_list).post(deploy_create),
        )
        .route("/api/v1/deploy-tokens/{id}", delete(deploy_revoke))
        .route("/updates/{*path}", get(update_file))
}

fn install_json(i: &ConsoleInstall) -> Value {
    json!({
        "install_id": i.install_id,
        "user": i.user,
        "via": if i.deploy_token_id.is_some() && i.user_id.is_none() { "deploy_token" } else { "login" },
        "deploy_token": i.deploy_token_id,
        "platform": i.platform,
        "version": i.version,
        "created_at": rfc3339(i.created_at),
        "last_seen_at": rfc3339(i.last_seen_at),
        "revoked": i.revoked_at.is_some(),
    })
}

async fn install_register(
    State(st): State<AppState>,
    Technician(who): Technician,
    Client(c): Client,
    ApiJson(f): ApiJson<InstallFacts>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let id = f.install_id.clone();
    let token = st
        .app
        .blocking(move |app| console::register_login(app, &who, &f, &c, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "install_id": id, "update_token": token.as_str() })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployReq {
    deploy_token: String,
    #[serde(flatten)]
    facts: InstallFacts,
}

async fn install_deploy(
    State(st): State<AppState>,
    Client(c): Client,
    ApiJson(r): ApiJson<DeployReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = st.app.now();
    let id = r.facts.install_id.clone();
    let token = st
        .app
        .blocking(move |app| console::register_deploy(app, &r.deploy_token, &r.facts, &c, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "install_id": id, "update_token": token.as_str() })),
    ))
}

async fn installs_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let list = st
        .app
        .blocking(move |app| console::installs(app, &who))
        .await?;
    Ok(Json(
        json!({ "installs": list.iter().map(install_json).collect::<Vec<_>>() }),
    ))
}

async fn install_revoke(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(id): Path<String>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| console::revoke_install(app, &who, &id, &c, now))
        .await?;
    Ok(Json(json!({ "revoked": true })))
}

fn deploy_json(d: &DeployToken) -> Value {
    json!({
        "id": d.id,
        "label": d.label,
        "created_by": d.created_by,
        "created_at": rfc3339(d.created_at),
        "expires_at": rfc3339(d.expires_at),
        "max_installs": d.max_installs,
        "installs": d.installs,
        "revoked": d.revoked_at.is_some(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployCreateReq {
    label: String,
    /// Duration such as `30d` (default 30 days).
    valid_for: Option<String>,
    /// Default 100.
    max_installs: Option<u64>,
}

async fn deploy_create(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    ApiJson(r): ApiJson<DeployCreateReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let valid_for = match r.valid_for.as_deref() {
        None => 30 * 86400,
        Some(text) => sesame_config::parse_duration(text)
            .map_err(|e| ApiError::bad_request(format!("valid_for: {e}")))?
            .as_secs() as i64,
    };
    let max = r.max_installs.unwrap_or(100);
    let now = st.app.now();
    let (id, token, expires_at) = st
        .app
        .blocking(move |app| {
            console::create_deploy_token(app, &who, &r.label, valid_for, max, &c, now)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "token": token.as_str(),
            "expires_at": rfc3339(expires_at),
            "max_installs": max,
        })),
    ))
}

async fn deploy_list(State(st): State<AppState>, Admin(who): Admin) -> ApiResult {
    let list = st
        .app
        .blocking(move |app| console::deploy_tokens(app, &who))
        .await?;
    Ok(Json(
        json!({ "deploy_tokens": list.iter().map(deploy_json).collect::<Vec<_>>() }),
    ))
}

async fn deploy_revoke(
    State(st): State<AppState>,
    Admin(who): Admin,
    Client(c): Client,
    Path(id): Path<i64>,
) -> ApiResult {
    let now = st.app.now();
    st.app
        .blocking(move |app| console::revoke_deploy_token(app, &who, id, &c, now))
        .await?;
    Ok(Json(json!({ "revoked": true })))
}

/// Whether every component of a repository path is a plain file or directory name.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 512
        && path.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_' | '+'))
        })
}

/// `GET /updates/{path}`: a file of the update repository, for a console with a valid update
/// token (`X-Sesame-Console-Version` records the version it runs).
async fn update_file(
    State(st): State<AppState>,
    Path(path): Path<String>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let token = bearer(&parts).map(str::to_owned);
    let version = parts
        .headers
        .get("x-sesame-console-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = st.app.now();
    let safe = safe_path(&path);
    let file = st
        .app
        .config
        .server
        .data_dir
        .join(REPOSITORY_DIR)
        .join(&path);
    let bytes = st
        .app
        .blocking(move |app| {
            console::check_update_token(app, token.as_deref(), version.as_deref(), now)?;
            if !safe {
                return Err(crate::Error::NotFound("file"));
            }
            match std::fs::read(&file) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(crate::Error::NotFound("file"))
                }
                Err(e) => Err(crate::Error::Internal(e.to_string())),
            }
        })
        .await?;
    let mut r = Bytes::from(bytes).into_response();
    let ct = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_paths_cannot_escape() {
        use super::safe_path;
        for ok in [
            "timestamp.json",
            "1.root.json",
            "targets/sesame-console-2.0.0-linux-x86_64.tar",
        ] {
            assert!(safe_path(ok), "{ok}");
        }
        for bad in [
            "",
            "../master.key",
            "targets/../../x",
            "/etc/passwd",
            ".hidden",
            "a//b",
            "a/./b",
            "a\\b",
        ] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
