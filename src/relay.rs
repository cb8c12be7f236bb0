//! The support relay inside the appliance: an in-process [`Authenticator`] that calls authd's
//! router directly (no network hop, the technician's address passed as the peer so authd's guard
//! sees it), authd's clock shared with the relay, and the wiring that serves both.

use authd::http::extract::PeerAddr;
use http_body_util::BodyExt;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use support_relay::auth::{AuthError, Authenticator, BoxFut, Identity, LOGIN_STEPS};
use tower::ServiceExt;

/// Calls authd's axum router in process.
#[derive(Clone)]
pub(crate) struct InProcessAuth {
    router: axum::Router,
}

impl std::fmt::Debug for InProcessAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessAuth")
    }
}

impl InProcessAuth {
    /// Over authd's router.
    pub(crate) fn new(app: authd::app::Authd) -> Result<InProcessAuth, authd::Error> {
        Ok(InProcessAuth {
            router: authd::http::router(app)?,
        })
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        client: IpAddr,
    ) -> Result<(u16, Value), AuthError> {
        let un = |e: &dyn std::fmt::Display| AuthError::Unavailable(e.to_string());
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("user-agent", "sesame-support-relay");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        let payload = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                axum::body::Body::from(v.to_string())
            }
            None => axum::body::Body::empty(),
        };
        let mut req = req.body(payload).map_err(|e| un(&e))?;
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(client, 0)));
        let resp = self.router.clone().oneshot(req).await.map_err(|e| un(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| un(&e))?
            .to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| un(&e))?
        };
        Ok((status, v))
    }
}

impl Authenticator for InProcessAuth {
    fn login_step<'a>(
        &'a self,
        step: &'a str,
        body: Value,
        client: IpAddr,
    ) -> BoxFut<'a, Result<(u16, Value), AuthError>> {
        Box::pin(async move {
            if !LOGIN_STEPS.contains(&step) {
                return Err(AuthError::UnknownStep);
            }
            self.call("POST", &format!("/api/v1/{step}"), None, Some(body), client)
                .await
        })
    }

    fn identity<'a>(
        &'a self,
        session: &'a str,
        client: IpAddr,
    ) -> BoxFut<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async move {
            let (s, v) = self
                .call("GET", "/api/v1/me", Some(session), None, client)
                .await?;
            support_relay::auth::identity_from(s, &v)
        })
    }

    fn logout<'a>(&'a self, session: &'a str, client: IpAddr) -> BoxFut<'a, Result<(), AuthError>> {
        Box::pin(async move {
            self.call(
                "POST",
                "/api/v1/logout",
                Some(session),
                Some(Value::Object(Default::default())),
                client,
            )
            .await
            .map(|_| ())
        })
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
        auth: Arc::new(InProcessAuth::new(app.clone())?),
        clock: Arc::new(AppClock(app.clock.clone())),
        tls,
        mailer: support_relay::server::mailer_from_sesame(&app.config),
    })
}
