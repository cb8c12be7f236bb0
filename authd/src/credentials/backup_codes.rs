//! Backup codes: a set of one-time codes usable in place of a second factor.
//!
//! Each code is 16 characters of Crockford's base32 alphabet (80 bits), shown as
//! `xxxx-xxxx-xxxx-xxxx`. The first [`TAG_LEN`] characters are stored in clear as a *tag* so that
//! checking a code costs one argon2id verification instead of ten; the remaining 70 bits stay
//! secret, above the 64 bits NIST SP 800-63B-4 asks of a look-up secret. The whole code is stored
//! only as an argon2id hash. Input is forgiving: case, spaces and dashes are ignored, and
//! `i`/`l` read as `1`, `o` as `0`.

use crate::Error;
use zeroize::Zeroizing;

/// Crockford's base32 alphabet, lower case (no i, l, o, u).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per code.
pub const CODE_LEN: usize = 16;
/// Leading characters stored in clear to select the hash.
pub const TAG_LEN: usize = 2;

/// A freshly generated code: the text to show once, its tag, and its normalised form to hash.
pub struct NewCode {
    /// What the user sees and writes down (`abcd-efgh-jkmn-pqrs`).
    pub display: Zeroizing<String>,
    /// Normalised form (what is hashed).
    pub normalized: Zeroizing<String>,
    /// Public tag.
    pub tag: String,
}

impl std::fmt::Debug for NewCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCode")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// Generate `n` distinct codes.
pub fn generate(n: usize) -> Result<Vec<NewCode>, Error> {
    let mut out: Vec<NewCode> = Vec::with_capacity(n);
    while out.len() < n {
        let mut raw = Zeroizing::new([0u8; CODE_LEN]);
        crate::credentials::tokens::random_bytes(raw.as_mut())?;
        // 256 is a multiple of 32: masking keeps the distribution uniform.
        let norm: Zeroizing<String> = Zeroizing::new(
            raw.iter()
                .map(|b| ALPHABET[usize::from(b & 31)] as char)
                .collect(),
        );
        if out.iter().any(|c| *c.normalized == *norm) {
            continue;
        }
        let display = Zeroizing::new(
            norm.as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("-"),
        );
        out.push(NewCode {
            tag: norm[..TAG_LEN].to_owned(),
            display,
            normalized: norm,
        });
    }
    Ok(out)
}

/// Normalise user input; `None` if it cannot be a backup code.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let mut s = Zeroizing::new(String::with_capacity(CODE_LEN));
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if ALPHABET.contains(&(c as u8)) && c.is_ascii() => c,
            _ => return None,
        };
        s.push(c);
    }
    (s.len() == CODE_LEN).then_some(s)
}

/// The tag of a normalised code.
pub fn tag_of(normalized: &str) -> &str {
    &normalized[..TAG_LEN]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_promised_shape() {
        let codes = generate(10).unwrap();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.display.len(), 19);
            assert_eq!(c.normalized.len(), CODE_LEN);
            assert_eq!(
                normalize(&c.display).as_deref().map(|s| s.as_str()),
                Some(c.normalized.as_str())
            );
            assert_eq!(tag_of(&c.normalized), c.tag);
        }
        // 16 symbols × 5 bits = 80 bits, of which 70 are secret after the tag.
        const { assert!((CODE_LEN - TAG_LEN) * 5 >= 64) };
        assert!(!format!("{:?}", codes[0]).contains(codes[0].normalized.as_str()));
    }

    #[test]
    fn input_is_forgiving_but_strict_on_length_and_alphabet() {
        assert_eq!(
            normalize(" ABCD efgh-JKMN pqrs ").unwrap().as_str(),
            "abcdefghjkmnpqrs"
        );
        assert_eq!(
            normalize("oooo-iiii-llll-0000").unwrap().as_str(),
            "0000111111110000"
        );
        assert!(normalize("abcd-efgh-jkmn-pqr").is_none());
        assert!(normalize("abcd-efgh-jkmn-pqrsx").is_none());
        assert!(
            normalize("abcd-efgh-jkmn-pqru").is_none(),
            "u is not in the alphabet"
        );
        assert!(normalize("abcd-efgh-jkmn-pqr€").is_none());
    }
}
