//! E-mail invitations for technicians in extended availability: the [`Mailer`] trait and its
//! SMTP implementation ([`SmtpMailer`], lettre over tokio + rustls; STARTTLS required,
//! opportunistic or off by configuration).

use crate::auth::BoxFut;

/// An invitation to send.
#[derive(Debug, Clone)]
pub struct InvitationMail {
    /// Recipient address.
    pub to: String,
    /// Invited technician.
    pub invitee: String,
    /// Inviting technician.
    pub by: String,
    /// Session id.
    pub session: String,
    /// The one-time join code.
    pub code: String,
    /// Validity of the code.
    pub valid_minutes: i64,
}

impl InvitationMail {
    /// Subject line.
    pub fn subject(&self) -> String {
        format!("Sesame support: {} invites you to a session", self.by)
    }

    /// Plain-text body: the code and the console command (the "join link").
    pub fn body(&self) -> String {
        format!(
            "Hello {invitee},\n\n{by} invites you to join remote-support session {session}.\n\n\
             Join code: {code}\n\nIn the support console run:\n\n    support-console accept {code}\n\n\
             or open sesame-support://accept/{code}\n\n\
             The code is valid for {m} minutes and can be used once.\n",
            invitee = self.invitee,
            by = self.by,
            session = self.session,
            code = self.code,
            m = self.valid_minutes
        )
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A bad address or message.
    #[error("invalid message: {0}")]
    Message(String),
    /// The SMTP exchange failed.
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// Sends invitations.
pub trait Mailer: Send + Sync + std::fmt::Debug + 'static {
    /// Send one invitation.
    fn send_invitation(&self, m: InvitationMail) -> BoxFut<'_, Result<(), MailError>>;
}

/// How to use TLS towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// STARTTLS is required.
    Required,
    /// STARTTLS if offered.
    Opportunistic,
    /// Plain SMTP (loopback test servers, local relays).
    Off,
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TLS mode.
    pub starttls: StartTls,
    /// Sender address.
    pub from: String,
}

/// lettre-based SMTP mailer.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    cfg: SmtpConfig,
    /// PEM certificates trusted for the SMTP server besides the built-in roots.
    extra_roots: Option<Vec<u8>>,
}

impl SmtpMailer {
    /// A mailer for `cfg`.
    pub fn new(cfg: SmtpConfig) -> SmtpMailer {
        SmtpMailer {
            cfg,
            extra_roots: None,
        }
    }

    /// Also trust the certificates in `pem` for the SMTP server (a private CA, a test server).
    pub fn trusting(mut self, pem: Vec<u8>) -> SmtpMailer {
        self.extra_roots = Some(pem);
        self
    }
}

impl Mailer for SmtpMailer {
    fn send_invitation(&self, m: InvitationMail) -> BoxFut<'_, Result<(), MailError>> {
        Box::pin(async move {
            use lettre::transport::smtp::client::{Tls, TlsParameters};
            use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
            let msg = Message::builder()
                .from(
                    self.cfg
                        .from
                        .parse()
                        .map_err(|e| MailError::Message(format!("from: {e}")))?,
                )
                .to(m
                    .to
                    .parse()
                    .map_err(|e| MailError::Message(format!("to: {e}")))?)
                .subject(m.subject())
                .body(m.body())
                .map_err(|e| MailError::Message(e.to_string()))?;
            let tls = match self.cfg.starttls {
                StartTls::Off => Tls::None,
                mode => {
                    let mut b = TlsParameters::builder(self.cfg.host.clone());
                    if let Some(pem) = &self.extra_roots {
                        let c = lettre::transport::smtp::client::Certificate::from_pem(pem)
                            .map_err(|e| MailError::Smtp(e.to_string()))?;
                        b = b.add_root_certificate(c);
                    }
                    let p = b.build().map_err(|e| MailError::Smtp(e.to_string()))?;
                    if mode == StartTls::Required {
                        Tls::Required(p)
                    } else {
                        Tls::Opportunistic(p)
                    }
                }
            };
            let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.cfg.host.clone())
                .port(self.cfg.port)
                .tls(tls)
                .timeout(Some(std::time::Duration::from_secs(20)))
                .build();
            t.send(msg)
                .await
                .map_err(|e| MailError::Smtp(e.to_string()))?;
            Ok(())
        })
    }
}
