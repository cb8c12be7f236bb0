//! Seed-file import through the public API, on the RFC 6030 examples and the generated
//! fixtures: what imports, and that each kind of bad file gets its own error and no token.

use sesame_hardware::emulator::{KeyEmulator, find};
use sesame_hardware::seeds::{
    self, Decryption, Fault, FaultKind, ImportError, KeyKind, TokenKind, TokenSeed, import_csv,
    import_pskc,
};
use sesame_hardware::{Algorithm, Digits};

use crate::{decryption_for, expected_codes, fixture, fixture_text};

const RFC4226_SEED: &[u8] = b"12345678901234567890";

fn import(name: &str) -> Result<Vec<TokenSeed>, ImportError> {
    seeds::import(&fixture(name), &decryption_for(name))
}

fn faults_of(result: Result<Vec<TokenSeed>, ImportError>) -> Vec<Fault> {
    match result {
        Err(ImportError::Faults(faults)) => faults,
        other => panic!("expected faults, got {other:?}"),
    }
}

/// (location, field, kind) of each fault, for compact assertions.
fn summary(faults: &[Fault]) -> Vec<(&str, &str, FaultKind)> {
    faults
        .iter()
        .map(|f| (f.location.as_str(), f.field.as_str(), f.kind))
        .collect()
}

fn psk(hex: &str) -> Decryption {
    Decryption::PreSharedKey(
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .unwrap(),
    )
}

#[test]
fn rfc6030_figures_3_6_7_import_the_rfc4226_key() {
    for name in [
        "rfc6030-figure3.pskcxml",
        "rfc6030-figure6.pskcxml",
        "rfc6030-figure7.pskcxml",
    ] {
        let tokens = import(name).unwrap();
        assert_eq!(tokens.len(), 1, "{name}");
        let t = &tokens[0];
        assert_eq!(t.serial, "987654321", "{name}");
        assert_eq!(t.secret.as_bytes(), RFC4226_SEED, "{name}");
        assert_eq!(t.kind, TokenKind::Hotp { counter: 0 }, "{name}");
        assert_eq!(
            (t.algorithm, t.digits),
            (Algorithm::Sha1, Digits::EIGHT),
            "{name}"
        );
        assert_eq!(t.model, None);
    }
    assert_eq!(
        import("rfc6030-figure3.pskcxml").unwrap()[0]
            .manufacturer
            .as_deref(),
        Some("Manufacturer")
    );
    assert_eq!(
        import("rfc6030-figure7.pskcxml").unwrap()[0]
            .manufacturer
            .as_deref(),
        Some("TokenVendorAcme")
    );
}

#[test]
fn rfc6030_figure2_has_no_serial_and_a_4_byte_secret() {
    let faults = faults_of(import("rfc6030-figure2.pskcxml"));
    assert_eq!(
        summary(&faults),
        [
            ("KeyPackage 1", "DeviceInfo/SerialNo", FaultKind::Missing),
            ("KeyPackage 1", "Secret/PlainValue", FaultKind::Invalid),
        ]
    );
    assert_eq!(
        faults[1].reason,
        "the secret is 4 bytes long; at least 10 are required"
    );
}

#[test]
fn rfc6030_figure10_duplicate_serials_name_both_packages() {
    let faults = faults_of(import("rfc6030-figure10.pskcxml"));
    assert_eq!(
        summary(&faults),
        [(
            "KeyPackage 4",
            "DeviceInfo/SerialNo",
            FaultKind::DuplicateSerial
        )]
    );
    assert_eq!(
        faults[0].to_string(),
        "KeyPackage 4 (serial 9999999): DeviceInfo/SerialNo: the serial 9999999 is also used by \
         KeyPackage 3"
    );
}

#[test]
fn generated_files_import_every_parameter() {
    let aes = import("gen-aes256-hmacsha256.pskcxml").unwrap();
    let got: Vec<_> = aes
        .iter()
        .map(|t| {
            (
                t.serial.as_str(),
                t.kind,
                t.algorithm,
                t.digits.get(),
                t.secret.as_bytes().len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "GT-0001",
                TokenKind::Totp { period: 60 },
                Algorithm::Sha256,
                8,
                32
            ),
            (
                "GT-0002",
                TokenKind::Totp { period: 60 },
                Algorithm::Sha1,
                6,
                20
            ),
            (
                "GT-0003",
                TokenKind::Hotp { counter: 5 },
                Algorithm::Sha512,
                8,
                64
            ),
            (
                "GT-0004",
                TokenKind::Totp { period: 30 },
                Algorithm::Sha1,
                6,
                20
            ),
        ]
    );
    assert_eq!(aes[0].manufacturer.as_deref(), Some("Sesame Test Vendor"));
    assert_eq!(aes[0].model.as_deref(), Some("T60-8"));
    let pbkdf2 = import("gen-pbkdf2-sha256.pskcxml").unwrap();
    assert_eq!(pbkdf2.len(), 2);
    assert_eq!(pbkdf2[1].algorithm, Algorithm::Sha256);
    assert_eq!(pbkdf2[1].kind, TokenKind::Totp { period: 60 });
    assert_eq!(
        import("gen-plain-totp60.pskcxml").unwrap()[0].serial,
        "PT-60"
    );
    assert_eq!(import_csv(&fixture("gen-batch.csv")).unwrap().len(), 3);
}

/// The codes Python computed independently (`gen/gen_fixtures.py`) are what the emulated
/// keys display.
#[test]
fn emulated_keys_display_the_independently_computed_codes() {
    let expected = expected_codes();
    assert_eq!(expected.len(), 52);
    for (file, serial, when, code) in expected {
        let tokens = import(&file).unwrap();
        assert!(find(&tokens, &serial).is_some(), "{file}: no {serial}");
        let seed = tokens.into_iter().find(|t| t.has_serial(&serial)).unwrap();
        let mut key = KeyEmulator::from_seed(seed);
        let shown = match when.strip_prefix("press:") {
            Some(n) => (0..n.parse::<u32>().unwrap())
                .map(|_| key.display_at(0))
                .last()
                .unwrap(),
            None => key.display_at(when.parse().unwrap()),
        };
        assert_eq!(shown, code, "{file} {serial} {when}");
    }
}

#[test]
fn wrong_missing_or_misdirected_keys() {
    let fig6 = fixture("rfc6030-figure6.pskcxml");
    let fig7 = fixture("rfc6030-figure7.pskcxml");
    let wrong_psk = psk("00112233445566778899aabbccddeeff");
    assert_eq!(
        import_pskc(&fig6, &wrong_psk).unwrap_err(),
        ImportError::Decrypt
    );
    let wrong_password = Decryption::Password("qwertz".into());
    assert_eq!(
        import_pskc(&fig7, &wrong_password).unwrap_err(),
        ImportError::Decrypt
    );
    let aes = fixture("gen-aes256-hmacsha256.pskcxml");
    let almost = psk("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1e");
    assert_eq!(
        import_pskc(&aes, &almost).unwrap_err(),
        ImportError::Decrypt
    );

    let need_psk = ImportError::KeyRequired {
        needed: KeyKind::PreSharedKey,
    };
    let need_password = ImportError::KeyRequired {
        needed: KeyKind::Password,
    };
    assert_eq!(import_pskc(&fig6, &Decryption::None).unwrap_err(), need_psk);
    assert_eq!(import_pskc(&fig6, &wrong_password).unwrap_err(), need_psk);
    assert_eq!(
        import_pskc(&fig7, &Decryption::None).unwrap_err(),
        need_password
    );
    assert_eq!(import_pskc(&fig7, &wrong_psk).unwrap_err(), need_password);
    assert_eq!(
        import_pskc(&fig6, &psk(crate::GEN_PSK_HEX)).unwrap_err(),
        ImportError::KeyLength {
            len: 32,
            expected: 16
        }
    );
    // A key for a plain file: refused, a substituted plain file must not pass silently.
    let plain = fixture("gen-plain-totp60.pskcxml");
    assert_eq!(
        import_pskc(&plain, &wrong_psk).unwrap_err(),
        ImportError::NotEncrypted
    );
}

/// Replaces the `n`-th (0-based) occurrence of the text of element `tag` with `new`.
fn replace_nth_text(doc: &str, tag: &str, n: usize, new: impl Fn(&str) -> String) -> String {
    let open = format!("<{tag}>");
    let start = doc.match_indices(&open).nth(n).unwrap().0 + open.len();
    let end = start + doc[start..].find('<').unwrap();
    format!("{}{}{}", &doc[..start], new(&doc[start..end]), &doc[end..])
}

fn flip_first_char(b64: &str) -> String {
    let b64 = b64.trim();
    let first = if b64.starts_with('A') { 'B' } else { 'A' };
    format!("{first}{}", &b64[1..])
}

#[test]
fn a_corrupt_entry_is_a_mac_fault_and_all_corrupt_is_a_wrong_key() {
    let doc = fixture_text("gen-aes256-hmacsha256.pskcxml");
    let dec = decryption_for("gen-aes256-hmacsha256.pskcxml");
    let one_mac = replace_nth_text(&doc, "ValueMAC", 1, flip_first_char);
    let faults = faults_of(import_pskc(one_mac.as_bytes(), &dec));
    assert_eq!(
        summary(&faults),
        [("KeyPackage 2", "Secret/ValueMAC", FaultKind::MacMismatch)]
    );
    assert_eq!(faults[0].serial.as_deref(), Some("GT-0002"));
    // Altering the ciphertext instead of the MAC is caught by the same check.
    let one_cipher = replace_nth_text(&doc, "enc:CipherValue", 3, flip_first_char);
    let faults = faults_of(import_pskc(one_cipher.as_bytes(), &dec));
    assert_eq!(
        summary(&faults),
        [("KeyPackage 3", "Secret/ValueMAC", FaultKind::MacMismatch)]
    );
    // Every MAC wrong: indistinguishable from a wrong key.
    let all = (0..4).fold(doc, |d, n| {
        replace_nth_text(&d, "ValueMAC", n, flip_first_char)
    });
    assert_eq!(
        import_pskc(all.as_bytes(), &dec).unwrap_err(),
        ImportError::Decrypt
    );
    // RFC 6030 Figure 6 has one entry: its corrupt MAC is a wrong key too.
    let fig6 = replace_nth_text(
        &fixture_text("rfc6030-figure6.pskcxml"),
        "ValueMAC",
        0,
        flip_first_char,
    );
    let dec = decryption_for("rfc6030-figure6.pskcxml");
    assert_eq!(
        import_pskc(fig6.as_bytes(), &dec).unwrap_err(),
        ImportError::Decrypt
    );
}

/// A plain file built from the small generated package, with edits per package.
fn plain_file(packages: &[&dyn Fn(&str) -> String]) -> String {
    let doc = fixture_text("gen-plain-totp60.pskcxml");
    let start = doc.find("  <KeyPackage>").unwrap();
    let end = doc.find("</KeyContainer>").unwrap();
    let body: String = packages
        .iter()
        .enumerate()
        .map(|(i, edit)| edit(&doc[start..end].replace("PT-60", &format!("PT-{i}"))))
        .collect();
    format!("{}{body}{}", &doc[..start], &doc[end..])
}

#[test]
fn every_faulty_package_is_reported_at_once() {
    let keep = |p: &str| p.to_owned();
    let doc = plain_file(&[
        &keep,
        &|p| p.replace(":pskc:totp", ":pskc#ocra"),
        &keep,
        &|p| p.replace("<SerialNo>PT-3</SerialNo>", ""),
        &|p| {
            p.replace("Length=\"6\"", "Length=\"7\"")
                .replace(">60<", ">45<")
        },
        &|p| p.replace("<Time><PlainValue>0", "<Time><PlainValue>1000"),
        &|p| p.replace("Encoding=\"DECIMAL\"", "Encoding=\"HEXADECIMAL\""),
        &|p| p.replace("<PlainValue>yMTA", "<PlainValue>*MTA"),
        &|p| p.replace("<Data>", "<Data><Secret/>"),
        &|p| p.replace("PT-9", "pt-0"),
    ]);
    let faults = faults_of(import_pskc(doc.as_bytes(), &Decryption::None));
    assert_eq!(
        summary(&faults),
        [
            ("KeyPackage 2", "Key@Algorithm", FaultKind::UnknownAlgorithm),
            ("KeyPackage 4", "DeviceInfo/SerialNo", FaultKind::Missing),
            (
                "KeyPackage 5",
                "ResponseFormat@Length",
                FaultKind::Unsupported
            ),
            ("KeyPackage 5", "Data/TimeInterval", FaultKind::Unsupported),
            ("KeyPackage 6", "Data/Time", FaultKind::Unsupported),
            (
                "KeyPackage 7",
                "ResponseFormat@Encoding",
                FaultKind::Unsupported
            ),
            ("KeyPackage 8", "Secret/PlainValue", FaultKind::Invalid),
            ("KeyPackage 9", "Data/Secret", FaultKind::Invalid),
            ("KeyPackage 9", "Data/Secret", FaultKind::Missing),
            (
                "KeyPackage 10",
                "DeviceInfo/SerialNo",
                FaultKind::DuplicateSerial
            ),
        ]
    );
    assert_eq!(
        faults[0].reason,
        "unknown algorithm \"urn:ietf:params:xml:ns:keyprov:pskc#ocra\": only HOTP and TOTP keys \
         are supported"
    );
    assert_eq!(faults[7].reason, "Secret appears more than once");
    assert_eq!(
        faults[9].reason,
        "the serial pt-0 is also used by KeyPackage 1"
    );
}

#[test]
fn file_level_refusals_have_their_own_errors() {
    let plain = fixture_text("gen-plain-totp60.pskcxml");
    let none = Decryption::None;
    let code = |doc: &str| import_pskc(doc.as_bytes(), &none).unwrap_err().code();
    assert_eq!(
        code("<KeyContainer Version=\"1.0\"/>"),
        "seed_file_malformed"
    );
    assert_eq!(
        code(&plain.replace(
            "urn:ietf:params:xml:ns:keyprov:pskc\"",
            "urn:ietf:params:xml:ns:keyprov:pskc:1.0\""
        )),
        "seed_file_malformed"
    );
    assert_eq!(
        code(&plain.replace("Version=\"1.0\"", "Version=\"2.0\"")),
        "seed_file_unsupported"
    );
    let empty = "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\"/>";
    assert_eq!(
        import_pskc(empty.as_bytes(), &none).unwrap_err(),
        ImportError::NoTokens
    );
    assert_eq!(code("not xml at all"), "seed_file_malformed");

    let fig6 = fixture_text("rfc6030-figure6.pskcxml");
    let dec = decryption_for("rfc6030-figure6.pskcxml");
    let start = fig6.find("<MACMethod").unwrap();
    let end = fig6.find("</MACMethod>").unwrap() + "</MACMethod>".len();
    let no_mac = format!("{}{}", &fig6[..start], &fig6[end..]);
    assert_eq!(
        import_pskc(no_mac.as_bytes(), &dec).unwrap_err(),
        ImportError::Unauthenticated
    );
    let x509 = fig6.replace(
        "<ds:KeyName>Pre-shared-key</ds:KeyName>",
        "<ds:X509Data><ds:X509Certificate>MIIB</ds:X509Certificate></ds:X509Data>",
    );
    assert_eq!(
        import_pskc(x509.as_bytes(), &dec).unwrap_err().code(),
        "seed_file_unsupported"
    );
    let md5 = fig6.replace("xmldsig#hmac-sha1", "xmldsig#hmac-md5");
    assert_eq!(
        import_pskc(md5.as_bytes(), &dec).unwrap_err().to_string(),
        "the seed file uses the MAC algorithm \"http://www.w3.org/2000/09/xmldsig#hmac-md5\", \
         which is not supported"
    );
    // A plain secret slipped into an encrypted file is a fault, not a silent import.
    let mixed = fig6.replace(
        "<KeyPackage>",
        "<KeyPackage><DeviceInfo><SerialNo>X</SerialNo></DeviceInfo><Key Algorithm=\
         \"urn:ietf:params:xml:ns:keyprov:pskc:hotp\"><Data><Secret><PlainValue>\
         MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data></Key></KeyPackage><KeyPackage>",
    );
    let faults = faults_of(import_pskc(mixed.as_bytes(), &dec));
    assert_eq!(
        summary(&faults),
        [("KeyPackage 1", "Secret/PlainValue", FaultKind::Invalid)]
    );
}

/// rustls-style: every truncation of a small file is refused as malformed, never a partial
/// import, never a panic. Only cuts inside the trailing newline still give the whole token.
#[test]
fn every_truncation_of_a_plain_file_is_refused() {
    let full = fixture("gen-plain-totp60.pskcxml");
    let end = full.len()
        - full
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    for len in 0..full.len() {
        let result = import_pskc(&full[..len], &Decryption::None);
        if len >= end {
            assert_eq!(result.unwrap()[0].serial, "PT-60");
        } else {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("prefix of {len} bytes imported"));
            assert_eq!(
                err.code(),
                "seed_file_malformed",
                "prefix of {len} bytes: {err}"
            );
        }
    }
    // The same for an encrypted file with its key (cuts inside base64 included).
    let full = fixture("rfc6030-figure6.pskcxml");
    let dec = decryption_for("rfc6030-figure6.pskcxml");
    let end = full.len() - 1;
    for len in 0..end {
        let err = import_pskc(&full[..len], &dec).err();
        assert!(
            err.is_some_and(|e| e.code() == "seed_file_malformed"),
            "prefix of {len} bytes"
        );
    }
}
