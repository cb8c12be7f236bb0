//! TLS helpers: a client configuration trusting given PEM certificates, a server configuration
//! from PEM files, and a self-signed certificate for a standalone relay's first start.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting exactly the certificates in `pem` (a CA or a self-signed
/// server certificate).
pub fn client_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| TlsError::Config(format!("not a PEM certificate: {e}")))?;
        roots.add(c).map_err(|e| TlsError::Config(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Config("no certificate to trust".into()));
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// [`client_config_from_pem`] from a file.
pub fn client_config_from_file(path: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    client_config_from_pem(&pem)
}

/// A server configuration from PEM certificate chain and key.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Config(format!("not a PEM certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Config(format!("not a PEM private key: {e}")))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(cfg))
}

/// Load `dir/cert.pem` + `dir/key.pem`, generating a self-signed pair for localhost first if
/// they do not exist (key written 0600). Returns the config and the certificate PEM.
pub fn load_or_generate(dir: &Path) -> Result<(Arc<rustls::ServerConfig>, String), TlsError> {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ferr = |p: &Path, e: std::io::Error| TlsError::File {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    if !c.exists() {
        std::fs::create_dir_all(dir).map_err(|e| ferr(dir, e))?;
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .map_err(|e| TlsError::Config(e.to_string()))?;
        write_private(&k, ck.signing_key.serialize_pem().as_bytes()).map_err(|e| ferr(&k, e))?;
        std::fs::write(&c, ck.cert.pem()).map_err(|e| ferr(&c, e))?;
    }
    let cert = std::fs::read(&c).map_err(|e| ferr(&c, e))?;
    let key = std::fs::read(&k).map_err(|e| ferr(&k, e))?;
    Ok((
        server_config(&cert, &key)?,
        String::from_utf8_lossy(&cert).into_owned(),
    ))
}

/// Write a file readable only by its owner, fsynced.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
