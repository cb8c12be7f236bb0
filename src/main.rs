//! `sesame`: the appliance binary. `sesame` (or `sesame run`) starts authd on embedded
//! defaults and the support relay next to it in the same process (`relay.rs`). `sesame admin …`
//! administers a running appliance over its API or a stopped one through its data directory.
//! Argument parsing and wiring only: the domain lives in the crates.

mod admin;
mod admin_api;
mod admin_backup;
mod admin_console;
mod console_updates;
mod relay;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Sesame: authentication appliance and remote-support server.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunOpts,
}

/// Options of `sesame run`.
#[derive(Debug, Clone, clap::Args)]
struct RunOpts {
    #[command(flatten)]
    authd: authd::cli::RunArgs,
    /// Support relay listen address (overrides relay.listen; default 127.0.0.1:8444).
    #[arg(long, value_name = "ADDR")]
    relay_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance (the default).
    Run(RunOpts),
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
    /// The support console: package, publish, rotate-keys, installs, revoke, deploy-token.
    Console {
        #[command(subcommand)]
        cmd: admin_console::ConsoleCmd,
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
            what: AdminCmd::Console { cmd },
        }) => return admin_console::run(cmd).await,
        Some(Command::Admin {
            what: AdminCmd::Backup { cmd, data_dir },
        }) => {
            admin_backup::run(&data_dir, cmd);
            return Ok(());
        }
        None => cli.run,
    };
    let mut cfg = args.authd.load_config()?;
    if let Some(l) = args.relay_listen {
        cfg.relay.listen = l;
    }
    authd::cli::init_logging(&cfg.log);
    run(cfg).await
}

/// authd and the support relay in one process, until Ctrl-C or SIGTERM.
async fn run(cfg: sesame_config::Config) -> anyhow::Result<()> {
    use std::sync::Arc;
    let (listen, relay_listen) = (cfg.server.listen, cfg.relay.listen);
    let prepared = tokio::task::spawn_blocking(move || {
        authd::server::start(cfg, Arc::new(authd::clock::SystemClock))
    })
    .await??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    // authd is the primary service: if the relay's port is taken, authd still runs and the
    // operator is told loudly.
    let relay_listener = match tokio::net::TcpListener::bind(relay_listen).await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!(
                "error: the support relay is NOT running: cannot listen on {relay_listen}: {e} (set --relay-listen or relay.listen)"
            );
            None
        }
    };
    authd::server::print_banner(&prepared, listener.local_addr()?);
    let authd::server::Prepared { app, tls, .. } = prepared;
    // Keeps the signed console update metadata from expiring while the appliance runs.
    let resigner = console_updates::spawn_resigner(
        app.config.server.data_dir.clone(),
        console_updates::expiries(&app.config.updates),
        app.clock.clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut relay_task = None;
    if let Some(relay_listener) = relay_listener {
        let relay = support_relay::server::build(relay::deps(&app, tls.config.clone())?)?;
        support_relay::server::spawn_metrics(&app.config, relay.clone()).await?;
        println!(
            "Sesame support relay listening on {} (same certificate)",
            relay_listener.local_addr()?
        );
        relay_task = Some(tokio::spawn(support_relay::server::serve(
            relay_listener,
            relay,
            {
                let mut rx = stop_rx.clone();
                async move {
                    let _ = rx.changed().await;
                }
            },
        )));
    }
    authd::server::serve(listener, app, tls.config, authd::server::shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    if let Some(t) = relay_task {
        let _ = t.await;
    }
    resigner.abort();
    println!("Sesame stopped");
    Ok(())
}
