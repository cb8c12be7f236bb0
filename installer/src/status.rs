//! `installer status [--json]`: what is installed where, read from the receipt, the settings and
//! the `current` link. Token *presence* is reported, never a token.

use crate::apply::{Receipt, load_settings};
use crate::exit::InstallError;
use crate::plan::{Layout, UpdateMode};
use crate::update::{DEPLOY_TOKEN_FILE, UPDATE_TOKEN_FILE, installed_version};
use serde::Serialize;

/// The state of one installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `sesame-console`.
    pub product: String,
    /// Installed version (`current` link), if readable.
    pub version: Option<String>,
    /// `per-user` or `per-machine`.
    pub scope: String,
    /// Install directory (as the system sees it, without `SESAME_INSTALL_ROOT`).
    pub install_dir: String,
    /// Install id.
    pub install_id: String,
    /// Relay URL.
    pub relay_url: String,
    /// `SHOULDAUTOUPDATE`.
    pub should_auto_update: bool,
    /// What that means here.
    pub update_mode: UpdateMode,
    /// `RUNATSTARTUP`.
    pub run_at_startup: bool,
    /// An update token is stored.
    pub update_token: bool,
    /// A deploy token is stored.
    pub deploy_token: bool,
}

/// Reads the status of the installation `layout` points at.
pub fn status(layout: &Layout) -> Result<Status, InstallError> {
    let not =
        || InstallError::NotInstalled(layout.final_path(&layout.install_dir).display().to_string());
    let receipt = Receipt::load(layout)?.ok_or_else(not)?;
    let settings = load_settings(layout)?.ok_or_else(not)?;
    Ok(Status {
        product: receipt.product,
        version: installed_version(layout).map(|v| v.to_string()),
        scope: receipt.scope.as_str().into(),
        install_dir: layout
            .final_path(&receipt.install_dir)
            .display()
            .to_string(),
        install_id: settings.install_id,
        relay_url: settings.relay_url,
        should_auto_update: settings.should_auto_update,
        update_mode: settings.update_mode,
        run_at_startup: settings.run_at_startup,
        update_token: layout.state_dir.join(UPDATE_TOKEN_FILE).is_file(),
        deploy_token: layout.state_dir.join(DEPLOY_TOKEN_FILE).is_file(),
    })
}

impl Status {
    /// Human-readable lines.
    pub fn to_text(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "product: {}\nversion: {}\nscope: {}\ndirectory: {}\ninstall id: {}\nrelay: {}\nauto-update: {} ({})\nrun at startup: {}\nupdate token: {}\ndeploy token: {}\n",
            self.product,
            self.version
                .as_deref()
                .unwrap_or("unknown (damaged: run installer /f PACKAGE)"),
            self.scope,
            self.install_dir,
            self.install_id,
            self.relay_url,
            yes(self.should_auto_update),
            serde_json::to_value(self.update_mode)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            yes(self.run_at_startup),
            yes(self.update_token),
            yes(self.deploy_token),
        )
    }
}
