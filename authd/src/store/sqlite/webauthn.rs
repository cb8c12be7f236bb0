//! [`WebauthnStore`] on SQLite.

use super::{SqliteStore, append_audit_tx, corrupt, finish_step_tx};
use crate::clock::UnixTime;
use crate::model::*;
use crate::store::webauthn::{KeyLoginOutcome, KeyRegistration, WebauthnStore};
use crate::store::{Next, StoreError, StoreResult};
use rusqlite::{Row, params};

const CRED_COLS: &str = "id, cred_id, user_id, user_handle, label, credential, counter, backup_eligible, \
     backup_state, aaguid, possibly_cloned, created_at, last_used_at";

fn cred_from_row(r: &Row<'_>) -> StoreResult<WebauthnCredential> {
    let counter: i64 = r.get(6)?;
    Ok(WebauthnCredential {
        id: r.get(0)?,
        cred_id: r.get(1)?,
        user_id: r.get(2)?,
        user_handle: r.get(3)?,
        label: r.get(4)?,
        credential_json: r.get(5)?,
        counter: u32::try_from(counter)
            .map_err(|_| corrupt("webauthn_credentials", format!("counter {counter}")))?,
        backup_eligible: r.get(7)?,
        backup_state: r.get(8)?,
        aaguid: r.get(9)?,
        possibly_cloned: r.get(10)?,
        created_at: r.get(11)?,
        last_used_at: r.get(12)?,
    })
}

const CEREMONY_COLS: &str = "id, kind, user_id, challenge_id, label, state, expires_at, used_at";

fn ceremony_from_row(r: &Row<'_>) -> StoreResult<Ceremony> {
    let kind: String = r.get(1)?;
    Ok(Ceremony {
        id: r.get(0)?,
        kind: CeremonyKind::parse(&kind)
            .ok_or_else(|| corrupt("webauthn_ceremonies", format!("kind {kind}")))?,
        user_id: r.get(2)?,
        challenge_id: r.get(3)?,
        label: r.get(4)?,
        state: r.get(5)?,
        expires_at: r.get(6)?,
        used_at: r.get(7)?,
    })
}

/// Marker errors that roll a job back when a later conditional write finds nothing to change.
fn gone() -> StoreError {
    StoreError::Database("__ceremony_gone__".into())
}
fn regressed() -> StoreError {
    StoreError::Database("__counter_regressed__".into())
}

/// Consume a ceremony: zero rows = used, expired or unknown.
fn consume_ceremony_tx(c: &rusqlite::Connection, id: i64, now: UnixTime) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "UPDATE webauthn_ceremonies SET used_at = ?2, state = ''
         WHERE id = ?1 AND used_at IS NULL AND expires_at > ?2",
    )?
    .execute(params![id, now])?
        == 1)
}

impl WebauthnStore for SqliteStore {
    fn create_ceremony(&self, new: NewCeremony) -> StoreResult<()> {
        self.write(move |c| {
            // One cached statement per start (the hot path of a passkey sign-in); the sweep of
            // ceremonies that expired over a day ago runs on one start in 64.
            c.prepare_cached(
                "INSERT INTO webauthn_ceremonies(token_hash, kind, user_id, challenge_id, label, state, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![&new.token_hash[..], new.kind.as_str(), new.user_id, new.challenge_id,
                        new.label, new.state, new.created_at, new.expires_at])?;
            if c.last_insert_rowid() % 64 == 0 {
                c.prepare_cached("DELETE FROM webauthn_ceremonies WHERE expires_at < ?1")?
                    .execute([new.created_at - 86_400])?;
            }
            Ok(())
        })
    }

    fn ceremony_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Ceremony>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CEREMONY_COLS} FROM webauthn_ceremonies WHERE token_hash = ?1"
            ))?;
            let mut rows = st.query([&hash[..]])?;
            rows.next()?.map(ceremony_from_row).transpose()
        })
    }

    fn ceremony_for_challenge(&self, challenge_id: i64) -> StoreResult<Option<Ceremony>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CEREMONY_COLS} FROM webauthn_ceremonies
                 WHERE challenge_id = ?1 AND kind = 'second_factor' ORDER BY id DESC LIMIT 1"
            ))?;
            let mut rows = st.query([challenge_id])?;
            rows.next()?.map(ceremony_from_row).transpose()
        })
    }

    fn list_webauthn(&self, user: UserId) -> StoreResult<Vec<WebauthnCredential>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CRED_COLS} FROM webauthn_credentials WHERE user_id = ?1 ORDER BY id"
            ))?;
            let mut rows = st.query([user])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(cred_from_row(r)?);
            }
            Ok(out)
        })
    }

    fn webauthn_by_cred_id(&self, cred_id: &[u8]) -> StoreResult<Option<WebauthnCredential>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CRED_COLS} FROM webauthn_credentials WHERE cred_id = ?1"
            ))?;
            let mut rows = st.query([cred_id])?;
            rows.next()?.map(cred_from_row).transpose()
        })
    }

    fn add_webauthn(
        &self,
        ceremony: i64,
        new: NewWebauthnCredential,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<KeyRegistration> {
        let r = self.write(move |c| {
            if !consume_ceremony_tx(c, ceremony, now)? {
                return Ok(KeyRegistration::CeremonyGone);
            }
            let exists: i64 = c.query_row(
                "SELECT count(*) FROM webauthn_credentials WHERE cred_id = ?1",
                [&new.cred_id],
                |r| r.get(0),
            )?;
            if exists > 0 {
                // Roll back: the ceremony stays unused, nothing of this attempt is recorded.
                return Err(StoreError::Database("__exists__".into()));
            }
            c.execute(
                "INSERT INTO webauthn_credentials(cred_id, user_id, user_handle, label, credential, counter,
                     backup_eligible, backup_state, aaguid, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![new.cred_id, new.user_id, new.user_handle, new.label, new.credential_json,
                        i64::from(new.counter), new.backup_eligible, new.backup_state, new.aaguid,
                        new.created_at],
            )?;
            let id = c.last_insert_rowid();
            append_audit_tx(c, &audit)?;
            Ok(KeyRegistration::Added(id))
        });
        match r {
            Err(StoreError::Database(m)) if m == "__exists__" => Ok(KeyRegistration::Exists),
            other => other,
        }
    }

    fn complete_webauthn_login(
        &self,
        ceremony: i64,
        challenge: Option<i64>,
        key: KeyUse,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<KeyLoginOutcome> {
        let r = self.write(move |c| {
            if !consume_ceremony_tx(c, ceremony, now)? {
                return Ok(KeyLoginOutcome::CeremonyGone);
            }
            if let Some(ch) = challenge {
                let n = c
                    .prepare_cached("DELETE FROM challenges WHERE id = ?1 AND expires_at > ?2")?
                    .execute(params![ch, now])?;
                if n == 0 {
                    return Err(gone());
                }
            }
            // A counter of 0 means the authenticator keeps none (synchronised passkeys).
            let n = c
                .prepare_cached(
                    "UPDATE webauthn_credentials
                 SET counter = max(counter, ?2), backup_state = ?3,
                     backup_eligible = max(backup_eligible, ?4), last_used_at = ?5
                 WHERE id = ?1 AND (counter < ?2 OR (?2 = 0 AND counter = 0) OR ?6)",
                )?
                .execute(params![
                    key.credential,
                    i64::from(key.counter),
                    key.backup_state,
                    key.backup_eligible,
                    now,
                    key.accept_regression
                ])?;
            if n == 0 {
                return Err(regressed());
            }
            finish_step_tx(c, &next, &audit)?;
            Ok(KeyLoginOutcome::Done)
        });
        match r {
            Err(StoreError::Database(m)) if m == "__ceremony_gone__" => {
                Ok(KeyLoginOutcome::CeremonyGone)
            }
            Err(StoreError::Database(m)) if m == "__counter_regressed__" => {
                Ok(KeyLoginOutcome::CounterRegressed)
            }
            other => other,
        }
    }

    fn mark_webauthn_cloned(&self, id: i64, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE webauthn_credentials SET possibly_cloned = 1 WHERE id = ?1",
                [id],
            )?;
            append_audit_tx(c, &audit)
        })
    }

    fn delete_webauthn(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM webauthn_credentials WHERE id = ?1 AND user_id = ?2",
                params![id, user],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }
}
