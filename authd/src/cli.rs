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
