//! Opaque bearer tokens (sessions, login challenges, CSRF seeds): 256 random bits, shown to the
//! client once as base64url, stored only as their SHA-256.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A freshly minted token: the text for the client and the hash for the store.
pub struct Token {
    /// base64url (no padding) of 32 random bytes. Sent to the client, never stored or logged.
    pub text: Zeroizing<String>,
    /// SHA-256 of `text`, the only form the store keeps.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Fill `buf` from the OS generator. A failure of the OS RNG leaves the process unable to do
/// anything safely, so it is reported as an error to the caller (never a weak fallback).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), crate::Error> {
    getrandom::fill(buf).map_err(|e| crate::Error::Internal(format!("random generator: {e}")))
}

/// Symbols of secrets people read and type: no 0/o or 1/l/i look-alikes.
const READABLE: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A random secret of `len` readable symbols (≈ 4.95 bits each), grouped by four with dashes
/// (`k7dy-awfr-s36z`). For passwords a person is handed (bootstrap, temporary passwords).
pub fn readable_secret(len: usize) -> Result<Zeroizing<String>, crate::Error> {
    let mut chars = Zeroizing::new(Vec::with_capacity(len));
    while chars.len() < len {
        let mut b = [0u8; 32];
        random_bytes(&mut b)?;
        for x in b {
            // Rejection sampling keeps the 31 symbols equally likely.
            if chars.len() < len && usize::from(x) < READABLE.len() * 8 {
                chars.push(READABLE[usize::from(x) % READABLE.len()]);
            }
        }
    }
    let groups: Vec<&str> = chars
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    Ok(Zeroizing::new(groups.join("-")))
}

/// Mint a new token.
pub fn new_token() -> Result<Token, crate::Error> {
    let mut raw = Zeroizing::new([0u8; 32]);
    random_bytes(raw.as_mut())?;
    let text = Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(raw.as_ref()));
    let hash = hash_token(&text);
    Ok(Token { text, hash })
}

/// The store's form of a token presented by a client.
pub fn hash_token(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_secrets_have_the_promised_shape() {
        let s = readable_secret(24).unwrap();
        assert_eq!(s.len(), 24 + 5);
        assert!(s.split('-').all(|g| g.len() == 4));
        assert!(s.chars().all(|c| c == '-' || READABLE.contains(&(c as u8))));
        assert_ne!(*s, *readable_secret(24).unwrap());
    }

    #[test]
    fn tokens_are_unique_256_bit_and_hash_consistently() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(*a.text, *b.text);
        assert_eq!(a.text.len(), 43); // 32 bytes in base64url without padding
        assert_eq!(hash_token(&a.text), a.hash);
        assert_ne!(a.hash, b.hash);
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }
}
