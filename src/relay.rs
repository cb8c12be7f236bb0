//! The support relay inside the appliance: an in-process transport for the relay's
//! `AuthdClient` that calls authd's router directly (no network hop, the technician's address
//! passed as the peer so authd's guard sees it), authd's clock shared with the relay, and the
//! wiring that serves both.

use authd::http::extract::PeerAddr;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use support_relay::auth::{AuthError, AuthdClient, BoxFut, Transport, authd_answer, authd_request};
use tower::ServiceExt;

/// The transport to authd's axum router in process ([`AuthdClient`] holds the logic).
#[derive(Clone)]
pub(crate) struct InProcess {
    router: axum::Router,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl InProcess {
    /// Over authd's router.
    pub(crate) fn new(app: authd::app::Authd) -> Result<InProcess, authd::Error> {
        Ok(InProcess {
            router: authd::http::router(app)?,
        })
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        client: IpAddr,
    ) -> Result<(u16, Value), AuthError> {
        let un = |e: &dyn std::fmt::Display| AuthError::Unavailable(e.to_string());
        let (req, payload) = authd_request(method, path, bearer, body.as_ref());
        let mut req = req
            .header("host", "localhost")
            .body(axum::body::Body::from(payload))
            .map_err(|e| un(&e))?;
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(client, 0)));
        let resp = self.router.clone().oneshot(req).await.map_err(|e| un(&e))?;
        authd_answer(resp).await
    }
}

impl Transport for InProcess {
    fn call<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        bearer: Option<&'a str>,
        body: Option<Value>,
        client: IpAddr,
    ) -> BoxFut<'a, Result<(u16, Value), AuthError>> {
        Box::pin(self.request(method, path, bearer, body, client))
    }
}

/// authd's clock, seen by the relay (tests move one `ManualClock` for both).
#[derive(Debug, Clone)]
pub(crate) struct AppClock(pub(crate) Arc<dyn authd::clock::Clock>);

impl support_relay::clock::Clock for AppClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// The relay's dependencies inside the appliance: in-process authd, authd's clock and TLS.
pub(crate) fn deps(
    app: &authd::app::Authd,
    tls: Arc<rustls::ServerConfig>,
) -> Result<support_relay::server::Deps, authd::Error> {
    Ok(support_relay::server::Deps {
        config: support_relay::server::Config::from_sesame(&app.config),
        auth: Arc::new(AuthdClient::new(InProcess::new(app.clone())?)),
        clock: Arc::new(AppClock(app.clock.clone())),
        tls,
        mailer: support_relay::server::mailer_from_sesame(&app.config),
    })
}
