//! The audit trail's hash chain.
//!
//! Each entry's hash is `SHA-256(previous hash ‖ canonical encoding of the entry)`, the first
//! entry chaining to 32 zero bytes. The encoding is length-prefixed field by field, so no two
//! different entries encode alike. Changing, removing or reordering any stored entry breaks every
//! hash after it, which `Store::verify_audit_chain` (and `GET /api/v1/audit/verify`) detects.

use sha2::{Digest, Sha256};

/// The fields of an entry, in chain order.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Sequence number.
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// Actor.
    pub actor: Option<&'a str>,
    /// Action.
    pub action: &'a str,
    /// Target.
    pub target: Option<&'a str>,
    /// `success` / `failure`.
    pub outcome: &'a str,
    /// Client address.
    pub address: &'a str,
    /// Client user agent.
    pub user_agent: &'a str,
    /// Detail as compact JSON text.
    pub detail: &'a str,
}

/// The hash that precedes the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Hash of `entry` chained after `prev`.
pub fn chain_hash(prev: &[u8; 32], entry: &Entry<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(entry.id.to_be_bytes());
    h.update(entry.at.to_be_bytes());
    let mut field = |s: Option<&str>| match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    };
    field(entry.actor);
    field(Some(entry.action));
    field(entry.target);
    field(Some(entry.outcome));
    field(Some(entry.address));
    field(Some(entry.user_agent));
    field(Some(entry.detail));
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(actor: Option<&'a str>, target: Option<&'a str>) -> Entry<'a> {
        Entry {
            id: 1,
            at: 2,
            actor,
            action: "login.password",
            target,
            outcome: "success",
            address: "127.0.0.1",
            user_agent: "ua",
            detail: "{}",
        }
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = chain_hash(&GENESIS, &entry(Some("ab"), None));
        let b = chain_hash(&GENESIS, &entry(None, Some("ab")));
        let c = chain_hash(&GENESIS, &entry(Some("a"), Some("b")));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn hash_depends_on_previous() {
        let e = entry(Some("x"), None);
        assert_ne!(chain_hash(&GENESIS, &e), chain_hash(&[1; 32], &e));
        assert_eq!(chain_hash(&GENESIS, &e), chain_hash(&GENESIS, &e));
    }
}
