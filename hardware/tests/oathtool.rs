//! Independent cross-check of the OTP engine against OATH Toolkit's `oathtool` (Debian package
//! `oathtool`). The tool is required: without it these tests fail, they do not skip.

#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::process::Command;

use data_encoding::HEXLOWER;
use sesame_hardware::{Algorithm, Digits, OtpSecret, TotpParams, hotp, totp_at_step};

/// Runs `oathtool` with `args` and returns its single output line.
fn oathtool(args: &[&str]) -> String {
    let output = match Command::new("oathtool").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`oathtool` is not on PATH: run `scripts/setup` (it installs the Debian package \
             `oathtool`); these cross-checks are required, not optional"
        ),
        Err(e) => panic!("cannot run oathtool: {e}"),
    };
    assert!(
        output.status.success(),
        "oathtool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Deterministic "random-ish" numbers (SplitMix64), so a failure can be replayed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// `unix` as `YYYY-MM-DD hh:mm:ss UTC` (days to civil date: H. Hinnant's algorithm).
fn utc_date(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} UTC")
}

#[test]
fn utc_date_formats_known_instants() {
    assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc_date(1_234_567_890), "2009-02-13 23:31:30 UTC");
    assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(utc_date(20_000_000_000), "2603-10-11 11:33:20 UTC");
}

#[test]
fn totp_matches_oathtool() {
    let mut rng = SplitMix64(0x5e5a_3e00_0000_0001);
    let key_lens = [10, 16, 20, 32, 64, 13, 40, 20];
    let edge_times = [0, 59, 1_111_111_109, (1 << 31) - 1, 1 << 31, 20_000_000_000];
    let mut cases = 0;
    for round in 0..24usize {
        let algorithm = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512][round % 3];
        let digits = if round % 2 == 0 {
            Digits::SIX
        } else {
            Digits::EIGHT
        };
        let period = if round % 4 < 2 { 30 } else { 60 };
        let key = rng.bytes(key_lens[round % key_lens.len()]);
        let time = match edge_times.get(round) {
            Some(&t) => t,
            None => rng.next() % 4_102_444_800, // before 2100
        };
        let params = TotpParams::new(algorithm, digits, period).unwrap();
        let ours = totp_at_step(&key, params.step_at(time), &params);
        let theirs = oathtool(&[
            &format!("--totp={}", algorithm.as_str().to_lowercase()),
            "-d",
            &digits.get().to_string(),
            "--now",
            &utc_date(time),
            "-s",
            &format!("{period}s"),
            &HEXLOWER.encode(&key),
        ]);
        assert_eq!(
            ours.as_str(),
            theirs,
            "{algorithm} digits={} period={period} time={time} key={}",
            digits.get(),
            HEXLOWER.encode(&key)
        );
        cases += 1;
    }
    assert_eq!(cases, 24);
}

#[test]
fn hotp_matches_oathtool() {
    let mut rng = SplitMix64(0x5e5a_3e00_0000_0002);
    let counters = [0, 1, 9, 1 << 32, u64::MAX];
    for round in 0..14usize {
        let digits = if round % 2 == 0 {
            Digits::SIX
        } else {
            Digits::EIGHT
        };
        let key_len = 10 + (rng.next() % 55) as usize;
        let key = rng.bytes(key_len);
        let counter = match counters.get(round) {
            Some(&c) => c,
            None => rng.next() % 10_000_000,
        };
        let ours = hotp(&key, counter, Algorithm::Sha1, digits);
        let theirs = oathtool(&[
            "--hotp",
            "-c",
            &counter.to_string(),
            "-d",
            &digits.get().to_string(),
            &HEXLOWER.encode(&key),
        ]);
        assert_eq!(
            ours.as_str(),
            theirs,
            "counter={counter} digits={} key={}",
            digits.get(),
            HEXLOWER.encode(&key)
        );
    }
}

/// Our base32 goes into oathtool's `-b` and must name the same key.
#[test]
fn base32_secret_matches_oathtool() {
    let mut rng = SplitMix64(0x5e5a_3e00_0000_0003);
    for len in [10, 20, 32] {
        let secret = OtpSecret::from_bytes(rng.bytes(len)).unwrap();
        let time = 1_700_000_000 + rng.next() % 100_000_000;
        let params = TotpParams::default();
        let ours = totp_at_step(secret.as_bytes(), params.step_at(time), &params);
        let theirs = oathtool(&[
            "-b",
            "--totp",
            "--now",
            &utc_date(time),
            &secret.to_base32(),
        ]);
        assert_eq!(ours.as_str(), theirs, "len={len} time={time}");
    }
}
