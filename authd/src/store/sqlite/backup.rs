//! Backups of the embedded store: online snapshots, daily archives, retention, verification
//! and restore. Everything lives in `<data_dir>/backups/`:
//!
//! | file | made by |
//! |---|---|
//! | `snapshot-YYYYMMDDTHHMMSSZ.db` | [`run_due_backups`] every `backups.snapshot_every`, or [`create`] |
//! | `archive-YYYYMMDD.db` | [`run_due_backups`], once a day |
//! | `pre-restore-YYYYMMDDTHHMMSSZ.db` | [`restore`], the store it replaced (never pruned) |
//!
//! **Consistency without stopping the writer.** A backup copies the database with SQLite's
//! online backup API from its own connection, in one step: one read transaction, so the copy
//! is one consistent state of the store. In WAL mode a reader never blocks the writer (commits
//! go on into the WAL while the copy runs), and a single step is never restarted by them.
//!
//! **Atomic and durable.** The copy is written under a temporary name, switched to the
//! rollback journal (a backup is one self-contained file), marked, fsynced, renamed into place,
//! and the directory fsynced: a crash leaves either no backup or a whole one.
//!
//! **Which appliance.** Each backup holds a `sesame_backup` table with the SHA-256 of a key
//! derived from the master key (`MasterKey::derive_key("appliance-id")`). [`verify`] and
//! [`restore`] refuse a file whose mark does not match the master key of the data directory
//! (a *foreign* backup), a file without mark, a damaged file (`PRAGMA integrity_check`) and a
//! schema newer than this build. The mark is removed from the restored store.
//!
//! **Damage inside values.** `integrity_check` sees broken pages and indexes, not a flipped
//! byte inside a stored value. The mark therefore also holds an HMAC-SHA256, keyed by
//! `MasterKey::derive_key("backup-content")`, over the schema and every row of every table
//! (see [`content_mac`]); [`verify`] recomputes it and refuses a file whose contents changed
//! since it was taken, whether by damage or by hand.
//!
//! **The master key is not in the backup.** OTP seeds are sealed with `master.key`; a backup
//! without that file cannot be restored (nor its seeds opened). Save `master.key` separately.
//!
//! Time is an argument (`now`, Unix seconds): nothing here reads the clock.

use crate::clock::{UnixTime, rfc3339};
use crate::secrets::{MASTER_KEY_FILE, MasterKey};
use crate::store::schema::MIGRATIONS;
use crate::store::sqlite::DB_FILE;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// Directory of the backups, inside the data directory.
pub const BACKUP_DIR: &str = "backups";
/// Table that marks a backup file with its appliance.
const MARK_TABLE: &str = "sesame_backup";

/// Why a backup operation failed. Each variant has a stable [`BackupError::code`].
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The data directory has no store to back up.
    #[error("there is no store to back up at {path}")]
    NoStore {
        /// Where the store was expected.
        path: String,
    },
    /// The data directory has no (valid) master key, so backups cannot be identified.
    #[error(
        "the master key {path} is missing or unreadable ({reason}); restore it from its own backup first"
    )]
    NoMasterKey {
        /// Where the key was expected.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The backup file does not exist.
    #[error("backup file {path} does not exist")]
    NotFound {
        /// The file asked for.
        path: String,
    },
    /// The file is not a readable, intact SQLite database.
    #[error("backup file {path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What SQLite found.
        reason: String,
    },
    /// The file is a database but was not made by Sesame's backup (no mark).
    #[error("{path} is not a Sesame backup")]
    NotABackup {
        /// The file.
        path: String,
    },
    /// The file is a backup of another appliance (another master key).
    #[error("backup file {path} belongs to another appliance (its master key differs)")]
    Foreign {
        /// The file.
        path: String,
    },
    /// The backup's schema is newer than this build understands.
    #[error("backup file {path} has schema version {found}; this build supports up to {supported}")]
    TooNew {
        /// The file.
        path: String,
        /// Its `user_version`.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// The store is open elsewhere (the appliance is running): restore needs it stopped.
    #[error("the store {path} is in use; stop the appliance before restoring")]
    StoreInUse {
        /// The live store.
        path: String,
    },
    /// A file operation failed.
    #[error("{what} failed: {reason}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's reason.
        reason: String,
    },
    /// SQLite refused an operation on the live store or the copy.
    #[error("database error during backup: {0}")]
    Database(String),
}

impl BackupError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::NoStore { .. } => "no_store",
            BackupError::NoMasterKey { .. } => "no_master_key",
            BackupError::NotFound { .. } => "backup_not_found",
            BackupError::Corrupt { .. } => "backup_corrupt",
            BackupError::NotABackup { .. } => "not_a_backup",
            BackupError::Foreign { .. } => "backup_foreign",
            BackupError::TooNew { .. } => "backup_too_new",
            BackupError::StoreInUse { .. } => "store_in_use",
            BackupError::Io { .. } => "backup_io",
            BackupError::Database(_) => "backup_database",
        }
    }
}

impl BackupError {
    /// Whether [`restore`] refused before changing anything (a bad file, a running appliance,
    /// no master key), as opposed to failing on the way.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            BackupError::NoMasterKey { .. }
                | BackupError::NotFound { .. }
                | BackupError::Corrupt { .. }
                | BackupError::NotABackup { .. }
                | BackupError::Foreign { .. }
                | BackupError::TooNew { .. }
                | BackupError::StoreInUse { .. }
        )
    }
}

impl From<rusqlite::Error> for BackupError {
    fn from(e: rusqlite::Error) -> Self {
        BackupError::Database(e.to_string())
    }
}

fn io(what: impl std::fmt::Display, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = format!("{what} {}", path.display());
    move |e| BackupError::Io {
        what,
        reason: e.to_string(),
    }
}

/// The kinds of backup, by file-name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    /// Periodic or on-demand snapshot (`snapshot-…`).
    Snapshot,
    /// Daily archive (`archive-YYYYMMDD`).
    Archive,
    /// The store as it was before a restore (`pre-restore-…`).
    PreRestore,
}

impl BackupKind {
    /// Stable name (also the file-name prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Snapshot => "snapshot",
            BackupKind::Archive => "archive",
            BackupKind::PreRestore => "pre-restore",
        }
    }

    fn file_name(self, now: UnixTime) -> String {
        // 2026-11-23T12:00:00Z → 20261123T120000Z
        let stamp: String = rfc3339(now)
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        match self {
            BackupKind::Archive => format!("archive-{}.db", &stamp[..8]),
            _ => format!("{}-{stamp}.db", self.as_str()),
        }
    }

    /// Kind and time of a backup file name (archives: midnight UTC of their day).
    fn parse(name: &str) -> Option<(BackupKind, UnixTime)> {
        let stem = name.strip_suffix(".db")?;
        let (kind, stamp) = if let Some(s) = stem.strip_prefix("snapshot-") {
            (BackupKind::Snapshot, s.to_owned())
        } else if let Some(s) = stem.strip_prefix("pre-restore-") {
            (BackupKind::PreRestore, s.to_owned())
        } else if let Some(s) = stem.strip_prefix("archive-") {
            (BackupKind::Archive, format!("{s}T000000Z"))
        } else {
            return None;
        };
        let b = stamp.get(..16)?;
        if stamp.len() != 16 {
            return None;
        }
        let text = format!(
            "{}-{}-{}T{}:{}:{}Z",
            b.get(0..4)?,
            b.get(4..6)?,
            b.get(6..8)?,
            b.get(9..11)?,
            b.get(11..13)?,
            b.get(13..15)?
        );
        let t = crate::clock::parse_rfc3339(&text)?;
        (text.len() == 20).then_some((kind, t))
    }
}

/// One file of `<data_dir>/backups/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Full path.
    pub path: PathBuf,
    /// Kind, from the name.
    pub kind: BackupKind,
    /// When it was taken (from the name; archives: midnight UTC of their day).
    pub taken_at: UnixTime,
    /// Size in bytes.
    pub size: u64,
}

/// What [`verify`] found in a good backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When it was taken (from the mark).
    pub taken_at: UnixTime,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// Kind recorded in the mark.
    pub kind: String,
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The copy of the store that was replaced (none if there was no store).
    pub previous: Option<PathBuf>,
    /// What the restored backup was.
    pub verified: Verified,
}

fn supported_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The keys a backup is marked with: the appliance tag and the content MAC key.
struct MarkKeys {
    /// SHA-256 of the appliance id derived from the master key.
    tag: [u8; 32],
    /// Key of the content MAC.
    content: [u8; 32],
}

/// The mark keys from the master key in `data_dir`.
fn mark_keys(data_dir: &Path) -> Result<MarkKeys, BackupError> {
    let path = data_dir.join(MASTER_KEY_FILE);
    let err = |reason: String| BackupError::NoMasterKey {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| err(format!("expected 32 bytes, found {}", bytes.len())))?;
    let key = MasterKey::from_bytes(arr);
    Ok(MarkKeys {
        tag: sha2::Sha256::digest(key.derive_key("appliance-id")).into(),
        content: key.derive_key("backup-content"),
    })
}

/// HMAC-SHA256 over the schema (`user_version` and every schema entry) and every row of every
/// table except the mark, in a fixed order, each value written with its type and length so no
/// two different contents encode alike.
fn content_mac(conn: &Connection, key: &[u8; 32]) -> rusqlite::Result<[u8; 32]> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key)
        .expect("HMAC accepts any key length");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    mac.update(b"sesame-backup-content-v1|");
    mac.update(&version.to_be_bytes());
    let mut tables = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_schema
             WHERE name <> ?1 AND tbl_name <> ?1 ORDER BY type, name",
        )?;
        let mut rows = st.query([MARK_TABLE])?;
        while let Some(r) = rows.next()? {
            let (kind, name, sql): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            for part in [&kind, &name, &sql] {
                put(&mut mac, 3, part.as_bytes());
            }
            if kind == "table" && !name.starts_with("sqlite_") {
                let rowid = !sql.to_ascii_uppercase().contains("WITHOUT ROWID");
                tables.push((name, rowid));
            }
        }
    }
    for (name, rowid) in tables {
        let quoted = name.replace('"', "\"\"");
        let order = if rowid { " ORDER BY rowid" } else { "" };
        let mut st = conn.prepare(&format!("SELECT * FROM \"{quoted}\"{order}"))?;
        let columns = st.column_count();
        put(&mut mac, 5, name.as_bytes());
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            mac.update(b"R");
            for i in 0..columns {
                use rusqlite::types::ValueRef;
                match r.get_ref(i)? {
                    ValueRef::Null => put(&mut mac, 0, b""),
                    ValueRef::Integer(v) => put(&mut mac, 1, &v.to_be_bytes()),
                    ValueRef::Real(v) => put(&mut mac, 2, &v.to_bits().to_be_bytes()),
                    ValueRef::Text(v) => put(&mut mac, 3, v),
                    ValueRef::Blob(v) => put(&mut mac, 4, v),
                }
            }
        }
    }
    Ok(mac.finalize().into_bytes().into())
}

/// One value into the MAC: its type, its length, its bytes.
fn put(mac: &mut hmac::Hmac<sha2::Sha256>, kind: u8, bytes: &[u8]) {
    use hmac::Mac;
    mac.update(&[kind]);
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

fn backup_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(BACKUP_DIR)
}

/// Take a backup of the store in `data_dir` now, into `<data_dir>/backups/`. Runs while the
/// appliance serves (see the module doc). Returns the new file.
pub fn create(data_dir: &Path, kind: BackupKind, now: UnixTime) -> Result<PathBuf, BackupError> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(BackupError::NoStore {
            path: db.display().to_string(),
        });
    }
    let keys = mark_keys(data_dir)?;
    let dir = backup_dir(data_dir);
    crate::fsutil::ensure_private_dir(&dir).map_err(io("creating", &dir))?;
    let name = kind.file_name(now);
    let dest = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let result = write_copy(&db, &tmp, &keys, kind, now).and_then(|()| {
        std::fs::rename(&tmp, &dest).map_err(io("renaming", &tmp))?;
        crate::fsutil::sync_dir(&dir).map_err(io("syncing", &dir))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| dest)
}

fn write_copy(
    db: &Path,
    tmp: &Path,
    keys: &MarkKeys,
    kind: BackupKind,
    now: UnixTime,
) -> Result<(), BackupError> {
    // Read-write without CREATE: a missing store is an error, not a new empty one; the
    // connection only reads.
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(std::time::Duration::from_secs(10))?;
    {
        let mut dst = Connection::open(tmp)?;
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
            // -1: every page in one step, i.e. one read transaction (see the module doc). A
            // busy source waits through the connection's busy timeout inside the step.
            use rusqlite::backup::StepResult;
            match backup.step(-1)? {
                StepResult::Done => {}
                other => {
                    return Err(BackupError::Database(format!(
                        "the store stayed busy during the copy ({other:?})"
                    )));
                }
            }
        }
        let mode: String = dst.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(BackupError::Database(format!(
                "could not switch the copy to the rollback journal (got {mode})"
            )));
        }
        let content = content_mac(&dst, &keys.content)?;
        dst.execute_batch(&format!(
            "CREATE TABLE {MARK_TABLE} (appliance BLOB NOT NULL, taken_at INTEGER NOT NULL, \
             kind TEXT NOT NULL, content BLOB NOT NULL) STRICT;"
        ))?;
        dst.execute(
            &format!(
                "INSERT INTO {MARK_TABLE} (appliance, taken_at, kind, content) VALUES (?1, ?2, ?3, ?4)"
            ),
            rusqlite::params![&keys.tag[..], now, kind.as_str(), &content[..]],
        )?;
        dst.close().map_err(|(_, e)| BackupError::from(e))?;
    }
    drop(src);
    restrict_and_sync(tmp)
}

fn restrict_and_sync(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("restricting", path))?;
    }
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", path))
}

/// Every backup in `<data_dir>/backups/`, oldest first. Files with other names are ignored.
pub fn list(data_dir: &Path) -> Result<Vec<BackupInfo>, BackupError> {
    let dir = backup_dir(data_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("reading", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("reading", &dir))?;
        let name = entry.file_name();
        let Some((kind, taken_at)) = name.to_str().and_then(BackupKind::parse) else {
            continue;
        };
        let size = entry
            .metadata()
            .map_err(io("reading", &entry.path()))?
            .len();
        out.push(BackupInfo {
            path: entry.path(),
            kind,
            taken_at,
            size,
        });
    }
    out.sort_by(|a, b| (a.taken_at, &a.path).cmp(&(b.taken_at, &b.path)));
    Ok(out)
}

/// Check `file` as a backup of the appliance whose data directory is `data_dir`: a readable
/// SQLite file, `PRAGMA integrity_check` ok, a schema this build supports, and the mark of
/// this appliance's master key. Opens the file read-only; changes nothing.
pub fn verify(data_dir: &Path, file: &Path) -> Result<Verified, BackupError> {
    let shown = file.display().to_string();
    if !file.is_file() {
        return Err(BackupError::NotFound { path: shown });
    }
    let keys = mark_keys(data_dir)?;
    let corrupt = |e: rusqlite::Error| BackupError::Corrupt {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(corrupt)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(corrupt)?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(corrupt)?;
    drop(stmt);
    if problems != ["ok"] {
        return Err(BackupError::Corrupt {
            path: shown,
            reason: problems.into_iter().take(3).collect::<Vec<_>>().join("; "),
        });
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    let supported = supported_version();
    let has_mark: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [MARK_TABLE],
            |r| r.get::<_, i64>(0),
        )
        .map_err(corrupt)?
        > 0;
    if !has_mark {
        return Err(BackupError::NotABackup { path: shown });
    }
    // A mark without its content MAC (an older or hand-made file) is no mark: the MAC is what
    // tells a damaged value from a sound one.
    let mark: Option<(Vec<u8>, i64, String, Vec<u8>)> = conn
        .query_row(
            &format!("SELECT appliance, taken_at, kind, content FROM {MARK_TABLE} LIMIT 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(|_| BackupError::NotABackup {
            path: shown.clone(),
        })?;
    let Some((appliance, taken_at, kind, content)) = mark else {
        return Err(BackupError::NotABackup { path: shown });
    };
    if appliance.as_slice() != keys.tag.as_slice() {
        return Err(BackupError::Foreign { path: shown });
    }
    if version > supported {
        return Err(BackupError::TooNew {
            path: shown,
            found: version,
            supported,
        });
    }
    let actual = content_mac(&conn, &keys.content).map_err(corrupt)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &actual[..],
        content.as_slice(),
    )) {
        return Err(BackupError::Corrupt {
            path: shown,
            reason: "its contents changed after it was taken (content MAC mismatch)".into(),
        });
    }
    Ok(Verified {
        taken_at,
        schema_version: version,
        kind,
    })
}

/// Replace the store of a **stopped** appliance with `file`. Verifies `file` first ([`verify`])
/// and changes nothing if it is damaged, foreign, unmarked or too new, or if the store is in
/// use. Otherwise the current store is first saved as `backups/pre-restore-…db`, then the
/// verified copy (without its mark) is renamed over `sesame.db` atomically.
pub fn restore(data_dir: &Path, file: &Path, now: UnixTime) -> Result<Restored, BackupError> {
    let verified = verify(data_dir, file)?;
    let live = data_dir.join(DB_FILE);
    let staged = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&staged);
    let outcome = stage(file, &staged).and_then(|()| {
        let previous = if live.exists() {
            quiesce(&live)?;
            Some(create(data_dir, BackupKind::PreRestore, now)?)
        } else {
            None
        };
        // The live store is now fully checkpointed (rollback journal); a WAL or shared-memory
        // file left next to it would be applied to the restored file, so they go first.
        for suffix in ["-wal", "-shm", "-journal"] {
            let side = data_dir.join(format!("{DB_FILE}{suffix}"));
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &side)(e)),
            }
        }
        std::fs::rename(&staged, &live).map_err(io("renaming", &staged))?;
        crate::fsutil::sync_dir(data_dir).map_err(io("syncing", data_dir))?;
        Ok(previous)
    });
    match outcome {
        Ok(previous) => Ok(Restored { previous, verified }),
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

/// Copy the backup next to the store and remove its mark.
fn stage(file: &Path, staged: &Path) -> Result<(), BackupError> {
    std::fs::copy(file, staged).map_err(io("copying", file))?;
    let conn = Connection::open_with_flags(
        staged,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(&format!("DROP TABLE {MARK_TABLE};"))?;
    conn.close().map_err(|(_, e)| BackupError::from(e))?;
    restrict_and_sync(staged)
}

/// Make sure nobody else has the live store open, and fold its WAL into the main file: leaving
/// WAL mode needs the only connection (SQLite answers "busy" otherwise).
fn quiesce(live: &Path) -> Result<(), BackupError> {
    let in_use = || BackupError::StoreInUse {
        path: live.display().to_string(),
    };
    let conn = Connection::open_with_flags(
        live,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                in_use()
            }
            _ => BackupError::from(e),
        })?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(in_use());
    }
    conn.close().map_err(|(_, e)| BackupError::from(e))
}

/// Delete the oldest snapshots beyond `snapshots_kept` and archives beyond `archives_kept`.
/// Pre-restore copies are never pruned. Returns the deleted files.
pub fn prune(
    data_dir: &Path,
    snapshots_kept: usize,
    archives_kept: usize,
) -> Result<Vec<PathBuf>, BackupError> {
    let all = list(data_dir)?;
    let mut deleted = Vec::new();
    for (kind, kept) in [
        (BackupKind::Snapshot, snapshots_kept),
        (BackupKind::Archive, archives_kept),
    ] {
        let of_kind: Vec<&BackupInfo> = all.iter().filter(|b| b.kind == kind).collect();
        let excess = of_kind.len().saturating_sub(kept);
        for old in &of_kind[..excess] {
            std::fs::remove_file(&old.path).map_err(io("deleting", &old.path))?;
            deleted.push(old.path.clone());
        }
    }
    if !deleted.is_empty() {
        let dir = backup_dir(data_dir);
        crate::fsutil::sync_dir(&dir).map_err(io("syncing", &dir))?;
    }
    Ok(deleted)
}

/// The periodic job: a snapshot when the newest is older than `cfg.snapshot_every` (or there
/// is none), an archive when none exists for today (UTC), then retention. Returns the last
/// file created, if any. `snapshot_every = 0s` turns it off.
pub fn run_due_backups(
    data_dir: &Path,
    cfg: &sesame_config::Backups,
    now: UnixTime,
) -> Result<Option<PathBuf>, BackupError> {
    let every = cfg.snapshot_every.as_secs() as i64;
    if every == 0 {
        return Ok(None);
    }
    let all = list(data_dir)?;
    let newest_snapshot = all
        .iter()
        .filter(|b| b.kind == BackupKind::Snapshot)
        .map(|b| b.taken_at)
        .max();
    let mut made = None;
    if newest_snapshot.is_none_or(|t| now - t >= every) {
        made = Some(create(data_dir, BackupKind::Snapshot, now)?);
    }
    let today = BackupKind::Archive.file_name(now);
    let has_archive = all.iter().any(|b| {
        b.kind == BackupKind::Archive && b.path.file_name().is_some_and(|n| n == today.as_str())
    });
    if !has_archive {
        made = Some(create(data_dir, BackupKind::Archive, now)?);
    }
    prune(data_dir, cfg.snapshots_kept, cfg.archives_kept)?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditEvent, Outcome, Role};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{NewUser, Store};

    /// 2026-11-23T12:00:00Z
    const T0: i64 = 1_795_435_200;

    fn event(action: &'static str) -> AuditEvent {
        AuditEvent {
            at: T0,
            actor: Some("test".into()),
            action,
            target: None,
            outcome: Outcome::Success,
            address: "local".into(),
            user_agent: "test".into(),
            detail: serde_json::Value::Null,
        }
    }

    fn appliance() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        MasterKey::load_or_create(dir.path()).unwrap();
        (dir, store)
    }

    fn add_user(store: &SqliteStore, name: &str) {
        store
            .create_user(
                NewUser {
                    username: name.into(),
                    password_hash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                    roles: vec![Role::User],
                    must_change_password: false,
                    created_at: T0,
                },
                event("user.create"),
            )
            .unwrap();
    }

    /// Wait (without sleeping) until the dropped store's writer thread has closed its
    /// connection, leaving the store checkpointed and unused, as after a stopped appliance.
    fn settle(dir: &Path) {
        let live = dir.join(DB_FILE);
        for _ in 0..1_000_000 {
            if quiesce(&live).is_ok() {
                return;
            }
            std::thread::yield_now();
        }
        panic!("the store stayed in use");
    }

    fn db_bytes(dir: &Path) -> Vec<u8> {
        std::fs::read(dir.join(DB_FILE)).unwrap()
    }

    #[test]
    fn create_verify_restore_brings_back_a_deleted_account() {
        let (dir, store) = appliance();
        add_user(&store, "alice");
        // Taken while the store is open (online).
        let file = create(dir.path(), BackupKind::Snapshot, T0).unwrap();
        assert_eq!(
            file.file_name().unwrap().to_str().unwrap(),
            "snapshot-20261123T120000Z.db"
        );
        let v = verify(dir.path(), &file).unwrap();
        assert_eq!(v.taken_at, T0);
        assert_eq!(v.schema_version, supported_version());

        let alice = store.user_by_name("alice").unwrap().unwrap();
        assert!(store.delete_user(alice.id, event("user.delete")).unwrap());
        assert!(store.user_by_name("alice").unwrap().is_none());

        // Restore needs the appliance stopped.
        let err = restore(dir.path(), &file, T0 + 60).unwrap_err();
        assert_eq!(err.code(), "store_in_use", "{err}");
        drop(store);
        settle(dir.path());

        let done = restore(dir.path(), &file, T0 + 60).unwrap();
        let previous = done.previous.unwrap();
        assert!(previous.ends_with("backups/pre-restore-20261123T120100Z.db"));
        // The copy of the replaced store is itself a valid backup, without alice.
        verify(dir.path(), &previous).unwrap();

        let store = SqliteStore::open(dir.path()).unwrap();
        let back = store.user_by_name("alice").unwrap().unwrap();
        assert_eq!(back.id, alice.id);
        // The mark does not travel into the live store.
        drop(store);
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let marks: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'sesame_backup'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(marks, 0);
    }

    #[test]
    fn corrupted_backup_is_refused_and_the_store_untouched() {
        let (dir, store) = appliance();
        add_user(&store, "alice");
        let file = create(dir.path(), BackupKind::Snapshot, T0).unwrap();
        drop(store);
        settle(dir.path());
        let mut bytes = std::fs::read(&file).unwrap();
        // Damage the schema page and the start of the next page.
        for b in &mut bytes[100..4200] {
            *b ^= 0x5a;
        }
        std::fs::write(&file, &bytes).unwrap();
        let before = db_bytes(dir.path());
        let err = verify(dir.path(), &file).unwrap_err();
        assert_eq!(err.code(), "backup_corrupt", "{err}");
        let err = restore(dir.path(), &file, T0 + 60).unwrap_err();
        assert_eq!(err.code(), "backup_corrupt", "{err}");
        assert!(err.to_string().contains("is damaged"));
        assert_eq!(db_bytes(dir.path()), before);
        // Nothing staged, no pre-restore copy.
        assert!(!dir.path().join("sesame.db.restoring").exists());
        assert_eq!(list(dir.path()).unwrap().len(), 1);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(store.user_by_name("alice").unwrap().is_some());
    }

    /// Damage `integrity_check` cannot see: one byte inside a stored value, the file otherwise
    /// sound; then the same by hand through SQLite.
    #[test]
    fn a_changed_value_inside_a_record_is_refused() {
        let (dir, store) = appliance();
        add_user(&store, "zebulon-the-unique");
        let file = create(dir.path(), BackupKind::Snapshot, T0).unwrap();
        drop(store);
        settle(dir.path());
        verify(dir.path(), &file).unwrap();
        let pristine = std::fs::read(&file).unwrap();

        // The password hash is a plain (unindexed) value: a flipped byte there leaves every
        // page and index consistent.
        let mut bytes = pristine.clone();
        let needle = b"c2FsdHNhbHQ$aGFzaA";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the password hash is stored as text");
        bytes[at] = b'C';
        std::fs::write(&file, &bytes).unwrap();
        let sound = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap();
        assert_eq!(sound, "ok", "SQLite alone sees nothing wrong");
        let err = verify(dir.path(), &file).unwrap_err();
        assert_eq!(err.code(), "backup_corrupt", "{err}");
        assert!(err.to_string().contains("content MAC"), "{err}");
        let before = db_bytes(dir.path());
        assert_eq!(
            restore(dir.path(), &file, T0 + 60).unwrap_err().code(),
            "backup_corrupt"
        );
        assert_eq!(db_bytes(dir.path()), before, "the store is untouched");

        std::fs::write(&file, &pristine).unwrap();
        let conn = Connection::open(&file).unwrap();
        conn.execute("UPDATE users SET disabled = 1", []).unwrap();
        drop(conn);
        let err = verify(dir.path(), &file).unwrap_err();
        assert_eq!(err.code(), "backup_corrupt", "{err}");

        std::fs::write(&file, &pristine).unwrap();
        let conn = Connection::open(&file).unwrap();
        conn.execute("ALTER TABLE sesame_backup DROP COLUMN content", [])
            .unwrap();
        drop(conn);
        let err = verify(dir.path(), &file).unwrap_err();
        assert_eq!(err.code(), "not_a_backup", "{err}");
    }

    #[test]
    fn garbage_file_is_refused() {
        let (dir, store) = appliance();
        drop(store);
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
        let err = restore(dir.path(), &junk, T0).unwrap_err();
        assert_eq!(err.code(), "backup_corrupt", "{err}");
        let err = verify(dir.path(), &dir.path().join("nope.db")).unwrap_err();
        assert_eq!(err.code(), "backup_not_found");
    }

    #[test]
    fn foreign_or_unmarked_backup_is_refused() {
        let (ours, store) = appliance();
        drop(store);
        settle(ours.path());
        let (theirs, their_store) = appliance();
        add_user(&their_store, "mallory");
        let file = create(theirs.path(), BackupKind::Snapshot, T0).unwrap();
        drop(their_store);
        let before = db_bytes(ours.path());
        let err = restore(ours.path(), &file, T0).unwrap_err();
        assert_eq!(err.code(), "backup_foreign", "{err}");
        assert_eq!(db_bytes(ours.path()), before);
        // A plain copy of a store is not a backup.
        let err = verify(ours.path(), &theirs.path().join(DB_FILE)).unwrap_err();
        assert_eq!(err.code(), "not_a_backup", "{err}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let (dir, store) = appliance();
        let file = create(dir.path(), BackupKind::Snapshot, T0).unwrap();
        drop(store);
        let conn = Connection::open(&file).unwrap();
        conn.pragma_update(None, "user_version", supported_version() + 1)
            .unwrap();
        drop(conn);
        let err = verify(dir.path(), &file).unwrap_err();
        assert_eq!(err.code(), "backup_too_new", "{err}");
    }

    #[test]
    fn missing_master_key_or_store() {
        let (dir, store) = appliance();
        drop(store);
        std::fs::remove_file(dir.path().join(MASTER_KEY_FILE)).unwrap();
        let err = create(dir.path(), BackupKind::Snapshot, T0).unwrap_err();
        assert_eq!(err.code(), "no_master_key");
        let empty = tempfile::tempdir().unwrap();
        let err = create(empty.path(), BackupKind::Snapshot, T0).unwrap_err();
        assert_eq!(err.code(), "no_store");
    }

    #[test]
    fn schedule_and_retention() {
        let (dir, _store) = appliance();
        let cfg = sesame_config::Backups {
            snapshot_every: std::time::Duration::from_secs(2 * 3600),
            snapshots_kept: 3,
            archives_kept: 2,
        };
        // First run: a snapshot and today's archive.
        assert!(run_due_backups(dir.path(), &cfg, T0).unwrap().is_some());
        let kinds = |d: &Path| {
            let all = list(d).unwrap();
            (
                all.iter()
                    .filter(|b| b.kind == BackupKind::Snapshot)
                    .count(),
                all.iter().filter(|b| b.kind == BackupKind::Archive).count(),
            )
        };
        assert_eq!(kinds(dir.path()), (1, 1));
        // Not due yet.
        assert_eq!(run_due_backups(dir.path(), &cfg, T0 + 3600).unwrap(), None);
        // Every 2 h for three days: 3 snapshots and 2 archives kept, the newest.
        let mut t = T0;
        for _ in 0..36 {
            t += 2 * 3600;
            run_due_backups(dir.path(), &cfg, t).unwrap();
        }
        assert_eq!(kinds(dir.path()), (3, 2));
        let all = list(dir.path()).unwrap();
        let newest = all.iter().map(|b| b.taken_at).max().unwrap();
        assert_eq!(newest, t);
        assert!(all.iter().all(|b| b.taken_at >= t - 2 * 86_400));
        // Off.
        let off = sesame_config::Backups {
            snapshot_every: std::time::Duration::ZERO,
            ..cfg
        };
        assert_eq!(run_due_backups(dir.path(), &off, t + 86_400).unwrap(), None);
    }

    #[test]
    fn names_round_trip() {
        for kind in [
            BackupKind::Snapshot,
            BackupKind::Archive,
            BackupKind::PreRestore,
        ] {
            let (k, t) = BackupKind::parse(&kind.file_name(T0 + 61)).unwrap();
            assert_eq!(k, kind);
            let expect = if kind == BackupKind::Archive {
                T0 - 12 * 3600
            } else {
                T0 + 61
            };
            assert_eq!(t, expect);
        }
        for bad in [
            "snapshot-2026.db",
            "archive-20261323.db",
            "x.db",
            "snapshot-20261123T120000Z",
        ] {
            assert!(BackupKind::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let p = || "f".to_owned();
        let cases = [
            (BackupError::NoStore { path: p() }, "no_store"),
            (
                BackupError::NoMasterKey {
                    path: p(),
                    reason: "x".into(),
                },
                "no_master_key",
            ),
            (BackupError::NotFound { path: p() }, "backup_not_found"),
            (
                BackupError::Corrupt {
                    path: p(),
                    reason: "x".into(),
                },
                "backup_corrupt",
            ),
            (BackupError::NotABackup { path: p() }, "not_a_backup"),
            (BackupError::Foreign { path: p() }, "backup_foreign"),
            (
                BackupError::TooNew {
                    path: p(),
                    found: 9,
                    supported: 4,
                },
                "backup_too_new",
            ),
            (BackupError::StoreInUse { path: p() }, "store_in_use"),
            (
                BackupError::Io {
                    what: "x".into(),
                    reason: "y".into(),
                },
                "backup_io",
            ),
            (BackupError::Database("x".into()), "backup_database"),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code);
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(
            BackupError::Foreign {
                path: "b.db".into()
            }
            .to_string(),
            "backup file b.db belongs to another appliance (its master key differs)"
        );
    }
}
