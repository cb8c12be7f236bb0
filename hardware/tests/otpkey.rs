//! The `otpkey` binary: the code a key displays, and a plain sentence with exit status 2 for
//! any bad input.

use std::process::{Command, Output};

use crate::{GEN_PASSWORD, GEN_PSK_HEX, RFC_PSK_HEX, expected_codes};

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn otpkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otpkey"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `otpkey` expecting success; returns stdout without the newline.
fn code(args: &[&str]) -> String {
    let out = otpkey(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// Runs `otpkey` expecting exit status 2; returns stderr.
fn refusal(args: &[&str]) -> String {
    let out = otpkey(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("otpkey: ") && stderr.ends_with('\n'),
        "{stderr:?}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr:?}");
    stderr
}

fn key_args(file: &str) -> Vec<&'static str> {
    match file {
        "rfc6030-figure6.pskcxml" => vec!["--key", RFC_PSK_HEX],
        "rfc6030-figure7.pskcxml" => vec!["--password", "qwerty"],
        "gen-aes256-hmacsha256.pskcxml" => vec!["--key", GEN_PSK_HEX],
        "gen-pbkdf2-sha256.pskcxml" => vec!["--password", GEN_PASSWORD],
        _ => vec![],
    }
}

#[test]
fn prints_the_displayed_code() {
    // Every TOTP expectation, and each HOTP key's first press (a fresh process each time).
    let mut checked = 0;
    for (file, serial, when, want) in expected_codes() {
        let at = match when.as_str() {
            "press:1" => "0",
            w if w.starts_with("press:") => continue,
            w => w,
        };
        let path = fixture_path(&file);
        let mut args = vec!["--file", &path, "--serial", &serial, "--at", at];
        args.extend(key_args(&file));
        assert_eq!(code(&args), want, "{args:?}");
        checked += 1;
    }
    assert_eq!(checked, 45);
    // Without --at a TOTP key shows the code of now: six digits.
    let now = code(&[
        "--file",
        &fixture_path("gen-batch.csv"),
        "--serial",
        "CSV-0001",
    ]);
    assert!(
        now.len() == 6 && now.bytes().all(|b| b.is_ascii_digit()),
        "{now}"
    );
    assert!(code(&["--help"]).starts_with("usage: otpkey --file"));
}

#[test]
fn bad_input_is_one_sentence_and_exit_status_2() {
    let fig6 = fixture_path("rfc6030-figure6.pskcxml");
    let csv = fixture_path("gen-batch.csv");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--file is required"),
        (vec!["--file", &csv], "--serial is required"),
        (vec!["--file", &csv, "--serial"], "--serial needs a value"),
        (
            vec!["--file", &csv, "--serial", "A", "--serial", "B"],
            "--serial is given twice",
        ),
        (vec!["--bogus"], "unknown argument \"--bogus\""),
        (
            vec!["--file", &csv, "--serial", "NOPE"],
            "has no key with serial \"NOPE\"",
        ),
        (
            vec!["--file", &csv, "--serial", "CSV-0001", "--at", "soon"],
            "--at \"soon\" is not",
        ),
        (
            vec!["--file", "/nonexistent/seeds.csv", "--serial", "A"],
            "cannot read /nonexistent",
        ),
        (
            vec!["--file", &fig6, "--serial", "987654321"],
            "encrypted with a pre-shared key",
        ),
        (
            vec!["--file", &fig6, "--serial", "A", "--key", "zz"],
            "not hexadecimal",
        ),
        (
            vec![
                "--file",
                &fig6,
                "--serial",
                "A",
                "--key",
                "00",
                "--password",
                "p",
            ],
            "not both",
        ),
        (
            vec![
                "--file",
                &fig6,
                "--serial",
                "A",
                "--key",
                "00112233445566778899aabbccddeeff",
            ],
            "wrong key or password",
        ),
        (
            vec!["--file", &csv, "--serial", "A", "--password", "p"],
            "holds no encrypted secret",
        ),
    ];
    for (args, want) in cases {
        let stderr = refusal(&args);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let faults = refusal(&[
        "--file",
        &fixture_path("rfc6030-figure2.pskcxml"),
        "--serial",
        "A",
    ]);
    assert!(
        faults.contains("has 2 faults; nothing was imported; KeyPackage 1: DeviceInfo/SerialNo"),
        "{faults}"
    );
}
