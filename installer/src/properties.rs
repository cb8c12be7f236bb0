//! Public properties (`NAME=VALUE`), msiexec style: names case-insensitive, values exact.
//!
//! | property | values | default | meaning |
//! |---|---|---|---|
//! | `INSTALLDIR` | absolute directory | per-user `$XDG_DATA_HOME/sesame-console`, per-machine `/opt/sesame-console` | where the program files go |
//! | `RUNATSTARTUP` | `0`, `1` | `0` | XDG autostart entry (per user, or `/etc/xdg/autostart` for all users) |
//! | `ALLUSERS` | empty, `1` | empty | per-user install, or per-machine (root) |
//! | `SHOULDAUTOUPDATE` | `0`, `1` | `0` | update automatically when the server is upgraded |
//! | `RELAYURL` | `https://…` (or `http://` on loopback) | the package's | relay the console uses |
//! | `DEPLOYTOKEN` | 16–512 visible ASCII characters | none | lets the console update before its first login |
//! | `REMOVEDATA` | `0`, `1` | `0` | uninstall also removes settings and tokens |
//!
//! [`Properties::parse`] is pure and total: any input gives a value or a [`PropertyError`]; a
//! deploy token never appears in an error or in `Debug` output.

use std::fmt;
use std::path::PathBuf;

/// Every property name this installer accepts (upper case).
pub const NAMES: [&str; 7] = [
    "INSTALLDIR",
    "RUNATSTARTUP",
    "ALLUSERS",
    "SHOULDAUTOUPDATE",
    "RELAYURL",
    "DEPLOYTOKEN",
    "REMOVEDATA",
];

/// A deploy or update token: kept out of `Debug` and error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token that passed [`Token::parse`].
    pub fn parse(value: &str) -> Option<Token> {
        let ok = (16..=512).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Token(value.to_string()))
    }

    /// The secret value, for the `Authorization` header or the 0600 file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The properties of one command line. `None` means "not given": an upgrade keeps the setting
/// the installation already has, a first install takes the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// `INSTALLDIR`.
    pub install_dir: Option<PathBuf>,
    /// `RUNATSTARTUP`.
    pub run_at_startup: Option<bool>,
    /// `ALLUSERS=1`.
    pub all_users: bool,
    /// `SHOULDAUTOUPDATE`.
    pub should_auto_update: Option<bool>,
    /// `RELAYURL`.
    pub relay_url: Option<String>,
    /// `DEPLOYTOKEN`.
    pub deploy_token: Option<Token>,
    /// `REMOVEDATA` (uninstall only).
    pub remove_data: bool,
}

/// A property that is not accepted; every variant maps to exit code 1639.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// Not `NAME=VALUE`.
    #[error("\"{0}\" is not a property of the form NAME=VALUE")]
    NotAProperty(String),
    /// A name outside [`NAMES`].
    #[error(
        "unknown property {0} (known: INSTALLDIR, RUNATSTARTUP, ALLUSERS, SHOULDAUTOUPDATE, RELAYURL, DEPLOYTOKEN, REMOVEDATA)"
    )]
    Unknown(String),
    /// The same property twice.
    #[error("property {0} is given twice")]
    Duplicate(String),
    /// A value outside the property's domain (the value is shown unless it is a secret).
    #[error("property {name} has the invalid value {shown}; expected {expected}")]
    BadValue {
        /// Property name (upper case).
        name: &'static str,
        /// The value quoted, or `<hidden>` for tokens.
        shown: String,
        /// What is accepted.
        expected: &'static str,
    },
}

impl Properties {
    /// Parses `NAME=VALUE` arguments.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Properties, PropertyError> {
        let mut p = Properties::default();
        let mut seen = std::collections::BTreeSet::new();
        for arg in args {
            let arg = arg.as_ref();
            let short: String = arg.chars().take(80).collect();
            let (name, value) = arg
                .split_once('=')
                .ok_or_else(|| PropertyError::NotAProperty(short.clone()))?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(PropertyError::NotAProperty(short));
            }
            let upper = name.to_ascii_uppercase();
            let Some(name) = NAMES.iter().copied().find(|n| *n == upper) else {
                return Err(PropertyError::Unknown(upper.chars().take(40).collect()));
            };
            if !seen.insert(name) {
                return Err(PropertyError::Duplicate(name.into()));
            }
            let bad = |expected| PropertyError::BadValue {
                name,
                shown: if name == "DEPLOYTOKEN" {
                    "<hidden>".into()
                } else {
                    format!("\"{}\"", value.chars().take(80).collect::<String>())
                },
                expected,
            };
            let flag = || match value {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad("0 or 1")),
            };
            match name {
                "INSTALLDIR" => {
                    let path = PathBuf::from(value);
                    let clean = path.is_absolute()
                        && value.len() <= 1024
                        && !value.contains('\n')
                        && path.components().all(|c| {
                            matches!(
                                c,
                                std::path::Component::RootDir | std::path::Component::Normal(_)
                            )
                        })
                        && path.parent().is_some();
                    if !clean {
                        return Err(bad(
                            "an absolute directory path without . or .. (and not /)",
                        ));
                    }
                    p.install_dir = Some(path);
                }
                "RUNATSTARTUP" => p.run_at_startup = Some(flag()?),
                "SHOULDAUTOUPDATE" => p.should_auto_update = Some(flag()?),
                "REMOVEDATA" => p.remove_data = flag()?,
                "ALLUSERS" => {
                    p.all_users = match value {
                        "" => false,
                        "1" => true,
                        _ => return Err(bad("empty (per user) or 1 (per machine)")),
                    }
                }
                "RELAYURL" => {
                    if !relay_url_ok(value) {
                        return Err(bad("an https:// URL (http:// only on loopback)"));
                    }
                    p.relay_url = Some(value.to_string());
                }
                "DEPLOYTOKEN" => {
                    p.deploy_token = Some(
                        Token::parse(value)
                            .ok_or_else(|| bad("16 to 512 visible ASCII characters"))?,
                    );
                }
                _ => unreachable!("every name in NAMES is handled"),
            }
        }
        Ok(p)
    }
}

/// `https://host…`, or `http://` to a loopback host (tests, local relays).
pub fn relay_url_ok(value: &str) -> bool {
    let Ok(u) = url::Url::parse(value) else {
        return false;
    };
    if value.len() > 2048
        || u.host().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return false;
    }
    match u.scheme() {
        "https" => true,
        "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_case_insensitive_values_are_not() {
        let p = Properties::parse(&[
            "installdir=/opt/x",
            "RunAtStartup=1",
            "allusers=1",
            "ShouldAutoUpdate=0",
        ])
        .expect("valid");
        assert_eq!(p.install_dir, Some(PathBuf::from("/opt/x")));
        assert_eq!(p.run_at_startup, Some(true));
        assert!(p.all_users);
        assert_eq!(p.should_auto_update, Some(false));
        assert!(Properties::parse(&["RUNATSTARTUP=true"]).is_err());
        assert!(Properties::parse(&["ALLUSERS=2"]).is_err());
    }

    #[test]
    fn each_error_is_named() {
        assert_eq!(
            Properties::parse(&["FOO=1"]),
            Err(PropertyError::Unknown("FOO".into()))
        );
        assert_eq!(
            Properties::parse(&["ALLUSERS=1", "allusers="]),
            Err(PropertyError::Duplicate("ALLUSERS".into()))
        );
        assert!(matches!(
            Properties::parse(&["INSTALLDIR=relative/x"]),
            Err(PropertyError::BadValue {
                name: "INSTALLDIR",
                ..
            })
        ));
        assert!(matches!(
            Properties::parse(&["INSTALLDIR=/a/../b"]),
            Err(PropertyError::BadValue { .. })
        ));
        assert!(matches!(
            Properties::parse(&["INSTALLDIR=/"]),
            Err(PropertyError::BadValue { .. })
        ));
        assert!(matches!(
            Properties::parse(&["RELAYURL=http://relay.example/"]),
            Err(PropertyError::BadValue { .. })
        ));
        assert!(matches!(
            Properties::parse(&["nonsense"]),
            Err(PropertyError::NotAProperty(_))
        ));
    }

    #[test]
    fn unicode_case_folds_are_not_names() {
        assert!(matches!(
            Properties::parse(&["\u{17f}HOULDAUTOUPDATE=0"]),
            Err(PropertyError::NotAProperty(_))
        ));
    }

    #[test]
    fn deploy_tokens_never_show() {
        let e = Properties::parse(&["DEPLOYTOKEN=short secret"]).expect_err("too short");
        assert!(!e.to_string().contains("secret"), "{e}");
        let p = Properties::parse(&["DEPLOYTOKEN=0123456789abcdefSECRET"]).expect("valid");
        assert!(!format!("{p:?}").contains("SECRET"));
    }

    proptest! {
        #[test]
        fn parse_is_total(args in proptest::collection::vec(".{0,40}", 0..6)) {
            let _ = Properties::parse(&args);
        }

        #[test]
        fn flags_round_trip_in_any_ascii_case(which in 0..2usize, mask in any::<u32>(), v in any::<bool>()) {
            // ASCII case only, as msiexec: Unicode folds such as U+017F (long s) are refused.
            let base = ["RUNATSTARTUP", "SHOULDAUTOUPDATE"][which];
            let name: String = base
                .chars()
                .enumerate()
                .map(|(i, c)| if mask >> (i % 32) & 1 == 1 { c.to_ascii_lowercase() } else { c })
                .collect();
            let p = Properties::parse(&[format!("{name}={}", u8::from(v))]).expect("valid flag");
            let got = if which == 0 { p.run_at_startup } else { p.should_auto_update };
            prop_assert_eq!(got, Some(v));
        }

        #[test]
        fn any_absolute_plain_dir_is_accepted(parts in proptest::collection::vec("[a-zA-Z0-9_ -]{1,12}", 1..5)) {
            let dir = format!("/{}", parts.join("/"));
            let p = Properties::parse(&[format!("INSTALLDIR={dir}")]).expect("valid dir");
            prop_assert_eq!(p.install_dir, Some(PathBuf::from(dir)));
        }
    }
}
