//! Prometheus text metrics: sessions, connections, bytes forwarded, pairing latency, refusals.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pairing-latency histogram bucket bounds (seconds).
const BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) connections: AtomicU64,
    pub(crate) sessions_created: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pairing: Mutex<(Vec<u64>, f64, u64)>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub(crate) fn refused(&self, why: &'static str) {
        *super::lock(&self.refusals).entry(why).or_default() += 1;
    }

    pub(crate) fn pairing(&self, ms: i64) {
        let s = ms.max(0) as f64 / 1000.0;
        let mut p = super::lock(&self.pairing);
        if p.0.is_empty() {
            p.0 = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                p.0[i] += 1;
            }
        }
        p.1 += s;
        p.2 += 1;
    }

    /// The text exposition.
    pub(crate) fn render(&self, sessions: usize, queued: usize) -> String {
        let mut o = String::new();
        let mut g = |name: &str, kind: &str, help: &str, v: String| {
            o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{v}"));
        };
        g(
            "relay_sessions",
            "gauge",
            "Live support sessions.",
            format!("relay_sessions {sessions}\n"),
        );
        g(
            "relay_queue_customers",
            "gauge",
            "Customers waiting in the general queue.",
            format!("relay_queue_customers {queued}\n"),
        );
        g(
            "relay_connections",
            "gauge",
            "Open relay connections.",
            format!(
                "relay_connections {}\n",
                self.connections.load(Ordering::Relaxed)
            ),
        );
        g(
            "relay_sessions_created_total",
            "counter",
            "Sessions created.",
            format!(
                "relay_sessions_created_total {}\n",
                self.sessions_created.load(Ordering::Relaxed)
            ),
        );
        g(
            "relay_forwarded_bytes_total",
            "counter",
            "Channel data bytes forwarded.",
            format!(
                "relay_forwarded_bytes_total {}\n",
                self.bytes.load(Ordering::Relaxed)
            ),
        );
        let p = super::lock(&self.pairing).clone();
        let mut h = String::new();
        for (i, b) in BUCKETS.iter().enumerate() {
            h.push_str(&format!(
                "relay_pairing_latency_seconds_bucket{{le=\"{b}\"}} {}\n",
                p.0.get(i).copied().unwrap_or(0)
            ));
        }
        h.push_str(&format!(
            "relay_pairing_latency_seconds_bucket{{le=\"+Inf\"}} {}\nrelay_pairing_latency_seconds_sum {}\nrelay_pairing_latency_seconds_count {}\n",
            p.2, p.1, p.2
        ));
        g(
            "relay_pairing_latency_seconds",
            "histogram",
            "From key creation to the customer joining.",
            h,
        );
        let r = super::lock(&self.refusals).clone();
        let mut t = String::new();
        for (k, v) in r {
            t.push_str(&format!("relay_refusals_total{{reason=\"{k}\"}} {v}\n"));
        }
        g(
            "relay_refusals_total",
            "counter",
            "Connections or messages refused, by reason.",
            t,
        );
        o
    }
}

/// A minimal plain-HTTP responder for Prometheus scrapes: any request gets the metrics.
pub(crate) async fn serve_http(l: tokio::net::TcpListener, relay: super::Handle) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            continue;
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await;
            let body = relay.metrics_text();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}
