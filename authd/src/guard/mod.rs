//! The guard: runs before anything expensive (DESIGN.md §3, layer 2).
//!
//! - [`rules`]: IP allow/deny rules (global, per role, per account), evaluated before any
//!   password or PIN is hashed.
//! - [`limits`]: per-address rate limit (GCRA) and the counters that earn a suspension
//!   (floods, failed logins, calls without the right).
//! - Suspensions are kept in the store (they survive a restart) and mirrored here; a suspended
//!   address gets one uniform 429 whatever it asks, before any hashing.
//! - An (address, account) pair that recently logged in successfully is *known good*: its
//!   hashing goes to the front of the queue and the account's throttling does not hold it
//!   back, so a flood of wrong passwords from elsewhere neither starves nor locks out the owner.
//!
//! Failures from refused or suspended addresses never reach the flows, so they never count
//! against an account or a key: a distant attacker cannot lock a real user out that way.

pub mod client_addr;
pub mod limits;
pub mod rules;

use crate::clock::UnixTime;
use crate::model::{AuditEvent, ClientInfo, Outcome, User, UserId};
use crate::store::{Store, StoreError, Suspension};
use ipnet::IpNet;
pub use limits::Trigger;
use limits::{Gcra, Limits, RateVerdict, Thresholds};
use rules::{IpRule, RuleSet, canonical};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

/// Most addresses whose counters are kept at once.
const MAX_TRACKED: usize = 200_000;
/// Most known-good addresses remembered.
const MAX_KNOWN_GOOD: usize = 100_000;
/// How long a successful login makes an address known good (ms).
const KNOWN_GOOD_MS: i64 = 24 * 3600 * 1000;

/// The answer at a request's first contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go on.
    Pass,
    /// Over the rate: 429 now.
    RateLimited,
    /// Suspended: the uniform 429, retry after this many seconds.
    Suspended {
        /// Seconds until the suspension ends (capped for "until lifted").
        retry_after: u64,
    },
    /// Over the rate long enough: record a flood suspension ([`Guard::suspend`]), then 429.
    SuspendNow {
        /// Refusals counted in the window.
        count: u32,
    },
}

#[derive(Debug, Default)]
struct SuspensionIndex {
    exact: HashMap<IpAddr, Option<UnixTime>>,
    ranges: Vec<(IpNet, Option<UnixTime>)>,
}

impl SuspensionIndex {
    fn build(list: &[Suspension]) -> SuspensionIndex {
        let mut idx = SuspensionIndex::default();
        for s in list {
            match rules::parse_net(&s.address) {
                Ok(net) if net.prefix_len() == net.max_prefix_len() => {
                    idx.exact.insert(net.addr(), s.expires_at);
                }
                Ok(net) => idx.ranges.push((net, s.expires_at)),
                Err(_) => {}
            }
        }
        idx
    }

    fn until(&self, ip: IpAddr, now: UnixTime) -> Option<Option<UnixTime>> {
        let live = |e: &Option<UnixTime>| e.is_none_or(|t| t > now);
        if let Some(e) = self.exact.get(&ip).filter(|e| live(e)) {
            return Some(*e);
        }
        self.ranges
            .iter()
            .find(|(n, e)| live(e) && n.contains(&ip))
            .map(|(_, e)| *e)
    }
}

/// The guard's state, shared by every request.
#[derive(Debug)]
pub struct Guard {
    cfg: sesame_config::Guard,
    store: Arc<dyn Store>,
    trusted_proxies: Vec<IpNet>,
    limits: Mutex<Limits>,
    rules: RwLock<Arc<RuleSet>>,
    suspended: RwLock<SuspensionIndex>,
    known_good: Mutex<HashMap<(IpAddr, UserId), i64>>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Guard {
    /// Load rules and suspensions from the store.
    pub fn open(
        cfg: &sesame_config::Guard,
        store: Arc<dyn Store>,
        now: UnixTime,
    ) -> Result<Guard, StoreError> {
        let thresholds = Thresholds {
            gcra: Gcra::new(cfg.rate_per_second, cfg.rate_burst),
            flood: (cfg.flood_refusals, ms(cfg.flood_window)),
            failed_logins: (cfg.failed_logins, ms(cfg.failed_logins_window)),
            forbidden: (cfg.forbidden_requests, ms(cfg.forbidden_window)),
        };
        let trusted_proxies = cfg
            .trusted_proxies
            .split(',')
            .filter_map(|p| rules::parse_net(p).ok())
            .collect();
        let g = Guard {
            cfg: cfg.clone(),
            trusted_proxies,
            limits: Mutex::new(Limits::new(thresholds, MAX_TRACKED)),
            rules: RwLock::new(Arc::new(RuleSet {
                rules: store.ip_rules()?,
            })),
            suspended: RwLock::new(SuspensionIndex::build(&store.suspensions(now)?)),
            known_good: Mutex::new(HashMap::new()),
            store,
        };
        Ok(g)
    }

    /// The client's address: the socket peer, or — when the peer is a trusted proxy — the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        client_addr::resolve(canonical(peer), forwarded_for, &self.trusted_proxies)
    }

    /// First contact of a request: suspension, then the rate limit. In memory only; when the
    /// answer is [`Gate::SuspendNow`] the caller records it with [`Guard::suspend`] (a durable
    /// write) before answering.
    pub fn gate(&self, ip: IpAddr, now_ms: i64) -> Gate {
        let now = now_ms.div_euclid(1000);
        if let Some(until) = self.suspended.read().ok().and_then(|s| s.until(ip, now)) {
            let retry_after = until.map_or(3600, |t| (t - now).max(1) as u64);
            return Gate::Suspended { retry_after };
        }
        let verdict = match self.limits.lock() {
            Ok(mut l) => l.request(ip, now_ms),
            Err(_) => RateVerdict::Pass,
        };
        match verdict {
            RateVerdict::Pass => Gate::Pass,
            RateVerdict::Refuse => Gate::RateLimited,
            RateVerdict::Suspend(count) => Gate::SuspendNow { count },
        }
    }

    /// Record a suspension of `ip` (on disk before it is answered) and apply it.
    pub fn suspend(
        &self,
        ip: IpAddr,
        trigger: Trigger,
        count: u32,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms.div_euclid(1000);
        let (window, length) = match trigger {
            Trigger::Flood => (self.cfg.flood_window, self.cfg.suspend_flood),
            Trigger::FailedLogins => (
                self.cfg.failed_logins_window,
                self.cfg.suspend_failed_logins,
            ),
            Trigger::Forbidden => (self.cfg.forbidden_window, self.cfg.suspend_forbidden),
        };
        let s = Suspension {
            address: ip.to_string(),
            reason: trigger.as_str().into(),
            count,
            first_seen: now - window.as_secs() as i64,
            last_seen: now,
            expires_at: (!length.is_zero()).then(|| now + length.as_secs() as i64),
            created_by: None,
        };
        let audit = AuditEvent {
            at: now,
            actor: None,
            action: "suspension.add",
            target: Some(s.address.clone()),
            outcome: Outcome::Success,
            address: s.address.clone(),
            user_agent: String::new(),
            detail: serde_json::json!({ "reason": s.reason, "count": count }),
        };
        // On disk before anyone is told.
        self.store.suspend(s.clone(), audit)?;
        tracing::warn!(address = %ip, reason = trigger.as_str(), count, "address suspended");
        if let Ok(mut idx) = self.suspended.write() {
            idx.exact.insert(ip, s.expires_at);
        }
        if let Ok(mut l) = self.limits.lock() {
            l.forget(ip);
        }
        Ok(())
    }

    /// Whether global rules (and, once known, the account's role and user rules) let `ip` in.
    pub fn allows(&self, ip: IpAddr, user: Option<&User>) -> bool {
        let set = self
            .rules
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default();
        set.allows(ip, user.map(|u| (u.username.as_str(), u.roles.as_slice())))
    }

    /// The current rules.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }

    /// Replace the rules after a change in the store.
    pub fn reload_rules(&self) -> Result<(), StoreError> {
        let set = Arc::new(RuleSet {
            rules: self.store.ip_rules()?,
        });
        if let Ok(mut r) = self.rules.write() {
            *r = set;
        }
        Ok(())
    }

    /// Reload suspensions (after an admin change).
    pub fn reload_suspensions(&self, now: UnixTime) -> Result<(), StoreError> {
        let idx = SuspensionIndex::build(&self.store.suspensions(now)?);
        if let Ok(mut s) = self.suspended.write() {
            *s = idx;
        }
        Ok(())
    }

    /// A failed login from this client (may suspend the address).
    pub fn login_failed(&self, client: &ClientInfo, now_ms: i64) -> Result<(), StoreError> {
        let Some(ip) = client.ip else { return Ok(()) };
        let hit = self
            .limits
            .lock()
            .ok()
            .and_then(|mut l| l.failed_login(ip, now_ms));
        if let Some(count) = hit {
            self.suspend(ip, Trigger::FailedLogins, count, now_ms)?;
        }
        Ok(())
    }

    /// A call refused for lack of rights: `Some(count)` when the address has earned a
    /// suspension (the caller records it with [`Guard::suspend`]).
    pub fn forbidden(&self, ip: IpAddr, now_ms: i64) -> Option<u32> {
        self.limits
            .lock()
            .ok()
            .and_then(|mut l| l.forbidden(ip, now_ms))
    }

    /// A successful login of `user` from this client: the pair becomes known good for a day.
    pub fn login_succeeded(&self, client: &ClientInfo, user: UserId, now_ms: i64) {
        let Some(ip) = client.ip else { return };
        if let Ok(mut k) = self.known_good.lock() {
            if k.len() >= MAX_KNOWN_GOOD {
                k.retain(|_, t| now_ms - *t < KNOWN_GOOD_MS);
                if k.len() >= MAX_KNOWN_GOOD {
                    k.clear();
                }
            }
            k.insert((ip, user), now_ms);
        }
    }

    /// Whether `user` logged in successfully from this client within the last day. Such
    /// attempts are hashed first and are not held back by the account's throttling, so
    /// failures from elsewhere cannot lock the account's owner out ("device cookie" idea,
    /// keyed by address).
    pub fn known_good(&self, client: &ClientInfo, user: UserId, now_ms: i64) -> bool {
        let Some(ip) = client.ip else { return false };
        self.known_good
            .lock()
            .ok()
            .and_then(|k| k.get(&(ip, user)).copied())
            .is_some_and(|t| now_ms - t < KNOWN_GOOD_MS)
    }

    /// Drop idle counters (called periodically).
    pub fn prune(&self, now_ms: i64) {
        if let Ok(mut l) = self.limits.lock() {
            l.prune(now_ms);
        }
    }

    /// The progressive delay after `failures` consecutive failures of an account, in seconds.
    pub fn account_delay(&self, failures: u32) -> i64 {
        if failures < self.cfg.account_throttle_after {
            return 0;
        }
        let exp = (failures - self.cfg.account_throttle_after).min(30);
        (1i64 << exp).min(self.cfg.account_max_delay.as_secs() as i64)
    }

    /// Whether `failures` means the account needs an admin.
    pub fn account_locked(&self, failures: u32) -> bool {
        failures >= self.cfg.account_lock_after
    }

    /// Rules for the self-lockout check.
    pub fn with_rules(&self, rules: Vec<IpRule>) -> RuleSet {
        RuleSet { rules }
    }
}
