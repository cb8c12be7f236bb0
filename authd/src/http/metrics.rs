//! `/metrics` in Prometheus text format: request counts by status class. Counters only, no
//! labels from user input (a username or a path never becomes a label).

use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
}

impl Metrics {
    /// Render in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "# HELP sesame_http_responses_total HTTP responses by status class.\n# TYPE sesame_http_responses_total counter\n",
        );
        for (i, c) in self.by_class.iter().enumerate() {
            s.push_str(&format!(
                "sesame_http_responses_total{{class=\"{}xx\"}} {}\n",
                i + 1,
                c.load(Ordering::Relaxed)
            ));
        }
        s
    }
}

/// Middleware counting responses.
pub async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    let class = (r.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    st.metrics.by_class[class].fetch_add(1, Ordering::Relaxed);
    r
}
