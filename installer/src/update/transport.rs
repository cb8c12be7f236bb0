//! tough's `Transport` for the update client: HTTPS (or HTTP to loopback) GET with
//! `Authorization: Bearer <token>`, bounded bodies, and statuses mapped to meanings tough and
//! [`super::UpdateError`] understand (404 → not found, 401/403 → token rejected).

use crate::properties::Token;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tough::{Bytes, Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

/// Largest body accepted for one request (packages included).
pub const MAX_BODY: usize = 256 << 20;
/// Time allowed for one request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The server answered 401 or 403: the token is unknown, revoked or expired.
#[derive(Debug, thiserror::Error)]
#[error("the server refused the update token (HTTP {0})")]
pub struct TokenRefused(pub u16);

/// The server or the network failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// Why a request could not be sent.
enum SendError {
    /// Neither https:// nor http:// to loopback.
    Scheme,
    /// Network, TLS or HTTP failure (a sentence).
    Failed(String),
}

/// A `Transport` presenting a bearer token.
#[derive(Clone)]
pub struct BearerTransport {
    token: Token,
    tls: Arc<rustls::ClientConfig>,
    console_version: Option<String>,
}

impl fmt::Debug for BearerTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTransport")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl BearerTransport {
    /// A transport trusting `extra_ca_pem` (the appliance's certificate, PEM) and the system's
    /// roots.
    pub fn new(token: Token, extra_ca_pem: Option<&[u8]>) -> Result<BearerTransport, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = extra_ca_pem {
            use rustls_pki_types::pem::PemObject;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| format!("the relay certificate is not valid PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the relay certificate is not usable: {e}"))?;
            }
        }
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(BearerTransport {
            token,
            tls: Arc::new(tls),
            console_version: None,
        })
    }

    /// Also sends `X-Sesame-Console-Version: <version>` (the appliance records it as the
    /// installation's version).
    pub fn with_console_version(mut self, version: String) -> BearerTransport {
        self.console_version = Some(version);
        self
    }

    /// Sends one request to `url` (HTTPS, or HTTP to loopback only) with the bearer token.
    async fn send_to(
        &self,
        url: &Url,
        method: hyper::Method,
        json_body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, SendError> {
        let host = url
            .host_str()
            .ok_or_else(|| SendError::Failed("the URL has no host".into()))?
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| SendError::Failed("the URL has no port".into()))?;
        let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
        let tcp_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            // A bearer token never travels in clear text except to this machine.
            return Err(SendError::Scheme);
        }
        let tcp = tokio::net::TcpStream::connect((tcp_host.as_str(), port))
            .await
            .map_err(|e| SendError::Failed(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, url.authority())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            )
            .header(
                hyper::header::USER_AGENT,
                concat!("sesame-installer/", env!("CARGO_PKG_VERSION")),
            );
        if json_body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(v) = &self.console_version {
            req = req.header("x-sesame-console-version", v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(json_body.unwrap_or_default())))
            .map_err(|e| SendError::Failed(e.to_string()))?;
        let resp = if url.scheme() == "https" {
            let name = rustls_pki_types::ServerName::try_from(tcp_host.clone())
                .map_err(|e| SendError::Failed(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| SendError::Failed(format!("TLS with {host} failed: {e}")))?;
            send(TokioIo::new(tls), req).await
        } else {
            send(TokioIo::new(tcp), req).await
        };
        resp.map_err(|e| SendError::Failed(format!("HTTP request to {host} failed: {e}")))
    }

    /// POSTs a JSON body with the bearer token; returns the status and the JSON answer
    /// (`null` when the answer is empty or not JSON). Errors are sentences.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), String> {
        let go = async {
            let resp = self
                .send_to(
                    url,
                    hyper::Method::POST,
                    Some(body.to_string().into_bytes()),
                )
                .await
                .map_err(|e| match e {
                    SendError::Scheme => format!("{url} is not https://"),
                    SendError::Failed(m) => m,
                })?;
            let status = resp.status().as_u16();
            let bytes = Limited::new(resp.into_body(), 1 << 20)
                .collect()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?
                .to_bytes();
            Ok::<_, String>((
                status,
                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            ))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, go).await {
            Ok(r) => r,
            Err(_) => Err("the server did not answer in time".into()),
        }
    }

    async fn get(&self, url: &Url) -> Result<Bytes, TransportError> {
        let fail = |kind, cause: Box<dyn std::error::Error + Send + Sync>| {
            TransportError::new_with_cause(kind, url.as_str(), cause)
        };
        let unreachable = |m: String| fail(TransportErrorKind::Other, Box::new(Unreachable(m)));
        let resp = match self.send_to(url, hyper::Method::GET, None).await {
            Ok(r) => r,
            Err(SendError::Scheme) => {
                return Err(TransportError::new(
                    TransportErrorKind::UnsupportedUrlScheme,
                    url.as_str(),
                ));
            }
            Err(SendError::Failed(m)) => return Err(unreachable(m)),
        };
        let status = resp.status().as_u16();
        match status {
            200 => {}
            404 => {
                return Err(TransportError::new(
                    TransportErrorKind::FileNotFound,
                    url.as_str(),
                ));
            }
            401 | 403 => {
                return Err(fail(
                    TransportErrorKind::Other,
                    Box::new(TokenRefused(status)),
                ));
            }
            s => return Err(unreachable(format!("the server answered HTTP {s}"))),
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading the answer failed: {e}")))?;
        Ok(body.to_bytes())
    }
}

async fn send<T>(
    io: TokioIo<T>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}

#[async_trait::async_trait]
impl Transport for BearerTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let bytes = match tokio::time::timeout(REQUEST_TIMEOUT, self.get(&url)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(TransportError::new_with_cause(
                    TransportErrorKind::Other,
                    url.as_str(),
                    Unreachable("the server did not answer in time".into()),
                ));
            }
        };
        Ok(Box::pin(Once(Some(bytes))))
    }
}

/// A stream of one chunk.
struct Once(Option<Bytes>);

impl futures_core::Stream for Once {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}
