//! The errors authd's domain can answer with, named by what went wrong.
//!
//! Every variant has a stable snake_case [`Error::code`] (part of the product's API contract,
//! pinned by a test) and an HTTP status. The http layer maps them to
//! `{"error": {"code", "message"}}` in exactly one place (`http::error`).

use crate::credentials::password::PolicyViolation;
use crate::credentials::pin::PinViolation;

/// A domain error. The `Display` text is the human sentence shown to the caller; it never
/// contains a secret and never says *which* of username or password was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown user, wrong password, disabled account: deliberately indistinguishable.
    #[error("the username or password is incorrect")]
    InvalidCredentials,
    /// A second-factor code (TOTP or backup code) did not verify, or was already used.
    #[error("the code is incorrect or has already been used")]
    InvalidCode,
    /// A login challenge is unknown, expired, or was used up.
    #[error("the login attempt has expired; start again from the password step")]
    ChallengeExpired,
    /// The second-factor method is not available for this account.
    #[error("this sign-in method is not available for this account")]
    MethodNotAvailable,
    /// No valid session was presented.
    #[error("authentication is required")]
    Unauthenticated,
    /// The session is valid but its roles do not allow the action.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The account must change its password before doing anything else.
    #[error("the password must be changed before continuing")]
    PasswordChangeRequired,
    /// The named object does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A username is already taken.
    #[error("the username is already taken")]
    UsernameTaken,
    /// A username breaks the username rules.
    #[error("{0}")]
    InvalidUsername(String),
    /// A new password breaks the password policy; the message names the rule.
    #[error("{0}")]
    WeakPassword(PolicyViolation),
    /// A new PIN breaks the PIN rules; the message names the rule.
    #[error("{0}")]
    WeakPin(PinViolation),
    /// A seed file was refused as a whole; every faulty entry is listed.
    #[error("the seed file was not imported: {} faulty entr{}", .0.len(), if .0.len() == 1 { "y" } else { "ies" })]
    ImportRejected(Vec<ImportFault>),
    /// The request is understood but its content cannot be processed (the code says why),
    /// e.g. a seed file that is malformed or encrypted with another key.
    #[error("{message}")]
    Unprocessable {
        /// Stable code, e.g. `seed_file_wrong_key`.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// The object is not in a state that allows the action (the code says which).
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `key_not_in_stock`.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// The request is well-formed JSON but a value is not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// An admin tried an action on their own account that must be done by someone else.
    #[error("{0}")]
    SelfAction(&'static str),
    /// A token other than a session (update or deploy token) is missing or not valid; the
    /// code says which.
    #[error("{message}")]
    Unauthorized {
        /// Stable code, e.g. `update_token_missing`.
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// Policy requires a second factor for this account: its last one cannot be removed.
    #[error("your account must keep a second factor: enrol another one before removing this one")]
    MfaRequired,
    /// The action needs a recent re-authentication of the acting user (step-up).
    #[error("confirm your identity again (password and second factor) before doing this")]
    ReauthRequired,
    /// Every session seat is taken (`session.max_sessions`); admins have reserved seats.
    #[error("all session seats are taken; try again later")]
    SeatsFull,
    /// The password hashing pool is saturated; retry shortly.
    #[error("the server is busy; retry in a moment")]
    Overloaded,
    /// A security key or passkey ceremony was refused (the refusal's code says why).
    #[error("{0}")]
    Webauthn(#[from] crate::credentials::webauthn::Refusal),
    /// Something broke inside the server (store, crypto). Details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidCode => "invalid_code",
            Error::ChallengeExpired => "challenge_expired",
            Error::MethodNotAvailable => "method_not_available",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden => "forbidden",
            Error::PasswordChangeRequired => "password_change_required",
            Error::NotFound(_) => "not_found",
            Error::UsernameTaken => "username_taken",
            Error::InvalidUsername(_) => "invalid_username",
            Error::WeakPassword(v) => v.code(),
            Error::WeakPin(v) => v.code(),
            Error::ImportRejected(_) => "import_rejected",
            Error::Conflict { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::Unauthorized { code, .. } => code,
            Error::InvalidRequest(_) => "invalid_request",
            Error::SelfAction(_) => "self_action_refused",
            Error::Overloaded => "overloaded",
            Error::SeatsFull => "seats_full",
            Error::MfaRequired => "mfa_required",
            Error::ReauthRequired => "reauth_required",
            Error::Webauthn(r) => r.code(),
            Error::Internal(_) => "internal_error",
        }
    }

    /// HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidCredentials
            | Error::InvalidCode
            | Error::ChallengeExpired
            | Error::Unauthenticated
            | Error::Unauthorized { .. } => 401,
            Error::Forbidden
            | Error::PasswordChangeRequired
            | Error::SelfAction(_)
            | Error::MfaRequired
            | Error::ReauthRequired => 403,
            Error::NotFound(_) => 404,
            Error::UsernameTaken | Error::Conflict { .. } => 409,
            Error::InvalidUsername(_)
            | Error::WeakPassword(_)
            | Error::WeakPin(_)
            | Error::ImportRejected(_)
            | Error::Unprocessable { .. } => 422,
            Error::MethodNotAvailable | Error::InvalidRequest(_) => 400,
            Error::Overloaded | Error::SeatsFull => 503,
            Error::Webauthn(r) => r.status(),
            Error::Internal(_) => 500,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::UsernameTaken => Error::UsernameTaken,
            crate::store::StoreError::SeatsFull => Error::SeatsFull,
            crate::store::StoreError::UnknownGroup(g) => Error::Unprocessable {
                code: "unknown_group",
                message: format!("there is no group named \"{g}\""),
            },
            crate::store::StoreError::SerialTaken(serial) => Error::Conflict {
                code: "serial_taken",
                message: format!("a key with serial {serial} exists already"),
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

/// One faulty entry of a refused seed file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportFault {
    /// Stable code of the problem (`seed_duplicate_serial`, `seed_mac_mismatch`, ...).
    pub code: &'static str,
    /// Where: `KeyPackage 3`, `line 7`.
    pub location: String,
    /// The entry's serial, when it could be read.
    pub serial: Option<String>,
    /// The field at fault.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Result alias for domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::InvalidCredentials, "invalid_credentials", 401),
            (Error::InvalidCode, "invalid_code", 401),
            (Error::ChallengeExpired, "challenge_expired", 401),
            (Error::MethodNotAvailable, "method_not_available", 400),
            (Error::Unauthenticated, "unauthenticated", 401),
            (Error::Forbidden, "forbidden", 403),
            (
                Error::PasswordChangeRequired,
                "password_change_required",
                403,
            ),
            (Error::NotFound("user"), "not_found", 404),
            (Error::UsernameTaken, "username_taken", 409),
            (Error::InvalidUsername("x".into()), "invalid_username", 422),
            (
                Error::WeakPassword(PolicyViolation::AllDigits),
                "password_all_digits",
                422,
            ),
            (Error::InvalidRequest("x".into()), "invalid_request", 400),
            (Error::WeakPin(PinViolation::Run), "pin_run", 422),
            (Error::ImportRejected(vec![]), "import_rejected", 422),
            (
                Error::Conflict {
                    code: "key_not_in_stock",
                    message: "m".into(),
                },
                "key_not_in_stock",
                409,
            ),
            (Error::SelfAction("x"), "self_action_refused", 403),
            (Error::Overloaded, "overloaded", 503),
            (Error::SeatsFull, "seats_full", 503),
            (Error::MfaRequired, "mfa_required", 403),
            (Error::ReauthRequired, "reauth_required", 403),
            (
                Error::Webauthn(crate::credentials::webauthn::Refusal::CeremonyUsed),
                "webauthn_ceremony_used",
                401,
            ),
            (Error::Internal("db".into()), "internal_error", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code(), code);
            assert_eq!(e.status(), status, "{code}");
        }
    }

    #[test]
    fn internal_details_are_not_displayed() {
        let e = Error::Internal("disk I/O error at /secret/path".into());
        assert_eq!(e.to_string(), "internal error");
        assert_eq!(Error::NotFound("user").to_string(), "user not found");
    }
}
