//! Secrets at rest: an AES-256-GCM envelope for OTP seeds, under a master key kept in the data
//! directory (`master.key`, 32 random bytes, mode 0600, created on first start).
//!
//! A sealed value is `version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`. The
//! associated data binds a ciphertext to its purpose and owner (e.g. `totp|user:42`), so a seed
//! copied from one row to another does not decrypt. A backup of the store is useless without the
//! master key: back both up, separately.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// File name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Why a secret could not be sealed, opened or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The master key file could not be read or created.
    #[error("master key {path}: {reason}")]
    KeyFile {
        /// The file concerned.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A sealed value failed authentication: wrong key, wrong owner, or tampered bytes.
    #[error("a sealed secret failed authentication (wrong master key or tampered data)")]
    Unauthentic,
    /// A sealed value is too short or has an unknown version.
    #[error("a sealed secret is malformed")]
    Malformed,
    /// The operating system's random generator failed.
    #[error("the random generator failed")]
    Random,
}

/// The master key. Its bytes never reach `Debug` output.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Load `master.key` from `data_dir`, creating it (0600, exclusively) when absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretsError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let err = |reason: String| SecretsError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| err(format!("expected 32 bytes, found {}", bytes.len())))?;
                Ok(MasterKey(Zeroizing::new(arr)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(key.as_mut()).map_err(|_| SecretsError::Random)?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path).map_err(|e| err(e.to_string()))?;
                f.write_all(key.as_ref()).map_err(|e| err(e.to_string()))?;
                f.sync_all().map_err(|e| err(e.to_string()))?;
                crate::fsutil::sync_dir(data_dir).map_err(|e| err(e.to_string()))?;
                Ok(MasterKey(key))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// A key from raw bytes (tests, restores).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        // A 32-byte slice always makes a valid AES-256 key.
        let key: &[u8; 32] = &self.0;
        Aes256Gcm::new(key.into())
    }

    /// A 256-bit key for another purpose, derived from the master key:
    /// HMAC-SHA256(master, "sesame-derive|" ‖ label). Stable across restarts and nodes that
    /// share the master key; independent keys for independent labels.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(self.0.as_ref())
            .expect("HMAC accepts any key length");
        mac.update(b"sesame-derive|");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypt `plaintext`, bound to `context` (purpose and owner).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SecretsError::Random)?;
        let ct = self
            .cipher()
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Malformed)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt a value sealed by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let (&version, rest) = sealed.split_first().ok_or(SecretsError::Malformed)?;
        if version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Malformed);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretsError::Malformed)?;
        self.cipher()
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretsError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::from_bytes([7; 32]);
        let sealed = k.seal("totp|user:1", b"seed bytes").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"seed bytes"));
        assert_eq!(&**k.open("totp|user:1", &sealed).unwrap(), b"seed bytes");
        // Bound to its owner: another user's context does not open it.
        assert!(matches!(
            k.open("totp|user:2", &sealed),
            Err(SecretsError::Unauthentic)
        ));
        // Another key does not open it.
        let other = MasterKey::from_bytes([8; 32]);
        assert!(other.open("totp|user:1", &sealed).is_err());
        // Any flipped bit is detected.
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(k.open("totp|user:1", &t).is_err(), "byte {i}");
        }
        assert!(matches!(k.open("x", &[1, 2]), Err(SecretsError::Malformed)));
    }

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(dir.path()).unwrap();
        let sealed = a.seal("c", b"v").unwrap();
        let b = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(&**b.open("c", &sealed).unwrap(), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn derived_keys_are_stable_and_independent() {
        let k = MasterKey::from_bytes([7; 32]);
        assert_eq!(
            k.derive_key("csrf"),
            MasterKey::from_bytes([7; 32]).derive_key("csrf")
        );
        assert_ne!(k.derive_key("csrf"), k.derive_key("other"));
        assert_ne!(
            k.derive_key("csrf"),
            MasterKey::from_bytes([8; 32]).derive_key("csrf")
        );
    }

    #[test]
    fn truncated_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MASTER_KEY_FILE), [1u8; 5]).unwrap();
        let e = MasterKey::load_or_create(dir.path()).unwrap_err();
        assert!(e.to_string().contains("expected 32 bytes, found 5"), "{e}");
    }
}
