//! The update client: fetch the current console package through TUF, verify it, stage it, run
//! it once, switch to it.
//!
//! Entry points: [`check`] (is there a newer version?) and [`update`] (install it), both
//! blocking (they run a private current-thread runtime), and [`update_async`] for callers already
//! inside tokio (`support-console update [--check]`). [`store_update_token`] is what the console
//! calls after its first login.
//!
//! Guarantees, in order:
//! 1. No token (neither an update token from a login nor a deploy token from the install) →
//!    [`UpdateError::TokenMissing`], code `update_token_missing`, before any network access.
//! 2. Metadata is verified by `tough` from the trusted root (the newest of the datastore's
//!    `root.json`, the installed `trust-root.json`): wrong-key signatures, expired metadata and
//!    older metadata (the datastore in `<state>/tuf` remembers what was trusted) each fail with
//!    their own code.
//! 3. The package is downloaded whole (bounded by the signed length) and its SHA-256 checked
//!    by tough before a single byte is parsed; then the package reader checks every file again.
//! 4. A package older than the highest version ever accepted (`<state>/highest-version`, or the
//!    installed one) is a rollback and refused.
//! 5. The new version is staged in `versions/<v>` (complete and fsync'ed before it gets its
//!    name), its `bin/support-console --version` is run, and only then is the `current` link
//!    switched atomically. The previous version stays for rollback. A kill -9 at any moment
//!    leaves `current` pointing at a complete version: the old one or the new one.

pub mod register;
pub mod transport;

pub use register::register_login;

use crate::apply::{InstallLock, Receipt, load_settings, prune_versions, stage_version};
use crate::exit::InstallError;
use crate::fsutil;
use crate::manifest::PLATFORM_LINUX_X86_64;
use crate::package::Package;
use crate::plan::{Layout, Scope, UpdateMode};
use crate::properties::Token;
use crate::version::Version;
use std::path::{Path, PathBuf};
use std::time::Duration;
use transport::{BearerTransport, TokenRefused, Unreachable};

/// The update token file in the state directory (0600), written at the first login.
pub const UPDATE_TOKEN_FILE: &str = "update-token";
/// The deploy token file in the state directory (0600), written by `DEPLOYTOKEN=`.
pub const DEPLOY_TOKEN_FILE: &str = "deploy-token";
/// The highest version ever accepted.
pub const HIGHEST_VERSION_FILE: &str = "highest-version";
/// An optional PEM certificate the relay's TLS chains to (self-signed appliances).
pub const RELAY_CA_FILE: &str = "relay-ca.pem";
/// Longest a `--version` smoke run may take.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an update check or update failed. [`UpdateError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No update token and no deploy token.
    #[error(
        "This console cannot update because it has no update token: it receives one at its first successful login. Log in once, or download the current version from {download_url} and install it."
    )]
    TokenMissing {
        /// The appliance's download page.
        download_url: String,
    },
    /// The server refused the token (revoked, unknown, expired deploy token).
    #[error(
        "The server refused this console's update token (revoked or expired). Log in again to get a new one, or download the current version from {download_url}."
    )]
    TokenRejected {
        /// The appliance's download page.
        download_url: String,
    },
    /// Network or server failure.
    #[error("Error communicating with the server while updating the software: {0}")]
    Unreachable(String),
    /// Signed metadata has expired (possible freeze attack, or a server that stopped re-signing).
    #[error(
        "The update information from the server has expired ({0}); the server must re-sign it before consoles accept it."
    )]
    MetadataExpired(String),
    /// Metadata does not verify against the trusted keys.
    #[error(
        "The update information is not signed by the keys this console trusts; nothing was installed."
    )]
    SignatureInvalid(String),
    /// Older metadata than already trusted, or an older package than already accepted.
    #[error(
        "The server offers {offered}, older than what this console already accepted ({accepted}); rollbacks are refused."
    )]
    Rollback {
        /// What was offered.
        offered: String,
        /// What was accepted before.
        accepted: String,
    },
    /// The package bytes do not match the signed hash or length.
    #[error("The downloaded package does not match its signed hash; nothing was installed.")]
    PackageAltered,
    /// The package verified but its contents are not a valid console package.
    #[error("The downloaded package is not a valid console package: {0}")]
    PackageInvalid(String),
    /// Metadata that is neither of the above (malformed, inconsistent).
    #[error("The update information from the server is not valid: {0}")]
    MetadataInvalid(String),
    /// No package for this platform is published.
    #[error("The server publishes no console package for {0}.")]
    NoPackage(&'static str),
    /// The new version did not answer `--version`.
    #[error("The new version {version} did not start ({reason}); the current version stays.")]
    SmokeTestFailed {
        /// The version that failed.
        version: String,
        /// What happened.
        reason: String,
    },
    /// Per-machine install that updates only through its system service.
    #[error("This console was installed for all users; {0}")]
    PerMachine(String),
    /// No installation.
    #[error("The console is not installed in {0}.")]
    NotInstalled(String),
    /// Another install or update holds the lock.
    #[error("Another installation or update of the console is in progress; try again later.")]
    Busy,
    /// The appliance refused to register this installation (e.g. the account is not a
    /// technician's).
    #[error("The server did not register this console for updates: {0}")]
    RegistrationRefused(String),
    /// Local filesystem failure.
    #[error("Could not {action} {path}: {reason}")]
    Io {
        /// What.
        action: &'static str,
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
}

impl UpdateError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            UpdateError::TokenMissing { .. } => "update_token_missing",
            UpdateError::TokenRejected { .. } => "update_token_rejected",
            UpdateError::Unreachable(_) => "update_server_unreachable",
            UpdateError::MetadataExpired(_) => "update_metadata_expired",
            UpdateError::SignatureInvalid(_) => "update_signature_invalid",
            UpdateError::Rollback { .. } => "update_rollback_refused",
            UpdateError::PackageAltered => "update_package_altered",
            UpdateError::PackageInvalid(_) => "update_package_invalid",
            UpdateError::MetadataInvalid(_) => "update_metadata_invalid",
            UpdateError::NoPackage(_) => "update_no_package",
            UpdateError::SmokeTestFailed { .. } => "update_smoke_test_failed",
            UpdateError::PerMachine(_) => "update_per_machine",
            UpdateError::NotInstalled(_) => "update_not_installed",
            UpdateError::Busy => "update_in_progress",
            UpdateError::RegistrationRefused(_) => "update_registration_refused",
            UpdateError::Io { .. } => "update_io_error",
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError {
    let path = path.display().to_string();
    move |e| UpdateError::Io {
        action,
        path,
        reason: e.to_string(),
    }
}

/// What [`check`] or [`update`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The installed version is the published one.
    UpToDate(Version),
    /// `check` only: a newer version is published.
    Available {
        /// Installed.
        current: Version,
        /// Published.
        offered: Version,
    },
    /// Updated.
    Updated {
        /// Before.
        from: Version,
        /// After.
        to: Version,
    },
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateOptions {
    /// Only report.
    pub check_only: bool,
    /// Running as the per-machine system service (root, deploy token).
    pub system: bool,
}

/// Stores the update token received at login (0600, fsync'ed) in `state_dir`.
pub fn store_update_token(state_dir: &Path, token: &Token) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    fsutil::atomic_write(
        &state_dir.join(UPDATE_TOKEN_FILE),
        token.expose().as_bytes(),
        0o600,
    )
}

/// The appliance's download page for a relay URL.
pub fn download_url(relay_url: &str) -> String {
    format!("{}/download", relay_url.trim_end_matches('/'))
}

fn read_token(path: &Path) -> Option<Token> {
    let s = std::fs::read_to_string(path).ok()?;
    Token::parse(s.trim())
}

/// Checks for an update (blocking).
pub fn check(layout: &Layout) -> Result<UpdateOutcome, UpdateError> {
    run(update_async(
        layout,
        UpdateOptions {
            check_only: true,
            system: false,
        },
    ))
}

/// Updates (blocking).
pub fn update(layout: &Layout, options: UpdateOptions) -> Result<UpdateOutcome, UpdateError> {
    run(update_async(layout, options))
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds")
        .block_on(f)
}

/// The installed version (from the `current` link's manifest).
pub fn installed_version(layout: &Layout) -> Option<Version> {
    fsutil::current_version_dir(&layout.install_dir)
        .as_deref()
        .and_then(fsutil::version_manifest)
        .map(|m| m.version)
}

/// Checks for, or applies, an update of the installation described by `layout`.
pub async fn update_async(
    layout: &Layout,
    options: UpdateOptions,
) -> Result<UpdateOutcome, UpdateError> {
    let not_installed = || UpdateError::NotInstalled(layout.install_dir.display().to_string());
    let receipt = Receipt::load(layout).map_err(|e| UpdateError::Io {
        action: "read",
        path: layout.receipt_file().display().to_string(),
        reason: e.to_string(),
    })?;
    if receipt.is_none() {
        return Err(not_installed());
    }
    let settings = load_settings(layout)
        .map_err(|e| UpdateError::Io {
            action: "read",
            path: layout.settings_file().display().to_string(),
            reason: e.to_string(),
        })?
        .ok_or_else(not_installed)?;
    let download = download_url(&settings.relay_url);
    if layout.scope == Scope::PerMachine {
        match settings.update_mode {
            UpdateMode::SystemService if options.system => {}
            UpdateMode::SystemService => {
                return Err(UpdateError::PerMachine(
                    "it is updated by the sesame-console-update system service, not from a user's session".into(),
                ));
            }
            _ => {
                return Err(UpdateError::PerMachine(format!(
                    "without a deploy token it is not updated automatically; install the current version from {download}"
                )));
            }
        }
    }
    let state = &layout.state_dir;
    let update_token = read_token(&state.join(UPDATE_TOKEN_FILE));
    let deploy_token = read_token(&state.join(DEPLOY_TOKEN_FILE));
    if update_token.is_none() && deploy_token.is_none() {
        return Err(UpdateError::TokenMissing {
            download_url: download.clone(),
        });
    }
    let current = installed_version(layout).ok_or_else(not_installed)?;
    let highest_path = state.join(HIGHEST_VERSION_FILE);
    let highest = std::fs::read_to_string(&highest_path)
        .ok()
        .and_then(|s| s.trim().parse::<Version>().ok())
        .map_or(current, |h| h.max(current));

    let _lock = match InstallLock::acquire(layout) {
        Ok(l) => l,
        Err(InstallError::Busy(_)) => return Err(UpdateError::Busy),
        Err(e) => {
            return Err(UpdateError::Io {
                action: "lock",
                path: layout.lock_file().display().to_string(),
                reason: e.to_string(),
            });
        }
    };

    // A console installed with a deploy token registers once, before any login, and then
    // presents the update token it received like any other console.
    let token = match (update_token, deploy_token) {
        (Some(t), _) => t,
        (None, Some(d)) => register::register_deploy(layout, &settings, d).await?,
        (None, None) => {
            return Err(UpdateError::TokenMissing {
                download_url: download.clone(),
            });
        }
    };
    let ca = fsutil::read_optional(&state.join(RELAY_CA_FILE))
        .map_err(io_err("read", &state.join(RELAY_CA_FILE)))?;
    let transport = BearerTransport::new(token, ca.as_deref())
        .map_err(UpdateError::Unreachable)?
        .with_console_version(current.to_string());
    // tough writes its datastore in place without fsync; it works on a private copy and what
    // it trusted is copied back atomically (fsync'ed) afterwards, so a kill -9 never leaves a
    // torn file in `<state>/tuf`.
    let tuf_dir = state.join("tuf");
    std::fs::create_dir_all(&tuf_dir).map_err(io_err("create", &tuf_dir))?;
    // Leftovers of a killed run (we hold the lock: no other run is using them).
    if let Ok(entries) = std::fs::read_dir(state) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tuf-work-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let work = tempfile::Builder::new()
        .prefix(".tuf-work-")
        .tempdir_in(state)
        .map_err(io_err("create a work directory in", state))?;
    copy_flat(&tuf_dir, work.path(), false).map_err(io_err("copy", &tuf_dir))?;
    let root = newest_root(&[tuf_dir.join("root.json"), state.join("trust-root.json")])
        .or_else(|| {
            fsutil::current_version_dir(&layout.install_dir)
                .as_deref()
                .and_then(fsutil::version_manifest)
                .map(|m| m.trust_root_bytes())
        })
        .ok_or_else(|| UpdateError::MetadataInvalid("no trusted root is installed".into()))?;
    let base = url::Url::parse(&settings.update_url)
        .map_err(|e| UpdateError::MetadataInvalid(e.to_string()))?;
    let base = if base.path().ends_with('/') {
        base
    } else {
        url::Url::parse(&format!("{base}/"))
            .map_err(|e| UpdateError::MetadataInvalid(e.to_string()))?
    };
    let targets_url = base
        .join("targets/")
        .map_err(|e| UpdateError::MetadataInvalid(e.to_string()))?;
    let repo = tough::RepositoryLoader::new(&root, base, targets_url)
        .transport(transport)
        .datastore(work.path())
        .load()
        .await
        .map_err(|e| map_tough(e, false, &download))?;
    copy_flat(work.path(), &tuf_dir, true)
        .map_err(io_err("save the trusted metadata in", &tuf_dir))?;

    let mut best: Option<(Version, tough::TargetName)> = None;
    for (name, target) in repo.all_targets() {
        if target.custom.get("platform").and_then(|p| p.as_str()) != Some(PLATFORM_LINUX_X86_64) {
            continue;
        }
        let Some(v) = target
            .custom
            .get("version")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<Version>().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, name.clone()));
        }
    }
    let (offered, name) = best.ok_or(UpdateError::NoPackage(PLATFORM_LINUX_X86_64))?;
    if offered < highest {
        return Err(UpdateError::Rollback {
            offered: offered.to_string(),
            accepted: highest.to_string(),
        });
    }
    if offered == current {
        return Ok(UpdateOutcome::UpToDate(current));
    }
    if options.check_only {
        return Ok(UpdateOutcome::Available { current, offered });
    }
    let stream = repo
        .read_target(&name)
        .await
        .map_err(|e| map_tough(e, true, &download))?
        .ok_or(UpdateError::NoPackage(PLATFORM_LINUX_X86_64))?;
    use tough::IntoVec;
    let bytes = stream
        .into_vec()
        .await
        .map_err(|e| map_tough(e, true, &download))?;
    // Only now, with the signed hash checked, is a byte of the package looked at.
    let package =
        Package::from_bytes(&bytes).map_err(|e| UpdateError::PackageInvalid(e.to_string()))?;
    if package.manifest.version != offered || package.manifest.platform != PLATFORM_LINUX_X86_64 {
        return Err(UpdateError::PackageInvalid(format!(
            "it contains {} for {} but was published as {offered}",
            package.manifest.version, package.manifest.platform
        )));
    }
    let previous = fsutil::current_version_dir(&layout.install_dir);
    let (dir, created) = stage_version(layout, &package)
        .map_err(io_err("stage the new version in", &layout.versions_dir()))?;
    if let Err(reason) = smoke_run(&dir, offered).await {
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Err(UpdateError::SmokeTestFailed {
            version: offered.to_string(),
            reason,
        });
    }
    fsutil::switch_link(
        &layout.current_link(),
        &PathBuf::from("versions").join(offered.to_string()),
    )
    .map_err(io_err("switch", &layout.current_link()))?;
    fsutil::atomic_write(&highest_path, format!("{offered}\n").as_bytes(), 0o644)
        .map_err(io_err("write", &highest_path))?;
    let mut keep = vec![dir];
    keep.extend(previous);
    prune_versions(layout, &keep);
    Ok(UpdateOutcome::Updated {
        from: current,
        to: offered,
    })
}

/// Copies the regular files of `from` into `to` (atomically and fsync'ed when `durable`).
fn copy_flat(from: &Path, to: &Path, durable: bool) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(e.path())?;
        let dest = to.join(e.file_name());
        if durable {
            if fsutil::read_optional(&dest)?.as_deref() != Some(&bytes[..]) {
                fsutil::atomic_write(&dest, &bytes, 0o644)?;
            }
        } else {
            std::fs::write(dest, bytes)?;
        }
    }
    Ok(())
}

/// The root with the highest version among the readable candidates.
fn newest_root(candidates: &[PathBuf]) -> Option<Vec<u8>> {
    candidates
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| {
            let v = serde_json::from_slice::<serde_json::Value>(&b)
                .ok()?
                .pointer("/signed/version")?
                .as_u64()?;
            Some((v, b))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, b)| b)
}

/// Runs `bin/support-console --version` of a staged version; it must exit 0 and print `version`.
async fn smoke_run(dir: &Path, version: Version) -> Result<(), String> {
    let exe = dir.join("bin/support-console");
    let child = tokio::process::Command::new(&exe)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(SMOKE_TIMEOUT, child).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("it could not be run: {e}")),
        Err(_) => {
            return Err(format!(
                "--version did not answer within {} s",
                SMOKE_TIMEOUT.as_secs()
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("--version exited with {}", out.status));
    }
    if !stdout.contains(&version.to_string()) {
        return Err(format!("--version did not report {version}"));
    }
    Ok(())
}

/// Maps tough's errors to ours; `target` tells whether the package itself was being fetched.
fn map_tough(e: tough::error::Error, target: bool, download: &str) -> UpdateError {
    use tough::error::Error as T;
    // The transport's own causes first (token refused, unreachable).
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<TokenRefused>().is_some() {
            return UpdateError::TokenRejected {
                download_url: download.to_string(),
            };
        }
        if let Some(u) = s.downcast_ref::<Unreachable>() {
            return UpdateError::Unreachable(u.0.clone());
        }
        // tough reports a target's hash or length mismatch from inside its download stream,
        // wrapped in a transport error.
        if target
            && matches!(
                s.downcast_ref::<T>(),
                Some(T::HashMismatch { .. } | T::MaxSizeExceeded { .. })
            )
        {
            return UpdateError::PackageAltered;
        }
        source = s.source();
    }
    match &e {
        T::ExpiredMetadata { role, .. } => UpdateError::MetadataExpired(format!("{role:?} role")),
        T::OlderMetadata {
            role,
            current_version,
            new_version,
            ..
        } => UpdateError::Rollback {
            offered: format!("{role:?} metadata version {new_version}"),
            accepted: format!("version {current_version}"),
        },
        T::OlderSnapshotInTimestamp { .. } | T::SnapshotRoleRollback { .. } => {
            UpdateError::Rollback {
                offered: "older snapshot metadata".into(),
                accepted: "newer metadata".into(),
            }
        }
        T::HashMismatch { .. } | T::MaxSizeExceeded { .. } if target => UpdateError::PackageAltered,
        T::VerifyMetadata { .. }
        | T::VerifyTrustedMetadata { .. }
        | T::VerifyRoleMetadata { .. }
        | T::HashMismatch { .. } => UpdateError::SignatureInvalid(e.to_string()),
        T::Transport { .. } => UpdateError::Unreachable(e.to_string()),
        _ => UpdateError::MetadataInvalid(e.to_string()),
    }
}
