//! The environment overlay: `SESAME_<SECTION>_<KEY>=value` sets `[section] key`, over the file.
//!
//! - The section is matched against the known section names (`BACKUP_CODES` holds an
//!   underscore, so the name cannot simply be split at the first `_`).
//! - A variable naming a known section but no key of it is an error: a typo must not be
//!   silently ignored (`SESAME_SESSION_LIFETIM`).
//! - A `SESAME_` variable whose next word is no section belongs to another tool
//!   (`SESAME_CONFIG`, `SESAME_INSTALL_ROOT`) and is ignored.
//! - The value is typed by the key's kind: integers are parsed, everything else stays a string
//!   and is checked as the file's value would be (durations, addresses, log format).
//! - Names are matched exactly, in upper case.

use toml::{Table, Value};

use crate::ConfigError;
use crate::keys::{self, ENV_PREFIX, SECTIONS};

/// Applies every `SESAME_*` setting of `env` to `table` (the parsed file, already checked).
/// Variables are applied in name order, so the first error reported does not depend on the
/// order the environment came in.
pub(crate) fn overlay(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut settings: Vec<(String, String)> = env
        .into_iter()
        .filter(|(var, _)| var.starts_with(ENV_PREFIX))
        .collect();
    settings.sort();
    for (var, text) in settings {
        let Some((section, _)) = split(&var) else {
            continue;
        };
        let key = keys::KEYS
            .iter()
            .find(|key| key.env_var() == var)
            .ok_or_else(|| ConfigError::UnknownEnvSetting { var: var.clone() })?;
        let value = key
            .kind
            .parse_env(&text)
            .map_err(|expected| ConfigError::BadEnvValue {
                var: var.clone(),
                value: text.clone(),
                expected: expected.to_owned(),
            })?;
        let entry = table
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        if let Value::Table(section_table) = entry {
            section_table.insert(key.name.to_owned(), value);
        }
    }
    Ok(())
}

/// `SESAME_BACKUP_CODES_COUNT` → `("backup_codes", "COUNT")`; `SESAME_SERVER` → `("server", "")`;
/// `None` when the word after the prefix is no section.
fn split(var: &str) -> Option<(&'static str, &str)> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    SECTIONS
        .iter()
        .filter_map(|section| {
            let after = rest.strip_prefix(section.to_uppercase().as_str())?;
            match after.strip_prefix('_') {
                Some(name) => Some((*section, name)),
                None if after.is_empty() => Some((*section, "")),
                None => None,
            }
        })
        // The longest section name wins, should one ever prefix another.
        .max_by_key(|(section, _)| section.len())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::{Config, LogFormat, load};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load(None, env(pairs))
    }

    #[test]
    fn splits_at_known_sections() {
        assert_eq!(split("SESAME_SERVER_LISTEN"), Some(("server", "LISTEN")));
        assert_eq!(
            split("SESAME_BACKUP_CODES_WARN_AT_OR_BELOW"),
            Some(("backup_codes", "WARN_AT_OR_BELOW"))
        );
        assert_eq!(split("SESAME_TLS"), Some(("tls", "")));
        assert_eq!(split("SESAME_CONFIG"), None);
        assert_eq!(split("SESAME_SERVERS_X"), None);
        assert_eq!(split("OTHER_SERVER_LISTEN"), None);
    }

    #[test]
    fn overlays_each_type() {
        let config = load_env(&[
            ("SESAME_SERVER_LISTEN", "0.0.0.0:9443"),
            ("SESAME_SERVER_MAX_CONNECTIONS", "50"),
            ("SESAME_SESSION_LIFETIME", "8h"),
            ("SESAME_BOOTSTRAP_PASSWORD_FILE", "/run/secrets/admin"),
            ("SESAME_SERVER_DATA_DIR", "/var/lib/sesame"),
            ("SESAME_LOG_FORMAT", "json"),
            ("SESAME_TOTP_DIGITS", "8"),
            ("SESAME_PASSWORD_ARGON2_MEMORY_KIB", "65536"),
            ("SESAME_BACKUP_CODES_COUNT", "12"),
            ("SESAME_SERVER_SERVICE_NAME", "Acme SSO"),
        ])
        .unwrap();
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(config.server.max_connections, 50);
        assert_eq!(config.session.lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(
            config.bootstrap.password_file,
            Some(PathBuf::from("/run/secrets/admin"))
        );
        assert_eq!(config.server.data_dir, PathBuf::from("/var/lib/sesame"));
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.totp.digits, 8);
        assert_eq!(config.password.argon2_memory_kib, 65_536);
        assert_eq!(config.backup_codes.count, 12);
        assert_eq!(config.server.service_name, "Acme SSO");
    }

    #[test]
    fn every_key_can_be_set_from_the_environment() {
        for key in &keys::KEYS {
            let sample = match key.kind {
                keys::Kind::Usize | keys::Kind::U32 | keys::Kind::U8 | keys::Kind::U64 => "9",
                keys::Kind::Str => "sample",
                keys::Kind::Path | keys::Kind::OptPath => "/tmp/sample",
                keys::Kind::Duration => "7m",
                keys::Kind::SocketAddr => "10.0.0.7:7",
                keys::Kind::LogFormat => "json",
                keys::Kind::Bool => "false",
            };
            let mut table = Table::new();
            overlay(&mut table, env(&[(&key.env_var(), sample)])).unwrap();
            let config: Config = table.try_into().unwrap();
            assert_ne!(
                config,
                Config::default(),
                "{} changed nothing",
                key.env_var()
            );
        }
    }

    #[test]
    fn environment_wins_over_the_file() {
        let mut table: Table = "[session]\nlifetime = \"1h\"\n".parse().unwrap();
        overlay(&mut table, env(&[("SESAME_SESSION_LIFETIME", "2h")])).unwrap();
        assert_eq!(table["session"]["lifetime"].as_str(), Some("2h"));
    }

    #[test]
    fn empty_optional_path_clears_it() {
        let mut table: Table = "[tls]\ncert_file = \"c.pem\"\n".parse().unwrap();
        overlay(&mut table, env(&[("SESAME_TLS_CERT_FILE", "")])).unwrap();
        let config: Config = table.try_into().unwrap();
        assert_eq!(config.tls.cert_file, None);
    }

    #[test]
    fn unknown_key_of_a_known_section_is_an_error() {
        let error = load_env(&[("SESAME_SESSION_LIFETIM", "8h")]).unwrap_err();
        assert_eq!(error.code(), "unknown_env_setting");
        assert_eq!(
            error.to_string(),
            "unknown setting SESAME_SESSION_LIFETIM (environment)"
        );
        let error = load_env(&[("SESAME_TLS", "x")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown setting SESAME_TLS (environment)"
        );
        let error = load_env(&[("SESAME_SERVER_listen", "x")]).unwrap_err();
        assert_eq!(error.code(), "unknown_env_setting");
    }

    #[test]
    fn other_tools_variables_are_ignored() {
        let config = load_env(&[
            ("SESAME_CONFIG", "/etc/sesame/sesame.toml"),
            ("SESAME_INSTALL_ROOT", "/opt/sesame"),
            ("PATH", "/usr/bin"),
            ("sesame_server_listen", "nonsense"),
        ])
        .unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        let message = |var: &str, value: &str| load_env(&[(var, value)]).unwrap_err().to_string();
        assert_eq!(
            message("SESAME_SESSION_LIFETIME", "8 hours"),
            "bad value for SESAME_SESSION_LIFETIME (environment): \"8 hours\" \
             (expected a duration such as \"90s\", \"10m\", \"4h\", \"7d\" or \"1h30m\")"
        );
        assert_eq!(
            message("SESAME_HASHING_QUEUE", "-1"),
            "bad value for SESAME_HASHING_QUEUE (environment): \"-1\" \
             (expected a whole number, 0 or more)"
        );
        assert_eq!(
            message("SESAME_TOTP_DIGITS", "300"),
            "bad value for SESAME_TOTP_DIGITS (environment): \"300\" \
             (expected a whole number from 0 to 255)"
        );
        assert_eq!(
            message("SESAME_SERVER_LISTEN", "localhost:8443"),
            "bad value for SESAME_SERVER_LISTEN (environment): \"localhost:8443\" \
             (expected an address and port such as \"127.0.0.1:8443\" or \"[::]:8443\")"
        );
        let error = load_env(&[("SESAME_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(error.code(), "bad_env_value");
    }

    #[test]
    fn environment_values_are_validated_too() {
        let error = load_env(&[("SESAME_TOTP_DIGITS", "7")]).unwrap_err();
        assert_eq!(error.to_string(), "totp.digits must be 6 or 8, got 7");
    }

    #[test]
    fn first_error_does_not_depend_on_environment_order() {
        let mut pairs = env(&[("SESAME_TOTP_X", "1"), ("SESAME_HASHING_Y", "1")]);
        let first = load(None, pairs.clone()).unwrap_err().to_string();
        pairs.reverse();
        assert_eq!(load(None, pairs).unwrap_err().to_string(), first);
        assert_eq!(first, "unknown setting SESAME_HASHING_Y (environment)");
    }
}
