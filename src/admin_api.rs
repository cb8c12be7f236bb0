//! `sesame admin users|groups|policy|sessions|resets …`: the administration API from the
//! command line. Each command is one API call, made either to a running appliance (`--url` and
//! an admin `--token`) or, on a stopped appliance's `--data-dir`, through the same router in
//! process with a five-minute session of the admin named by `--as` (audited as
//! `session.operator`): the same rules apply either way, the two-person rule included.

use crate::admin::Target;
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;

/// `sesame admin users …`
#[derive(Debug, Subcommand)]
pub(crate) enum UsersCmd {
    /// List accounts.
    List,
    /// Show one account (with its groups).
    Show {
        /// Username.
        user: String,
    },
    /// Create an account; the password is read from standard input (one line).
    Create {
        /// Username.
        user: String,
        /// Roles: user, helpdesk, technician, admin (repeat or separate with commas).
        #[arg(long = "role", value_delimiter = ',')]
        roles: Vec<String>,
        /// The first login must choose a new password.
        #[arg(long)]
        must_change_password: bool,
    },
    /// Change roles, groups, or the enabled state.
    Set {
        /// Username.
        user: String,
        /// Exactly these roles.
        #[arg(long = "roles", value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// Exactly these groups (an empty value removes every group).
        #[arg(long = "groups", value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Disable the account (its sessions end).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the account.
        #[arg(long)]
        enable: bool,
    },
    /// Set a new password (read from standard input); the user changes it at next login.
    Password {
        /// Username.
        user: String,
    },
    /// Delete an account.
    Delete {
        /// Username.
        user: String,
    },
}

/// `sesame admin groups …`
#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCmd {
    /// List groups.
    List,
    /// Create a group.
    Create {
        /// Name (a-z, 0-9, -, _).
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a group (members leave it).
    Delete {
        /// Name.
        name: String,
    },
}

/// `sesame admin policy …`
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCmd {
    /// Show which roles and groups must use a second factor.
    Show,
    /// Set the requirement of a role or group: `role:NAME` or `group:NAME`, then `optional`,
    /// `required` (or `unset` for a group).
    Set {
        /// `role:NAME` or `group:NAME`.
        scope: String,
        /// `optional`, `required`, `unset`.
        requirement: String,
    },
}

/// `sesame admin sessions …`
#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCmd {
    /// List live sessions.
    List,
    /// End one session.
    End {
        /// Session id.
        id: i64,
    },
    /// End every session of an account.
    EndUser {
        /// Username.
        user: String,
    },
}

/// `sesame admin resets …`
#[derive(Debug, Subcommand)]
pub(crate) enum ResetsCmd {
    /// List second-factor resets.
    List,
    /// Approve a pending reset (a second admin).
    Approve {
        /// Request id.
        id: i64,
    },
}

/// A way to call the API.
enum Api {
    Online(authd::cli::ApiClient),
    Offline { router: axum::Router, token: String },
}

impl Api {
    async fn open(t: &Target) -> anyhow::Result<Api> {
        if let Some(dir) = &t.data_dir {
            let Some(admin) = t.as_admin.as_deref() else {
                bail!("with --data-dir, name the admin to act as with --as ADMIN");
            };
            return Self::offline(dir, admin).await;
        }
        Ok(Api::Online(t.client()?))
    }

    async fn offline(dir: &Path, admin: &str) -> anyhow::Result<Api> {
        if !dir.join(authd::store::sqlite::DB_FILE).exists() {
            bail!(
                "{} holds no Sesame store (is the data directory right?)",
                dir.display()
            );
        }
        let mut cfg = sesame_config::Config::default();
        cfg.server.data_dir = dir.to_path_buf();
        let store = std::sync::Arc::new(
            authd::store::sqlite::SqliteStore::open(dir)
                .with_context(|| format!("cannot open the store in {}", dir.display()))?,
        );
        let key = authd::secrets::MasterKey::load_or_create(dir)
            .with_context(|| format!("cannot read the master key in {}", dir.display()))?;
        let clock = std::sync::Arc::new(authd::clock::SystemClock);
        let app =
            authd::app::Authd::new(cfg, store, key, clock).map_err(|e| anyhow::anyhow!("{e}"))?;
        let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let now = app.now();
        let admin = admin.to_owned();
        let app2 = app.clone();
        let token = tokio::task::spawn_blocking(move || {
            authd::flows::admin::operator_session(&app2, &admin, &operator, now)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let router = authd::http::router(app).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Api::Offline {
            router,
            token: token.to_string(),
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, v) = match self {
            Api::Online(c) => c.call(method, path, body).await?,
            Api::Offline { router, token } => {
                use http_body_util::BodyExt;
                use tower::ServiceExt;
                let mut req = axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("authorization", format!("Bearer {token}"));
                let body = match body {
                    Some(b) => {
                        req = req.header("content-type", "application/json");
                        axum::body::Body::from(b.to_string())
                    }
                    None => axum::body::Body::empty(),
                };
                let mut req = req.body(body)?;
                req.extensions_mut().insert(authd::http::extract::PeerAddr(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                ));
                let resp = router.clone().oneshot(req).await?;
                let status = resp.status().as_u16();
                let bytes = resp.into_body().collect().await?.to_bytes();
                (
                    status,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                )
            }
        };
        if status >= 400 {
            bail!(
                "{}",
                v["error"]["message"]
                    .as_str()
                    .unwrap_or("the appliance refused the request")
            );
        }
        Ok(v)
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Print `v` as JSON, or `rows` of `list_key` as tab-separated `fields`.
fn print(t: &Target, v: &Value, list_key: &str, fields: &[&str]) {
    if t.json {
        println!("{v}");
        return;
    }
    match v[list_key].as_array() {
        Some(rows) => {
            for r in rows {
                let line: Vec<String> = fields.iter().map(|f| s(&r[*f])).collect();
                println!("{}", line.join("\t"));
            }
        }
        None => {
            let line: Vec<String> = fields.iter().map(|f| s(&v[*f])).collect();
            println!("{}", line.join("\t"));
        }
    }
}

const USER_FIELDS: &[&str] = &["username", "roles", "groups", "disabled"];

/// Run `sesame admin users …`.
pub(crate) async fn users(t: Target, cmd: UsersCmd) -> anyhow::Result<()> {
    let api = Api::open(&t).await?;
    match cmd {
        UsersCmd::List => {
            let v = api.call("GET", "/api/v1/users", None).await?;
            print(&t, &v, "users", USER_FIELDS);
        }
        UsersCmd::Show { user } => {
            let v = api
                .call("GET", &format!("/api/v1/users/{user}"), None)
                .await?;
            print(&t, &v, "", USER_FIELDS);
        }
        UsersCmd::Create {
            user,
            roles,
            must_change_password,
        } => {
            let password = read_password()?;
            let body = json!({"username": user, "password": password, "roles": roles,
                              "must_change_password": must_change_password});
            let v = api.call("POST", "/api/v1/users", Some(body)).await?;
            print(&t, &v, "", USER_FIELDS);
        }
        UsersCmd::Set {
            user,
            roles,
            groups,
            disable,
            enable,
        } => {
            let mut body = json!({});
            if let Some(r) = roles {
                body["roles"] = json!(r);
            }
            if let Some(g) = groups {
                let g: Vec<String> = g.into_iter().filter(|x| !x.is_empty()).collect();
                body["groups"] = json!(g);
            }
            if disable || enable {
                body["disabled"] = json!(disable);
            }
            if body.as_object().is_some_and(|m| m.is_empty()) {
                bail!("nothing to change: give --roles, --groups, --disable or --enable");
            }
            let v = api
                .call("PATCH", &format!("/api/v1/users/{user}"), Some(body))
                .await?;
            print(&t, &v, "", USER_FIELDS);
        }
        UsersCmd::Password { user } => {
            let password = read_password()?;
            api.call(
                "POST",
                &format!("/api/v1/users/{user}/password"),
                Some(json!({"password": password, "must_change_password": true})),
            )
            .await?;
            println!("Password of {user} set; they choose a new one at their next login.");
        }
        UsersCmd::Delete { user } => {
            api.call("DELETE", &format!("/api/v1/users/{user}"), None)
                .await?;
            println!("Deleted {user}.");
        }
    }
    Ok(())
}

/// Run `sesame admin groups …`.
pub(crate) async fn groups(t: Target, cmd: GroupsCmd) -> anyhow::Result<()> {
    let api = Api::open(&t).await?;
    let fields = &["name", "members", "description"];
    match cmd {
        GroupsCmd::List => {
            let v = api.call("GET", "/api/v1/groups", None).await?;
            print(&t, &v, "groups", fields);
        }
        GroupsCmd::Create { name, description } => {
            let v = api
                .call(
                    "POST",
                    "/api/v1/groups",
                    Some(json!({"name": name, "description": description})),
                )
                .await?;
            print(&t, &v, "", fields);
        }
        GroupsCmd::Delete { name } => {
            api.call("DELETE", &format!("/api/v1/groups/{name}"), None)
                .await?;
            println!("Deleted group {name}.");
        }
    }
    Ok(())
}

fn print_policy(t: &Target, v: &Value) {
    if t.json {
        println!("{v}");
        return;
    }
    for kind in ["roles", "groups"] {
        if let Some(m) = v[kind].as_object() {
            for (k, req) in m {
                let prefix = if kind == "roles" { "role" } else { "group" };
                println!("{prefix}:{k}\t{}", s(req));
            }
        }
    }
}

/// Run `sesame admin policy …`.
pub(crate) async fn policy(t: Target, cmd: PolicyCmd) -> anyhow::Result<()> {
    let api = Api::open(&t).await?;
    let v = match cmd {
        PolicyCmd::Show => api.call("GET", "/api/v1/mfa-policy", None).await?,
        PolicyCmd::Set { scope, requirement } => {
            let value = match requirement.as_str() {
                "optional" | "required" => json!(requirement),
                "unset" => Value::Null,
                other => bail!("the requirement is optional, required or unset, not \"{other}\""),
            };
            let body = match scope.split_once(':') {
                Some(("role", r)) => json!({"roles": {r: value}}),
                Some(("group", g)) => json!({"groups": {g: value}}),
                _ => bail!("the scope is role:NAME or group:NAME, not \"{scope}\""),
            };
            api.call("PUT", "/api/v1/mfa-policy", Some(body)).await?
        }
    };
    print_policy(&t, &v);
    Ok(())
}

/// Run `sesame admin sessions …`.
pub(crate) async fn sessions(t: Target, cmd: SessionsCmd) -> anyhow::Result<()> {
    let api = Api::open(&t).await?;
    match cmd {
        SessionsCmd::List => {
            let v = api.call("GET", "/api/v1/sessions", None).await?;
            let fields = &[
                "id",
                "username",
                "address",
                "method",
                "created_at",
                "last_seen_at",
            ];
            print(&t, &v, "sessions", fields);
        }
        SessionsCmd::End { id } => {
            api.call("DELETE", &format!("/api/v1/sessions/{id}"), None)
                .await?;
            println!("Ended session {id}.");
        }
        SessionsCmd::EndUser { user } => {
            let v = api
                .call("DELETE", &format!("/api/v1/users/{user}/sessions"), None)
                .await?;
            println!("Ended {} sessions of {user}.", s(&v["ended"]));
        }
    }
    Ok(())
}

/// Run `sesame admin resets …`.
pub(crate) async fn resets(t: Target, cmd: ResetsCmd) -> anyhow::Result<()> {
    let api = Api::open(&t).await?;
    let fields = &[
        "id",
        "target",
        "state",
        "requested_by",
        "approved_by",
        "expires_at",
    ];
    match cmd {
        ResetsCmd::List => {
            let v = api.call("GET", "/api/v1/mfa-resets", None).await?;
            print(&t, &v, "resets", fields);
        }
        ResetsCmd::Approve { id } => {
            let v = api
                .call(
                    "POST",
                    &format!("/api/v1/mfa-resets/{id}/approve"),
                    Some(json!({})),
                )
                .await?;
            print(&t, &v, "", fields);
        }
    }
    Ok(())
}
