//! The package manifest (`manifest.json`): what a console package claims to contain.
//!
//! A manifest names the product, its [`Version`], the platform, the relay and update URLs the
//! console should use, the TUF root of trust for signed updates, and every file with its size,
//! SHA-256 and mode. [`Manifest::parse`] is strict: unknown fields, unsafe paths (absolute, `..`,
//! empty components), duplicate paths, bad hashes or modes, oversized lists are refused with an
//! error that names the problem. It never touches the filesystem.

use crate::version::Version;
use serde::{Deserialize, Serialize};

/// The only product this installer knows.
pub const PRODUCT: &str = "sesame-console";
/// The manifest format this code writes and reads.
pub const FORMAT: u32 = 1;
/// The platform packages are built for on this machine.
pub const PLATFORM_LINUX_X86_64: &str = "linux-x86_64";
/// At most this many bytes of manifest are read.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// At most this many files in one package.
pub const MAX_FILES: usize = 256;
/// Longest relative file path.
pub const MAX_PATH_LEN: usize = 200;

/// A package manifest, as stored in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format, [`FORMAT`].
    pub format: u32,
    /// Always [`PRODUCT`].
    pub product: String,
    /// The console version.
    pub version: Version,
    /// Platform, e.g. [`PLATFORM_LINUX_X86_64`].
    pub platform: String,
    /// Relay URL the console connects to (overridable by `RELAYURL=`).
    pub relay_url: String,
    /// Base URL of the TUF repository (metadata at this URL, targets under `targets/`).
    pub update_url: String,
    /// The TUF `root.json` (signed) that every update must chain to.
    pub trust_root: serde_json::Value,
    /// PEM certificate(s) the relay's TLS chains to, for appliances with a self-signed
    /// certificate; absent when the relay has a publicly trusted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ca_pem: Option<String>,
    /// Every file of the package.
    pub files: Vec<FileEntry>,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path inside the version directory, `/`-separated (e.g. `bin/support-console`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
    /// Unix permission bits: `0o755` or `0o644` only.
    pub mode: u32,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape (includes unknown fields).
    #[error("the manifest is not valid: {0}")]
    Syntax(String),
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("the manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    /// A format this code does not read.
    #[error("the manifest format {0} is not supported (expected {FORMAT})")]
    Format(u32),
    /// Another product.
    #[error("the package is for product \"{0}\", not {PRODUCT}")]
    Product(String),
    /// Empty or odd platform name.
    #[error("the platform name \"{0}\" is not valid")]
    Platform(String),
    /// A relay or update URL that is not http(s).
    #[error("the {field} \"{value}\" is not an http:// or https:// URL")]
    Url {
        /// `relay_url` or `update_url`.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
    /// The trust root is not a signed TUF root.
    #[error("the trust root is not a signed TUF root.json")]
    TrustRoot,
    /// `relay_ca_pem` is not PEM certificates.
    #[error("the relay certificate is not a PEM certificate")]
    RelayCa,
    /// No files, or more than [`MAX_FILES`].
    #[error("the manifest must list between 1 and {MAX_FILES} files")]
    FileCount,
    /// A path that could escape the install directory or is not plain.
    #[error("the file path \"{0}\" is not a safe relative path")]
    UnsafePath(String),
    /// The same path twice.
    #[error("the file path \"{0}\" is listed twice")]
    DuplicatePath(String),
    /// Not 64 lower-case hex digits.
    #[error("the SHA-256 of \"{0}\" is not 64 lower-case hex digits")]
    BadHash(String),
    /// A mode other than 0o755 / 0o644.
    #[error("the mode {mode:o} of \"{path}\" is not 755 or 644")]
    BadMode {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// A required console binary is missing.
    #[error("the package does not contain {0}")]
    MissingBinary(&'static str),
}

/// Binaries every console package carries.
pub const REQUIRED_BINARIES: [&str; 2] = ["bin/support-console", "bin/support-customer"];

impl Manifest {
    /// Parses and validates a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Serialises (pretty JSON, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        v.push(b'\n');
        v
    }

    /// Checks every rule [`Manifest::parse`] enforces.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format != FORMAT {
            return Err(ManifestError::Format(self.format));
        }
        if self.product != PRODUCT {
            return Err(ManifestError::Product(short(&self.product)));
        }
        if self.platform.is_empty()
            || self.platform.len() > 32
            || !self
                .platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ManifestError::Platform(short(&self.platform)));
        }
        check_url("relay_url", &self.relay_url)?;
        check_url("update_url", &self.update_url)?;
        let root = &self.trust_root;
        if root
            .get("signed")
            .and_then(|s| s.get("_type"))
            .and_then(|t| t.as_str())
            != Some("root")
            || !root.get("signatures").is_some_and(|s| s.is_array())
        {
            return Err(ManifestError::TrustRoot);
        }
        if let Some(pem) = &self.relay_ca_pem {
            let ok = pem.len() <= 64 * 1024
                && pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
                && pem.trim_end().ends_with("-----END CERTIFICATE-----");
            if !ok {
                return Err(ManifestError::RelayCa);
            }
        }
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return Err(ManifestError::FileCount);
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            check_path(&f.path)?;
            if !seen.insert(f.path.as_str()) {
                return Err(ManifestError::DuplicatePath(short(&f.path)));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(ManifestError::BadHash(short(&f.path)));
            }
            if f.mode != 0o755 && f.mode != 0o644 {
                return Err(ManifestError::BadMode {
                    path: short(&f.path),
                    mode: f.mode,
                });
            }
        }
        for bin in REQUIRED_BINARIES {
            if !self.files.iter().any(|f| f.path == bin && f.mode == 0o755) {
                return Err(ManifestError::MissingBinary(bin));
            }
        }
        Ok(())
    }

    /// The entry for `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The trust root as the bytes of a `root.json`.
    pub fn trust_root_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.trust_root).expect("a JSON value always serialises")
    }
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

fn check_url(field: &'static str, v: &str) -> Result<(), ManifestError> {
    match url::Url::parse(v) {
        Ok(u)
            if (u.scheme() == "https" || u.scheme() == "http")
                && u.host().is_some()
                && v.len() <= 2048 =>
        {
            Ok(())
        }
        _ => Err(ManifestError::Url {
            field,
            value: short(v),
        }),
    }
}

/// A safe relative path: `/`-separated components of `[A-Za-z0-9._-]`, none empty, `.` or `..`,
/// not starting with `.` (no hidden files, which also keeps our own dot-files apart).
pub fn check_path(p: &str) -> Result<(), ManifestError> {
    let bad = || ManifestError::UnsafePath(short(p));
    if p.is_empty() || p.len() > MAX_PATH_LEN {
        return Err(bad());
    }
    for c in p.split('/') {
        if c.is_empty()
            || c.starts_with('.')
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return Err(bad());
        }
    }
    Ok(())
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: FORMAT,
            product: PRODUCT.into(),
            version: "1.0.0".parse().expect("valid"),
            platform: PLATFORM_LINUX_X86_64.into(),
            relay_url: "https://relay.example:8443/".into(),
            update_url: "https://relay.example:8443/updates/".into(),
            trust_root: serde_json::json!({"signed": {"_type": "root"}, "signatures": []}),
            relay_ca_pem: None,
            files: REQUIRED_BINARIES
                .iter()
                .map(|p| FileEntry {
                    path: (*p).into(),
                    size: 1,
                    sha256: sha256_hex(b"x"),
                    mode: 0o755,
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn refuses_unsafe_paths() {
        for p in [
            "/etc/passwd",
            "../x",
            "bin/../../x",
            "bin//x",
            "",
            ".hidden",
            "bin/.x",
            "a\\b",
            "bin/x y",
            "bin/é",
        ] {
            assert!(check_path(p).is_err(), "{p:?} accepted");
        }
        assert!(check_path("bin/support-console").is_ok());
    }

    #[test]
    fn refuses_each_broken_field() {
        let mut m = sample();
        m.files.push(m.files[0].clone());
        assert!(matches!(m.validate(), Err(ManifestError::DuplicatePath(_))));
        let mut m = sample();
        m.files[0].mode = 0o4755;
        assert!(matches!(m.validate(), Err(ManifestError::BadMode { .. })));
        let mut m = sample();
        m.files[0].sha256 = "ABC".into();
        assert!(matches!(m.validate(), Err(ManifestError::BadHash(_))));
        let mut m = sample();
        m.product = "other".into();
        assert!(matches!(m.validate(), Err(ManifestError::Product(_))));
        let mut m = sample();
        m.relay_url = "file:///etc".into();
        assert!(matches!(m.validate(), Err(ManifestError::Url { .. })));
        let mut m = sample();
        m.files.remove(1);
        assert!(matches!(m.validate(), Err(ManifestError::MissingBinary(_))));
        let mut m = sample();
        m.relay_ca_pem = Some("not a certificate".into());
        assert!(matches!(m.validate(), Err(ManifestError::RelayCa)));
        let mut m = sample();
        m.trust_root = serde_json::json!({});
        assert!(matches!(m.validate(), Err(ManifestError::TrustRoot)));
        let mut bytes = sample().to_bytes();
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            Manifest::parse(&bytes),
            Err(ManifestError::Syntax(_))
        ));
        let with_extra = String::from_utf8(sample().to_bytes())
            .expect("utf8")
            .replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(
            Manifest::parse(with_extra.as_bytes()),
            Err(ManifestError::Syntax(_))
        ));
    }
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn component() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_-][A-Za-z0-9._-]{0,15}"
        }

        fn entry() -> impl Strategy<Value = FileEntry> {
            (
                proptest::collection::vec(component(), 1..4),
                any::<u64>(),
                any::<[u8; 8]>(),
                any::<bool>(),
            )
                .prop_map(|(parts, size, seed, exec)| FileEntry {
                    path: format!("share/{}", parts.join("/")),
                    size,
                    sha256: sha256_hex(&seed),
                    mode: if exec { 0o755 } else { 0o644 },
                })
        }

        fn manifest() -> impl Strategy<Value = Manifest> {
            (
                (0u32..100, 0u32..100, 0u32..100),
                proptest::collection::vec(entry(), 0..6),
                "[a-z]{1,10}",
            )
                .prop_map(|((a, b, c), extra, host)| {
                    let mut m = sample();
                    m.version = format!("{a}.{b}.{c}").parse().expect("version");
                    m.relay_url = format!("https://{host}.example/");
                    m.update_url = format!("https://{host}.example/updates/");
                    let mut seen = std::collections::HashSet::new();
                    m.files
                        .extend(extra.into_iter().filter(|f| seen.insert(f.path.clone())));
                    m
                })
        }

        proptest! {
            /// Every valid manifest survives its own serialisation unchanged.
            #[test]
            fn valid_manifests_round_trip(m in manifest()) {
                prop_assert_eq!(m.validate(), Ok(()));
                prop_assert_eq!(Manifest::parse(&m.to_bytes()), Ok(m));
            }

            /// Parsing never panics, whatever the bytes.
            #[test]
            fn parse_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
                let _ = Manifest::parse(&bytes);
            }

            /// A manifest with one byte changed either fails, or parses into a manifest that
            /// survives its own serialisation (what the installer writes beside a version is
            /// read back the same).
            #[test]
            fn mutated_manifests_fail_or_round_trip(
                m in manifest(),
                at in any::<proptest::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let mut bytes = m.to_bytes();
                let i = at.index(bytes.len());
                bytes[i] = byte;
                if let Ok(parsed) = Manifest::parse(&bytes) {
                    prop_assert_eq!(Manifest::parse(&parsed.to_bytes()), Ok(parsed));
                }
            }
        }
    }
}
