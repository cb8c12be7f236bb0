//! Session records: one directory per session under `<relay data dir>/sessions/<id>/` with
//!
//! - `record.jsonl` — append-only JSON lines `{"ts": unix, "event": name, ...detail}`, each
//!   written and `fsync`ed before the action is reported. A torn last line (crash mid-write) is
//!   detected on reading and ignored, and the next append starts on a fresh line.
//! - `shell-<channel>.cast` — shell output in asciicast v2 (`asciinema play` plays it).
//!
//! Retention: [`Records::prune`] removes directories of sessions whose last write is older
//! than the retention period.

use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The records directory.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Records {
    /// Open (creating) `dir`.
    pub fn open(dir: &Path) -> io::Result<Records> {
        std::fs::create_dir_all(dir)?;
        Ok(Records {
            dir: dir.to_owned(),
        })
    }

    /// Start the record of a new session.
    pub fn create(&self, id: &str) -> io::Result<Record> {
        if !valid_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad session id",
            ));
        }
        let dir = self.dir.join(id);
        std::fs::create_dir_all(&dir)?;
        Record::open(dir)
    }

    /// Session ids with a record, newest directory first.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut v: Vec<(std::time::SystemTime, String)> = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if valid_id(&name) {
                let m = e.metadata()?.modified()?;
                v.push((m, name));
            }
        }
        v.sort_by(|a, b| b.cmp(a));
        Ok(v.into_iter().map(|(_, n)| n).collect())
    }

    /// The events of a session's record (a torn last line is skipped).
    pub fn read(&self, id: &str) -> io::Result<Vec<Value>> {
        if !valid_id(id) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such session"));
        }
        read_events(&self.dir.join(id).join("record.jsonl"))
    }

    /// A summary per session: id, created, technician, customer, ended.
    pub fn list(&self) -> io::Result<Vec<Value>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            let ev = self.read(&id).unwrap_or_default();
            let find = |name: &str| ev.iter().find(|e| e["event"] == name).cloned();
            let created = find("created").unwrap_or(Value::Null);
            let ended = find("ended");
            out.push(json!({
                "session": id,
                "created_at": created["ts"],
                "owner": created["owner"],
                "customer": find("customer_joined").map(|e| e["name"].clone()).unwrap_or(Value::Null),
                "ended_at": ended.as_ref().map(|e| e["ts"].clone()).unwrap_or(Value::Null),
                "end_reason": ended.map(|e| e["reason"].clone()).unwrap_or(Value::Null),
                "events": ev.len(),
            }));
        }
        Ok(out)
    }

    /// Path of a file in a session's directory (asciicast recordings).
    pub fn file(&self, id: &str, name: &str) -> Option<PathBuf> {
        (valid_id(id) && !name.contains('/') && !name.starts_with('.'))
            .then(|| self.dir.join(id).join(name))
    }

    /// Remove records last written more than `retention` ago.
    pub fn prune(&self, retention: std::time::Duration) -> io::Result<usize> {
        let mut n = 0;
        for id in self.ids()? {
            let p = self.dir.join(&id);
            let age = std::fs::metadata(&p)?
                .modified()?
                .elapsed()
                .unwrap_or_default();
            if age > retention {
                std::fs::remove_dir_all(&p)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn read_events(path: &Path) -> io::Result<Vec<Value>> {
    let mut s = String::new();
    File::open(path)?.read_to_string(&mut s)?;
    Ok(s.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect())
}

/// An open session record.
#[derive(Debug)]
pub struct Record {
    dir: PathBuf,
    file: File,
}

impl Record {
    fn open(dir: PathBuf) -> io::Result<Record> {
        let path = dir.join("record.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        // A torn last line (crash mid-append): start the next event on a fresh line.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut all = Vec::new();
            File::open(&path)?.read_to_end(&mut all)?;
            if all.last() != Some(&b'\n') {
                file.write_all(b"\n")?;
                file.sync_data()?;
            }
        }
        Ok(Record { dir, file })
    }

    /// Append one event and fsync it.
    pub fn event(&mut self, now: i64, event: &str, detail: Value) -> io::Result<()> {
        let mut obj = serde_json::Map::new();
        obj.insert("ts".into(), now.into());
        obj.insert("event".into(), event.into());
        if let Value::Object(d) = detail {
            for (k, v) in d {
                if k != "ts" && k != "event" {
                    obj.insert(k, v);
                }
            }
        }
        let mut line = serde_json::to_vec(&Value::Object(obj))?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// Start an asciicast v2 recording for a shell channel.
    pub fn cast(&self, channel: u32, now: i64, command: &str) -> io::Result<Cast> {
        let name = format!("shell-{channel}.cast");
        let f = File::create(self.dir.join(&name))?;
        let mut w = BufWriter::new(f);
        let header = json!({"version": 2, "width": 80, "height": 24, "timestamp": now,
            "command": command, "title": format!("sesame support shell {channel}")});
        serde_json::to_writer(&mut w, &header)?;
        w.write_all(b"\n")?;
        Ok(Cast {
            name,
            w,
            start: tokio::time::Instant::now(),
        })
    }
}

/// An asciicast v2 recording in progress.
#[derive(Debug)]
pub struct Cast {
    /// File name inside the session directory.
    pub name: String,
    w: BufWriter<File>,
    start: tokio::time::Instant,
}

impl Cast {
    /// Output from the shell.
    pub fn output(&mut self, data: &[u8]) -> io::Result<()> {
        let t = self.start.elapsed().as_secs_f64();
        let line = json!([(t * 1e6).round() / 1e6, "o", String::from_utf8_lossy(data)]);
        serde_json::to_writer(&mut self.w, &line)?;
        self.w.write_all(b"\n")
    }

    /// Flush and sync at the end.
    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()?;
        self.w.get_ref().sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_ignored_and_appends_continue() {
        let d = tempfile::tempdir().expect("tmp");
        let r = Records::open(d.path()).expect("open");
        let mut rec = r.create("abcd").expect("create");
        rec.event(1, "created", json!({"owner": "tom"}))
            .expect("ev");
        drop(rec);
        let p = d.path().join("abcd/record.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).expect("f");
        f.write_all(b"{\"ts\":2,\"event\":\"ch").expect("torn");
        drop(f);
        assert_eq!(r.read("abcd").expect("read").len(), 1);
        let mut rec = r.create("abcd").expect("reopen");
        rec.event(3, "ended", json!({"reason": "owner"}))
            .expect("ev");
        let ev = r.read("abcd").expect("read");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1]["reason"], "owner");
        let l = r.list().expect("list");
        assert_eq!(l[0]["owner"], "tom");
        assert_eq!(l[0]["end_reason"], "owner");
        assert!(r.read("../x").is_err());
    }

    #[test]
    fn asciicast_v2_shape() {
        let d = tempfile::tempdir().expect("tmp");
        let r = Records::open(d.path()).expect("open");
        let rec = r.create("ab").expect("create");
        let mut c = rec.cast(3, 100, "ls").expect("cast");
        c.output(b"hello\r\n").expect("out");
        c.finish().expect("finish");
        let s = std::fs::read_to_string(d.path().join("ab/shell-3.cast")).expect("read");
        let mut lines = s.lines();
        let h: Value = serde_json::from_str(lines.next().expect("header")).expect("json");
        assert_eq!(h["version"], 2);
        let o: Value = serde_json::from_str(lines.next().expect("event")).expect("json");
        assert_eq!(o[1], "o");
        assert_eq!(o[2], "hello\r\n");
    }
}
