//! `sesame`: the appliance binary. `sesame` (or `sesame run`) starts authd on embedded
//! defaults; the support relay joins it in the same process when it lands. Argument parsing and
//! wiring only: the domain lives in the crates.

use clap::{Parser, Subcommand};

/// Sesame: authentication appliance and remote-support server.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: authd::cli::RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance (the default).
    Run(authd::cli::RunArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Run(a)) => a,
        None => cli.run,
    };
    let cfg = args.load_config()?;
    authd::cli::init_logging(&cfg.log);
    authd::server::run(cfg).await?;
    Ok(())
}
