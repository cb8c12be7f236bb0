//! A real pcscd with vpcd's two virtual readers, for the tests that need one.
//!
//! pcscd has one socket per machine (`/run/pcscd/pcscd.comm`), and vpcd's readers one TCP port
//! each, so tests that use them take turns: [`pcscd`] holds a lock inside this binary and an
//! advisory file lock (`/tmp/sesame-pcscd-tests.lock`) that other test binaries of this
//! workspace take too. It uses a pcscd that is already running, or starts `pcscd -f` and
//! stops it (SIGTERM, so it removes its socket) when the guard drops.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sesame_hardware::card::pcsc::PcscContext;

/// vpcd's first reader: the "technician's desk" in the tests.
pub(crate) const READER_0: &str = "Virtual PCD 00 00";
/// vpcd's second reader: the "customer's machine".
pub(crate) const READER_1: &str = "Virtual PCD 00 01";
/// Where vpcd waits for the card of reader 0.
pub(crate) const PORT_0: u16 = 35_963;
/// Where vpcd waits for the card of reader 1.
pub(crate) const PORT_1: u16 = 35_964;

static IN_PROCESS: Mutex<()> = Mutex::new(());

/// A pcscd to use while this is alive.
pub(crate) struct Pcscd {
    child: Option<Child>,
    _file_lock: File,
    _turn: MutexGuard<'static, ()>,
}

/// Polls `f` until it gives `Some`, for at most `limit` (waiting for a process or socket to
/// come up, not for time-based logic).
pub(crate) fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        #[allow(
            clippy::disallowed_methods,
            reason = "polling a real process with a deadline"
        )]
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn vpcd_readers_ready() -> bool {
    PcscContext::establish()
        .and_then(|c| c.reader_names())
        .is_ok_and(|names| {
            names.iter().any(|n| n == READER_0) && names.iter().any(|n| n == READER_1)
        })
}

/// Takes this binary's (and the workspace's) turn with pcscd, starting one if none runs.
pub(crate) fn pcscd() -> Pcscd {
    let turn = IN_PROCESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let file_lock = File::create("/tmp/sesame-pcscd-tests.lock").expect("create the lock file");
    file_lock.lock().expect("take the pcscd test lock");
    let child = if PcscContext::establish().is_ok() {
        None
    } else {
        let child = Command::new("pcscd")
            .arg("-f")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .or_else(|_| {
                Command::new("/usr/sbin/pcscd")
                    .arg("-f")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .expect("start pcscd (scripts/setup installs it)");
        Some(child)
    };
    let guard = Pcscd {
        child,
        _file_lock: file_lock,
        _turn: turn,
    };
    poll(Duration::from_secs(10), "pcscd and vpcd's readers", || {
        vpcd_readers_ready().then_some(())
    });
    // A card the previous test pulled may still show until pcscd's next poll of the reader.
    poll(Duration::from_secs(5), "vpcd's readers to be empty", || {
        PcscContext::establish()
            .and_then(|c| c.readers())
            .is_ok_and(|readers| readers.iter().all(|r| r.atr.is_none()))
            .then_some(())
    });
    guard
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill")
                .arg(child.id().to_string())
                .status()
                .is_ok_and(|s| s.success());
            if !terminated {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
