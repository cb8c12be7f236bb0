//! The effects layer: carries an [`InstallPlan`] out on the filesystem, transactionally.
//!
//! Every step records how to undo itself; any failure runs the undo list backwards, so the tree
//! is exactly as before. Program files are staged in `versions/.staging-*`, checked against the
//! manifest, renamed to `versions/<version>`, then the `current` link is switched atomically. A
//! [`Receipt`] in the state directory lists every path the installer created, so
//! [`uninstall`] removes exactly those. One lock file per target (`File::try_lock`) serialises
//! installs, repairs, uninstalls and updates: a second one gets [`InstallError::Busy`] (1618).
//! Writes that would not change anything are skipped, so installing the same package twice
//! leaves every byte (and mtime) as it was.

use crate::exit::InstallError;
use crate::fsutil::{self, VERSION_MANIFEST};
use crate::manifest::PRODUCT;
use crate::package::Package;
use crate::plan::{InstallPlan, Layout, Scope, Settings};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// In the state directory: the directories created to hold it (JSON list of paths).
pub const CREATED_DIRS_FILE: &str = ".created-dirs.json";

/// What kind of thing a receipt entry is, which decides how uninstall removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreatedKind {
    /// A directory, removed only if empty.
    Dir,
    /// A file or symlink.
    File,
    /// A directory tree owned entirely by the installer (`versions/`).
    Tree,
}

/// One path the installer created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// On-disk path.
    pub path: PathBuf,
    /// Kind.
    pub kind: CreatedKind,
}

/// What an installation consists of (`receipt.json` in the state directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always `sesame-console`.
    pub product: String,
    /// Scope.
    pub scope: Scope,
    /// On-disk install directory.
    pub install_dir: PathBuf,
    /// On-disk state directory.
    pub state_dir: PathBuf,
    /// Created paths, in creation order.
    pub created: Vec<Created>,
}

impl Receipt {
    /// Reads the receipt of `layout`, if any.
    pub fn load(layout: &Layout) -> Result<Option<Receipt>, InstallError> {
        let path = layout.receipt_file();
        let Some(bytes) = fsutil::read_optional(&path).map_err(InstallError::io("read", &path))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            InstallError::io("parse", &path)(io::Error::new(io::ErrorKind::InvalidData, e))
        })
    }
}

/// Reads `settings.json` of `layout`, if any.
pub fn load_settings(layout: &Layout) -> Result<Option<Settings>, InstallError> {
    let path = layout.settings_file();
    let Some(bytes) = fsutil::read_optional(&path).map_err(InstallError::io("read", &path))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        InstallError::io("parse", &path)(io::Error::new(io::ErrorKind::InvalidData, e))
    })
}

/// A held install lock; released on drop.
#[derive(Debug)]
pub struct InstallLock {
    file: fs::File,
}

impl InstallLock {
    /// Takes the lock of `layout` without waiting ([`InstallError::Busy`] when held elsewhere).
    /// The install directory must exist.
    pub fn acquire(layout: &Layout) -> Result<InstallLock, InstallError> {
        let path = layout.lock_file();
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(InstallError::io("create the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(InstallLock { file }),
            Err(fs::TryLockError::WouldBlock) => {
                Err(InstallError::Busy(layout.install_dir.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => Err(InstallError::io("lock", &path)(e)),
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

enum Undo {
    RemoveFile(PathBuf),
    RemoveDir(PathBuf),
    RemoveTree(PathBuf),
    Restore(PathBuf, Vec<u8>, u32),
    Relink(PathBuf, Option<PathBuf>),
}

/// A running transaction: an undo list plus the receipt being built.
struct Txn {
    undo: Vec<Undo>,
    created: Vec<Created>,
}

impl Txn {
    fn rollback(&mut self) {
        while let Some(u) = self.undo.pop() {
            let _ = match u {
                Undo::RemoveFile(p) => fs::remove_file(p),
                Undo::RemoveDir(p) => fs::remove_dir(p),
                Undo::RemoveTree(p) => fs::remove_dir_all(p),
                Undo::Restore(p, bytes, mode) => fsutil::atomic_write(&p, &bytes, mode),
                Undo::Relink(p, Some(t)) => fsutil::switch_link(&p, &t),
                Undo::Relink(p, None) => fs::remove_file(p),
            };
        }
    }

    fn record(&mut self, path: &Path, kind: CreatedKind) {
        if !self.created.iter().any(|c| c.path == path) {
            self.created.push(Created {
                path: path.to_path_buf(),
                kind,
            });
        }
    }

    /// `create_dir_all`, recording each level it creates.
    fn mkdirs(&mut self, dir: &Path) -> Result<(), InstallError> {
        let mut missing = Vec::new();
        let mut d = dir;
        while !fsutil::exists(d) {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        for m in missing.into_iter().rev() {
            fs::create_dir(&m).map_err(InstallError::io("create the directory", &m))?;
            self.undo.push(Undo::RemoveDir(m.clone()));
            self.record(&m, CreatedKind::Dir);
        }
        if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Err(InstallError::io("use as a directory", dir)(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        Ok(())
    }

    /// Writes `bytes` to `path` unless it already holds exactly that; undoable.
    fn write(
        &mut self,
        path: &Path,
        bytes: &[u8],
        mode: u32,
        record: bool,
    ) -> Result<bool, InstallError> {
        if let Some(parent) = path.parent() {
            self.mkdirs(parent)?;
        }
        let old = fsutil::read_optional(path).map_err(InstallError::io("read", path))?;
        use std::os::unix::fs::PermissionsExt;
        let old_mode = fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .ok();
        if old.as_deref() == Some(bytes) && old_mode == Some(mode) {
            return Ok(false);
        }
        fsutil::atomic_write(path, bytes, mode).map_err(InstallError::io("write", path))?;
        match old {
            Some(b) => self.undo.push(Undo::Restore(
                path.to_path_buf(),
                b,
                old_mode.unwrap_or(mode),
            )),
            None => {
                self.undo.push(Undo::RemoveFile(path.to_path_buf()));
                if record {
                    self.record(path, CreatedKind::File);
                }
            }
        }
        Ok(true)
    }

    /// Makes `link` a symlink to `target` unless it already is; undoable.
    fn link(&mut self, link: &Path, target: &Path) -> Result<(), InstallError> {
        if let Some(parent) = link.parent() {
            self.mkdirs(parent)?;
        }
        let old = fs::read_link(link).ok();
        if old.as_deref() == Some(target) {
            return Ok(());
        }
        if old.is_none() && fsutil::exists(link) {
            return Err(InstallError::io("replace", link)(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a link is in the way",
            )));
        }
        fsutil::switch_link(link, target).map_err(InstallError::io("create the link", link))?;
        if old.is_none() {
            self.record(link, CreatedKind::File);
        }
        self.undo.push(Undo::Relink(link.to_path_buf(), old));
        Ok(())
    }

    /// Removes a file we created earlier (toggled-off autostart, dropped unit); undoable.
    fn remove_created(&mut self, path: &Path) -> Result<(), InstallError> {
        if let Ok(target) = fs::read_link(path) {
            fs::remove_file(path).map_err(InstallError::io("remove", path))?;
            self.undo
                .push(Undo::Relink(path.to_path_buf(), Some(target)));
        } else if let Some(bytes) =
            fsutil::read_optional(path).map_err(InstallError::io("read", path))?
        {
            fs::remove_file(path).map_err(InstallError::io("remove", path))?;
            self.undo
                .push(Undo::Restore(path.to_path_buf(), bytes, 0o644));
        }
        self.created.retain(|c| c.path != path);
        Ok(())
    }
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First install.
    Installed,
    /// From an older version.
    Upgraded {
        /// The version before.
        from: String,
    },
    /// Same version: files repaired or settings changed.
    Reconfigured,
    /// Nothing to do.
    Unchanged,
}

/// Stages `package` into `versions/<version>` (or reuses an intact one). Returns the version
/// directory and whether it was created. Used by installs and by the update client.
pub(crate) fn stage_version(layout: &Layout, package: &Package) -> io::Result<(PathBuf, bool)> {
    let versions = layout.versions_dir();
    fs::create_dir_all(&versions)?;
    let dir = versions.join(package.manifest.version.to_string());
    if fsutil::exists(&dir) {
        let damaged = fsutil::damaged_files(&dir, &package.manifest);
        for rel in &damaged {
            let f = package
                .manifest
                .file(rel)
                .expect("damaged files come from the manifest");
            fsutil::write_package_file(&dir, rel, &package.files[rel], f.mode)?;
        }
        if fsutil::version_manifest(&dir).as_ref() != Some(&package.manifest) {
            fsutil::atomic_write(
                &dir.join(VERSION_MANIFEST),
                &package.manifest.to_bytes(),
                0o644,
            )?;
        }
        return Ok((dir, false));
    }
    let staging = versions.join(format!(
        ".staging-{}-{}",
        package.manifest.version,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let result = (|| {
        fs::create_dir(&staging)?;
        for f in &package.manifest.files {
            fsutil::write_package_file(&staging, &f.path, &package.files[&f.path], f.mode)?;
        }
        fsutil::atomic_write(
            &staging.join(VERSION_MANIFEST),
            &package.manifest.to_bytes(),
            0o644,
        )?;
        if !fsutil::damaged_files(&staging, &package.manifest).is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "staged files do not match the manifest",
            ));
        }
        for d in walk_dirs(&staging)? {
            fsutil::sync_dir(&d)?;
        }
        fs::rename(&staging, &dir)?;
        fsutil::sync_dir(&versions)
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok((dir, true))
}

fn walk_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in fs::read_dir(&out[i])? {
            let e = e?;
            if e.file_type()?.is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Removes leftovers of interrupted stagings and all but the current and one previous version.
pub(crate) fn prune_versions(layout: &Layout, keep: &[PathBuf]) {
    let Ok(entries) = fs::read_dir(layout.versions_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !keep.contains(&p) {
            let _ = fs::remove_dir_all(&p);
        }
    }
}

/// Installs (or upgrades to, or repairs from) `package` according to `plan`. `new_install_id`
/// is used when no earlier settings exist; `log` receives progress sentences.
pub fn install(
    plan: &InstallPlan,
    package: &Package,
    new_install_id: &str,
    repair: bool,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, InstallError> {
    let layout = &plan.layout;
    let receipt = Receipt::load(layout)?;
    if let Some(r) = &receipt {
        if r.install_dir != layout.install_dir {
            return Err(InstallError::InstalledElsewhere(
                r.install_dir.display().to_string(),
            ));
        }
    } else if repair {
        return Err(InstallError::NotInstalled(
            layout.install_dir.display().to_string(),
        ));
    }
    let mut txn = Txn {
        undo: Vec::new(),
        created: receipt
            .as_ref()
            .map(|r| r.created.clone())
            .unwrap_or_default(),
    };
    let result = install_in(
        &mut txn,
        plan,
        package,
        new_install_id,
        receipt.is_some(),
        log,
    );
    match result {
        Ok(o) => Ok(o),
        Err(e) => {
            log(&format!("rolling back: {e}"));
            txn.rollback();
            Err(e)
        }
    }
}

fn install_in(
    txn: &mut Txn,
    plan: &InstallPlan,
    package: &Package,
    new_install_id: &str,
    had_receipt: bool,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome, InstallError> {
    let layout = &plan.layout;
    txn.mkdirs(&layout.install_dir)?;
    let lock_existed = fsutil::exists(&layout.lock_file());
    let _lock = InstallLock::acquire(layout)?;
    log(&format!(
        "lock acquired on {}",
        layout.install_dir.display()
    ));
    if !lock_existed {
        txn.undo.push(Undo::RemoveFile(layout.lock_file()));
        txn.record(&layout.lock_file(), CreatedKind::File);
    }
    let current = fsutil::current_version_dir(&layout.install_dir);
    let installed = current
        .as_deref()
        .and_then(fsutil::version_manifest)
        .map(|m| m.version);
    let new = package.manifest.version;
    if let Some(old) = installed
        && old > new
    {
        return Err(InstallError::NewerInstalled {
            installed: old.to_string(),
            package: new.to_string(),
        });
    }
    let versions_existed = fsutil::exists(&layout.versions_dir());
    let (dir, created) = stage_version(layout, package).map_err(InstallError::io(
        "stage the program files in",
        &layout.versions_dir(),
    ))?;
    if !versions_existed {
        txn.undo.push(Undo::RemoveTree(layout.versions_dir()));
        txn.record(&layout.versions_dir(), CreatedKind::Tree);
    } else if created {
        txn.undo.push(Undo::RemoveTree(dir.clone()));
    }
    log(&format!(
        "program files of version {new} are in place in {}",
        dir.display()
    ));
    let mut changed = created;
    let rel_target = PathBuf::from("versions").join(new.to_string());
    if fs::read_link(layout.current_link()).ok().as_deref() != Some(rel_target.as_path()) {
        txn.link(&layout.current_link(), &rel_target)?;
        changed = true;
    }
    let state_existed = fsutil::exists(&layout.state_dir);
    txn.mkdirs(&layout.state_dir)?;
    if !state_existed {
        // The state directory outlives the receipt (uninstall keeps the user's data), so the
        // directories made for it are remembered inside it, for `REMOVEDATA=1` later.
        let made: Vec<&PathBuf> = txn
            .created
            .iter()
            .filter(|c| c.kind == CreatedKind::Dir && layout.state_dir.starts_with(&c.path))
            .map(|c| &c.path)
            .collect();
        let bytes = serde_json::to_vec(&made).expect("paths serialise");
        txn.write(
            &layout.state_dir.join(CREATED_DIRS_FILE),
            &bytes,
            0o644,
            false,
        )?;
    }
    let mut settings = plan.settings.clone();
    if settings.install_id.is_empty() {
        settings.install_id = new_install_id.to_string();
    }
    let mut bytes = serde_json::to_vec_pretty(&settings).expect("settings serialise");
    bytes.push(b'\n');
    // Settings are the user's data: not recorded for removal (REMOVEDATA=1 clears the state dir).
    changed |= txn.write(&layout.settings_file(), &bytes, 0o644, false)?;
    let trust = layout.state_dir.join("trust-root.json");
    if !fsutil::exists(&trust) {
        txn.write(&trust, &package.manifest.trust_root_bytes(), 0o644, false)?;
    }
    if let Some(pem) = &package.manifest.relay_ca_pem {
        changed |= txn.write(
            &layout.state_dir.join(crate::update::RELAY_CA_FILE),
            pem.as_bytes(),
            0o644,
            false,
        )?;
    }
    if let Some(t) = &plan.deploy_token {
        changed |= txn.write(
            &layout.state_dir.join(crate::update::DEPLOY_TOKEN_FILE),
            t.expose().as_bytes(),
            0o600,
            false,
        )?;
        log("deploy token stored (mode 0600)");
    }
    match &plan.autostart {
        Some(entry) => {
            changed |= txn.write(&layout.autostart_file, entry.as_bytes(), 0o644, true)?;
            log(&format!(
                "autostart entry {}",
                layout.autostart_file.display()
            ));
        }
        None if txn.created.iter().any(|c| c.path == layout.autostart_file) => {
            txn.remove_created(&layout.autostart_file)?;
            changed = true;
            log("autostart entry removed (RUNATSTARTUP=0)");
        }
        None => {}
    }
    for (link, target) in &plan.links {
        txn.link(link, target)?;
    }
    for (path, contents) in &plan.units {
        changed |= txn.write(path, contents.as_bytes(), 0o644, true)?;
    }
    if let Some((link, target)) = plan.timer_wants_link() {
        txn.link(&link, &target)?;
    }
    if let Some(dir) = &layout.systemd_dir {
        // Units no longer planned (auto-update turned off) go away.
        let stale: Vec<PathBuf> = txn
            .created
            .iter()
            .filter(|c| c.path.starts_with(dir) && c.kind == CreatedKind::File)
            .filter(|c| {
                !plan.units.iter().any(|(p, _)| *p == c.path)
                    && plan.timer_wants_link().map(|l| l.0) != Some(c.path.clone())
            })
            .map(|c| c.path.clone())
            .collect();
        for p in stale {
            txn.remove_created(&p)?;
            changed = true;
        }
    }
    for note in &plan.notes {
        log(note);
    }
    let receipt = Receipt {
        product: PRODUCT.into(),
        scope: layout.scope,
        install_dir: layout.install_dir.clone(),
        state_dir: layout.state_dir.clone(),
        created: txn.created.clone(),
    };
    let mut rbytes = serde_json::to_vec_pretty(&receipt).expect("receipt serialises");
    rbytes.push(b'\n');
    txn.write(&layout.receipt_file(), &rbytes, 0o644, false)?;
    // Committed: drop older versions (keep the current and the one it replaced).
    let mut keep = vec![dir.clone()];
    if let Some(c) = &current {
        keep.push(if c.is_absolute() {
            c.clone()
        } else {
            layout.install_dir.join(c)
        });
    }
    prune_versions(layout, &keep);
    Ok(match installed {
        None if !had_receipt => Outcome::Installed,
        Some(old) if old < new => Outcome::Upgraded {
            from: old.to_string(),
        },
        _ if changed => Outcome::Reconfigured,
        _ => Outcome::Unchanged,
    })
}

/// Removes what the receipt lists (and, with `remove_data`, the state directory).
pub fn uninstall(
    layout: &Layout,
    remove_data: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(), InstallError> {
    let Some(receipt) = Receipt::load(layout)? else {
        return Err(InstallError::NotInstalled(
            layout.install_dir.display().to_string(),
        ));
    };
    let lock = if fsutil::exists(&receipt.install_dir) {
        Some(InstallLock::acquire(layout)?)
    } else {
        None
    };
    let mut dirs = Vec::new();
    for c in receipt.created.iter().rev() {
        let r = match c.kind {
            CreatedKind::File => fs::remove_file(&c.path),
            CreatedKind::Tree => fs::remove_dir_all(&c.path),
            CreatedKind::Dir => {
                dirs.push(c.path.clone());
                Ok(())
            }
        };
        match r {
            Ok(()) => log(&format!("removed {}", c.path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(InstallError::io("remove", &c.path)(e)),
        }
    }
    fs::remove_file(layout.receipt_file())
        .map_err(InstallError::io("remove", &layout.receipt_file()))?;
    if remove_data {
        let made: Vec<PathBuf> = fs::read(layout.state_dir.join(CREATED_DIRS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        dirs.extend(
            made.into_iter()
                .filter(|d| layout.state_dir.starts_with(d) && *d != layout.state_dir),
        );
        match fs::remove_dir_all(&layout.state_dir) {
            Ok(()) => log(&format!(
                "removed settings and tokens in {}",
                layout.state_dir.display()
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(InstallError::io("remove", &layout.state_dir)(e)),
        }
    } else {
        log(&format!(
            "kept settings and tokens in {} (REMOVEDATA=1 removes them)",
            layout.state_dir.display()
        ));
    }
    drop(lock);
    // Directories we created, deepest first; those still holding something (the user's data,
    // files of others) stay.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        if fs::remove_dir(&d).is_ok() {
            log(&format!("removed {}", d.display()));
        }
    }
    Ok(())
}
