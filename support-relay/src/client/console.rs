//! The technician's operations, each over one connection: log in (generic login steps through
//! the relay), authenticate with the saved authd session, then one command.

use super::{ChanEvent, ClientError, Mux};
use crate::proto::Control;
use crate::proto::control::ChannelKind;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// Answers the console can give to login steps (asked interactively by the CLI when missing).
pub trait LoginPrompt {
    /// A value for `what` (`username`, `password`, `code`, `new_password`, `new_pin`); `None`
    /// when it cannot be had.
    fn ask(&mut self, what: &str, hint: &str) -> Option<String>;
    /// The second-factor method to use among `methods`.
    fn method(&mut self, methods: &[String]) -> Option<String>;
    /// Show the user something they need (the new authenticator's `otpauth://` URI and secret
    /// when authd requires enrolment at login).
    fn show(&mut self, _text: &str) {}
}

fn refused(v: &Value, status: u16) -> ClientError {
    ClientError::Refused {
        code: v["error"]["code"]
            .as_str()
            .unwrap_or("login_failed")
            .to_owned(),
        message: v["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("login refused (HTTP {status})")),
    }
}

/// Log in through the relay, step by step as authd asks; returns the authd session token.
pub async fn login(mux: &mut Mux, prompt: &mut dyn LoginPrompt) -> Result<String, ClientError> {
    let need = |p: &mut dyn LoginPrompt, what: &str, hint: &str| {
        p.ask(what, hint).ok_or_else(|| ClientError::Refused {
            code: "input_required".into(),
            message: format!("{what} is required"),
        })
    };
    let username = need(prompt, "username", "Username")?;
    let password = need(prompt, "password", "Password")?;
    let mut step = "login".to_owned();
    let mut body = json!({"username": username, "password": password});
    for _ in 0..8 {
        let ans = mux
            .request(&Control::LoginStep {
                step: step.clone(),
                body: body.clone(),
            })
            .await?;
        let Control::LoginAnswer { status, body: v } = ans else {
            return Err(ClientError::Unexpected(format!("{ans:?}")));
        };
        if status != 200 {
            return Err(refused(&v, status));
        }
        if let Some(s) = v["session"].as_str() {
            return Ok(s.to_owned());
        }
        let challenge = v["challenge"].clone();
        if v["mfa_required"] == true {
            let methods: Vec<String> = v["methods"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let method = prompt
                .method(&methods)
                .ok_or_else(|| ClientError::Refused {
                    code: "input_required".into(),
                    message: format!("a second factor is required ({})", methods.join(", ")),
                })?;
            let code = need(prompt, "code", &format!("Code ({method})"))?;
            step = "login/mfa".into();
            body = json!({"challenge": challenge, "method": method, "code": code});
        } else if v["enrolment_required"] == true {
            // authd requires a second factor the account does not have yet: enrol an
            // authenticator app (TOTP) now, then confirm it with its first code.
            let ans = mux
                .request(&Control::LoginStep {
                    step: "login/enrol".into(),
                    body: json!({"challenge": challenge, "method": "totp", "label": "support-console"}),
                })
                .await?;
            let Control::LoginAnswer { status, body: e } = ans else {
                return Err(ClientError::Unexpected(format!("{ans:?}")));
            };
            if status != 200 {
                return Err(refused(&e, status));
            }
            prompt.show(&format!(
                "Your account must use a second factor. Add this account to your authenticator app:\n  {}\n  secret: {}",
                e["otpauth_uri"].as_str().unwrap_or(""),
                e["secret"].as_str().unwrap_or("")
            ));
            let code = need(prompt, "enrol_code", "Code shown by the authenticator app")?;
            step = "login/enrol/confirm".into();
            body = json!({"challenge": challenge, "id": e["id"], "code": code});
        } else if v["password_change_required"] == true {
            let np = need(prompt, "new_password", "New password")?;
            step = "login/password".into();
            body = json!({"challenge": challenge, "new_password": np});
        } else if v["pin_required"] == true {
            let pin = need(prompt, "new_pin", "New PIN")?;
            step = "login/pin".into();
            body = json!({"challenge": challenge, "pin": pin});
        } else {
            return Err(ClientError::Refused {
                code: "unsupported_step".into(),
                message: format!("authd asks for a login step this console does not know: {v}"),
            });
        }
    }
    Err(ClientError::Unexpected("too many login steps".into()))
}

/// Authenticate the connection with a saved authd session token.
pub async fn authenticate(
    mux: &mut Mux,
    session: &str,
) -> Result<(String, Vec<String>), ClientError> {
    match mux
        .request(&Control::Auth {
            session: session.to_owned(),
        })
        .await?
    {
        Control::Welcome { username, roles } => Ok((username, roles)),
        other => Err(ClientError::Unexpected(format!("{other:?}"))),
    }
}

/// Attach to a session by key or id, waiting up to `wait_secs` for the customer.
pub async fn attach(mux: &mut Mux, which: &str, wait_secs: u64) -> Result<Value, ClientError> {
    mux.call(&Control::Attach {
        session: which.to_owned(),
        wait_customer_secs: wait_secs,
    })
    .await
}

/// Run `command` in the customer's shell: output to `out`; returns the exit status.
pub async fn run(mux: &Mux, command: &str, out: &mut dyn Write) -> Result<i32, ClientError> {
    let (mut ch, _) = mux
        .open(ChannelKind::Shell, json!({"command": command}))
        .await?;
    let mut status = None;
    while let Some(ev) = ch.recv().await {
        match ev {
            ChanEvent::Data(d) => {
                out.write_all(&d)?;
                out.flush()?;
            }
            ChanEvent::Ctrl(Control::Exit { status: s, .. }) => status = Some(s),
            ChanEvent::Close(reason) => {
                if status.is_none() && reason == "closed by the customer" {
                    return Err(ClientError::Refused {
                        code: "closed_by_customer".into(),
                        message: "the customer closed the shell".into(),
                    });
                }
                break;
            }
            _ => {}
        }
    }
    status.ok_or(ClientError::Closed)
}

/// Send a local file to the customer; returns (size, sha256) as verified by the customer.
pub async fn push(
    mux: &Mux,
    local: &Path,
    remote_name: &str,
) -> Result<(u64, String), ClientError> {
    let (size, sha) = super::customer::hash_file(local).await?;
    let (mut ch, _) = mux
        .open(
            ChannelKind::FilePush,
            json!({"name": remote_name, "size": size, "sha256": sha}),
        )
        .await?;
    let mut f = tokio::fs::File::open(local).await?;
    let mut buf = vec![0u8; crate::proto::MAX_PAYLOAD];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        ch.send(&buf[..n]).await?;
    }
    ch.eof()?;
    while let Some(ev) = ch.recv().await {
        match ev {
            ChanEvent::Ctrl(Control::FileDone {
                size: s, sha256, ..
            }) => {
                ch.close("done");
                if s != size || sha256 != sha {
                    return Err(ClientError::Refused {
                        code: "checksum_mismatch".into(),
                        message: "the customer received a different file".into(),
                    });
                }
                return Ok((s, sha256));
            }
            ChanEvent::Close(_) => break,
            _ => {}
        }
    }
    Err(ClientError::Closed)
}

/// Fetch a file from the customer into `local`; returns (size, sha256), verified.
pub async fn pull(
    mux: &Mux,
    remote_name: &str,
    local: &Path,
) -> Result<(u64, String), ClientError> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    let (mut ch, info) = mux
        .open(ChannelKind::FilePull, json!({"name": remote_name}))
        .await?;
    let part = local.with_extension("part");
    let mut f = tokio::fs::File::create(&part).await?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    let mut complete = false;
    while let Some(ev) = ch.recv().await {
        match ev {
            ChanEvent::Data(d) => {
                h.update(&d);
                size += d.len() as u64;
                f.write_all(&d).await?;
            }
            ChanEvent::Eof => {
                complete = true;
                break;
            }
            ChanEvent::Close(_) => break,
            _ => {}
        }
    }
    f.sync_all().await?;
    drop(f);
    let sha = data_encoding::HEXLOWER.encode(&h.finalize());
    let _ = ch.control(&Control::FileDone {
        channel: ch.id,
        size,
        sha256: sha.clone(),
    });
    ch.close("done");
    if !complete || Some(size) != info["size"].as_u64() || info["sha256"].as_str() != Some(&sha) {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(ClientError::Refused {
            code: "checksum_mismatch".into(),
            message: "the file arrived incomplete or different".into(),
        });
    }
    tokio::fs::rename(&part, local).await?;
    Ok((size, sha))
}

/// Forward connections accepted on `listener` to `target` through the customer, until the
/// connection to the relay ends.
pub async fn forward(
    mux: Mux,
    listener: tokio::net::TcpListener,
    target: &str,
) -> Result<(), ClientError> {
    let mux = std::sync::Arc::new(mux);
    let closed = mux.outbound().closer().clone();
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = closed.closed() => return Err(ClientError::Closed),
        };
        let mux = mux.clone();
        let target = target.to_owned();
        tokio::spawn(async move {
            let opened = mux
                .open(ChannelKind::Forward, json!({"target": target}))
                .await;
            match opened {
                Ok((ch, _)) => super::pump_tcp(tcp, ch).await,
                Err(e) => eprintln!("forward to {target} refused: {e}"),
            }
        });
    }
}
