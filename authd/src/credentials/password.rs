//! Password and username rules (NIST SP 800-63B-4, DESIGN.md §4).
//!
//! - A password is NFKC-normalised and checked whole (no truncation), at most `max_bytes`
//!   (1 024) bytes, at least 8 characters where the account's policy requires a second factor and
//!   15 where it does not;
//! - it is not in the common-password list (Django's list of 19 640 passwords, itself drawn from
//!   Royce Williams' 2017 corpus, compared case-insensitively), not all digits, and does not
//!   contain the username or the service name;
//! - no composition rules (no "one upper case, one symbol").
//!
//! Usernames: 1–150 characters of letters, digits and `@.+-_`, NFKC-normalised and lower-cased
//! (so `Alice` and `alice` are one account).

use std::collections::HashSet;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

static COMMON_LIST: &str = include_str!("../../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_LIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Number of entries in the embedded common-password list.
pub fn common_list_len() -> usize {
    common().len()
}

/// The rule a rejected password broke. `Display` names the rule for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Fewer characters than the policy asks.
    #[error("the password must be at least {min} characters long")]
    TooShort {
        /// The minimum that applies to this account.
        min: usize,
    },
    /// More bytes than accepted.
    #[error("the password must be at most {max} bytes long")]
    TooLong {
        /// The maximum in bytes.
        max: usize,
    },
    /// It is on the list of commonly used passwords.
    #[error("this password is too common: it appears in lists of frequently used passwords")]
    Common,
    /// Digits only.
    #[error("the password must not consist of digits only")]
    AllDigits,
    /// It contains the username.
    #[error("the password must not contain the username")]
    ContainsUsername,
    /// It contains the name of the service.
    #[error("the password must not contain the name of the service")]
    ContainsServiceName,
    /// It is the password being replaced.
    #[error("the new password must differ from the current one")]
    Reused,
}

impl PolicyViolation {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyViolation::TooShort { .. } => "password_too_short",
            PolicyViolation::TooLong { .. } => "password_too_long",
            PolicyViolation::Common => "password_common",
            PolicyViolation::AllDigits => "password_all_digits",
            PolicyViolation::ContainsUsername => "password_contains_username",
            PolicyViolation::ContainsServiceName => "password_contains_service_name",
            PolicyViolation::Reused => "password_reused",
        }
    }
}

/// The password policy, from `[password]` and `server.service_name`.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Minimum length when the account must use a second factor.
    pub min_with_mfa: usize,
    /// Minimum length when it need not.
    pub min_without_mfa: usize,
    /// Maximum length in bytes.
    pub max_bytes: usize,
    /// Lower-cased service name, banned inside passwords.
    pub service_name: String,
}

impl PasswordPolicy {
    /// Build from configuration.
    pub fn from_config(cfg: &sesame_config::Config) -> Self {
        PasswordPolicy {
            min_with_mfa: cfg.password.min_length_with_mfa,
            min_without_mfa: cfg.password.min_length_without_mfa,
            max_bytes: cfg.password.max_bytes,
            service_name: cfg.server.service_name.to_lowercase(),
        }
    }

    /// Check a new password for `username`; returns its normalised form (what gets hashed).
    pub fn check(
        &self,
        password: &str,
        username: &str,
        mfa_required: bool,
    ) -> Result<Zeroizing<String>, PolicyViolation> {
        if password.len() > self.max_bytes {
            return Err(PolicyViolation::TooLong {
                max: self.max_bytes,
            });
        }
        let norm = normalize(password);
        if norm.len() > self.max_bytes {
            return Err(PolicyViolation::TooLong {
                max: self.max_bytes,
            });
        }
        let min = if mfa_required {
            self.min_with_mfa
        } else {
            self.min_without_mfa
        };
        if norm.chars().count() < min {
            return Err(PolicyViolation::TooShort { min });
        }
        if norm.chars().all(|c| c.is_ascii_digit()) {
            return Err(PolicyViolation::AllDigits);
        }
        let lower = Zeroizing::new(norm.to_lowercase());
        if common().contains(lower.as_str()) {
            return Err(PolicyViolation::Common);
        }
        if username.chars().count() >= 3 && lower.contains(&username.to_lowercase()) {
            return Err(PolicyViolation::ContainsUsername);
        }
        if self.service_name.chars().count() >= 3 && lower.contains(&self.service_name) {
            return Err(PolicyViolation::ContainsServiceName);
        }
        Ok(norm)
    }
}

/// NFKC form of a password: what is hashed at enrolment and at every verification, so the same
/// password typed on two keyboards that compose characters differently still matches.
pub fn normalize(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// Longest username accepted.
pub const MAX_USERNAME_CHARS: usize = 150;

/// Normalise and check a username; the error is a sentence naming the rule.
pub fn normalize_username(raw: &str) -> Result<String, String> {
    let name: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    if name.is_empty() {
        return Err("the username must not be empty".into());
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(format!(
            "the username must be at most {MAX_USERNAME_CHARS} characters long"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || "@.+-_".contains(*c)))
    {
        return Err(format!(
            "the username may contain only letters, digits and @ . + - _ (found {bad:?})"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_with_mfa: 8,
            min_without_mfa: 15,
            max_bytes: 1024,
            service_name: "sesame".into(),
        }
    }

    #[test]
    fn list_is_large_enough() {
        assert!(common_list_len() >= 10_000, "{}", common_list_len());
    }

    #[test]
    fn each_rule_is_named() {
        let p = policy();
        let cases = [
            ("short1!", true, PolicyViolation::TooShort { min: 8 }),
            ("eleven char", false, PolicyViolation::TooShort { min: 15 }),
            ("123456789012", true, PolicyViolation::AllDigits),
            ("Password1", true, PolicyViolation::Common),
            ("ILOVEYOU", true, PolicyViolation::Common),
            ("xx-alice-xx", true, PolicyViolation::ContainsUsername),
            ("my Sesame pass", true, PolicyViolation::ContainsServiceName),
        ];
        for (pw, mfa, want) in cases {
            assert_eq!(p.check(pw, "alice", mfa).unwrap_err(), want, "{pw}");
        }
        let long = "a".repeat(1025);
        assert_eq!(
            p.check(&long, "alice", true).unwrap_err(),
            PolicyViolation::TooLong { max: 1024 }
        );
        assert_eq!(
            PolicyViolation::TooShort { min: 15 }.to_string(),
            "the password must be at least 15 characters long"
        );
    }

    #[test]
    fn good_passwords_pass_whole_and_normalised() {
        let p = policy();
        assert!(p.check("tortue-lavande-9", "alice", true).is_ok());
        assert!(
            p.check("correct horse battery staple", "alice", false)
                .is_ok()
        );
        // No truncation: a 1 000-byte password is accepted and kept whole.
        let long = "ab".repeat(500);
        assert_eq!(p.check(&long, "alice", true).unwrap().len(), 1000);
        // NFKC: the ligature "ﬁ" becomes "fi".
        assert_eq!(&*normalize("ﬁne"), "fine");
        // Length counts characters, not bytes.
        assert!(p.check("éééééééé", "alice", true).is_ok());
    }

    #[test]
    fn usernames() {
        assert_eq!(
            normalize_username("  Alice.B+x@Example.org ").unwrap(),
            "alice.b+x@example.org"
        );
        assert!(normalize_username("").is_err());
        assert!(
            normalize_username("bob smith")
                .unwrap_err()
                .contains("only letters")
        );
        assert!(normalize_username("a/b").is_err());
        assert!(
            normalize_username(&"a".repeat(151))
                .unwrap_err()
                .contains("150")
        );
        assert!(normalize_username(&"a".repeat(150)).is_ok());
        assert_eq!(normalize_username("Élodie").unwrap(), "élodie");
    }
}
