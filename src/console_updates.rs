//! The appliance's side of console packages and signed updates, on its data directory:
//! building a package ([`package`]), publishing it ([`publish`]), and keeping the signed
//! metadata fresh while the appliance runs ([`resign_if_due`], [`spawn_resigner`]).
//!
//! The update repository is `<data_dir>/console-updates/` (keys in `keys/`, 0600; served files
//! in `repository/`, what authd's `GET /updates/…` serves); the current package of each
//! platform is copied to `console-updates/download/sesame-console-<platform>.tar.gz`, what
//! `GET /download/console/{platform}` serves. Every operation takes the time as an argument
//! (tests inject it) and holds `console-updates/.lock`, so the CLI and the running appliance
//! never sign at the same moment.
//!
//! It is not the HTTP side (authd's `api_console.rs` and `web/download.rs`) and not the client
//! (`installer::update`).

use anyhow::{Context, bail};
use installer::manifest::PLATFORM_LINUX_X86_64;
use installer::package::{Package, PackageSpec, SourceFile};
use installer::repo::{Expiries, Repository};
use installer::version::Version;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The repository directory under the data directory.
pub(crate) const UPDATES_DIR: &str = "console-updates";

/// The expiries the `[updates]` section configures.
pub(crate) fn expiries(u: &sesame_config::Updates) -> Expiries {
    Expiries {
        targets: u.metadata_expiry,
        timestamp: u.timestamp_expiry,
        ..Expiries::default()
    }
}

fn updates_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(UPDATES_DIR)
}

/// The file `/download/console/{platform}` serves.
pub(crate) fn download_file(data_dir: &Path, platform: &str) -> PathBuf {
    data_dir
        .join(authd::http::api_console::DOWNLOAD_DIR)
        .join(format!("sesame-console-{platform}.tar.gz"))
}

/// An exclusive lock on the repository (released on drop).
struct RepoLock(#[allow(dead_code, reason = "held for its lock")] std::fs::File);

fn lock(data_dir: &Path) -> anyhow::Result<RepoLock> {
    let dir = updates_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(RepoLock(f))
}

/// Opens the repository, creating its keys and root on first use.
pub(crate) fn open_or_create(
    data_dir: &Path,
    now: SystemTime,
    expiries: Expiries,
) -> anyhow::Result<Repository> {
    let dir = updates_dir(data_dir);
    if dir.join("keys/root.pk8").exists() {
        return Ok(Repository::open(&dir)?);
    }
    Ok(Repository::create(&dir, now, expiries)?)
}

/// Where the console binaries come from: a directory holding `support-console` and
/// `support-customer`, or the `support-console` file itself (its sibling `support-customer` is
/// taken); by default the directory of the running `sesame` executable.
pub(crate) fn binaries(binary: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = match binary {
        Some(p) if p.is_dir() => p.to_path_buf(),
        Some(p) if p.is_file() => p
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        Some(p) => bail!("{} is neither a directory nor a file", p.display()),
        None => std::env::current_exe()
            .context("cannot find the running executable")?
            .parent()
            .map(Path::to_path_buf)
            .context("the running executable has no directory")?,
    };
    let console = match binary {
        Some(p) if p.is_file() => p.to_path_buf(),
        _ => dir.join("support-console"),
    };
    let customer = dir.join("support-customer");
    for p in [&console, &customer] {
        if !p.is_file() {
            bail!(
                "{} not found (name the directory of the console binaries with --binary)",
                p.display()
            );
        }
    }
    Ok((console, customer))
}

/// What `sesame admin console package` builds.
#[derive(Debug)]
pub(crate) struct PackageRequest<'a> {
    /// The data directory (its repository's root goes into the package).
    pub(crate) data_dir: &'a Path,
    /// Console version.
    pub(crate) version: Version,
    /// `--binary`.
    pub(crate) binary: Option<&'a Path>,
    /// The appliance URL consoles use (`https://host:port/`).
    pub(crate) relay_url: String,
    /// The appliance's certificate, when it is self-signed.
    pub(crate) relay_ca_pem: Option<String>,
    /// Output file.
    pub(crate) out: &'a Path,
}

/// Builds the console package for this platform (creating the repository on first use).
pub(crate) fn package(
    r: &PackageRequest<'_>,
    now: SystemTime,
    expiries: Expiries,
) -> anyhow::Result<()> {
    if !installer::properties::relay_url_ok(&r.relay_url) {
        bail!(
            "the relay URL {} is not usable: it must be https:// (http:// only to loopback)",
            r.relay_url
        );
    }
    let (console, customer) = binaries(r.binary)?;
    let repo = {
        let _l = lock(r.data_dir)?;
        open_or_create(r.data_dir, now, expiries)?
    };
    let base = format!("{}/", r.relay_url.trim_end_matches('/'));
    let spec = PackageSpec {
        version: r.version,
        platform: PLATFORM_LINUX_X86_64.into(),
        relay_url: base.clone(),
        update_url: format!("{base}updates/"),
        trust_root: repo.root_json()?,
        relay_ca_pem: r.relay_ca_pem.clone(),
        files: vec![
            SourceFile::from_disk("bin/support-console", &console, true)?,
            SourceFile::from_disk("bin/support-customer", &customer, true)?,
        ],
    };
    installer::package::build_to_file(&spec, r.out)?;
    Ok(())
}

/// Makes `file` the current console package: signed in the repository (fresh metadata
/// versions and expiries) and copied to the download directory. An older version than the
/// published one is refused, and so is the same version with other contents.
pub(crate) fn publish(
    data_dir: &Path,
    file: &Path,
    now: SystemTime,
    expiries: Expiries,
) -> anyhow::Result<Version> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let pkg = Package::from_bytes(&bytes)
        .with_context(|| format!("{} is not a console package", file.display()))?;
    let m = &pkg.manifest;
    let _l = lock(data_dir)?;
    let dest = download_file(data_dir, &m.platform);
    if let Ok(old) = std::fs::read(&dest)
        && let Ok(current) = Package::from_bytes(&old)
    {
        let cv = current.manifest.version;
        if m.version < cv {
            bail!(
                "version {} is older than the published {cv}; consoles refuse rollbacks, so publish a newer version",
                m.version
            );
        }
        if m.version == cv && old != bytes {
            bail!(
                "version {cv} is already published with other contents; build the package with a new version"
            );
        }
    }
    let repo = open_or_create(data_dir, now, expiries)?;
    let ours = repo.root_json()?;
    let root_version =
        |v: &serde_json::Value| v.pointer("/signed/version").and_then(|v| v.as_u64());
    // A package built before a key rotation carries an older root; one carrying a root as new
    // as ours but with other keys was built against another repository.
    if m.trust_root.pointer("/signed/keys") != ours.pointer("/signed/keys")
        && root_version(&m.trust_root) >= root_version(&ours)
    {
        bail!(
            "the package carries the trust root of another update repository; build it with `sesame admin console package --data-dir {}`",
            data_dir.display()
        );
    }
    // The download copy first: it is what the re-signing task signs again, so a crash between
    // the two steps never makes it sign an older package than the one consoles accepted.
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    installer::fsutil::atomic_write(&dest, &bytes, 0o644)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    repo.publish(&dest, now, expiries)?;
    Ok(m.version)
}

/// When the served timestamp expires (`None`: nothing published yet).
pub(crate) fn timestamp_expires(data_dir: &Path) -> Option<SystemTime> {
    let p = updates_dir(data_dir).join("repository/timestamp.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    let t: jiff::Timestamp = v.pointer("/signed/expires")?.as_str()?.parse().ok()?;
    Some(SystemTime::from(t))
}

/// Re-signs the metadata (the published package again, new versions and expiries) when less
/// than half of the timestamp's validity is left at `now`. Returns whether it signed.
pub(crate) fn resign_if_due(
    data_dir: &Path,
    now: SystemTime,
    expiries: Expiries,
) -> anyhow::Result<bool> {
    let Some(expires) = timestamp_expires(data_dir) else {
        return Ok(false);
    };
    let left = expires.duration_since(now).unwrap_or(Duration::ZERO);
    if left > expiries.timestamp / 2 {
        return Ok(false);
    }
    let file = download_file(data_dir, PLATFORM_LINUX_X86_64);
    if !file.exists() {
        return Ok(false);
    }
    let _l = lock(data_dir)?;
    // Checked again under the lock: a publication may have just happened.
    if timestamp_expires(data_dir)
        .and_then(|e| e.duration_since(now).ok())
        .is_some_and(|left| left > expiries.timestamp / 2)
    {
        return Ok(false);
    }
    Repository::open(&updates_dir(data_dir))?.publish(&file, now, expiries)?;
    Ok(true)
}

/// How often the running appliance looks at the timestamp's expiry.
pub(crate) fn resign_check_every(expiries: Expiries) -> Duration {
    (expiries.timestamp / 8).clamp(Duration::from_secs(60), Duration::from_secs(3600))
}

/// The appliance's re-signing task: every [`resign_check_every`], [`resign_if_due`] with the
/// appliance's clock, so consoles never see expired metadata while the appliance runs.
pub(crate) fn spawn_resigner(
    data_dir: PathBuf,
    expiries: Expiries,
    clock: std::sync::Arc<dyn authd::clock::Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(resign_check_every(expiries));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = SystemTime::UNIX_EPOCH
                + Duration::from_millis(u64::try_from(clock.now_ms()).unwrap_or(0));
            let dir = data_dir.clone();
            match tokio::task::spawn_blocking(move || resign_if_due(&dir, now, expiries)).await {
                Ok(Ok(true)) => tracing::info!("console update metadata re-signed"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!("re-signing the console update metadata failed: {e:#}")
                }
                Err(e) => tracing::error!("the re-signing task failed: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_binaries(dir: &Path) {
        std::fs::create_dir_all(dir).expect("dir");
        for b in ["support-console", "support-customer"] {
            std::fs::write(dir.join(b), format!("#!/bin/sh\necho {b}\n")).expect("bin");
        }
    }

    fn build(data: &Path, bins: &Path, version: &str, out: &Path, now: SystemTime) {
        package(
            &PackageRequest {
                data_dir: data,
                version: version.parse().expect("version"),
                binary: Some(bins),
                relay_url: "https://relay.example:8443".into(),
                relay_ca_pem: None,
                out,
            },
            now,
            Expiries::default(),
        )
        .expect("package");
    }

    #[test]
    fn binaries_come_from_a_directory_or_beside_the_console_file() {
        let t = tempfile::tempdir().expect("tmp");
        let bins = t.path().join("bins");
        fake_binaries(&bins);
        let both = (bins.join("support-console"), bins.join("support-customer"));
        assert_eq!(binaries(Some(&bins)).expect("dir"), both);
        assert_eq!(
            binaries(Some(&bins.join("support-console"))).expect("file"),
            both
        );
        std::fs::remove_file(bins.join("support-customer")).expect("rm");
        let err = binaries(Some(&bins)).expect_err("customer missing");
        assert!(
            err.to_string().contains("support-customer not found"),
            "{err}"
        );
        let err = binaries(Some(&t.path().join("nowhere"))).expect_err("missing");
        assert!(
            err.to_string().contains("neither a directory nor a file"),
            "{err}"
        );
    }

    #[test]
    fn the_timestamp_is_resigned_at_half_its_validity_with_the_injected_clock() {
        let t = tempfile::tempdir().expect("tmp");
        let (data, bins) = (t.path().join("data"), t.path().join("bins"));
        fake_binaries(&bins);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let e = Expiries::default();
        let v1 = t.path().join("v1.tar.gz");
        build(&data, &bins, "1.0.0", &v1, t0);
        assert!(!resign_if_due(&data, t0, e).expect("nothing yet"));
        publish(&data, &v1, t0, e).expect("publish");
        assert_eq!(timestamp_expires(&data), Some(t0 + e.timestamp));
        let day = Duration::from_secs(86_400);
        assert!(!resign_if_due(&data, t0 + day, e).expect("early"));
        assert!(!resign_if_due(&data, t0 + 3 * day, e).expect("early"));
        let t4 = t0 + 4 * day;
        assert!(resign_if_due(&data, t4, e).expect("due"));
        assert_eq!(timestamp_expires(&data), Some(t4 + e.timestamp));
        assert!(!resign_if_due(&data, t4, e).expect("just done"));
        // Even long after expiry (appliance was stopped), the next check re-signs.
        let late = t4 + 60 * day;
        assert!(resign_if_due(&data, late, e).expect("late"));
        assert_eq!(timestamp_expires(&data), Some(late + e.timestamp));
    }

    #[test]
    fn publish_refuses_older_versions_changed_contents_and_foreign_roots() {
        let t = tempfile::tempdir().expect("tmp");
        let (data, bins) = (t.path().join("data"), t.path().join("bins"));
        fake_binaries(&bins);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let e = Expiries::default();
        let p = |v: &str| t.path().join(format!("{v}.tar.gz"));
        build(&data, &bins, "2.0.0", &p("2.0.0"), now);
        build(&data, &bins, "1.0.0", &p("1.0.0"), now);
        publish(&data, &p("2.0.0"), now, e).expect("publish");
        assert_eq!(
            std::fs::read(download_file(&data, "linux-x86_64")).expect("download"),
            std::fs::read(p("2.0.0")).expect("pkg")
        );
        let err = publish(&data, &p("1.0.0"), now, e).expect_err("older");
        assert!(err.to_string().contains("older than the published 2.0.0"));
        // The same package again is a plain re-signing.
        publish(&data, &p("2.0.0"), now, e).expect("again");
        std::fs::write(bins.join("support-customer"), "#!/bin/sh\necho changed\n").expect("w");
        build(&data, &bins, "2.0.0", &p("2.0.0b"), now);
        let err = publish(&data, &p("2.0.0b"), now, e).expect_err("changed");
        assert!(
            err.to_string()
                .contains("already published with other contents")
        );
        // A package built against another data directory's keys.
        let other = t.path().join("other");
        build(&other, &bins, "3.0.0", &p("3.0.0"), now);
        let err = publish(&data, &p("3.0.0"), now, e).expect_err("foreign");
        assert!(err.to_string().contains("trust root of another"), "{err}");
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(data.join("console-updates/keys/root.pk8"))
                .expect("key")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode, 0o600);
    }
}
