//! The socat baselines, on loopback like the relay:
//! - **plain**: one socat relaying plain TCP (client → socat → server);
//! - **TLS chain**: the relay's topology and work done by socat (OpenSSL) —
//!   client → socat (TCP→TLS) → socat relay (TLS→TLS) → socat (TLS→TCP) → server, with the
//!   relay's certificate. Two TLS hops, four TLS endpoints, three processes: the same as
//!   console → relay → customer.
//!
//! socat runs with `-b 65536` (its 8 KiB default halves its throughput; the comparison is
//! against socat at its best).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Running socat processes; the entry address; the middle (relaying) process's pid.
#[derive(Debug)]
pub(crate) struct Socat {
    children: Vec<Child>,
    /// Where clients connect.
    pub(crate) entry: SocketAddr,
    /// The relaying process (for its CPU time).
    pub(crate) relay_pid: u32,
}

impl Drop for Socat {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Option<u16> {
    Some(
        TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

fn spawn(args: &[String]) -> Option<Child> {
    Command::new("socat")
        .arg("-b")
        .arg("65536")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Wait up to 20 s (socat may be slow to start on a loaded machine) for a plain TCP port.
fn wait_port(port: u16) -> bool {
    let a: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..1000 {
        if TcpStream::connect(a).is_ok() {
            return true;
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "waiting for an external process to listen, in a benchmark"
        )]
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// socat relaying plain TCP to `target`.
pub(crate) fn plain(target: SocketAddr) -> Option<Socat> {
    let p = free_port()?;
    let c = spawn(&[
        format!("TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr,fork"),
        format!("TCP:{target},nodelay"),
    ])?;
    let relay_pid = c.id();
    let s = Socat {
        children: vec![c],
        entry: ([127, 0, 0, 1], p).into(),
        relay_pid,
    };
    wait_port(p).then_some(s)
}

/// The TLS chain to `target` with the certificate and key in `tls` (`cert.pem`, `key.pem`).
pub(crate) fn tls_chain(target: SocketAddr, tls: &Path) -> Option<Socat> {
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let (cert, key) = (cert.display(), key.display());
    let (pa, pb, pc) = (free_port()?, free_port()?, free_port()?);
    let mut children = Vec::new();
    // Last hop first, so each listens before the previous one dials it.
    children.push(spawn(&[
        format!(
            "OPENSSL-LISTEN:{pc},bind=127.0.0.1,reuseaddr,fork,cert={cert},key={key},verify=0,nodelay"
        ),
        format!("TCP:{target},nodelay"),
    ])?);
    let relay = spawn(&[
        format!(
            "OPENSSL-LISTEN:{pb},bind=127.0.0.1,reuseaddr,fork,cert={cert},key={key},verify=0,nodelay"
        ),
        format!("OPENSSL:127.0.0.1:{pc},cafile={cert},commonname=localhost,nodelay"),
    ])?;
    let relay_pid = relay.id();
    children.push(relay);
    children.push(spawn(&[
        format!("TCP-LISTEN:{pa},bind=127.0.0.1,reuseaddr,fork"),
        format!("OPENSSL:127.0.0.1:{pb},cafile={cert},commonname=localhost,nodelay"),
    ])?);
    let s = Socat {
        children,
        entry: ([127, 0, 0, 1], pa).into(),
        relay_pid,
    };
    // A bare TCP probe of a TLS listener costs socat one failed handshake: harmless.
    wait_port(pc).then_some(())?;
    wait_port(pb).then_some(())?;
    wait_port(pa).then_some(s)
}
