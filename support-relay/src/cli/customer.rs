//! `support-customer`: the customer's program.

use super::RelayTarget;
use crate::client::customer::{self, Entry, Options};
use clap::Parser;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sesame support, customer side: join the session your technician opened (with the key they
/// read to you) or wait in the queue. Nothing happens on this computer without your consent.
#[derive(Debug, Parser)]
#[command(name = "support-customer", version, about)]
pub struct Cli {
    #[command(flatten)]
    target: RelayTarget,
    /// The session key the technician gave you.
    #[arg(long, conflicts_with = "queue")]
    key: Option<String>,
    /// Wait in the general queue instead, describing the problem.
    #[arg(long, value_name = "PROBLEM")]
    queue: Option<String>,
    /// Your name, shown to the technician.
    #[arg(long, default_value = "customer")]
    name: String,
    /// Consent given up front, for unattended use: comma-separated among shell, files,
    /// forward, smartcard (anything not listed is refused). Without it, each request is asked.
    #[arg(long, value_delimiter = ',')]
    consent: Option<Vec<String>>,
    /// Directory where received files go and from which requested files are read.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The vpcd virtual reader (pcscd's `vsmartcard-vpcd` driver) that a technician's shared
    /// smart card is put into, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = crate::client::smartcard::DEFAULT_VPCD)]
    vpcd: String,
    /// When the connection to the relay drops, keep trying to reconnect and resume the session
    /// for this many seconds (the relay's `relay.resume_grace`; 0: do not reconnect).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    resume_grace: u64,
}

/// Entry point of the binary.
pub async fn main() -> ExitCode {
    super::init_logging("warn");
    let cli = Cli::parse();
    let entry = match (&cli.key, &cli.queue) {
        (Some(k), _) => Entry::Key(k.clone()),
        (None, Some(p)) => Entry::Queue { problem: p.clone() },
        (None, None) => {
            eprintln!(
                "error: give the session key (--key KEY) or join the queue (--queue PROBLEM)"
            );
            return ExitCode::from(2);
        }
    };
    if let Some(c) = &cli.consent {
        for w in c {
            if !["shell", "files", "forward", "smartcard", "none"].contains(&w.as_str()) {
                eprintln!("error: unknown consent {w:?} (shell, files, forward, smartcard)");
                return ExitCode::from(2);
            }
        }
    }
    let opts = Options {
        entry,
        name: cli.name.clone(),
        consent: cli
            .consent
            .clone()
            .map(|v| v.into_iter().collect::<HashSet<_>>()),
        dir: cli.dir.clone(),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for l in std::io::stdin().lock().lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mux = match cli.target.connect().await {
        Ok(m) => m,
        Err(e) => return super::fail(&e),
    };
    let r = if cli.resume_grace == 0 {
        customer::run_with_vpcd(mux, opts, &cli.vpcd, rx).await
    } else {
        let target = cli.target.clone();
        let connect: customer::ConnectFn = Box::new(move || {
            let target = target.clone();
            Box::pin(async move {
                target
                    .connect()
                    .await
                    .map_err(|e| crate::client::ClientError::Connect(format!("{e:#}")))
            })
        });
        let reconnect = customer::Reconnect {
            connect,
            grace: std::time::Duration::from_secs(cli.resume_grace),
            first_backoff: std::time::Duration::from_millis(250),
        };
        customer::run_resuming(mux, opts, &cli.vpcd, rx, reconnect).await
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e.into()),
    }
}
