//! The customer's side: join with a key (or wait in the queue), show who the technician is,
//! then serve the technician's channels — each only with the customer's consent (asked on the
//! terminal, or given up front with `--consent shell,files,forward` for unattended runs).
//! Standard input lines are chat; `/close` closes every open shell, `/quit` leaves.
//!
//! With a [`Reconnect`] ([`run_resuming`]), a dropped connection is not the end: the customer
//! dials the relay again with exponential backoff and jitter and resumes the session with its
//! single-use resume token, for up to the grace period (the relay's `relay.resume_grace`); the
//! technicians see `customer_left` then `customer_resumed`. Channels open at the drop are closed
//! by the relay; the technician opens them again.

use super::pty::Pty;
use super::{ChanEvent, Channel, ClientError, Mux, pump_tcp};
use crate::proto::Control;
use crate::proto::control::ChannelKind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

/// How the customer joins.
#[derive(Debug, Clone)]
pub enum Entry {
    /// With a session key.
    Key(String),
    /// Through the general queue.
    Queue {
        /// What is wrong.
        problem: String,
    },
}

/// Customer settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// How to join.
    pub entry: Entry,
    /// Name shown to the technician.
    pub name: String,
    /// Consent given up front (`None`: ask on the terminal for each channel).
    pub consent: Option<HashSet<String>>,
    /// Where pushed files land and pulled files are read from.
    pub dir: PathBuf,
}

fn say(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// A file name reduced to its last component, or `None` if nothing usable is left.
pub fn safe_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?.trim();
    (!base.is_empty() && base != "." && base != ".." && !base.starts_with('.') && base.len() <= 255)
        .then(|| base.to_owned())
}

/// A fresh connection to the relay (for reconnecting).
pub type ConnectFn =
    Box<dyn Fn() -> crate::auth::BoxFut<'static, Result<Mux, ClientError>> + Send + Sync + 'static>;

/// How to come back after the connection drops.
pub struct Reconnect {
    /// Dial the relay again.
    pub connect: ConnectFn,
    /// Give up after this long (the relay's `relay.resume_grace`).
    pub grace: Duration,
    /// First pause between attempts (doubled each time, up to [`MAX_BACKOFF`], with jitter).
    pub first_backoff: Duration,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect")
            .field("grace", &self.grace)
            .field("first_backoff", &self.first_backoff)
            .finish_non_exhaustive()
    }
}

/// Longest pause between two reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Join and serve until the session ends, the customer quits or the connection drops.
pub async fn run(
    mux: Mux,
    opts: Options,
    lines: mpsc::UnboundedReceiver<String>,
) -> Result<(), ClientError> {
    run_inner(mux, opts, super::smartcard::DEFAULT_VPCD, lines, None).await
}

/// [`run`], with a shared smart card put into the vpcd reader at `vpcd` (`host:port`).
pub async fn run_with_vpcd(
    mux: Mux,
    opts: Options,
    vpcd: &str,
    lines: mpsc::UnboundedReceiver<String>,
) -> Result<(), ClientError> {
    run_inner(mux, opts, vpcd, lines, None).await
}

/// [`run_with_vpcd`], reconnecting and resuming the session when the connection drops (see the
/// module documentation); gives up after the grace period, or at once if the relay refuses the
/// resume.
pub async fn run_resuming(
    mux: Mux,
    opts: Options,
    vpcd: &str,
    lines: mpsc::UnboundedReceiver<String>,
    reconnect: Reconnect,
) -> Result<(), ClientError> {
    run_inner(mux, opts, vpcd, lines, Some(reconnect)).await
}

async fn run_inner(
    mut mux: Mux,
    opts: Options,
    vpcd: &str,
    mut lines: mpsc::UnboundedReceiver<String>,
    reconnect: Option<Reconnect>,
) -> Result<(), ClientError> {
    let first = match &opts.entry {
        Entry::Key(key) => Control::Join {
            key: key.clone(),
            name: opts.name.clone(),
        },
        Entry::Queue { problem } => Control::Queue {
            name: opts.name.clone(),
            problem: problem.clone(),
        },
    };
    let mut ans = mux.request(&first).await?;
    if let Control::Queued { id } = &ans {
        say(&format!(
            "You are in the queue (entry {id}); a technician will pick you up."
        ));
        ans = loop {
            match mux.next_control().await {
                Some(m @ Control::Joined { .. }) => break m,
                Some(_) => continue,
                None => return Err(ClientError::Closed),
            }
        };
    }
    let Control::Joined {
        session,
        technician,
        resume_token,
    } = ans
    else {
        return Err(ClientError::Unexpected(format!("{ans:?}")));
    };
    say(&format!(
        "Connected to support session {session}. Your technician is: {technician}"
    ));
    say("Type a line to chat; /close closes open shells; /quit leaves.");
    let (kill, _) = broadcast::channel::<()>(4);
    let mut token = resume_token;
    let mut input = true;
    loop {
        match serve(
            &mut mux,
            &opts,
            vpcd,
            &mut lines,
            &mut input,
            &technician,
            &kill,
        )
        .await?
        {
            Served::Done => return Ok(()),
            Served::Lost => {
                let Some(r) = &reconnect else {
                    say("The connection to the relay was lost.");
                    return Err(ClientError::Closed);
                };
                say("The connection to the relay was lost; reconnecting...");
                match resume(r, &token).await {
                    Ok((m, t)) => {
                        mux = m;
                        token = t;
                        say(&format!("Reconnected to support session {session}."));
                    }
                    Err(e) => {
                        say("Could not reconnect to the support session.");
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// How serving one connection ended.
enum Served {
    /// The session ended or the customer quit.
    Done,
    /// The connection dropped.
    Lost,
}

/// Dial again and resume with `token` until the grace period is over: backoff doubling from
/// `first_backoff` up to [`MAX_BACKOFF`], each pause drawn between half and all of it.
async fn resume(r: &Reconnect, token: &str) -> Result<(Mux, String), ClientError> {
    let deadline = tokio::time::Instant::now() + r.grace;
    let mut backoff = r.first_backoff.max(Duration::from_millis(10));
    loop {
        let attempt = async {
            let mut m = (r.connect)().await?;
            match m
                .request(&Control::Resume {
                    token: token.to_owned(),
                })
                .await?
            {
                Control::Joined { resume_token, .. } => Ok((m, resume_token)),
                other => Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left.max(Duration::from_millis(1)), attempt).await {
            Ok(Ok(x)) => return Ok(x),
            // The relay says it is too late (or the session is over): no point in retrying.
            Ok(Err(e)) if e.code() == Some("invalid_resume") => return Err(e),
            Ok(Err(e)) => tracing::debug!(error = %e, "reconnection attempt failed"),
            Err(_) => {}
        }
        let pause = jitter(backoff);
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(ClientError::Refused {
                code: "resume_timeout".into(),
                message: "the relay could not be reached again within the grace period".into(),
            });
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A pause between half and all of `d`.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::fill(&mut b).map_or(u16::MAX, |_| u16::from_be_bytes(b));
    d / 2 + d.mul_f64(f64::from(r) / f64::from(u16::MAX) / 2.0)
}

/// Serve one connection: consent requests, chat, the customer's commands.
async fn serve(
    mux: &mut Mux,
    opts: &Options,
    vpcd: &str,
    lines: &mut mpsc::UnboundedReceiver<String>,
    input: &mut bool,
    technician: &str,
    kill: &broadcast::Sender<()>,
) -> Result<Served, ClientError> {
    let mut asks: VecDeque<(u32, ChannelKind, Value)> = VecDeque::new();
    loop {
        tokio::select! {
            m = mux.next_control() => match m {
                None => return Ok(Served::Lost),
                Some(Control::Open { channel, kind, params }) => {
                    match &opts.consent {
                        Some(c) if c.contains(kind.consent()) => {
                            say(&format!("Allowed ({}) : {}", kind.consent(), describe(kind, &params)));
                            accept(mux, channel, kind, params, &opts.dir, vpcd, kill);
                        }
                        Some(_) => {
                            say(&format!("Refused (no consent for {}): {}", kind.consent(), describe(kind, &params)));
                            refuse(mux, channel, "declined");
                        }
                        None => {
                            say(&format!("{technician} asks: {}. Allow? [y/N]", describe(kind, &params)));
                            asks.push_back((channel, kind, params));
                        }
                    }
                }
                Some(Control::Chat { from, text }) => say(&format!("[{from}] {text}")),
                Some(Control::Event { event, detail }) => say(&format!("* {event} {detail}")),
                Some(Control::Ended { reason }) => {
                    say(&format!("The session has ended ({reason})."));
                    return Ok(Served::Done);
                }
                Some(_) => {}
            },
            l = lines.recv(), if *input => {
                let Some(l) = l else {
                    // No more input: keep serving (unattended), without polling the closed input.
                    *input = false;
                    continue;
                };
                let l = l.trim().to_owned();
                if let Some((channel, kind, params)) = asks.pop_front() {
                    if matches!(l.to_lowercase().as_str(), "y" | "yes" | "o" | "oui") {
                        accept(mux, channel, kind, params, &opts.dir, vpcd, kill);
                    } else {
                        say("Refused.");
                        refuse(mux, channel, "declined");
                    }
                } else if l == "/close" {
                    let _ = kill.send(());
                    say("Open shells closed.");
                } else if l == "/quit" {
                    mux.close();
                    return Ok(Served::Done);
                } else if !l.is_empty() {
                    mux.send(&Control::Chat { from: String::new(), text: l })?;
                }
            }
        }
    }
}

fn describe(kind: ChannelKind, p: &Value) -> String {
    let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
    match kind {
        ChannelKind::Shell if s("command").is_empty() => "open a shell on this computer".into(),
        ChannelKind::Shell => format!("run `{}` on this computer", s("command")),
        ChannelKind::FilePush => format!("send you the file {} ({} bytes)", s("name"), p["size"]),
        ChannelKind::FilePull => format!("fetch the file {}", s("name")),
        ChannelKind::Forward => format!("connect through this computer to {}", s("target")),
        ChannelKind::Smartcard => format!(
            "put the smart card of their reader \"{}\" into this computer's reader",
            crate::proto::smartcard::reader_name(p)
        ),
    }
}

fn refuse(mux: &Mux, channel: u32, reason: &str) {
    let _ = mux.send(&Control::OpenRefused {
        channel,
        reason: reason.to_owned(),
    });
}

fn accept(
    mux: &Mux,
    channel: u32,
    kind: ChannelKind,
    params: Value,
    dir: &Path,
    vpcd: &str,
    kill: &broadcast::Sender<()>,
) {
    let ch = mux.channel(channel, kind.interactive());
    let dir = dir.to_owned();
    let vpcd = vpcd.to_owned();
    let kill = kill.subscribe();
    tokio::spawn(async move {
        let r = match kind {
            ChannelKind::Shell => shell(ch, &params, kill).await,
            ChannelKind::FilePush => receive_file(ch, &params, &dir).await,
            ChannelKind::FilePull => send_file(ch, &params, &dir).await,
            ChannelKind::Forward => forward(ch, &params).await,
            ChannelKind::Smartcard => super::smartcard::serve(ch, &params, &vpcd).await,
        };
        if let Err(e) = r {
            say(&format!("Channel {channel} failed: {e}"));
        }
    });
}

fn refuse_ch(ch: &Channel, reason: &str) {
    let _ = ch.control(&Control::OpenRefused {
        channel: ch.id,
        reason: reason.to_owned(),
    });
}

async fn shell(
    mut ch: Channel,
    p: &Value,
    mut kill: broadcast::Receiver<()>,
) -> Result<(), ClientError> {
    let command = p["command"].as_str().unwrap_or("").to_owned();
    let mut pty = match Pty::spawn(&command) {
        Ok(p) => p,
        Err(e) => {
            refuse_ch(&ch, "spawn_failed");
            return Err(e.into());
        }
    };
    ch.control(&Control::OpenOk {
        channel: ch.id,
        info: Value::Null,
    })?;
    let mut closed_by = None;
    loop {
        tokio::select! {
            o = pty.output.recv() => match o {
                Some(d) => ch.send(&d).await?,
                None => break,
            },
            ev = ch.recv() => match ev {
                Some(ChanEvent::Data(d)) => { let _ = pty.write(&d); }
                Some(ChanEvent::Eof) | Some(ChanEvent::Ctrl(_)) => {}
                Some(ChanEvent::Close(_)) | None => { closed_by = Some("technician"); break; }
            },
            _ = kill.recv() => { closed_by = Some("customer"); break; }
        }
    }
    if closed_by.is_some() {
        let _ = pty.child.kill();
    }
    let mut child = pty.child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    let code = status.code().unwrap_or(-1);
    ch.control(&Control::Exit {
        channel: ch.id,
        status: code,
    })?;
    match closed_by {
        Some("customer") => ch.close("closed by the customer"),
        _ => ch.close("exited"),
    }
    Ok(())
}

async fn receive_file(mut ch: Channel, p: &Value, dir: &Path) -> Result<(), ClientError> {
    let Some(name) = p["name"].as_str().and_then(safe_name) else {
        refuse_ch(&ch, "bad_name");
        return Ok(());
    };
    let part = dir.join(format!(".{name}.part"));
    let mut f = match tokio::fs::File::create(&part).await {
        Ok(f) => f,
        Err(e) => {
            refuse_ch(&ch, "cannot_write");
            return Err(e.into());
        }
    };
    ch.control(&Control::OpenOk {
        channel: ch.id,
        info: Value::Null,
    })?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    let complete = loop {
        match ch.recv().await {
            Some(ChanEvent::Data(d)) => {
                h.update(&d);
                size += d.len() as u64;
                f.write_all(&d).await?;
            }
            Some(ChanEvent::Eof) => break true,
            Some(ChanEvent::Ctrl(_)) => {}
            Some(ChanEvent::Close(_)) | None => break false,
        }
    };
    f.sync_all().await?;
    drop(f);
    let sha = data_encoding::HEXLOWER.encode(&h.finalize());
    let expected = p["sha256"].as_str().unwrap_or("");
    let ok = complete && Some(size) == p["size"].as_u64() && sha == expected;
    if ok {
        tokio::fs::rename(&part, dir.join(&name)).await?;
        say(&format!(
            "Received file {name} ({size} bytes, SHA-256 {sha})."
        ));
    } else {
        let _ = tokio::fs::remove_file(&part).await;
        say(&format!(
            "File {name} was incomplete or corrupted; discarded."
        ));
    }
    ch.control(&Control::FileDone {
        channel: ch.id,
        size,
        sha256: sha,
    })?;
    ch.close(if ok { "received" } else { "corrupted" });
    Ok(())
}

async fn send_file(mut ch: Channel, p: &Value, dir: &Path) -> Result<(), ClientError> {
    let Some(name) = p["name"].as_str().and_then(safe_name) else {
        refuse_ch(&ch, "bad_name");
        return Ok(());
    };
    let path = dir.join(&name);
    let (size, sha) = match hash_file(&path).await {
        Ok(x) => x,
        Err(_) => {
            refuse_ch(&ch, "not_found");
            return Ok(());
        }
    };
    ch.control(&Control::OpenOk {
        channel: ch.id,
        info: json!({"name": name, "size": size, "sha256": sha}),
    })?;
    let mut f = tokio::fs::File::open(&path).await?;
    let mut buf = vec![0u8; crate::proto::MAX_PAYLOAD];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        ch.send(&buf[..n]).await?;
    }
    ch.eof()?;
    say(&format!("Sent file {name} ({size} bytes)."));
    // Wait for the technician's result (or the close) before closing our side.
    while let Some(ev) = ch.recv().await {
        if matches!(
            ev,
            ChanEvent::Close(_) | ChanEvent::Ctrl(Control::FileDone { .. })
        ) {
            break;
        }
    }
    ch.close("sent");
    Ok(())
}

/// Size and hex SHA-256 of a file.
pub async fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, data_encoding::HEXLOWER.encode(&h.finalize())))
}

async fn forward(ch: Channel, p: &Value) -> Result<(), ClientError> {
    let target = p["target"].as_str().unwrap_or("").to_owned();
    let tcp = match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect(&target),
    )
    .await
    {
        Ok(Ok(t)) => t,
        _ => {
            refuse_ch(&ch, "connect_failed");
            return Ok(());
        }
    };
    ch.control(&Control::OpenOk {
        channel: ch.id,
        info: Value::Null,
    })?;
    pump_tcp(tcp, ch).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_are_reduced_to_a_safe_base() {
        assert_eq!(safe_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            safe_name("C:\\x\\report.txt").as_deref(),
            Some("report.txt")
        );
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name(".bashrc"), None);
        assert_eq!(safe_name("dir/"), None);
    }
}
