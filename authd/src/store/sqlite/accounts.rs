//! [`AccountStore`] on SQLite.

use super::{
    SqliteStore, append_audit_tx, apply_effect_tx, corrupt, replay, replay_is_false,
    revoke_sessions_tx,
};
use crate::clock::UnixTime;
use crate::model::*;
use crate::store::{AccountStore, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

const RESET_COLS: &str = "r.id, r.target_id, t.username, r.requested_by, COALESCE(q.username, '(offline)'), r.created_at, \
     r.expires_at, a.username, r.done_at, r.state";

fn reset_from_row(r: &Row<'_>) -> StoreResult<MfaReset> {
    let state: String = r.get(9)?;
    let stored_state = match state.as_str() {
        "pending" => ResetState::Pending,
        "done" => ResetState::Done,
        other => return Err(corrupt("mfa_resets", format!("state {other}"))),
    };
    Ok(MfaReset {
        id: r.get(0)?,
        target_id: r.get(1)?,
        target: r.get(2)?,
        requested_by_id: r.get(3)?,
        requested_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        approved_by: r.get(7)?,
        done_at: r.get(8)?,
        stored_state,
    })
}

fn query_resets(c: &Connection, id: Option<i64>) -> StoreResult<Vec<MfaReset>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {RESET_COLS} FROM mfa_resets r
         JOIN users t ON t.id = r.target_id
         LEFT JOIN users q ON q.id = r.requested_by
         LEFT JOIN users a ON a.id = r.approved_by
         WHERE ?1 IS NULL OR r.id = ?1
         ORDER BY r.id DESC LIMIT 1000"
    ))?;
    let mut rows = st.query([id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(reset_from_row(r)?);
    }
    Ok(out)
}

/// Remove every second factor of `user` and end its sessions and pending logins.
fn reset_factors_tx(
    c: &Connection,
    user: UserId,
    reset_id: i64,
    now: UnixTime,
) -> StoreResult<ResetOutcome> {
    let totp = c.execute("DELETE FROM totp_credentials WHERE user_id = ?1", [user])?;
    let codes = c.execute(
        "DELETE FROM backup_codes WHERE user_id = ?1 AND used_at IS NULL",
        [user],
    )?;
    let webauthn = c.execute(
        "DELETE FROM webauthn_credentials WHERE user_id = ?1",
        [user],
    )?;
    let keys = c.execute(
        "UPDATE otp_keys SET state = 'disabled', disabled_reason = 'other', disabled_note = ?3,
                 disabled_at = ?2
         WHERE owner_id = ?1 AND state = 'assigned'",
        params![
            user,
            now,
            format!("second factors reset (request {reset_id})")
        ],
    )?;
    c.execute("DELETE FROM challenges WHERE user_id = ?1", [user])?;
    let sessions = revoke_sessions_tx(c, user, now, None)?;
    Ok(ResetOutcome {
        totp_devices: totp as u64,
        webauthn_keys: webauthn as u64,
        backup_codes: codes as u64,
        keys: keys as u64,
        sessions: sessions as u64,
    })
}

fn group_exists(c: &Connection, name: &str) -> StoreResult<bool> {
    Ok(
        c.query_row("SELECT 1 FROM groups WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

fn ensure_profile_tx(c: &Connection, user: UserId, now: UnixTime) -> StoreResult<()> {
    c.execute(
        "INSERT INTO profiles (user_id, updated_at) VALUES (?1, ?2) ON CONFLICT(user_id) DO NOTHING",
        params![user, now],
    )?;
    Ok(())
}

impl AccountStore for SqliteStore {
    fn list_groups(&self) -> StoreResult<Vec<Group>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT g.name, g.description, g.created_at,
                        (SELECT count(*) FROM user_groups m WHERE m.group_name = g.name)
                 FROM groups g ORDER BY g.name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Group {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    created_at: r.get(2)?,
                    members: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn create_group(
        &self,
        name: &str,
        description: &str,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let (name, description) = (name.to_owned(), description.to_owned());
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO groups (name, description, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO NOTHING",
                params![name, description, now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn delete_group(&self, name: &str, audit: AuditEvent) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM user_groups WHERE group_name = ?1", [&name])?;
            c.execute(
                "DELETE FROM mfa_policy WHERE scope = ?1",
                [format!("group:{name}")],
            )?;
            if c.execute("DELETE FROM groups WHERE name = ?1", [&name])? == 0 {
                return Ok(false);
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        })
    }

    fn user_groups(&self, user: UserId) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT group_name FROM user_groups WHERE user_id = ?1 ORDER BY group_name",
            )?;
            let rows = st.query_map([user], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn set_user_groups(
        &self,
        user: UserId,
        groups: &[String],
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let groups = groups.to_vec();
        self.write(move |c| {
            for g in &groups {
                if !group_exists(c, g)? {
                    return Err(StoreError::UnknownGroup(g.clone()));
                }
            }
            c.execute("DELETE FROM user_groups WHERE user_id = ?1", [user])?;
            for g in &groups {
                c.execute(
                    "INSERT OR IGNORE INTO user_groups (user_id, group_name) VALUES (?1, ?2)",
                    params![user, g],
                )?;
            }
            append_audit_tx(c, &audit)
        })
    }

    fn mfa_policy(&self) -> StoreResult<MfaPolicy> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT scope, requirement FROM mfa_policy")?;
            let mut rows = st.query([])?;
            let mut entries = Vec::new();
            while let Some(r) = rows.next()? {
                let scope: String = r.get(0)?;
                let req: String = r.get(1)?;
                entries.push((
                    PolicyScope::parse(&scope)
                        .ok_or_else(|| corrupt("mfa_policy", format!("scope {scope}")))?,
                    Requirement::parse(&req)
                        .ok_or_else(|| corrupt("mfa_policy", format!("requirement {req}")))?,
                ));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(MfaPolicy { entries })
        })
    }

    fn set_mfa_policy(
        &self,
        scope: &PolicyScope,
        requirement: Option<Requirement>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let scope = scope.clone();
        self.write(move |c| {
            if let PolicyScope::Group(g) = &scope
                && !group_exists(c, g)?
            {
                return Err(StoreError::UnknownGroup(g.clone()));
            }
            match requirement {
                Some(r) => c.execute(
                    "INSERT INTO mfa_policy (scope, requirement) VALUES (?1, ?2)
                     ON CONFLICT(scope) DO UPDATE SET requirement = excluded.requirement",
                    params![scope.to_text(), r.as_str()],
                )?,
                None => c.execute("DELETE FROM mfa_policy WHERE scope = ?1", [scope.to_text()])?,
            };
            append_audit_tx(c, &audit)
        })
    }

    fn profile(&self, user: UserId) -> StoreResult<Profile> {
        self.read(|c| {
            let p = c
                .query_row(
                    "SELECT email, language, display_name_private, display_name_public,
                            photo_type, photo_width, photo_height
                     FROM profiles WHERE user_id = ?1",
                    [user],
                    |r| {
                        let photo = match r.get::<_, Option<String>>(4)? {
                            Some(content_type) => Some(PhotoInfo {
                                content_type,
                                width: r.get::<_, i64>(5)?.clamp(0, u32::MAX.into()) as u32,
                                height: r.get::<_, i64>(6)?.clamp(0, u32::MAX.into()) as u32,
                            }),
                            None => None,
                        };
                        Ok(Profile {
                            email: r.get(0)?,
                            language: r.get(1)?,
                            display_name_private: r.get(2)?,
                            display_name_public: r.get(3)?,
                            photo,
                        })
                    },
                )
                .optional()?;
            Ok(p.unwrap_or_default())
        })
    }

    fn update_profile(
        &self,
        user: UserId,
        change: ProfileChange,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |c| {
            ensure_profile_tx(c, user, now)?;
            let fields = [
                ("email", &change.email),
                ("language", &change.language),
                ("display_name_private", &change.display_name_private),
                ("display_name_public", &change.display_name_public),
            ];
            for (column, value) in fields {
                if let Some(v) = value {
                    // Column names come from the fixed list above, never from input.
                    c.execute(
                        &format!(
                            "UPDATE profiles SET {column} = ?2, updated_at = ?3 WHERE user_id = ?1"
                        ),
                        params![user, v, now],
                    )?;
                }
            }
            append_audit_tx(c, &audit)
        })
    }

    fn set_photo(
        &self,
        user: UserId,
        photo: Option<Photo>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |c| {
            ensure_profile_tx(c, user, now)?;
            match &photo {
                Some(p) => c.execute(
                    "UPDATE profiles SET photo = ?2, photo_type = ?3, photo_width = ?4,
                            photo_height = ?5, updated_at = ?6 WHERE user_id = ?1",
                    params![
                        user,
                        p.bytes,
                        p.info.content_type,
                        p.info.width,
                        p.info.height,
                        now
                    ],
                )?,
                None => c.execute(
                    "UPDATE profiles SET photo = NULL, photo_type = NULL, photo_width = NULL,
                            photo_height = NULL, updated_at = ?2 WHERE user_id = ?1",
                    params![user, now],
                )?,
            };
            append_audit_tx(c, &audit)
        })
    }

    fn photo(&self, user: UserId) -> StoreResult<Option<Photo>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT photo, photo_type, photo_width, photo_height FROM profiles
                 WHERE user_id = ?1 AND photo IS NOT NULL",
                [user],
                |r| {
                    Ok(Photo {
                        bytes: r.get(0)?,
                        info: PhotoInfo {
                            content_type: r.get(1)?,
                            width: r.get::<_, i64>(2)?.clamp(0, u32::MAX.into()) as u32,
                            height: r.get::<_, i64>(3)?.clamp(0, u32::MAX.into()) as u32,
                        },
                    })
                },
            )
            .optional()?)
        })
    }

    fn step_up_session(
        &self,
        user: UserId,
        session: i64,
        effect: Option<crate::store::Effect>,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let r = self.write(move |c| {
            let n = c.execute(
                "UPDATE sessions SET reauth_at = ?3
                 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3",
                params![session, user, now],
            )?;
            if n == 0 {
                return Err(replay());
            }
            if let Some(e) = &effect {
                apply_effect_tx(c, user, None, e, now)?;
            }
            append_audit_tx(c, &audit)?;
            Ok(true)
        });
        replay_is_false(r)
    }

    fn create_mfa_reset(&self, new: NewMfaReset, audit: AuditEvent) -> StoreResult<i64> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO mfa_resets (target_id, requested_by, created_at, expires_at, state)
                 VALUES (?1, ?2, ?3, ?4, 'pending')",
                params![
                    new.target_id,
                    new.requested_by,
                    new.created_at,
                    new.expires_at
                ],
            )?;
            let id = c.last_insert_rowid();
            append_audit_tx(c, &audit.with_detail("request", id.into()))?;
            Ok(id)
        })
    }

    fn mfa_reset(&self, id: i64) -> StoreResult<Option<MfaReset>> {
        self.read(|c| Ok(query_resets(c, Some(id))?.pop()))
    }

    fn list_mfa_resets(&self) -> StoreResult<Vec<MfaReset>> {
        self.read(|c| query_resets(c, None))
    }

    fn approve_mfa_reset(
        &self,
        id: i64,
        approver: UserId,
        now: UnixTime,
        audit: AuditEvent,
    ) -> StoreResult<Option<ResetOutcome>> {
        self.write(move |c| {
            let target: Option<UserId> = c
                .query_row(
                    "UPDATE mfa_resets SET state = 'done', approved_by = ?2, done_at = ?3
                     WHERE id = ?1 AND state = 'pending' AND expires_at > ?3
                       AND requested_by IS NOT ?2 AND target_id != ?2
                     RETURNING target_id",
                    params![id, approver, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(target) = target else {
                return Ok(None);
            };
            let outcome = reset_factors_tx(c, target, id, now)?;
            append_audit_tx(c, &audit.with_detail("removed", outcome_json(&outcome)))?;
            Ok(Some(outcome))
        })
    }

    fn apply_mfa_reset(
        &self,
        new: NewMfaReset,
        audit: AuditEvent,
    ) -> StoreResult<(i64, ResetOutcome)> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO mfa_resets (target_id, requested_by, created_at, expires_at, done_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?3, 'done')",
                params![new.target_id, new.requested_by, new.created_at, new.expires_at],
            )?;
            let id = c.last_insert_rowid();
            let outcome = reset_factors_tx(c, new.target_id, id, new.created_at)?;
            let audit = audit
                .with_detail("request", id.into())
                .with_detail("removed", outcome_json(&outcome));
            append_audit_tx(c, &audit)?;
            Ok((id, outcome))
        })
    }
}

fn outcome_json(o: &ResetOutcome) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
}
