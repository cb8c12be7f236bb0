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
    /// Refusals by the guard: suspended, rate limited, refused by an IP rule.
    guard: [AtomicU64; 3],
    /// Suspensions decided by the guard.
    suspensions: AtomicU64,
}

/// What the guard refused a request for.
#[derive(Debug, Clone, Copy)]
pub enum GuardRefusal {
    /// The address is suspended.
    Suspended = 0,
    /// Over the rate limit.
    RateLimited = 1,
    /// Refused by an IP rule (outside sign-in routes).
    AddressRefused = 2,
}

impl Metrics {
    /// Count a refusal by the guard (these never reach the response counters).
    pub fn guard_refused(&self, why: GuardRefusal) {
        self.guard[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a suspension decided by the guard.
    pub fn suspended(&self) {
        self.suspensions.fetch_add(1, Ordering::Relaxed);
    }

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
        s.push_str("# HELP sesame_guard_refusals_total Requests refused by the guard before any handler.\n# TYPE sesame_guard_refusals_total counter\n");
        for (i, why) in ["suspended", "rate_limited", "address_refused"]
            .iter()
            .enumerate()
        {
            s.push_str(&format!(
                "sesame_guard_refusals_total{{reason=\"{why}\"}} {}\n",
                self.guard[i].load(Ordering::Relaxed)
            ));
        }
        s.push_str(&format!(
            "# HELP sesame_guard_suspensions_total Addresses suspended by the guard.\n# TYPE sesame_guard_suspensions_total counter\nsesame_guard_suspensions_total {}\n",
            self.suspensions.load(Ordering::Relaxed)
        ));
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
