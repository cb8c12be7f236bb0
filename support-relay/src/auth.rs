//! Technician authentication through authd, behind the [`Authenticator`] trait.
//!
//! The relay never sees a password it keeps: login steps are forwarded to authd generically
//! (path from an allow-list + JSON body → status + JSON answer, authd's errors relayed as is),
//! and a connection is then authenticated by the authd session token, re-checked periodically.
//! The logic (which paths, which methods, how answers are read) is written once, in
//! [`AuthdClient`], over a [`Transport`] that only moves one request and its JSON answer:
//! [`HttpsTransport`] (HTTPS client to a remote authd, [`HttpsAuthenticator`]) here, and an
//! in-process transport over authd's router in the `sesame` binary.

use serde_json::Value;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// Login steps a console may forward (paths below `/api/v1/`).
pub const LOGIN_STEPS: &[&str] = &[
    "login",
    "login/mfa",
    "login/password",
    "login/pin",
    "login/enrol",
    "login/enrol/confirm",
];

/// Role a technician must hold.
pub const TECHNICIAN_ROLE: &str = "technician";
/// Role for the admin commands.
pub const ADMIN_ROLE: &str = "admin";

/// A boxed future (object-safe async trait methods).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who a session token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Username.
    pub username: String,
    /// Roles.
    pub roles: Vec<String>,
}

impl Identity {
    /// Whether the identity holds `role`.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why authd could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The step is not one of [`LOGIN_STEPS`].
    #[error("unknown login step")]
    UnknownStep,
    /// authd is unreachable or answered something unusable.
    #[error("authd unavailable: {0}")]
    Unavailable(String),
}

/// What the relay needs from authd.
pub trait Authenticator: Send + Sync + std::fmt::Debug + 'static {
    /// Forward one login step (`step` is in [`LOGIN_STEPS`]) for a client at `client`.
    fn login_step<'a>(
        &'a self,
        step: &'a str,
        body: Value,
        client: IpAddr,
    ) -> BoxFut<'a, Result<(u16, Value), AuthError>>;

    /// The identity behind a session token; `None` once it is revoked, expired or disabled.
    fn identity<'a>(
        &'a self,
        session: &'a str,
        client: IpAddr,
    ) -> BoxFut<'a, Result<Option<Identity>, AuthError>>;

    /// End the session at authd.
    fn logout<'a>(&'a self, session: &'a str, client: IpAddr) -> BoxFut<'a, Result<(), AuthError>>;
}

/// Parse `/api/v1/me`'s answer.
pub fn identity_from(status: u16, body: &Value) -> Result<Option<Identity>, AuthError> {
    match status {
        200 => {
            let username = body["username"]
                .as_str()
                .ok_or_else(|| AuthError::Unavailable("no username in /me".into()))?
                .to_owned();
            let roles = body["roles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(Identity { username, roles }))
        }
        401 | 403 => Ok(None),
        s => Err(AuthError::Unavailable(format!("/me answered {s}"))),
    }
}

/// How one request reaches authd: `method path` with an optional bearer token and JSON body,
/// on behalf of the client at `client`; the answer's status and JSON body (`null` when empty).
/// Implementations only move bytes; [`AuthdClient`] holds the logic.
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// One request to authd.
    fn call<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        bearer: Option<&'a str>,
        body: Option<Value>,
        client: IpAddr,
    ) -> BoxFut<'a, Result<(u16, Value), AuthError>>;
}

/// An answer body as JSON (`null` when empty).
pub fn json_body(bytes: &[u8]) -> Result<Value, AuthError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| AuthError::Unavailable(e.to_string()))
}

/// The request a transport sends authd: method, path, user agent, the bearer and the JSON body
/// (its bytes returned apart, for the transport's body type). The transport adds where it goes
/// (`host`) and who asks (`x-forwarded-for` or a peer-address extension).
pub fn authd_request(
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (hyper::http::request::Builder, bytes::Bytes) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "sesame-support-relay");
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let payload = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            bytes::Bytes::from(v.to_string())
        }
        None => bytes::Bytes::new(),
    };
    (req, payload)
}

/// authd's answer: its status and JSON body (empty: `null`).
pub async fn authd_answer<B>(resp: hyper::Response<B>) -> Result<(u16, Value), AuthError>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| AuthError::Unavailable(e.to_string()))?
        .to_bytes();
    Ok((status, json_body(&bytes)?))
}

/// The [`Authenticator`] over any [`Transport`]: login steps from the allow-list forwarded as
/// is, identity from `GET /api/v1/me`, logout with `POST /api/v1/logout`.
#[derive(Debug, Clone)]
pub struct AuthdClient<T>(pub T);

impl<T: Transport> AuthdClient<T> {
    /// Over `transport`.
    pub fn new(transport: T) -> AuthdClient<T> {
        AuthdClient(transport)
    }
}

impl<T: Transport> Authenticator for AuthdClient<T> {
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
            let path = format!("/api/v1/{step}");
            self.0.call("POST", &path, None, Some(body), client).await
        })
    }

    fn identity<'a>(
        &'a self,
        session: &'a str,
        client: IpAddr,
    ) -> BoxFut<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async move {
            let (s, v) = self
                .0
                .call("GET", "/api/v1/me", Some(session), None, client)
                .await?;
            identity_from(s, &v)
        })
    }

    fn logout<'a>(&'a self, session: &'a str, client: IpAddr) -> BoxFut<'a, Result<(), AuthError>> {
        Box::pin(async move {
            let empty = Value::Object(Default::default());
            self.0
                .call("POST", "/api/v1/logout", Some(session), Some(empty), client)
                .await
                .map(|_| ())
        })
    }
}

/// The HTTPS authenticator of a standalone relay.
pub type HttpsAuthenticator = AuthdClient<HttpsTransport>;

impl AuthdClient<HttpsTransport> {
    /// `addr` is `host:port` of authd, `server_name` the name in its certificate.
    pub fn https(
        addr: impl Into<String>,
        server_name: &str,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<HttpsAuthenticator, AuthError> {
        let server_name = rustls_pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| AuthError::Unavailable(format!("bad server name: {e}")))?;
        Ok(AuthdClient(HttpsTransport {
            addr: addr.into(),
            server_name,
            tls,
        }))
    }
}

/// An HTTPS client to a remote authd (hyper over tokio-rustls), trusting a given CA/cert.
#[derive(Debug, Clone)]
pub struct HttpsTransport {
    addr: String,
    server_name: rustls_pki_types::ServerName<'static>,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl HttpsTransport {
    async fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        client: IpAddr,
    ) -> Result<(u16, Value), AuthError> {
        use http_body_util::Full;
        let un = |e: &dyn std::fmt::Display| AuthError::Unavailable(e.to_string());
        let tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| un(&e))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| un(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| un(&e))?;
        tokio::spawn(conn);
        let (req, payload) = authd_request(method, path, bearer, body.as_ref());
        let req = req
            .header("host", &*self.server_name.to_str())
            .header("x-forwarded-for", client.to_string())
            .body(Full::new(payload))
            .map_err(|e| un(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| un(&e))?;
        authd_answer(resp).await
    }
}

impl Transport for HttpsTransport {
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
