//! Server-rendered pages (placeholder until the page set lands).
use super::AppState;
use axum::Router;

/// Routes of the web pages.
pub fn routes() -> Router<AppState> {
    Router::new()
}
