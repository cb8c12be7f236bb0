//! A command in a real PTY on the customer's machine (rustix's safe PTY calls; no `unsafe`).
//! The child runs under `setsid --ctty`, so the PTY is its controlling terminal; output is
//! read by a thread until the PTY reports end (EIO once every holder of the slave is gone).

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use tokio::sync::mpsc;

/// A running PTY session.
#[derive(Debug)]
pub(crate) struct Pty {
    pub(crate) child: Child,
    writer: File,
    pub(crate) output: mpsc::Receiver<Vec<u8>>,
}

impl Pty {
    /// Start `command` (or an interactive shell when empty) in a new PTY.
    pub(crate) fn spawn(command: &str) -> std::io::Result<Pty> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let path = name.to_string_lossy().into_owned();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned());
        let mut cmd = if std::path::Path::new("/usr/bin/setsid").exists() {
            let mut c = Command::new("/usr/bin/setsid");
            c.arg("--ctty").arg(&shell);
            c
        } else {
            Command::new(&shell)
        };
        if command.is_empty() {
            cmd.arg("-i");
        } else {
            cmd.arg("-c").arg(command);
        }
        cmd.env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn()?;
        drop(cmd); // our copies of the slave end close here
        let master = File::from(master);
        let writer = master.try_clone()?;
        let (tx, output) = mpsc::channel(16);
        let mut reader = master;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Pty {
            child,
            writer,
            output,
        })
    }

    /// Keystrokes to the PTY.
    pub(crate) fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(data)
    }
}
