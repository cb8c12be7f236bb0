//! [`ConsoleStore`] on SQLite.

use super::{SqliteStore, append_audit_tx};
use crate::clock::UnixTime;
use crate::model::*;
use crate::store::{ConsoleStore, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

const INSTALL_COLS: &str = "c.install_id, u.username, c.user_id, c.deploy_token_id, c.platform, \
     c.version, c.created_at, c.last_seen_at, c.revoked_at";

fn install_from_row(r: &Row<'_>) -> rusqlite::Result<ConsoleInstall> {
    Ok(ConsoleInstall {
        install_id: r.get(0)?,
        user: r.get(1)?,
        user_id: r.get(2)?,
        deploy_token_id: r.get(3)?,
        platform: r.get(4)?,
        version: r.get(5)?,
        created_at: r.get(6)?,
        last_seen_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

fn upsert_tx(c: &Connection, n: &NewConsoleInstall) -> StoreResult<()> {
    c.execute(
        "INSERT INTO console_installs
            (install_id, user_id, deploy_token_id, platform, version, token_hash, created_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT(install_id) DO UPDATE SET
            user_id = COALESCE(excluded.user_id, user_id),
            deploy_token_id = COALESCE(excluded.deploy_token_id, deploy_token_id),
            platform = excluded.platform, version = excluded.version,
            token_hash = excluded.token_hash, last_seen_at = excluded.last_seen_at,
            revoked_at = NULL",
        params![
            n.install_id,
            n.user_id,
            n.deploy_token_id,
            n.platform,
            n.version,
            &n.token_hash[..],
            n.at
        ],
    )?;
    Ok(())
}

impl ConsoleStore for SqliteStore {
    fn upsert_console_install(&self, new: NewConsoleInstall, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            upsert_tx(c, &new)?;
            append_audit_tx(c, &audit)
        })
    }

    fn register_with_deploy_token(
        &self,
        deploy_hash: &[u8; 32],
        mut new: NewConsoleInstall,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let deploy_hash = *deploy_hash;
        self.write(move |c| {
            // An installation already registered by this token re-registers without counting.
            let known: Option<i64> = c
                .query_row(
                    "SELECT d.id FROM console_installs i JOIN deploy_tokens d ON d.id = i.deploy_token_id
                     WHERE i.install_id = ?1 AND d.token_hash = ?2 AND d.revoked_at IS NULL AND d.expires_at > ?3",
                    params![new.install_id, &deploy_hash[..], new.at],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match known {
                Some(id) => id,
                None => {
                    let id: Option<i64> = c
                        .query_row(
                            "UPDATE deploy_tokens SET installs = installs + 1
                             WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2
                               AND installs < max_installs
                             RETURNING id",
                            params![&deploy_hash[..], new.at],
                            |r| r.get(0),
                        )
                        .optional()?;
                    let Some(id) = id else {
                        return Ok(false);
                    };
                    id
                }
            };
            new.deploy_token_id = Some(id);
            upsert_tx(c, &new)?;
            append_audit_tx(c, &audit.with_detail("deploy_token", id.into()))?;
            Ok(true)
        })
    }

    fn console_by_token(
        &self,
        hash: &[u8; 32],
        version: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<Option<ConsoleInstall>> {
        let hash = *hash;
        let version = version.map(str::to_owned);
        self.write(move |c| {
            let n = c.execute(
                "UPDATE console_installs SET last_seen_at = ?2, version = COALESCE(?3, version)
                 WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![&hash[..], now, version],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let mut st = c.prepare_cached(&format!(
                "SELECT {INSTALL_COLS} FROM console_installs c LEFT JOIN users u ON u.id = c.user_id
                 WHERE c.token_hash = ?1"
            ))?;
            Ok(st.query_row([&hash[..]], install_from_row).optional()?)
        })
    }

    fn list_console_installs(&self) -> StoreResult<Vec<ConsoleInstall>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {INSTALL_COLS} FROM console_installs c LEFT JOIN users u ON u.id = c.user_id
                 ORDER BY c.last_seen_at DESC LIMIT 10000"
            ))?;
            let rows = st.query_map([], install_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn revoke_console_install(
        &self,
        install_id: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let install_id = install_id.to_owned();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE console_installs SET revoked_at = ?2 WHERE install_id = ?1 AND revoked_at IS NULL",
                params![install_id, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn create_deploy_token(&self, new: NewDeployToken, audit: AuditEvent) -> StoreResult<i64> {
        let max = i64::try_from(new.max_installs).unwrap_or(i64::MAX);
        self.write(move |c| {
            c.execute(
                "INSERT INTO deploy_tokens (token_hash, label, created_by, created_at, expires_at, max_installs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&new.hash[..], new.label, new.created_by, new.created_at, new.expires_at, max],
            )?;
            let id = c.last_insert_rowid();
            append_audit_tx(c, &audit.with_detail("id", id.into()))?;
            Ok(id)
        })
    }

    fn list_deploy_tokens(&self) -> StoreResult<Vec<DeployToken>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT d.id, d.label, u.username, d.created_at, d.expires_at, d.max_installs,
                        d.installs, d.revoked_at
                 FROM deploy_tokens d LEFT JOIN users u ON u.id = d.created_by
                 ORDER BY d.id DESC LIMIT 10000",
            )?;
            let rows = st.query_map([], |r| {
                Ok(DeployToken {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    created_by: r.get(2)?,
                    created_at: r.get(3)?,
                    expires_at: r.get(4)?,
                    max_installs: r.get::<_, i64>(5)?.max(0) as u64,
                    installs: r.get::<_, i64>(6)?.max(0) as u64,
                    revoked_at: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn revoke_deploy_token(&self, id: i64, now: UnixTime, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE deploy_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }
}
