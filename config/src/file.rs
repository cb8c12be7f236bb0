//! Reading `sesame.toml` text: TOML syntax, then every section and key checked against the key
//! table, so a typo or a wrongly typed value is reported with its dotted key and line rather
//! than as a deserialiser message.

use toml::Table;
use toml::de::DeTable;

use crate::ConfigError;
use crate::keys::{self, SECTIONS};

/// Parses `text` and checks its keys and value types. `origin` names the text in messages
/// (the file's path, or `TOML text`).
pub(crate) fn read(text: &str, origin: &str) -> Result<Table, ConfigError> {
    let table: Table = text.parse().map_err(|error: toml::de::Error| {
        let (line, column) = error
            .span()
            .map_or((1, 1), |span| line_and_column(text, span.start));
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })?;
    check(&table, text, origin)?;
    Ok(table)
}

/// Every section must be known and a table; every key known and of its kind.
fn check(table: &Table, text: &str, origin: &str) -> Result<(), ConfigError> {
    for (section, values) in table {
        if !SECTIONS.contains(&section.as_str()) {
            return Err(ConfigError::UnknownSetting {
                key: section.clone(),
                origin: origin.to_owned(),
                line: line_of(text, section, None),
            });
        }
        let Some(values) = values.as_table() else {
            return Err(ConfigError::BadValue {
                key: section.clone(),
                value: keys::describe(values),
                expected: format!("a section, written [{section}]"),
                origin: origin.to_owned(),
                line: line_of(text, section, None),
            });
        };
        for (name, value) in values {
            let dotted = format!("{section}.{name}");
            let Some(key) = keys::find(section, name) else {
                return Err(ConfigError::UnknownSetting {
                    key: dotted,
                    origin: origin.to_owned(),
                    line: line_of(text, section, Some(name)),
                });
            };
            key.kind
                .check(value)
                .map_err(|expected| ConfigError::BadValue {
                    key: dotted,
                    value: keys::describe(value),
                    expected: expected.to_owned(),
                    origin: origin.to_owned(),
                    line: line_of(text, section, Some(name)),
                })?;
        }
    }
    Ok(())
}

/// 1-based line of `[section]` or of `name` inside it, found by parsing again with spans
/// (only done when reporting an error).
fn line_of(text: &str, section: &str, name: Option<&str>) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let (section_key, section_value) = document
        .get_ref()
        .iter()
        .find(|(key, _)| key.get_ref() == section)?;
    let position = match name {
        None => section_key.span().start,
        Some(name) => {
            let (key, _) = section_value
                .get_ref()
                .as_table()?
                .iter()
                .find(|(key, _)| key.get_ref() == name)?;
            key.span().start
        }
    };
    Some(line_and_column(text, position).0)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> ConfigError {
        read(text, "sesame.toml").unwrap_err()
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_and_column("", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("é\nx", 3), (2, 1));
        assert_eq!(line_and_column("éx", 2), (1, 2));
        assert_eq!(line_and_column("ab", 99), (1, 3));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let error = refused("[server]\nlisten = \"127.0.0.1:8443\"\nmax_connections = = 3\n");
        let ConfigError::Syntax {
            line,
            column,
            ref origin,
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!((line, origin.as_str()), (3, "sesame.toml"));
        assert!(column > 1, "{error}");
        assert!(
            error
                .to_string()
                .starts_with("TOML syntax error in sesame.toml at line 3, column "),
            "{error}"
        );
        assert_eq!(error.code(), "config_syntax");
    }

    #[test]
    fn duplicate_key_is_a_syntax_error() {
        let error = refused("[totp]\ndigits = 6\ndigits = 8\n");
        assert!(
            matches!(error, ConfigError::Syntax { line: 3, .. }),
            "{error}"
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_section_and_line() {
        let error = refused("[session]\nlifetime = \"4h\"\nlifetim = \"8h\"\n");
        assert_eq!(
            error.to_string(),
            "unknown setting \"session.lifetim\" in sesame.toml (line 3)"
        );
        assert_eq!(error.code(), "unknown_setting");
    }

    #[test]
    fn unknown_key_in_dotted_or_inline_form_is_named() {
        let error = refused("session.lifetim = \"8h\"\n");
        assert_eq!(
            error.to_string(),
            "unknown setting \"session.lifetim\" in sesame.toml (line 1)"
        );
        let error = refused("\n\ntotp = { digits = 6, digitz = 8 }\n");
        assert_eq!(
            error.to_string(),
            "unknown setting \"totp.digitz\" in sesame.toml (line 3)"
        );
    }

    #[test]
    fn unknown_section_and_nested_table_are_named() {
        assert_eq!(
            refused("[sever]\nlisten = \"0.0.0.0:1\"\n").to_string(),
            "unknown setting \"sever\" in sesame.toml (line 1)"
        );
        assert_eq!(
            refused("listen = \"0.0.0.0:1\"\n").to_string(),
            "unknown setting \"listen\" in sesame.toml (line 1)"
        );
        assert_eq!(
            refused("[server]\n[server.extra]\nx = 1\n").to_string(),
            "unknown setting \"server.extra\" in sesame.toml (line 2)"
        );
    }

    #[test]
    fn bad_duration_names_the_key_and_value() {
        let error = refused("[session]\n\nlifetime = \"4 hours\"\n");
        assert_eq!(
            error.to_string(),
            "bad value for session.lifetime in sesame.toml (line 3): \"4 hours\" \
             (expected a duration such as \"90s\", \"10m\", \"4h\", \"7d\" or \"1h30m\")"
        );
        assert_eq!(error.code(), "bad_value");
        assert_eq!(error.setting(), Some("session.lifetime"));
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_eq!(
            refused("[server]\nmax_connections = \"many\"\n").to_string(),
            "bad value for server.max_connections in sesame.toml (line 2): \"many\" \
             (expected a whole number, 0 or more)"
        );
        assert_eq!(
            refused("[totp]\ndigits = 1000\n").to_string(),
            "bad value for totp.digits in sesame.toml (line 2): 1000 \
             (expected a whole number from 0 to 255)"
        );
        assert_eq!(
            refused("[log]\nformat = \"xml\"\n").to_string(),
            "bad value for log.format in sesame.toml (line 2): \"xml\" (expected \"text\" or \"json\")"
        );
        assert_eq!(
            refused("[server]\nlisten = 8443\n").to_string(),
            "bad value for server.listen in sesame.toml (line 2): 8443 \
             (expected an address and port such as \"127.0.0.1:8443\" or \"[::]:8443\")"
        );
        assert_eq!(
            refused("server = 5\n").to_string(),
            "bad value for server in sesame.toml (line 1): 5 (expected a section, written [server])"
        );
        assert_eq!(
            refused("[[tls]]\ncert_file = \"c\"\n").to_string(),
            "bad value for tls in sesame.toml (line 1): an array (expected a section, written [tls])"
        );
    }
}
