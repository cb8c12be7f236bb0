//! PSKC (RFC 6030) seed files: one `KeyPackage` per hardware key.
//!
//! # What is read
//! | element / attribute | use |
//! |---|---|
//! | `KeyContainer@Version` | `1.0` or absent |
//! | `KeyPackage/DeviceInfo/SerialNo` | the serial: **required** (not taken from `Key@Id`) |
//! | `DeviceInfo/Manufacturer`, `DeviceInfo/Model` | kept if present |
//! | `Key@Algorithm` | HOTP: `urn:ietf:params:xml:ns:keyprov:pskc:hotp`, or the draft spellings `urn:ietf:params:xml:ns:keyprov:pskc#hotp` and `http://www.ietf.org/keyprov/pskc#hotp`; TOTP likewise with `totp`. Anything else is a fault naming it |
//! | `AlgorithmParameters/Suite` | the hash: `HMAC-SHA1` (default when absent), `HMAC-SHA256`, `HMAC-SHA512`; case-insensitive, with or without `HMAC-` and the hyphen in `SHA-256` (vendor variants) |
//! | `AlgorithmParameters/ResponseFormat` | `@Length` 6 or 8; `@Encoding` `DECIMAL` (or absent); `@CheckDigits` must not be true. Absent element: 6 digits |
//! | `Data/Secret` | `PlainValue` (base64) in a plain file; `EncryptedValue` + `ValueMAC` in an encrypted one (a plain secret in an encrypted file is refused) |
//! | `Data/Counter` | HOTP initial counter (plain), default 0 |
//! | `Data/TimeInterval` | TOTP period (plain), 30 or 60, default 30 |
//! | `Data/Time` | TOTP T0 (plain): 0 or absent |
//! | `Data/TimeDrift` | 0 or absent (resync the key after import instead) |
//!
//! Ignored: `Issuer`, `FriendlyName`, `UserId`, `Policy`, `CryptoModuleInfo`, `Extensions`,
//! and `ds:Signature` (not verified: the file's integrity rests on the value MACs and on
//! who uploads it). Encryption is described in `pskc_crypto`: pre-shared AES key or PBKDF2
//! password, AES-128/192/256-CBC, HMAC-SHA1/SHA256/SHA512 value MACs, MAC checked in
//! constant time before decrypting. Asymmetric encryption (`ds:X509Data`) and key wrap are
//! refused.
//!
//! # Wrong key or corrupt entries
//! The MAC key does not decrypt, or no value MAC of the file verifies: [`ImportError::Decrypt`]
//! (wrong key or password). Only some value MACs fail: those entries are faults
//! ([`FaultKind::MacMismatch`]); nothing is imported either way.

use super::pskc_crypto::{Keys, base64, encrypted_parts};
use super::xml::{self, Element, Ns, clip};
use super::{
    Decryption, Entry, FaultKind, FileFormat, ImportError, TokenKind, TokenSeed, decode_text,
    duplicate_faults, order_faults,
};
use crate::{Algorithm, Digits, OtpSecret};

const HOTP_URIS: [&str; 3] = [
    "urn:ietf:params:xml:ns:keyprov:pskc:hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc#hotp",
    "http://www.ietf.org/keyprov/pskc#hotp",
];
const TOTP_URIS: [&str; 3] = [
    "urn:ietf:params:xml:ns:keyprov:pskc:totp",
    "urn:ietf:params:xml:ns:keyprov:pskc#totp",
    "http://www.ietf.org/keyprov/pskc#totp",
];

/// Imports a PSKC document: every key, or an error and none. `dec` is the pre-shared key or
/// password when the file is encrypted, [`Decryption::None`] when it is not.
pub fn import_pskc(xml: &[u8], dec: &Decryption) -> Result<Vec<TokenSeed>, ImportError> {
    let text = decode_text(xml, FileFormat::Pskc)?;
    let root = xml::parse(text).map_err(|reason| ImportError::format(FileFormat::Pskc, reason))?;
    if !root.is(Ns::Pskc, "KeyContainer") {
        return Err(ImportError::format(
            FileFormat::Pskc,
            format!(
                "the root element is {:?}, not KeyContainer in the namespace \
                 urn:ietf:params:xml:ns:keyprov:pskc",
                clip(&root.name)
            ),
        ));
    }
    if let Some(version) = root.attr("Version").filter(|v| *v != "1.0") {
        return Err(ImportError::Unsupported {
            what: format!("PSKC version {:?}", clip(version)),
        });
    }
    let packages: Vec<&Element> = root.all(Ns::Pskc, "KeyPackage").collect();
    if packages.is_empty() {
        return Err(ImportError::NoTokens);
    }
    let keys = if packages.iter().any(|p| has_encrypted_value(p)) {
        Some(Keys::resolve(&root, dec)?)
    } else if matches!(dec, Decryption::None) {
        None
    } else {
        return Err(ImportError::NotEncrypted);
    };

    let mut tokens = Vec::with_capacity(packages.len());
    let mut faults = Vec::new();
    let mut serials = Vec::with_capacity(packages.len());
    let mut macs = MacTally::default();
    for (index, package) in packages.iter().enumerate() {
        let mut entry = Entry::new(format!("KeyPackage {}", index + 1));
        let token = package_token(package, keys.as_ref(), &mut entry, &mut macs);
        if let Some(serial) = &entry.serial {
            serials.push((entry.location.clone(), serial.clone()));
        }
        if entry.faults.is_empty() {
            tokens.extend(token);
        }
        faults.append(&mut entry.faults);
    }
    if macs.checked > 0 && macs.failed == macs.checked {
        return Err(ImportError::Decrypt);
    }
    duplicate_faults(&serials, "DeviceInfo/SerialNo", &mut faults);
    if !faults.is_empty() {
        order_faults(&mut faults);
        return Err(ImportError::Faults(faults));
    }
    Ok(tokens)
}

/// Value MACs checked and failed, to tell a wrong key from corrupt entries.
#[derive(Default)]
struct MacTally {
    checked: usize,
    failed: usize,
}

#[derive(Clone, Copy)]
enum OtpType {
    Hotp,
    Totp,
}

fn has_encrypted_value(element: &Element) -> bool {
    element
        .children
        .iter()
        .any(|c| c.is(Ns::Pskc, "EncryptedValue") || has_encrypted_value(c))
}

/// Reads one key package; every problem is recorded in `entry`.
fn package_token(
    package: &Element,
    keys: Option<&Keys>,
    entry: &mut Entry,
    macs: &mut MacTally,
) -> Option<TokenSeed> {
    let device = one(entry, package, "DeviceInfo", "DeviceInfo");
    let serial_text = device
        .and_then(|d| one(entry, d, "SerialNo", "DeviceInfo/SerialNo"))
        .map(Element::text);
    let serial = entry.serial("DeviceInfo/SerialNo", serial_text);
    let manufacturer = device.and_then(|d| label(entry, d, "Manufacturer"));
    let model = device.and_then(|d| label(entry, d, "Model"));

    let Some(key) = one(entry, package, "Key", "Key") else {
        entry.fault(FaultKind::Missing, "Key", "the key package holds no Key");
        return None;
    };
    let otp_type = otp_type(entry, key);
    let params = one(entry, key, "AlgorithmParameters", "AlgorithmParameters");
    let algorithm = suite(entry, params);
    let digits = response_format(entry, params);
    let data = one(entry, key, "Data", "Data");
    if data.is_none() {
        entry.fault(
            FaultKind::Missing,
            "Data",
            "the key has no Data (and so no secret)",
        );
    }
    let secret = data.and_then(|d| secret(entry, d, keys, macs));
    let kind = match (otp_type, data) {
        (Some(OtpType::Hotp), Some(data)) => {
            plain_number(entry, data, "Counter").map(|counter| TokenKind::Hotp {
                counter: counter.unwrap_or(0),
            })
        }
        (Some(OtpType::Totp), Some(data)) => totp_kind(entry, data),
        _ => None,
    };
    Some(TokenSeed {
        serial: serial?,
        kind: kind?,
        algorithm: algorithm?,
        digits: digits?,
        secret: secret?,
        manufacturer,
        model,
    })
}

/// The only PSKC child `name`; a repeat is a fault (the first is still returned).
fn one<'a>(entry: &mut Entry, parent: &'a Element, name: &str, field: &str) -> Option<&'a Element> {
    match parent.one(Ns::Pskc, name) {
        Ok(found) => found,
        Err(_) => {
            entry.fault(
                FaultKind::Invalid,
                field,
                format!("{name} appears more than once"),
            );
            parent.all(Ns::Pskc, name).next()
        }
    }
}

/// An optional descriptive text (manufacturer, model), at most 128 characters.
fn label(entry: &mut Entry, device: &Element, name: &str) -> Option<String> {
    let field = format!("DeviceInfo/{name}");
    let text = one(entry, device, name, &field)?.text();
    if text.chars().count() > 128 || text.chars().any(char::is_control) {
        entry.fault(
            FaultKind::Invalid,
            &field,
            "longer than 128 characters or has control characters",
        );
        return None;
    }
    (!text.is_empty()).then(|| text.to_owned())
}

fn otp_type(entry: &mut Entry, key: &Element) -> Option<OtpType> {
    match key.attr("Algorithm").map(str::trim) {
        None | Some("") => {
            entry.fault(
                FaultKind::Missing,
                "Key@Algorithm",
                "the key has no Algorithm",
            );
            None
        }
        Some(uri) if HOTP_URIS.contains(&uri) => Some(OtpType::Hotp),
        Some(uri) if TOTP_URIS.contains(&uri) => Some(OtpType::Totp),
        Some(uri) => {
            entry.fault(
                FaultKind::UnknownAlgorithm,
                "Key@Algorithm",
                format!(
                    "unknown algorithm {:?}: only HOTP and TOTP keys are supported",
                    clip(uri)
                ),
            );
            None
        }
    }
}

fn suite(entry: &mut Entry, params: Option<&Element>) -> Option<Algorithm> {
    let field = "AlgorithmParameters/Suite";
    let Some(suite) = params.and_then(|p| one(entry, p, "Suite", field)) else {
        return Some(Algorithm::Sha1);
    };
    let name = suite.text();
    if name.is_empty() {
        return Some(Algorithm::Sha1);
    }
    let upper = name.to_ascii_uppercase();
    let hash = upper
        .strip_prefix("HMAC-")
        .or_else(|| upper.strip_prefix("HMAC"))
        .unwrap_or(&upper);
    hash.parse().ok().or_else(|| {
        entry.fault(
            FaultKind::UnknownAlgorithm,
            field,
            format!(
                "unknown hash {:?} (HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512)",
                clip(name)
            ),
        );
        None
    })
}

fn response_format(entry: &mut Entry, params: Option<&Element>) -> Option<Digits> {
    let field = "AlgorithmParameters/ResponseFormat";
    let Some(format) = params.and_then(|p| one(entry, p, "ResponseFormat", field)) else {
        return Some(Digits::SIX);
    };
    let encoding = format.attr("Encoding").map(str::trim).unwrap_or("DECIMAL");
    if encoding != "DECIMAL" {
        entry.fault(
            FaultKind::Unsupported,
            "ResponseFormat@Encoding",
            format!("{:?} codes are not supported (DECIMAL)", clip(encoding)),
        );
    }
    if matches!(
        format.attr("CheckDigits").map(str::trim),
        Some("true" | "1")
    ) {
        entry.fault(
            FaultKind::Unsupported,
            "ResponseFormat@CheckDigits",
            "codes with a check digit are not supported",
        );
    }
    match format.attr("Length").map(str::trim) {
        None => {
            entry.fault(FaultKind::Missing, "ResponseFormat@Length", "no Length");
            None
        }
        Some(length) => match length.parse::<u64>() {
            Ok(n) => entry.digits("ResponseFormat@Length", n),
            Err(_) => {
                entry.fault(
                    FaultKind::Invalid,
                    "ResponseFormat@Length",
                    format!("{:?} is not a number", clip(length)),
                );
                None
            }
        },
    }
}

fn totp_kind(entry: &mut Entry, data: &Element) -> Option<TokenKind> {
    let period = plain_number(entry, data, "TimeInterval");
    let t0 = plain_number(entry, data, "Time");
    if let Some(Some(t0)) = t0.filter(|t| *t != Some(0)) {
        entry.fault(
            FaultKind::Unsupported,
            "Data/Time",
            format!("T0 = {t0}: only keys counting from the Unix epoch (T0 = 0) are supported"),
        );
    }
    let drift = data
        .one(Ns::Pskc, "TimeDrift")
        .ok()
        .flatten()
        .and_then(|d| d.one(Ns::Pskc, "PlainValue").ok().flatten())
        .map(|v| v.text().parse::<i64>());
    if matches!(drift, Some(Ok(d)) if d != 0) || matches!(drift, Some(Err(_))) {
        entry.fault(
            FaultKind::Unsupported,
            "Data/TimeDrift",
            "a TimeDrift other than 0 is not supported: resync the key after import",
        );
    }
    period.and_then(|p| entry.period("Data/TimeInterval", p.unwrap_or(30)))
}

/// A plain non-negative integer in `Data/{name}/PlainValue`: `Some(None)` when the element is
/// absent, `None` after recording a fault.
fn plain_number(entry: &mut Entry, data: &Element, name: &str) -> Option<Option<u64>> {
    let field = format!("Data/{name}");
    let Some(element) = one(entry, data, name, &field) else {
        return Some(None);
    };
    if element
        .one(Ns::Pskc, "EncryptedValue")
        .ok()
        .flatten()
        .is_some()
    {
        entry.fault(
            FaultKind::Unsupported,
            &field,
            format!("an encrypted {name} is not supported (only the secret may be encrypted)"),
        );
        return None;
    }
    let Some(value) = one(entry, element, "PlainValue", &field) else {
        entry.fault(
            FaultKind::Missing,
            &field,
            format!("{name} has no PlainValue"),
        );
        return None;
    };
    let text = value.text();
    match text.parse::<u64>() {
        Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Some(Some(n)),
        _ => {
            entry.fault(
                FaultKind::Invalid,
                &field,
                format!("{:?} is not a non-negative integer", clip(text)),
            );
            None
        }
    }
}

fn secret(
    entry: &mut Entry,
    data: &Element,
    keys: Option<&Keys>,
    macs: &mut MacTally,
) -> Option<OtpSecret> {
    let Some(secret) = one(entry, data, "Secret", "Data/Secret") else {
        entry.fault(FaultKind::Missing, "Data/Secret", "the key has no secret");
        return None;
    };
    let plain = one(entry, secret, "PlainValue", "Secret/PlainValue");
    let encrypted = one(entry, secret, "EncryptedValue", "Secret/EncryptedValue");
    match (plain, encrypted, keys) {
        (Some(_), Some(_), _) => {
            entry.fault(
                FaultKind::Invalid,
                "Data/Secret",
                "both PlainValue and EncryptedValue",
            );
            None
        }
        (None, None, _) => {
            entry.fault(
                FaultKind::Missing,
                "Data/Secret",
                "neither PlainValue nor EncryptedValue",
            );
            None
        }
        (Some(_), None, Some(_)) => {
            entry.fault(
                FaultKind::Invalid,
                "Secret/PlainValue",
                "a plain secret in an encrypted file is refused",
            );
            None
        }
        (Some(plain), None, None) => match base64(plain.text()) {
            Some(bytes) => entry.secret("Secret/PlainValue", bytes.to_vec()),
            None => {
                entry.fault(FaultKind::Invalid, "Secret/PlainValue", "not valid base64");
                None
            }
        },
        (None, Some(value), Some(keys)) => encrypted_secret(entry, secret, value, keys, macs),
        (None, Some(_), None) => None, // unreachable: an encrypted value resolves the keys
    }
}

fn encrypted_secret(
    entry: &mut Entry,
    secret: &Element,
    value: &Element,
    keys: &Keys,
    macs: &mut MacTally,
) -> Option<OtpSecret> {
    let field = "Secret/EncryptedValue";
    let (cipher, cipher_value) = match encrypted_parts(value) {
        Ok(parts) => parts,
        Err(reason) => {
            entry.fault(FaultKind::Invalid, field, reason);
            return None;
        }
    };
    let Some(mac_element) = one(entry, secret, "ValueMAC", "Secret/ValueMAC") else {
        entry.fault(
            FaultKind::Missing,
            "Secret/ValueMAC",
            "the encrypted secret has no ValueMAC, so it cannot be authenticated",
        );
        return None;
    };
    let Some(mac) = base64(mac_element.text()) else {
        entry.fault(FaultKind::Invalid, "Secret/ValueMAC", "not valid base64");
        return None;
    };
    macs.checked += 1;
    if !keys.mac_matches(&cipher_value, &mac) {
        macs.failed += 1;
        entry.fault(
            FaultKind::MacMismatch,
            "Secret/ValueMAC",
            "the MAC does not match: the entry was altered or corrupted",
        );
        return None;
    }
    let cipher = match cipher {
        Ok(cipher) if cipher.key_len() == keys.key_len() => cipher,
        Ok(cipher) => {
            entry.fault(
                FaultKind::Invalid,
                field,
                format!(
                    "its cipher needs a {}-byte key; the file's key is {} bytes",
                    cipher.key_len(),
                    keys.key_len()
                ),
            );
            return None;
        }
        Err(uri) => {
            entry.fault(
                FaultKind::Unsupported,
                field,
                format!(
                    "the cipher {:?} is not supported (AES-CBC only)",
                    clip(&uri)
                ),
            );
            return None;
        }
    };
    let Some(plain) = keys.decrypt(cipher, &cipher_value) else {
        entry.fault(
            FaultKind::Undecryptable,
            field,
            "its MAC matches but it does not decrypt (bad length or padding)",
        );
        return None;
    };
    entry.secret("Secret/EncryptedValue", plain.to_vec())
}
