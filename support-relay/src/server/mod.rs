//! The relay server: accept loop, TLS + hello, the per-connection state machine
//! (fresh → technician | customer | queued) and the shared session table.
//!
//! Entry point: [`serve`] on a bound listener with [`Deps`], until `shutdown` resolves.
//! Rules that make it no open relay: before a connection is an authenticated technician or a
//! customer holding a valid key, only login/auth/join/queue control messages are accepted and
//! anything else closes it; data frames are forwarded only along routes of the sender's own
//! session; each direction of each channel is held to its window ([`crate::flow`]).

pub(crate) mod fair;
pub mod metrics;
pub(crate) mod session;
mod smartcard;
mod tech;

use crate::auth::{Authenticator, Identity};
use crate::clock::Clock;
use crate::conn::{self, ConnError, Outbound};
use crate::keys::{GuardedCodes, OneTimeCodes};
use crate::mail::Mailer;
use crate::proto::{Control, Frame, Kind};
use crate::record::Records;
use serde_json::json;
use session::{Peer, Session};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Relay settings (from sesame-config's `[relay]` section, see `docs/configuration.md`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Records and state live here.
    pub data_dir: PathBuf,
    /// Digits of a session key.
    pub key_digits: u32,
    /// Lifetime of an unused session key.
    pub key_ttl: Duration,
    /// Wrong keys from one address before it is suspended.
    pub key_fail_limit: u32,
    /// Length of that suspension.
    pub key_suspend: Duration,
    /// How often a live technician's authd session is re-checked.
    pub recheck_every: Duration,
    /// Lifetime of an invitation code.
    pub invite_ttl: Duration,
    /// How long a dropped customer may resume.
    pub resume_grace: Duration,
    /// Records older than this are removed.
    pub retention: Duration,
    /// Simultaneous connections.
    pub max_connections: usize,
    /// Per-session bandwidth (bytes/s, 0 = unlimited).
    pub session_bandwidth: u64,
}

impl Config {
    /// Defaults, records in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            key_digits: 7,
            key_ttl: Duration::from_secs(600),
            key_fail_limit: 5,
            key_suspend: Duration::from_secs(900),
            recheck_every: Duration::from_secs(5),
            invite_ttl: Duration::from_secs(900),
            resume_grace: Duration::from_secs(120),
            retention: Duration::from_secs(90 * 86400),
            max_connections: 20_000,
            session_bandwidth: 0,
        }
    }
}

/// What the relay needs from outside.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Settings.
    pub config: Config,
    /// authd.
    pub auth: Arc<dyn Authenticator>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// TLS server configuration.
    pub tls: Arc<rustls::ServerConfig>,
    /// E-mail for invitations to technicians in extended availability (none = not configured).
    pub mailer: Option<Arc<dyn Mailer>>,
}

/// A customer waiting in the general queue.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) name: String,
    pub(crate) problem: String,
    pub(crate) since: i64,
    pub(crate) slot: Arc<Mutex<Option<Arc<Mutex<Session>>>>>,
    pub(crate) peer: Peer,
}

/// A pending invitation (for `pending`; the code itself is stored hashed).
#[derive(Debug, Clone)]
pub(crate) struct Invitation {
    pub(crate) session: String,
    pub(crate) user: String,
    pub(crate) by: String,
    pub(crate) expires_at: i64,
    /// Shown in `pending` when it was not sent by e-mail.
    pub(crate) code_for_console: Option<String>,
}

/// Shared relay state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) sessions: HashMap<String, Arc<Mutex<Session>>>,
    pub(crate) keys: Option<GuardedCodes<String>>,
    pub(crate) invites: OneTimeCodes<Invitation>,
    pub(crate) pending: Vec<Invitation>,
    pub(crate) availability: HashMap<String, String>,
    pub(crate) queue: HashMap<String, Queued>,
    pub(crate) resumes: OneTimeCodes<String>,
}

/// The running relay.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) deps: Deps,
    pub(crate) records: Records,
    pub(crate) state: Mutex<State>,
    pub(crate) metrics: metrics::Metrics,
    next_conn: AtomicU64,
}

/// Lock a mutex, recovering from poisoning (a panicked holder leaves consistent-enough state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Relay {
    pub(crate) fn now(&self) -> i64 {
        self.deps.clock.now()
    }
}

/// Per-connection outbound queue cap: a peer that does not read is cut past this.
const OUT_CAP: usize = 64 * crate::flow::WINDOW as usize;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to a running relay: metrics and the records directory.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Relay>);

impl Handle {
    /// Prometheus text of the relay's metrics.
    pub fn metrics_text(&self) -> String {
        let (sessions, queued) = {
            let st = lock(&self.0.state);
            (st.sessions.len(), st.queue.len())
        };
        self.0.metrics.render(sessions, queued)
    }
}

/// Build the relay (records directory, retention pass).
pub fn build(deps: Deps) -> std::io::Result<Handle> {
    let records = Records::open(&deps.config.data_dir.join("sessions"))?;
    match records.prune(deps.config.retention) {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "old session records removed (retention)"),
        Err(e) => tracing::warn!(error = %e, "retention pass failed"),
    }
    let state = State {
        keys: Some(GuardedCodes::new(
            deps.config.key_fail_limit,
            deps.config.key_suspend.as_secs() as i64,
        )),
        ..State::default()
    };
    Ok(Handle(Arc::new(Relay {
        deps,
        records,
        state: Mutex::new(state),
        metrics: metrics::Metrics::default(),
        next_conn: AtomicU64::new(1),
    })))
}

/// Serve on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    relay: Handle,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let relay = relay.0;
    let acceptor = tokio_rustls::TlsAcceptor::from(relay.deps.tls.clone());
    let permits = Arc::new(tokio::sync::Semaphore::new(
        relay.deps.config.max_connections,
    ));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // TCP_NODELAY, and rustls's 4 KiB reads served from one large socket read.
        let tcp = conn::BufferedTcp::new(tcp);
        let acceptor = acceptor.clone();
        let relay = relay.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    relay.metrics.refused("tls_handshake");
                    tracing::info!(%peer, reason = %e, "connection closed: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "connection closed: TLS handshake timed out");
                    return;
                }
            };
            let mut tls = tls;
            match tokio::time::timeout(HELLO_TIMEOUT, conn::exchange_hello(&mut tls)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    relay.metrics.refused("hello");
                    tracing::info!(%peer, reason = %e, "connection closed: bad hello");
                    return;
                }
                Err(_) => return,
            }
            let id = relay.next_conn.fetch_add(1, Ordering::Relaxed);
            Conn::run(relay, tls, peer, id).await;
        });
    }
    Ok(())
}

/// What a connection is.
#[derive(Debug)]
pub(crate) enum Role {
    Fresh,
    Tech {
        ident: Identity,
        attached: Option<Arc<Mutex<Session>>>,
    },
    Customer(Arc<Mutex<Session>>),
    Queued {
        id: String,
        slot: Arc<Mutex<Option<Arc<Mutex<Session>>>>>,
    },
}

pub(crate) struct Conn {
    pub(crate) relay: Arc<Relay>,
    pub(crate) peer: SocketAddr,
    pub(crate) id: u64,
    pub(crate) out: Outbound,
    pub(crate) role: Role,
    pub(crate) customer_name: String,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a connection is closed by the relay.
pub(crate) struct Cut(pub(crate) &'static str);

impl Conn {
    async fn run<S>(relay: Arc<Relay>, stream: S, peer: SocketAddr, id: u64)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (reader, out, writer) = conn::split(stream, OUT_CAP);
        // Keep-alive pings and the idle cut live in the reader (no task per connection).
        let mut reader = reader.with_keepalive();
        relay.metrics.connections.fetch_add(1, Ordering::Relaxed);
        let mut c = Conn {
            relay: relay.clone(),
            peer,
            id,
            out: out.clone(),
            role: Role::Fresh,
            customer_name: String::new(),
        };
        let reason: String = loop {
            match reader.next(&out).await {
                Ok(Some(f)) => match c.frame(f).await {
                    Ok(pause) => {
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                    Err(Cut(why)) => break why.to_owned(),
                },
                Ok(None) => break "peer closed".to_owned(),
                Err(ConnError::Closed) => break "closed by the relay".to_owned(),
                Err(e) => {
                    if let ConnError::Protocol(p) = &e {
                        relay.metrics.refused(p.code());
                    }
                    break e.to_string();
                }
            }
        };
        tracing::info!(%peer, conn = id, %reason, "connection closed");
        c.cleanup();
        out.close();
        drop(c);
        drop(out);
        let _ = writer.await;
        relay.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }

    fn send(&self, c: &Control) -> Result<(), Cut> {
        self.out.control(c).map_err(|_| Cut("peer does not read"))
    }

    /// Handle a frame; the returned duration is a fairness pause before reading on.
    async fn frame(&mut self, f: Frame) -> Result<Duration, Cut> {
        let now = self.relay.now();
        if let Role::Queued { slot, .. } = &self.role {
            let picked = lock(slot).clone();
            if let Some(s) = picked {
                self.role = Role::Customer(s);
            }
        }
        match (&self.role, f.kind) {
            (_, Kind::Control) => {
                let msg = match Control::from_payload(&f.payload) {
                    Ok(m) => m,
                    Err(_) => {
                        let _ =
                            self.send(&Control::error("bad_message", "unreadable control message"));
                        return Err(Cut("unreadable control message"));
                    }
                };
                // Boxed: the rare control path does not grow every connection's task.
                Box::pin(self.control(msg, now))
                    .await
                    .map(|_| Duration::ZERO)
            }
            (
                Role::Tech {
                    attached: Some(s), ..
                },
                _,
            ) => {
                let s = s.clone();
                let mut g = lock(&s);
                let n = f.payload.len();
                let is_data = f.kind == Kind::Data;
                g.forward_from_tech(self.id, f, now)
                    .map_err(|e| Cut(e.code()))?;
                if is_data {
                    self.relay
                        .metrics
                        .bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(g.bucket.spend(n, tokio::time::Instant::now()));
                }
                Ok(Duration::ZERO)
            }
            (Role::Customer(s), _) => {
                let s = s.clone();
                let mut g = lock(&s);
                let n = f.payload.len();
                let is_data = f.kind == Kind::Data;
                g.forward_from_customer(f, now).map_err(|e| Cut(e.code()))?;
                if is_data {
                    self.relay
                        .metrics
                        .bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(g.bucket.spend(n, tokio::time::Instant::now()));
                }
                Ok(Duration::ZERO)
            }
            _ => {
                self.relay.metrics.refused("unauthenticated_frame");
                Err(Cut("frame before authentication or outside a session"))
            }
        }
    }

    async fn control(&mut self, msg: Control, now: i64) -> Result<(), Cut> {
        match &self.role {
            Role::Fresh => self.fresh(msg, now).await,
            Role::Tech { .. } => self.tech(msg, now).await,
            Role::Customer(s) => {
                let s = s.clone();
                match msg {
                    Control::Chat { text, .. } => {
                        let mut g = lock(&s);
                        let from = format!("customer:{}", self.customer_name);
                        g.log(now, "chat", json!({"from": from, "text": text}));
                        g.broadcast(&Control::Chat { from, text });
                    }
                    m @ (Control::OpenOk { .. }
                    | Control::OpenRefused { .. }
                    | Control::Exit { .. }
                    | Control::FileDone { .. }) => lock(&s).customer_channel_control(m, now),
                    _ => self.send(&Control::error("unexpected", "not a customer message"))?,
                }
                Ok(())
            }
            Role::Queued { .. } => {
                self.send(&Control::error("waiting", "still waiting in the queue"))?;
                Ok(())
            }
        }
    }

    /// Messages before authentication.
    async fn fresh(&mut self, msg: Control, now: i64) -> Result<(), Cut> {
        let ip = self.peer.ip();
        match msg {
            Control::LoginStep { step, body } => {
                if !crate::auth::LOGIN_STEPS.contains(&step.as_str()) {
                    self.send(&Control::error("unknown_step", "no such login step"))?;
                    return Ok(());
                }
                let ans = match self.relay.deps.auth.login_step(&step, body, ip).await {
                    Ok((status, body)) => Control::LoginAnswer { status, body },
                    Err(e) => {
                        tracing::warn!(error = %e, "authd unavailable for a login step");
                        Control::error(
                            "authd_unavailable",
                            "the authentication service is unavailable",
                        )
                    }
                };
                self.send(&ans)
            }
            Control::Auth { session } => {
                let ident = match self.relay.deps.auth.identity(&session, ip).await {
                    Ok(Some(i)) => i,
                    Ok(None) => {
                        self.relay.metrics.refused("unauthenticated");
                        let _ = self.send(&Control::error(
                            "unauthenticated",
                            "the session is not valid",
                        ));
                        return Err(Cut("invalid session token"));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "authd unavailable for a session check");
                        let _ = self.send(&Control::error(
                            "authd_unavailable",
                            "the authentication service is unavailable",
                        ));
                        return Err(Cut("authd unavailable"));
                    }
                };
                if !ident.has(crate::auth::TECHNICIAN_ROLE) && !ident.has(crate::auth::ADMIN_ROLE) {
                    self.relay.metrics.refused("not_technician");
                    let _ = self.send(&Control::error(
                        "not_technician",
                        "the technician role is required",
                    ));
                    return Err(Cut("account without the technician role"));
                }
                tracing::info!(peer = %self.peer, user = %ident.username, "technician authenticated");
                self.send(&Control::Welcome {
                    username: ident.username.clone(),
                    roles: ident.roles.clone(),
                })?;
                self.spawn_recheck(session);
                self.role = Role::Tech {
                    ident,
                    attached: None,
                };
                Ok(())
            }
            Control::Join { key, name } => {
                let redeemed = {
                    let mut st = lock(&self.relay.state);
                    let r = st.keys.as_mut().map(|k| k.redeem(&key, ip, now));
                    match r {
                        Some(Ok(id)) => st.sessions.get(&id).cloned(),
                        _ => None,
                    }
                };
                let Some(s) = redeemed else {
                    self.relay.metrics.refused("invalid_key");
                    let _ = self.send(&Control::error(
                        "invalid_key",
                        "the key is unknown, expired or already used",
                    ));
                    return Err(Cut("invalid session key"));
                };
                self.customer_name = clean_name(&name);
                self.become_customer(s, now, "customer_joined")
            }
            Control::Resume { token } => {
                let sid = lock(&self.relay.state).resumes.take(&token, now);
                let s = sid.and_then(|id| lock(&self.relay.state).sessions.get(&id).cloned());
                let grace = self.relay.deps.config.resume_grace.as_secs() as i64;
                let s = s.filter(|s| {
                    let g = lock(s);
                    g.customer.is_some() || g.customer_left_at.is_some_and(|t| now - t <= grace)
                });
                let Some(s) = s else {
                    let _ = self.send(&Control::error(
                        "invalid_resume",
                        "the resume token is not valid",
                    ));
                    return Err(Cut("invalid resume token"));
                };
                self.customer_name = lock(&s).customer_name.clone();
                self.become_customer(s, now, "customer_resumed")
            }
            Control::Queue { name, problem } => {
                let id = crate::keys::random_token()[..8].to_owned();
                let slot = Arc::new(Mutex::new(None));
                self.customer_name = clean_name(&name);
                let q = Queued {
                    name: self.customer_name.clone(),
                    problem: problem.chars().take(500).collect(),
                    since: now,
                    slot: slot.clone(),
                    peer: Peer {
                        conn: self.id,
                        user: self.customer_name.clone(),
                        out: self.out.clone(),
                    },
                };
                lock(&self.relay.state).queue.insert(id.clone(), q);
                self.send(&Control::Queued { id: id.clone() })?;
                self.role = Role::Queued { id, slot };
                Ok(())
            }
            _ => {
                self.relay.metrics.refused("unauthenticated_message");
                let _ = self.send(&Control::error("unauthenticated", "log in or join first"));
                Err(Cut("message before authentication"))
            }
        }
    }

    pub(crate) fn become_customer(
        &mut self,
        s: Arc<Mutex<Session>>,
        now: i64,
        event: &str,
    ) -> Result<(), Cut> {
        let token = crate::keys::random_token();
        let (joined, latency_ms) = {
            let mut g = lock(&s);
            if g.ended {
                let _ = self.send(&Control::error(
                    "invalid_key",
                    "the key is unknown, expired or already used",
                ));
                return Err(Cut("session ended"));
            }
            if let Some(old) = g.customer.take() {
                old.out.close();
            }
            g.customer = Some(Peer {
                conn: self.id,
                user: self.customer_name.clone(),
                out: self.out.clone(),
            });
            g.customer_name = self.customer_name.clone();
            let name = g.customer_name.clone();
            g.log(
                now,
                event,
                json!({"name": name, "from": self.peer.ip().to_string()}),
            );
            g.customer_here.notify_waiters();
            g.broadcast(&Control::Event {
                event: event.to_owned(),
                detail: json!({"name": name}),
            });
            (
                Control::Joined {
                    session: g.id.clone(),
                    technician: g.owner.clone(),
                    resume_token: token.clone(),
                },
                self.relay.deps.clock.now_ms() - g.created_ms,
            )
        };
        if let Control::Joined { session, .. } = &joined {
            lock(&self.relay.state)
                .resumes
                .insert(&token, session.clone(), now + 86400 * 365, now);
        }
        if event == "customer_joined" {
            self.relay.metrics.pairing(latency_ms);
        }
        self.send(&joined)?;
        self.role = Role::Customer(s);
        Ok(())
    }

    fn spawn_recheck(&self, token: String) {
        let relay = self.relay.clone();
        let out = self.out.clone();
        let ip = self.peer.ip();
        let every = relay.deps.config.recheck_every;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = out.closer().closed() => return,
                }
                let ok = match relay.deps.auth.identity(&token, ip).await {
                    Ok(Some(i)) => {
                        i.has(crate::auth::TECHNICIAN_ROLE) || i.has(crate::auth::ADMIN_ROLE)
                    }
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot re-check a technician; keeping the connection");
                        true
                    }
                };
                if !ok {
                    tracing::info!(%ip, "technician session revoked: cutting the connection");
                    let _ =
                        out.control(&Control::error("session_revoked", "your session has ended"));
                    out.close();
                    return;
                }
            }
        });
    }

    fn cleanup(&mut self) {
        let now = self.relay.now();
        match std::mem::replace(&mut self.role, Role::Fresh) {
            Role::Tech {
                attached: Some(s), ..
            } => lock(&s).detach_tech(self.id, now),
            Role::Customer(s) => lock(&s).detach_customer(self.id, now),
            Role::Queued { id, .. } => {
                lock(&self.relay.state).queue.remove(&id);
            }
            _ => {}
        }
    }
}

fn clean_name(n: &str) -> String {
    let s: String = n.chars().filter(|c| !c.is_control()).take(100).collect();
    if s.trim().is_empty() {
        "customer".to_owned()
    } else {
        s.trim().to_owned()
    }
}

impl Config {
    /// From the appliance configuration's `[relay]` section.
    pub fn from_sesame(c: &sesame_config::Config) -> Config {
        let r = &c.relay;
        Config {
            data_dir: relay_data_dir(c),
            key_digits: r.key_digits,
            key_ttl: r.key_lifetime,
            key_fail_limit: r.key_failures,
            key_suspend: r.key_suspension,
            recheck_every: r.recheck_every,
            invite_ttl: r.invitation_lifetime,
            resume_grace: r.resume_grace,
            retention: r.retention,
            max_connections: r.max_connections,
            session_bandwidth: r.session_bandwidth,
        }
    }
}

/// `relay.data_dir`, or `<server.data_dir>/relay`.
pub fn relay_data_dir(c: &sesame_config::Config) -> PathBuf {
    c.relay
        .data_dir
        .clone()
        .unwrap_or_else(|| c.server.data_dir.join("relay"))
}

/// The SMTP mailer of `[relay] smtp_*`, if a host is set.
pub fn mailer_from_sesame(c: &sesame_config::Config) -> Option<Arc<dyn Mailer>> {
    let r = &c.relay;
    if r.smtp_host.is_empty() {
        return None;
    }
    let starttls = match r.smtp_starttls.as_str() {
        "off" => crate::mail::StartTls::Off,
        "opportunistic" => crate::mail::StartTls::Opportunistic,
        _ => crate::mail::StartTls::Required,
    };
    Some(Arc::new(crate::mail::SmtpMailer::new(
        crate::mail::SmtpConfig {
            host: r.smtp_host.clone(),
            port: r.smtp_port as u16,
            starttls,
            from: r.smtp_from.clone(),
        },
    )))
}

/// Serve `GET /metrics` in plain HTTP on `relay.metrics_listen`, if set.
pub async fn spawn_metrics(c: &sesame_config::Config, relay: Handle) -> std::io::Result<()> {
    if c.relay.metrics_listen.is_empty() {
        return Ok(());
    }
    let l = TcpListener::bind(c.relay.metrics_listen.as_str()).await?;
    tokio::spawn(metrics::serve_http(l, relay));
    Ok(())
}
