//! The command line, in msiexec's grammar and in readable long forms.
//!
//! ```text
//! installer /i PACKAGE [/quiet|/qn|/passive|/S] [/l*v LOG] [PROPERTY=VALUE ...]
//! installer /x PACKAGE|PRODUCT [...]       uninstall
//! installer /f PACKAGE [...]               repair
//! installer install|uninstall|repair ...   the same, spelled out
//! installer status [--json] [ALLUSERS=1] [INSTALLDIR=...]
//! installer update [--check] [--system] [ALLUSERS=1] [INSTALLDIR=...]
//! ```
//! Switches are case-insensitive (`/I`, `/QN`), as msiexec's; `/l` takes any msiexec logging
//! flags (`/l*v`, `/lv`, `/l*`) and always writes the verbose log. `/S` (EXE style) is `/quiet`.
//! `/norestart` is accepted and ignored (nothing here needs a restart). [`parse`] is pure.

use crate::properties::{Properties, PropertyError};
use std::path::PathBuf;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `/i`, `install`.
    Install,
    /// `/x`, `uninstall`.
    Uninstall,
    /// `/f`, `repair`.
    Repair,
    /// `status`.
    Status,
    /// `update`.
    Update,
}

/// How much the installer talks (there is never a window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ui {
    /// Default: progress lines on stdout.
    Full,
    /// `/passive`: progress lines, never a question.
    Passive,
    /// `/quiet`, `/qn`, `/S`: nothing on stdout; errors still go to stderr.
    Quiet,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The action.
    pub action: Action,
    /// `PACKAGE` (install, repair), `PACKAGE|PRODUCT` (uninstall), none otherwise.
    pub target: Option<String>,
    /// UI level.
    pub ui: Ui,
    /// `/l*v LOG`.
    pub log: Option<PathBuf>,
    /// `status --json`.
    pub json: bool,
    /// `update --check`.
    pub check_only: bool,
    /// `update --system` (the per-machine update service).
    pub system: bool,
    /// The properties.
    pub properties: Properties,
}

/// A command line that cannot be understood (exit 1639).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandLineError {
    /// No action.
    #[error("no action given: use /i PACKAGE, /x PACKAGE, /f PACKAGE, status or update")]
    NoAction,
    /// Two actions.
    #[error("more than one action given ({0})")]
    TwoActions(String),
    /// An action without its package.
    #[error("{0} needs a package path")]
    MissingTarget(&'static str),
    /// A switch we do not know.
    #[error("unknown option {0}")]
    UnknownOption(String),
    /// `/l` without a file.
    #[error("{0} needs a log file path")]
    MissingLog(String),
    /// A bad property.
    #[error(transparent)]
    Property(#[from] PropertyError),
}

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Command, CommandLineError> {
    let mut action: Option<(Action, &'static str)> = None;
    let mut target: Option<String> = None;
    let mut ui = Ui::Full;
    let mut log = None;
    let mut json = false;
    let mut check_only = false;
    let mut system = false;
    let mut props = Vec::new();
    let mut i = 0;
    let set =
        |a: Action, name: &'static str, action: &mut Option<(Action, &'static str)>| match action {
            Some((_, prev)) => Err(CommandLineError::TwoActions(format!("{prev} and {name}"))),
            None => {
                *action = Some((a, name));
                Ok(())
            }
        };
    while i < args.len() {
        let arg = args[i].as_ref();
        let lower = arg.to_ascii_lowercase();
        let takes_target = match lower.as_str() {
            "/i" | "/package" | "install" => {
                set(Action::Install, "install", &mut action)?;
                true
            }
            "/x" | "/uninstall" | "uninstall" => {
                set(Action::Uninstall, "uninstall", &mut action)?;
                true
            }
            "/f" | "repair" => {
                set(Action::Repair, "repair", &mut action)?;
                true
            }
            "status" => {
                set(Action::Status, "status", &mut action)?;
                false
            }
            "update" => {
                set(Action::Update, "update", &mut action)?;
                false
            }
            "/quiet" | "/qn" | "/q" | "/s" => {
                ui = Ui::Quiet;
                false
            }
            "/passive" | "/qb" => {
                ui = Ui::Passive;
                false
            }
            "/norestart" => false,
            "--json" => {
                json = true;
                false
            }
            "--check" => {
                check_only = true;
                false
            }
            "--system" => {
                system = true;
                false
            }
            l if l.starts_with("/l") && l[2..].bytes().all(|b| b"iwearucmopvx+!*".contains(&b))
                || l == "/log" =>
            {
                i += 1;
                let file = args
                    .get(i)
                    .map(|s| s.as_ref())
                    .filter(|s| !s.is_empty() && !is_switch(s));
                log = Some(PathBuf::from(
                    file.ok_or_else(|| CommandLineError::MissingLog(arg.into()))?,
                ));
                false
            }
            _ if arg.contains('=') && !arg.starts_with('/') && !arg.starts_with('-') => {
                props.push(arg.to_string());
                false
            }
            _ => {
                return Err(CommandLineError::UnknownOption(
                    arg.chars().take(80).collect(),
                ));
            }
        };
        if takes_target {
            i += 1;
            match args.get(i).map(|s| s.as_ref()) {
                Some(t) if !t.is_empty() && !is_switch(t) && !t.contains('=') => {
                    target = Some(t.to_string())
                }
                _ => {
                    let name = action.map(|(_, n)| n).unwrap_or("install");
                    return Err(CommandLineError::MissingTarget(name));
                }
            }
        }
        i += 1;
    }
    let (action, _) = action.ok_or(CommandLineError::NoAction)?;
    let properties = Properties::parse(&props)?;
    Ok(Command {
        action,
        target,
        ui,
        log,
        json,
        check_only,
        system,
        properties,
    })
}

/// The log file named on a command line that may not parse, so that even a refused command
/// line is logged where the administrator asked.
pub fn log_path_hint<S: AsRef<str>>(args: &[S]) -> Option<PathBuf> {
    let i = args.iter().position(|a| {
        let l = a.as_ref().to_ascii_lowercase();
        l == "/log"
            || (l.starts_with("/l")
                && l.len() <= 8
                && l[2..].bytes().all(|b| b"iwearucmopvx+!*".contains(&b)))
    })?;
    let p = args.get(i + 1)?.as_ref();
    (!p.is_empty() && !is_switch(p)).then(|| PathBuf::from(p))
}

/// Whether `s` is one of our switches (so it cannot be a package or log path).
fn is_switch(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "/i" | "/package"
            | "/x"
            | "/uninstall"
            | "/f"
            | "/quiet"
            | "/qn"
            | "/q"
            | "/s"
            | "/passive"
            | "/qb"
            | "/norestart"
            | "/log"
    ) || (l.starts_with("/l")
        && l.len() <= 8
        && l[2..].bytes().all(|b| b"iwearucmopvx+!*".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msiexec_forms() {
        let c =
            parse(&["/I", "/tmp/p.pkg", "/qn", "/L*V", "/tmp/log", "allusers=1"]).expect("valid");
        assert_eq!(c.action, Action::Install);
        assert_eq!(c.target.as_deref(), Some("/tmp/p.pkg"));
        assert_eq!(c.ui, Ui::Quiet);
        assert_eq!(c.log, Some(PathBuf::from("/tmp/log")));
        assert!(c.properties.all_users);
        assert_eq!(
            parse(&["/S", "/i", "/tmp/p.pkg"]).expect("valid").ui,
            Ui::Quiet
        );
        assert_eq!(
            parse(&["/x", "sesame-console", "/passive"])
                .expect("valid")
                .ui,
            Ui::Passive
        );
        assert!(parse(&["status", "--json"]).expect("valid").json);
        assert!(parse(&["update", "--check"]).expect("valid").check_only);
    }

    #[test]
    fn refusals() {
        assert_eq!(parse::<&str>(&[]), Err(CommandLineError::NoAction));
        assert!(matches!(
            parse(&["/i"]),
            Err(CommandLineError::MissingTarget(_))
        ));
        assert!(matches!(
            parse(&["/i", "/qn"]),
            Err(CommandLineError::MissingTarget(_))
        ));
        assert!(matches!(
            parse(&["/i", "a", "/x", "b"]),
            Err(CommandLineError::TwoActions(_))
        ));
        assert!(matches!(
            parse(&["/i", "a", "/z"]),
            Err(CommandLineError::UnknownOption(_))
        ));
        assert!(matches!(
            parse(&["/i", "a", "/l*v"]),
            Err(CommandLineError::MissingLog(_))
        ));
        assert!(matches!(
            parse(&["/i", "a", "FOO=1"]),
            Err(CommandLineError::Property(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_is_total(args in proptest::collection::vec("[/a-zA-Z*=0-9 ._-]{0,12}", 0..8)) {
            let _ = parse(&args);
        }
    }
}
