//! # installer — MSI-style silent installs of the Sesame support console, and its signed updates
//!
//! Speaks msiexec's language on Linux (`/i /x /f /quiet /qn /passive /l*v /S`, `INSTALLDIR`,
//! `RUNATSTARTUP`, `ALLUSERS`, `SHOULDAUTOUPDATE`, msiexec exit codes) and keeps consoles
//! up to date through a TUF repository signed by the appliance (`tough`).
//!
//! It is not the console itself (that is `support-relay`'s `support-console`), not the HTTP
//! side of updates (the appliance serves the repository directory and checks tokens), and not a
//! Windows MSI: but the plan is platform-neutral so a WiX MSI could be generated from it.
//!
//! Where to start:
//! - [`package`]: the package format — [`package::build`] (for `sesame admin console package`)
//!   and the strict reader [`package::Package::from_bytes`]; [`manifest`] is its manifest.
//! - [`cmdline`] → [`properties`] → [`plan::InstallPlan`]: pure parsing and planning.
//! - [`apply`]: the transactional effects (install, upgrade, repair, uninstall, receipt, lock).
//! - [`repo`]: the signing side (keys, `publish`, key rotation) for `sesame admin console publish`.
//! - [`update`]: the client (`check`, `update`, `store_update_token`, `register_login`) for
//!   `support-console update` and the console's login; [`locate`] finds the installation.
//! - [`exit`]: exit codes and the error type of the installer binary.

pub mod apply;
pub mod cmdline;
pub mod exit;
pub mod fsutil;
pub mod locate;
pub mod manifest;
pub mod package;
pub mod plan;
pub mod properties;
pub mod repo;
pub mod status;
pub mod update;
pub mod version;

/// A fresh random install id (128 bits, hex).
pub fn new_install_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source is available");
    data_encoding::HEXLOWER.encode(&b)
}

/// Entry points for the fuzz targets (`fuzz/`): each takes arbitrary bytes and must not panic.
#[doc(hidden)]
pub mod fuzz {
    /// Property and command-line parsing of arbitrary arguments.
    pub fn command_line(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let args: Vec<&str> = text.split('\0').collect();
        let _ = crate::properties::Properties::parse(&args);
        let _ = crate::cmdline::parse(&args);
    }

    /// Manifest parsing.
    pub fn manifest(data: &[u8]) {
        let _ = crate::manifest::Manifest::parse(data);
    }

    /// Package reading (gzip, tar, manifest, hashes).
    pub fn package(data: &[u8]) {
        let small = crate::package::Limits {
            max_package_bytes: 1 << 20,
            max_unpacked_bytes: 4 << 20,
        };
        let _ = crate::package::Package::from_bytes_with(data, small);
    }
}
