//! STARTTLS for the e-mail invitations, against a real SMTP listener on loopback that offers
//! (or does not offer) STARTTLS and upgrades with a test certificate (tokio-rustls server side):
//! with STARTTLS required, the relay's mailer refuses to send when it is not offered and sends
//! over TLS when it is.

use super::*;
use support_relay::mail::{InvitationMail, Mailer, SmtpConfig, SmtpMailer, StartTls};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// What the listener saw: commands in order (`TLS` marks the upgrade) and the messages.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<String>,
    messages: Vec<String>,
}

/// One SMTP dialogue on `s`; returns the stream when the client asked for STARTTLS.
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    offer_starttls: bool,
    seen: &std::sync::Mutex<Seen>,
    greet: bool,
) -> Option<S> {
    let mut s = BufReader::new(s);
    if greet {
        s.write_all(b"220 localhost ESMTP sesame-test\r\n")
            .await
            .ok()?;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        seen.lock()
            .expect("seen")
            .commands
            .push(cmd.split(' ').next().unwrap_or("").to_owned());
        let answer: &[u8] = if cmd.starts_with("EHLO") {
            if offer_starttls {
                b"250-localhost\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            } else {
                b"250-localhost\r\n250 8BITMIME\r\n"
            }
        } else if cmd == "STARTTLS" && offer_starttls {
            s.write_all(b"220 ready for TLS\r\n").await.ok()?;
            return Some(s.into_inner());
        } else if cmd.starts_with("DATA") {
            s.write_all(b"354 go ahead\r\n").await.ok()?;
            let mut msg = String::new();
            loop {
                let mut l2 = String::new();
                if s.read_line(&mut l2).await.unwrap_or(0) == 0 {
                    return None;
                }
                if l2 == ".\r\n" {
                    break;
                }
                msg.push_str(&l2);
            }
            seen.lock().expect("seen").messages.push(msg);
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = s.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            b"250 ok\r\n"
        };
        s.write_all(answer).await.ok()?;
    }
}

/// An SMTP listener on loopback; with `offer_starttls` it offers STARTTLS and upgrades with
/// the certificate in `tls`. Returns its port and what it saw.
async fn smtp(
    offer_starttls: bool,
    tls: Arc<rustls::ServerConfig>,
) -> (u16, Arc<std::sync::Mutex<Seen>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("smtp bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let (seen, tls) = (seen2.clone(), tls.clone());
            tokio::spawn(async move {
                let Some(plain) = dialogue(s, offer_starttls, &seen, true).await else {
                    return;
                };
                let Ok(t) = tokio_rustls::TlsAcceptor::from(tls).accept(plain).await else {
                    return;
                };
                seen.lock().expect("seen").commands.push("TLS".into());
                let _ = dialogue(t, false, &seen, false).await;
            });
        }
    });
    (port, seen)
}

fn invitation() -> InvitationMail {
    InvitationMail {
        to: "ann@example.test".into(),
        invitee: "ann".into(),
        by: "tom".into(),
        session: "0123abcd".into(),
        code: "code-123-456".into(),
        valid_minutes: 15,
    }
}

fn mailer(port: u16, starttls: StartTls, cert_pem: &str) -> SmtpMailer {
    SmtpMailer::new(SmtpConfig {
        host: "localhost".into(),
        port,
        starttls,
        from: "support@example.test".into(),
    })
    .trusting(cert_pem.as_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_use_starttls_when_required() {
    let dir = tempfile::tempdir().expect("tmp");
    let (tls, cert) = support_relay::tls::load_or_generate(dir.path()).expect("test certificate");

    // Offered: the invitation goes out over TLS (MAIL and DATA only after the upgrade).
    let (port, seen) = smtp(true, tls.clone()).await;
    mailer(port, StartTls::Required, &cert)
        .send_invitation(invitation())
        .await
        .expect("sent over STARTTLS");
    {
        let s = seen.lock().expect("seen");
        assert_eq!(s.messages.len(), 1, "{s:?}");
        assert!(s.messages[0].contains("code-123-456"), "{s:?}");
        let tls_at = s
            .commands
            .iter()
            .position(|c| c == "TLS")
            .expect("upgraded");
        let mail_at = s.commands.iter().position(|c| c == "MAIL").expect("MAIL");
        assert!(tls_at < mail_at, "MAIL before TLS: {:?}", s.commands);
    }

    // Not offered: required STARTTLS refuses to send; nothing reaches the server in clear.
    let (port, seen) = smtp(false, tls.clone()).await;
    let r = mailer(port, StartTls::Required, &cert)
        .send_invitation(invitation())
        .await;
    assert!(r.is_err(), "sent without TLS");
    {
        let s = seen.lock().expect("seen");
        assert!(s.messages.is_empty(), "{s:?}");
        assert!(!s.commands.iter().any(|c| c == "MAIL"), "{s:?}");
    }

    // A certificate the mailer does not trust: refused as well.
    let other = tempfile::tempdir().expect("tmp");
    let (_, other_cert) = support_relay::tls::load_or_generate(other.path()).expect("cert");
    let (port, seen) = smtp(true, tls).await;
    let r = mailer(port, StartTls::Required, &other_cert)
        .send_invitation(invitation())
        .await;
    assert!(r.is_err(), "sent to an untrusted server");
    assert!(seen.lock().expect("seen").messages.is_empty());
}
