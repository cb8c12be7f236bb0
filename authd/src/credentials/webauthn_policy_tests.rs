//! Tests of the attestation-policy parser: real PEM certificates made with rcgen, and a corpus
//! of hostile inputs fed to the same entry point the fuzz target (`authd/fuzz/`) drives.

use super::*;

fn ca_pem(name: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("self-signed").pem()
}

const AAGUID: &str = "0fb9bcbc-a0d4-4042-bbb0-559bc1631e28";

#[test]
fn a_ca_file_with_aaguids_and_roles_parses() {
    let pem = format!("{}{}", ca_pem("one"), ca_pem("two"));
    let p =
        parse_policy("admin, helpdesk", AAGUID, &[("cas.pem", pem.as_bytes())]).expect("policy");
    assert_eq!(p.ca_count(), 2);
    let list = p.ca_list().expect("cas");
    for ca in list.cas().values() {
        assert!(!ca.blanket_allow(), "models are restricted");
        assert_eq!(ca.aaguids().len(), 1);
    }
    // Without AAGUIDs every model of the CA is accepted.
    let p = parse_policy("admin", "", &[("cas.pem", pem.as_bytes())]).expect("policy");
    assert!(
        p.ca_list()
            .expect("cas")
            .cas()
            .values()
            .all(|c| c.blanket_allow())
    );
    assert!(p.announced_model_allowed(None));
}

#[test]
fn announced_model_rule_without_ca_files() {
    let p = parse_policy("admin", &AAGUID.to_uppercase(), &[]).expect("policy");
    assert!(p.ca_list().is_none());
    assert!(p.announced_model_allowed(Some(AAGUID)));
    assert!(!p.announced_model_allowed(Some("cb69481e-8ff7-4039-93ec-0a2729a154a8")));
    assert!(!p.announced_model_allowed(None));
}

#[test]
fn mistakes_are_named() {
    assert_eq!(
        parse_policy("root", "", &[]).unwrap_err(),
        PolicyError::BadRole("root".into())
    );
    assert_eq!(
        parse_policy("admin", "", &[]).unwrap_err(),
        PolicyError::Empty
    );
    assert_eq!(
        parse_policy("", "0fb9bcbca0d44042bbb0559bc1631e28", &[]).unwrap_err(),
        PolicyError::BadAaguid("0fb9bcbca0d44042bbb0559bc1631e28".into()),
        "the hyphenated form only"
    );
    assert_eq!(
        parse_policy("admin", "", &[("empty.pem", b"")]).unwrap_err(),
        PolicyError::NoCertificate("empty.pem".into())
    );
    assert!(matches!(
        parse_policy(
            "admin",
            "",
            &[(
                "x.pem",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            )]
        ),
        Err(PolicyError::BadCertificate { index: 1, .. })
    ));
    // No policy at all is fine.
    let p = parse_policy("", "", &[]).expect("empty");
    assert_eq!(p.ca_count(), 0);
}

/// Hostile inputs for [`parse_policy`]: never a panic, always an error or a policy.
pub(crate) fn hostile_corpus() -> Vec<(String, String, Vec<u8>)> {
    let good = ca_pem("good");
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let body_only: String = good
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    // The DER's first byte (the SEQUENCE tag) made a non-base64 character.
    let flipped = good.replacen("-----\nM", "-----\n!", 1).into_bytes();
    let mut many = String::new();
    for _ in 0..300 {
        many.push_str("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
    }
    vec![
        ("".into(), "".into(), vec![]),
        ("admin".into(), "".into(), vec![0xff, 0xfe, 0x00]),
        ("admin".into(), "".into(), truncated.into_bytes()),
        ("admin".into(), "".into(), body_only.into_bytes()),
        ("admin".into(), AAGUID.into(), flipped),
        ("admin".into(), "".into(), many.into_bytes()),
        (
            "admin".into(),
            "".into(),
            b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----".to_vec(),
        ),
        (
            "admin".into(),
            "".into(),
            b"-----BEGIN CERTIFICATE-----\n=====\n-----END CERTIFICATE-----".to_vec(),
        ),
        (
            "admin".into(),
            "".into(),
            b"-----END CERTIFICATE----------BEGIN CERTIFICATE-----".to_vec(),
        ),
        (
            ",,,admin,,".into(),
            "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz".into(),
            vec![],
        ),
        ("admin".into(), "é".repeat(36), vec![]),
        ("\u{0}".into(), "\u{0}".into(), vec![0]),
        (
            "admin".into(),
            "".into(),
            "-----BEGIN CERTIFICATE-----\n".repeat(1000).into_bytes(),
        ),
    ]
}

#[test]
fn hostile_inputs_never_panic() {
    for (i, (roles, aaguids, file)) in hostile_corpus().into_iter().enumerate() {
        let files: Vec<(&str, &[u8])> = if file.is_empty() {
            vec![]
        } else {
            vec![("f.pem", file.as_slice())]
        };
        let r = parse_policy(&roles, &aaguids, &files);
        // Only the all-empty input is a (empty) policy; every other one is refused.
        assert_eq!(r.is_ok(), i == 0, "input {i}: {r:?}");
    }
    // One character changed inside the body: parsed or refused, never a panic.
    let good = ca_pem("flip");
    for at in [70, good.len() / 2, good.len() - 40] {
        let mut b = good.clone().into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        let _ = parse_policy("admin", "", &[("f.pem", b.as_slice())]);
    }
    // The fuzz target's own split of raw bytes, on a few shapes.
    for raw in [
        &b""[..],
        b"\n",
        b"admin\n\n",
        b"admin\nx\n-----BEGIN CERTIFICATE-----",
        &[0xff; 64],
    ] {
        let _ = fuzz_entry(raw);
    }
}
