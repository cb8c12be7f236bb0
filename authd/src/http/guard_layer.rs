//! The guard as middleware: the first thing every request meets.
//!
//! 1. The client address is resolved (socket peer; `X-Forwarded-For` only from trusted proxies).
//! 2. A suspended address gets the uniform 429 — the same body whatever it asked — and the
//!    request goes no further. Over the rate limit: 429 `rate_limited`; too long over it: the
//!    address is suspended (on disk first).
//! 3. Global IP rules: on login routes a refused address is only *marked*, so the flow answers
//!    exactly as for a wrong password without hashing; elsewhere it gets 403.
//! 4. After the handler: a `forbidden` or `unauthenticated` answer on a route other than a
//!    login counts toward a suspension for calls without the right (a wrong code does not); a login refused because the hashing pool is full (503)
//!    counts as a failed login of the address.

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{GuardMark, PeerAddr};
use super::metrics::GuardRefusal;
use crate::guard::{Gate, Trigger};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Routes where a refusal must look like a wrong password.
pub fn is_login_route(path: &str) -> bool {
    path.starts_with("/api/v1/login") || path == "/api/v1/validate" || path.starts_with("/login")
}

/// Body of the uniform refusal of a suspended address: rendered once, the same for everyone.
const SUSPENDED_BODY: &[u8] = br#"{"error":{"code":"suspended","message":"too many requests from your address; try again later"}}"#;
/// Body of a rate-limit refusal.
const RATE_LIMITED_BODY: &[u8] =
    br#"{"error":{"code":"rate_limited","message":"too many requests; slow down"}}"#;

fn refusal(body: &'static [u8], retry_after: u64) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        h.insert(header::RETRY_AFTER, v);
    }
    r
}

/// The uniform refusal of a suspended address.
pub fn suspended_response(retry_after: u64) -> Response {
    refusal(SUSPENDED_BODY, retry_after)
}

fn rate_limited() -> Response {
    refusal(RATE_LIMITED_BODY, 1)
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
        Gate::RateLimited => {
            st.metrics.guard_refused(GuardRefusal::RateLimited);
            return rate_limited();
        }
        Gate::Suspended { retry_after } => {
            st.metrics.guard_refused(GuardRefusal::Suspended);
            return suspended_response(retry_after);
        }
        Gate::SuspendNow { count } => {
            let app = st.app.clone();
            let r = tokio::task::spawn_blocking(move || {
                app.guard.suspend(ip, Trigger::Flood, count, now_ms)
            })
            .await;
            if matches!(r, Ok(Ok(()))) {
                st.metrics.suspended();
            } else {
                tracing::error!(address = %ip, "could not record a flood suspension");
            }
            st.metrics.guard_refused(GuardRefusal::RateLimited);
            return rate_limited();
        }
    }
    let login = is_login_route(req.uri().path());
    let refused = !guard.allows(ip, None);
    if refused && !login {
        st.metrics.guard_refused(GuardRefusal::AddressRefused);
        return ApiError::from(crate::Error::Forbidden).into_response();
    }
    req.extensions_mut().insert(GuardMark { ip, refused });
    let resp = next.run(req).await;
    let s = resp.status();
    // A login refused because the hashing pool is full still counts as an attempt against the
    // address: a flood of logins cannot hide behind the overload it causes.
    if login && s == StatusCode::SERVICE_UNAVAILABLE {
        let client = crate::model::ClientInfo {
            ip: Some(ip),
            ..Default::default()
        };
        let app = st.app.clone();
        let r = tokio::task::spawn_blocking(move || app.guard.login_failed(&client, now_ms)).await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::error!(address = %ip, "could not record a suspension");
        }
    }
    let no_right = matches!(
        resp.extensions().get::<ErrorCode>(),
        Some(ErrorCode("forbidden" | "unauthenticated"))
    );
    if !login
        && no_right
        && let Some(count) = guard.forbidden(ip, now_ms)
    {
        let app = st.app.clone();
        let r = tokio::task::spawn_blocking(move || {
            app.guard.suspend(ip, Trigger::Forbidden, count, now_ms)
        })
        .await;
        if matches!(r, Ok(Ok(()))) {
            st.metrics.suspended();
        } else {
            tracing::error!(address = %ip, "could not record a suspension");
        }
    }
    resp
}
