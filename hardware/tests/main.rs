//! Integration tests of `sesame-hardware`: one binary (STYLE.md §17), one module per subject.
//! Fixtures and their provenance: `tests/fixtures/README.md`.

#![allow(clippy::unwrap_used)]

// The smart-card tests need pcscd, vpcd and the PC/SC bridge (feature `pcsc`, on by default).
#[cfg(feature = "pcsc")]
mod card;
mod card_props;
mod oathtool;
mod otpkey;
#[cfg(feature = "pcsc")]
mod pcscd;
mod props;
mod pskc;

use sesame_hardware::seeds::Decryption;

/// A fixture's bytes.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// A fixture's text.
pub(crate) fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

/// The pre-shared key of RFC 6030 Figure 6.
pub(crate) const RFC_PSK_HEX: &str = "12345678901234567890123456789012";
/// The pre-shared key of `gen-aes256-hmacsha256.pskcxml` (bytes 0 to 31).
pub(crate) const GEN_PSK_HEX: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The password of `gen-pbkdf2-sha256.pskcxml`.
pub(crate) const GEN_PASSWORD: &str = "Sésame batch 7";

/// The key or password each fixture needs.
pub(crate) fn decryption_for(name: &str) -> Decryption {
    let hex =
        |h: &str| Decryption::PreSharedKey(data_encoding::HEXLOWER.decode(h.as_bytes()).unwrap());
    match name {
        "rfc6030-figure6.pskcxml" => hex(RFC_PSK_HEX),
        "rfc6030-figure7.pskcxml" => Decryption::Password("qwerty".into()),
        "gen-aes256-hmacsha256.pskcxml" => hex(GEN_PSK_HEX),
        "gen-pbkdf2-sha256.pskcxml" => Decryption::Password(GEN_PASSWORD.into()),
        _ => Decryption::None,
    }
}

/// `expected-codes.txt`: (file, serial, when, code), `when` a unix time or `press:N`.
pub(crate) fn expected_codes() -> Vec<(String, String, String, String)> {
    fixture_text("expected-codes.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "{l}");
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}
