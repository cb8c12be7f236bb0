//! The installer's integration tests: real `installer` processes in temporary `HOME`s and
//! `SESAME_INSTALL_ROOT`s, a real HTTPS update server on loopback, real signed repositories.
//! One test binary (STYLE.md §17), modules inside.

mod hostile;
mod install;
mod support;
mod update;
