//! The three command-line programs (the `src/bin/` files only call these): `support-relay`
//! ([`relay`]), `support-console` ([`console`]), `support-customer` ([`customer`]).

pub mod console;
pub mod customer;
pub mod relay;
pub mod smartcard;
pub mod update;

use std::sync::Arc;

/// Where the relay is and whom to trust (shared by the console and the customer).
#[derive(Debug, Clone, clap::Args)]
pub struct RelayTarget {
    /// Relay address, host:port.
    #[arg(
        long,
        env = "SUPPORT_RELAY",
        default_value = "127.0.0.1:8444",
        global = true
    )]
    pub relay: String,
    /// PEM file with the certificate (or CA) to trust for the relay.
    #[arg(long, env = "SUPPORT_RELAY_CA", value_name = "FILE", global = true)]
    pub ca: Option<std::path::PathBuf>,
    /// Name expected in the relay's certificate (default: the host of --relay, or localhost
    /// for an IP address).
    #[arg(long, env = "SUPPORT_RELAY_NAME", global = true)]
    pub server_name: Option<String>,
}

impl RelayTarget {
    /// Connect to the relay.
    pub async fn connect(&self) -> anyhow::Result<crate::client::Mux> {
        let tls: Arc<rustls::ClientConfig> = match &self.ca {
            Some(p) => crate::tls::client_config_from_file(p)?,
            None => anyhow::bail!(
                "no certificate to trust for the relay: pass --ca FILE (or SUPPORT_RELAY_CA)"
            ),
        };
        let name = self.server_name.clone().unwrap_or_else(|| {
            let host = self
                .relay
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']))
                .unwrap_or(&self.relay);
            if host.parse::<std::net::IpAddr>().is_ok() {
                "localhost".to_owned()
            } else {
                host.to_owned()
            }
        });
        Ok(crate::client::connect(&self.relay, &name, tls).await?)
    }
}

/// Logging to stderr (`RUST_LOG` filters; default warnings only for the clients).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Print an error as one sentence on stderr and return exit code 1.
pub fn fail(e: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {e:#}");
    std::process::ExitCode::from(1)
}
