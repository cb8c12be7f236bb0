//! The vendor CSV seed file: one key per line.
//!
//! ```text
//! # serial, seed (hex), type, digits, period (TOTP) or initial counter (HOTP)
//! serial,seed,type,digits,period_or_counter
//! K-0001, 3132333435363738393031323334353637383930, totp, 6, 60
//! K-0002, 3132333435363738393031323334353637383930, HOTP, 8, 0
//! ```
//! - Exactly five comma-separated fields, each trimmed of spaces and tabs. No quoting: a field
//!   with a quote is a fault (the format needs none, and half-supported quoting hides errors).
//! - An optional header line: the first non-comment line, if its first field is `serial`
//!   (any case).
//! - Lines starting with `#` (after optional spaces) are comments; blank lines are skipped;
//!   `\n` or `\r\n` line ends; UTF-8, an optional BOM.
//! - The seed is hex (either case), 10 to 128 bytes. The hash is always HMAC-SHA1.
//! - Type `totp` or `hotp`, any case. Digits 6 or 8. For TOTP the fifth field is the period,
//!   30 or 60; for HOTP the initial counter.
//!
//! Every faulty line is reported with its 1-based line number and the field at fault.

use data_encoding::HEXLOWER_PERMISSIVE;
use zeroize::Zeroizing;

use super::{
    Entry, FaultKind, FileFormat, ImportError, TokenKind, TokenSeed, decode_text, duplicate_faults,
    order_faults,
};
use crate::Algorithm;

/// The fields of a line, in order.
const FIELDS: [&str; 5] = ["serial", "seed", "type", "digits", "period_or_counter"];

/// Imports a vendor CSV seed file: every key, or an error and none.
pub fn import_csv(text: &[u8]) -> Result<Vec<TokenSeed>, ImportError> {
    let text = decode_text(text, FileFormat::Csv)?;
    if text.trim_start().starts_with('<') {
        return Err(ImportError::format(
            FileFormat::Csv,
            "the file starts with '<': it looks like XML (a PSKC file?), not CSV",
        ));
    }
    let mut tokens = Vec::new();
    let mut faults = Vec::new();
    let mut serials = Vec::new();
    let mut seen_data = false;
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let content = line.trim_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let first_data_line = !seen_data;
        seen_data = true;
        if first_data_line && is_header(content) {
            continue;
        }
        let mut entry = Entry::new(format!("line {}", index + 1));
        let token = parse_line(content, &mut entry);
        if let Some(serial) = &entry.serial {
            serials.push((entry.location.clone(), serial.clone()));
        }
        if entry.faults.is_empty() {
            tokens.extend(token);
        }
        faults.append(&mut entry.faults);
    }
    duplicate_faults(&serials, "serial", &mut faults);
    if !faults.is_empty() {
        order_faults(&mut faults);
        return Err(ImportError::Faults(faults));
    }
    if tokens.is_empty() {
        return Err(ImportError::NoTokens);
    }
    Ok(tokens)
}

fn is_header(line: &str) -> bool {
    line.split(',').next().is_some_and(|first| {
        first
            .trim_matches([' ', '\t'])
            .eq_ignore_ascii_case("serial")
    })
}

fn parse_line(line: &str, entry: &mut Entry) -> Option<TokenSeed> {
    let fields: Vec<&str> = line
        .split(',')
        .map(|f| f.trim_matches([' ', '\t']))
        .collect();
    if fields.len() != FIELDS.len() {
        entry.fault(
            FaultKind::Invalid,
            "line",
            format!(
                "expected 5 comma-separated fields (serial, seed, type, digits, \
                 period_or_counter), found {}",
                fields.len()
            ),
        );
        return None;
    }
    let mut quoted = false;
    for (field, value) in FIELDS.iter().zip(&fields) {
        if value.contains(['"', '\'']) {
            entry.fault(
                FaultKind::Invalid,
                field,
                "quotes are not supported: write the value without them",
            );
            quoted = true;
        }
    }
    if quoted {
        return None;
    }
    let [serial, seed, kind, digits, fifth] = [0, 1, 2, 3, 4].map(|i| fields[i]);
    let serial = entry.serial("serial", Some(serial));
    let secret = match HEXLOWER_PERMISSIVE.decode(seed.as_bytes()) {
        Ok(bytes) => entry.secret("seed", Zeroizing::new(bytes).to_vec()),
        Err(_) if seed.is_empty() => {
            entry.fault(FaultKind::Missing, "seed", "the seed is missing");
            None
        }
        Err(_) => {
            entry.fault(
                FaultKind::Invalid,
                "seed",
                "the seed is not hexadecimal (an even number of 0-9, a-f)",
            );
            None
        }
    };
    let digits = match number(entry, "digits", digits) {
        Some(n) => entry.digits("digits", n),
        None => None,
    };
    let fifth_value = number(entry, "period_or_counter", fifth);
    let kind = match kind.to_ascii_lowercase().as_str() {
        "totp" => fifth_value.and_then(|p| entry.period("period_or_counter", p)),
        "hotp" => fifth_value.map(|counter| TokenKind::Hotp { counter }),
        "" => {
            entry.fault(
                FaultKind::Missing,
                "type",
                "the type is missing (totp or hotp)",
            );
            None
        }
        _ => {
            entry.fault(
                FaultKind::UnknownAlgorithm,
                "type",
                format!("unknown type {:?} (totp or hotp)", super::xml::clip(kind)),
            );
            None
        }
    };
    Some(TokenSeed {
        serial: serial?,
        kind: kind?,
        algorithm: Algorithm::Sha1,
        digits: digits?,
        secret: secret?,
        manufacturer: None,
        model: None,
    })
}

fn number(entry: &mut Entry, field: &str, value: &str) -> Option<u64> {
    if value.is_empty() {
        entry.fault(
            FaultKind::Missing,
            field,
            format!("the {field} field is empty"),
        );
        return None;
    }
    match value.parse::<u64>() {
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => Some(n),
        _ => {
            entry.fault(
                FaultKind::Invalid,
                field,
                format!(
                    "{:?} is not a non-negative integer",
                    super::xml::clip(value)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds::Fault;

    const SEED: &str = "3132333435363738393031323334353637383930";

    fn faults(text: &str) -> Vec<Fault> {
        match import_csv(text.as_bytes()) {
            Err(ImportError::Faults(faults)) => faults,
            other => panic!("expected faults, got {other:?}"),
        }
    }

    #[test]
    fn reads_header_comments_blank_lines_and_both_types() {
        let text = format!(
            "\u{feff}# batch 42\r\nSerial, Seed, Type, Digits, Period\r\n\r\n  \
             K-1 , {SEED}, TOTP, 6, 60\r\n# a comment\n\tK-2,{},hotp,8,7\n",
            SEED.to_uppercase()
        );
        let tokens = import_csv(text.as_bytes()).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].serial, "K-1");
        assert_eq!(tokens[0].kind, TokenKind::Totp { period: 60 });
        assert_eq!(tokens[0].digits.get(), 6);
        assert_eq!(tokens[0].secret.as_bytes(), b"12345678901234567890");
        assert_eq!(tokens[1].kind, TokenKind::Hotp { counter: 7 });
        assert_eq!(tokens[1].digits.get(), 8);
        assert_eq!(tokens[1].algorithm, Algorithm::Sha1);
        // A file without a header works too.
        assert_eq!(
            import_csv(format!("K-3,{SEED},totp,6,30").as_bytes())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn every_faulty_line_is_reported_with_its_field() {
        let text = format!(
            "serial,seed,type,digits,period\n\
             K-1,{SEED},totp,6,45\n\
             K-2,xyz,totp,6,30\n\
             K-3,{SEED},sms,6,30\n\
             K-4,{SEED},hotp,7,0\n\
             K-5,{SEED},hotp,6\n\
             \"K-6\",{SEED},hotp,6,0\n\
             ,{SEED},hotp,6,0\n\
             K-8,31323334,hotp,6,0\n\
             K-9,{SEED},hotp,6,-1\n\
             k-1,{SEED},hotp,6,0\n\
             K-10,{SEED},totp,6,30\n"
        );
        let got: Vec<(String, String, FaultKind)> = faults(&text)
            .into_iter()
            .map(|f| (f.location, f.field, f.kind))
            .collect();
        let want = [
            ("line 2", "period_or_counter", FaultKind::Unsupported),
            ("line 3", "seed", FaultKind::Invalid),
            ("line 4", "type", FaultKind::UnknownAlgorithm),
            ("line 5", "digits", FaultKind::Unsupported),
            ("line 6", "line", FaultKind::Invalid),
            ("line 7", "serial", FaultKind::Invalid),
            ("line 8", "serial", FaultKind::Missing),
            ("line 9", "seed", FaultKind::Invalid),
            ("line 10", "period_or_counter", FaultKind::Invalid),
            ("line 11", "serial", FaultKind::DuplicateSerial),
        ]
        .map(|(l, f, k)| (l.to_owned(), f.to_owned(), k));
        assert_eq!(got, want);
    }

    #[test]
    fn fault_messages_name_the_problem_without_the_seed() {
        let all = faults(&format!(
            "K-1,{SEED},totp,6,30\nK-1,{SEED},totp,6,30\nK-2,{SEED}0,totp,6,30\n"
        ));
        assert_eq!(
            all[0].to_string(),
            "line 2 (serial K-1): serial: the serial K-1 is also used by line 1"
        );
        assert_eq!(
            all[1].to_string(),
            "line 3 (serial K-2): seed: the seed is not hexadecimal (an even number of 0-9, a-f)"
        );
        for fault in &all {
            assert!(!format!("{fault:?}").contains(SEED));
        }
        let quoted = faults("\"K-1\",'00',totp,6,30");
        assert_eq!(quoted.len(), 2);
        assert!(quoted[0].reason.contains("quotes are not supported"));
    }

    #[test]
    fn file_level_errors() {
        assert_eq!(import_csv(b"").unwrap_err(), ImportError::NoTokens);
        assert_eq!(
            import_csv(b"# nothing\nserial,seed,type,digits,period\n").unwrap_err(),
            ImportError::NoTokens
        );
        assert_eq!(
            import_csv(b"\xff,00").unwrap_err().code(),
            "seed_file_malformed"
        );
        assert_eq!(
            import_csv(b"  <KeyContainer/>").unwrap_err().code(),
            "seed_file_malformed"
        );
    }
}
