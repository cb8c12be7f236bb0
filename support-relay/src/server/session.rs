//! A live session: its members, its customer, its channels and their routing, its record.
//!
//! Channel ids: each technician connection numbers its channels itself (`local`); the relay
//! maps `(connection, local)` to a session-wide id (`global`) that the customer sees, and back.

use crate::conn::Outbound;
use crate::flow::Credit;
use crate::proto::control::ChannelKind;
use crate::proto::{Control, Frame, Kind};
use crate::record::{Cast, Record};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

/// A connected party.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) conn: u64,
    pub(crate) user: String,
    pub(crate) out: Outbound,
}

/// One open channel.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) tech: u64,
    pub(crate) local: u32,
    pub(crate) kind: ChannelKind,
    pub(crate) name: String,
    /// Technician → customer credit.
    pub(crate) up: Credit,
    /// Customer → technician credit.
    pub(crate) down: Credit,
    pub(crate) cast: Option<Cast>,
    pub(crate) hash: Option<Sha256>,
    pub(crate) bytes: u64,
    /// A smart-card channel's checks and counts.
    pub(crate) sc: Option<Box<crate::server::smartcard::Audit>>,
}

/// Why forwarding a frame failed: the sender broke the rules and is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// Data beyond the window, or credit beyond what was spent.
    WindowViolation,
}

impl RouteError {
    pub(crate) fn code(self) -> &'static str {
        match self {
            RouteError::WindowViolation => "window_violation",
        }
    }
}

/// A session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) key_digest: [u8; 32],
    pub(crate) created_ms: i64,
    pub(crate) owner: String,
    pub(crate) members: BTreeSet<String>,
    pub(crate) customer: Option<Peer>,
    pub(crate) customer_name: String,
    pub(crate) customer_left_at: Option<i64>,
    pub(crate) techs: HashMap<u64, Peer>,
    pub(crate) routes: HashMap<u32, Route>,
    pub(crate) by_local: HashMap<(u64, u32), u32>,
    pub(crate) next_channel: u32,
    pub(crate) record: Record,
    pub(crate) customer_here: Arc<Notify>,
    pub(crate) ended: bool,
    pub(crate) bucket: crate::server::fair::TokenBucket,
}

impl Session {
    pub(crate) fn new(
        id: String,
        key_digest: [u8; 32],
        owner: String,
        record: Record,
        now_ms: i64,
        bucket: crate::server::fair::TokenBucket,
    ) -> Session {
        Session {
            id,
            key_digest,
            created_ms: now_ms,
            members: BTreeSet::from([owner.clone()]),
            owner,
            customer: None,
            customer_name: String::new(),
            customer_left_at: None,
            techs: HashMap::new(),
            routes: HashMap::new(),
            by_local: HashMap::new(),
            next_channel: 1,
            record,
            customer_here: Arc::new(Notify::new()),
            ended: false,
            bucket,
        }
    }

    /// Append to the record; a failing disk is logged (the session goes on).
    pub(crate) fn log(&mut self, now: i64, event: &str, detail: Value) {
        if let Err(e) = self.record.event(now, event, detail) {
            tracing::error!(session = %self.id, error = %e, "cannot write the session record");
        }
    }

    /// Send to every technician and the customer.
    pub(crate) fn broadcast(&self, c: &Control) {
        for p in self.techs.values().chain(self.customer.iter()) {
            if p.out.control(c).is_err() {
                p.out.close();
            }
        }
    }

    pub(crate) fn summary(&self) -> Value {
        json!({"session": self.id, "owner": self.owner, "members": self.members,
            "customer": self.customer.as_ref().map(|_| self.customer_name.clone()),
            "channels": self.routes.len()})
    }

    /// Open a channel from technician connection `tech`.
    pub(crate) fn open(
        &mut self,
        tech: u64,
        local: u32,
        kind: ChannelKind,
        params: &Value,
        now: i64,
    ) -> Result<u32, &'static str> {
        if self.by_local.contains_key(&(tech, local)) {
            return Err("channel_in_use");
        }
        let Some(cust) = self.customer.clone() else {
            return Err("customer_not_present");
        };
        let global = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        let name = match kind {
            ChannelKind::Shell => params["command"].as_str().unwrap_or("").to_owned(),
            ChannelKind::FilePush | ChannelKind::FilePull => {
                params["name"].as_str().unwrap_or("").to_owned()
            }
            ChannelKind::Forward => params["target"].as_str().unwrap_or("").to_owned(),
            ChannelKind::Smartcard => crate::proto::smartcard::reader_name(params),
        };
        let by = self
            .techs
            .get(&tech)
            .map(|p| p.user.clone())
            .unwrap_or_default();
        let sc = (kind == ChannelKind::Smartcard)
            .then(|| Box::new(crate::server::smartcard::Audit::new(&by, params)));
        self.log(
            now,
            "channel_opened",
            json!({"by": by, "channel": global, "kind": kind, "name": name}),
        );
        let hash = matches!(kind, ChannelKind::FilePush | ChannelKind::FilePull).then(Sha256::new);
        self.routes.insert(
            global,
            Route {
                tech,
                local,
                kind,
                name,
                up: Credit::default(),
                down: Credit::default(),
                cast: None,
                hash,
                bytes: 0,
                sc,
            },
        );
        self.by_local.insert((tech, local), global);
        let fwd = Control::Open {
            channel: global,
            kind,
            params: params.clone(),
        };
        if cust.out.control(&fwd).is_err() {
            cust.out.close();
        }
        Ok(global)
    }

    /// A frame from technician connection `tech` on its channel `local`.
    pub(crate) fn forward_from_tech(
        &mut self,
        tech: u64,
        f: Frame,
        now: i64,
    ) -> Result<(), RouteError> {
        // A frame for a channel that just closed is a normal race: dropped, never forwarded.
        let Some(&global) = self.by_local.get(&(tech, f.channel)) else {
            return Ok(());
        };
        let Some(route) = self.routes.get_mut(&global) else {
            return Ok(());
        };
        match f.kind {
            Kind::Data => {
                if !route.up.spend(f.payload.len()) {
                    return Err(RouteError::WindowViolation);
                }
                if let Some(a) = route.sc.as_mut()
                    && let Err(e) = a.tech_data(&f.payload)
                {
                    self.smartcard_refused(global, &e, now);
                    return Ok(());
                }
                if route.kind == ChannelKind::FilePush {
                    if let Some(h) = route.hash.as_mut() {
                        h.update(&f.payload);
                    }
                    route.bytes += f.payload.len() as u64;
                }
            }
            Kind::Window => {
                let c = crate::proto::frame::window_credit(&f.payload)
                    .ok_or(RouteError::WindowViolation)?;
                if !route.down.grant(c) {
                    return Err(RouteError::WindowViolation);
                }
            }
            _ => {}
        }
        // Eof and close stay behind the channel's data; only window updates jump ahead.
        let interactive = route.kind.interactive() || f.kind == Kind::Window;
        let close = f.kind == Kind::Close;
        let eof_push = f.kind == Kind::Eof && route.kind == ChannelKind::FilePush;
        if let Some(c) = &self.customer
            && c.out
                .send(Frame::new(f.kind, global, f.payload), interactive)
                .is_err()
        {
            c.out.close();
        }
        if eof_push {
            self.file_done(global, "push", now);
        }
        if close {
            self.close_route(global, now, false);
        }
        Ok(())
    }

    /// A frame from the customer on `global`.
    pub(crate) fn forward_from_customer(&mut self, f: Frame, now: i64) -> Result<(), RouteError> {
        let global = f.channel;
        let Some(route) = self.routes.get_mut(&global) else {
            return Ok(());
        };
        match f.kind {
            Kind::Data => {
                if !route.down.spend(f.payload.len()) {
                    return Err(RouteError::WindowViolation);
                }
                if let Some(a) = route.sc.as_mut()
                    && let Err(e) = a.customer_data(&f.payload)
                {
                    self.smartcard_refused(global, &e, now);
                    return Ok(());
                }
                match route.kind {
                    ChannelKind::Shell => {
                        if let Some(c) = route.cast.as_mut() {
                            let _ = c.output(&f.payload);
                        }
                    }
                    ChannelKind::FilePull => {
                        if let Some(h) = route.hash.as_mut() {
                            h.update(&f.payload);
                        }
                        route.bytes += f.payload.len() as u64;
                    }
                    _ => {}
                }
            }
            Kind::Window => {
                let c = crate::proto::frame::window_credit(&f.payload)
                    .ok_or(RouteError::WindowViolation)?;
                if !route.up.grant(c) {
                    return Err(RouteError::WindowViolation);
                }
            }
            _ => {}
        }
        // Eof and close stay behind the channel's data; only window updates jump ahead.
        let interactive = route.kind.interactive() || f.kind == Kind::Window;
        let (tech, local) = (route.tech, route.local);
        let close = f.kind == Kind::Close;
        let eof_pull = f.kind == Kind::Eof && route.kind == ChannelKind::FilePull;
        if let Some(t) = self.techs.get(&tech)
            && t.out
                .send(Frame::new(f.kind, local, f.payload), interactive)
                .is_err()
        {
            t.out.close();
        }
        if eof_pull {
            self.file_done(global, "pull", now);
        }
        if close {
            self.close_route(global, now, true);
        }
        Ok(())
    }

    fn file_done(&mut self, global: u32, direction: &str, now: i64) {
        let Some(r) = self.routes.get_mut(&global) else {
            return;
        };
        let Some(h) = r.hash.take() else { return };
        let sha = data_encoding::HEXLOWER.encode(&h.finalize());
        let (name, size) = (r.name.clone(), r.bytes);
        self.log(
            now,
            "file",
            json!({"channel": global, "direction": direction, "name": name, "size": size, "sha256": sha}),
        );
    }

    /// A control message about channel `global` from the customer (accept/refuse/exit/result).
    pub(crate) fn customer_channel_control(&mut self, c: Control, now: i64) {
        let global = match &c {
            Control::OpenOk { channel, .. }
            | Control::OpenRefused { channel, .. }
            | Control::Exit { channel, .. }
            | Control::FileDone { channel, .. } => *channel,
            _ => return,
        };
        let Some(route) = self.routes.get_mut(&global) else {
            return;
        };
        let (tech, local) = (route.tech, route.local);
        let fwd = match c {
            Control::OpenOk { info, .. } => {
                if route.kind == ChannelKind::Shell {
                    let name = route.name.clone();
                    route.cast = self.record.cast(global, now, &name).ok();
                }
                let cast = route.cast.as_ref().map(|c| c.name.clone());
                self.log(
                    now,
                    "channel_accepted",
                    json!({"channel": global, "recording": cast}),
                );
                Control::OpenOk {
                    channel: local,
                    info,
                }
            }
            Control::OpenRefused { reason, .. } => {
                self.log(
                    now,
                    "channel_refused",
                    json!({"channel": global, "reason": reason}),
                );
                self.routes.remove(&global);
                self.by_local.remove(&(tech, local));
                Control::OpenRefused {
                    channel: local,
                    reason,
                }
            }
            Control::Exit { status, .. } => {
                self.log(
                    now,
                    "shell_exit",
                    json!({"channel": global, "status": status}),
                );
                Control::Exit {
                    channel: local,
                    status,
                }
            }
            Control::FileDone { size, sha256, .. } => {
                self.log(
                    now,
                    "file_verified",
                    json!({"channel": global, "size": size, "sha256": sha256}),
                );
                Control::FileDone {
                    channel: local,
                    size,
                    sha256,
                }
            }
            _ => return,
        };
        if let Some(t) = self.techs.get(&tech) {
            let _ = t.out.control(&fwd);
        }
    }

    /// Drop a channel's route (after a close frame, or when a side leaves).
    pub(crate) fn close_route(&mut self, global: u32, now: i64, by_customer: bool) {
        let by = if by_customer {
            "customer"
        } else {
            "technician"
        };
        self.close_route_by(global, now, by);
    }

    fn close_route_by(&mut self, global: u32, now: i64, by: &str) {
        if let Some(mut r) = self.routes.remove(&global) {
            self.by_local.remove(&(r.tech, r.local));
            if let Some(c) = r.cast.take() {
                let _ = c.finish();
            }
            if let Some(a) = r.sc.take() {
                self.log(now, "smartcard", a.summary(global, by));
            }
            self.log(now, "channel_closed", json!({"channel": global, "by": by}));
        }
    }

    /// A smart-card message broke the channel's rules: close that channel on both sides (the
    /// connections and the session go on), with the reason logged and recorded.
    fn smartcard_refused(&mut self, global: u32, e: &crate::proto::smartcard::ScError, now: i64) {
        let Some(r) = self.routes.get(&global) else {
            return;
        };
        let reason = e.code();
        tracing::warn!(session = %self.id, channel = global, reason, "smart-card channel closed: {e}");
        let close = |ch: u32| Frame::new(Kind::Close, ch, reason.as_bytes().to_vec());
        if let Some(t) = self.techs.get(&r.tech) {
            let _ = t.out.send(close(r.local), true);
        }
        if let Some(c) = &self.customer {
            let _ = c.out.send(close(global), true);
        }
        self.log(
            now,
            "channel_refused",
            json!({"channel": global, "reason": reason}),
        );
        self.close_route_by(global, now, "relay");
    }

    /// A technician connection went away: close its channels on the customer side.
    pub(crate) fn detach_tech(&mut self, conn: u64, now: i64) {
        let Some(p) = self.techs.remove(&conn) else {
            return;
        };
        let mine: Vec<u32> = self
            .routes
            .iter()
            .filter(|(_, r)| r.tech == conn)
            .map(|(g, _)| *g)
            .collect();
        for g in mine {
            if let Some(c) = &self.customer {
                let _ = c
                    .out
                    .send(Frame::new(Kind::Close, g, &b"technician left"[..]), true);
            }
            self.close_route(g, now, false);
        }
        self.log(now, "technician_detached", json!({"user": p.user}));
    }

    /// The customer connection went away: close every channel on the technicians' side.
    pub(crate) fn detach_customer(&mut self, conn: u64, now: i64) {
        if self.customer.as_ref().map(|c| c.conn) != Some(conn) {
            return;
        }
        self.customer = None;
        self.customer_left_at = Some(now);
        let all: Vec<u32> = self.routes.keys().copied().collect();
        for g in all {
            if let Some(r) = self.routes.get(&g)
                && let Some(t) = self.techs.get(&r.tech)
            {
                let _ = t.out.send(
                    Frame::new(Kind::Close, r.local, &b"customer left"[..]),
                    true,
                );
            }
            self.close_route(g, now, true);
        }
        self.log(now, "customer_left", json!({}));
        self.broadcast(&Control::Event {
            event: "customer_left".into(),
            detail: Value::Null,
        });
    }

    /// End the session: tell everyone, close every connection.
    pub(crate) fn end(&mut self, now: i64, reason: &str, by: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        let all: Vec<u32> = self.routes.keys().copied().collect();
        for g in all {
            self.close_route(g, now, false);
        }
        self.log(now, "ended", json!({"reason": reason, "by": by}));
        self.broadcast(&Control::Ended {
            reason: reason.to_owned(),
        });
        if let Some(c) = self.customer.take() {
            c.out.close();
        }
        self.techs.clear();
    }
}
