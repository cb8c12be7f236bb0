//! `support-console`: the technician's terminal program. Every action is a subcommand, so it
//! can be scripted; missing login answers are asked on the terminal.

use super::RelayTarget;
use crate::client::console::{self, LoginPrompt};
use crate::client::{ClientError, Mux};
use crate::proto::Control;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sesame support console: log in, create session keys, chat, run commands, transfer files,
/// forward ports, share sessions — one subcommand per action.
#[derive(Debug, Parser)]
#[command(name = "support-console", version, about)]
pub struct Cli {
    #[command(flatten)]
    target: RelayTarget,
    /// Where the authd session of `login` is kept (mode 0600).
    #[arg(long, env = "SUPPORT_SESSION_FILE", value_name = "FILE", global = true)]
    session_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Log in (username, password, second factor) and keep the session for the other commands.
    Login {
        /// Username (asked if missing).
        #[arg(long)]
        user: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Second-factor method (`totp`, `backup_code`, ...; default: the first offered).
        #[arg(long)]
        method: Option<String>,
        /// Second-factor code (asked if missing).
        #[arg(long)]
        code: Option<String>,
        /// New password, when authd asks for a change.
        #[arg(long)]
        new_password: Option<String>,
    },
    /// Forget the saved session.
    Logout,
    /// Show who the saved session belongs to.
    Whoami,
    /// Session keys.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Run a command in the customer's shell (after the customer consents); prints its output
    /// and exits with its status.
    Run {
        /// Session key or id.
        key: String,
        /// Seconds to wait for the customer to connect.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// The command.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Send a chat line.
    Chat {
        /// Session key or id.
        key: String,
        /// The text.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Follow a session: print chat and events; standard input lines are sent as chat.
    Watch {
        /// Session key or id.
        key: String,
    },
    /// The session's record so far (one JSON event per line).
    History {
        /// Session key or id.
        key: String,
    },
    /// Send a file to the customer.
    Push {
        /// Session key or id.
        key: String,
        /// Local file.
        file: PathBuf,
        /// Name on the customer's side (default: the local file name).
        #[arg(long = "as")]
        name: Option<String>,
        /// Seconds to wait for the customer to connect.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Fetch a file from the customer.
    Pull {
        /// Session key or id.
        key: String,
        /// File name on the customer's side.
        name: String,
        /// Local path (default: the same name in the current directory).
        local: Option<PathBuf>,
        /// Seconds to wait for the customer to connect.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Forward a local TCP port to HOST:PORT reachable from the customer (after consent).
    Forward {
        /// Session key or id.
        key: String,
        /// Local port (0 = any free port, printed).
        local_port: u16,
        /// Target as seen from the customer's machine.
        target: String,
        /// Local address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Seconds to wait for the customer to connect.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Invite another technician (by e-mail when they are in extended availability).
    Invite {
        /// Session key or id.
        key: String,
        /// Their username.
        user: String,
    },
    /// Accept an invitation with its code.
    Accept {
        /// The code.
        code: String,
    },
    /// Give the session to another member.
    Transfer {
        /// Session key or id.
        key: String,
        /// The new owner.
        user: String,
    },
    /// Leave a session you do not own.
    Leave {
        /// Session key or id.
        key: String,
    },
    /// End a session you own.
    End {
        /// Session key or id.
        key: String,
    },
    /// Extended availability: invitations by e-mail.
    Availability {
        /// `on` or `off`.
        state: OnOff,
        /// Where invitations go (with `on`).
        #[arg(long)]
        email: Option<String>,
    },
    /// Invitations waiting for you, and customers in the queue.
    Pending,
    /// Take a customer from the queue.
    Pick {
        /// Queue entry id.
        id: String,
    },
    /// Administration (role admin).
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Check for (`--check`) or install a newer console, signed by the appliance.
    Update(super::update::UpdateArgs),
    /// Smart cards: list local readers, share one reader's card into a session.
    Smartcard {
        #[command(subcommand)]
        cmd: super::smartcard::SmartcardCmd,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Create a session and its one-time key; prints the key.
    New,
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Live sessions and records.
    List,
    /// A session's record.
    Show {
        /// Session id.
        session: String,
    },
    /// End a live session.
    End {
        /// Session id.
        session: String,
    },
}

struct Prompt {
    user: Option<String>,
    password: Option<String>,
    method: Option<String>,
    code: Option<String>,
    new_password: Option<String>,
}

fn read_line(hint: &str) -> Option<String> {
    eprint!("{hint}: ");
    let _ = std::io::stderr().flush();
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s).ok()?;
    let s = s.trim_end_matches(['\r', '\n']).to_owned();
    (!s.is_empty()).then_some(s)
}

impl LoginPrompt for Prompt {
    fn ask(&mut self, what: &str, hint: &str) -> Option<String> {
        let have = match what {
            "username" => self.user.take(),
            "password" => self.password.take(),
            "code" => self.code.take(),
            "new_password" => self.new_password.take(),
            _ => None,
        };
        have.or_else(|| read_line(hint))
    }
    fn method(&mut self, methods: &[String]) -> Option<String> {
        match &self.method {
            Some(m) => Some(m.clone()),
            None => methods.first().cloned(),
        }
    }
    fn show(&mut self, text: &str) {
        println!("{text}");
        let _ = std::io::stdout().flush();
    }
}

/// Entry point of the binary.
pub async fn main() -> ExitCode {
    super::init_logging("warn");
    let cli: Cli = super::update::parse_with_version();
    if !matches!(cli.cmd, Cmd::Update(_) | Cmd::Login { .. } | Cmd::Logout) {
        super::update::spawn_auto_update();
    }
    match run(cli).await {
        Ok(code) => code,
        Err(e) => super::fail(&e),
    }
}

fn session_file(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cli.session_file {
        return Ok(p.clone());
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --session-file")?;
    Ok(PathBuf::from(home).join(".config/sesame/console-session"))
}

async fn authed(cli: &Cli) -> anyhow::Result<Mux> {
    let path = session_file(cli)?;
    let token = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "not logged in (no session in {}); run `support-console login`",
            path.display()
        )
    })?;
    let mut mux = cli.target.connect().await?;
    console::authenticate(&mut mux, token.trim()).await?;
    Ok(mux)
}

async fn attached(cli: &Cli, key: &str, wait: u64) -> anyhow::Result<Mux> {
    let mut mux = authed(cli).await?;
    console::attach(&mut mux, key, wait).await?;
    Ok(mux)
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.cmd {
        Cmd::Update(args) => return Ok(super::update::run(args).await),
        Cmd::Login {
            user,
            password_stdin,
            method,
            code,
            new_password,
        } => {
            let password = if *password_stdin {
                let mut s = String::new();
                std::io::stdin().lock().read_line(&mut s)?;
                Some(s.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let mut p = Prompt {
                user: user.clone(),
                password,
                method: method.clone(),
                code: code.clone(),
                new_password: new_password.clone(),
            };
            let mut mux = cli.target.connect().await?;
            let token = console::login(&mut mux, &mut p).await?;
            let (username, roles) = console::authenticate(&mut mux, &token).await?;
            let path = session_file(&cli)?;
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            crate::tls::write_private(&path, token.as_bytes())
                .with_context(|| format!("cannot save the session in {}", path.display()))?;
            println!("Logged in as {username} ({})", roles.join(", "));
            super::update::after_login(&token).await;
        }
        Cmd::Logout => {
            let path = session_file(&cli)?;
            let _ = std::fs::remove_file(&path);
            println!("Logged out");
        }
        Cmd::Whoami => {
            let path = session_file(&cli)?;
            let token = std::fs::read_to_string(&path).context("not logged in")?;
            let mut mux = cli.target.connect().await?;
            let (u, r) = console::authenticate(&mut mux, token.trim()).await?;
            println!("{u} ({})", r.join(", "));
        }
        Cmd::Key { cmd: KeyCmd::New } => {
            let mut mux = authed(&cli).await?;
            match mux.request(&Control::KeyNew {}).await? {
                Control::KeyCreated {
                    key,
                    session,
                    expires_at,
                } => {
                    println!("{key}");
                    eprintln!(
                        "session {session}; the key is valid once, until {expires_at} (Unix time)"
                    );
                }
                other => anyhow::bail!("unexpected answer: {other:?}"),
            }
        }
        Cmd::Run { key, wait, command } => {
            let mux = attached(&cli, key, *wait).await?;
            let cmd = command.join(" ");
            let status = console::run(&mux, &cmd, &mut std::io::stdout()).await?;
            eprintln!("exit status {status}");
            return Ok(ExitCode::from(status.clamp(0, 255) as u8));
        }
        Cmd::Chat { key, text } => {
            let mut mux = attached(&cli, key, 0).await?;
            mux.send(&Control::Chat {
                from: String::new(),
                text: text.join(" "),
            })?;
            // The relay echoes the line to every member: that confirms it was recorded.
            loop {
                match mux.next_control().await {
                    Some(Control::Chat { .. }) | None => break,
                    Some(_) => continue,
                }
            }
        }
        Cmd::Watch { key } => {
            let mut mux = attached(&cli, key, 0).await?;
            let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
            std::thread::spawn(move || {
                for l in std::io::stdin().lock().lines() {
                    let Ok(l) = l else { break };
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            loop {
                tokio::select! {
                    m = mux.next_control() => match m {
                        Some(Control::Chat { from, text }) => println!("[{from}] {text}"),
                        Some(Control::Event { event, detail }) => println!("* {event} {detail}"),
                        Some(Control::Ended { reason }) => { println!("session ended ({reason})"); break; }
                        Some(Control::Error { message, .. }) => anyhow::bail!("{message}"),
                        Some(_) => {}
                        None => anyhow::bail!("the relay closed the connection"),
                    },
                    Some(l) = lines.recv() => {
                        if !l.trim().is_empty() {
                            mux.send(&Control::Chat { from: String::new(), text: l })?;
                        }
                    }
                }
            }
        }
        Cmd::History { key } => {
            let mut mux = attached(&cli, key, 0).await?;
            let v = mux.call(&Control::History {}).await?;
            for e in v["events"].as_array().into_iter().flatten() {
                println!("{e}");
            }
        }
        Cmd::Push {
            key,
            file,
            name,
            wait,
        } => {
            let mux = attached(&cli, key, *wait).await?;
            let name = match name {
                Some(n) => n.clone(),
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .context("the file has no name")?,
            };
            let (size, sha) = console::push(&mux, file, &name).await?;
            println!("sent {name}: {size} bytes, sha256 {sha} (verified by the customer)");
        }
        Cmd::Pull {
            key,
            name,
            local,
            wait,
        } => {
            let mux = attached(&cli, key, *wait).await?;
            let local = local.clone().unwrap_or_else(|| PathBuf::from(name));
            let (size, sha) = console::pull(&mux, name, &local).await?;
            println!(
                "received {}: {size} bytes, sha256 {sha} (verified)",
                local.display()
            );
        }
        Cmd::Forward {
            key,
            local_port,
            target,
            bind,
            wait,
        } => {
            let mux = attached(&cli, key, *wait).await?;
            let l = tokio::net::TcpListener::bind((bind.as_str(), *local_port))
                .await
                .with_context(|| format!("cannot listen on {bind}:{local_port}"))?;
            println!("forwarding {} -> {target}", l.local_addr()?);
            match console::forward(mux, l, target).await {
                Err(ClientError::Closed) => anyhow::bail!("the session ended"),
                r => r?,
            }
        }
        Cmd::Invite { key, user } => {
            let mut mux = attached(&cli, key, 0).await?;
            let v = mux.call(&Control::Invite { user: user.clone() }).await?;
            println!("invited {user} (via {})", v["via"].as_str().unwrap_or("?"));
        }
        Cmd::Accept { code } => {
            let mut mux = authed(&cli).await?;
            let v = mux
                .call(&Control::AcceptInvite { code: code.clone() })
                .await?;
            println!("{}", v["session"].as_str().unwrap_or(""));
            eprintln!("joined session {} (owner {})", v["session"], v["owner"]);
        }
        Cmd::Transfer { key, user } => {
            let mut mux = attached(&cli, key, 0).await?;
            mux.call(&Control::Transfer { user: user.clone() }).await?;
            println!("{user} now owns the session");
        }
        Cmd::Leave { key } => {
            let mut mux = attached(&cli, key, 0).await?;
            mux.call(&Control::Leave {}).await?;
            println!("left the session");
        }
        Cmd::End { key } => {
            let mut mux = attached(&cli, key, 0).await?;
            mux.call(&Control::End {
                session: String::new(),
            })
            .await?;
            println!("session ended");
        }
        Cmd::Availability { state, email } => {
            let mut mux = authed(&cli).await?;
            let extended = matches!(state, OnOff::On);
            mux.call(&Control::Availability {
                extended,
                email: email.clone().unwrap_or_default(),
            })
            .await?;
            println!(
                "extended availability {}",
                if extended { "on" } else { "off" }
            );
        }
        Cmd::Pending => {
            let mut mux = authed(&cli).await?;
            print_json(&mux.call(&Control::Pending {}).await?);
        }
        Cmd::Pick { id } => {
            let mut mux = authed(&cli).await?;
            let v = mux.call(&Control::Pick { id: id.clone() }).await?;
            println!("{}", v["session"].as_str().unwrap_or(""));
        }
        Cmd::Smartcard { cmd } => {
            let mux = match cmd.session() {
                Some((key, wait)) => Some(attached(&cli, key, wait).await?),
                None => None,
            };
            return super::smartcard::run(cmd, mux).await;
        }
        Cmd::Admin { cmd } => {
            let mut mux = authed(&cli).await?;
            let v = match cmd {
                AdminCmd::List => mux.call(&Control::AdminList {}).await?,
                AdminCmd::Show { session } => {
                    mux.call(&Control::AdminShow {
                        session: session.clone(),
                    })
                    .await?
                }
                AdminCmd::End { session } => {
                    mux.call(&Control::End {
                        session: session.clone(),
                    })
                    .await?
                }
            };
            print_json(&v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
