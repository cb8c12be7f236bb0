//! Domain operations on support-console installations and deploy tokens.

use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::*;

/// Installations, update tokens, deploy tokens.
pub trait ConsoleStore {
    /// Register an installation or, if its `install_id` is known, give it a new update token
    /// (the old one stops working), user and version.
    fn upsert_console_install(&self, new: NewConsoleInstall, audit: AuditEvent) -> StoreResult<()>;
    /// Register an installation with a deploy token, counting it against the token's limit, in
    /// one transaction. False: the token is unknown, expired, revoked or used up.
    fn register_with_deploy_token(
        &self,
        deploy_hash: &[u8; 32],
        new: NewConsoleInstall,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// The live installation holding update token `hash`; records the check (`last_seen_at`,
    /// reported version).
    fn console_by_token(
        &self,
        hash: &[u8; 32],
        version: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<Option<ConsoleInstall>>;
    /// Every installation, most recently seen first (at most 10 000).
    fn list_console_installs(&self) -> StoreResult<Vec<ConsoleInstall>>;
    /// Revoke an installation's update token. False if unknown or already revoked.
    fn revoke_console_install(
        &self,
        install_id: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    /// Create a deploy token.
    fn create_deploy_token(&self, new: NewDeployToken, audit: AuditEvent) -> StoreResult<i64>;
    /// Every deploy token, newest first.
    fn list_deploy_tokens(&self) -> StoreResult<Vec<DeployToken>>;
    /// Revoke a deploy token (installations it registered keep their own update tokens).
    fn revoke_deploy_token(&self, id: i64, now: UnixTime, audit: AuditEvent) -> StoreResult<bool>;
}
