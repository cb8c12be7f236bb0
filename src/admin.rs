//! `sesame admin …`: administration from the command line, either against a running
//! appliance over its API (`--url` + `--token`, an admin session) or directly on the data
//! directory of a stopped one (`--data-dir`). Every change is audited with actor `cli`.

use anyhow::{Context, bail};
use authd::guard::rules::canonical;
use authd::model::{AuditEvent, Outcome};
use authd::store::sqlite::SqliteStore;
use authd::store::{GuardStore, Suspension};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Where the appliance is.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Data directory of a stopped appliance.
    #[arg(long, value_name = "DIR", conflicts_with = "url", global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// With --data-dir: the admin account to act as (for users, groups, policy, sessions,
    /// resets; audited as `session.operator`).
    #[arg(
        long = "as",
        value_name = "ADMIN",
        requires = "data_dir",
        global = true
    )]
    pub(crate) as_admin: Option<String>,
    /// URL of a running appliance, e.g. https://127.0.0.1:8443
    #[arg(long, value_name = "URL", requires = "token", global = true)]
    url: Option<String>,
    /// Session token of an admin (from `POST /api/v1/login`).
    #[arg(
        long,
        env = "SESAME_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// PEM certificate to trust for --url (default: <data dir>/tls/cert.pem of ./sesame-data).
    #[arg(long, value_name = "PEM", global = true)]
    ca_cert: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

impl Target {
    /// An API client for `--url`, trusting `--ca-cert`.
    pub(crate) fn client(&self) -> anyhow::Result<authd::cli::ApiClient> {
        let Some(url) = self.url.as_deref() else {
            bail!("say where the appliance is: --url URL --token TOKEN, or --data-dir DIR");
        };
        let ca = self
            .ca_cert
            .clone()
            .unwrap_or_else(|| PathBuf::from("./sesame-data/tls/cert.pem"));
        let pem = std::fs::read_to_string(&ca).with_context(|| {
            format!(
                "cannot read the certificate to trust, {} (use --ca-cert)",
                ca.display()
            )
        })?;
        Ok(authd::cli::ApiClient::new(
            url,
            self.token.as_deref().unwrap_or(""),
            &pem,
        )?)
    }
}

/// `sesame admin suspensions …`
#[derive(Debug, Subcommand)]
pub(crate) enum SuspensionCmd {
    /// List suspended addresses.
    List {
        /// Only this reason (failed_logins, flood, forbidden_requests, or a manual reason).
        #[arg(long)]
        reason: Option<String>,
        /// Only addresses containing this text.
        #[arg(long)]
        address: Option<String>,
    },
    /// Lift the suspension of ADDRESS (or every one with --all).
    Lift {
        /// Address or CIDR range.
        address: Option<String>,
        /// Lift every suspension.
        #[arg(long, conflicts_with = "address")]
        all: bool,
    },
    /// Suspend an address or range by hand.
    Add {
        /// Address or CIDR range.
        address: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// How long (e.g. 2h, 7d); without it, until lifted.
        #[arg(long)]
        duration: Option<String>,
    },
}

fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // the CLI is the edge: it reads the clock once
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn audit(action: &'static str, target: Option<String>, detail: Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        actor: Some("cli".into()),
        action,
        target,
        outcome: Outcome::Success,
        address: "local".into(),
        user_agent: "sesame admin".into(),
        detail,
    }
}

fn key_of(address: &str) -> anyhow::Result<String> {
    let net = authd::guard::rules::parse_net(address).map_err(anyhow::Error::msg)?;
    Ok(if net.prefix_len() == net.max_prefix_len() {
        canonical(net.addr()).to_string()
    } else {
        net.to_string()
    })
}

fn print_list(list: &[Value], as_json: bool) {
    if as_json {
        println!("{}", json!({ "suspensions": list }));
        return;
    }
    if list.is_empty() {
        println!("No address is suspended.");
    }
    for s in list {
        let s = |k: &str| {
            s[k].as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| s[k].to_string())
        };
        println!(
            "{}\t{}\tcount {}\tlast seen {}\tuntil {}",
            s("address"),
            s("reason"),
            s("count"),
            s("last_seen"),
            s("expires_at").replace("null", "lifted by an admin")
        );
    }
}

fn offline(dir: &std::path::Path, cmd: &SuspensionCmd, as_json: bool) -> anyhow::Result<()> {
    if !dir.join(authd::store::sqlite::DB_FILE).exists() {
        bail!(
            "{} holds no Sesame store (is the data directory right?)",
            dir.display()
        );
    }
    let store = SqliteStore::open(dir)
        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
    match cmd {
        SuspensionCmd::List { reason, address } => {
            let list: Vec<Value> = store
                .suspensions(now())?
                .iter()
                .filter(|s| reason.as_deref().is_none_or(|r| s.reason == r))
                .filter(|s| address.as_deref().is_none_or(|a| s.address.contains(a)))
                .map(authd::http::api_guard::suspension_json)
                .collect();
            print_list(&list, as_json);
        }
        SuspensionCmd::Lift { address, all } => {
            let key = match (address, all) {
                (Some(a), false) => Some(key_of(a)?),
                (None, true) => None,
                _ => bail!("name an ADDRESS to lift, or use --all"),
            };
            let n = store.lift(
                key.as_deref(),
                now(),
                audit(
                    "suspension.lift",
                    key.clone(),
                    json!({ "all": key.is_none() }),
                ),
            )?;
            if n == 0 && key.is_some() {
                bail!("{} is not suspended", key.unwrap_or_default());
            }
            println!("Lifted {n} suspension{}.", if n == 1 { "" } else { "s" });
        }
        SuspensionCmd::Add {
            address,
            reason,
            duration,
        } => {
            let key = key_of(address)?;
            let expires_at = match duration {
                Some(d) => Some(
                    now()
                        + sesame_config::parse_duration(d)
                            .map_err(|e| anyhow::anyhow!("--duration: {e}"))?
                            .as_secs() as i64,
                ),
                None => None,
            };
            let t = now();
            let s = Suspension {
                address: key.clone(),
                reason: reason.clone(),
                count: 0,
                first_seen: t,
                last_seen: t,
                expires_at,
                created_by: Some("cli".into()),
            };
            store.suspend(
                s,
                audit(
                    "suspension.add",
                    Some(key.clone()),
                    json!({ "reason": reason }),
                ),
            )?;
            println!("Suspended {key}.");
        }
    }
    Ok(())
}

async fn online(t: &Target, url: &str, cmd: &SuspensionCmd) -> anyhow::Result<()> {
    let ca = t
        .ca_cert
        .clone()
        .unwrap_or_else(|| PathBuf::from("./sesame-data/tls/cert.pem"));
    let pem = std::fs::read_to_string(&ca).with_context(|| {
        format!(
            "cannot read the certificate to trust, {} (use --ca-cert)",
            ca.display()
        )
    })?;
    let client = authd::cli::ApiClient::new(url, t.token.as_deref().unwrap_or(""), &pem)?;
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('/', "%2F")
            .replace(':', "%3A")
    };
    let (status, body) = match cmd {
        SuspensionCmd::List { reason, address } => {
            let mut q = Vec::new();
            if let Some(r) = reason {
                q.push(format!("reason={}", enc(r)))
            }
            if let Some(a) = address {
                q.push(format!("address={}", enc(a)))
            }
            client
                .call("GET", &format!("/api/v1/suspensions?{}", q.join("&")), None)
                .await?
        }
        SuspensionCmd::Lift {
            address: Some(a),
            all: false,
        } => {
            client
                .call("DELETE", &format!("/api/v1/suspensions/{}", enc(a)), None)
                .await?
        }
        SuspensionCmd::Lift {
            address: None,
            all: true,
        } => client.call("DELETE", "/api/v1/suspensions", None).await?,
        SuspensionCmd::Lift { .. } => bail!("name an ADDRESS to lift, or use --all"),
        SuspensionCmd::Add {
            address,
            reason,
            duration,
        } => {
            client
                .call(
                    "POST",
                    "/api/v1/suspensions",
                    Some(json!({ "address": address, "reason": reason, "duration": duration })),
                )
                .await?
        }
    };
    if status >= 400 {
        bail!(
            "{}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("the appliance refused the request")
        );
    }
    match cmd {
        SuspensionCmd::List { .. } => print_list(
            body["suspensions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            t.json,
        ),
        _ if t.json => println!("{body}"),
        SuspensionCmd::Lift { .. } => println!("Lifted {} suspension(s).", body["lifted"]),
        SuspensionCmd::Add { .. } => {
            println!("Suspended {}.", body["address"].as_str().unwrap_or(""))
        }
    }
    Ok(())
}

/// Run `sesame admin suspensions …`.
pub(crate) async fn suspensions(t: Target, cmd: SuspensionCmd) -> anyhow::Result<()> {
    match &t.url {
        Some(url) => online(&t, url, &cmd).await,
        None => {
            let dir = t
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("./sesame-data"));
            tokio::task::spawn_blocking(move || offline(&dir, &cmd, t.json)).await?
        }
    }
}

/// `sesame admin mfa-reset USER`: reset an account's second factors. Online, this files the
/// request like `POST /api/v1/users/{u}/mfa-reset` (two-person rule and step-up included). On a
/// stopped appliance's data directory it is the way out when too few admins exist: it applies
/// at once, without approval, and the audit trail says so.
pub(crate) async fn mfa_reset(t: Target, user: String) -> anyhow::Result<()> {
    if let Some(dir) = &t.data_dir {
        if !dir.join(authd::store::sqlite::DB_FILE).exists() {
            bail!(
                "{} holds no Sesame store (is the data directory right?)",
                dir.display()
            );
        }
        let store = SqliteStore::open(dir)
            .with_context(|| format!("cannot open the store in {}", dir.display()))?;
        let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let o = authd::flows::resets::offline(&store, &user, &operator, now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!(
            "WARNING: the second factors of {user} were reset offline, without any admin's \
             approval; this is recorded in the audit trail."
        );
        println!(
            "Reset {user}: {} TOTP devices, {} backup codes, {} keys removed; {} sessions ended.",
            o.totp_devices, o.backup_codes, o.keys, o.sessions
        );
        return Ok(());
    }
    let client = t.client()?;
    let (status, body) = client
        .call(
            "POST",
            &format!("/api/v1/users/{user}/mfa-reset"),
            Some(json!({})),
        )
        .await?;
    if status >= 400 {
        bail!(
            "{}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("the appliance refused the reset")
        );
    }
    if t.json {
        println!("{body}");
    } else if body["state"] == "pending" {
        println!(
            "Reset of {user} filed as request {}: a second admin must approve it before {}.",
            body["id"], body["expires_at"]
        );
    } else {
        println!("Reset {user}: {}", body["removed"]);
    }
    Ok(())
}
