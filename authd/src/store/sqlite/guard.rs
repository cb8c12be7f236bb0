//! [`GuardStore`] on SQLite.

use super::{SqliteStore, append_audit_tx, corrupt};
use crate::clock::UnixTime;
use crate::guard::rules::{Action, IpRule, Scope, parse_net};
use crate::model::{AuditEvent, UserId};
use crate::store::{GuardStore, RuleChange, RuleCheck, RuleEdit, StoreResult, Suspension};
use rusqlite::Connection;
use rusqlite::params;

fn read_rules(c: &Connection) -> StoreResult<Vec<IpRule>> {
    let mut st = c.prepare_cached(
        "SELECT id, scope, action, cidr, created_at, created_by FROM ip_rules ORDER BY id",
    )?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (scope, action, cidr): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
        out.push(IpRule {
            id: r.get(0)?,
            scope: Scope::parse(&scope).map_err(|e| corrupt("ip_rules", e))?,
            action: Action::parse(&action).map_err(|e| corrupt("ip_rules", e))?,
            net: parse_net(&cidr).map_err(|e| corrupt("ip_rules", e))?,
            created_at: r.get(4)?,
            created_by: r.get(5)?,
        });
    }
    Ok(out)
}

impl GuardStore for SqliteStore {
    fn ip_rules(&self) -> StoreResult<Vec<IpRule>> {
        self.read(read_rules)
    }

    fn change_ip_rules(
        &self,
        edit: RuleEdit,
        allowed: RuleCheck,
        audit: AuditEvent,
    ) -> StoreResult<RuleChange> {
        self.write(move |c| {
            let mut rules = read_rules(c)?;
            match &edit {
                RuleEdit::Add(rule) => rules.push(rule.clone()),
                RuleEdit::Delete(id) => {
                    let before = rules.len();
                    rules.retain(|r| r.id != *id);
                    if rules.len() == before {
                        return Ok(RuleChange::NotFound);
                    }
                }
            }
            if !allowed(&rules) {
                return Ok(RuleChange::Refused);
            }
            let done = match edit {
                RuleEdit::Add(rule) => {
                    c.execute(
                        "INSERT INTO ip_rules(scope, action, cidr, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![rule.scope.to_text(), rule.action.as_str(), rule.net.to_string(), rule.created_at, rule.created_by],
                    )?;
                    RuleChange::Added(c.last_insert_rowid())
                }
                RuleEdit::Delete(id) => {
                    c.execute("DELETE FROM ip_rules WHERE id = ?1", [id])?;
                    RuleChange::Deleted
                }
            };
            append_audit_tx(c, &audit)?;
            Ok(done)
        })
    }

    fn suspensions(&self, now: UnixTime) -> StoreResult<Vec<Suspension>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT address, reason, count, first_seen, last_seen, expires_at, created_by FROM suspensions
                 WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?1) ORDER BY last_seen DESC",
            )?;
            let rows = st.query_map([now], |r| {
                Ok(Suspension {
                    address: r.get(0)?,
                    reason: r.get(1)?,
                    count: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                    first_seen: r.get(3)?,
                    last_seen: r.get(4)?,
                    expires_at: r.get(5)?,
                    created_by: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn suspend(&self, s: Suspension, audit: AuditEvent) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO suspensions(address, reason, count, first_seen, last_seen, expires_at, created_by, lifted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)
                 ON CONFLICT(address) DO UPDATE SET reason = ?2, count = ?3, first_seen = ?4, last_seen = ?5,
                     expires_at = ?6, created_by = ?7, lifted_at = NULL",
                params![s.address, s.reason, s.count, s.first_seen, s.last_seen, s.expires_at, s.created_by],
            )?;
            append_audit_tx(c, &audit)
        })
    }

    fn lift(&self, address: Option<&str>, now: UnixTime, audit: AuditEvent) -> StoreResult<usize> {
        let address = address.map(str::to_owned);
        self.write(move |c| {
            let n = c.execute(
                "UPDATE suspensions SET lifted_at = ?2
                 WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) AND (?1 IS NULL OR address = ?1)",
                params![address, now],
            )?;
            if n > 0 {
                // The count is only known inside the transaction: it goes into the entry here.
                let audit = audit.clone().with_detail("count", serde_json::json!(n));
                append_audit_tx(c, &audit)?;
            }
            Ok(n)
        })
    }

    fn account_failure(
        &self,
        user: UserId,
        throttled_until: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<u32> {
        self.write(move |c| {
            let n: i64 = c.query_row(
                "UPDATE users SET fail_count = fail_count + 1, throttled_until = ?2 WHERE id = ?1 RETURNING fail_count",
                params![user, throttled_until],
                |r| r.get(0),
            )?;
            append_audit_tx(c, &audit)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn account_reset(&self, user: UserId, audit: Option<AuditEvent>) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE users SET fail_count = 0, throttled_until = 0 WHERE id = ?1",
                [user],
            )?;
            if let Some(a) = &audit {
                append_audit_tx(c, a)?;
            }
            Ok(())
        })
    }
}
