//! `support-relay`: the relay on its own, talking to a remote authd over HTTPS. Inside the
//! appliance, `sesame` runs the same relay in process instead.

use crate::auth::HttpsAuthenticator;
use crate::server::{self, Deps};
use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Sesame support relay: brokers technician sessions over TLS.
#[derive(Debug, Parser)]
#[command(name = "support-relay", version, about)]
pub struct Cli {
    /// Configuration file (sesame.toml; the `[relay]`, `[server]`, `[tls]` and `[log]`
    /// sections are used). SESAME_* variables override it.
    #[arg(long, env = "SESAME_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address (overrides relay.listen).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
}

/// Entry point of the binary.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = sesame_config::load(cli.config.as_deref(), std::env::vars())?;
    super::init_logging(&cfg.log.level);
    let relay_dir = server::relay_data_dir(&cfg);
    let tls = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(c), Some(k)) => {
            let cert = std::fs::read(c).with_context(|| c.display().to_string())?;
            let key = std::fs::read(k).with_context(|| k.display().to_string())?;
            crate::tls::server_config(&cert, &key)?
        }
        _ => crate::tls::load_or_generate(&relay_dir.join("tls"))?.0,
    };
    let ca = cfg
        .relay
        .authd_ca_file
        .clone()
        .unwrap_or_else(|| cfg.server.data_dir.join("tls/cert.pem"));
    let auth = HttpsAuthenticator::https(
        cfg.relay.authd_address.clone(),
        &cfg.relay.authd_server_name,
        crate::tls::client_config_from_file(&ca)?,
    )?;
    let deps = Deps {
        config: server::Config::from_sesame(&cfg),
        auth: Arc::new(auth),
        clock: Arc::new(crate::clock::SystemClock),
        tls,
        mailer: server::mailer_from_sesame(&cfg),
    };
    let listen = cli.listen.unwrap_or(cfg.relay.listen);
    let handle = server::build(deps)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "Sesame support relay listening on {}",
        listener.local_addr()?
    );
    server::spawn_metrics(&cfg, handle.clone()).await?;
    server::serve(listener, handle, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("Sesame support relay stopped");
    Ok(())
}
