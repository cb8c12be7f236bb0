//! The table of every setting: section, key and kind. It drives the checks on the TOML file
//! (unknown keys, wrongly typed values, with the key named) and the typing of `SESAME_*`
//! environment variables. A test keeps it equal to the structs of `sections.rs`.

use std::net::SocketAddr;

use toml::Value;

/// The `[section]` names, in the order of [`crate::Config`]'s fields.
pub(crate) const SECTIONS: [&str; 16] = [
    "server",
    "tls",
    "log",
    "session",
    "password",
    "hashing",
    "totp",
    "backup_codes",
    "mfa",
    "keys",
    "guard",
    "backups",
    "updates",
    "bootstrap",
    "webauthn",
    "relay",
];

/// Prefix of every environment variable read by [`crate::load`].
pub(crate) const ENV_PREFIX: &str = "SESAME_";

/// What a setting holds: how a TOML value is checked and an environment string is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `usize` (TOML integer, 0 to 2^63-1).
    Usize,
    /// `u32`.
    U32,
    /// `u8`.
    U8,
    /// `u64` (TOML integer, 0 to 2^63-1).
    U64,
    /// Any string.
    Str,
    /// A path, as a string.
    Path,
    /// An optional path, as a string; empty means unset.
    OptPath,
    /// A duration string such as `"4h"`.
    Duration,
    /// `ip:port`.
    SocketAddr,
    /// `"text"` or `"json"`.
    LogFormat,
    /// `true` or `false`.
    Bool,
}

/// One setting: `[section] name`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) section: &'static str,
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
}

const fn key(section: &'static str, name: &'static str, kind: Kind) -> Key {
    Key {
        section,
        name,
        kind,
    }
}

/// Every setting, in the order of the structs' fields. Tests keep it equal to the structs,
/// to `sesame.toml.example` and to `docs/configuration.md`.
pub(crate) const KEYS: [Key; 91] = [
    key("server", "listen", Kind::SocketAddr),
    key("server", "data_dir", Kind::Path),
    key("server", "max_connections", Kind::Usize),
    key("server", "body_limit_bytes", Kind::Usize),
    key("server", "request_timeout", Kind::Duration),
    key("server", "service_name", Kind::Str),
    key("tls", "cert_file", Kind::OptPath),
    key("tls", "key_file", Kind::OptPath),
    key("log", "format", Kind::LogFormat),
    key("log", "level", Kind::Str),
    key("session", "lifetime", Kind::Duration),
    key("session", "challenge_lifetime", Kind::Duration),
    key("session", "cookie_name", Kind::Str),
    key("session", "max_sessions", Kind::Usize),
    key("session", "admin_reserved_seats", Kind::Usize),
    key("password", "min_length_with_mfa", Kind::Usize),
    key("password", "min_length_without_mfa", Kind::Usize),
    key("password", "max_bytes", Kind::Usize),
    key("password", "argon2_memory_kib", Kind::U32),
    key("password", "argon2_iterations", Kind::U32),
    key("password", "argon2_parallelism", Kind::U32),
    key("hashing", "threads", Kind::Usize),
    key("hashing", "queue", Kind::Usize),
    key("totp", "algorithm", Kind::Str),
    key("totp", "digits", Kind::U8),
    key("totp", "period", Kind::U64),
    key("totp", "skew_steps", Kind::U64),
    key("backup_codes", "count", Kind::Usize),
    key("backup_codes", "warn_at_or_below", Kind::Usize),
    key("mfa", "two_person_admin_reset", Kind::Bool),
    key("mfa", "step_up_window", Kind::Duration),
    key("mfa", "reset_approval_window", Kind::Duration),
    key("keys", "pin_min_length", Kind::Usize),
    key("keys", "pin_max_length", Kind::Usize),
    key("keys", "max_failures", Kind::U32),
    key("keys", "hotp_look_ahead", Kind::U64),
    key("keys", "totp_skew_steps", Kind::U64),
    key("keys", "resync_hotp_window", Kind::U64),
    key("keys", "resync_totp_window", Kind::Duration),
    key("keys", "temporary_password_max_validity", Kind::Duration),
    key("keys", "utc_offset", Kind::Str),
    key("guard", "trusted_proxies", Kind::Str),
    key("guard", "rate_per_second", Kind::U32),
    key("guard", "rate_burst", Kind::U32),
    key("guard", "flood_refusals", Kind::U32),
    key("guard", "flood_window", Kind::Duration),
    key("guard", "failed_logins", Kind::U32),
    key("guard", "failed_logins_window", Kind::Duration),
    key("guard", "forbidden_requests", Kind::U32),
    key("guard", "forbidden_window", Kind::Duration),
    key("guard", "suspend_failed_logins", Kind::Duration),
    key("guard", "suspend_flood", Kind::Duration),
    key("guard", "suspend_forbidden", Kind::Duration),
    key("guard", "account_throttle_after", Kind::U32),
    key("guard", "account_max_delay", Kind::Duration),
    key("guard", "account_lock_after", Kind::U32),
    key("backups", "snapshot_every", Kind::Duration),
    key("backups", "snapshots_kept", Kind::Usize),
    key("backups", "archives_kept", Kind::Usize),
    key("updates", "timestamp_expiry", Kind::Duration),
    key("updates", "metadata_expiry", Kind::Duration),
    key("bootstrap", "admin_username", Kind::Str),
    key("bootstrap", "password_file", Kind::OptPath),
    key("webauthn", "rp_id", Kind::Str),
    key("webauthn", "rp_origins", Kind::Str),
    key("webauthn", "ceremony_lifetime", Kind::Duration),
    key("webauthn", "cloned_counter", Kind::Str),
    key("webauthn", "passwordless_denied_roles", Kind::Str),
    key("webauthn", "attestation_roles", Kind::Str),
    key("webauthn", "attestation_aaguids", Kind::Str),
    key("webauthn", "attestation_ca_files", Kind::Str),
    key("relay", "listen", Kind::SocketAddr),
    key("relay", "data_dir", Kind::OptPath),
    key("relay", "key_digits", Kind::U32),
    key("relay", "key_lifetime", Kind::Duration),
    key("relay", "key_failures", Kind::U32),
    key("relay", "key_suspension", Kind::Duration),
    key("relay", "recheck_every", Kind::Duration),
    key("relay", "invitation_lifetime", Kind::Duration),
    key("relay", "resume_grace", Kind::Duration),
    key("relay", "retention", Kind::Duration),
    key("relay", "session_bandwidth", Kind::U64),
    key("relay", "max_connections", Kind::Usize),
    key("relay", "metrics_listen", Kind::Str),
    key("relay", "authd_address", Kind::Str),
    key("relay", "authd_ca_file", Kind::OptPath),
    key("relay", "authd_server_name", Kind::Str),
    key("relay", "smtp_host", Kind::Str),
    key("relay", "smtp_port", Kind::U32),
    key("relay", "smtp_starttls", Kind::Str),
    key("relay", "smtp_from", Kind::Str),
];

impl Key {
    /// `section.name`, as error messages write it.
    #[cfg(test)]
    pub(crate) fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// `SESAME_SECTION_NAME`.
    pub(crate) fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}_{}", self.section, self.name).to_uppercase()
    }
}

/// The setting `[section] name`, if there is one.
pub(crate) fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|key| key.section == section && key.name == name)
}

impl Kind {
    /// What a value of this kind looks like, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Usize | Kind::U64 => "a whole number, 0 or more",
            Kind::U32 => "a whole number from 0 to 4294967295",
            Kind::U8 => "a whole number from 0 to 255",
            Kind::Str => "a string",
            Kind::Path => "a path (string)",
            Kind::OptPath => "a path (string; empty for none)",
            Kind::Duration => "a duration such as \"90s\", \"10m\", \"4h\", \"7d\" or \"1h30m\"",
            Kind::SocketAddr => "an address and port such as \"127.0.0.1:8443\" or \"[::]:8443\"",
            Kind::LogFormat => "\"text\" or \"json\"",
            Kind::Bool => "true or false",
        }
    }

    /// Largest value of an integer kind (TOML integers are `i64`).
    fn max(self) -> Option<i64> {
        match self {
            Kind::Usize => Some(i64::try_from(usize::MAX).unwrap_or(i64::MAX)),
            Kind::U64 => Some(i64::MAX),
            Kind::U32 => Some(i64::from(u32::MAX)),
            Kind::U8 => Some(i64::from(u8::MAX)),
            _ => None,
        }
    }

    /// Whether a string is acceptable for this (string) kind.
    fn accepts_str(self, text: &str) -> bool {
        match self {
            Kind::Str | Kind::Path | Kind::OptPath => true,
            Kind::Duration => crate::parse_duration(text).is_ok(),
            Kind::SocketAddr => text.parse::<SocketAddr>().is_ok(),
            Kind::LogFormat => matches!(text, "text" | "json"),
            Kind::Usize | Kind::U32 | Kind::U8 | Kind::U64 | Kind::Bool => false,
        }
    }

    /// Checks a TOML value: `Err` carries [`Kind::expected`].
    pub(crate) fn check(self, value: &Value) -> Result<(), &'static str> {
        let ok = match (self.max(), value) {
            (_, Value::Boolean(_)) => self == Kind::Bool,
            (Some(max), Value::Integer(n)) => (0..=max).contains(n),
            (None, Value::String(text)) => self.accepts_str(text),
            _ => false,
        };
        if ok { Ok(()) } else { Err(self.expected()) }
    }

    /// Types an environment string as the TOML value the file would hold.
    pub(crate) fn parse_env(self, text: &str) -> Result<Value, &'static str> {
        let value = match self.max() {
            None if self == Kind::Bool => match text {
                "true" => Value::Boolean(true),
                "false" => Value::Boolean(false),
                _ => return Err(self.expected()),
            },
            Some(_) => Value::Integer(text.parse::<i64>().map_err(|_| self.expected())?),
            None => Value::String(text.to_owned()),
        };
        self.check(&value).map(|()| value)
    }
}

/// A TOML value as an error message shows it: strings quoted, numbers as written.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;
    use crate::Config;

    /// The default configuration with every optional setting present, as a TOML table.
    fn full_default_table() -> toml::Table {
        let mut config = Config::default();
        config.tls.cert_file = Some(PathBuf::from("cert.pem"));
        config.tls.key_file = Some(PathBuf::from("key.pem"));
        config.bootstrap.password_file = Some(PathBuf::from("password"));
        config.relay.data_dir = Some(PathBuf::from("relay"));
        config.relay.authd_ca_file = Some(PathBuf::from("authd.pem"));
        toml::Table::try_from(&config).unwrap()
    }

    #[test]
    fn table_lists_exactly_the_struct_fields() {
        let table = full_default_table();
        let sections: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut expected_sections = SECTIONS.to_vec();
        expected_sections.sort_unstable();
        assert_eq!(sections, expected_sections);

        let mut from_structs = BTreeSet::new();
        for (section, values) in &table {
            for name in values.as_table().unwrap().keys() {
                from_structs.insert(format!("{section}.{name}"));
            }
        }
        let from_table: BTreeSet<String> = KEYS.iter().map(Key::dotted).collect();
        assert_eq!(from_structs, from_table);
        assert_eq!(from_table.len(), KEYS.len(), "a key is listed twice");
    }

    #[test]
    fn every_default_value_fits_its_kind() {
        let table = full_default_table();
        for key in &KEYS {
            let value = &table[key.section][key.name];
            assert_eq!(key.kind.check(value), Ok(()), "{}", key.dotted());
        }
    }

    #[test]
    fn sections_are_in_struct_order_and_keys_grouped_by_section() {
        let mut seen: Vec<&str> = KEYS.iter().map(|key| key.section).collect();
        seen.dedup();
        assert_eq!(seen, SECTIONS);
    }

    #[test]
    fn env_var_names() {
        let key = find("backup_codes", "warn_at_or_below").unwrap();
        assert_eq!(key.env_var(), "SESAME_BACKUP_CODES_WARN_AT_OR_BELOW");
        assert_eq!(key.dotted(), "backup_codes.warn_at_or_below");
        assert!(find("session", "lifetim").is_none());
    }

    #[test]
    fn kinds_check_values() {
        assert_eq!(Kind::U8.check(&Value::Integer(255)), Ok(()));
        assert!(Kind::U8.check(&Value::Integer(256)).is_err());
        assert!(Kind::Usize.check(&Value::Integer(-1)).is_err());
        assert!(Kind::Usize.check(&Value::String("5".into())).is_err());
        assert!(Kind::Str.check(&Value::Integer(5)).is_err());
        assert!(
            Kind::Duration
                .check(&Value::String("4 hours".into()))
                .is_err()
        );
        assert!(
            Kind::SocketAddr
                .check(&Value::String("localhost:1".into()))
                .is_err()
        );
        assert!(
            Kind::LogFormat
                .check(&Value::String("JSON".into()))
                .is_err()
        );
        assert_eq!(Kind::U32.parse_env("7"), Ok(Value::Integer(7)));
        assert!(Kind::U32.parse_env("4294967296").is_err());
        assert!(Kind::U32.parse_env(" 7").is_err());
        assert_eq!(Kind::Str.parse_env(""), Ok(Value::String(String::new())));
    }

    #[test]
    fn values_are_described_for_messages() {
        assert_eq!(describe(&Value::String("a\"b".into())), "\"a\\\"b\"");
        assert_eq!(describe(&Value::Integer(-3)), "-3");
        assert_eq!(describe(&Value::Boolean(true)), "true");
        assert_eq!(describe(&Value::Float(1.5)), "1.5");
        assert_eq!(describe(&Value::Array(Vec::new())), "an array");
        assert_eq!(describe(&Value::Table(toml::Table::new())), "a table");
    }
}
