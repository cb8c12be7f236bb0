//! Exit codes, msiexec's numbers, and the error type every action returns.
//!
//! | code | name | when |
//! |---|---|---|
//! | 0 | success | done, or nothing to do (same package installed again) |
//! | 1603 | fatal error | unwritable target, package contents failing verification, an I/O error; everything rolled back |
//! | 1605 | unknown product | uninstall, repair or status of a product that is not installed here |
//! | 1618 | another install in progress | another installer holds the lock on the same target |
//! | 1619 | package cannot be opened | missing, unreadable or not a package archive |
//! | 1622 | log file cannot be opened | the `/l*v` file |
//! | 1633 | unsupported platform | the package is for another platform |
//! | 1638 | another version installed | the package is older than the installed version (downgrades are refused) |
//! | 1639 | invalid command line | unknown switch or property, bad value, relative `INSTALLDIR` |
//!
//! A Unix exit status has 8 bits: the shell sees the low byte of these numbers (1603 → 67,
//! 1639 → 103; all distinct). The log records the full number.

use crate::cmdline::CommandLineError;
use crate::package::PackageError;
use crate::plan::PlanError;

/// msiexec exit codes used by the installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0.
    Success,
    /// 1603.
    Fatal,
    /// 1605.
    UnknownProduct,
    /// 1618.
    InstallInProgress,
    /// 1619.
    PackageOpen,
    /// 1622.
    LogFile,
    /// 1633.
    Platform,
    /// 1638.
    NewerInstalled,
    /// 1639.
    InvalidCommandLine,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Fatal => 1603,
            ExitCode::UnknownProduct => 1605,
            ExitCode::InstallInProgress => 1618,
            ExitCode::PackageOpen => 1619,
            ExitCode::LogFile => 1622,
            ExitCode::Platform => 1633,
            ExitCode::NewerInstalled => 1638,
            ExitCode::InvalidCommandLine => 1639,
        }
    }
}

/// Why an install, repair, uninstall or status failed. `Display` is one sentence for stderr.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The command line.
    #[error(transparent)]
    CommandLine(#[from] CommandLineError),
    /// The plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The package could not be opened as an archive.
    #[error("the package {path} cannot be opened: {reason}")]
    PackageOpen {
        /// Path given.
        path: String,
        /// Why.
        reason: String,
    },
    /// The package opened but its contents fail verification.
    #[error("the package {path} failed verification: {source}")]
    PackageInvalid {
        /// Path given.
        path: String,
        /// Why.
        source: PackageError,
    },
    /// Another installer holds the lock.
    #[error(
        "another installation of {0} is in progress on this target; try again when it has finished"
    )]
    Busy(String),
    /// Not installed here.
    #[error("sesame-console is not installed in {0}")]
    NotInstalled(String),
    /// `/x` with a product name we do not know.
    #[error("\"{0}\" is neither a package file nor the product sesame-console")]
    UnknownProduct(String),
    /// Downgrade.
    #[error(
        "version {installed} is installed, which is newer than the package's {package}; uninstall it first to go back"
    )]
    NewerInstalled {
        /// Installed version.
        installed: String,
        /// Package version.
        package: String,
    },
    /// Installed somewhere else already.
    #[error("sesame-console is already installed in {0}; uninstall it before installing elsewhere")]
    InstalledElsewhere(String),
    /// An I/O step failed; the change was rolled back.
    #[error("could not {action} {path}: {source}; nothing was changed")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// On which path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl InstallError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            InstallError::CommandLine(_) => ExitCode::InvalidCommandLine,
            InstallError::Plan(PlanError::NoHome) => ExitCode::InvalidCommandLine,
            InstallError::Plan(PlanError::Platform(..)) => ExitCode::Platform,
            InstallError::Plan(PlanError::NotRoot) => ExitCode::Fatal,
            InstallError::PackageOpen { .. } => ExitCode::PackageOpen,
            InstallError::PackageInvalid { .. } => ExitCode::Fatal,
            InstallError::Busy(_) => ExitCode::InstallInProgress,
            InstallError::NotInstalled(_) | InstallError::UnknownProduct(_) => {
                ExitCode::UnknownProduct
            }
            InstallError::NewerInstalled { .. } => ExitCode::NewerInstalled,
            InstallError::InstalledElsewhere(_) | InstallError::Io { .. } => ExitCode::Fatal,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> InstallError {
        let path = path.display().to_string();
        move |source| InstallError::Io {
            action,
            path,
            source,
        }
    }
}

/// Splits a package read failure into "cannot open" (1619) and "fails verification" (1603).
pub fn classify_package_error(path: &str, e: PackageError) -> InstallError {
    match e {
        PackageError::Io { .. }
        | PackageError::Archive(_)
        | PackageError::ManifestNotFirst
        | PackageError::TooLarge(_) => InstallError::PackageOpen {
            path: path.into(),
            reason: e.to_string(),
        },
        other => InstallError::PackageInvalid {
            path: path.into(),
            source: other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_msiexec_numbers() {
        let all = [
            (ExitCode::Success, 0),
            (ExitCode::Fatal, 1603),
            (ExitCode::UnknownProduct, 1605),
            (ExitCode::InstallInProgress, 1618),
            (ExitCode::PackageOpen, 1619),
            (ExitCode::LogFile, 1622),
            (ExitCode::Platform, 1633),
            (ExitCode::NewerInstalled, 1638),
            (ExitCode::InvalidCommandLine, 1639),
        ];
        let mut low_bytes = std::collections::BTreeSet::new();
        for (c, n) in all {
            assert_eq!(c.code(), n);
            assert!(
                low_bytes.insert(n & 0xff),
                "{n}: the shell could not tell it apart"
            );
        }
    }
}
