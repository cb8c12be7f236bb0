//! Technician (and admin) commands on an authenticated connection.

use super::session::{Peer, Session};
use super::{Conn, Cut, Invitation, Role, lock};
use crate::auth::{ADMIN_ROLE, TECHNICIAN_ROLE};
use crate::proto::Control;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl Conn {
    fn ident(&self) -> (String, bool, bool) {
        match &self.role {
            Role::Tech { ident, .. } => (
                ident.username.clone(),
                ident.has(TECHNICIAN_ROLE),
                ident.has(ADMIN_ROLE),
            ),
            _ => (String::new(), false, false),
        }
    }

    fn attached(&self) -> Option<Arc<Mutex<Session>>> {
        match &self.role {
            Role::Tech { attached, .. } => attached.clone(),
            _ => None,
        }
    }

    fn err(&self, code: &str, msg: &str) -> Result<(), Cut> {
        self.send(&Control::error(code, msg))
    }

    fn ok(&self, body: Value) -> Result<(), Cut> {
        self.send(&Control::Ok { body })
    }

    fn find_session(&self, key_or_id: &str) -> Option<Arc<Mutex<Session>>> {
        let st = lock(&self.relay.state);
        if let Some(s) = st.sessions.get(key_or_id) {
            return Some(s.clone());
        }
        let d = st.keys.as_ref().map(|k| k.codes.digest_of(key_or_id))?;
        st.sessions
            .values()
            .find(|s| lock(s).key_digest == d)
            .cloned()
    }

    pub(super) async fn tech(&mut self, msg: Control, now: i64) -> Result<(), Cut> {
        let (user, is_tech, is_admin) = self.ident();
        // Admin commands.
        match &msg {
            Control::AdminList {} | Control::AdminShow { .. } if !is_admin => {
                return self.err("forbidden", "the admin role is required");
            }
            Control::AdminList {} => {
                let live: Vec<Value> = {
                    let st = lock(&self.relay.state);
                    st.sessions.values().map(|s| lock(s).summary()).collect()
                };
                let all = self.relay.records.list().unwrap_or_default();
                return self.ok(json!({"live": live, "records": all}));
            }
            Control::AdminShow { session } => {
                return match self.relay.records.read(session) {
                    Ok(ev) => self.ok(json!({"session": session, "events": ev})),
                    Err(_) => self.err("not_found", "no such session"),
                };
            }
            Control::End { session } if !session.is_empty() => {
                let s = lock(&self.relay.state).sessions.get(session).cloned();
                let Some(s) = s else {
                    return self.err("not_found", "no such session");
                };
                let owner = lock(&s).owner == user;
                if !(is_admin || owner) {
                    return self.err("forbidden", "only the owner or an admin ends a session");
                }
                self.end_session(&s, now, if owner { "owner" } else { "admin" }, &user);
                return self.ok(json!({"ended": session}));
            }
            _ => {}
        }
        if !is_tech {
            return self.err("not_technician", "the technician role is required");
        }
        match msg {
            Control::KeyNew {} => self.key_new(&user, now),
            Control::Attach {
                session,
                wait_customer_secs,
            } => self.attach(&user, &session, wait_customer_secs, now).await,
            Control::Availability { extended, email } => {
                let mut st = lock(&self.relay.state);
                if extended {
                    if !email.contains('@') || email.len() > 254 {
                        drop(st);
                        return self
                            .err("bad_email", "extended availability needs an e-mail address");
                    }
                    st.availability.insert(user.clone(), email);
                } else {
                    st.availability.remove(&user);
                }
                drop(st);
                self.ok(json!({"extended": extended}))
            }
            Control::AcceptInvite { code } => self.accept_invite(&user, &code, now),
            Control::Pending {} => {
                let st = lock(&self.relay.state);
                let inv: Vec<Value> = st
                    .pending
                    .iter()
                    .filter(|i| i.user == user && i.expires_at > now)
                    .map(|i| json!({"session": i.session, "by": i.by, "expires_at": i.expires_at, "code": i.code_for_console}))
                    .collect();
                let q: Vec<Value> = st
                    .queue
                    .iter()
                    .map(|(id, q)| json!({"id": id, "name": q.name, "problem": q.problem, "since": q.since}))
                    .collect();
                drop(st);
                self.ok(json!({"invitations": inv, "queue": q}))
            }
            Control::Pick { id } => self.pick(&user, &id, now),
            other => self.in_session(&user, other, now).await,
        }
    }

    fn key_new(&mut self, user: &str, now: i64) -> Result<(), Cut> {
        let cfg = &self.relay.deps.config;
        let id = crate::keys::random_token();
        let record = match self.relay.records.create(&id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot create a session record");
                return self.err("internal", "the session record cannot be written");
            }
        };
        let expires_at = now + cfg.key_ttl.as_secs() as i64;
        let bucket = super::fair::TokenBucket::new(
            cfg.session_bandwidth,
            cfg.session_bandwidth / 4,
            tokio::time::Instant::now(),
        );
        let mut st = lock(&self.relay.state);
        let Some(keys) = st.keys.as_mut() else {
            drop(st);
            return self.err("internal", "no key book");
        };
        let mut key = crate::keys::random_digits(cfg.key_digits);
        while !keys.codes.insert(&key, id.clone(), expires_at, now) {
            key = crate::keys::random_digits(cfg.key_digits);
        }
        let digest = keys.codes.digest_of(&key);
        let mut s = Session::new(
            id.clone(),
            digest,
            user.to_owned(),
            record,
            self.relay.deps.clock.now_ms(),
            bucket,
        );
        s.log(
            now,
            "created",
            json!({"owner": user, "from": self.peer.ip().to_string(), "key_expires_at": expires_at}),
        );
        st.sessions.insert(id.clone(), Arc::new(Mutex::new(s)));
        drop(st);
        self.relay
            .metrics
            .sessions_created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(&Control::KeyCreated {
            key,
            session: id,
            expires_at,
        })
    }

    async fn attach(&mut self, user: &str, which: &str, wait: u64, now: i64) -> Result<(), Cut> {
        let Some(s) = self.find_session(which) else {
            return self.err("not_found", "no such session");
        };
        let notify = {
            let mut g = lock(&s);
            if !g.members.contains(user) || g.ended {
                drop(g);
                return self.err("not_found", "no such session");
            }
            g.techs.insert(
                self.id,
                Peer {
                    conn: self.id,
                    user: user.to_owned(),
                    out: self.out.clone(),
                },
            );
            g.log(
                now,
                "technician_attached",
                json!({"user": user, "from": self.peer.ip().to_string()}),
            );
            (g.customer.is_none() && wait > 0).then(|| g.customer_here.clone())
        };
        if let Role::Tech { attached, .. } = &mut self.role {
            *attached = Some(s.clone());
        }
        if let Some(n) = notify {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(3600));
            loop {
                let notified = n.notified();
                if lock(&s).customer.is_some() {
                    break;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    break;
                }
            }
        }
        let summary = lock(&s).summary();
        self.ok(summary)
    }

    fn accept_invite(&mut self, user: &str, code: &str, now: i64) -> Result<(), Cut> {
        let inv = {
            let mut st = lock(&self.relay.state);
            let ip = self.peer.ip();
            if !st
                .keys
                .as_ref()
                .is_some_and(|k| k.throttle.allowed(ip, now))
            {
                None
            } else {
                match st.invites.take(code, now) {
                    Some(i) => Some(i),
                    None => {
                        if let Some(k) = st.keys.as_mut() {
                            k.throttle.fail(ip, now);
                        }
                        None
                    }
                }
            }
        };
        let Some(inv) = inv.filter(|i| i.user == user) else {
            return self.err(
                "invalid_invitation",
                "the invitation is unknown, expired or already used",
            );
        };
        let s = lock(&self.relay.state).sessions.get(&inv.session).cloned();
        let Some(s) = s else {
            return self.err(
                "invalid_invitation",
                "the invitation is unknown, expired or already used",
            );
        };
        {
            let mut st = lock(&self.relay.state);
            st.pending
                .retain(|p| !(p.user == inv.user && p.session == inv.session));
        }
        let mut g = lock(&s);
        g.members.insert(user.to_owned());
        g.log(
            now,
            "member_joined",
            json!({"user": user, "invited_by": inv.by}),
        );
        g.broadcast(&Control::Event {
            event: "member_joined".into(),
            detail: json!({"user": user}),
        });
        let body = json!({"session": g.id, "owner": g.owner});
        drop(g);
        self.ok(body)
    }

    fn pick(&mut self, user: &str, id: &str, now: i64) -> Result<(), Cut> {
        let q = lock(&self.relay.state).queue.remove(id);
        let Some(q) = q else {
            return self.err("not_found", "no such queue entry");
        };
        // A session without a key (the digest of nothing matches no key).
        self.key_new_for_pick(user, now, q)
    }

    fn key_new_for_pick(&mut self, user: &str, now: i64, q: super::Queued) -> Result<(), Cut> {
        let id = crate::keys::random_token();
        let Ok(record) = self.relay.records.create(&id) else {
            return self.err("internal", "the session record cannot be written");
        };
        let cfg = &self.relay.deps.config;
        let bucket = super::fair::TokenBucket::new(
            cfg.session_bandwidth,
            cfg.session_bandwidth / 4,
            tokio::time::Instant::now(),
        );
        let mut s = Session::new(
            id.clone(),
            crate::keys::random_bytes(),
            user.to_owned(),
            record,
            self.relay.deps.clock.now_ms(),
            bucket,
        );
        s.log(
            now,
            "created",
            json!({"owner": user, "from": self.peer.ip().to_string(), "queue": true}),
        );
        s.customer_name = q.name.clone();
        s.customer = Some(q.peer.clone());
        s.log(
            now,
            "customer_joined",
            json!({"name": q.name, "problem": q.problem, "queued_since": q.since}),
        );
        let s = Arc::new(Mutex::new(s));
        lock(&self.relay.state)
            .sessions
            .insert(id.clone(), s.clone());
        *lock(&q.slot) = Some(s);
        let token = crate::keys::random_token();
        lock(&self.relay.state)
            .resumes
            .insert(&token, id.clone(), now + 86400 * 365, now);
        let _ = q.peer.out.control(&Control::Joined {
            session: id.clone(),
            technician: user.to_owned(),
            resume_token: token,
        });
        self.ok(json!({"session": id, "customer": q.name}))
    }

    fn end_session(&self, s: &Arc<Mutex<Session>>, now: i64, reason: &str, by: &str) {
        let id = {
            let mut g = lock(s);
            g.end(now, reason, by);
            g.id.clone()
        };
        let mut st = lock(&self.relay.state);
        st.sessions.remove(&id);
        st.pending.retain(|p| p.session != id);
        st.invites.remove_where(|i| i.session == id);
    }

    async fn in_session(&mut self, user: &str, msg: Control, now: i64) -> Result<(), Cut> {
        let Some(s) = self.attached() else {
            return self.err("not_attached", "attach to a session first");
        };
        match msg {
            Control::Chat { text, .. } => {
                let text: String = text.chars().take(4000).collect();
                let mut g = lock(&s);
                g.log(now, "chat", json!({"from": user, "text": text}));
                g.broadcast(&Control::Chat {
                    from: user.to_owned(),
                    text,
                });
                Ok(())
            }
            Control::Open {
                channel,
                kind,
                params,
            } => {
                let r = lock(&s).open(self.id, channel, kind, &params, now);
                match r {
                    Ok(_) => Ok(()),
                    Err(reason) => self.send(&Control::OpenRefused {
                        channel,
                        reason: reason.to_owned(),
                    }),
                }
            }
            Control::History {} => {
                let id = lock(&s).id.clone();
                let ev = self.relay.records.read(&id).unwrap_or_default();
                self.ok(json!({"session": id, "events": ev}))
            }
            Control::Invite { user: invitee } => self.invite(&s, user, &invitee, now).await,
            Control::Transfer { user: to } => {
                let mut g = lock(&s);
                if g.owner != user {
                    drop(g);
                    return self.err("not_owner", "only the owner transfers the session");
                }
                if !g.members.contains(&to) {
                    drop(g);
                    return self.err(
                        "not_member",
                        "the new owner must be a member of the session",
                    );
                }
                g.owner = to.clone();
                g.log(
                    now,
                    "ownership_transferred",
                    json!({"from": user, "to": to}),
                );
                g.broadcast(&Control::Event {
                    event: "owner_changed".into(),
                    detail: json!({"owner": to}),
                });
                drop(g);
                self.ok(json!({"owner": to}))
            }
            Control::Leave {} => {
                let mut g = lock(&s);
                if g.owner == user {
                    drop(g);
                    return self.err(
                        "owner_must_transfer",
                        "transfer the session or end it before leaving",
                    );
                }
                g.members.remove(user);
                g.detach_tech(self.id, now);
                g.log(now, "member_left", json!({"user": user}));
                drop(g);
                if let Role::Tech { attached, .. } = &mut self.role {
                    *attached = None;
                }
                self.ok(json!({"left": true}))
            }
            Control::End { .. } => {
                {
                    let mut g = lock(&s);
                    if g.owner != user {
                        drop(g);
                        return self.err("not_owner", "only the owner ends the session");
                    }
                    // The one who ends it gets `ok`, the others `ended`.
                    g.techs.remove(&self.id);
                }
                self.end_session(&s, now, "owner", user);
                if let Role::Tech { attached, .. } = &mut self.role {
                    *attached = None;
                }
                self.ok(json!({"ended": true}))
            }
            _ => self.err("unexpected", "not a technician message"),
        }
    }

    async fn invite(
        &mut self,
        s: &Arc<Mutex<Session>>,
        user: &str,
        invitee: &str,
        now: i64,
    ) -> Result<(), Cut> {
        let (sid, owner) = {
            let g = lock(s);
            (g.id.clone(), g.owner.clone())
        };
        if owner != user {
            return self.err("not_owner", "only the owner invites");
        }
        let code = crate::keys::random_digits(10);
        let ttl = self.relay.deps.config.invite_ttl.as_secs() as i64;
        let email = lock(&self.relay.state).availability.get(invitee).cloned();
        let via_mail = email.is_some() && self.relay.deps.mailer.is_some();
        let inv = Invitation {
            session: sid.clone(),
            user: invitee.to_owned(),
            by: user.to_owned(),
            expires_at: now + ttl,
            code_for_console: (!via_mail).then(|| code.clone()),
        };
        {
            let mut st = lock(&self.relay.state);
            st.invites.insert(&code, inv.clone(), now + ttl, now);
            st.pending.push(inv);
        }
        let via = if let (Some(to), Some(m)) = (email, self.relay.deps.mailer.clone()) {
            let invitation = crate::mail::InvitationMail {
                to,
                invitee: invitee.to_owned(),
                by: user.to_owned(),
                session: sid.clone(),
                code: code.clone(),
                valid_minutes: ttl / 60,
            };
            if let Err(e) = m.send_invitation(invitation).await {
                tracing::error!(error = %e, "invitation e-mail failed");
                lock(s).log(
                    now,
                    "invitation_failed",
                    json!({"user": invitee, "by": user, "via": "email"}),
                );
                return self.err("mail_failed", "the invitation e-mail could not be sent");
            }
            "email"
        } else {
            "console"
        };
        lock(s).log(
            now,
            "invited",
            json!({"user": invitee, "by": user, "via": via, "expires_at": now + ttl}),
        );
        self.ok(json!({"invited": invitee, "via": via, "expires_at": now + ttl}))
    }
}
