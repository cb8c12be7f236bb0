//! Typed configuration for every Sesame service.
//!
//! # What it is
//! - **Typed settings**: [`Config`] holds one struct per `[section]` of `sesame.toml`
//!   ([`Server`], [`Tls`], [`Log`], [`Session`], [`Password`], [`Hashing`], [`Totp`],
//!   [`BackupCodes`], [`Mfa`], [`Keys`], [`Guard`], [`Backups`], [`Updates`], [`Bootstrap`]).
//! - **Embedded defaults that run as-is**: [`Config::default()`] is valid; a fresh appliance
//!   needs no file at all.
//! - **A TOML file and a `SESAME_*` environment overlay**: `SESAME_<SECTION>_<KEY>` sets
//!   `[section] key` over the file, e.g. `SESAME_SESSION_LIFETIME=8h`.
//! - **Strict, precise errors**: unknown keys (in the file or the environment), wrongly typed
//!   values and broken rules are refused with a [`ConfigError`] naming the key or variable, the
//!   value and what was expected: `unknown setting "session.lifetim" in sesame.toml (line 3)`,
//!   `totp.digits must be 6 or 8, got 7`.
//! - **Durations as text**: `"90s"`, `"10m"`, `"4h"`, `"7d"`, `"1h30m"` ([`parse_duration`],
//!   [`format_duration`]).
//!
//! # What it is not
//! No I/O beyond reading the one file it is given, and no global state: the environment is
//! passed in (tests never touch the process environment), nothing is cached, nothing watched.
//! Creating the data directory or generating certificates is the services' job.
//!
//! # Entry points
//! - [`load`]: file (optional) + environment → validated [`Config`]. Binaries call
//!   `load(path, std::env::vars())`.
//! - [`Config::from_toml_str`]: TOML text → validated [`Config`], for tests.
//! - [`Config::validate`]: the rules, for a configuration built in code.
//! - [`Config::danger_test_defaults`]: cheap settings for test suites, refused by `validate`.
//!
//! Every key, its variable, default and rule: `sesame.toml.example` at the workspace root and
//! `docs/configuration.md`. Tests keep both equal to the code.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod duration;
mod env;
mod error;
mod file;
mod keys;
mod sections;
mod validate;

use std::path::Path;

pub use duration::{DurationError, format_duration, parse_duration};
pub use error::ConfigError;
pub use sections::{
    BackupCodes, Backups, Bootstrap, Config, Guard, Hashing, Keys, Log, LogFormat, Mfa, Password,
    Relay, Server, Session, Tls, Totp, Updates, Webauthn, split_list,
};

/// Loads the configuration: reads `file` when given (a missing file is an error: the path was
/// asked for), overlays the `SESAME_*` variables of `env`, fills the rest with defaults and
/// [validates](Config::validate) the result.
///
/// Binaries pass `std::env::vars()` (which panics on a variable that is not Unicode; pass
/// `std::env::vars_os()` converted with `into_string` to skip those instead). Tests pass a
/// vector of pairs.
///
/// ```
/// let config = sesame_config::load(None, [("SESAME_SESSION_LIFETIME".to_owned(), "8h".to_owned())])?;
/// assert_eq!(config.session.lifetime.as_secs(), 8 * 3600);
/// # Ok::<(), sesame_config::ConfigError>(())
/// ```
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|io| ConfigError::FileUnreadable {
                path: path.to_owned(),
                io,
            })?;
            file::read(&text, &path.display().to_string())?
        }
        None => toml::Table::new(),
    };
    env::overlay(&mut table, env)?;
    finish(table)
}

impl Config {
    /// Reads a configuration from TOML text alone (no environment), with the same checks as
    /// [`load`]; errors name the origin `TOML text`.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        finish(file::read(text, "TOML text")?)
    }
}

/// Deserialises a checked table and validates the result.
fn finish(table: toml::Table) -> Result<Config, ConfigError> {
    let config: Config =
        table
            .try_into()
            .map_err(|error: toml::de::Error| ConfigError::Schema {
                message: error.to_string().trim().replace('\n', " "),
            })?;
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::keys::KEYS;

    const EXAMPLE: &str = include_str!("../../sesame.toml.example");
    const DOC: &str = include_str!("../../docs/configuration.md");

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    /// A file named `sesame.toml` in a fresh directory of its own; removed on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(test: &str, text: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("sesame-config-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("sesame.toml");
            std::fs::write(&path, text).unwrap();
            Self { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn no_file_and_no_environment_give_the_defaults() {
        assert_eq!(load(None, no_env()).unwrap(), Config::default());
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    }

    #[test]
    fn example_file_equals_the_defaults() {
        assert_eq!(Config::from_toml_str(EXAMPLE).unwrap(), Config::default());
    }

    #[test]
    fn example_file_lists_every_key_and_its_variable() {
        let table: toml::Table = EXAMPLE.parse().unwrap();
        let listed: usize = table.values().map(|s| s.as_table().unwrap().len()).sum();
        assert_eq!(listed, KEYS.len());
        for key in &KEYS {
            assert!(
                table[key.section].get(key.name).is_some(),
                "{}",
                key.dotted()
            );
            assert!(EXAMPLE.contains(&key.env_var()), "{}", key.env_var());
        }
    }

    #[test]
    fn documentation_lists_every_key_and_its_variable() {
        for key in &KEYS {
            let row = format!("| `{}` | `{}` |", key.dotted(), key.env_var());
            assert!(DOC.contains(&row), "docs/configuration.md lacks {row}");
        }
    }

    #[test]
    fn loads_a_file_and_overlays_the_environment() {
        let file = TempFile::new(
            "overlay",
            "[server]\nlisten = \"0.0.0.0:443\"\n\n[session]\nlifetime = \"1h30m\"\n",
        );
        let env = vec![("SESAME_SERVER_LISTEN".to_owned(), "[::]:9443".to_owned())];
        let config = load(Some(&file.path), env).unwrap();
        assert_eq!(config.server.listen.to_string(), "[::]:9443");
        assert_eq!(config.session.lifetime, Duration::from_secs(5400));
        assert_eq!(config.session.challenge_lifetime, Duration::from_secs(300));
    }

    #[test]
    fn unknown_key_in_a_file_names_the_key_and_the_file() {
        let file = TempFile::new("unknown", "[session]\nlifetim = \"8h\"\n");
        let error = load(Some(&file.path), no_env()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "unknown setting \"session.lifetim\" in {} (line 2)",
                file.path.display()
            )
        );
    }

    #[test]
    fn unknown_key_from_text_names_the_key() {
        let error = Config::from_toml_str("[session]\nlifetim = \"8h\"\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown setting \"session.lifetim\" in TOML text (line 2)"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = std::env::temp_dir().join("sesame-config-does-not-exist/sesame.toml");
        let error = load(Some(&path), no_env()).unwrap_err();
        assert_eq!(error.code(), "config_file_unreadable");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot read configuration file {}: ",
                path.display()
            )),
            "{message}"
        );
        let ConfigError::FileUnreadable { io, .. } = error else {
            panic!("{message}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn file_values_are_validated() {
        let file = TempFile::new("validated", "[backup_codes]\ncount = 30\n");
        assert_eq!(
            load(Some(&file.path), no_env()).unwrap_err().to_string(),
            "backup_codes.count must be between 5 and 20, got 30"
        );
    }

    #[test]
    fn syntax_error_in_a_file_has_line_info() {
        let file = TempFile::new("syntax", "[server]\n\nlisten = \"127.0.0.1:8443\n");
        let error = load(Some(&file.path), no_env()).unwrap_err();
        assert!(
            matches!(error, ConfigError::Syntax { line: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains(" at line 3, column "), "{error}");
    }

    #[test]
    fn schema_errors_keep_toml_message() {
        // Not reachable through `load` (the key table checks first); pinned so the variant's
        // text stays useful should the table and the structs ever disagree.
        let mut table = toml::Table::new();
        table.insert("totp".into(), toml::Value::Integer(3));
        let error = finish(table).unwrap_err();
        assert_eq!(error.code(), "config_schema");
        assert_eq!(
            error.to_string(),
            "configuration does not match its schema (a bug in sesame-config): \
             invalid type: integer `3`, expected struct Totp in `totp`"
        );
    }
}
