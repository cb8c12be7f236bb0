//! The server side of signed updates: a TUF repository of console packages, signed with `tough`.
//!
//! Layout of a repository directory (in production `<data-dir>/console-updates/`):
//! ```text
//! keys/root.pk8 keys/targets.pk8 keys/snapshot.pk8 keys/timestamp.pk8   Ed25519, PKCS#8, 0600
//! repository/N.root.json N.targets.json N.snapshot.json timestamp.json  served as the update URL
//! repository/targets/<sha256>.sesame-console-<version>-<platform>.tar.gz
//! ```
//! [`Repository::create`] makes the keys and root version 1; [`Repository::root_json`] is the
//! trust root every package carries; [`Repository::publish`] makes a package the one current
//! target (per platform) and re-signs targets, snapshot and timestamp with fresh versions and
//! the configured expiries; [`Repository::rotate_keys`] replaces every key and signs the new
//! root with both the old and the new root key, so consoles follow the rotation by themselves.
//! Time is an argument (`now`). This is what `sesame admin console publish` will call.

use crate::package::Package;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};
use tough::sign::{Sign, parse_keypair};

/// The roles, each with its own key file.
const ROLES: [(RoleType, &str); 4] = [
    (RoleType::Root, "root"),
    (RoleType::Targets, "targets"),
    (RoleType::Snapshot, "snapshot"),
    (RoleType::Timestamp, "timestamp"),
];

/// How long each role's signature stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    /// Root (default 10 years: the trust anchor in every package).
    pub root: Duration,
    /// Targets and snapshot (default 1 year).
    pub targets: Duration,
    /// Timestamp (default 7 days; `[updates] timestamp_expiry`, while `targets` is
    /// `[updates] metadata_expiry`). A console refuses metadata
    /// whose timestamp has expired, so the server must re-sign before then (a freeze attack
    /// cannot last longer than this).
    pub timestamp: Duration,
}

impl Default for Expiries {
    fn default() -> Self {
        Expiries {
            root: Duration::from_secs(10 * 365 * 86_400),
            targets: Duration::from_secs(365 * 86_400),
            timestamp: Duration::from_secs(7 * 86_400),
        }
    }
}

/// A repository failure.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Filesystem.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What.
        action: &'static str,
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Keys or metadata in the directory are not usable.
    #[error("the update repository in {0} is not usable: {1}")]
    Invalid(String, String),
    /// `create` on a directory that already holds a repository.
    #[error("an update repository already exists in {0}")]
    Exists(String),
    /// The package to publish is not a valid package.
    #[error("the package cannot be published: {0}")]
    Package(#[from] crate::package::PackageError),
    /// tough refused to sign.
    #[error("signing the update metadata failed: {0}")]
    Sign(String),
    /// A time outside what metadata can express.
    #[error("the time {0:?} cannot be written in update metadata")]
    Time(SystemTime),
}

/// An update repository on disk.
#[derive(Debug, Clone)]
pub struct Repository {
    dir: PathBuf,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RepoError {
    let path = path.display().to_string();
    move |source| RepoError::Io {
        action,
        path,
        source,
    }
}

fn ts(t: SystemTime) -> Result<jiff::Timestamp, RepoError> {
    jiff::Timestamp::try_from(t).map_err(|_| RepoError::Time(t))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds")
}

impl Repository {
    /// Opens an existing repository directory.
    pub fn open(dir: &Path) -> Result<Repository, RepoError> {
        let r = Repository {
            dir: dir.to_path_buf(),
        };
        if !r.key_path("root").exists() {
            return Err(RepoError::Invalid(
                dir.display().to_string(),
                "no keys/root.pk8".into(),
            ));
        }
        Ok(r)
    }

    /// Creates keys (0600) and a signed root (version 1) in `dir`.
    pub fn create(
        dir: &Path,
        now: SystemTime,
        expiries: Expiries,
    ) -> Result<Repository, RepoError> {
        let r = Repository {
            dir: dir.to_path_buf(),
        };
        if r.key_path("root").exists() {
            return Err(RepoError::Exists(dir.display().to_string()));
        }
        let keys = r.dir.join("keys");
        std::fs::create_dir_all(&keys).map_err(io("create", &keys))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restrict", &keys))?;
        for (_, name) in ROLES {
            r.write_new_key(&r.key_path(name))?;
        }
        runtime().block_on(r.sign_root(NonZeroU64::MIN, now, expiries, &[]))?;
        Ok(r)
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{name}.pk8"))
    }

    /// The directory served at the update URL.
    pub fn served_dir(&self) -> PathBuf {
        self.dir.join("repository")
    }

    fn write_new_key(&self, path: &Path) -> Result<(), RepoError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| RepoError::Sign(e.to_string()))?;
        crate::fsutil::atomic_write(path, doc.as_ref(), 0o600).map_err(io("write the key", path))
    }

    /// Signs root `version` with the current key files (plus `extra_signers`, the old root key
    /// during a rotation) and writes `N.root.json`.
    async fn sign_root(
        &self,
        version: NonZeroU64,
        now: SystemTime,
        expiries: Expiries,
        extra_signers: &[PathBuf],
    ) -> Result<Vec<u8>, RepoError> {
        let mut root = Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version,
            expires: ts(now + expiries.root)?,
            keys: HashMap::new(),
            roles: HashMap::new(),
            _extra: HashMap::new(),
        };
        for (role, name) in ROLES {
            let path = self.key_path(name);
            let der = std::fs::read(&path).map_err(io("read the key", &path))?;
            let pair = parse_keypair(&der)
                .map_err(|e| RepoError::Invalid(path.display().to_string(), e.to_string()))?;
            let key = pair.tuf_key();
            let id = key.key_id().map_err(|e| RepoError::Sign(e.to_string()))?;
            root.keys.insert(id.clone(), key);
            root.roles.insert(
                role,
                RoleKeys {
                    keyids: vec![id],
                    threshold: NonZeroU64::MIN,
                    _extra: HashMap::new(),
                },
            );
        }
        let mut signers: Vec<Box<dyn KeySource>> = vec![Box::new(LocalKeySource {
            path: self.key_path("root"),
        })];
        for p in extra_signers {
            signers.push(Box::new(LocalKeySource { path: p.clone() }));
        }
        // Old root keys are not in the new root's key list: sign with each holder separately
        // and merge, as TUF's root rotation requires (new root signed by old and new keys).
        let holder = KeyHolder::Root(root.clone());
        let mut signed =
            SignedRole::new(root.clone(), &holder, &signers[..1], &SystemRandom::new())
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
        for extra in &signers[1..] {
            let mut old_root = root.clone();
            let pair = extra
                .as_sign()
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            let key = pair.tuf_key();
            let id = key.key_id().map_err(|e| RepoError::Sign(e.to_string()))?;
            old_root.keys.insert(id.clone(), key);
            old_root.roles.insert(
                RoleType::Root,
                RoleKeys {
                    keyids: vec![id],
                    threshold: NonZeroU64::MIN,
                    _extra: HashMap::new(),
                },
            );
            let by_old = SignedRole::new(
                root.clone(),
                &KeyHolder::Root(old_root),
                std::slice::from_ref(extra),
                &SystemRandom::new(),
            )
            .await
            .map_err(|e| RepoError::Sign(e.to_string()))?;
            signed = signed
                .add_old_signatures(by_old.signed().signatures.clone())
                .map_err(|e| RepoError::Sign(e.to_string()))?;
        }
        let served = self.served_dir();
        signed
            .write(&served, true)
            .await
            .map_err(|e| RepoError::Sign(e.to_string()))?;
        let latest = self.dir.join("root.json");
        crate::fsutil::atomic_write(&latest, signed.buffer(), 0o644)
            .map_err(io("write", &latest))?;
        Ok(signed.buffer().clone())
    }

    /// The current signed `root.json`, as packages carry it.
    pub fn root_json(&self) -> Result<serde_json::Value, RepoError> {
        let p = self.dir.join("root.json");
        let bytes = std::fs::read(&p).map_err(io("read", &p))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RepoError::Invalid(p.display().to_string(), e.to_string()))
    }

    fn root_version(&self) -> Result<u64, RepoError> {
        self.root_json()?
            .pointer("/signed/version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                RepoError::Invalid(
                    self.dir.display().to_string(),
                    "root.json has no version".into(),
                )
            })
    }

    /// The version of the last signed targets/snapshot/timestamp set (0 before the first
    /// publish), kept outside the served directory so nothing served can lower it.
    fn last_metadata_version(&self) -> u64 {
        let kept = std::fs::read_to_string(self.dir.join("metadata-version"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let served = std::fs::read(self.served_dir().join("timestamp.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.pointer("/signed/version").and_then(|v| v.as_u64()));
        kept.unwrap_or(0).max(served.unwrap_or(0))
    }

    /// Makes `package_file` the current target for its platform and re-signs the metadata.
    /// Returns the target name.
    pub fn publish(
        &self,
        package_file: &Path,
        now: SystemTime,
        expiries: Expiries,
    ) -> Result<String, RepoError> {
        let package = Package::from_file(package_file)?;
        let m = &package.manifest;
        let name = format!("sesame-console-{}-{}.tar.gz", m.version, m.platform);
        runtime().block_on(async {
            let root_path = self
                .served_dir()
                .join(format!("{}.root.json", self.root_version()?));
            let mut editor = RepositoryEditor::new(&root_path)
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            let (_, mut target) = RepositoryEditor::build_target(package_file)
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            target
                .custom
                .insert("version".into(), m.version.to_string().into());
            target
                .custom
                .insert("platform".into(), m.platform.clone().into());
            editor
                .add_target(name.as_str(), target)
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            let v = NonZeroU64::new(self.last_metadata_version() + 1).expect("n + 1 is never 0");
            let targets_expires = ts(now + expiries.targets)?;
            editor
                .targets_version(v)
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            editor
                .targets_expires(targets_expires)
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            editor
                .snapshot_version(v)
                .snapshot_expires(ts(now + expiries.targets)?)
                .timestamp_version(v)
                .timestamp_expires(ts(now + expiries.timestamp)?);
            let keys: Vec<Box<dyn KeySource>> = ["targets", "snapshot", "timestamp"]
                .iter()
                .map(|n| {
                    Box::new(LocalKeySource {
                        path: self.key_path(n),
                    }) as Box<dyn KeySource>
                })
                .collect();
            let signed = editor
                .sign(&keys)
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            let targets_dir = self.served_dir().join("targets");
            std::fs::create_dir_all(&targets_dir).map_err(io("create", &targets_dir))?;
            let target_name = tough::TargetName::new(name.as_str())
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            signed
                .copy_target(
                    package_file,
                    &targets_dir,
                    PathExists::Skip,
                    Some(&target_name),
                )
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            // Targets first, then snapshot, then timestamp (written last by tough): a console
            // fetching meanwhile sees either the old or the new consistent set.
            signed
                .write(self.served_dir())
                .await
                .map_err(|e| RepoError::Sign(e.to_string()))?;
            let kept = self.dir.join("metadata-version");
            crate::fsutil::atomic_write(&kept, format!("{v}\n").as_bytes(), 0o644)
                .map_err(io("write", &kept))?;
            Ok::<_, RepoError>(())
        })?;
        Ok(name)
    }

    /// Replaces every signing key; the new root (version N+1) is signed by the old and the new
    /// root key. Publish again afterwards so targets, snapshot and timestamp carry the new keys.
    pub fn rotate_keys(&self, now: SystemTime, expiries: Expiries) -> Result<(), RepoError> {
        let next = NonZeroU64::new(self.root_version()? + 1).expect("n + 1 is never 0");
        let old_root = self
            .dir
            .join("keys")
            .join(format!("root.{}.pk8", next.get() - 1));
        std::fs::rename(self.key_path("root"), &old_root)
            .map_err(io("keep the old root key as", &old_root))?;
        for (_, name) in ROLES {
            self.write_new_key(&self.key_path(name))?;
        }
        runtime().block_on(self.sign_root(next, now, expiries, &[old_root]))?;
        Ok(())
    }
}
