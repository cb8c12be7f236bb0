//! Console packages: a gzip'd tar holding `manifest.json` first, then each file under `files/`.
//!
//! [`build`] writes a deterministic package (sorted entries, zero mtimes and owners) from a
//! [`PackageSpec`]; it is what `sesame admin console package` calls. [`Package::from_bytes`]
//! reads one strictly, entirely in memory and within [`Limits`]: the manifest must come first and
//! parse ([`Manifest::parse`]); every other entry must be a regular file `files/<path>` listed in
//! the manifest, once, with the listed size and SHA-256; links, directories, devices, traversal,
//! duplicates, unlisted or missing files and oversized contents are refused. Nothing here writes
//! to disk except [`build_to_file`].

use crate::manifest::{self, FileEntry, Manifest, ManifestError};
use crate::version::Version;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// Name of the manifest entry (always the first entry).
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Prefix of every file entry.
pub const FILES_PREFIX: &str = "files/";

/// Size limits applied while reading a package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest compressed package accepted.
    pub max_package_bytes: u64,
    /// Largest total of uncompressed file contents.
    pub max_unpacked_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_package_bytes: 256 << 20,
            max_unpacked_bytes: 512 << 20,
        }
    }
}

/// Why a package could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a gzip'd tar, or truncated.
    #[error("the package is not a readable archive: {0}")]
    Archive(String),
    /// Over a [`Limits`] bound.
    #[error("the package is larger than the allowed {0} bytes")]
    TooLarge(u64),
    /// The first entry is not `manifest.json`.
    #[error("the package does not start with manifest.json")]
    ManifestNotFirst,
    /// The manifest itself is refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A symlink, hard link, directory, device or other non-regular entry.
    #[error("the package entry \"{0}\" is not a regular file")]
    NotRegularFile(String),
    /// An entry outside `files/`, or with an unsafe path.
    #[error("the package entry \"{0}\" has an unsafe or unexpected path")]
    UnsafeEntry(String),
    /// The same entry twice.
    #[error("the package entry \"{0}\" appears twice")]
    DuplicateEntry(String),
    /// A file not listed in the manifest.
    #[error("the package entry \"{0}\" is not listed in the manifest")]
    Unlisted(String),
    /// A listed file that is not in the archive.
    #[error("the file \"{0}\" listed in the manifest is missing from the package")]
    Missing(String),
    /// Contents differ from the manifest's size or SHA-256.
    #[error("the file \"{0}\" does not match its SHA-256 in the manifest")]
    HashMismatch(String),
    /// Reading a source file or writing the package failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// On which path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A package read and verified in memory.
#[derive(Debug, Clone)]
pub struct Package {
    /// Its manifest.
    pub manifest: Manifest,
    /// File contents by relative path, each verified against the manifest.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// One file to put into a package.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative path inside the package (e.g. `bin/support-console`).
    pub path: String,
    /// `0o755` or `0o644`.
    pub mode: u32,
    /// Contents.
    pub contents: Vec<u8>,
}

impl SourceFile {
    /// Reads `source` from disk as `path`, executable when `executable`.
    pub fn from_disk(
        path: &str,
        source: &Path,
        executable: bool,
    ) -> Result<SourceFile, PackageError> {
        let contents = std::fs::read(source).map_err(|e| PackageError::Io {
            action: "read",
            path: source.display().to_string(),
            source: e,
        })?;
        Ok(SourceFile {
            path: path.into(),
            mode: if executable { 0o755 } else { 0o644 },
            contents,
        })
    }
}

/// What [`build`] needs.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    /// Console version.
    pub version: Version,
    /// Platform, e.g. [`manifest::PLATFORM_LINUX_X86_64`].
    pub platform: String,
    /// Relay URL for the console.
    pub relay_url: String,
    /// TUF repository base URL.
    pub update_url: String,
    /// The signed TUF `root.json` (see [`crate::repo::Repository::root_json`]).
    pub trust_root: serde_json::Value,
    /// The appliance's certificate (PEM) when it is self-signed.
    pub relay_ca_pem: Option<String>,
    /// The files (must include [`manifest::REQUIRED_BINARIES`]).
    pub files: Vec<SourceFile>,
}

/// Builds a package in memory; the manifest is validated as a reader would.
pub fn build(spec: &PackageSpec) -> Result<Vec<u8>, PackageError> {
    let mut files: Vec<&SourceFile> = spec.files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        format: manifest::FORMAT,
        product: manifest::PRODUCT.into(),
        version: spec.version,
        platform: spec.platform.clone(),
        relay_url: spec.relay_url.clone(),
        update_url: spec.update_url.clone(),
        trust_root: spec.trust_root.clone(),
        relay_ca_pem: spec.relay_ca_pem.clone(),
        files: files
            .iter()
            .map(|f| FileEntry {
                path: f.path.clone(),
                size: f.contents.len() as u64,
                sha256: manifest::sha256_hex(&f.contents),
                mode: f.mode,
            })
            .collect(),
    };
    manifest.validate()?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let io = |e: std::io::Error| PackageError::Archive(e.to_string());
    append(&mut tar, MANIFEST_ENTRY, 0o644, &manifest.to_bytes()).map_err(io)?;
    for f in files {
        append(
            &mut tar,
            &format!("{FILES_PREFIX}{}", f.path),
            f.mode,
            &f.contents,
        )
        .map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    gz.finish().map_err(io)
}

/// Builds a package and writes it to `out` (fsync'ed, then renamed into place).
pub fn build_to_file(spec: &PackageSpec, out: &Path) -> Result<(), PackageError> {
    let bytes = build(spec)?;
    let io = |action, e| PackageError::Io {
        action,
        path: out.display().to_string(),
        source: e,
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| io("create a file beside", e))?;
    tmp.write_all(&bytes).map_err(|e| io("write", e))?;
    tmp.as_file().sync_all().map_err(|e| io("sync", e))?;
    tmp.persist(out).map_err(|e| io("rename into", e.error))?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, path, data)
}

impl Package {
    /// Reads and verifies a package with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Package, PackageError> {
        Package::from_bytes_with(bytes, Limits::default())
    }

    /// Reads a package file from disk (bounded by `limits.max_package_bytes`).
    pub fn from_file(path: &Path) -> Result<Package, PackageError> {
        let limits = Limits::default();
        let f = std::fs::File::open(path).map_err(|e| PackageError::Io {
            action: "open",
            path: path.display().to_string(),
            source: e,
        })?;
        let mut bytes = Vec::new();
        f.take(limits.max_package_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| PackageError::Io {
                action: "read",
                path: path.display().to_string(),
                source: e,
            })?;
        Package::from_bytes_with(&bytes, limits)
    }

    /// Reads and verifies a package within `limits`.
    pub fn from_bytes_with(bytes: &[u8], limits: Limits) -> Result<Package, PackageError> {
        if bytes.len() as u64 > limits.max_package_bytes {
            return Err(PackageError::TooLarge(limits.max_package_bytes));
        }
        // Header blocks count too: bound the whole decompressed stream.
        let budget =
            limits.max_unpacked_bytes + 1024 * (manifest::MAX_FILES as u64 + 8) + (1 << 21);
        let gz = flate2::read::GzDecoder::new(bytes).take(budget);
        let mut archive = tar::Archive::new(gz);
        let arch = |e: std::io::Error| PackageError::Archive(e.to_string());
        let mut entries = archive.entries().map_err(arch)?;
        let mut manifest: Option<Manifest> = None;
        let mut files = BTreeMap::new();
        let mut total: u64 = 0;
        for entry in entries.by_ref() {
            let mut entry = entry.map_err(arch)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name_short: String = name.chars().take(80).collect();
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(PackageError::NotRegularFile(name_short));
            }
            let Some(m) = &manifest else {
                if name != MANIFEST_ENTRY {
                    return Err(PackageError::ManifestNotFirst);
                }
                if entry.size() > manifest::MAX_MANIFEST_BYTES as u64 {
                    return Err(ManifestError::TooLarge.into());
                }
                let mut buf = Vec::new();
                (&mut entry)
                    .take(manifest::MAX_MANIFEST_BYTES as u64 + 1)
                    .read_to_end(&mut buf)
                    .map_err(arch)?;
                manifest = Some(Manifest::parse(&buf)?);
                continue;
            };
            if name == MANIFEST_ENTRY {
                return Err(PackageError::DuplicateEntry(name_short));
            }
            let rel = name
                .strip_prefix(FILES_PREFIX)
                .filter(|r| manifest::check_path(r).is_ok())
                .ok_or_else(|| PackageError::UnsafeEntry(name_short.clone()))?;
            if files.contains_key(rel) {
                return Err(PackageError::DuplicateEntry(name_short));
            }
            let listed = m
                .file(rel)
                .ok_or_else(|| PackageError::Unlisted(name_short.clone()))?;
            if entry.size() != listed.size {
                return Err(PackageError::HashMismatch(rel.into()));
            }
            total = total.saturating_add(listed.size);
            if total > limits.max_unpacked_bytes {
                return Err(PackageError::TooLarge(limits.max_unpacked_bytes));
            }
            let mut buf =
                Vec::with_capacity(usize::try_from(listed.size.min(1 << 20)).unwrap_or(0));
            (&mut entry)
                .take(listed.size + 1)
                .read_to_end(&mut buf)
                .map_err(arch)?;
            if buf.len() as u64 != listed.size || manifest::sha256_hex(&buf) != listed.sha256 {
                return Err(PackageError::HashMismatch(rel.into()));
            }
            files.insert(rel.to_string(), buf);
        }
        // Read to the end of the gzip stream so its CRC and length are checked too.
        let mut rest = archive.into_inner();
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(arch)?;
        let manifest = manifest.ok_or(PackageError::ManifestNotFirst)?;
        if let Some(missing) = manifest.files.iter().find(|f| !files.contains_key(&f.path)) {
            return Err(PackageError::Missing(missing.path.clone()));
        }
        Ok(Package { manifest, files })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn spec(version: &str) -> PackageSpec {
        let script = format!("#!/bin/sh\necho \"support-console {version}\"\n").into_bytes();
        PackageSpec {
            version: version.parse().expect("valid"),
            platform: manifest::PLATFORM_LINUX_X86_64.into(),
            relay_url: "https://127.0.0.1:9443/".into(),
            update_url: "https://127.0.0.1:9443/updates/".into(),
            trust_root: serde_json::json!({"signed": {"_type": "root"}, "signatures": []}),
            relay_ca_pem: None,
            files: vec![
                SourceFile {
                    path: "bin/support-console".into(),
                    mode: 0o755,
                    contents: script.clone(),
                },
                SourceFile {
                    path: "bin/support-customer".into(),
                    mode: 0o755,
                    contents: script,
                },
                SourceFile {
                    path: "share/README".into(),
                    mode: 0o644,
                    contents: b"hello".to_vec(),
                },
            ],
        }
    }

    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                tar.append_link(&mut h, path, "/etc/passwd").expect("link");
            } else {
                // set_path refuses `..`; write the raw name to test the reader, not the writer.
                let name = h.as_old_mut().name.as_mut();
                name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                tar.append(&h, *data).expect("append");
            }
        }
        tar.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn build_then_read_round_trips_and_is_deterministic() {
        let s = spec("1.2.3");
        let a = build(&s).expect("build");
        assert_eq!(a, build(&s).expect("build"), "same input, same bytes");
        let p = Package::from_bytes(&a).expect("read");
        assert_eq!(p.manifest.version.to_string(), "1.2.3");
        assert_eq!(p.files.len(), 3);
        assert_eq!(p.files["share/README"], b"hello");
    }

    #[test]
    fn refuses_hostile_archives() {
        let good = build(&spec("1.0.0")).expect("build");
        let p = Package::from_bytes(&good).expect("read");
        let manifest = p.manifest.to_bytes();
        let console = p.files["bin/support-console"].clone();
        let customer = p.files["bin/support-customer"].clone();
        let readme = p.files["share/README"].clone();
        use tar::EntryType::{Regular, Symlink};
        let ok_tail: Vec<(&str, tar::EntryType, &[u8])> = vec![
            ("files/bin/support-console", Regular, &console),
            ("files/bin/support-customer", Regular, &customer),
            ("files/share/README", Regular, &readme),
        ];
        let with = |extra: Vec<(&str, tar::EntryType, &[u8])>| {
            let mut v: Vec<(&str, tar::EntryType, &[u8])> =
                vec![("manifest.json", Regular, &manifest)];
            v.extend(extra);
            raw_tar(&v)
        };
        assert!(Package::from_bytes(&with(ok_tail.clone())).is_ok());
        let mut dup = ok_tail.clone();
        dup.push(("files/share/README", Regular, &readme));
        assert!(matches!(
            Package::from_bytes(&with(dup)),
            Err(PackageError::DuplicateEntry(_))
        ));
        let mut trav = ok_tail.clone();
        trav.push(("files/../../etc/x", Regular, b"x"));
        assert!(matches!(
            Package::from_bytes(&with(trav)),
            Err(PackageError::UnsafeEntry(_))
        ));
        let mut link = ok_tail.clone();
        link.push(("files/share/link", Symlink, b""));
        assert!(matches!(
            Package::from_bytes(&with(link)),
            Err(PackageError::NotRegularFile(_))
        ));
        let mut unlisted = ok_tail.clone();
        unlisted.push(("files/share/other", Regular, b"x"));
        assert!(matches!(
            Package::from_bytes(&with(unlisted)),
            Err(PackageError::Unlisted(_))
        ));
        let missing = ok_tail[..2].to_vec();
        assert!(matches!(
            Package::from_bytes(&with(missing)),
            Err(PackageError::Missing(_))
        ));
        let mut altered = ok_tail.clone();
        altered[2] = ("files/share/README", Regular, b"HELLO");
        assert!(matches!(
            Package::from_bytes(&with(altered)),
            Err(PackageError::HashMismatch(_))
        ));
        let not_first = raw_tar(&[
            ("files/share/README", Regular, &readme),
            ("manifest.json", Regular, &manifest),
        ]);
        assert!(matches!(
            Package::from_bytes(&not_first),
            Err(PackageError::ManifestNotFirst)
        ));
        let small = Limits {
            max_package_bytes: 1 << 20,
            max_unpacked_bytes: 4,
        };
        assert!(matches!(
            Package::from_bytes_with(&good, small),
            Err(PackageError::TooLarge(_))
        ));
        for cut in [0, 1, 10, good.len() / 2, good.len() - 1] {
            assert!(
                Package::from_bytes(&good[..cut]).is_err(),
                "truncation at {cut} accepted"
            );
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn file() -> impl Strategy<Value = SourceFile> {
            (
                proptest::collection::vec("[a-z0-9_-][a-z0-9._-]{0,10}", 1..4),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..300),
            )
                .prop_map(|(parts, exec, contents)| SourceFile {
                    path: format!("share/{}", parts.join("/")),
                    mode: if exec { 0o755 } else { 0o644 },
                    contents,
                })
        }

        fn package_spec() -> impl Strategy<Value = PackageSpec> {
            (
                0u32..50,
                0u32..50,
                0u32..50,
                proptest::collection::vec(file(), 0..6),
            )
                .prop_map(|(a, b, c, extra)| {
                    let mut s = spec(&format!("{a}.{b}.{c}"));
                    let mut seen: std::collections::BTreeSet<String> =
                        s.files.iter().map(|f| f.path.clone()).collect();
                    for f in extra {
                        // A path cannot be both a file and a directory, nor repeat.
                        let clash = seen.iter().any(|p| {
                            p.starts_with(&format!("{}/", f.path))
                                || f.path.starts_with(&format!("{p}/"))
                        });
                        if !clash && seen.insert(f.path.clone()) {
                            s.files.push(f);
                        }
                    }
                    s
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn build_then_read_gives_back_every_file(s in package_spec()) {
                let bytes = build(&s).expect("build");
                let p = Package::from_bytes(&bytes).expect("read");
                prop_assert_eq!(p.manifest.version, s.version);
                prop_assert_eq!(p.files.len(), s.files.len());
                for f in &s.files {
                    prop_assert_eq!(&p.files[&f.path], &f.contents);
                    prop_assert_eq!(p.manifest.file(&f.path).map(|e| e.mode), Some(f.mode));
                }
                prop_assert_eq!(Manifest::parse(&p.manifest.to_bytes()).expect("manifest"), p.manifest);
            }

            #[test]
            fn a_flipped_byte_is_refused_or_harmless(s in package_spec(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
                let mut bytes = build(&s).expect("build");
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << bit;
                // Either refused, or (a flip in gzip header fields that carry no data) the very
                // same contents: never different files.
                if let Ok(p) = Package::from_bytes(&bytes) {
                    for f in &s.files {
                        prop_assert_eq!(&p.files[&f.path], &f.contents);
                    }
                    prop_assert_eq!(p.files.len(), s.files.len());
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
                let _ = Package::from_bytes(&data);
                let _ = Manifest::parse(&data);
            }
        }
    }
}
