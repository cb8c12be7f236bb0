//! Support-console installations and the tokens that let them fetch updates.

use super::UserId;
use crate::clock::UnixTime;

/// An installed support console known to the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleInstall {
    /// The random id the installer created.
    pub install_id: String,
    /// The technician whose first login issued its update token (`None` when a deploy token
    /// registered it, or the account was deleted).
    pub user: Option<String>,
    /// Its account id.
    pub user_id: Option<UserId>,
    /// The deploy token that registered it, if any.
    pub deploy_token_id: Option<i64>,
    /// `linux-x86_64`, …
    pub platform: String,
    /// The version it last reported.
    pub version: String,
    /// First registration.
    pub created_at: UnixTime,
    /// Last update check.
    pub last_seen_at: UnixTime,
    /// When an admin revoked its token.
    pub revoked_at: Option<UnixTime>,
}

/// A token an admin hands to a mass deployment (`DEPLOYTOKEN=`): consoles installed with it
/// register and update before anyone logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployToken {
    /// Id (shown, not secret).
    pub id: i64,
    /// What it is for.
    pub label: String,
    /// Who created it.
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Refused after this.
    pub expires_at: UnixTime,
    /// Most installations it may register.
    pub max_installs: u64,
    /// Installations registered so far.
    pub installs: u64,
    /// When revoked.
    pub revoked_at: Option<UnixTime>,
}

/// What registering an installation records.
#[derive(Debug, Clone)]
pub struct NewConsoleInstall {
    /// Installer-made id.
    pub install_id: String,
    /// The technician (login) or `None` (deploy token).
    pub user_id: Option<UserId>,
    /// The deploy token used, if any.
    pub deploy_token_id: Option<i64>,
    /// Platform.
    pub platform: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the update token.
    pub token_hash: [u8; 32],
    /// Now.
    pub at: UnixTime,
}

/// What creating a deploy token records.
#[derive(Debug, Clone)]
pub struct NewDeployToken {
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// What it is for.
    pub label: String,
    /// The admin.
    pub created_by: Option<UserId>,
    /// Now.
    pub created_at: UnixTime,
    /// End of validity.
    pub expires_at: UnixTime,
    /// Most installations.
    pub max_installs: u64,
}
