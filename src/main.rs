//! `sesame`: the appliance binary. `sesame` (or `sesame run`) starts authd on embedded
//! defaults; the support relay joins it in the same process when it lands. `sesame admin …`
//! administers a running appliance over its API or a stopped one through its data directory.
//! Argument parsing and wiring only: the domain lives in the crates.

mod admin;
mod admin_api;
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
    /// Accounts: list, show, create, set (roles, groups, enable/disable), password, delete.
    Users {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin_api::UsersCmd,
    },
    /// Groups: list, create, delete.
    Groups {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin_api::GroupsCmd,
    },
    /// The MFA policy per role and group: show, set.
    Policy {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin_api::PolicyCmd,
    },
    /// Live sessions: list, end one, end every session of an account.
    Sessions {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin_api::SessionsCmd,
    },
    /// Second-factor resets: list, approve.
    Resets {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        cmd: admin_api::ResetsCmd,
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
            what: AdminCmd::Users { target, cmd },
        }) => return admin_api::users(target, cmd).await,
        Some(Command::Admin {
            what: AdminCmd::Groups { target, cmd },
        }) => return admin_api::groups(target, cmd).await,
        Some(Command::Admin {
            what: AdminCmd::Policy { target, cmd },
        }) => return admin_api::policy(target, cmd).await,
        Some(Command::Admin {
            what: AdminCmd::Sessions { target, cmd },
        }) => return admin_api::sessions(target, cmd).await,
        Some(Command::Admin {
            what: AdminCmd::Resets { target, cmd },
        }) => return admin_api::resets(target, cmd).await,
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
