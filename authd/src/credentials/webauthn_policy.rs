//! The per-role attestation policy of security keys and passkeys, from `[webauthn]`
//! (`attestation_roles`, `attestation_ca_files`, `attestation_aaguids`).
//!
//! With CA files, a registration for a listed role must carry an attestation whose certificate
//! chain ends at one of those CAs (webauthn-rs's `AttestationCaList`, verified in
//! `finish_*_registration`, as Kanidm's attested passkeys are), and when AAGUIDs are listed the
//! model must be one of them *as attested by that CA*: a key that merely announces a listed
//! AAGUID but is signed by another CA is refused. Without CA files only the announced AAGUID is
//! compared (the key says which model it is; nothing proves it) — kept for compatibility and
//! documented as the weak form.
//!
//! What lives here: parsing the AAGUID list and the PEM files into an [`AttestationPolicy`]
//! ([`parse_policy`] is the hostile-input entry point, fuzzed in `authd/fuzz/`), and whether a
//! user is concerned. What does not: the ceremonies (`flows::webauthn`).

use crate::model::{Role, User};
use webauthn_rs::prelude::{AttestationCaList, AttestationCaListBuilder, Uuid};

/// Why the policy could not be read. Reported at start-up, naming the key or the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An item of `attestation_aaguids` is not a UUID.
    #[error("webauthn.attestation_aaguids: {0:?} is not an AAGUID (a UUID)")]
    BadAaguid(String),
    /// An item of `attestation_roles` is not a role.
    #[error("webauthn.attestation_roles: {0:?} is not a role")]
    BadRole(String),
    /// A CA file could not be read.
    #[error("webauthn.attestation_ca_files: cannot read {file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A CA file holds no PEM certificate.
    #[error("webauthn.attestation_ca_files: {0} holds no PEM certificate")]
    NoCertificate(String),
    /// A PEM block of a CA file is not a certificate webauthn-rs can use.
    #[error("webauthn.attestation_ca_files: certificate {index} of {file} is not valid: {reason}")]
    BadCertificate {
        /// The file.
        file: String,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Roles are listed but neither CA files nor AAGUIDs say what they may use.
    #[error(
        "webauthn.attestation_roles is set: list the accepted CAs in webauthn.attestation_ca_files (or models in webauthn.attestation_aaguids)"
    )]
    Empty,
}

/// The attestation policy, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct AttestationPolicy {
    roles: Vec<Role>,
    aaguids: Vec<Uuid>,
    cas: Option<AttestationCaList>,
}

/// Most certificates read from the CA files (a hostile or mistaken file cannot blow up).
const MAX_CERTIFICATES: usize = 256;
const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Parse the policy from the configuration's text and the CA files' contents (`(name, bytes)`).
/// Hostile input gives an error, never a panic.
pub fn parse_policy(
    roles: &str,
    aaguids: &str,
    ca_files: &[(&str, &[u8])],
) -> Result<AttestationPolicy, PolicyError> {
    let roles = sesame_config::split_list(roles)
        .into_iter()
        .map(|r| Role::parse(&r).ok_or(PolicyError::BadRole(r)))
        .collect::<Result<Vec<_>, _>>()?;
    let aaguids = sesame_config::split_list(aaguids)
        .into_iter()
        .map(|a| parse_aaguid(&a).ok_or(PolicyError::BadAaguid(a)))
        .collect::<Result<Vec<_>, _>>()?;
    let cas = if ca_files.is_empty() {
        None
    } else {
        let mut list = AttestationCaList::default();
        let mut count = 0;
        for (file, bytes) in ca_files {
            let blocks = pem_blocks(file, bytes)?;
            for (i, block) in blocks.iter().enumerate() {
                count += 1;
                if count > MAX_CERTIFICATES {
                    return Err(PolicyError::BadCertificate {
                        file: (*file).to_owned(),
                        index: i + 1,
                        reason: format!("more than {MAX_CERTIFICATES} certificates in all"),
                    });
                }
                let bad = |reason: String| PolicyError::BadCertificate {
                    file: (*file).to_owned(),
                    index: i + 1,
                    reason,
                };
                if aaguids.is_empty() {
                    // Any model this CA attests.
                    let one = AttestationCaList::try_from(block.as_bytes())
                        .map_err(|e| bad(e.to_string()))?;
                    list.union(&one);
                } else {
                    let mut b = AttestationCaListBuilder::new();
                    for a in &aaguids {
                        b.insert_device_pem(
                            block.as_bytes(),
                            *a,
                            a.to_string(),
                            Default::default(),
                        )
                        .map_err(|e| bad(e.to_string()))?;
                    }
                    list.union(&b.build());
                }
            }
        }
        Some(list)
    };
    if !roles.is_empty() && cas.is_none() && aaguids.is_empty() {
        return Err(PolicyError::Empty);
    }
    Ok(AttestationPolicy {
        roles,
        aaguids,
        cas,
    })
}

/// A UUID in its 36-character hyphenated form (any case).
fn parse_aaguid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// The PEM certificate blocks of a file, each from its BEGIN line to its END line.
fn pem_blocks(file: &str, bytes: &[u8]) -> Result<Vec<String>, PolicyError> {
    let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::BadCertificate {
        file: file.to_owned(),
        index: 1,
        reason: "not a PEM text file".into(),
    })?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let Some(end) = after.find(END) else {
            return Err(PolicyError::BadCertificate {
                file: file.to_owned(),
                index: out.len() + 1,
                reason: "no END CERTIFICATE line".into(),
            });
        };
        out.push(format!("{}\n", &after[..end + END.len()]));
        rest = &after[end + END.len()..];
        if out.len() > MAX_CERTIFICATES {
            break;
        }
    }
    if out.is_empty() {
        return Err(PolicyError::NoCertificate(file.to_owned()));
    }
    Ok(out)
}

impl AttestationPolicy {
    /// The policy of `config`, reading its CA files.
    pub fn from_config(config: &sesame_config::Config) -> Result<AttestationPolicy, PolicyError> {
        let w = &config.webauthn;
        let files = sesame_config::split_list(&w.attestation_ca_files);
        let mut contents = Vec::with_capacity(files.len());
        for f in &files {
            let bytes = std::fs::read(f).map_err(|e| PolicyError::Unreadable {
                file: f.clone(),
                reason: e.to_string(),
            })?;
            contents.push((f.as_str(), bytes));
        }
        let refs: Vec<(&str, &[u8])> = contents.iter().map(|(f, b)| (*f, b.as_slice())).collect();
        parse_policy(&w.attestation_roles, &w.attestation_aaguids, &refs)
    }

    /// Whether the policy applies to `user` (one of their roles is listed).
    pub fn applies_to(&self, user: &User) -> bool {
        self.roles.iter().any(|r| user.has_role(*r))
    }

    /// The CAs a registration must chain to, when CA files are configured.
    pub fn ca_list(&self) -> Option<&AttestationCaList> {
        self.cas.as_ref()
    }

    /// Whether an announced AAGUID is on the list (the weak, CA-less form; an empty list
    /// accepts any model).
    pub fn announced_model_allowed(&self, aaguid: Option<&str>) -> bool {
        if self.aaguids.is_empty() {
            return true;
        }
        aaguid
            .and_then(|a| Uuid::try_parse(a).ok())
            .is_some_and(|a| self.aaguids.contains(&a))
    }

    /// Number of CAs (0 without CA files).
    pub fn ca_count(&self) -> usize {
        self.cas.as_ref().map_or(0, AttestationCaList::len)
    }
}

/// The fuzz target's entry (`authd/fuzz/fuzz_targets/attestation_policy.rs`), also fed a
/// hostile corpus by the tests: the first line is `attestation_roles`, the second
/// `attestation_aaguids`, the rest one CA file's bytes (none when empty).
pub fn fuzz_entry(raw: &[u8]) -> Result<AttestationPolicy, PolicyError> {
    let mut parts = raw.splitn(3, |b| *b == b'\n');
    let roles = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let aaguids = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let file = parts.next().unwrap_or_default();
    let files: Vec<(&str, &[u8])> = if file.is_empty() {
        Vec::new()
    } else {
        vec![("fuzz.pem", file)]
    };
    parse_policy(&roles, &aaguids, &files)
}

#[cfg(test)]
#[path = "webauthn_policy_tests.rs"]
mod tests;
