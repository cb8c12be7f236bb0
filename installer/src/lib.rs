//! # installer — MSI-style silent installs of the support console (not built yet)
//!
//! Will parse msiexec's vocabulary (`/i /x /f /quiet`, `INSTALLDIR=`, `RUNATSTARTUP=`,
//! `ALLUSERS=`, `SHOULDAUTOUPDATE=`) into a pure `InstallPlan`, apply it transactionally, and
//! run the signed update client (DESIGN.md §5b).
//!
//! This crate is an empty placeholder in the workspace until the installer issue lands.
