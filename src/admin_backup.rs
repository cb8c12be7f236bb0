//! `sesame admin backup …`: backups of a data directory, offline or beside a running
//! appliance. `list`, `create` and `verify` are safe while it runs (a backup is an online,
//! consistent copy); `restore` needs it stopped and refuses a damaged, foreign or too-new file
//! without touching the store. The work is in `authd::store::sqlite::backup`.

use authd::clock::rfc3339;
use authd::store::sqlite::backup::{self, BackupKind};
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `sesame admin backup …`
#[derive(Debug, Subcommand)]
pub(crate) enum BackupCmd {
    /// List the backups in <data dir>/backups, oldest first.
    List,
    /// Take a snapshot of the store now (safe while the appliance runs).
    Create,
    /// Check FILE: intact, a schema this version reads, made by this appliance.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
    /// Replace the store of the stopped appliance with FILE (the current store is kept as
    /// backups/pre-restore-….db first).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // the CLI is the edge: it reads the clock once
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn kind_name(kind: BackupKind) -> &'static str {
    kind.as_str()
}

/// Run one `sesame admin backup` command on `data_dir`; a failure is printed as plain
/// sentences on stderr and the process exits with status 1.
pub(crate) fn run(data_dir: &Path, cmd: BackupCmd) {
    if let Err(message) = execute(data_dir, cmd) {
        eprintln!("{message}");
        std::process::exit(1);
    }
}

fn execute(data_dir: &Path, cmd: BackupCmd) -> Result<(), String> {
    let now = now();
    match cmd {
        BackupCmd::List => {
            let all = backup::list(data_dir).map_err(|e| format!("Cannot list backups: {e}."))?;
            if all.is_empty() {
                println!(
                    "No backup in {}.",
                    data_dir.join(backup::BACKUP_DIR).display()
                );
            }
            for b in all {
                println!(
                    "{}  {:<11}  {}  {} bytes",
                    b.path.display(),
                    kind_name(b.kind),
                    rfc3339(b.taken_at),
                    b.size
                );
            }
        }
        BackupCmd::Create => {
            let path = backup::create(data_dir, BackupKind::Snapshot, now)
                .map_err(|e| format!("No backup was made: {e}."))?;
            println!("Backup written to {}.", path.display());
            println!(
                "Keep {} safe separately: without it a backup cannot be restored.",
                data_dir.join(authd::secrets::MASTER_KEY_FILE).display()
            );
        }
        BackupCmd::Verify { file } => {
            let v = backup::verify(data_dir, &file)
                .map_err(|e| format!("This backup cannot be used: {e}."))?;
            println!(
                "{} is a good backup of this appliance ({}, taken {}, schema version {}).",
                file.display(),
                v.kind,
                rfc3339(v.taken_at),
                v.schema_version
            );
        }
        BackupCmd::Restore { file } => {
            let done = backup::restore(data_dir, &file, now).map_err(|e| {
                if e.is_refusal() {
                    format!(
                        "Restore refused: {e}. Nothing was changed; the current store is intact."
                    )
                } else {
                    format!(
                        "Restore failed: {e}. If a pre-restore copy is listed by \
                         `sesame admin backup list`, it holds the store as it was."
                    )
                }
            })?;
            println!(
                "Restored {} (taken {}).",
                file.display(),
                rfc3339(done.verified.taken_at)
            );
            if let Some(previous) = done.previous {
                println!("The previous store was saved as {}.", previous.display());
            }
            println!("Start the appliance to use the restored store.");
        }
    }
    Ok(())
}
