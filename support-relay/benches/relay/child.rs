//! The relay under measurement, in its own process: this bench binary re-executed with
//! `SESAME_RELAY_BENCH_CHILD=<dir>`. Its CPU time and RSS are read from `/proc/<pid>/`, so
//! they are the relay's alone (the console and customer ends run in the parent).
//! Technician authentication is a stub (no authd here; it is not what is measured).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// Environment variable that turns the bench binary into the relay child.
pub(crate) const CHILD_ENV: &str = "SESAME_RELAY_BENCH_CHILD";

/// Child side: serve on 127.0.0.1:0, print `READY <addr>`, run until stdin closes.
pub(crate) fn run_child(dir: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (tls, _) = support_relay::tls::load_or_generate(&dir.join("tls")).expect("tls");
        let mut config = support_relay::server::Config::new(dir.join("relay"));
        config.max_connections = 100_000;
        let deps = support_relay::server::Deps {
            config,
            auth: Arc::new(crate::common::StubAuth),
            clock: Arc::new(support_relay::clock::SystemClock),
            tls,
            mailer: None,
        };
        let h = support_relay::server::build(deps).expect("build");
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("READY {}", l.local_addr().expect("addr"));
        let stop = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        });
        support_relay::server::serve(l, h, async {
            let _ = stop.await;
        })
        .await
        .expect("serve");
    });
}

/// The relay child as seen from the parent.
#[derive(Debug)]
pub(crate) struct RelayChild {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its certificate (PEM), for the clients.
    pub(crate) cert_pem: Vec<u8>,
    /// Its certificate and key files (for socat's TLS chain).
    pub(crate) tls_dir: PathBuf,
}

impl RelayChild {
    /// Start the child with its state in `dir`.
    pub(crate) fn start(dir: &Path) -> RelayChild {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env(CHILD_ENV, dir)
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the relay child");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("child ready line");
        let addr = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|a| a.parse().ok())
            .expect("READY <addr>");
        let tls_dir = dir.join("tls");
        let cert_pem = std::fs::read(tls_dir.join("cert.pem")).expect("cert");
        RelayChild {
            child,
            addr,
            cert_pem,
            tls_dir,
        }
    }

    /// Process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) used so far.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid(), false)
    }

    /// Resident memory, KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds of `pid` (with `children`: plus its reaped children's).
pub(crate) fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // Fields after the command: state is [0]; utime [11], stime [12], cutime [13], cstime [14].
    let at = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    let mut t = at(11) + at(12);
    if children {
        t += at(13) + at(14);
    }
    t / 100.0
}
