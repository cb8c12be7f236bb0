//! [`ConfigError`]: everything that can stop a configuration from loading, by meaning, each
//! naming the file, key or environment variable at fault and the value found.

use std::path::PathBuf;

/// Why a configuration was refused. `Display` is a sentence for the operator;
/// [`ConfigError::code`] is a stable identifier for programs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file given could not be read: missing, unreadable, a directory, or
    /// not UTF-8.
    #[error("cannot read configuration file {}: {io}", path.display())]
    FileUnreadable {
        /// The path as given.
        path: PathBuf,
        /// What the operating system said.
        io: std::io::Error,
    },

    /// The file is not valid TOML.
    #[error("TOML syntax error in {origin} at line {line}, column {column}: {message}")]
    Syntax {
        /// The file (or `TOML text` for [`crate::Config::from_toml_str`]).
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The TOML parser's description.
        message: String,
    },

    /// The file holds a section or key that Sesame does not know (often a typo).
    #[error("unknown setting \"{key}\" in {origin}{}", at_line(*line))]
    UnknownSetting {
        /// Dotted path of the unknown key, e.g. `session.lifetim`.
        key: String,
        /// The file (or `TOML text`).
        origin: String,
        /// 1-based line of the key, when known.
        line: Option<usize>,
    },

    /// A `SESAME_<SECTION>_<KEY>` variable names a known section but no key of it.
    #[error("unknown setting {var} (environment)")]
    UnknownEnvSetting {
        /// The variable's name, e.g. `SESAME_SESSION_LIFETIM`.
        var: String,
    },

    /// A value in the file has the wrong type or form for its key.
    #[error("bad value for {key} in {origin}{}: {value} (expected {expected})", at_line(*line))]
    BadValue {
        /// Dotted key, e.g. `session.lifetime`.
        key: String,
        /// The value as found (strings quoted).
        value: String,
        /// What the key takes.
        expected: String,
        /// The file (or `TOML text`).
        origin: String,
        /// 1-based line of the value, when known.
        line: Option<usize>,
    },

    /// An environment variable's value cannot be read as its setting's type.
    #[error("bad value for {var} (environment): {value:?} (expected {expected})")]
    BadEnvValue {
        /// The variable's name, e.g. `SESAME_SESSION_LIFETIME`.
        var: String,
        /// The value as found.
        value: String,
        /// What the setting takes.
        expected: String,
    },

    /// Every value has the right type but one breaks a rule (a range, a policy floor, a pair
    /// that must be set together). Found by [`crate::Config::validate`].
    #[error("{key} {rule}")]
    Invalid {
        /// Dotted key, e.g. `totp.digits`.
        key: &'static str,
        /// The rule and the value found, e.g. `must be 6 or 8, got 7`.
        rule: String,
    },

    /// The checked settings did not deserialise into [`crate::Config`]: the key table and the
    /// structs disagree. A bug in this crate (a unit test guards against it), not in the file.
    #[error("configuration does not match its schema (a bug in sesame-config): {message}")]
    Schema {
        /// The deserialiser's message.
        message: String,
    },
}

impl ConfigError {
    /// A stable snake_case identifier of the kind of error, for logs, exit messages and APIs.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::FileUnreadable { .. } => "config_file_unreadable",
            ConfigError::Syntax { .. } => "config_syntax",
            ConfigError::UnknownSetting { .. } => "unknown_setting",
            ConfigError::UnknownEnvSetting { .. } => "unknown_env_setting",
            ConfigError::BadValue { .. } => "bad_value",
            ConfigError::BadEnvValue { .. } => "bad_env_value",
            ConfigError::Invalid { .. } => "invalid_setting",
            ConfigError::Schema { .. } => "config_schema",
        }
    }

    /// The dotted key at fault (`session.lifetime`) or, for the environment, the variable
    /// (`SESAME_SESSION_LIFETIME`); `None` for file and syntax errors.
    pub fn setting(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownSetting { key, .. } | ConfigError::BadValue { key, .. } => {
                Some(key)
            }
            ConfigError::UnknownEnvSetting { var } | ConfigError::BadEnvValue { var, .. } => {
                Some(var)
            }
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::FileUnreadable { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::Schema { .. } => None,
        }
    }
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" (line {line})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn all_kinds() -> Vec<ConfigError> {
        vec![
            ConfigError::FileUnreadable {
                path: PathBuf::from("/etc/sesame/sesame.toml"),
                io: io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
            },
            ConfigError::Syntax {
                origin: "sesame.toml".into(),
                line: 3,
                column: 7,
                message: "invalid string".into(),
            },
            ConfigError::UnknownSetting {
                key: "session.lifetim".into(),
                origin: "sesame.toml".into(),
                line: Some(12),
            },
            ConfigError::UnknownEnvSetting {
                var: "SESAME_SESSION_LIFETIM".into(),
            },
            ConfigError::BadValue {
                key: "session.lifetime".into(),
                value: "\"4 hours\"".into(),
                expected: "a duration".into(),
                origin: "sesame.toml".into(),
                line: None,
            },
            ConfigError::BadEnvValue {
                var: "SESAME_HASHING_QUEUE".into(),
                value: "many".into(),
                expected: "a whole number".into(),
            },
            ConfigError::Invalid {
                key: "totp.digits",
                rule: "must be 6 or 8, got 7".into(),
            },
            ConfigError::Schema {
                message: "invalid type".into(),
            },
        ]
    }

    #[test]
    fn display() {
        let messages: Vec<String> = all_kinds().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "cannot read configuration file /etc/sesame/sesame.toml: No such file or directory",
                "TOML syntax error in sesame.toml at line 3, column 7: invalid string",
                "unknown setting \"session.lifetim\" in sesame.toml (line 12)",
                "unknown setting SESAME_SESSION_LIFETIM (environment)",
                "bad value for session.lifetime in sesame.toml: \"4 hours\" (expected a duration)",
                "bad value for SESAME_HASHING_QUEUE (environment): \"many\" (expected a whole number)",
                "totp.digits must be 6 or 8, got 7",
                "configuration does not match its schema (a bug in sesame-config): invalid type",
            ]
        );
    }

    #[test]
    fn codes_are_stable() {
        let codes: Vec<&str> = all_kinds().iter().map(ConfigError::code).collect();
        assert_eq!(
            codes,
            [
                "config_file_unreadable",
                "config_syntax",
                "unknown_setting",
                "unknown_env_setting",
                "bad_value",
                "bad_env_value",
                "invalid_setting",
                "config_schema",
            ]
        );
    }

    #[test]
    fn setting_names_the_key_or_variable() {
        let errors = all_kinds();
        let settings: Vec<Option<&str>> = errors.iter().map(ConfigError::setting).collect();
        assert_eq!(
            settings,
            [
                None,
                None,
                Some("session.lifetim"),
                Some("SESAME_SESSION_LIFETIM"),
                Some("session.lifetime"),
                Some("SESAME_HASHING_QUEUE"),
                Some("totp.digits"),
                None,
            ]
        );
    }
}
