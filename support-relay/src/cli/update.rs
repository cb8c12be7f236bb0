//! The console's side of installation and updates (issue #8): `support-console update
//! [--check] [--system] [--all-users]`, registering the installation at login, automatic
//! checks with `SHOULDAUTOUPDATE=1`, and `--version` reporting the installed package version.
//!
//! The work is the `installer` crate's ([`installer::update::update_async`],
//! [`installer::update::register_login`]); this module only finds the installation the running
//! executable belongs to ([`installer::locate::locate_for_exe`]) and prints outcomes. A console
//! that was not installed by the installer (a development build) skips all of it.
//!
//! Automatic updates (per-user installs with `SHOULDAUTOUPDATE=1`): when a command starts, and
//! then every interval while a long-running command (`watch`, `forward`) runs, the console
//! starts a detached `support-console update --auto` if the last check is older than the
//! interval (`SUPPORT_UPDATE_EVERY`, a duration such as `6h`; default 6 hours). That process
//! holds the installation's lock, so a command is never slowed down and two never collide;
//! it appends its outcome to `<state>/auto-update.log`. Per-machine installs are never updated
//! from a user's session (their systemd timer runs `update --system`).

use installer::plan::{Environment, Layout, UpdateMode};
use installer::update::{UpdateError, UpdateOptions, UpdateOutcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Default interval between automatic checks.
pub const DEFAULT_UPDATE_EVERY: Duration = Duration::from_secs(6 * 3600);
/// The file recording the last automatic check (Unix seconds), in the state directory.
pub const LAST_CHECK_FILE: &str = "last-update-check";
/// The log of automatic updates, in the state directory.
pub const AUTO_LOG_FILE: &str = "auto-update.log";

/// `support-console update` options.
#[derive(Debug, Clone, clap::Args)]
pub struct UpdateArgs {
    /// Only say whether a newer version is published.
    #[arg(long)]
    check: bool,
    /// Run as the per-machine system service (what the installed systemd unit runs).
    #[arg(long)]
    system: bool,
    /// The per-machine installation (`ALLUSERS=1`), even when run from elsewhere.
    #[arg(long)]
    all_users: bool,
    /// An automatic check started by the console itself (outcome to the log file).
    #[arg(long, hide = true)]
    auto: bool,
}

fn exe() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// The installation this executable belongs to, if it was installed by the installer.
fn installation(all_users: bool) -> Option<Layout> {
    let layout = installer::locate::locate_for_exe(
        &Environment::from_process(),
        exe().as_deref(),
        all_users,
    )
    .ok()?;
    layout.receipt_file().exists().then_some(layout)
}

/// The version to report: the installed package's (from the manifest beside the executable,
/// `versions/<v>/bin/support-console` → `versions/<v>/.sesame-manifest.json`), else the build's.
pub fn version_text() -> String {
    exe()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
        .and_then(|dir| installer::fsutil::version_manifest(&dir))
        .map(|m| m.version.to_string())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
}

/// Parses the command line of `C` with [`version_text`] as its `--version`.
pub fn parse_with_version<C: clap::Parser>() -> C {
    // clap wants a &'static str; this runs once per process.
    let version: &'static str = Box::leak(version_text().into_boxed_str());
    let matches = <C as clap::CommandFactory>::command()
        .version(version)
        .get_matches();
    <C as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `support-console update [--check] [--system] [--all-users]`.
pub async fn run(args: &UpdateArgs) -> ExitCode {
    let all_users = args.all_users || args.system;
    let layout = match installer::locate::locate_for_exe(
        &Environment::from_process(),
        exe().as_deref(),
        all_users,
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("update_not_installed: {e}");
            return ExitCode::from(1);
        }
    };
    let options = UpdateOptions {
        check_only: args.check,
        system: args.system,
    };
    let result = installer::update::update_async(&layout, options).await;
    if args.auto {
        log_auto(&layout, &result);
    }
    match result {
        Ok(UpdateOutcome::UpToDate(v)) => println!("sesame-console {v} is up to date"),
        Ok(UpdateOutcome::Available { current, offered }) => {
            println!("update available: {current} -> {offered}")
        }
        Ok(UpdateOutcome::Updated { from, to }) => {
            println!("updated sesame-console from {from} to {to}")
        }
        Err(e) => {
            eprintln!("{}: {e}", e.code());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn log_auto(layout: &Layout, result: &Result<UpdateOutcome, UpdateError>) {
    use std::io::Write;
    let line = match result {
        Ok(o) => format!("{o:?}"),
        Err(e) => format!("{}: {e}", e.code()),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.state_dir.join(AUTO_LOG_FILE))
    {
        let _ = writeln!(f, "{} {line}", unix_now());
    }
}

/// After a successful `login`: registers this installation with the appliance and stores the
/// update token it answers with. A console that is not installed skips this; a refusal is
/// reported on stderr but does not undo the login.
pub async fn after_login(session: &str) {
    let Some(layout) = installation(false) else {
        return;
    };
    match installer::update::register_login(&layout, session).await {
        Ok(()) => eprintln!("This console is registered for updates."),
        Err(e) => eprintln!("warning: {}: {e}", e.code()),
    }
}

fn unix_now() -> u64 {
    #[allow(
        clippy::disallowed_methods,
        reason = "when the last automatic check happened is wall-clock time"
    )]
    let now = SystemTime::now();
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The interval between automatic checks (`SUPPORT_UPDATE_EVERY`).
pub fn update_every() -> Duration {
    std::env::var("SUPPORT_UPDATE_EVERY")
        .ok()
        .and_then(|v| sesame_config::parse_duration(&v).ok())
        .unwrap_or(DEFAULT_UPDATE_EVERY)
}

/// Whether a check is due at `now` (Unix seconds) given the last one recorded in `state`.
pub fn check_due(state: &Path, now: u64, every: Duration) -> bool {
    let last = std::fs::read_to_string(state.join(LAST_CHECK_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    last.is_none_or(|l| now.saturating_sub(l) >= every.as_secs() || l > now)
}

/// Starts a detached automatic check if this is a per-user installation with
/// `SHOULDAUTOUPDATE=1` and one is due.
fn start_auto_update(every: Duration) {
    let Some(layout) = installation(false) else {
        return;
    };
    let auto = installer::apply::load_settings(&layout)
        .ok()
        .flatten()
        .is_some_and(|s| s.should_auto_update && s.update_mode == UpdateMode::Console);
    let now = unix_now();
    if !auto || !check_due(&layout.state_dir, now, every) {
        return;
    }
    let _ = installer::fsutil::atomic_write(
        &layout.state_dir.join(LAST_CHECK_FILE),
        format!("{now}\n").as_bytes(),
        0o644,
    );
    let Some(exe) = exe() else { return };
    // Detached: it outlives a short command; the install lock serialises it with others.
    let _ = std::process::Command::new(exe)
        .args(["update", "--auto"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// At the start of a console command: the automatic check now if due, and then every interval
/// for as long as the process runs (the task ends with the process).
pub fn spawn_auto_update() {
    let every = update_every();
    start_auto_update(every);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            start_auto_update(every);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_due_when_none_was_recorded_or_the_interval_has_passed() {
        let t = tempfile::tempdir().expect("tmp");
        let every = Duration::from_secs(3600);
        assert!(check_due(t.path(), 10_000, every));
        std::fs::write(t.path().join(LAST_CHECK_FILE), "10000\n").expect("w");
        assert!(!check_due(t.path(), 10_000, every));
        assert!(!check_due(t.path(), 13_599, every));
        assert!(check_due(t.path(), 13_600, every));
        // A clock that went back does not stop checks forever.
        assert!(check_due(t.path(), 5_000, every));
        std::fs::write(t.path().join(LAST_CHECK_FILE), "garbage").expect("w");
        assert!(check_due(t.path(), 10_000, every));
    }
}
