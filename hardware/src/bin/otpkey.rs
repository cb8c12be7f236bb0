//! `otpkey`: prints the code a hardware OTP key from a seed file displays, for demos and tests.
//!
//! ```text
//! otpkey --file SEEDS [--key HEX | --password P] --serial S [--at UNIX]
//! ```
//! PSKC or CSV is told from the file's first byte. A TOTP key shows the code of `--at` (default:
//! now); an HOTP key shows the code of its file counter (its first press). Exit status 0 with
//! the code on stdout; 2 with one plain sentence on stderr for any bad input.
//!
//! The password and key are visible to other local users in the process list: this is a
//! test and demo tool, not a way to handle production seed files.

use std::process::ExitCode;

use data_encoding::HEXLOWER_PERMISSIVE;
use sesame_hardware::emulator::KeyEmulator;
use sesame_hardware::seeds::{self, Decryption, ImportError};

const USAGE: &str = "usage: otpkey --file SEEDS [--key HEX | --password P] --serial S [--at UNIX]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(code) => {
            println!("{code}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("otpkey: {message}");
            ExitCode::from(2)
        }
    }
}

#[derive(Default)]
struct Args {
    file: Option<String>,
    key: Option<String>,
    password: Option<String>,
    serial: Option<String>,
    at: Option<String>,
}

/// The arguments, or `None` for `--help`.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args::default();
    let mut args = args;
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--file" => &mut parsed.file,
            "--key" => &mut parsed.key,
            "--password" => &mut parsed.password,
            "--serial" => &mut parsed.serial,
            "--at" => &mut parsed.at,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        if slot.replace(value).is_some() {
            return Err(format!("{flag} is given twice"));
        }
    }
    Ok(Some(parsed))
}

fn run(args: impl Iterator<Item = String>) -> Result<String, String> {
    let Some(args) = parse(args)? else {
        return Ok(USAGE.to_owned());
    };
    let file = args.file.ok_or(format!("--file is required; {USAGE}"))?;
    let serial = args
        .serial
        .ok_or(format!("--serial is required; {USAGE}"))?;
    let dec = match (args.key, args.password) {
        (Some(_), Some(_)) => return Err("give --key or --password, not both".to_owned()),
        (Some(hex), None) => Decryption::PreSharedKey(
            HEXLOWER_PERMISSIVE
                .decode(hex.trim().as_bytes())
                .map_err(|_| "the --key value is not hexadecimal".to_owned())?,
        ),
        (None, Some(password)) => Decryption::Password(password),
        (None, None) => Decryption::None,
    };
    let at = match args.at {
        Some(at) => at
            .parse::<u64>()
            .map_err(|_| format!("--at {at:?} is not a number of seconds since 1970"))?,
        None => now_unix()?,
    };
    let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let tokens = seeds::import(&bytes, &dec).map_err(|e| describe(&file, &e))?;
    let seed = tokens
        .into_iter()
        .find(|t| t.has_serial(&serial))
        .ok_or_else(|| format!("{file} has no key with serial {serial:?}"))?;
    Ok(KeyEmulator::from_seed(seed).display_at(at))
}

/// The import error as one sentence, faults included.
fn describe(file: &str, error: &ImportError) -> String {
    let mut message = format!("{file}: {error}");
    if let ImportError::Faults(faults) = error {
        for fault in faults {
            message.push_str(&format!("; {fault}"));
        }
    }
    message
}

/// The edge of the program: the one place the clock is read.
#[allow(clippy::disallowed_methods)] // reason: a CLI's main reads the clock once and passes it down
fn now_unix() -> Result<u64, String> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "the system clock is before 1970".to_owned())
}
