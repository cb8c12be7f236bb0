//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, one writer thread with group
//! commit (see `writer`), and a small pool of read connections.
//!
//! Rows are read into the domain types of `crate::model` through small conversion functions
//! that reject anything out of range (`StoreError::Corrupt`) instead of guessing.

mod accounts;
pub mod backup;
mod console;
mod guard;
mod keys;
mod webauthn;

use super::writer::Writer;
use super::*;
use crate::audit;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sesame_hardware::otp::{Algorithm, Digits, TotpParams};
use std::path::Path;
use std::sync::Mutex;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "sesame.db";
const READ_POOL: usize = 4;

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: std::path::PathBuf,
    writer: Option<Writer>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
}

fn open_conn(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL for concurrent readers; FULL so a commit is on the device before it returns.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = MIGRATIONS_LEN as i64;
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

const MIGRATIONS_LEN: usize = schema::MIGRATIONS.len();

impl Drop for SqliteStore {
    /// Close deterministically: stop the writer and wait until its connection is closed, so a
    /// restart (or a restore) right after sees a store nobody holds.
    fn drop(&mut self) {
        drop(self.writer.take());
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
    }
}

impl SqliteStore {
    /// Open (creating and migrating as needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> StoreResult<SqliteStore> {
        let path = data_dir.join(DB_FILE);
        let mut conn = open_conn(&path)?;
        migrate(&mut conn)?;
        let (writer, writer_thread) =
            Writer::start(conn).map_err(|e| StoreError::Database(format!("writer: {e}")))?;
        Ok(SqliteStore {
            path,
            writer: Some(writer),
            writer_thread: Some(writer_thread),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let r = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < READ_POOL
        {
            pool.push(conn);
        }
        r
    }

    pub(super) fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        match &self.writer {
            Some(w) => w.write(f),
            None => Err(StoreError::WriterStopped),
        }
    }
}

// ---------------------------------------------------------------- row conversion

pub(super) fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.into(),
    }
}

const USER_COLS: &str = "id, username, password_hash, roles, disabled, must_change_password, created_at, password_changed_at, fail_count, throttled_until";

fn user_from_row(r: &Row<'_>) -> StoreResult<User> {
    user_from_row_at(r, 0)
}

/// An account from `USER_COLS` starting at column `at`.
fn user_from_row_at(r: &Row<'_>, at: usize) -> StoreResult<User> {
    let roles_text: String = r.get(at + 3)?;
    let mut roles = Vec::new();
    for name in roles_text.split(',').filter(|s| !s.is_empty()) {
        roles.push(Role::parse(name).ok_or_else(|| corrupt("users", format!("role {name}")))?);
    }
    if roles.is_empty() {
        return Err(corrupt("users", "no role"));
    }
    Ok(User {
        id: r.get(at)?,
        username: r.get(at + 1)?,
        password_hash: r.get(at + 2)?,
        roles,
        disabled: r.get(at + 4)?,
        must_change_password: r.get(at + 5)?,
        created_at: r.get(at + 6)?,
        password_changed_at: r.get(at + 7)?,
        fail_count: u32::try_from(r.get::<_, i64>(at + 8)?).unwrap_or(u32::MAX),
        throttled_until: r.get(at + 9)?,
    })
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

const TOTP_COLS: &str = "id, user_id, label, secret, algorithm, digits, period, confirmed, last_step, created_at, last_used_at";

fn totp_from_row(r: &Row<'_>) -> StoreResult<TotpCredential> {
    let alg: String = r.get(4)?;
    let algorithm: Algorithm = alg
        .parse()
        .map_err(|_| corrupt("totp_credentials", format!("algorithm {alg}")))?;
    let digits: i64 = r.get(5)?;
    let period: i64 = r.get(6)?;
    let last_step: i64 = r.get(8)?;
    Ok(TotpCredential {
        id: r.get(0)?,
        user_id: r.get(1)?,
        label: r.get(2)?,
        sealed_secret: r.get(3)?,
        params: TotpParams::new(
            algorithm,
            u8::try_from(digits)
                .ok()
                .and_then(|d| Digits::new(d).ok())
                .ok_or_else(|| corrupt("totp_credentials", format!("digits {digits}")))?,
            u64::try_from(period).map_err(|_| corrupt("totp_credentials", "period"))?,
        )
        .map_err(|e| corrupt("totp_credentials", e.to_string()))?,
        confirmed: r.get(7)?,
        last_step: u64::try_from(last_step).ok(),
        created_at: r.get(9)?,
        last_used_at: r.get(10)?,
    })
}

const SESSION_COLS: &str = "s.id, s.user_id, s.created_at, s.expires_at, s.last_seen_at, s.address, s.user_agent, s.method, s.otp_key_id, COALESCE(s.reauth_at, s.created_at)";
/// Number of columns in `SESSION_COLS`.
const SESSION_NCOLS: usize = 10;

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        user_id: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        last_seen_at: r.get(4)?,
        address: r.get(5)?,
        user_agent: r.get(6)?,
        method: r.get(7)?,
        otp_key_id: r.get(8)?,
        authenticated_at: r.get(9)?,
    })
}

pub(super) fn step_to_sql(step: u64) -> StoreResult<i64> {
    i64::try_from(step).map_err(|_| StoreError::Database("step out of range".into()))
}

// ---------------------------------------------------------------- write helpers (in a tx)

pub(super) fn append_audit_tx(c: &Connection, e: &AuditEvent) -> StoreResult<()> {
    let last: Option<(i64, Vec<u8>)> = c
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (id, prev) = match last {
        Some((id, h)) => (
            id + 1,
            <[u8; 32]>::try_from(h.as_slice()).map_err(|_| corrupt("audit", "hash length"))?,
        ),
        None => (1, audit::GENESIS),
    };
    let detail = e.detail.to_string();
    let outcome = match e.outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
    };
    let hash = audit::chain_hash(
        &prev,
        &audit::Entry {
            id,
            at: e.at,
            actor: e.actor.as_deref(),
            action: e.action,
            target: e.target.as_deref(),
            outcome,
            address: &e.address,
            user_agent: &e.user_agent,
            detail: &detail,
        },
    );
    c.execute(
        "INSERT INTO audit(id, at, actor, action, target, outcome, address, user_agent, detail, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id, e.at, e.actor, e.action, e.target, outcome, e.address, e.user_agent, detail,
            &hash[..]
        ],
    )?;
    Ok(())
}

pub(super) fn insert_session_tx(c: &Connection, s: &NewSession) -> StoreResult<i64> {
    if let Some(limit) = s.seat_limit {
        let live: i64 = c.query_row(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1",
            [s.created_at],
            |r| r.get(0),
        )?;
        if live as u64 >= limit {
            return Err(StoreError::SeatsFull);
        }
    }
    c.execute(
        "INSERT INTO sessions(token_hash, user_id, created_at, expires_at, last_seen_at, address, user_agent, method, otp_key_id)
         VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6, ?7, ?8)",
        params![&s.token_hash[..], s.user_id, s.created_at, s.expires_at, s.address, s.user_agent, s.method, s.otp_key_id],
    )?;
    Ok(c.last_insert_rowid())
}

pub(super) fn insert_challenge_tx(c: &Connection, ch: &NewChallenge) -> StoreResult<()> {
    c.execute(
        "INSERT INTO challenges(token_hash, user_id, stage, created_at, expires_at, method, address, user_agent, otp_key_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![&ch.token_hash[..], ch.user_id, ch.stage.as_str(), ch.created_at, ch.expires_at, ch.method, ch.address, ch.user_agent, ch.otp_key_id],
    )?;
    Ok(())
}

pub(super) fn revoke_sessions_tx(
    c: &Connection,
    user: UserId,
    now: i64,
    except: Option<i64>,
) -> StoreResult<usize> {
    Ok(c.execute(
        "UPDATE sessions SET revoked_at = ?2
         WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?3",
        params![user, now, except],
    )?)
}

/// Marker error used to roll a job back when a conditional write found nothing to change.
pub(super) fn replay() -> StoreError {
    StoreError::Database("__replay__".into())
}

pub(super) fn is_replay(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(m) if m == "__replay__")
}

/// A conditional write that found a replay changed nothing: answer `false`.
pub(super) fn replay_is_false(r: StoreResult<bool>) -> StoreResult<bool> {
    match r {
        Err(e) if is_replay(&e) => Ok(false),
        other => other,
    }
}

/// Apply what a completed step consumes or changes (a conditional write: `replay()` when it
/// found nothing to change, which rolls the whole job back).
pub(super) fn apply_effect_tx(
    c: &Connection,
    user: UserId,
    key_id: Option<i64>,
    effect: &Effect,
    now: UnixTime,
) -> StoreResult<()> {
    match effect {
        Effect::TotpStep {
            credential_id,
            step,
        } => {
            let step = step_to_sql(*step)?;
            let n = c.execute(
                "UPDATE totp_credentials SET last_step = ?3, last_used_at = ?4
                 WHERE id = ?1 AND user_id = ?2 AND confirmed = 1 AND last_step < ?3",
                params![credential_id, user, step, now],
            )?;
            if n == 0 {
                return Err(replay());
            }
        }
        Effect::ConfirmTotp {
            credential_id,
            step,
        } => {
            let step = step_to_sql(*step)?;
            let n = c.execute(
                "UPDATE totp_credentials SET confirmed = 1, last_step = ?3, last_used_at = ?4
                 WHERE id = ?1 AND user_id = ?2 AND confirmed = 0 AND last_step < ?3",
                params![credential_id, user, step, now],
            )?;
            if n == 0 {
                return Err(replay());
            }
        }
        Effect::BackupCode { code_id } => {
            let n = c.execute(
                "UPDATE backup_codes SET used_at = ?3
                 WHERE id = ?1 AND user_id = ?2 AND used_at IS NULL",
                params![code_id, user, now],
            )?;
            if n == 0 {
                return Err(replay());
            }
        }
        Effect::SetPin { pin_hash } => {
            let n = c.execute(
                "UPDATE otp_keys SET pin_hash = ?3, fail_count = 0
                 WHERE id = ?1 AND owner_id = ?2 AND state = 'assigned'",
                params![key_id, user, pin_hash],
            )?;
            if n == 0 {
                return Err(replay());
            }
        }
        Effect::SetPassword { password_hash } => {
            c.execute(
                "UPDATE users SET password_hash = ?2, must_change_password = 0, password_changed_at = ?3 WHERE id = ?1",
                params![user, password_hash, now],
            )?;
            revoke_sessions_tx(c, user, now, None)?;
        }
    }
    Ok(())
}

/// Record what follows a completed step (session, next challenge, or nothing) and its audit.
pub(super) fn finish_step_tx(c: &Connection, next: &Next, audit: &AuditEvent) -> StoreResult<bool> {
    match next {
        Next::Session(s) => {
            insert_session_tx(c, s)?;
        }
        Next::Challenge(ch) => insert_challenge_tx(c, ch)?,
        Next::Done => {}
    }
    append_audit_tx(c, audit)?;
    Ok(true)
}

impl Store for SqliteStore {
    fn count_users(&self) -> StoreResult<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE username = ?1"
            ))?;
            let mut rows = st.query([username])?;
            rows.next()?.map(user_from_row).transpose()
        })
    }

    fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
            let mut rows = st.query([id])?;
            rows.next()?.map(user_from_row).transpose()
        })
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(user_from_row(r)?);
            }
            Ok(out)
        })
    }

    fn create_user(&self, new: NewUser, audit: AuditEvent) -> StoreResult<UserId> {
        self.write(move |c| {
            let r = c.execute(
                "INSERT INTO users(username, password_hash, roles, must_change_password, created_at, password_changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![new.username, new.password_hash, roles_text(&new.roles), new.must_change_password, new.created_at],
            );
            match r {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StoreError::UsernameTaken);
                }
                other => other?,
            };
            let id = c.last_insert_rowid();
            append_audit_tx(c, &audit)?;
            Ok(id)
        })
    }

    fn update_user(&self, id: UserId, change: UserChange, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let exists: bool =
                c.query_row("SELECT count(*) FROM users WHERE id = ?1", [id], |r| {
                    r.get::<_, i64>(0)
                })? > 0;
            if !exists {
                return Ok(false);
            }
            if let Some(roles) = &change.roles {
                c.execute(
                    "UPDATE users SET roles = ?2 WHERE id = ?1",
                    params![id, roles_text(roles)],
                )?;
            }
            if let Some(disabled) = change.disabled {
                c.execute(
                    "UPDATE users SET disabled = ?2 WHERE id = ?1",
                    params![id, disabled],
                )?;
                if disabled {
                    revoke_sessions_tx(c, id, audit.at, None)?;
                    c.execute("DELETE FROM challenges WHERE user_id = ?1", [id])?;
                }
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn delete_user(&self, id: UserId, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            // Its keys go back to stock, PIN and failures forgotten.
            c.execute(
                "UPDATE otp_keys SET state = 'in_stock', owner_id = NULL, pin_hash = NULL, fail_count = 0
                 WHERE owner_id = ?1 AND state = 'assigned'",
                [id],
            )?;
            let n = c.execute("DELETE FROM users WHERE id = ?1", [id])?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: bool,
        now: UnixTime,
        keep_session: Option<i64>,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let hash = password_hash.to_owned();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE users SET password_hash = ?2, must_change_password = ?3, password_changed_at = ?4 WHERE id = ?1",
                params![id, hash, must_change, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            revoke_sessions_tx(c, id, now, keep_session)?;
            c.execute("DELETE FROM challenges WHERE user_id = ?1", [id])?;
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn rehash_password(&self, id: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let (old, new) = (old.to_owned(), new.to_owned());
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                params![id, old, new],
            )? == 1)
        })
    }

    fn add_totp(&self, new: NewTotp, audit: AuditEvent) -> StoreResult<i64> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO totp_credentials(user_id, label, secret, algorithm, digits, period, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![new.user_id, new.label, new.sealed_secret, new.params.algorithm().as_str(),
                        new.params.digits().get(), new.params.period() as i64, new.created_at],
            )?;
            let id = c.last_insert_rowid();
            append_audit_tx(c, &audit)?;
            Ok(id)
        })
    }

    fn list_totp(&self, user: UserId) -> StoreResult<Vec<TotpCredential>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOTP_COLS} FROM totp_credentials WHERE user_id = ?1 ORDER BY id"
            ))?;
            let mut rows = st.query([user])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(totp_from_row(r)?);
            }
            Ok(out)
        })
    }

    fn confirm_totp(
        &self,
        user: UserId,
        id: i64,
        step: u64,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let step = step_to_sql(step)?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE totp_credentials SET confirmed = 1, last_step = ?3, last_used_at = ?4
                 WHERE id = ?1 AND user_id = ?2 AND confirmed = 0 AND last_step < ?3",
                params![id, user, step, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn delete_totp(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM totp_credentials WHERE id = ?1 AND user_id = ?2",
                params![id, user],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn replace_backup_codes(
        &self,
        user: UserId,
        codes: Vec<(String, String)>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute("DELETE FROM backup_codes WHERE user_id = ?1", [user])?;
            let mut st = c.prepare_cached(
                "INSERT INTO backup_codes(user_id, tag, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (tag, hash) in &codes {
                st.execute(params![user, tag, hash, now])?;
            }
            append_audit_tx(c, &audit)?;
            Ok(())
        })
    }

    fn unused_backup_codes(&self, user: UserId, tag: &str) -> StoreResult<Vec<BackupCode>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, tag, hash FROM backup_codes WHERE user_id = ?1 AND tag = ?2 AND used_at IS NULL",
            )?;
            let rows = st.query_map(params![user, tag], |r| {
                Ok(BackupCode { id: r.get(0)?, tag: r.get(1)?, hash: r.get(2)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn count_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM backup_codes WHERE user_id = ?1 AND used_at IS NULL",
                [user],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    fn create_challenge(&self, new: NewChallenge, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            insert_challenge_tx(c, &new)?;
            append_audit_tx(c, &audit)
        })
    }

    fn challenge_by_hash(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<Option<Challenge>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, user_id, stage, expires_at, attempts, method, address, user_agent, otp_key_id
                 FROM challenges WHERE token_hash = ?1 AND expires_at > ?2",
            )?;
            let mut rows = st.query(params![&hash[..], now])?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            let stage: String = r.get(2)?;
            let attempts: i64 = r.get(4)?;
            Ok(Some(Challenge {
                id: r.get(0)?,
                user_id: r.get(1)?,
                stage: ChallengeStage::parse(&stage)
                    .ok_or_else(|| corrupt("challenges", format!("stage {stage}")))?,
                expires_at: r.get(3)?,
                attempts: u32::try_from(attempts).map_err(|_| corrupt("challenges", "attempts"))?,
                method: r.get(5)?,
                address: r.get(6)?,
                user_agent: r.get(7)?,
                otp_key_id: r.get(8)?,
            }))
        })
    }

    fn fail_challenge(&self, id: i64, max_attempts: u32, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE challenges SET attempts = attempts + 1 WHERE id = ?1",
                [id],
            )?;
            c.execute(
                "DELETE FROM challenges WHERE id = ?1 AND attempts >= ?2",
                params![id, max_attempts],
            )?;
            append_audit_tx(c, &audit)
        })
    }

    fn complete_challenge(
        &self,
        id: i64,
        effect: Option<Effect>,
        next: Next,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let r = self.write(move |c| {
            let row: Option<(i64, Option<i64>)> = c
                .query_row(
                    "DELETE FROM challenges WHERE id = ?1 AND expires_at > ?2 RETURNING user_id, otp_key_id",
                    params![id, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((user, key_id)) = row else {
                return Err(replay());
            };
            if let Some(effect) = &effect {
                apply_effect_tx(c, user, key_id, effect, now)?;
            }
            finish_step_tx(c, &next, &audit)
        });
        replay_is_false(r)
    }

    fn create_session(&self, new: NewSession, audit: AuditEvent) -> StoreResult<i64> {
        self.write(move |c| {
            let id = insert_session_tx(c, &new)?;
            append_audit_tx(c, &audit)?;
            Ok(id)
        })
    }

    fn session_by_hash(
        &self,
        hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<Option<(Session, User)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SESSION_COLS}, u.id, u.username, u.password_hash, u.roles, u.disabled,
                        u.must_change_password, u.created_at, u.password_changed_at, u.fail_count, u.throttled_until
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2"
            ))?;
            let mut rows = st.query(params![&hash[..], now])?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            let session = session_from_row(r)?;
            let user = user_from_row_at(r, SESSION_NCOLS)?;
            Ok(Some((session, user)))
        })
    }

    fn touch_session(&self, id: i64, now: UnixTime) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at < ?2 - 60",
                params![id, now],
            )?;
            Ok(())
        })
    }

    fn list_sessions(&self, user: UserId, now: UnixTime) -> StoreResult<Vec<Session>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM sessions s
                 WHERE s.user_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
                 ORDER BY s.id DESC"
            ))?;
            let rows = st.query_map(params![user, now], session_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn revoke_session(&self, user: UserId, id: i64, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                params![id, user, audit.at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn all_sessions(&self, now: UnixTime) -> StoreResult<Vec<(Session, String, Vec<Role>)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SESSION_COLS}, u.username, u.roles FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.revoked_at IS NULL AND s.expires_at > ?1 ORDER BY s.id DESC LIMIT 10000"
            ))?;
            let mut rows = st.query([now])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let roles: String = r.get(SESSION_NCOLS + 1)?;
                let roles = roles
                    .split(',')
                    .map(|n| Role::parse(n).ok_or_else(|| corrupt("users", format!("role {n}"))))
                    .collect::<StoreResult<Vec<_>>>()?;
                out.push((session_from_row(r)?, r.get(SESSION_NCOLS)?, roles));
            }
            Ok(out)
        })
    }

    fn end_session(&self, id: i64, audit: AuditEvent) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                params![id, audit.at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn end_user_sessions(&self, user: UserId, audit: AuditEvent) -> StoreResult<usize> {
        self.write(move |c| {
            let n = revoke_sessions_tx(c, user, audit.at, None)?;
            append_audit_tx(c, &audit)?;
            Ok(n)
        })
    }

    fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: i64,
        audit: AuditEvent,
    ) -> StoreResult<usize> {
        self.write(move |c| {
            let n = revoke_sessions_tx(c, user, audit.at, Some(keep))?;
            append_audit_tx(c, &audit)?;
            Ok(n)
        })
    }

    fn append_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.write(move |c| append_audit_tx(c, &event))
    }

    fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let filter = filter.clone();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, at, actor, action, target, outcome, address, user_agent, detail, hash
                 FROM audit
                 WHERE (?1 IS NULL OR actor = ?1 OR target = ?1) AND (?2 IS NULL OR at >= ?2)
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![filter.user, filter.since, filter.limit.clamp(1, 1000)],
                |r| {
                    let detail: String = r.get(8)?;
                    let hash: Vec<u8> = r.get(9)?;
                    Ok(AuditRecord {
                        id: r.get(0)?,
                        at: crate::clock::rfc3339(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        outcome: r.get(5)?,
                        address: r.get(6)?,
                        user_agent: r.get(7)?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                        hash: data_encoding::HEXLOWER.encode(&hash),
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn verify_audit_chain(&self) -> StoreResult<Result<u64, i64>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, at, actor, action, target, outcome, address, user_agent, detail, hash
                 FROM audit ORDER BY id",
            )?;
            let mut rows = st.query([])?;
            let mut prev = audit::GENESIS;
            let mut expected_id = 1;
            let mut n = 0u64;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let actor: Option<String> = r.get(2)?;
                let action: String = r.get(3)?;
                let target: Option<String> = r.get(4)?;
                let outcome: String = r.get(5)?;
                let address: String = r.get(6)?;
                let user_agent: String = r.get(7)?;
                let detail: String = r.get(8)?;
                let stored: Vec<u8> = r.get(9)?;
                let h = audit::chain_hash(
                    &prev,
                    &audit::Entry {
                        id,
                        at: r.get(1)?,
                        actor: actor.as_deref(),
                        action: &action,
                        target: target.as_deref(),
                        outcome: &outcome,
                        address: &address,
                        user_agent: &user_agent,
                        detail: &detail,
                    },
                );
                if id != expected_id || stored != h {
                    return Ok(Err(id));
                }
                prev = h;
                expected_id += 1;
                n += 1;
            }
            Ok(Ok(n))
        })
    }
}
