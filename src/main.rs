//! `sesame`: the appliance binary. `sesame` (or `sesame run`) starts authd on embedded
//! defaults; the support relay joins it in the same process when it lands. `sesame admin …`
//! administers a running appliance over its API or a stopped one through its data directory.
//! Argument parsing and wiring only: the domain lives in the crates.

mod admin;
mod admin_backup;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    /// Administer the appliance.
    Admin {
        #[command(subcommand)]
        what: AdminCmd,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Suspended addresses: list, lift, add.
    Suspensions {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin::SuspensionCmd,
    },
    /// Reset an account's second factors (online: files the request; offline on a stopped
    /// appliance's --data-dir: applies at once, loudly audited).
    MfaReset {
        /// The account.
        user: String,
        #[command(flatten)]
        target: admin::Target,
    },
    /// Backups of the store: list, create, verify FILE, restore FILE.
    Backup {
        #[command(subcommand)]
        cmd: admin_backup::BackupCmd,
        /// Data directory of the appliance.
        #[arg(
            long,
            value_name = "DIR",
            global = true,
            default_value = "./sesame-data"
        )]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Run(a)) => a,
        Some(Command::Admin {
            what: AdminCmd::Suspensions { target, cmd },
        }) => {
            return admin::suspensions(target, cmd).await;
        }
        Some(Command::Admin {
            what: AdminCmd::MfaReset { user, target },
        }) => {
            return admin::mfa_reset(target, user).await;
        }
        Some(Command::Admin {
            what: AdminCmd::Backup { cmd, data_dir },
        }) => {
            admin_backup::run(&data_dir, cmd);
            return Ok(());
        }
        None => cli.run,
    };
    let cfg = args.load_config()?;
    authd::cli::init_logging(&cfg.log);
    authd::server::run(cfg).await?;
    Ok(())
}
