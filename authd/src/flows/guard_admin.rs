//! Admin side of the guard: IP rules (with the self-lockout check), suspensions (list, lift,
//! add by hand), and unlocking an account after too many failures. Everything audited.

use crate::app::Authd;
use crate::clock::UnixTime;
use crate::flows::admin::require_admin;
use crate::flows::login::Authenticated;
use crate::guard::rules::{self, Action, IpRule, RuleSet, Scope};
use crate::model::*;
use crate::store::{RuleChange, RuleCheck, RuleEdit, Suspension};
use crate::{Error, Result};
use serde_json::json;

fn event(
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
    action: &'static str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> AuditEvent {
    client.event(
        now,
        Some(&who.user.username),
        action,
        target,
        Outcome::Success,
        detail,
    )
}

/// The check every rule change must pass: the acting admin, from where they are, can still
/// come back. Run by the store on the rules as they would be, inside the writing transaction.
fn not_locked_out(who: &Authenticated, client: &ClientInfo) -> RuleCheck {
    let ip = client.ip;
    let (name, roles) = (who.user.username.clone(), who.user.roles.clone());
    Box::new(move |rules: &[IpRule]| {
        ip.is_none_or(|ip| {
            RuleSet {
                rules: rules.to_vec(),
            }
            .allows(ip, Some((&name, &roles)))
        })
    })
}

fn locked_out(client: &ClientInfo) -> Error {
    let ip = client.ip.map(|i| i.to_string()).unwrap_or_default();
    Error::Unprocessable {
        code: "rule_locks_you_out",
        message: format!(
            "this change would refuse your own address {ip}: add an allow rule for it first"
        ),
    }
}

/// Every rule.
pub fn list_rules(app: &Authd, who: &Authenticated) -> Result<Vec<IpRule>> {
    require_admin(who)?;
    Ok(app.store.ip_rules()?)
}

/// Add a rule (`scope`: `global` | `role:NAME` | `user:NAME`; `action`: `allow` | `deny`).
pub fn add_rule(
    app: &Authd,
    who: &Authenticated,
    scope: &str,
    action: &str,
    cidr: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<IpRule> {
    require_admin(who)?;
    let rule = IpRule {
        id: 0,
        scope: Scope::parse(scope).map_err(Error::InvalidRequest)?,
        action: Action::parse(action).map_err(Error::InvalidRequest)?,
        net: rules::parse_net(cidr).map_err(Error::InvalidRequest)?,
        created_at: now,
        created_by: Some(who.user.username.clone()),
    };
    let detail = json!({ "scope": rule.scope.to_text(), "action": rule.action.as_str(), "cidr": rule.net.to_string() });
    let change = app.store.change_ip_rules(
        RuleEdit::Add(rule.clone()),
        not_locked_out(who, client),
        event(who, client, now, "ip_rule.add", None, detail),
    )?;
    let RuleChange::Added(id) = change else {
        return Err(locked_out(client));
    };
    app.guard.reload_rules()?;
    Ok(IpRule { id, ..rule })
}

/// Delete a rule.
pub fn delete_rule(
    app: &Authd,
    who: &Authenticated,
    id: i64,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    let target = app
        .store
        .ip_rules()?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound("IP rule"))?;
    let detail = json!({ "id": id, "scope": target.scope.to_text(), "action": target.action.as_str(), "cidr": target.net.to_string() });
    match app.store.change_ip_rules(
        RuleEdit::Delete(id),
        not_locked_out(who, client),
        event(who, client, now, "ip_rule.delete", None, detail),
    )? {
        RuleChange::Deleted => {}
        RuleChange::NotFound => return Err(Error::NotFound("IP rule")),
        _ => return Err(locked_out(client)),
    }
    app.guard.reload_rules()?;
    Ok(())
}

/// Suspensions in force, optionally filtered by reason and address (substring).
pub fn list_suspensions(
    app: &Authd,
    who: &Authenticated,
    reason: Option<&str>,
    address: Option<&str>,
    now: UnixTime,
) -> Result<Vec<Suspension>> {
    require_admin(who)?;
    Ok(app
        .store
        .suspensions(now)?
        .into_iter()
        .filter(|s| reason.is_none_or(|r| s.reason == r))
        .filter(|s| address.is_none_or(|a| s.address.contains(a)))
        .collect())
}

/// Normalised text form of an address or range, as suspensions are keyed.
pub fn address_key(address: &str) -> Result<String> {
    let net = rules::parse_net(address).map_err(Error::InvalidRequest)?;
    Ok(if net.prefix_len() == net.max_prefix_len() {
        rules::canonical(net.addr()).to_string()
    } else {
        net.to_string()
    })
}

/// Lift one suspension (`Some(address)`) or all; returns how many were lifted.
pub fn lift(
    app: &Authd,
    who: &Authenticated,
    address: Option<&str>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<usize> {
    require_admin(who)?;
    let key = address.map(address_key).transpose()?;
    let n = app.store.lift(
        key.as_deref(),
        now,
        event(
            who,
            client,
            now,
            "suspension.lift",
            key.as_deref(),
            json!({ "all": key.is_none() }),
        ),
    )?;
    if key.is_some() && n == 0 {
        return Err(Error::NotFound("suspension"));
    }
    app.guard.reload_suspensions(now)?;
    Ok(n)
}

/// Suspend an address or range by hand, for `duration` (`None` = until lifted).
pub fn suspend(
    app: &Authd,
    who: &Authenticated,
    address: &str,
    reason: &str,
    duration: Option<&str>,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Suspension> {
    require_admin(who)?;
    let key = address_key(address)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Error::InvalidRequest(
            "the reason must be 1 to 200 characters".into(),
        ));
    }
    if let Some(ip) = client.ip
        && rules::parse_net(&key).is_ok_and(|n| n.contains(&rules::canonical(ip)))
    {
        return Err(Error::Unprocessable {
            code: "rule_locks_you_out",
            message: format!("this would suspend your own address {ip}"),
        });
    }
    let expires_at = match duration {
        None | Some("") => None,
        Some(d) => {
            let d = sesame_config::parse_duration(d)
                .map_err(|e| Error::InvalidRequest(format!("duration: {e}")))?;
            if d.as_secs() > 365 * 86_400 {
                return Err(Error::InvalidRequest(
                    "duration: at most 365d (or none: until lifted)".into(),
                ));
            }
            // `0s` means until lifted, as in `[guard]`.
            (!d.is_zero()).then(|| now + d.as_secs() as i64)
        }
    };
    let s = Suspension {
        address: key.clone(),
        reason: reason.to_owned(),
        count: 0,
        first_seen: now,
        last_seen: now,
        expires_at,
        created_by: Some(who.user.username.clone()),
    };
    app.store.suspend(
        s.clone(),
        event(
            who,
            client,
            now,
            "suspension.add",
            Some(&key),
            json!({ "reason": reason, "expires_at": expires_at.map(crate::clock::rfc3339) }),
        ),
    )?;
    app.guard.reload_suspensions(now)?;
    Ok(s)
}

/// Reset an account's failure count and delay.
pub fn unlock_account(
    app: &Authd,
    who: &Authenticated,
    username: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let user = crate::flows::admin::get_user(app, who, username)?;
    app.store.account_reset(
        user.id,
        Some(event(
            who,
            client,
            now,
            "user.unlock",
            Some(&user.username),
            json!({ "failures": user.fail_count }),
        )),
    )?;
    Ok(())
}
