//! Small durable filesystem steps: atomic writes, directory fsync, atomic symlink switch,
//! and verification of a version directory against its manifest.

use crate::manifest::{Manifest, sha256_hex};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Hidden file inside each version directory holding its manifest (package paths never start
/// with a dot, so it cannot collide).
pub const VERSION_MANIFEST: &str = ".sesame-manifest.json";

/// fsyncs a directory so renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync dir) with `mode`.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Points the symlink `link` at `target` atomically (new link beside it, then rename over).
pub fn switch_link(link: &Path, target: &Path) -> io::Result<()> {
    let dir = parent(link);
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.new-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = fs::rename(&tmp, link) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Whether `path` exists without following a final symlink.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Reads a file if it exists (`Ok(None)` when it does not).
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Files of `dir` that are missing, altered or have the wrong mode compared with `manifest`.
pub fn damaged_files(dir: &Path, manifest: &Manifest) -> Vec<String> {
    manifest
        .files
        .iter()
        .filter(|f| {
            let p = dir.join(&f.path);
            let ok = fs::symlink_metadata(&p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == f.mode)
                && fs::read(&p)
                    .is_ok_and(|b| b.len() as u64 == f.size && sha256_hex(&b) == f.sha256);
            !ok
        })
        .map(|f| f.path.clone())
        .collect()
}

/// Writes one package file into `dir` (creating parents), fsync'ed, atomically replaced.
pub fn write_package_file(dir: &Path, rel: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let path = dir.join(rel);
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    atomic_write(&path, bytes, mode)
}

/// The target of the `current` link as a version directory path, if it is one.
pub fn current_version_dir(install_dir: &Path) -> Option<PathBuf> {
    let t = fs::read_link(install_dir.join("current")).ok()?;
    Some(if t.is_absolute() {
        t
    } else {
        install_dir.join(t)
    })
}

/// Reads the manifest kept in a version directory.
pub fn version_manifest(version_dir: &Path) -> Option<Manifest> {
    let bytes = fs::read(version_dir.join(VERSION_MANIFEST)).ok()?;
    Manifest::parse(&bytes).ok()
}
