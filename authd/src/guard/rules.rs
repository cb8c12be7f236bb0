//! IP allow/deny rules: global, per role, per account.
//!
//! Evaluation (pure, [`RuleSet::allows`]):
//! 1. a `deny` rule of any level that applies and contains the address refuses it;
//! 2. each level that has `allow` rules — global; each role the account holds; the account —
//!    must contain the address in one of its allow rules ("admins only from the office range").
//!
//! Before the account is known (a request's first contact) only global rules apply. IPv4-mapped
//! IPv6 addresses (`::ffff:192.0.2.1`) are matched as IPv4.

use crate::model::Role;
use ipnet::IpNet;
use std::net::IpAddr;

/// Whom a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everyone.
    Global,
    /// Accounts holding this role.
    Role(Role),
    /// This account (lower-case username).
    User(String),
}

impl Scope {
    /// Parse `global`, `role:NAME`, `user:NAME`.
    pub fn parse(s: &str) -> Result<Scope, String> {
        match s.split_once(':') {
            None if s == "global" => Ok(Scope::Global),
            Some(("role", r)) => Role::parse(r).map(Scope::Role).ok_or_else(|| {
                format!("unknown role \"{r}\" in scope (expected user, helpdesk or admin)")
            }),
            Some(("user", u)) => {
                crate::credentials::password::normalize_username(u).map(Scope::User)
            }
            _ => Err(format!(
                "scope \"{s}\" must be global, role:NAME or user:NAME"
            )),
        }
    }
    /// Stable text form.
    pub fn to_text(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Role(r) => format!("role:{}", r.as_str()),
            Scope::User(u) => format!("user:{u}"),
        }
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Only matching addresses (per level) may pass.
    Allow,
    /// Matching addresses are refused.
    Deny,
}

impl Action {
    /// Parse `allow` / `deny`.
    pub fn parse(s: &str) -> Result<Action, String> {
        match s {
            "allow" => Ok(Action::Allow),
            "deny" => Ok(Action::Deny),
            _ => Err(format!("action \"{s}\" must be allow or deny")),
        }
    }
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// Parse a CIDR range or a single address (taken as /32 or /128), normalised.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            format!(
                "\"{s}\" is not an IP address or CIDR range such as 192.0.2.0/24 or 2001:db8::/32"
            )
        })?,
    };
    Ok(net.trunc())
}

/// IPv4-mapped IPv6 addresses as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRule {
    /// Primary key.
    pub id: i64,
    /// Whom it applies to.
    pub scope: Scope,
    /// Allow or deny.
    pub action: Action,
    /// The range.
    pub net: IpNet,
    /// Creation time.
    pub created_at: i64,
    /// Admin who created it.
    pub created_by: Option<String>,
}

/// All rules, evaluated together.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// The rules.
    pub rules: Vec<IpRule>,
}

impl RuleSet {
    /// Whether `ip` may pass, for `account` = (username, roles) when known.
    pub fn allows(&self, ip: IpAddr, account: Option<(&str, &[Role])>) -> bool {
        let ip = canonical(ip);
        let applies = |scope: &Scope| match (scope, account) {
            (Scope::Global, _) => true,
            (Scope::Role(r), Some((_, roles))) => roles.contains(r),
            (Scope::User(u), Some((name, _))) => u == name,
            _ => false,
        };
        if self
            .rules
            .iter()
            .any(|r| r.action == Action::Deny && applies(&r.scope) && r.net.contains(&ip))
        {
            return false;
        }
        let mut levels: Vec<Scope> = vec![Scope::Global];
        if let Some((name, roles)) = account {
            levels.extend(roles.iter().map(|r| Scope::Role(*r)));
            levels.push(Scope::User(name.to_owned()));
        }
        levels.iter().all(|level| {
            let mut allows = self
                .rules
                .iter()
                .filter(|r| r.action == Action::Allow && &r.scope == level)
                .peekable();
            allows.peek().is_none() || allows.any(|r| r.net.contains(&ip))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: &str, action: &str, cidr: &str) -> IpRule {
        IpRule {
            id: 0,
            scope: Scope::parse(scope).unwrap(),
            action: Action::parse(action).unwrap(),
            net: parse_net(cidr).unwrap(),
            created_at: 0,
            created_by: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn no_rules_allow_everything() {
        assert!(RuleSet::default().allows(ip("203.0.113.9"), None));
    }

    #[test]
    fn deny_beats_allow_and_allow_lists_are_per_level() {
        let set = RuleSet {
            rules: vec![
                rule("global", "deny", "203.0.113.0/24"),
                rule("role:admin", "allow", "10.1.0.0/16"),
                rule("user:carol", "allow", "2001:db8:1::/48"),
            ],
        };
        let admin: (&str, &[Role]) = ("root", &[Role::Admin]);
        let user: (&str, &[Role]) = ("alice", &[Role::User]);
        let carol: (&str, &[Role]) = ("carol", &[Role::User]);
        assert!(!set.allows(ip("203.0.113.7"), None), "global deny");
        assert!(!set.allows(ip("203.0.113.7"), Some(user)));
        assert!(
            set.allows(ip("198.51.100.1"), Some(user)),
            "no allow list for users"
        );
        assert!(
            set.allows(ip("10.1.2.3"), Some(admin)),
            "admins from the office"
        );
        assert!(
            !set.allows(ip("198.51.100.1"), Some(admin)),
            "admins only from the office"
        );
        assert!(
            set.allows(ip("2001:db8:1:ff::5"), Some(carol)),
            "IPv6 range"
        );
        assert!(!set.allows(ip("2001:db8:2::5"), Some(carol)));
        assert!(
            !set.allows(ip("::ffff:203.0.113.7"), None),
            "IPv4-mapped IPv6 is IPv4"
        );
    }

    #[test]
    fn global_allow_list() {
        let set = RuleSet {
            rules: vec![
                rule("global", "allow", "192.0.2.0/24"),
                rule("global", "allow", "::1"),
            ],
        };
        assert!(set.allows(ip("192.0.2.200"), None));
        assert!(set.allows(ip("::1"), None));
        assert!(!set.allows(ip("192.0.3.1"), None));
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse_net("192.0.2.77/24").unwrap().to_string(),
            "192.0.2.0/24",
            "normalised"
        );
        assert_eq!(
            parse_net("192.0.2.77").unwrap().to_string(),
            "192.0.2.77/32"
        );
        assert!(parse_net("192.0.2.0/33").is_err());
        assert!(
            parse_net("office")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert_eq!(
            Scope::parse("role:admin").unwrap(),
            Scope::Role(Role::Admin)
        );
        assert!(Scope::parse("role:root").is_err());
        assert_eq!(Scope::parse("user:Alice").unwrap().to_text(), "user:alice");
        assert!(Scope::parse("everyone").is_err());
        assert!(Action::parse("block").is_err());
    }
}
