//! Command-line options shared by the `authd` and `sesame` binaries, and logging set-up.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of the run command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML). Without it, embedded defaults and SESAME_* variables apply.
    #[arg(long, value_name = "FILE", env = "SESAME_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides server.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

impl RunArgs {
    /// Load the configuration: file, then environment, then these flags; validated.
    pub fn load_config(&self) -> Result<sesame_config::Config, sesame_config::ConfigError> {
        let mut cfg = sesame_config::load(self.config.as_deref(), std::env::vars())?;
        if let Some(d) = &self.data_dir {
            cfg.server.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            cfg.server.listen = l;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Install the tracing subscriber described by `[log]`.
pub fn init_logging(cfg: &sesame_config::Log) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        sesame_config::LogFormat::Json => builder.json().try_init(),
        sesame_config::LogFormat::Text => builder.try_init(),
    };
}

/// Why the admin client could not talk to the appliance.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `https://host[:port]`.
    #[error("the URL must look like https://127.0.0.1:8443, got {0}")]
    BadUrl(String),
    /// The certificate to trust is unusable.
    #[error("the certificate to trust is unusable: {0}")]
    BadCertificate(String),
    /// Network or TLS failure.
    #[error("cannot reach the appliance: {0}")]
    Connect(String),
    /// The answer is not JSON.
    #[error("the appliance answered something that is not JSON")]
    BadAnswer,
}

/// A small HTTPS client for the admin CLI: trusts exactly the given certificate, sends the
/// admin session as a bearer token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    host: String,
    port: u16,
    token: String,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl ApiClient {
    /// A client for `url` (`https://host[:port]`) trusting the PEM certificate `ca_pem`.
    pub fn new(url: &str, token: &str, ca_pem: &str) -> Result<ApiClient, ClientError> {
        use rustls_pki_types::pem::PemObject;
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| ClientError::BadUrl(url.into()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') => (
                h.to_owned(),
                p.parse().map_err(|_| ClientError::BadUrl(url.into()))?,
            ),
            _ => (rest.to_owned(), 443),
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let c = c.map_err(|e| ClientError::BadCertificate(e.to_string()))?;
            roots
                .add(c)
                .map_err(|e| ClientError::BadCertificate(e.to_string()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::BadCertificate(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(ApiClient {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            token: token.to_owned(),
            tls: std::sync::Arc::new(tls),
        })
    }

    /// One request; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        use http_body_util::{BodyExt, Full};
        let err = |e: &dyn std::fmt::Display| ClientError::Connect(e.to_string());
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| err(&e))?;
        let name =
            rustls_pki_types::ServerName::try_from(self.host.clone()).map_err(|e| err(&e))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| err(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| err(&e))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {}", self.token))
            .header("user-agent", "sesame admin");
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let req = req
            .body(Full::new(bytes::Bytes::from(bytes)))
            .map_err(|e| err(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| err(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| err(&e))?
            .to_bytes();
        let v = serde_json::from_slice(&body).map_err(|_| ClientError::BadAnswer)?;
        Ok((status, v))
    }
}
