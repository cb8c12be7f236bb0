//! The model's own rules: error codes and sentences, redaction, format sniffing.

use super::*;

#[test]
fn import_error_codes_and_sentences_are_stable() {
    let fault = Fault {
        location: "line 3".into(),
        serial: None,
        field: "seed".into(),
        reason: "r".into(),
        kind: FaultKind::Invalid,
    };
    let cases = [
        (
            ImportError::Faults(vec![fault.clone()]),
            "seed_file_faulty",
            "the seed file has 1 fault; nothing was imported",
        ),
        (
            ImportError::Faults(vec![fault.clone(), fault]),
            "seed_file_faulty",
            "the seed file has 2 faults; nothing was imported",
        ),
        (
            ImportError::Decrypt,
            "seed_file_wrong_key",
            "wrong key or password: the seed file's MACs do not verify with it",
        ),
        (
            ImportError::format(FileFormat::Pskc, "no root element"),
            "seed_file_malformed",
            "not a valid PSKC (RFC 6030) document: no root element",
        ),
        (
            ImportError::format(FileFormat::Csv, "x"),
            "seed_file_malformed",
            "not a valid CSV seed file: x",
        ),
        (
            ImportError::Unsupported {
                what: "encryption with an asymmetric key (ds:X509Data)".into(),
            },
            "seed_file_unsupported",
            "the seed file uses encryption with an asymmetric key (ds:X509Data), which is not \
             supported",
        ),
        (
            ImportError::KeyRequired {
                needed: KeyKind::PreSharedKey,
            },
            "seed_file_key_required",
            "the seed file is encrypted with a pre-shared key: give that key",
        ),
        (
            ImportError::KeyRequired {
                needed: KeyKind::Password,
            },
            "seed_file_key_required",
            "the seed file is encrypted with a key derived from a password: give the password",
        ),
        (
            ImportError::NotEncrypted,
            "seed_file_not_encrypted",
            "a key or password was given but the seed file holds no encrypted secret",
        ),
        (
            ImportError::KeyLength {
                len: 32,
                expected: 16,
            },
            "seed_file_key_length",
            "the pre-shared key is 32 bytes long; the file's cipher needs 16",
        ),
        (
            ImportError::Unauthenticated,
            "seed_file_unauthenticated",
            "the seed file encrypts secrets without a MAC (no MACMethod); this is refused",
        ),
        (
            ImportError::NoTokens,
            "seed_file_empty",
            "the seed file holds no token",
        ),
        (
            ImportError::TooLarge { len: 40, max: 32 },
            "seed_file_too_large",
            "the seed file is 40 bytes long; at most 32 are accepted",
        ),
    ];
    for (err, code, display) in cases {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.to_string(), display);
    }
}

#[test]
fn fault_codes_and_display_are_stable() {
    let codes = [
        (FaultKind::Missing, "seed_field_missing"),
        (FaultKind::Invalid, "seed_field_invalid"),
        (FaultKind::Unsupported, "seed_field_unsupported"),
        (FaultKind::UnknownAlgorithm, "seed_unknown_algorithm"),
        (FaultKind::DuplicateSerial, "seed_duplicate_serial"),
        (FaultKind::MacMismatch, "seed_mac_mismatch"),
        (FaultKind::Undecryptable, "seed_undecryptable"),
    ];
    for (kind, code) in codes {
        assert_eq!(kind.code(), code);
    }
    let mut fault = Fault {
        location: "KeyPackage 2".into(),
        serial: Some("987654321".into()),
        field: "Key@Algorithm".into(),
        reason: "unknown algorithm \"urn:x\"".into(),
        kind: FaultKind::UnknownAlgorithm,
    };
    assert_eq!(
        fault.to_string(),
        "KeyPackage 2 (serial 987654321): Key@Algorithm: unknown algorithm \"urn:x\""
    );
    fault.serial = None;
    assert_eq!(
        fault.to_string(),
        "KeyPackage 2: Key@Algorithm: unknown algorithm \"urn:x\""
    );
}

#[test]
fn debug_never_shows_keys_passwords_or_seeds() {
    let psk = Decryption::PreSharedKey(vec![0xab; 16]);
    assert_eq!(
        format!("{psk:?}"),
        "Decryption::PreSharedKey(<redacted, 16 bytes>)"
    );
    let password = Decryption::Password("qwerty".into());
    assert_eq!(format!("{password:?}"), "Decryption::Password(<redacted>)");
    assert_eq!(format!("{:?}", Decryption::None), "Decryption::None");

    let token = TokenSeed {
        serial: "K-1".into(),
        kind: TokenKind::Hotp { counter: 0 },
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        secret: OtpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap(),
        manufacturer: Some("Acme".into()),
        model: None,
    };
    let debug = format!("{token:?}");
    assert!(debug.contains("K-1") && debug.contains("Acme"), "{debug}");
    assert!(debug.contains("OtpSecret(<redacted, 20 bytes>)"), "{debug}");
    for leak in ["1234", "GEZDGNBV", "3132", "49, 50"] {
        assert!(!debug.contains(leak), "{debug}");
    }
}

#[test]
fn token_helpers() {
    let totp = TokenSeed {
        serial: "Ab-1".into(),
        kind: TokenKind::Totp { period: 60 },
        algorithm: Algorithm::Sha256,
        digits: Digits::EIGHT,
        secret: OtpSecret::from_bytes(vec![7; 20]).unwrap(),
        manufacturer: None,
        model: None,
    };
    assert!(totp.has_serial(" ab-1 "));
    assert!(!totp.has_serial("ab-2"));
    let params = totp.totp_params().unwrap();
    assert_eq!((params.period(), params.digits()), (60, Digits::EIGHT));
}

#[test]
fn import_sniffs_the_format() {
    let csv = b"K-1,3132333435363738393031323334353637383930,hotp,6,0\n";
    assert_eq!(import(csv, &Decryption::None).unwrap().len(), 1);
    assert_eq!(
        import(csv, &Decryption::Password("p".into())).unwrap_err(),
        ImportError::NotEncrypted
    );
    let err = import(b" \n<nope/>", &Decryption::None).unwrap_err();
    assert_eq!(err.code(), "seed_file_malformed");
    assert!(err.to_string().starts_with("not a valid PSKC"), "{err}");
}

#[test]
fn size_and_encoding_are_checked_first() {
    let big = vec![b' '; MAX_FILE_LEN + 1];
    assert_eq!(
        import_csv(&big).unwrap_err(),
        ImportError::TooLarge {
            len: MAX_FILE_LEN + 1,
            max: MAX_FILE_LEN
        }
    );
    let err = import_pskc(b"<a>\xc3</a>", &Decryption::None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a valid PSKC (RFC 6030) document: the file is not UTF-8 (invalid byte at offset 3)"
    );
}
