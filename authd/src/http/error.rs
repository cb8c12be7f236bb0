//! The one place where errors become HTTP answers: `{"error": {"code", "message"}}` with a
//! fitting status. Domain errors come from [`crate::Error`]; request-shape errors (bad JSON,
//! wrong content type, body too large, unknown route) are built here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The stable code of an error response, attached to it for the middlewares (the guard counts
/// `forbidden` and `unauthenticated` answers toward a suspension, not wrong codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// An API error ready to be rendered.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Extra member of the `error` object (e.g. `faults` of a refused seed file).
    details: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    /// Build from parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// The body is not valid JSON for this endpoint.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON for this endpoint: {detail}"),
        )
    }
    /// The request did not declare `Content-Type: application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON (Content-Type: application/json)",
        )
    }
    /// The body is larger than `server.body_limit_bytes`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }
    /// The request took longer than `server.request_timeout`.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; retry in a moment",
        )
    }
    /// A path parameter or query is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        if let crate::Error::Internal(detail) = &e {
            tracing::error!(%detail, "internal error");
        }
        let details = match &e {
            crate::Error::ImportRejected(faults) => Some(("faults", json!(faults))),
            _ => None,
        };
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code(),
            message: e.to_string(),
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some((k, v)) = self.details {
            body["error"][k] = v;
        }
        let mut r = (self.status, Json(body)).into_response();
        r.extensions_mut().insert(ErrorCode(self.code));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthenticated" {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Fallback for unknown routes.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API route").into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::response::Html(
                "<!doctype html><title>404</title><p>Not found / Page introuvable</p>",
            ),
        )
            .into_response()
    }
}

/// Fallback for a known route with the wrong method.
pub async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that HTTP method",
        )
        .into_response()
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::response::Html(
                "<!doctype html><title>405</title><p>Method not allowed / Méthode non autorisée</p>",
            ),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_error_codes_are_stable() {
        assert_eq!(ApiError::invalid_json("x").code(), "invalid_json");
        assert_eq!(
            ApiError::unsupported_media_type().code(),
            "unsupported_media_type"
        );
        assert_eq!(ApiError::payload_too_large(1).code(), "payload_too_large");
        assert_eq!(ApiError::timeout().code(), "timeout");
        assert_eq!(
            ApiError::from(crate::Error::Overloaded).code(),
            "overloaded"
        );
    }
}
