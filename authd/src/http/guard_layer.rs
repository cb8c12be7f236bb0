//! The guard as middleware: the first thing every request meets.
//!
//! 1. The client address is resolved (socket peer; `X-Forwarded-For` only from trusted proxies).
//! 2. A suspended address gets the uniform 429 — the same body whatever it asked — and the
//!    request goes no further. Over the rate limit: 429 `rate_limited`; too long over it: the
//!    address is suspended (on disk first).
//! 3. Global IP rules: on login routes a refused address is only *marked*, so the flow answers
//!    exactly as for a wrong password without hashing; elsewhere it gets 403.
//! 4. After the handler: a 401/403 on a route other than a login counts toward a suspension
//!    for calls without the right.

use super::AppState;
use super::error::ApiError;
use super::extract::{GuardMark, PeerAddr};
use crate::guard::{Gate, Trigger};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Routes where a refusal must look like a wrong password.
pub fn is_login_route(path: &str) -> bool {
    path.starts_with("/api/v1/login") || path == "/api/v1/validate" || path.starts_with("/login")
}

/// The uniform refusal of a suspended address.
pub fn suspended_response(retry_after: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "suspended",
        "too many requests from your address; try again later",
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn rate_limited() -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; slow down",
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The middleware.
pub async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(peer) = req.extensions().get::<PeerAddr>().map(|p| p.0.ip()) else {
        return next.run(req).await;
    };
    let guard = &st.app.guard;
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = guard.client_ip(peer, xff);
    let now_ms = st.app.now_ms();
    match guard.gate(ip, now_ms) {
        Gate::Pass => {}
        Gate::RateLimited => return rate_limited(),
        Gate::Suspended { retry_after } => return suspended_response(retry_after),
        Gate::SuspendNow { count } => {
            let app = st.app.clone();
            let r = tokio::task::spawn_blocking(move || {
                app.guard.suspend(ip, Trigger::Flood, count, now_ms)
            })
            .await;
            if !matches!(r, Ok(Ok(()))) {
                tracing::error!(address = %ip, "could not record a flood suspension");
            }
            return rate_limited();
        }
    }
    let login = is_login_route(req.uri().path());
    let refused = !guard.allows(ip, None);
    if refused && !login {
        return ApiError::from(crate::Error::Forbidden).into_response();
    }
    req.extensions_mut().insert(GuardMark {
        ip,
        refused,
        known_good: guard.known_good(ip, now_ms),
    });
    let resp = next.run(req).await;
    let s = resp.status();
    if !login
        && (s == StatusCode::FORBIDDEN || s == StatusCode::UNAUTHORIZED)
        && let Some(count) = guard.forbidden(ip, now_ms)
    {
        let app = st.app.clone();
        let r = tokio::task::spawn_blocking(move || {
            app.guard.suspend(ip, Trigger::Forbidden, count, now_ms)
        })
        .await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::error!(address = %ip, "could not record a suspension");
        }
    }
    resp
}
