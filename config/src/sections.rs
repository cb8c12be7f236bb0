//! The configuration sections: one struct per `[section]` of `sesame.toml`, with the defaults
//! that run as-is. Field names are the TOML keys; `sesame.toml.example` lists them all.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The whole configuration of a Sesame appliance: one field per `[section]`.
///
/// Build it with [`crate::load`] (file + environment, validated), [`Config::from_toml_str`], or
/// start from [`Config::default()`], which is valid and runs as-is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: listening socket, data directory, request limits.
    pub server: Server,
    /// `[tls]`: certificate and key files (a self-signed pair is generated when unset).
    pub tls: Tls,
    /// `[log]`: log format and filter.
    pub log: Log,
    /// `[session]`: session and login-challenge lifetimes, cookie name.
    pub session: Session,
    /// `[password]`: password policy and argon2id parameters.
    pub password: Password,
    /// `[hashing]`: the bounded pool that runs password hashing.
    pub hashing: Hashing,
    /// `[totp]`: software TOTP parameters.
    pub totp: Totp,
    /// `[backup_codes]`: how many single-use backup codes a user gets.
    pub backup_codes: BackupCodes,
    /// `[mfa]`: who resets second factors and how recent a re-authentication must be.
    pub mfa: Mfa,
    /// `[keys]`: hardware OTP keys, their PINs, and helpdesk temporary passwords.
    pub keys: Keys,
    /// `[guard]`: rate limits, suspension of abusive addresses, account throttling.
    pub guard: Guard,
    /// `[backups]`: online snapshots and daily archives of the store, with retention.
    pub backups: Backups,
    /// `[updates]`: signed console updates (expiry of the signed update metadata).
    pub updates: Updates,
    /// `[bootstrap]`: the first administrator account.
    pub bootstrap: Bootstrap,
    /// `[webauthn]`: security keys and passkeys (relying party, ceremonies, per-role policy).
    pub webauthn: Webauthn,
    /// `[relay]`: the support relay (session keys, invitations, records, authd and SMTP).
    pub relay: Relay,
}

impl Config {
    /// **For tests only**: the defaults with cheap password hashing
    /// ([`Password::danger_fast_for_tests`]) and a listener on `127.0.0.1:0` (any free port).
    ///
    /// This configuration does **not** pass [`Config::validate`] (its argon2 memory is below the
    /// floor), so it can never come out of [`crate::load`]: it exists only to be built in code.
    pub fn danger_test_defaults() -> Self {
        let mut config = Self::default();
        config.server.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        config.password = Password::danger_fast_for_tests();
        config
    }
}

/// `[server]`: where and how authd listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Address and port of the HTTPS listener. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Directory holding the database, the master key and the generated certificate.
    /// Default `./sesame-data`.
    pub data_dir: PathBuf,
    /// Connections served at once; more wait in the kernel's accept queue. Default 1024.
    pub max_connections: usize,
    /// Largest request body accepted, in bytes. Default 65536.
    pub body_limit_bytes: usize,
    /// Time allowed for a whole request. Default 30s.
    #[serde(with = "crate::duration::as_text")]
    pub request_timeout: Duration,
    /// Name of the service: TOTP issuer, page titles, and refused as a password.
    /// Default `Sesame`.
    pub service_name: String,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            data_dir: PathBuf::from("./sesame-data"),
            max_connections: 1024,
            body_limit_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            service_name: "Sesame".to_owned(),
        }
    }
}

/// `[tls]`: the certificate authd presents. Both files or neither; with neither, authd
/// generates a self-signed certificate for localhost in `server.data_dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain, leaf first. An empty string means unset.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). An empty string means unset.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_file: Option<PathBuf>,
}

/// `[log]`: what the logs look like and how much they say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `"text"` for people, `"json"` for collectors. Default `text`.
    pub format: LogFormat,
    /// A level (`trace`, `debug`, `info`, `warn`, `error`) or a filter such as
    /// `"authd=debug,info"`. Default `info`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log output format, `"text"` or `"json"` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[session]`: how long logins last.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Session {
    /// Lifetime of a session once logged in. Default 4h.
    #[serde(with = "crate::duration::as_text")]
    pub lifetime: Duration,
    /// Time allowed between login steps (password → second factor → new PIN). Default 5m.
    #[serde(with = "crate::duration::as_text")]
    pub challenge_lifetime: Duration,
    /// Name of the session cookie. Default `sesame_session`.
    pub cookie_name: String,
    /// Most live sessions at once on the appliance; 0 = no limit. Default 0.
    pub max_sessions: usize,
    /// Of those, seats only admins may take (admins still get in when the rest is full).
    /// Default 0.
    pub admin_reserved_seats: usize,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(4 * 3600),
            challenge_lifetime: Duration::from_secs(5 * 60),
            cookie_name: "sesame_session".to_owned(),
            max_sessions: 0,
            admin_reserved_seats: 0,
        }
    }
}

/// `[password]`: password policy (NIST SP 800-63B-4) and argon2id cost (OWASP defaults).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Password {
    /// Minimum length, in characters, where the account's policy requires a second factor.
    /// Default 8.
    pub min_length_with_mfa: usize,
    /// Minimum length, in characters, where it does not. Default 15.
    pub min_length_without_mfa: usize,
    /// Longest password accepted, in bytes (checked whole, never truncated). Default 1024.
    pub max_bytes: usize,
    /// argon2id memory cost in KiB. Default 19456 (19 MiB).
    pub argon2_memory_kib: u32,
    /// argon2id passes over memory. Default 2.
    pub argon2_iterations: u32,
    /// argon2id lanes. Default 1.
    pub argon2_parallelism: u32,
}

impl Default for Password {
    fn default() -> Self {
        Self {
            min_length_with_mfa: 8,
            min_length_without_mfa: 15,
            max_bytes: 1024,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

impl Password {
    /// **For tests only**: the default policy with argon2id at 256 KiB and one pass, so a
    /// test suite can hash hundreds of passwords quickly. [`crate::Config::validate`] refuses
    /// it: it can only be set in code, never from a file or the environment.
    pub fn danger_fast_for_tests() -> Self {
        Self {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            ..Self::default()
        }
    }
}

/// `[hashing]`: the bounded pool that runs argon2 off the async workers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hashing {
    /// Hashing threads; 0 means one per CPU core. Default 0.
    pub threads: usize,
    /// Jobs allowed to wait beyond the busy threads; more are refused with 503. Default 64.
    pub queue: usize,
}

impl Default for Hashing {
    fn default() -> Self {
        Self {
            threads: 0,
            queue: 64,
        }
    }
}

/// `[totp]`: software TOTP (RFC 6238) parameters for new enrolments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Totp {
    /// HMAC algorithm: `SHA1`, `SHA256` or `SHA512`. Default `SHA1` (what every app supports).
    pub algorithm: String,
    /// Code length: 6 or 8. Default 6.
    pub digits: u8,
    /// Time step in seconds: 30 or 60. Default 30.
    pub period: u64,
    /// Steps accepted either side of now, for clock drift. Default 1.
    pub skew_steps: u64,
}

impl Default for Totp {
    fn default() -> Self {
        Self {
            algorithm: "SHA1".to_owned(),
            digits: 6,
            period: 30,
            skew_steps: 1,
        }
    }
}

/// `[backup_codes]`: single-use recovery codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupCodes {
    /// Codes issued per set: 5 to 20. Default 10.
    pub count: usize,
    /// Warn the user when this many unused codes or fewer remain. Default 2.
    pub warn_at_or_below: usize,
}

impl Default for BackupCodes {
    fn default() -> Self {
        Self {
            count: 10,
            warn_at_or_below: 2,
        }
    }
}

/// `[keys]`: hardware OTP keys (passcode = PIN ‖ code on the key) and what the helpdesk does
/// for their owners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keys {
    /// Shortest PIN, in digits. Default 4.
    pub pin_min_length: usize,
    /// Longest PIN, in digits. Default 8.
    pub pin_max_length: usize,
    /// Consecutive failures that lock a key until the helpdesk unlocks it. Default 10.
    pub max_failures: u32,
    /// HOTP codes accepted ahead of the expected counter. Default 10.
    pub hotp_look_ahead: u64,
    /// TOTP steps accepted either side of now (after the key's stored drift). Default 1.
    pub totp_skew_steps: u64,
    /// HOTP counters searched by a helpdesk resync. Default 1000.
    pub resync_hotp_window: u64,
    /// Time searched either side of now by a TOTP resync. Default 24h.
    #[serde(with = "crate::duration::as_text")]
    pub resync_totp_window: Duration,
    /// Longest validity of a temporary password. Default 7d.
    #[serde(with = "crate::duration::as_text")]
    pub temporary_password_max_validity: Duration,
    /// Offset of the appliance's local time from UTC (`+01:00`), for "valid until the end of
    /// the day". Default `+00:00`.
    pub utc_offset: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            pin_min_length: 4,
            pin_max_length: 8,
            max_failures: 10,
            hotp_look_ahead: 10,
            totp_skew_steps: 1,
            resync_hotp_window: 1000,
            resync_totp_window: Duration::from_secs(24 * 3600),
            temporary_password_max_validity: Duration::from_secs(7 * 24 * 3600),
            utc_offset: "+00:00".to_owned(),
        }
    }
}

impl Keys {
    /// `utc_offset` in seconds east of UTC, if it is well formed (`±HH:MM`, at most 14:00).
    pub fn utc_offset_seconds(&self) -> Option<i64> {
        let s = self.utc_offset.as_bytes();
        if s.len() != 6 || s[3] != b':' || !matches!(s[0], b'+' | b'-') {
            return None;
        }
        let h: i64 = self.utc_offset.get(1..3)?.parse().ok()?;
        let m: i64 = self.utc_offset.get(4..6)?.parse().ok()?;
        if m > 59 || h * 60 + m > 14 * 60 {
            return None;
        }
        let sign = if s[0] == b'-' { -1 } else { 1 };
        Some(sign * (h * 3600 + m * 60))
    }
}

/// `[backups]`: online, consistent copies of the store in `<data_dir>/backups/`: a snapshot
/// every `snapshot_every` and one archive a day, the oldest pruned beyond the limits. A backup
/// is useless without `master.key`, which must be saved separately.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backups {
    /// Time between two snapshots; `0s` turns periodic backups off. Default 2h.
    #[serde(with = "crate::duration::as_text")]
    pub snapshot_every: Duration,
    /// Snapshots kept (the oldest beyond are deleted). Default 12.
    pub snapshots_kept: usize,
    /// Daily archives kept (the oldest beyond are deleted). Default 30.
    pub archives_kept: usize,
}

impl Default for Backups {
    fn default() -> Self {
        Self {
            snapshot_every: Duration::from_secs(2 * 3600),
            snapshots_kept: 12,
            archives_kept: 30,
        }
    }
}

/// `[mfa]`: admin resets of second factors and step-up. (Which roles and groups must use a
/// second factor is the MFA policy, kept in the store and edited by admins.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mfa {
    /// Resetting an admin's second factors needs a second admin's approval. Default true.
    pub two_person_admin_reset: bool,
    /// How recent the acting admin's (re-)authentication must be for sensitive actions.
    /// Default 10m.
    #[serde(with = "crate::duration::as_text")]
    pub step_up_window: Duration,
    /// How long a filed reset waits for its approval. Default 24h.
    #[serde(with = "crate::duration::as_text")]
    pub reset_approval_window: Duration,
}

impl Default for Mfa {
    fn default() -> Self {
        Self {
            two_person_admin_reset: true,
            step_up_window: Duration::from_secs(600),
            reset_approval_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[updates]`: the signed repository of console packages (`<data_dir>/console-updates/`).
/// Consoles refuse metadata past its expiry, so the appliance re-signs the timestamp before
/// `timestamp_expiry` runs out; a freeze attack (serving stale metadata) lasts at most that long.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Updates {
    /// Validity of the signed timestamp. Default 7d.
    #[serde(with = "crate::duration::as_text")]
    pub timestamp_expiry: Duration,
    /// Validity of the signed targets and snapshot. Default 365d.
    #[serde(with = "crate::duration::as_text")]
    pub metadata_expiry: Duration,
}

impl Default for Updates {
    fn default() -> Self {
        Self {
            timestamp_expiry: Duration::from_secs(7 * 86_400),
            metadata_expiry: Duration::from_secs(365 * 86_400),
        }
    }
}

/// `[guard]`: what authd does about abusive traffic before it costs anything.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guard {
    /// Comma-separated CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed.
    /// Default empty: the socket's address is the client's.
    pub trusted_proxies: String,
    /// Requests per second allowed to one address (GCRA). Default 20.
    pub rate_per_second: u32,
    /// Burst allowed above the rate. Default 100.
    pub rate_burst: u32,
    /// Rate-limit refusals within `flood_window` that suspend the address. Default 1000.
    pub flood_refusals: u32,
    /// Window for `flood_refusals`. Default 1m.
    #[serde(with = "crate::duration::as_text")]
    pub flood_window: Duration,
    /// Failed logins within `failed_logins_window` that suspend the address. Default 10.
    pub failed_logins: u32,
    /// Window for `failed_logins`. Default 5m.
    #[serde(with = "crate::duration::as_text")]
    pub failed_logins_window: Duration,
    /// Refused calls (no right to the route) within `forbidden_window` that suspend. Default 20.
    pub forbidden_requests: u32,
    /// Window for `forbidden_requests`. Default 5m.
    #[serde(with = "crate::duration::as_text")]
    pub forbidden_window: Duration,
    /// Suspension length after failed logins; `0s` = until an admin lifts it. Default 1h.
    #[serde(with = "crate::duration::as_text")]
    pub suspend_failed_logins: Duration,
    /// Suspension length after a flood; `0s` = until lifted. Default 1h.
    #[serde(with = "crate::duration::as_text")]
    pub suspend_flood: Duration,
    /// Suspension length after forbidden calls; `0s` = until lifted. Default 1h.
    #[serde(with = "crate::duration::as_text")]
    pub suspend_forbidden: Duration,
    /// Consecutive failures of one account after which its logins are delayed. Default 5.
    pub account_throttle_after: u32,
    /// Longest delay imposed on an account between attempts. Default 15m.
    #[serde(with = "crate::duration::as_text")]
    pub account_max_delay: Duration,
    /// Consecutive failures after which the account needs an admin (NIST: at most 100).
    /// Default 100.
    pub account_lock_after: u32,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            trusted_proxies: String::new(),
            rate_per_second: 20,
            rate_burst: 100,
            flood_refusals: 1000,
            flood_window: Duration::from_secs(60),
            failed_logins: 10,
            failed_logins_window: Duration::from_secs(300),
            forbidden_requests: 20,
            forbidden_window: Duration::from_secs(300),
            suspend_failed_logins: Duration::from_secs(3600),
            suspend_flood: Duration::from_secs(3600),
            suspend_forbidden: Duration::from_secs(3600),
            account_throttle_after: 5,
            account_max_delay: Duration::from_secs(900),
            account_lock_after: 100,
        }
    }
}

/// `[bootstrap]`: the administrator created on first start, when the store has no account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bootstrap {
    /// Username of the first administrator. Default `admin`.
    pub admin_username: String,
    /// File holding the first administrator's password (e.g. a container secret). An empty
    /// string means unset.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_file: Option<PathBuf>,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            admin_username: "admin".to_owned(),
            password_file: None,
        }
    }
}

/// `[webauthn]`: FIDO2 security keys and passkeys. The relying party (RP) id is the domain the
/// credentials are bound to; the origins are the exact `https://host:port` the browser shows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webauthn {
    /// Relying-party id: the domain credentials are bound to. Default `localhost`.
    pub rp_id: String,
    /// Comma-separated origins allowed to use the credentials. Empty (the default) means
    /// `https://<rp_id>:<port of server.listen>`.
    pub rp_origins: String,
    /// Life of a registration or authentication ceremony. Default 5m.
    #[serde(with = "crate::duration::as_text")]
    pub ceremony_lifetime: Duration,
    /// What a signature counter that went backwards does: `refuse` (default) the sign-in, or
    /// `accept` it; either way the credential is marked possibly cloned and it is audited.
    pub cloned_counter: String,
    /// Comma-separated roles whose accounts may not sign in with a passkey alone (they use a
    /// key as a second factor only). Default empty: every role may.
    pub passwordless_denied_roles: String,
    /// Comma-separated roles whose accounts may register only authenticator models listed in
    /// `attestation_aaguids`. Default empty: any model, for every role.
    pub attestation_roles: String,
    /// Comma-separated AAGUIDs (authenticator models) accepted for `attestation_roles`.
    pub attestation_aaguids: String,
    /// Comma-separated PEM files of the attestation CAs accepted for `attestation_roles`: a
    /// registration must carry an attestation that chains to one of them (and, when
    /// `attestation_aaguids` is set, be one of those models as that CA attests). Default empty:
    /// only the announced AAGUID is compared (not proof of the model).
    pub attestation_ca_files: String,
}

impl Default for Webauthn {
    fn default() -> Self {
        Self {
            rp_id: "localhost".to_owned(),
            rp_origins: String::new(),
            ceremony_lifetime: Duration::from_secs(300),
            cloned_counter: "refuse".to_owned(),
            passwordless_denied_roles: String::new(),
            attestation_roles: String::new(),
            attestation_aaguids: String::new(),
            attestation_ca_files: String::new(),
        }
    }
}

/// `[relay]`: the remote-support relay, in `sesame` next to authd or standalone
/// (`support-relay`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Relay {
    /// Address and port of the relay's TLS listener. Default `127.0.0.1:8444`.
    pub listen: SocketAddr,
    /// Directory of the session records; empty = `<server.data_dir>/relay`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_dir: Option<PathBuf>,
    /// Digits of a session key. Default 7.
    pub key_digits: u32,
    /// Lifetime of an unused session key. Default 10m.
    #[serde(with = "crate::duration::as_text")]
    pub key_lifetime: Duration,
    /// Wrong keys from one address (within 10 minutes) that suspend it. Default 5.
    pub key_failures: u32,
    /// Length of that suspension. Default 15m.
    #[serde(with = "crate::duration::as_text")]
    pub key_suspension: Duration,
    /// How often a connected technician's authd session is re-checked. Default 5s.
    #[serde(with = "crate::duration::as_text")]
    pub recheck_every: Duration,
    /// Lifetime of an invitation code. Default 15m.
    #[serde(with = "crate::duration::as_text")]
    pub invitation_lifetime: Duration,
    /// How long a customer who dropped may resume the session. Default 2m.
    #[serde(with = "crate::duration::as_text")]
    pub resume_grace: Duration,
    /// Session records older than this are deleted. Default 90d.
    #[serde(with = "crate::duration::as_text")]
    pub retention: Duration,
    /// Bandwidth share of one session in bytes per second; 0 = unlimited. Default 0.
    pub session_bandwidth: u64,
    /// Simultaneous relay connections. Default 20000.
    pub max_connections: usize,
    /// Address of a plain-HTTP Prometheus endpoint (`/metrics`); empty = none. Default empty.
    pub metrics_listen: String,
    /// authd's `host:port`, for the standalone relay. Default `127.0.0.1:8443`.
    pub authd_address: String,
    /// PEM certificate (or CA) the standalone relay trusts for authd; empty = authd's
    /// generated certificate in `<server.data_dir>/tls/cert.pem`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub authd_ca_file: Option<PathBuf>,
    /// Name in authd's certificate. Default `localhost`.
    pub authd_server_name: String,
    /// SMTP server for e-mail invitations; empty = no e-mail. Default empty.
    pub smtp_host: String,
    /// SMTP port. Default 587.
    pub smtp_port: u32,
    /// `required`, `opportunistic` or `off`. Default `required`.
    pub smtp_starttls: String,
    /// Sender address of invitations. Default `sesame-support@localhost`.
    pub smtp_from: String,
}

impl Default for Relay {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8444)),
            data_dir: None,
            key_digits: 7,
            key_lifetime: Duration::from_secs(600),
            key_failures: 5,
            key_suspension: Duration::from_secs(900),
            recheck_every: Duration::from_secs(5),
            invitation_lifetime: Duration::from_secs(900),
            resume_grace: Duration::from_secs(120),
            retention: Duration::from_secs(90 * 86400),
            session_bandwidth: 0,
            max_connections: 20_000,
            metrics_listen: String::new(),
            authd_address: "127.0.0.1:8443".to_owned(),
            authd_ca_file: None,
            authd_server_name: "localhost".to_owned(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_starttls: "required".to_owned(),
            smtp_from: "sesame-support@localhost".to_owned(),
        }
    }
}

impl Webauthn {
    /// The allowed origins: `rp_origins`, or `https://<rp_id>:<port>` when it is empty.
    pub fn origins(&self, listen_port: u16) -> Vec<String> {
        let listed: Vec<String> = split_list(&self.rp_origins);
        if listed.is_empty() {
            vec![format!("https://{}:{listen_port}", self.rp_id)]
        } else {
            listed
        }
    }

    /// Whether the counter regression policy refuses the sign-in.
    pub fn refuse_cloned(&self) -> bool {
        self.cloned_counter != "accept"
    }
}

/// The non-empty, trimmed items of a comma-separated list.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Optional paths are plain strings; the empty string means "not set", so the environment can
/// clear a path that the file sets (`SESAME_TLS_CERT_FILE=`).
fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let text = String::deserialize(d)?;
    Ok((!text.is_empty()).then(|| PathBuf::from(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let config = Config::default();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(config.server.data_dir, PathBuf::from("./sesame-data"));
        assert_eq!(config.server.body_limit_bytes, 65_536);
        assert_eq!(config.session.lifetime, Duration::from_secs(14_400));
        assert_eq!(config.password.argon2_memory_kib, 19_456);
        assert_eq!(config.tls, Tls::default());
        assert_eq!(config.tls.cert_file, None);
        assert_eq!(config.bootstrap.password_file, None);
    }

    #[test]
    fn empty_optional_path_means_unset() {
        let config = Config::from_toml_str("[tls]\ncert_file = \"\"\nkey_file = \"\"\n").unwrap();
        assert_eq!(config.tls, Tls::default());
    }

    #[test]
    fn danger_test_defaults_are_cheap_and_refused_by_validate() {
        let config = Config::danger_test_defaults();
        assert_eq!(config.server.listen.port(), 0);
        assert_eq!(config.password.argon2_memory_kib, 256);
        assert_eq!(config.password.argon2_iterations, 1);
        let error = config.validate().unwrap_err();
        assert_eq!(error.code(), "invalid_setting");
        assert!(error.to_string().starts_with("password.argon2_memory_kib"));
    }
}
