//! `authd`: the authentication daemon alone. `sesame` runs the whole appliance.

use clap::Parser;

/// Sesame's authentication daemon.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
struct Cli {
    #[command(flatten)]
    run: authd::cli::RunArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = cli.run.load_config()?;
    authd::cli::init_logging(&cfg.log);
    authd::server::run(cfg).await?;
    Ok(())
}
