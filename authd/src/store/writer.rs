//! The single writer with group commit.
//!
//! One thread owns the only write connection. Callers hand it a closure and block until the
//! transaction holding their work has been committed (fsynced). Jobs that arrive while a commit is
//! in progress are batched: the writer takes every job waiting in its queue (up to
//! [`MAX_BATCH`]), runs each inside its own SAVEPOINT — so one job's failure rolls back only that
//! job — and commits them all with one `COMMIT`, i.e. one fsync for the whole batch. Replies are
//! sent only after the commit returns, so a caller is never told "done" before it is on disk.
//!
//! Blocking rule: callers block on a channel; call from a blocking context (a
//! `spawn_blocking` task or a plain thread), never directly from an async task.

use super::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::mpsc;

/// Most jobs committed together.
const MAX_BATCH: usize = 256;

trait Job: Send {
    /// Run inside the open transaction. Returns whether the job's own work succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Deliver the result once the transaction's fate is known.
    fn reply(self: Box<Self>, commit: Result<(), String>);
}

struct Typed<T, F> {
    work: Option<F>,
    result: Option<StoreResult<T>>,
    reply: mpsc::SyncSender<StoreResult<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let r = work(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn reply(self: Box<Self>, commit: Result<(), String>) {
        let r = match (commit, self.result) {
            (Err(e), _) => Err(StoreError::Database(format!("commit failed: {e}"))),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::WriterStopped),
        };
        // The caller may have given up (it never does today); nothing to do then.
        let _ = self.reply.send(r);
    }
}

/// Handle to the writer thread. Cloning shares the same thread.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Start the writer thread on `conn`.
    /// The thread ends (closing the connection) once every `Writer` clone is dropped; join
    /// the returned handle to wait for that.
    pub(crate) fn start(
        conn: Connection,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok((Writer { tx }, handle))
    }

    /// Run `work` in a write transaction and return its result once committed.
    pub(crate) fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, wait) = mpsc::sync_channel(1);
        let job = Box::new(Typed {
            work: Some(work),
            result: None,
            reply,
        });
        self.tx.send(job).map_err(|_| StoreError::WriterStopped)?;
        wait.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = commit_batch(&conn, &mut batch);
        for job in batch {
            job.reply(commit.clone());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        let step = conn
            .execute_batch("SAVEPOINT job")
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let sql = if job.run(conn) {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                conn.execute_batch(sql).map_err(|e| e.to_string())
            });
        if let Err(e) = step {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
        )
        .unwrap();
        (dir, Writer::start(conn).unwrap().0, path)
    }

    #[test]
    fn a_failing_job_rolls_back_only_itself() {
        let (_d, w, path) = writer();
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let w = w.clone();
                std::thread::spawn(move || {
                    w.write(move |c| {
                        c.execute("INSERT INTO t(k, v) VALUES (?1, ?1)", [i])?;
                        if i % 4 == 0 {
                            return Err(StoreError::Database("refused".into()));
                        }
                        Ok(i)
                    })
                })
            })
            .collect();
        let mut ok = 0;
        for h in handles {
            if h.join().unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 24);
        let c = Connection::open(path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 24, "the 8 failing jobs left nothing behind");
        let bad: i64 = c
            .query_row("SELECT count(*) FROM t WHERE k % 4 = 0", [], |r| r.get(0))
            .unwrap();
        assert_eq!(bad, 0);
    }

    #[test]
    fn conditional_consumption_accepts_exactly_once_under_contention() {
        let (_d, w, _p) = writer();
        w.write(|c| Ok(c.execute("INSERT INTO t(k, v) VALUES (1, 0)", [])?))
            .unwrap();
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    w.write(|c| Ok(c.execute("UPDATE t SET v = 7 WHERE k = 1 AND v < 7", [])?))
                        .unwrap()
                })
            })
            .collect();
        let won: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(won, 1);
    }
}
