//! Groups, the MFA policy, and the self-service profile and photo.

use crate::app::Authd;
use crate::authz::{Permission, allows};
use crate::clock::UnixTime;
use crate::flows::login::Authenticated;
use crate::model::*;
use crate::{Error, Result};
use serde_json::json;

fn require_admin(who: &Authenticated) -> Result<()> {
    if !allows(&who.user.roles, Permission::Administration) {
        return Err(Error::Forbidden);
    }
    Ok(())
}

fn admin_event(
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

/// Every group.
pub fn groups(app: &Authd, who: &Authenticated) -> Result<Vec<Group>> {
    require_admin(who)?;
    Ok(app.store.list_groups()?)
}

/// Create a group.
pub fn create_group(
    app: &Authd,
    who: &Authenticated,
    name: &str,
    description: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Group> {
    require_admin(who)?;
    if !valid_group_name(name) {
        return Err(Error::InvalidRequest(
            "a group name is 1 to 64 lower-case letters, digits, - and _, starting with a letter"
                .into(),
        ));
    }
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "the description is at most 200 printable characters".into(),
        ));
    }
    let ev = admin_event(who, client, now, "group.create", Some(name), json!({}));
    if !app.store.create_group(name, description, now, ev)? {
        return Err(Error::Conflict {
            code: "group_exists",
            message: format!("a group named \"{name}\" exists already"),
        });
    }
    app.store
        .list_groups()?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or(Error::NotFound("group"))
}

/// Delete a group: its members leave it and its policy entry goes.
pub fn delete_group(
    app: &Authd,
    who: &Authenticated,
    name: &str,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    let ev = admin_event(who, client, now, "group.delete", Some(name), json!({}));
    if !app.store.delete_group(name, ev)? {
        return Err(Error::NotFound("group"));
    }
    Ok(())
}

/// Put an account in exactly these groups (every one must exist).
pub fn set_groups(
    app: &Authd,
    who: &Authenticated,
    target: &User,
    groups: &[String],
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    require_admin(who)?;
    let mut groups = groups.to_vec();
    groups.sort();
    groups.dedup();
    let ev = admin_event(
        who,
        client,
        now,
        "user.groups",
        Some(&target.username),
        json!({ "groups": groups }),
    );
    Ok(app.store.set_user_groups(target.id, &groups, ev)?)
}

/// The MFA policy.
pub fn policy(app: &Authd, who: &Authenticated) -> Result<MfaPolicy> {
    require_admin(who)?;
    Ok(app.store.mfa_policy()?)
}

/// Set the requirement of some roles and groups (`None`: forget a group's entry, which makes it
/// optional). Every scope is checked before anything is written.
pub fn set_policy(
    app: &Authd,
    who: &Authenticated,
    changes: &[(String, Option<Requirement>)],
    client: &ClientInfo,
    now: UnixTime,
) -> Result<MfaPolicy> {
    require_admin(who)?;
    let mut parsed = Vec::new();
    for (scope, req) in changes {
        let s = PolicyScope::parse(scope).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "\"{scope}\" is not a scope: use role:NAME (user, helpdesk, technician, admin) or group:NAME"
            ))
        })?;
        if matches!(s, PolicyScope::Role(_)) && req.is_none() {
            return Err(Error::InvalidRequest(format!(
                "{scope} needs \"optional\" or \"required\""
            )));
        }
        parsed.push((s, *req));
    }
    for (s, req) in parsed {
        let ev = admin_event(
            who,
            client,
            now,
            "mfa_policy.set",
            None,
            json!({ "scope": s.to_text(), "requirement": req.map(|r| r.as_str()) }),
        );
        app.store.set_mfa_policy(&s, req, ev)?;
    }
    Ok(app.store.mfa_policy()?)
}

/// A change to the caller's profile, as the API receives it: absent = unchanged, `null` =
/// cleared.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Notification address.
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    /// `fr` or `en`.
    #[serde(default, deserialize_with = "present")]
    pub language: Option<Option<String>>,
    /// Name colleagues see.
    #[serde(default, deserialize_with = "present")]
    pub display_name_private: Option<Option<String>>,
    /// Name customers see (`null`: the private one again).
    #[serde(default, deserialize_with = "present")]
    pub display_name_public: Option<Option<String>>,
}

/// A field that is present in the JSON, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    use serde::Deserialize;
    Option::<String>::deserialize(d).map(Some)
}

fn check_email(e: &str) -> Result<()> {
    let bad = || Error::InvalidRequest(format!("\"{e}\" is not an e-mail address"));
    let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
    if e.len() > 254
        || local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || e.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(bad());
    }
    Ok(())
}

fn check_name(field: &str, n: &str) -> Result<()> {
    if n.trim().is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(format!(
            "{field} is 1 to 100 printable characters"
        )));
    }
    Ok(())
}

/// Change the caller's profile. The public display name follows the private one until the user
/// sets it apart; setting both to the same text, or the public one to `null`, joins them again.
pub fn update_profile(
    app: &Authd,
    who: &Authenticated,
    patch: &ProfilePatch,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<Profile> {
    let trimmed = |v: &Option<Option<String>>| v.clone().map(|o| o.map(|s| s.trim().to_owned()));
    let email = trimmed(&patch.email);
    let language = trimmed(&patch.language);
    let private = trimmed(&patch.display_name_private);
    let mut public = trimmed(&patch.display_name_public);
    if let Some(Some(e)) = &email {
        check_email(e)?;
    }
    if let Some(Some(l)) = &language
        && !matches!(l.as_str(), "fr" | "en")
    {
        return Err(Error::InvalidRequest(format!(
            "language must be \"fr\" or \"en\", got \"{l}\""
        )));
    }
    if let Some(Some(n)) = &private {
        check_name("display_name_private", n)?;
    }
    if let Some(Some(n)) = &public {
        check_name("display_name_public", n)?;
    }
    // Kept in sync: a public name equal to the private one is stored as "follows".
    let current = app.store.profile(who.user.id)?;
    let private_after = match &private {
        Some(v) => v.clone(),
        None => current.display_name_private.clone(),
    };
    if let Some(Some(p)) = &public
        && Some(p) == private_after.as_ref()
    {
        public = Some(None);
    }
    let fields: Vec<&str> = [
        ("email", email.is_some()),
        ("language", language.is_some()),
        ("display_name_private", private.is_some()),
        ("display_name_public", public.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let ev = admin_event(
        who,
        client,
        now,
        "account.profile",
        Some(&who.user.username),
        json!({ "fields": fields }),
    );
    let change = ProfileChange {
        email,
        language,
        display_name_private: private,
        display_name_public: public,
    };
    app.store.update_profile(who.user.id, change, now, ev)?;
    Ok(app.store.profile(who.user.id)?)
}

/// Set the caller's photo after checking it (`photo::check`).
pub fn set_photo(
    app: &Authd,
    who: &Authenticated,
    data: &[u8],
    client: &ClientInfo,
    now: UnixTime,
) -> Result<PhotoInfo> {
    let c = crate::photo::check(data).map_err(|e| Error::Unprocessable {
        code: e.code(),
        message: e.to_string(),
    })?;
    let info = PhotoInfo {
        content_type: c.content_type.to_owned(),
        width: c.width,
        height: c.height,
    };
    let ev = admin_event(
        who,
        client,
        now,
        "account.photo",
        Some(&who.user.username),
        json!({ "type": c.content_type, "width": c.width, "height": c.height, "bytes": c.bytes.len() }),
    );
    app.store.set_photo(
        who.user.id,
        Some(Photo {
            info: info.clone(),
            bytes: c.bytes,
        }),
        now,
        ev,
    )?;
    Ok(info)
}

/// Remove the caller's photo.
pub fn remove_photo(
    app: &Authd,
    who: &Authenticated,
    client: &ClientInfo,
    now: UnixTime,
) -> Result<()> {
    let ev = admin_event(
        who,
        client,
        now,
        "account.photo_removed",
        Some(&who.user.username),
        json!({}),
    );
    Ok(app.store.set_photo(who.user.id, None, now, ev)?)
}

/// Another account's photo (any signed-in account may see it: it is the public face).
pub fn photo_of(app: &Authd, username: &str) -> Result<Photo> {
    let name = crate::credentials::password::normalize_username(username)
        .map_err(|_| Error::NotFound("photo"))?;
    let user = app
        .store
        .user_by_name(&name)?
        .ok_or(Error::NotFound("photo"))?;
    app.store.photo(user.id)?.ok_or(Error::NotFound("photo"))
}
