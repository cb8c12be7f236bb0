//! Extractors. A handler that needs a logged-in user takes [`Caller`]; one that needs an admin
//! takes [`Admin`] and cannot be written without it. [`ApiJson`] checks the content type, the
//! size and the shape of a JSON body and answers each failure with its own error code.

use super::AppState;
use super::error::ApiError;
use crate::authz::Permission;
use crate::flows::login::{self, Authenticated};
use crate::model::ClientInfo;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// The TCP peer of the connection, inserted by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Longest user agent kept in records.
const MAX_UA: usize = 256;

/// Client facts for audit records.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Client(client_info(parts)))
    }
}

/// What the guard layer found out about the client (inserted before any handler runs).
#[derive(Debug, Clone, Copy)]
pub struct GuardMark {
    /// The client address (forwarded-for resolved).
    pub ip: std::net::IpAddr,
    /// Global rules refuse it.
    pub refused: bool,
}

/// Client facts of a request.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let mark = parts.extensions.get::<GuardMark>().copied();
    let ip = mark
        .map(|m| m.ip)
        .or_else(|| parts.extensions.get::<PeerAddr>().map(|p| p.0.ip()));
    let address = ip.map(|i| i.to_string()).unwrap_or_default();
    let user_agent: String = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_UA)
        .collect();
    ClientInfo {
        address,
        user_agent,
        ip,
        refused: mark.is_some_and(|m| m.refused),
    }
}

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        let limit = st.app.config.server.body_limit_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::payload_too_large(limit))?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(ApiError::invalid_json)
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A request carrying a live API session (`Authorization: Bearer`).
#[derive(Debug, Clone)]
pub struct Caller(pub Authenticated);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)
            .ok_or(crate::Error::Unauthenticated)?
            .to_owned();
        let now = st.app.now();
        let who = st
            .app
            .blocking(move |app| login::authenticate(app, &token, now))
            .await?;
        // A session is usable only from addresses the account's rules allow.
        if let Some(mark) = parts.extensions.get::<GuardMark>()
            && !st.app.guard.allows(mark.ip, Some(&who.user))
        {
            return Err(crate::Error::Forbidden.into());
        }
        if !crate::authz::allows(&who.user.roles, Permission::OwnAccount) {
            return Err(crate::Error::Forbidden.into());
        }
        Ok(Caller(who))
    }
}

/// A request from an admin. Handlers for admin routes take this type, so the role check
/// cannot be forgotten.
#[derive(Debug, Clone)]
pub struct Admin(pub Authenticated);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Caller(who) = Caller::from_request_parts(parts, st).await?;
        if !crate::authz::allows(&who.user.roles, Permission::Administration) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                crate::Error::Forbidden.to_string(),
            ));
        }
        Ok(Admin(who))
    }
}

/// A request from helpdesk staff or an admin (helpdesk routes take this type).
#[derive(Debug, Clone)]
pub struct Helpdesk(pub Authenticated);

impl FromRequestParts<AppState> for Helpdesk {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Caller(who) = Caller::from_request_parts(parts, st).await?;
        if !crate::authz::allows(&who.user.roles, Permission::Helpdesk) {
            return Err(crate::Error::Forbidden.into());
        }
        Ok(Helpdesk(who))
    }
}

/// A request from a technician (permission `support`): support-console routes take this type.
#[derive(Debug, Clone)]
pub struct Technician(pub Authenticated);

impl FromRequestParts<AppState> for Technician {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Caller(who) = Caller::from_request_parts(parts, st).await?;
        if !crate::authz::allows(&who.user.roles, Permission::Support) {
            return Err(crate::Error::Forbidden.into());
        }
        Ok(Technician(who))
    }
}
