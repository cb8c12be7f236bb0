//! [`KeyStore`] on SQLite.

use super::{
    SqliteStore, append_audit_tx, corrupt, finish_step_tx, replay, replay_is_false, step_to_sql,
};
use crate::clock::UnixTime;
use crate::model::*;
use crate::store::{KeyStore, Next, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use sesame_hardware::otp::{Algorithm, Digits};

const KEY_COLS: &str = "k.id, k.serial, k.kind, k.period, k.algorithm, k.digits, k.secret, k.state, k.disabled_reason, \
     k.disabled_note, k.owner_id, u.username, k.pin_hash, k.fail_count, k.counter, k.last_step, k.drift, \
     k.created_at, k.assigned_at, k.disabled_at, k.last_used_at, k.manufacturer, k.model";

fn key_from_row(r: &Row<'_>) -> StoreResult<OtpKey> {
    let bad = |what: &str, v: String| corrupt("otp_keys", format!("{what} {v}"));
    let kind: String = r.get(2)?;
    let period: i64 = r.get(3)?;
    let kind = match kind.as_str() {
        "totp" => KeyKind::Totp {
            period: u64::try_from(period).map_err(|_| bad("period", period.to_string()))?,
        },
        "hotp" => KeyKind::Hotp,
        other => return Err(bad("kind", other.into())),
    };
    let alg: String = r.get(4)?;
    let algorithm: Algorithm = alg.parse().map_err(|_| bad("algorithm", alg.clone()))?;
    let digits: i64 = r.get(5)?;
    let digits = u8::try_from(digits)
        .ok()
        .and_then(|d| Digits::new(d).ok())
        .ok_or_else(|| bad("digits", digits.to_string()))?;
    let state: String = r.get(7)?;
    let reason: Option<String> = r.get(8)?;
    let state = match state.as_str() {
        "in_stock" => KeyState::InStock,
        "assigned" => KeyState::Assigned,
        "revoked" => KeyState::Revoked,
        "disabled" => KeyState::Disabled(
            reason
                .as_deref()
                .and_then(DisableReason::parse)
                .ok_or_else(|| bad("disabled_reason", reason.clone().unwrap_or_default()))?,
        ),
        other => return Err(bad("state", other.into())),
    };
    let fail: i64 = r.get(13)?;
    let counter: i64 = r.get(14)?;
    let last_step: i64 = r.get(15)?;
    Ok(OtpKey {
        id: r.get(0)?,
        serial: r.get(1)?,
        kind,
        algorithm,
        digits,
        sealed_secret: r.get(6)?,
        state,
        disabled_note: r.get(9)?,
        owner: r.get(10)?,
        owner_name: r.get(11)?,
        pin_hash: r.get(12)?,
        fail_count: u32::try_from(fail).map_err(|_| bad("fail_count", fail.to_string()))?,
        counter: u64::try_from(counter).map_err(|_| bad("counter", counter.to_string()))?,
        last_step: u64::try_from(last_step).ok(),
        drift: r.get(16)?,
        created_at: r.get(17)?,
        assigned_at: r.get(18)?,
        disabled_at: r.get(19)?,
        last_used_at: r.get(20)?,
        manufacturer: r.get(21)?,
        model: r.get(22)?,
    })
}

fn query_keys(c: &Connection, filter: &KeyFilter) -> StoreResult<Vec<OtpKey>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {KEY_COLS} FROM otp_keys k LEFT JOIN users u ON u.id = k.owner_id
         WHERE (?1 IS NULL OR k.state = ?1) AND (?2 IS NULL OR k.owner_id = ?2) AND (?3 IS NULL OR k.serial = ?3)
           AND (?4 IS NULL OR k.serial > ?4)
         ORDER BY k.serial LIMIT ?5"
    ))?;
    let limit = filter.limit.map_or(10_000, |l| l.min(10_000));
    let mut rows = st.query(params![
        filter.state,
        filter.owner,
        filter.serial,
        filter.after,
        limit
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(key_from_row(r)?);
    }
    Ok(out)
}

/// End the sessions opened with a key.
fn revoke_key_sessions_tx(c: &Connection, key_id: i64, now: UnixTime) -> StoreResult<usize> {
    Ok(c.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE otp_key_id = ?1 AND revoked_at IS NULL",
        params![key_id, now],
    )?)
}

fn counter_to_sql(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Database("counter out of range".into()))
}

impl KeyStore for SqliteStore {
    fn import_keys(&self, keys: Vec<NewKey>, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO otp_keys(serial, kind, period, algorithm, digits, secret, state, counter, created_at, manufacturer, model)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'in_stock', ?7, ?8, ?9, ?10)",
            )?;
            for k in &keys {
                let period = match k.kind { KeyKind::Totp { period } => period as i64, KeyKind::Hotp => 0 };
                let r = st.execute(params![
                    k.serial, k.kind.as_str(), period, k.algorithm.as_str(), k.digits.get(), k.sealed_secret,
                    counter_to_sql(k.counter)?, k.created_at, k.manufacturer, k.model
                ]);
                match r {
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        return Err(StoreError::SerialTaken(k.serial.clone()));
                    }
                    other => other?,
                };
            }
            append_audit_tx(c, &audit)
        })
    }

    fn existing_serials(&self, serials: &[String]) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT 1 FROM otp_keys WHERE serial = ?1")?;
            let mut out = Vec::new();
            for s in serials {
                if st.exists([s])? {
                    out.push(s.clone());
                }
            }
            Ok(out)
        })
    }

    fn key_by_serial(&self, serial: &str) -> StoreResult<Option<OtpKey>> {
        let filter = KeyFilter {
            serial: Some(serial.to_owned()),
            ..Default::default()
        };
        self.read(|c| Ok(query_keys(c, &filter)?.into_iter().next()))
    }

    fn list_keys(&self, filter: &KeyFilter) -> StoreResult<Vec<OtpKey>> {
        self.read(|c| query_keys(c, filter))
    }

    fn assign_key(
        &self,
        key_id: i64,
        user: UserId,
        replaces: Option<i64>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let r = self.write(move |c| {
            let n = c.execute(
                "UPDATE otp_keys SET state = 'assigned', owner_id = ?2, assigned_at = ?3, pin_hash = NULL, fail_count = 0
                 WHERE id = ?1 AND state = 'in_stock'",
                params![key_id, user, now],
            )?;
            if n == 0 {
                return Err(replay());
            }
            if let Some(old) = replaces {
                let n = c.execute(
                    "UPDATE otp_keys SET state = 'revoked', disabled_at = ?3 WHERE id = ?1 AND owner_id = ?2 AND state = 'assigned'",
                    params![old, user, now],
                )?;
                if n == 0 {
                    return Err(replay());
                }
                revoke_key_sessions_tx(c, old, now)?;
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        });
        replay_is_false(r)
    }

    fn disable_key(
        &self,
        key_id: i64,
        reason: DisableReason,
        note: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let note = note.to_owned();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE otp_keys SET state = 'disabled', disabled_reason = ?2, disabled_note = ?3, disabled_at = ?4
                 WHERE id = ?1 AND state IN ('in_stock', 'assigned')",
                params![key_id, reason.as_str(), note, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            revoke_key_sessions_tx(c, key_id, now)?;
            c.execute("DELETE FROM challenges WHERE otp_key_id = ?1", [key_id])?;
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn cancel_pin(&self, key_id: i64, now: UnixTime, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE otp_keys SET pin_hash = NULL WHERE id = ?1 AND state = 'assigned'",
                [key_id],
            )?;
            if n == 0 {
                return Ok(false);
            }
            revoke_key_sessions_tx(c, key_id, now)?;
            c.execute("DELETE FROM challenges WHERE otp_key_id = ?1", [key_id])?;
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn unlock_key(&self, key_id: i64, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute("UPDATE otp_keys SET fail_count = 0 WHERE id = ?1", [key_id])?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn resync_key(
        &self,
        key_id: i64,
        consume: KeyConsume,
        drift: i64,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            let n = match consume {
                KeyConsume::Step(step) => c.execute(
                    "UPDATE otp_keys SET last_step = ?2, drift = ?3, fail_count = 0 WHERE id = ?1 AND last_step < ?2",
                    params![key_id, step_to_sql(step)?, drift],
                )?,
                KeyConsume::Counter(next) => c.execute(
                    "UPDATE otp_keys SET counter = ?2, fail_count = 0 WHERE id = ?1 AND counter < ?2",
                    params![key_id, counter_to_sql(next)?],
                )?,
            };
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn key_failure(&self, key_id: i64, audit: AuditEvent) -> StoreResult<u32> {
        self.write(move |c| {
            let n: Option<i64> = c
                .query_row(
                    "UPDATE otp_keys SET fail_count = fail_count + 1 WHERE id = ?1 RETURNING fail_count",
                    [key_id],
                    |r| r.get(0),
                )
                .optional()?;
            append_audit_tx(c, &audit)?;
            Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
        })
    }

    fn complete_key_login(
        &self,
        key_id: i64,
        consume: KeyConsume,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let r = self.write(move |c| {
            let n = match consume {
                KeyConsume::Step(step) => c.execute(
                    "UPDATE otp_keys SET last_step = ?2, fail_count = 0, last_used_at = ?3
                     WHERE id = ?1 AND state = 'assigned' AND last_step < ?2",
                    params![key_id, step_to_sql(step)?, now],
                )?,
                KeyConsume::Counter(next) => c.execute(
                    "UPDATE otp_keys SET counter = ?2, fail_count = 0, last_used_at = ?3
                     WHERE id = ?1 AND state = 'assigned' AND counter < ?2",
                    params![key_id, counter_to_sql(next)?, now],
                )?,
            };
            if n == 0 {
                return Err(replay());
            }
            // Logging in with the key ends the owner's temporary password.
            c.execute(
                "UPDATE temp_passwords SET revoked_at = ?2
                 WHERE revoked_at IS NULL AND user_id = (SELECT owner_id FROM otp_keys WHERE id = ?1)",
                params![key_id, now],
            )?;
            finish_step_tx(c, &next, &audit)
        });
        replay_is_false(r)
    }

    fn set_temp_password(
        &self,
        user: UserId,
        hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE temp_passwords SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user, now],
            )?;
            c.execute(
                "INSERT INTO temp_passwords(user_id, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![user, hash, now, expires_at],
            )?;
            append_audit_tx(c, &audit)
        })
    }

    fn active_temp_password(
        &self,
        user: UserId,
        now: UnixTime,
    ) -> StoreResult<Option<TempPassword>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT id, user_id, hash, created_at, expires_at FROM temp_passwords
                 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY id DESC LIMIT 1",
                params![user, now],
                |r| Ok(TempPassword { id: r.get(0)?, user_id: r.get(1)?, hash: r.get(2)?, created_at: r.get(3)?, expires_at: r.get(4)? }),
            )
            .optional()?)
        })
    }

    fn revoke_temp_password(
        &self,
        user: UserId,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE temp_passwords SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                params![user, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }
}
