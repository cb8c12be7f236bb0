//! Control messages: JSON objects tagged by `"t"`, carried in control frames on channel 0.
//! One enum for both directions; a side receiving a message it does not expect in its state
//! answers `error` and, before authentication, closes the connection.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Kinds of channel a technician can open towards the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A command or a shell in a PTY on the customer's machine (`params.command`, optional).
    Shell,
    /// A file sent to the customer (`params.name`, `params.size`, `params.sha256`).
    FilePush,
    /// A file fetched from the customer (`params.name`).
    FilePull,
    /// A TCP connection from the customer's side to `params.target` (`host:port`).
    Forward,
    /// The technician's smart card in the customer's vpcd reader (`params.reader`, the
    /// technician's reader name); data is [`crate::proto::smartcard`] messages.
    Smartcard,
}

impl ChannelKind {
    /// Interactive channels are scheduled ahead of bulk ones.
    pub fn interactive(self) -> bool {
        matches!(self, ChannelKind::Shell | ChannelKind::Smartcard)
    }

    /// The consent word that allows this kind on the customer side.
    pub fn consent(self) -> &'static str {
        match self {
            ChannelKind::Shell => "shell",
            ChannelKind::FilePush | ChannelKind::FilePull => "files",
            ChannelKind::Forward => "forward",
            ChannelKind::Smartcard => "smartcard",
        }
    }
}

/// A control message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    // ---- technician authentication ----
    /// One login step forwarded to authd (`step` from an allow-list: `login`, `login/mfa`, ...).
    LoginStep {
        /// Path below `/api/v1/`.
        step: String,
        /// JSON body, forwarded as is.
        body: Value,
    },
    /// authd's answer to a login step, relayed as is.
    LoginAnswer {
        /// HTTP status from authd.
        status: u16,
        /// JSON body from authd.
        body: Value,
    },
    /// Authenticate this connection with an authd session token.
    Auth {
        /// The session token (bearer).
        session: String,
    },
    /// Authentication accepted.
    Welcome {
        /// Who.
        username: String,
        /// Their roles.
        roles: Vec<String>,
    },
    // ---- customer ----
    /// Join with a session key.
    Join {
        /// The key read by the technician.
        key: String,
        /// The customer's name, shown to technicians.
        #[serde(default)]
        name: String,
    },
    /// Enter the general queue.
    Queue {
        /// The customer's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// Resume a dropped connection within the grace period.
    Resume {
        /// The token received at join / attach.
        token: String,
    },
    /// The customer is in a session: who the technician is, before anything else.
    Joined {
        /// Session id.
        session: String,
        /// The owning technician's username.
        technician: String,
        /// Single-use token to resume after a drop (valid for the grace period).
        resume_token: String,
    },
    /// The customer waits in the queue.
    Queued {
        /// Queue entry id.
        id: String,
    },
    // ---- technician commands ----
    /// Create a session and its one-time key.
    KeyNew {},
    /// A session and its key were created.
    KeyCreated {
        /// The key to read to the customer.
        key: String,
        /// Session id.
        session: String,
        /// Expiry (Unix seconds).
        expires_at: i64,
    },
    /// Attach this connection to a session (by key or session id) as a member.
    Attach {
        /// Key or session id.
        session: String,
        /// Wait up to this many seconds for the customer to be present.
        #[serde(default)]
        wait_customer_secs: u64,
    },
    /// Open a channel to the customer (technician → relay → customer).
    Open {
        /// Channel id chosen by the opener.
        channel: u32,
        /// What kind.
        kind: ChannelKind,
        /// Kind-specific parameters.
        #[serde(default)]
        params: Value,
    },
    /// The customer accepted the channel.
    OpenOk {
        /// Channel id.
        channel: u32,
        /// Kind-specific answer (e.g. the file's size and hash for a pull).
        #[serde(default)]
        info: Value,
    },
    /// The channel was refused.
    OpenRefused {
        /// Channel id.
        channel: u32,
        /// Stable reason code (`declined`, `not_present`, ...).
        reason: String,
    },
    /// A shell command ended with this status.
    Exit {
        /// Channel id.
        channel: u32,
        /// Exit status (-1 if killed by a signal).
        status: i32,
    },
    /// A transfer's result, from the receiver: size and SHA-256 it saw.
    FileDone {
        /// Channel id.
        channel: u32,
        /// Bytes received.
        size: u64,
        /// Hex SHA-256 of the bytes received.
        sha256: String,
    },
    /// A chat line (sent without `from`; delivered with it).
    Chat {
        /// Sender, filled in by the relay.
        #[serde(default)]
        from: String,
        /// The text.
        text: String,
    },
    /// Invite a technician into the session.
    Invite {
        /// The technician's username.
        user: String,
    },
    /// Give ownership to another member.
    Transfer {
        /// The new owner.
        user: String,
    },
    /// Leave the session (an owner must transfer first, or end it).
    Leave {},
    /// End the session (owner, or an admin by id).
    End {
        /// Session id (admins); empty = the attached session.
        #[serde(default)]
        session: String,
    },
    /// Turn extended availability on or off (invitations then go by e-mail).
    Availability {
        /// On or off.
        extended: bool,
        /// Where invitations go.
        #[serde(default)]
        email: String,
    },
    /// Accept an invitation with its one-time code.
    AcceptInvite {
        /// The code from the invitation.
        code: String,
    },
    /// Pending invitations for me, and the queue.
    Pending {},
    /// Take a customer from the queue.
    Pick {
        /// Queue entry id.
        id: String,
    },
    /// The attached session's record (history).
    History {},
    /// Admin: list sessions.
    AdminList {},
    /// Admin: a session's record.
    AdminShow {
        /// Session id.
        session: String,
    },
    /// Something happened in the session (member joined, customer left, ...).
    Event {
        /// Event name.
        event: String,
        /// Details.
        #[serde(default)]
        detail: Value,
    },
    /// Generic success with a body.
    Ok {
        /// The answer.
        #[serde(default)]
        body: Value,
    },
    /// A refusal: stable code and a sentence.
    Error {
        /// Stable snake_case code.
        code: String,
        /// Human sentence.
        message: String,
    },
    /// The session ended.
    Ended {
        /// Why (`owner`, `admin`, `expired`, `technician_gone`).
        reason: String,
    },
}

impl Control {
    /// Parse a control frame's payload.
    pub fn from_payload(p: &[u8]) -> Result<Control, serde_json::Error> {
        serde_json::from_slice(p)
    }

    /// Encode as a control frame payload.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            b"{\"t\":\"error\",\"code\":\"internal\",\"message\":\"unencodable\"}".to_vec()
        })
    }

    /// An error message.
    pub fn error(code: &str, message: impl Into<String>) -> Control {
        Control::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_stable() {
        let j = serde_json::to_value(Control::Open {
            channel: 3,
            kind: ChannelKind::FilePush,
            params: serde_json::json!({"name": "a"}),
        })
        .expect("json");
        assert_eq!(j["t"], "open");
        assert_eq!(j["kind"], "file_push");
        let k: Control = Control::from_payload(br#"{"t":"key_new"}"#).expect("parse");
        assert_eq!(k, Control::KeyNew {});
        assert!(Control::from_payload(br#"{"t":"key_new","x":1}"#).is_err());
        assert!(Control::from_payload(br#"{"t":"nope"}"#).is_err());
        let c = Control::from_payload(br#"{"t":"chat","text":"hi"}"#).expect("chat");
        assert_eq!(
            c,
            Control::Chat {
                from: String::new(),
                text: "hi".into()
            }
        );
    }
}
