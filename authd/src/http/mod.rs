//! The HTTP layer: routes, extractors, the one error mapping, security headers. It parses,
//! authenticates, calls a flow and renders the answer — no business rule lives here.
//!
//! - `api`: the JSON API under `/api/v1` (bearer sessions).
//! - `web`: server-rendered pages (cookie sessions + CSRF).
//! - `error`: domain and request errors → `{"error": {"code", "message"}}`.
//! - `extract`: `ApiJson`, `Caller`, `Admin` (role guard), `Client`.

pub mod api;
pub mod api_account;
pub mod api_console;
pub mod api_guard;
pub mod api_keys;
pub mod api_webauthn;
pub mod error;
pub mod extract;
pub mod guard_layer;
pub mod metrics;
pub mod web;

use crate::app::Authd;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The domain.
    pub app: Authd,
    /// Request counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Key for CSRF tokens of the web pages (derived from the master key).
    pub csrf_key: Arc<[u8; 32]>,
}

/// The complete router.
pub fn router(app: Authd) -> Result<Router, crate::Error> {
    // Derived from the master key: forms stay valid across a restart and across nodes.
    let key = app.key.derive_key("csrf");
    let state = AppState {
        app,
        metrics: Arc::new(metrics::Metrics::default()),
        csrf_key: Arc::new(key),
    };
    let timeout = state.app.config.server.request_timeout;
    Ok(Router::new()
        .merge(api::routes())
        .merge(api_account::routes())
        .merge(api_console::routes())
        .merge(api_keys::routes())
        .merge(api_guard::routes())
        .merge(api_webauthn::routes())
        .merge(web::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            guard_time_and_headers(timeout, req, next)
        }))
        // Outermost: a suspended or flooding address is answered before anything else runs.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard_layer::guard,
        ))
        .with_state(state))
}

/// Content-Security-Policy for every response: no script but our own files, no inline style,
/// no framing, forms only to ourselves; `webauthn.js` may call our own endpoints.
pub const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn guard_time_and_headers(
    timeout: std::time::Duration,
    req: Request,
    next: Next,
) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error::ApiError::timeout().into_response(),
    };
    let h = resp.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if is_api || !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
