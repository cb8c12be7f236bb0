//! `sesame admin console …`: the support console's packages and updates.
//!
//! Offline on the data directory (like `backup`): `package` builds an installable package for
//! this platform, `publish` makes one the current signed update and the `/download` file,
//! `rotate-keys` replaces the update signing keys. Online against a running appliance
//! (`--url` and `--token`, like `users`): `installs`, `revoke`, `deploy-token new|list|revoke`, over
//! `/api/v1/console-installs` and `/api/v1/deploy-tokens`. The work is in `console_updates.rs`.

use crate::admin::Target;
use crate::console_updates::{self as cu, PackageRequest};
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `sesame admin console …`
#[derive(Debug, Subcommand)]
pub(crate) enum ConsoleCmd {
    /// Build the console package for this platform (linux-x86_64) from the console binaries.
    Package {
        /// Data directory of the appliance (its update repository is created on first use).
        #[arg(long, value_name = "DIR", default_value = "./sesame-data")]
        data_dir: PathBuf,
        /// Configuration file (for `[updates]`, `server.listen`, `tls`).
        #[arg(long, value_name = "FILE", env = "SESAME_CONFIG")]
        config: Option<PathBuf>,
        /// Version of the package, MAJOR.MINOR.PATCH.
        #[arg(long)]
        version: String,
        /// The directory holding `support-console` and `support-customer`, or the
        /// `support-console` file (default: the directory of this `sesame` executable).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// The appliance URL consoles use, https://HOST:PORT (default: from server.listen,
        /// `localhost` for an unspecified address).
        #[arg(long, value_name = "URL")]
        relay_url: Option<String>,
        /// Output file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Make a package the current console update (signed) and the one `/download` serves.
    Publish {
        /// Data directory of the appliance.
        #[arg(long, value_name = "DIR", default_value = "./sesame-data")]
        data_dir: PathBuf,
        /// Configuration file (for `[updates]`).
        #[arg(long, value_name = "FILE", env = "SESAME_CONFIG")]
        config: Option<PathBuf>,
        /// The package.
        file: PathBuf,
    },
    /// Replace every update signing key (the new root is signed by the old and the new root
    /// key) and re-sign the published package with the new keys.
    RotateKeys {
        /// Data directory of the appliance.
        #[arg(long, value_name = "DIR", default_value = "./sesame-data")]
        data_dir: PathBuf,
        /// Configuration file (for `[updates]`).
        #[arg(long, value_name = "FILE", env = "SESAME_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List console installations (install id, user, version, platform, last seen).
    Installs {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke an installation's update token.
    Revoke {
        /// The install id.
        install_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Deploy tokens: consoles installed with one update before their first login.
    DeployToken {
        #[command(subcommand)]
        cmd: DeployCmd,
    },
}

/// `sesame admin console deploy-token …`
#[derive(Debug, Subcommand)]
pub(crate) enum DeployCmd {
    /// Create a deploy token (shown once).
    New {
        /// What it is for.
        #[arg(long)]
        label: String,
        /// Validity, e.g. 30d (1h to 366d; default 30d).
        #[arg(long)]
        valid_for: Option<String>,
        /// How many installations may register with it (default 100).
        #[arg(long)]
        max_installs: Option<u64>,
        #[command(flatten)]
        target: Target,
    },
    /// List deploy tokens.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a deploy token.
    Revoke {
        /// Its id.
        id: i64,
        #[command(flatten)]
        target: Target,
    },
}

fn config(file: Option<&Path>, data_dir: &Path) -> anyhow::Result<sesame_config::Config> {
    let mut cfg = sesame_config::load(file, std::env::vars())?;
    cfg.server.data_dir = data_dir.to_path_buf();
    cfg.validate()?;
    Ok(cfg)
}

fn now() -> std::time::SystemTime {
    #[allow(
        clippy::disallowed_methods,
        reason = "the CLI is the edge: it reads the clock once and passes it down"
    )]
    std::time::SystemTime::now()
}

/// The appliance URL consoles use when `--relay-url` is not given.
fn default_relay_url(cfg: &sesame_config::Config) -> String {
    let l = cfg.server.listen;
    let host = if l.ip().is_unspecified() || l.ip().is_loopback() {
        "localhost".to_owned()
    } else if l.is_ipv6() {
        format!("[{}]", l.ip())
    } else {
        l.ip().to_string()
    };
    format!("https://{host}:{}/", l.port())
}

/// The appliance's self-signed certificate, which consoles then trust (none when the
/// configuration names a real certificate).
fn self_signed_cert(cfg: &sesame_config::Config) -> anyhow::Result<Option<String>> {
    if cfg.tls.cert_file.is_some() {
        return Ok(None);
    }
    let p = cfg.server.data_dir.join("tls/cert.pem");
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn offline(cmd: ConsoleCmd) -> anyhow::Result<()> {
    match cmd {
        ConsoleCmd::Package {
            data_dir,
            config: file,
            version,
            binary,
            relay_url,
            out,
        } => {
            let version = version
                .parse()
                .map_err(|e| anyhow::anyhow!("--version: {e}"))?;
            let cfg = config(file.as_deref(), &data_dir)?;
            let relay_url = relay_url.unwrap_or_else(|| default_relay_url(&cfg));
            let req = PackageRequest {
                data_dir: &data_dir,
                version,
                binary: binary.as_deref(),
                relay_url,
                relay_ca_pem: self_signed_cert(&cfg)?,
                out: &out,
            };
            cu::package(&req, now(), cu::expiries(&cfg.updates))?;
            println!(
                "Built {} (sesame-console {version} for linux-x86_64).",
                out.display()
            );
        }
        ConsoleCmd::Publish {
            data_dir,
            config: file,
            file: package,
        } => {
            let cfg = config(file.as_deref(), &data_dir)?;
            let v = cu::publish(&data_dir, &package, now(), cu::expiries(&cfg.updates))?;
            println!(
                "Published sesame-console {v}: consoles update to it, and /download/console/linux-x86_64 serves it."
            );
        }
        ConsoleCmd::RotateKeys {
            data_dir,
            config: file,
        } => {
            let cfg = config(file.as_deref(), &data_dir)?;
            let e = cu::expiries(&cfg.updates);
            let t = now();
            let dir = data_dir.join(cu::UPDATES_DIR);
            let repo = installer::repo::Repository::open(&dir)
                .context("there is no update repository to rotate (publish a package first)")?;
            repo.rotate_keys(t, e)?;
            let pkg = cu::download_file(&data_dir, installer::manifest::PLATFORM_LINUX_X86_64);
            if pkg.exists() {
                repo.publish(&pkg, t, e)?;
            }
            println!(
                "Rotated the update signing keys; the old root key is kept in {} (move it offline). Build new packages: they carry the new root.",
                dir.join("keys").display()
            );
        }
        _ => bail!("this command needs a running appliance (--url and --token)"),
    }
    Ok(())
}

fn refused(body: &Value) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        body["error"]["message"]
            .as_str()
            .unwrap_or("the appliance refused the request")
    )
}

async fn call(t: &Target, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let (status, v) = t.client()?.call(method, path, body).await?;
    if status >= 400 {
        return Err(refused(&v));
    }
    Ok(v)
}

fn s(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// Run `sesame admin console …`.
pub(crate) async fn run(cmd: ConsoleCmd) -> anyhow::Result<()> {
    match cmd {
        ConsoleCmd::Installs { target } => {
            let v = call(&target, "GET", "/api/v1/console-installs", None).await?;
            if target.json {
                println!("{v}");
                return Ok(());
            }
            let list = v["installs"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("No console is registered.");
            }
            for i in list {
                println!(
                    "{}\t{}\t{}\t{}\tlast seen {}{}",
                    s(&i["install_id"]),
                    if i["user"].is_null() {
                        format!("(deploy token {})", s(&i["deploy_token"]))
                    } else {
                        s(&i["user"])
                    },
                    s(&i["version"]),
                    s(&i["platform"]),
                    s(&i["last_seen_at"]),
                    if i["revoked"] == true {
                        "\trevoked"
                    } else {
                        ""
                    }
                );
            }
        }
        ConsoleCmd::Revoke { install_id, target } => {
            if install_id.is_empty()
                || !install_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                bail!("an install id is letters, digits and dashes");
            }
            call(
                &target,
                "DELETE",
                &format!("/api/v1/console-installs/{install_id}"),
                None,
            )
            .await?;
            println!("Revoked the update token of installation {install_id}.");
        }
        ConsoleCmd::DeployToken { cmd } => deploy(cmd).await?,
        offline_cmd => tokio::task::spawn_blocking(move || offline(offline_cmd)).await??,
    }
    Ok(())
}

async fn deploy(cmd: DeployCmd) -> anyhow::Result<()> {
    match cmd {
        DeployCmd::New {
            label,
            valid_for,
            max_installs,
            target,
        } => {
            let v = call(
                &target,
                "POST",
                "/api/v1/deploy-tokens",
                Some(json!({"label": label, "valid_for": valid_for, "max_installs": max_installs})),
            )
            .await?;
            if target.json {
                println!("{v}");
            } else {
                println!("{}", s(&v["token"]));
                eprintln!(
                    "deploy token {} (shown once): up to {} installations, until {}; install with DEPLOYTOKEN=<token>",
                    v["id"],
                    v["max_installs"],
                    s(&v["expires_at"])
                );
            }
        }
        DeployCmd::List { target } => {
            let v = call(&target, "GET", "/api/v1/deploy-tokens", None).await?;
            if target.json {
                println!("{v}");
                return Ok(());
            }
            let list = v["deploy_tokens"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("No deploy token.");
            }
            for d in list {
                println!(
                    "{}\t{}\t{}/{} installs\tuntil {}{}",
                    d["id"],
                    s(&d["label"]),
                    d["installs"],
                    d["max_installs"],
                    s(&d["expires_at"]),
                    if d["revoked"] == true {
                        "\trevoked"
                    } else {
                        ""
                    }
                );
            }
        }
        DeployCmd::Revoke { id, target } => {
            call(
                &target,
                "DELETE",
                &format!("/api/v1/deploy-tokens/{id}"),
                None,
            )
            .await?;
            println!("Revoked deploy token {id}.");
        }
    }
    Ok(())
}
