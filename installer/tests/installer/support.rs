//! Shared fixtures: stand-in console packages, a temp world, tree snapshots, process runners.

use installer::package::{self, PackageSpec, SourceFile};
use installer::repo::{Expiries, Repository};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// The real clock: tough checks metadata expiry against it, so publishing uses it too.
#[allow(
    clippy::disallowed_methods,
    reason = "TUF expiry is checked by tough against the real clock"
)]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// A temporary world: a HOME, an install root, a place for packages and logs outside both.
pub(crate) struct World {
    _tmp: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) repo: Repository,
    pub(crate) update_url: String,
    pub(crate) relay_ca_pem: Option<String>,
}

impl World {
    pub(crate) fn new() -> World {
        Self::with_update_url("https://localhost:1/updates/", None)
    }

    pub(crate) fn with_update_url(update_url: &str, relay_ca_pem: Option<&str>) -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let root = tmp.path().join("root");
        let work = tmp.path().join("work");
        for d in [&home, &root, &work] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let repo = Repository::create(&work.join("updates-repo"), now(), Expiries::default())
            .expect("repository");
        World {
            _tmp: tmp,
            home,
            root,
            work,
            repo,
            update_url: update_url.into(),
            relay_ca_pem: relay_ca_pem.map(String::from),
        }
    }

    /// A package whose console answers `--version` with `version` (a stand-in: the installer
    /// treats binaries as opaque files; the real console is packaged once it exists).
    pub(crate) fn package(&self, version: &str) -> PathBuf {
        self.package_with(
            version,
            &format!("#!/bin/sh\necho \"support-console {version}\"\n"),
        )
    }

    pub(crate) fn package_with(&self, version: &str, console_script: &str) -> PathBuf {
        let spec = PackageSpec {
            version: version.parse().expect("version"),
            platform: installer::manifest::PLATFORM_LINUX_X86_64.into(),
            relay_url: "https://relay.test:8443/".into(),
            update_url: self.update_url.clone(),
            trust_root: self.repo.root_json().expect("root"),
            relay_ca_pem: self.relay_ca_pem.clone(),
            files: vec![
                SourceFile {
                    path: "bin/support-console".into(),
                    mode: 0o755,
                    contents: console_script.as_bytes().to_vec(),
                },
                SourceFile {
                    path: "bin/support-customer".into(),
                    mode: 0o755,
                    contents: format!("#!/bin/sh\necho \"support-customer {version}\"\n")
                        .into_bytes(),
                },
                SourceFile {
                    path: "share/doc/README".into(),
                    mode: 0o644,
                    contents: format!("console {version}\n").into_bytes(),
                },
            ],
        };
        let out = self.work.join(format!(
            "sesame-console-{version}-{}.tar.gz",
            console_script.len()
        ));
        package::build_to_file(&spec, &out).expect("package");
        out
    }

    /// The installer with a clean environment: only PATH, HOME and what `extra` adds.
    pub(crate) fn installer(&self, args: &[&str], extra: &[(&str, &Path)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_installer"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home);
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.installer(args, &[]).output().expect("run installer")
    }

    pub(crate) fn run_root(&self, args: &[&str]) -> Output {
        self.installer(args, &[("SESAME_INSTALL_ROOT", &self.root)])
            .output()
            .expect("run installer")
    }

    pub(crate) fn default_install_dir(&self) -> PathBuf {
        self.home.join(".local/share/sesame-console")
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.home.join(".local/state/sesame-console")
    }
}

/// The exit status as the shell sees it.
pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// What the shell sees of an msiexec code: its low byte (a Unix exit status has 8 bits).
pub(crate) fn msi(code: i32) -> i32 {
    code & 0xff
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
pub(crate) fn assert_ok(o: &Output) {
    assert_eq!(code(o), 0, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
}

/// A recursive listing: path → kind, mode, size and SHA-256 (files) or target (links), plus
/// the modification time when `with_mtime`.
pub(crate) fn snapshot(dir: &Path, with_mtime: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, with_mtime, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, with_mtime: bool, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.expect("entry");
        let p = e.path();
        let rel = p.strip_prefix(base).expect("inside").display().to_string();
        let m = std::fs::symlink_metadata(&p).expect("metadata");
        let mtime = if with_mtime {
            format!(" mtime={:?}", m.modified().ok())
        } else {
            String::new()
        };
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            out.insert(
                rel,
                format!(
                    "link -> {}",
                    std::fs::read_link(&p).expect("link").display()
                ),
            );
        } else if m.is_dir() {
            out.insert(rel, format!("dir {mode:o}{mtime}"));
            walk(base, &p, with_mtime, out);
        } else {
            let bytes = std::fs::read(&p).expect("read");
            out.insert(
                rel,
                format!(
                    "file {mode:o} {} {}{mtime}",
                    bytes.len(),
                    installer::manifest::sha256_hex(&bytes)
                ),
            );
        }
    }
}

/// Runs a console binary and returns its `--version` output.
pub(crate) fn console_version(exe: &Path) -> String {
    let o = Command::new(exe)
        .arg("--version")
        .output()
        .expect("run console");
    assert!(o.status.success(), "{} did not start", exe.display());
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
