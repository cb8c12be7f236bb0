//! The errors authd's domain can answer with, named by what went wrong.
//!
//! Every variant has a stable snake_case [`Error::code`] (part of the product's API contract,
//! pinned by a test) and an HTTP status. The http layer maps them to
//! `{"error": {"code", "message"}}` in exactly one place (`http::error`).

use crate::credentials::password::PolicyViolation;

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
    /// The request is well-formed JSON but a value is not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// An admin tried an action on their own account that must be done by someone else.
    #[error("{0}")]
    SelfAction(&'static str),
    /// The password hashing pool is saturated; retry shortly.
    #[error("the server is busy; retry in a moment")]
    Overloaded,
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
            Error::InvalidRequest(_) => "invalid_request",
            Error::SelfAction(_) => "self_action_refused",
            Error::Overloaded => "overloaded",
            Error::Internal(_) => "internal_error",
        }
    }

    /// HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidCredentials
            | Error::InvalidCode
            | Error::ChallengeExpired
            | Error::Unauthenticated => 401,
            Error::Forbidden | Error::PasswordChangeRequired | Error::SelfAction(_) => 403,
            Error::NotFound(_) => 404,
            Error::UsernameTaken => 409,
            Error::InvalidUsername(_) | Error::WeakPassword(_) => 422,
            Error::MethodNotAvailable | Error::InvalidRequest(_) => 400,
            Error::Overloaded => 503,
            Error::Internal(_) => 500,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::UsernameTaken => Error::UsernameTaken,
            other => Error::Internal(other.to_string()),
        }
    }
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
            (Error::SelfAction("x"), "self_action_refused", 403),
            (Error::Overloaded, "overloaded", 503),
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
