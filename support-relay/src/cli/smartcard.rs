//! `support-console smartcard readers|share`: the technician's smart-card commands.
//!
//! `readers` asks the local pcscd only (no relay). `share KEY --reader NAME` forwards that one
//! reader's card into the session until Ctrl-C, the card is pulled, or the session ends, with a
//! live APDU count on one stderr line. Nothing is shared unless a reader is named.

use crate::client::Mux;
use crate::client::smartcard::{self, ShareEnd};
use clap::Subcommand;
use std::io::Write;
use std::process::ExitCode;

/// Smart-card commands.
#[derive(Debug, Subcommand)]
pub enum SmartcardCmd {
    /// List this computer's smart-card readers, and the ATR of the card in each.
    Readers,
    /// Forward the card in one reader into a session (after the customer consents), until
    /// Ctrl-C, the card is pulled out, or the session ends.
    Share {
        /// Session key or id.
        key: String,
        /// The reader whose card is shared, exactly as `smartcard readers` names it.
        #[arg(long)]
        reader: String,
        /// Seconds to wait for the customer to connect.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

impl SmartcardCmd {
    /// The session a command works in (key or id) and how long to wait for the customer.
    pub fn session(&self) -> Option<(&str, u64)> {
        match self {
            SmartcardCmd::Readers => None,
            SmartcardCmd::Share { key, wait, .. } => Some((key.as_str(), *wait)),
        }
    }
}

/// Run a smart-card command; `mux` is attached to the session when [`SmartcardCmd::session`]
/// names one.
pub async fn run(cmd: &SmartcardCmd, mux: Option<Mux>) -> anyhow::Result<ExitCode> {
    match cmd {
        SmartcardCmd::Readers => {
            let readers = smartcard::readers().await?;
            if readers.is_empty() {
                println!("no smart-card reader");
            }
            for r in readers {
                match r.atr {
                    Some(atr) => println!("{}\tcard present, ATR {atr}", r.name),
                    None => println!("{}\tno card", r.name),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SmartcardCmd::Share { reader, .. } => {
            let mut mux = mux.ok_or_else(|| anyhow::anyhow!("not attached to a session"))?;
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let mut progress = |n: u64| {
                let mut e = std::io::stderr().lock();
                let _ = write!(e, "\r{n} APDUs forwarded");
                let _ = e.flush();
            };
            eprintln!("sharing the card in {reader:?} (Ctrl-C stops)");
            let report = smartcard::share(&mut mux, reader, stop, &mut progress).await?;
            let why = match &report.ended {
                ShareEnd::Stopped => "stopped".to_owned(),
                ShareEnd::CardRemoved => "the card was removed".to_owned(),
                ShareEnd::CustomerEnded(r) => format!("ended by the customer ({r})"),
                ShareEnd::Closed(r) => format!("channel closed ({r})"),
                ShareEnd::Refused(code) => {
                    format!("channel closed: the customer's side broke the protocol ({code})")
                }
                ShareEnd::SessionEnded(r) => format!("the session ended ({r})"),
            };
            eprintln!(
                "\nsharing over: {why}; {} APDUs, card ATR {}",
                report.apdus, report.atr
            );
            Ok(match report.ended {
                ShareEnd::Refused(_) => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            })
        }
    }
}
