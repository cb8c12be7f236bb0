//! PSKC encryption (RFC 6030 section 6): the container's keys, value MACs, AES-CBC.
//!
//! - The encryption key is pre-shared (`EncryptionKey/ds:KeyName`, or no `EncryptionKey`) or
//!   derived from a password (`EncryptionKey/xenc11:DerivedKey`, PBKDF2 only).
//! - A file that encrypts must carry `MACMethod` with a `MACKey`, itself encrypted under the
//!   encryption key. Every encrypted value is checked against its `ValueMAC` — HMAC over the
//!   `CipherValue` bytes (IV ‖ ciphertext), compared in constant time — before it is decrypted.
//! - `CipherValue` is base64(IV ‖ ciphertext), AES-CBC, PKCS#7 padding.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use zeroize::Zeroizing;

use super::xml::{Element, Ns, clip};
use super::{Decryption, FileFormat, ImportError, KeyKind};

/// `KeyDerivationMethod@Algorithm` for PBKDF2 (the only derivation supported).
pub(crate) const PBKDF2_URI: &str =
    "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2";
/// Most PBKDF2 iterations accepted (tens of seconds of work at most).
pub(crate) const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The XML-Enc block ciphers supported for values and the MAC key: AES in CBC mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128,
    Aes192,
    Aes256,
}

impl Cipher {
    /// From `xenc:EncryptionMethod@Algorithm`.
    pub(crate) fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Some(Self::Aes128),
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => Some(Self::Aes192),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Some(Self::Aes256),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }
}

/// The `MACMethod` algorithms supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacAlg {
    Sha1,
    Sha256,
    Sha512,
}

impl MacAlg {
    fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => Some(Self::Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" => Some(Self::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// A PBKDF2 `PRF@Algorithm`, by its fragment (`…#hmac-sha1`, `…#hmac-sha256`, …); absent
    /// or empty means HMAC-SHA1 (PKCS #5 default).
    fn from_prf(uri: Option<&str>) -> Option<Self> {
        match uri.unwrap_or("").rsplit('#').next().unwrap_or("") {
            "" | "hmac-sha1" => Some(Self::Sha1),
            "hmac-sha256" => Some(Self::Sha256),
            "hmac-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// The container's encryption key and MAC key, both wiped on drop.
pub(crate) struct Keys {
    key: Zeroizing<Vec<u8>>,
    mac_alg: MacAlg,
    mac_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys(<redacted>, {:?})", self.mac_alg)
    }
}

impl Keys {
    /// Finds out which key the file needs, takes it from `dec`, and decrypts the MAC key.
    pub(crate) fn resolve(root: &Element, dec: &Decryption) -> Result<Self, ImportError> {
        let encryption_key = unique(root, Ns::Pskc, "EncryptionKey")?;
        if let Some(ek) = encryption_key
            && ek.one(Ns::Ds, "X509Data").ok().flatten().is_some()
        {
            return Err(unsupported(
                "encryption with an asymmetric key (ds:X509Data)",
            ));
        }
        let derived = match encryption_key {
            Some(ek) => unique(ek, Ns::Xenc11, "DerivedKey")?,
            None => None,
        };
        let mac_method =
            unique(root, Ns::Pskc, "MACMethod")?.ok_or(ImportError::Unauthenticated)?;
        let mac_uri = mac_method.attr("Algorithm").unwrap_or("");
        let mac_alg = MacAlg::from_uri(mac_uri)
            .ok_or_else(|| unsupported(format!("the MAC algorithm {:?}", clip(mac_uri))))?;
        let mac_key_element = unique(mac_method, Ns::Pskc, "MACKey")?
            .ok_or_else(|| unsupported("a MACMethod without MACKey"))?;
        let (mac_cipher, mac_cipher_value) = encrypted_parts(mac_key_element)
            .map_err(|reason| malformed(format!("MACMethod/MACKey: {reason}")))?;
        let mac_cipher = mac_cipher
            .map_err(|uri| unsupported(format!("the cipher {:?} for the MAC key", clip(&uri))))?;
        let key = match (derived, dec) {
            (None, Decryption::PreSharedKey(key)) => {
                if key.len() != mac_cipher.key_len() {
                    return Err(ImportError::KeyLength {
                        len: key.len(),
                        expected: mac_cipher.key_len(),
                    });
                }
                Zeroizing::new(key.clone())
            }
            (Some(derived), Decryption::Password(password)) => {
                derive_key(derived, password, mac_cipher.key_len())?
            }
            (None, _) => {
                return Err(ImportError::KeyRequired {
                    needed: KeyKind::PreSharedKey,
                });
            }
            (Some(_), _) => {
                return Err(ImportError::KeyRequired {
                    needed: KeyKind::Password,
                });
            }
        };
        // The MAC key carries no MAC of its own: bad padding here means a wrong key.
        let mac_key = aes_cbc_decrypt(mac_cipher, &key, &mac_cipher_value)
            .filter(|k| !k.is_empty())
            .ok_or(ImportError::Decrypt)?;
        Ok(Self {
            key,
            mac_alg,
            mac_key,
        })
    }

    /// Whether `mac` is the HMAC of `data` under the MAC key (constant-time comparison; a
    /// truncated MAC never matches).
    pub(crate) fn mac_matches(&self, data: &[u8], mac: &[u8]) -> bool {
        match self.mac_alg {
            MacAlg::Sha1 => verify::<Hmac<sha1::Sha1>>(&self.mac_key, data, mac),
            MacAlg::Sha256 => verify::<Hmac<sha2::Sha256>>(&self.mac_key, data, mac),
            MacAlg::Sha512 => verify::<Hmac<sha2::Sha512>>(&self.mac_key, data, mac),
        }
    }

    /// Length of the encryption key, to check a value's cipher against it.
    pub(crate) fn key_len(&self) -> usize {
        self.key.len()
    }

    /// Decrypts a `CipherValue` (IV ‖ ciphertext); `None` on bad length or padding.
    pub(crate) fn decrypt(&self, cipher: Cipher, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        aes_cbc_decrypt(cipher, &self.key, data)
    }
}

fn verify<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}

/// The parts of an XML-Enc encrypted value (`EncryptedValue` or `MACKey`): the cipher
/// (`Err(uri)` if unknown) and the decoded `CipherData/CipherValue`. `Err` is the reason the
/// structure is unusable.
#[allow(clippy::type_complexity)]
pub(crate) fn encrypted_parts(
    value: &Element,
) -> Result<(Result<Cipher, String>, Vec<u8>), String> {
    let method = value
        .one(Ns::Xenc, "EncryptionMethod")
        .map_err(|_| "more than one xenc:EncryptionMethod".to_owned())?
        .ok_or("no xenc:EncryptionMethod")?;
    let uri = method.attr("Algorithm").unwrap_or("");
    let cipher = Cipher::from_uri(uri).ok_or_else(|| uri.to_owned());
    let data = value
        .one(Ns::Xenc, "CipherData")
        .map_err(|_| "more than one xenc:CipherData".to_owned())?
        .ok_or("no xenc:CipherData")?;
    let cipher_value = data
        .one(Ns::Xenc, "CipherValue")
        .map_err(|_| "more than one xenc:CipherValue".to_owned())?
        .ok_or("no xenc:CipherValue (only inline cipher values are supported)")?;
    let bytes = base64(cipher_value.text()).ok_or("the CipherValue is not valid base64")?;
    Ok((cipher, bytes.to_vec()))
}

/// PBKDF2 (PKCS #5 v2, RFC 8018) from `xenc11:DerivedKey`.
fn derive_key(
    derived: &Element,
    password: &str,
    default_len: usize,
) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let method = unique(derived, Ns::Xenc11, "KeyDerivationMethod")?
        .ok_or_else(|| malformed("DerivedKey has no xenc11:KeyDerivationMethod"))?;
    let uri = method.attr("Algorithm").unwrap_or("");
    if uri != PBKDF2_URI {
        return Err(unsupported(format!("the key derivation {:?}", clip(uri))));
    }
    let incomplete = |what: &str| malformed(format!("incomplete PBKDF2 parameters: {what}"));
    let params = method
        .any_ns("PBKDF2-params")
        .ok_or_else(|| incomplete("no PBKDF2-params"))?;
    let salt = params.any_ns("Salt").ok_or_else(|| incomplete("no Salt"))?;
    let salt = match salt.any_ns("Specified") {
        Some(specified) => base64(specified.text()).ok_or_else(|| incomplete("bad Salt"))?,
        None => return Err(unsupported("a PBKDF2 salt that is not Salt/Specified")),
    };
    let iterations: u32 = params
        .any_ns("IterationCount")
        .and_then(|c| c.text().parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| incomplete("no valid IterationCount"))?;
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(unsupported(format!(
            "{iterations} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS})"
        )));
    }
    let len = match params.any_ns("KeyLength") {
        Some(l) => l
            .text()
            .parse::<usize>()
            .ok()
            .filter(|l| [16, 24, 32].contains(l))
            .ok_or_else(|| incomplete("KeyLength is not 16, 24 or 32"))?,
        None => default_len,
    };
    let prf_uri = params.any_ns("PRF").and_then(|p| p.attr("Algorithm"));
    let prf = MacAlg::from_prf(prf_uri)
        .ok_or_else(|| unsupported(format!("the PBKDF2 PRF {:?}", clip(prf_uri.unwrap_or("")))))?;
    let mut key = Zeroizing::new(vec![0u8; len]);
    let password = password.as_bytes();
    match prf {
        MacAlg::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, &salt, iterations, &mut key),
        MacAlg::Sha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, iterations, &mut key)
        }
        MacAlg::Sha512 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, iterations, &mut key)
        }
    }
    Ok(key)
}

/// AES-CBC with PKCS#7 padding over `IV ‖ ciphertext`; `None` if the key or data length is
/// wrong or the padding is bad.
pub(crate) fn aes_cbc_decrypt(
    cipher: Cipher,
    key: &[u8],
    data: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if key.len() != cipher.key_len() || data.len() < 32 || !data.len().is_multiple_of(16) {
        return None;
    }
    let (iv, ciphertext) = data.split_at(16);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = match cipher {
        Cipher::Aes128 => decrypt::<cbc::Decryptor<aes::Aes128>>(key, iv, &mut buf),
        Cipher::Aes192 => decrypt::<cbc::Decryptor<aes::Aes192>>(key, iv, &mut buf),
        Cipher::Aes256 => decrypt::<cbc::Decryptor<aes::Aes256>>(key, iv, &mut buf),
    }?;
    buf.truncate(len);
    Some(buf)
}

fn decrypt<D: KeyIvInit + BlockModeDecrypt>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Option<usize> {
    let decryptor = D::new_from_slices(key, iv).ok()?;
    decryptor.decrypt_padded::<Pkcs7>(buf).ok().map(<[u8]>::len)
}

/// Standard base64 with padding; ASCII whitespace anywhere is ignored (RFC 6030's examples
/// wrap and indent their values).
pub(crate) fn base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut compact = Zeroizing::new(Vec::with_capacity(text.len()));
    compact.extend(text.bytes().filter(|b| !b.is_ascii_whitespace()));
    BASE64.decode(&compact).ok().map(Zeroizing::new)
}

fn unique<'a>(parent: &'a Element, ns: Ns, name: &str) -> Result<Option<&'a Element>, ImportError> {
    parent
        .one(ns, name)
        .map_err(|_| malformed(format!("more than one {name} in {}", parent.name)))
}

fn unsupported(what: impl Into<String>) -> ImportError {
    ImportError::Unsupported { what: what.into() }
}

fn malformed(reason: impl Into<String>) -> ImportError {
    ImportError::format(FileFormat::Pskc, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6030 Figure 6: pre-shared key, encrypted MAC key, encrypted secret and its MAC.
    const PSK: &[u8; 16] = b"\x12\x34\x56\x78\x90\x12\x34\x56\x78\x90\x12\x34\x56\x78\x90\x12";
    const MAC_KEY_CV: &str = "ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX";
    const SECRET_CV: &str = "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv";
    const SECRET_MAC: &str = "Su+NvtQfmvfJzF6bmQiJqoLRExc=";

    #[test]
    fn rfc6030_figure6_values_decrypt_and_verify() {
        let mac_key = aes_cbc_decrypt(Cipher::Aes128, PSK, &base64(MAC_KEY_CV).unwrap());
        assert_eq!(
            mac_key.unwrap().as_slice(),
            b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\x00"
        );
        let cipher_value = base64(SECRET_CV).unwrap();
        let keys = Keys {
            key: Zeroizing::new(PSK.to_vec()),
            mac_alg: MacAlg::Sha1,
            mac_key: aes_cbc_decrypt(Cipher::Aes128, PSK, &base64(MAC_KEY_CV).unwrap()).unwrap(),
        };
        let mac = base64(SECRET_MAC).unwrap();
        assert!(keys.mac_matches(&cipher_value, &mac));
        assert!(
            !keys.mac_matches(&cipher_value, &mac[..19]),
            "truncated MAC"
        );
        let mut altered = cipher_value.to_vec();
        altered[20] ^= 1;
        assert!(!keys.mac_matches(&altered, &mac));
        let secret = keys.decrypt(Cipher::Aes128, &cipher_value).unwrap();
        assert_eq!(secret.as_slice(), b"12345678901234567890");
        assert!(format!("{keys:?}").contains("redacted"));
    }

    #[test]
    fn aes_cbc_refuses_bad_lengths_keys_and_padding() {
        let data = base64(SECRET_CV).unwrap();
        assert!(
            aes_cbc_decrypt(Cipher::Aes256, PSK, &data).is_none(),
            "key length"
        );
        assert!(
            aes_cbc_decrypt(Cipher::Aes128, PSK, &data[..16]).is_none(),
            "IV only"
        );
        assert!(
            aes_cbc_decrypt(Cipher::Aes128, PSK, &data[..40]).is_none(),
            "partial block"
        );
        assert!(
            aes_cbc_decrypt(Cipher::Aes128, &[0; 16], &data).is_none(),
            "wrong key"
        );
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(
            Cipher::from_uri("http://www.w3.org/2001/04/xmlenc#aes192-cbc").map(Cipher::key_len),
            Some(24)
        );
        assert_eq!(
            Cipher::from_uri("http://www.w3.org/2001/04/xmlenc#kw-aes128"),
            None
        );
        assert_eq!(MacAlg::from_prf(None), Some(MacAlg::Sha1));
        assert_eq!(
            MacAlg::from_prf(Some("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")),
            Some(MacAlg::Sha256)
        );
        assert_eq!(MacAlg::from_prf(Some("urn:x#hmac-md5")), None);
        assert_eq!(
            MacAlg::from_uri("http://www.w3.org/2000/09/xmldsig#hmac-sha256"),
            None
        );
    }

    #[test]
    fn base64_ignores_whitespace_only() {
        assert_eq!(base64(" MTIz\n NA== \t").unwrap().as_slice(), b"1234");
        assert!(base64("MTIzNA").is_none(), "padding is required");
        assert!(base64("MTIz*NA==").is_none());
    }
}
