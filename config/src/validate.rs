//! [`Config::validate`]: the rules that typed values must also follow. Each message names the
//! key, the rule and the value found; `docs/configuration.md` lists the same rules.

use std::fmt::Display;
use std::time::Duration;

use crate::sections::{
    BackupCodes, Backups, Bootstrap, Guard, Hashing, Keys, Log, Mfa, Password, Relay, Server,
    Session, Tls, Totp, Updates, Webauthn, split_list,
};
use crate::{Config, ConfigError, format_duration};

/// Largest request body authd may be configured to accept: 16 MiB.
const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

impl Config {
    /// Checks every rule and returns the first broken one, in the order of the sections.
    /// [`crate::load`] and [`Config::from_toml_str`] call it; call it yourself on a
    /// configuration built in code. [`Config::default()`] passes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        server(&self.server)?;
        tls(&self.tls)?;
        log(&self.log)?;
        session(&self.session)?;
        password(&self.password)?;
        hashing(&self.hashing)?;
        totp(&self.totp)?;
        backup_codes(&self.backup_codes)?;
        mfa(&self.mfa)?;
        keys(&self.keys)?;
        guard(&self.guard)?;
        backups(&self.backups)?;
        updates(&self.updates)?;
        relay(&self.relay)?;
        bootstrap(&self.bootstrap)?;
        webauthn(&self.webauthn)
    }
}

fn invalid(key: &'static str, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        rule: rule.into(),
    }
}

/// `key must be between {min} and {max}{note}, got {value}` unless `min <= value <= max`.
fn between<T: PartialOrd + Display>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
    note: &str,
) -> Result<(), ConfigError> {
    if min <= value && value <= max {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be between {min} and {max}{note}, got {value}"),
        ))
    }
}

fn at_least<T: PartialOrd + Display>(
    key: &'static str,
    value: T,
    min: T,
    note: &str,
) -> Result<(), ConfigError> {
    if value >= min {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be at least {min}{note}, got {value}"),
        ))
    }
}

fn duration_between(
    key: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if min <= value && value <= max {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "must be between {} and {}, got {}",
                format_duration(min),
                format_duration(max),
                format_duration(value)
            ),
        ))
    }
}

const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn server(server: &Server) -> Result<(), ConfigError> {
    if server.data_dir.as_os_str().is_empty() {
        return Err(invalid("server.data_dir", "must not be empty"));
    }
    at_least("server.max_connections", server.max_connections, 1, "")?;
    between(
        "server.body_limit_bytes",
        server.body_limit_bytes,
        1024,
        MAX_BODY_LIMIT,
        " (16 MiB)",
    )?;
    duration_between(
        "server.request_timeout",
        server.request_timeout,
        Duration::from_secs(1),
        minutes(60),
    )?;
    let name = &server.service_name;
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c == ':' || c.is_control())
    {
        // ':' separates issuer and account in an otpauth:// label.
        return Err(invalid(
            "server.service_name",
            format!("must be 1 to 64 characters without ':' or control characters, got {name:?}"),
        ));
    }
    Ok(())
}

fn tls(tls: &Tls) -> Result<(), ConfigError> {
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => Err(invalid(
            "tls.cert_file",
            "and tls.key_file must be set together (only tls.cert_file is set)",
        )),
        (None, Some(_)) => Err(invalid(
            "tls.cert_file",
            "and tls.key_file must be set together (only tls.key_file is set)",
        )),
        _ => Ok(()),
    }
}

fn log(log: &Log) -> Result<(), ConfigError> {
    let level = &log.level;
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_=,:.-".contains(c);
    if level.is_empty() || !level.chars().all(allowed) {
        return Err(invalid(
            "log.level",
            format!(
                "must be trace, debug, info, warn, error or a filter such as \"authd=debug,info\" \
                 (characters a-z 0-9 _ = , : . -), got {level:?}"
            ),
        ));
    }
    Ok(())
}

fn session(session: &Session) -> Result<(), ConfigError> {
    duration_between(
        "session.lifetime",
        session.lifetime,
        minutes(5),
        minutes(30 * 24 * 60),
    )?;
    duration_between(
        "session.challenge_lifetime",
        session.challenge_lifetime,
        Duration::from_secs(30),
        minutes(60),
    )?;
    let name = &session.cookie_name;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(invalid(
            "session.cookie_name",
            format!("must be 1 to 64 of the characters A-Z a-z 0-9 _ - ., got {name:?}"),
        ));
    }
    if session.max_sessions > 0 && session.admin_reserved_seats > session.max_sessions {
        return Err(invalid(
            "session.admin_reserved_seats",
            format!(
                "must be at most session.max_sessions ({}), got {}",
                session.max_sessions, session.admin_reserved_seats
            ),
        ));
    }
    Ok(())
}

fn password(password: &Password) -> Result<(), ConfigError> {
    const NIST: &str = " (NIST SP 800-63B-4)";
    at_least(
        "password.min_length_with_mfa",
        password.min_length_with_mfa,
        8,
        NIST,
    )?;
    at_least(
        "password.min_length_without_mfa",
        password.min_length_without_mfa,
        15,
        NIST,
    )?;
    if password.min_length_without_mfa < password.min_length_with_mfa {
        return Err(invalid(
            "password.min_length_without_mfa",
            format!(
                "must be at least password.min_length_with_mfa ({}), got {}",
                password.min_length_with_mfa, password.min_length_without_mfa
            ),
        ));
    }
    between("password.max_bytes", password.max_bytes, 64, 4096, NIST)?;
    if password.min_length_without_mfa > password.max_bytes {
        return Err(invalid(
            "password.min_length_without_mfa",
            format!(
                "must not exceed password.max_bytes ({}), got {}",
                password.max_bytes, password.min_length_without_mfa
            ),
        ));
    }
    // Floor 8 MiB (OWASP's weakest argon2id row is 7 MiB with t=5); ceiling 4 GiB per hash.
    // Cheaper settings for tests exist only in code: `Password::danger_fast_for_tests`.
    between(
        "password.argon2_memory_kib",
        password.argon2_memory_kib,
        8192,
        4 * 1024 * 1024,
        " KiB (8 MiB to 4 GiB)",
    )?;
    at_least(
        "password.argon2_iterations",
        password.argon2_iterations,
        1,
        "",
    )?;
    // With p <= 64 and m >= 8192, argon2's own rule m >= 8 * p always holds.
    between(
        "password.argon2_parallelism",
        password.argon2_parallelism,
        1,
        64,
        "",
    )
}

fn hashing(hashing: &Hashing) -> Result<(), ConfigError> {
    if hashing.threads > 1024 {
        return Err(invalid(
            "hashing.threads",
            format!(
                "must be at most 1024 (0 = one per CPU core), got {}",
                hashing.threads
            ),
        ));
    }
    at_least("hashing.queue", hashing.queue, 1, "")
}

fn totp(totp: &Totp) -> Result<(), ConfigError> {
    if !matches!(totp.algorithm.as_str(), "SHA1" | "SHA256" | "SHA512") {
        return Err(invalid(
            "totp.algorithm",
            format!(
                "must be one of SHA1, SHA256, SHA512, got {:?}",
                totp.algorithm
            ),
        ));
    }
    if !matches!(totp.digits, 6 | 8) {
        return Err(invalid(
            "totp.digits",
            format!("must be 6 or 8, got {}", totp.digits),
        ));
    }
    if !matches!(totp.period, 30 | 60) {
        return Err(invalid(
            "totp.period",
            format!("must be 30 or 60 seconds, got {}", totp.period),
        ));
    }
    if totp.skew_steps > 2 {
        return Err(invalid(
            "totp.skew_steps",
            format!("must be at most 2, got {}", totp.skew_steps),
        ));
    }
    Ok(())
}

fn mfa(m: &Mfa) -> Result<(), ConfigError> {
    duration_between(
        "mfa.step_up_window",
        m.step_up_window,
        Duration::from_secs(60),
        Duration::from_secs(3600),
    )?;
    duration_between(
        "mfa.reset_approval_window",
        m.reset_approval_window,
        Duration::from_secs(3600),
        Duration::from_secs(7 * 24 * 3600),
    )
}

fn backup_codes(codes: &BackupCodes) -> Result<(), ConfigError> {
    between("backup_codes.count", codes.count, 5, 20, "")?;
    if codes.warn_at_or_below >= codes.count {
        return Err(invalid(
            "backup_codes.warn_at_or_below",
            format!(
                "must be below backup_codes.count ({}), got {}",
                codes.count, codes.warn_at_or_below
            ),
        ));
    }
    Ok(())
}

fn keys(k: &Keys) -> Result<(), ConfigError> {
    between("keys.pin_min_length", k.pin_min_length, 4, 16, " digits")?;
    between(
        "keys.pin_max_length",
        k.pin_max_length,
        k.pin_min_length,
        16,
        " digits",
    )?;
    between("keys.max_failures", k.max_failures, 1, 100, "")?;
    between("keys.hotp_look_ahead", k.hotp_look_ahead, 1, 100, "")?;
    between("keys.totp_skew_steps", k.totp_skew_steps, 0, 2, "")?;
    between(
        "keys.resync_hotp_window",
        k.resync_hotp_window,
        10,
        10_000,
        "",
    )?;
    let hour = Duration::from_secs(3600);
    let week = Duration::from_secs(7 * 24 * 3600);
    for (key, d) in [
        ("keys.resync_totp_window", k.resync_totp_window),
        (
            "keys.temporary_password_max_validity",
            k.temporary_password_max_validity,
        ),
    ] {
        if d < hour || d > week {
            return Err(invalid(
                key,
                format!("must be between 1h and 7d, got {}", format_duration(d)),
            ));
        }
    }
    if k.utc_offset_seconds().is_none() {
        return Err(invalid(
            "keys.utc_offset",
            format!(
                "must look like +01:00 or -05:30 (at most 14:00), got {:?}",
                k.utc_offset
            ),
        ));
    }
    Ok(())
}

fn backups(b: &Backups) -> Result<(), ConfigError> {
    if b.snapshot_every != Duration::ZERO {
        duration_between(
            "backups.snapshot_every",
            b.snapshot_every,
            Duration::from_secs(15 * 60),
            Duration::from_secs(7 * 24 * 3600),
        )?;
    }
    between("backups.snapshots_kept", b.snapshots_kept, 1, 1000, "")?;
    between("backups.archives_kept", b.archives_kept, 1, 3650, "")
}

fn updates(u: &Updates) -> Result<(), ConfigError> {
    duration_between(
        "updates.timestamp_expiry",
        u.timestamp_expiry,
        Duration::from_secs(3600),
        Duration::from_secs(90 * 86_400),
    )?;
    duration_between(
        "updates.metadata_expiry",
        u.metadata_expiry,
        u.timestamp_expiry.max(Duration::from_secs(86_400)),
        Duration::from_secs(3650 * 86_400),
    )
}

fn guard(g: &Guard) -> Result<(), ConfigError> {
    for part in g
        .trusted_proxies
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !is_cidr(part) {
            return Err(invalid(
                "guard.trusted_proxies",
                format!("must be comma-separated CIDR ranges such as 10.0.0.0/8, got {part:?}"),
            ));
        }
    }
    between("guard.rate_per_second", g.rate_per_second, 1, 100_000, "")?;
    between("guard.rate_burst", g.rate_burst, 1, 1_000_000, "")?;
    between("guard.flood_refusals", g.flood_refusals, 1, 10_000_000, "")?;
    between("guard.failed_logins", g.failed_logins, 1, 10_000, "")?;
    between(
        "guard.forbidden_requests",
        g.forbidden_requests,
        1,
        10_000,
        "",
    )?;
    between(
        "guard.account_throttle_after",
        g.account_throttle_after,
        1,
        100,
        "",
    )?;
    between(
        "guard.account_lock_after",
        g.account_lock_after,
        g.account_throttle_after,
        100,
        " (NIST SP 800-63B: at most 100)",
    )?;
    let second = Duration::from_secs(1);
    let month = Duration::from_secs(30 * 24 * 3600);
    for (key, d, allow_zero) in [
        ("guard.flood_window", g.flood_window, false),
        ("guard.failed_logins_window", g.failed_logins_window, false),
        ("guard.forbidden_window", g.forbidden_window, false),
        ("guard.suspend_failed_logins", g.suspend_failed_logins, true),
        ("guard.suspend_flood", g.suspend_flood, true),
        ("guard.suspend_forbidden", g.suspend_forbidden, true),
        ("guard.account_max_delay", g.account_max_delay, false),
    ] {
        let ok = (allow_zero && d.is_zero()) || (d >= second && d <= month);
        if !ok {
            return Err(invalid(
                key,
                format!(
                    "must be between 1s and 30d{}, got {}",
                    if allow_zero {
                        " (or 0s: until lifted)"
                    } else {
                        ""
                    },
                    format_duration(d)
                ),
            ));
        }
    }
    Ok(())
}

/// `a.b.c.d/n` or an IPv6 `x::y/n` (the prefix length in range), without a resolver.
fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

fn relay(r: &Relay) -> Result<(), ConfigError> {
    between("relay.key_digits", r.key_digits, 6, 12, "")?;
    duration_between(
        "relay.key_lifetime",
        r.key_lifetime,
        minutes(1),
        minutes(24 * 60),
    )?;
    between("relay.key_failures", r.key_failures, 1, 1000, "")?;
    duration_between(
        "relay.key_suspension",
        r.key_suspension,
        Duration::from_secs(1),
        minutes(30 * 24 * 60),
    )?;
    duration_between(
        "relay.recheck_every",
        r.recheck_every,
        Duration::from_secs(1),
        minutes(10),
    )?;
    duration_between(
        "relay.invitation_lifetime",
        r.invitation_lifetime,
        minutes(1),
        minutes(24 * 60),
    )?;
    duration_between(
        "relay.resume_grace",
        r.resume_grace,
        Duration::ZERO,
        minutes(60),
    )?;
    duration_between(
        "relay.retention",
        r.retention,
        minutes(24 * 60),
        minutes(3650 * 24 * 60),
    )?;
    between("relay.max_connections", r.max_connections, 1, 1_000_000, "")?;
    if !r.metrics_listen.is_empty() && r.metrics_listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            "relay.metrics_listen",
            format!(
                "must be empty or an address and port such as 127.0.0.1:9444, got {:?}",
                r.metrics_listen
            ),
        ));
    }
    if r.authd_address
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(invalid(
            "relay.authd_address",
            format!("must be host:port, got {:?}", r.authd_address),
        ));
    }
    between("relay.smtp_port", r.smtp_port, 1, 65535, "")?;
    if !matches!(
        r.smtp_starttls.as_str(),
        "required" | "opportunistic" | "off"
    ) {
        return Err(invalid(
            "relay.smtp_starttls",
            format!(
                "must be required, opportunistic or off, got {:?}",
                r.smtp_starttls
            ),
        ));
    }
    if !r.smtp_from.contains('@') {
        return Err(invalid(
            "relay.smtp_from",
            format!("must be an e-mail address, got {:?}", r.smtp_from),
        ));
    }
    Ok(())
}

fn bootstrap(bootstrap: &Bootstrap) -> Result<(), ConfigError> {
    let name = &bootstrap.admin_username;
    let allowed = |c: char| c.is_alphanumeric() || "@.+-_".contains(c);
    if name.is_empty() || name.chars().count() > 150 || !name.chars().all(allowed) {
        return Err(invalid(
            "bootstrap.admin_username",
            format!("must be 1 to 150 letters, digits or @ . + - _, got {name:?}"),
        ));
    }
    Ok(())
}

const ROLE_NAMES: [&str; 4] = ["user", "helpdesk", "technician", "admin"];

fn webauthn(w: &Webauthn) -> Result<(), ConfigError> {
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok(&w.rp_id) {
        return Err(invalid(
            "webauthn.rp_id",
            format!(
                "must be a domain name such as sesame.example.org, got {:?}",
                w.rp_id
            ),
        ));
    }
    for origin in split_list(&w.rp_origins) {
        let rest = origin.strip_prefix("https://").unwrap_or("");
        let host =
            rest.rsplit_once(':').map_or(
                rest,
                |(h, port)| {
                    if port.parse::<u16>().is_ok() { h } else { "" }
                },
            );
        if !host_ok(host) {
            return Err(invalid(
                "webauthn.rp_origins",
                format!(
                    "must be comma-separated origins such as https://sesame.example.org:8443 (no path), got {origin:?}"
                ),
            ));
        }
    }
    duration_between(
        "webauthn.ceremony_lifetime",
        w.ceremony_lifetime,
        Duration::from_secs(30),
        Duration::from_secs(3600),
    )?;
    if !matches!(w.cloned_counter.as_str(), "refuse" | "accept") {
        return Err(invalid(
            "webauthn.cloned_counter",
            format!(
                "must be \"refuse\" or \"accept\", got {:?}",
                w.cloned_counter
            ),
        ));
    }
    for (key, list) in [
        (
            "webauthn.passwordless_denied_roles",
            &w.passwordless_denied_roles,
        ),
        ("webauthn.attestation_roles", &w.attestation_roles),
    ] {
        if let Some(bad) = split_list(list)
            .into_iter()
            .find(|r| !ROLE_NAMES.contains(&r.as_str()))
        {
            return Err(invalid(
                key,
                format!("must list roles among user, helpdesk, technician, admin, got {bad:?}"),
            ));
        }
    }
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    if let Some(bad) = split_list(&w.attestation_aaguids)
        .into_iter()
        .find(|a| !is_uuid(a))
    {
        return Err(invalid(
            "webauthn.attestation_aaguids",
            format!(
                "must be comma-separated AAGUIDs such as cb69481e-8ff7-4039-93ec-0a2729a154a8, got {bad:?}"
            ),
        ));
    }
    if !split_list(&w.attestation_roles).is_empty()
        && split_list(&w.attestation_aaguids).is_empty()
        && split_list(&w.attestation_ca_files).is_empty()
    {
        return Err(invalid(
            "webauthn.attestation_aaguids",
            "must list at least one AAGUID (or webauthn.attestation_ca_files at least one CA file) when webauthn.attestation_roles is set",
        ));
    }
    if let Some(bad) = split_list(&w.attestation_ca_files)
        .into_iter()
        .find(|f| f.chars().any(char::is_control))
    {
        return Err(invalid(
            "webauthn.attestation_ca_files",
            format!("must be comma-separated paths of PEM files, got {bad:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The message `validate` gives after `change` is applied to the defaults.
    fn message(change: impl FnOnce(&mut Config)) -> String {
        let mut config = Config::default();
        change(&mut config);
        let error = config.validate().unwrap_err();
        assert_eq!(error.code(), "invalid_setting");
        error.to_string()
    }

    fn valid(change: impl FnOnce(&mut Config)) -> bool {
        let mut config = Config::default();
        change(&mut config);
        config.validate().is_ok()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate().ok(), Some(()));
    }

    #[test]
    fn server_rules() {
        assert_eq!(
            message(|c| c.server.data_dir = PathBuf::new()),
            "server.data_dir must not be empty"
        );
        assert_eq!(
            message(|c| c.server.max_connections = 0),
            "server.max_connections must be at least 1, got 0"
        );
        assert_eq!(
            message(|c| c.server.body_limit_bytes = 1023),
            "server.body_limit_bytes must be between 1024 and 16777216 (16 MiB), got 1023"
        );
        assert!(valid(|c| c.server.body_limit_bytes = MAX_BODY_LIMIT));
        assert!(!valid(|c| c.server.body_limit_bytes = MAX_BODY_LIMIT + 1));
        assert_eq!(
            message(|c| c.server.request_timeout = Duration::ZERO),
            "server.request_timeout must be between 1s and 1h, got 0s"
        );
        assert_eq!(
            message(|c| c.server.service_name = "Acme:SSO".into()),
            "server.service_name must be 1 to 64 characters without ':' or control characters, \
             got \"Acme:SSO\""
        );
        assert!(!valid(|c| c.server.service_name = String::new()));
        assert!(valid(
            |c| c.server.service_name = "Société Générale SSO".into()
        ));
    }

    #[test]
    fn tls_files_go_together() {
        assert_eq!(
            message(|c| c.tls.cert_file = Some("cert.pem".into())),
            "tls.cert_file and tls.key_file must be set together (only tls.cert_file is set)"
        );
        assert_eq!(
            message(|c| c.tls.key_file = Some("key.pem".into())),
            "tls.cert_file and tls.key_file must be set together (only tls.key_file is set)"
        );
        assert!(valid(|c| {
            c.tls.cert_file = Some("cert.pem".into());
            c.tls.key_file = Some("key.pem".into());
        }));
    }

    #[test]
    fn log_level_rules() {
        assert!(valid(
            |c| c.log.level = "authd=debug,tower_http=warn,info".into()
        ));
        assert_eq!(
            message(|c| c.log.level = "INFO".into()),
            "log.level must be trace, debug, info, warn, error or a filter such as \
             \"authd=debug,info\" (characters a-z 0-9 _ = , : . -), got \"INFO\""
        );
        assert!(!valid(|c| c.log.level = String::new()));
        assert!(!valid(|c| c.log.level = "info; rm".into()));
    }

    #[test]
    fn session_rules() {
        assert_eq!(
            message(|c| c.session.lifetime = minutes(1)),
            "session.lifetime must be between 5m and 30d, got 1m"
        );
        assert!(valid(|c| c.session.lifetime = minutes(30 * 24 * 60)));
        assert!(!valid(|c| c.session.lifetime = minutes(30 * 24 * 60 + 1)));
        assert_eq!(
            message(|c| c.session.challenge_lifetime = Duration::from_secs(10)),
            "session.challenge_lifetime must be between 30s and 1h, got 10s"
        );
        assert_eq!(
            message(|c| c.session.cookie_name = "my cookie".into()),
            "session.cookie_name must be 1 to 64 of the characters A-Z a-z 0-9 _ - ., \
             got \"my cookie\""
        );
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            message(|c| c.password.min_length_with_mfa = 6),
            "password.min_length_with_mfa must be at least 8 (NIST SP 800-63B-4), got 6"
        );
        assert_eq!(
            message(|c| c.password.min_length_without_mfa = 12),
            "password.min_length_without_mfa must be at least 15 (NIST SP 800-63B-4), got 12"
        );
        assert_eq!(
            message(|c| c.password.min_length_with_mfa = 20),
            "password.min_length_without_mfa must be at least \
             password.min_length_with_mfa (20), got 15"
        );
        assert_eq!(
            message(|c| c.password.max_bytes = 32),
            "password.max_bytes must be between 64 and 4096 (NIST SP 800-63B-4), got 32"
        );
        assert_eq!(
            message(|c| c.password.min_length_without_mfa = 2000),
            "password.min_length_without_mfa must not exceed password.max_bytes (1024), got 2000"
        );
        assert_eq!(
            message(|c| c.password.argon2_memory_kib = 4096),
            "password.argon2_memory_kib must be between 8192 and 4194304 KiB (8 MiB to 4 GiB), \
             got 4096"
        );
        assert_eq!(
            message(|c| c.password.argon2_iterations = 0),
            "password.argon2_iterations must be at least 1, got 0"
        );
        assert_eq!(
            message(|c| c.password.argon2_parallelism = 0),
            "password.argon2_parallelism must be between 1 and 64, got 0"
        );
        assert!(valid(|c| c.password.argon2_memory_kib = 8192));
    }

    #[test]
    fn hashing_rules() {
        assert_eq!(
            message(|c| c.hashing.queue = 0),
            "hashing.queue must be at least 1, got 0"
        );
        assert_eq!(
            message(|c| c.hashing.threads = 5000),
            "hashing.threads must be at most 1024 (0 = one per CPU core), got 5000"
        );
        assert!(valid(|c| c.hashing.threads = 4));
    }

    #[test]
    fn totp_rules() {
        assert_eq!(
            message(|c| c.totp.algorithm = "MD5".into()),
            "totp.algorithm must be one of SHA1, SHA256, SHA512, got \"MD5\""
        );
        assert_eq!(
            message(|c| c.totp.digits = 7),
            "totp.digits must be 6 or 8, got 7"
        );
        assert_eq!(
            message(|c| c.totp.period = 45),
            "totp.period must be 30 or 60 seconds, got 45"
        );
        assert_eq!(
            message(|c| c.totp.skew_steps = 3),
            "totp.skew_steps must be at most 2, got 3"
        );
        assert!(valid(|c| {
            c.totp.algorithm = "SHA512".into();
            c.totp.digits = 8;
            c.totp.period = 60;
            c.totp.skew_steps = 0;
        }));
    }

    #[test]
    fn backup_code_rules() {
        assert_eq!(
            message(|c| c.backup_codes.count = 3),
            "backup_codes.count must be between 5 and 20, got 3"
        );
        assert!(!valid(|c| c.backup_codes.count = 21));
        assert_eq!(
            message(|c| c.backup_codes.warn_at_or_below = 10),
            "backup_codes.warn_at_or_below must be below backup_codes.count (10), got 10"
        );
    }

    #[test]
    fn webauthn_rules() {
        assert_eq!(
            message(|c| c.webauthn.rp_id = "exa mple".into()),
            "webauthn.rp_id must be a domain name such as sesame.example.org, got \"exa mple\""
        );
        assert!(
            message(|c| c.webauthn.rp_origins = "http://localhost:8443".into())
                .starts_with("webauthn.rp_origins must be comma-separated origins")
        );
        assert!(
            message(|c| c.webauthn.ceremony_lifetime = Duration::from_secs(5))
                .starts_with("webauthn.ceremony_lifetime")
        );
        assert_eq!(
            message(|c| c.webauthn.cloned_counter = "ignore".into()),
            "webauthn.cloned_counter must be \"refuse\" or \"accept\", got \"ignore\""
        );
        assert!(
            message(|c| c.webauthn.passwordless_denied_roles = "admin,root".into())
                .contains("got \"root\"")
        );
        assert!(
            message(|c| c.webauthn.attestation_roles = "admin".into())
                .starts_with("webauthn.attestation_aaguids must list at least one")
        );
        let mut ok = Config::default();
        ok.webauthn.rp_origins =
            "https://sesame.example.org, https://sesame.example.org:8443".into();
        ok.webauthn.attestation_roles = "admin".into();
        ok.webauthn.attestation_aaguids = "cb69481e-8ff7-4039-93ec-0a2729a154a8".into();
        ok.validate().unwrap();
        let mut cas = Config::default();
        cas.webauthn.attestation_roles = "admin".into();
        cas.webauthn.attestation_ca_files = "/etc/sesame/fido-cas.pem".into();
        cas.validate().expect("CA files alone say what is accepted");
        assert!(
            message(|c| c.webauthn.attestation_ca_files = "a.pem,b\u{7}.pem".into())
                .starts_with("webauthn.attestation_ca_files must be comma-separated paths")
        );
        assert_eq!(ok.webauthn.origins(8443).len(), 2);
        assert_eq!(
            Config::default().webauthn.origins(9443),
            vec!["https://localhost:9443".to_owned()]
        );
    }

    #[test]
    fn bootstrap_username_rules() {
        assert_eq!(
            message(|c| c.bootstrap.admin_username = "ad min".into()),
            "bootstrap.admin_username must be 1 to 150 letters, digits or @ . + - _, got \"ad min\""
        );
        assert!(!valid(|c| c.bootstrap.admin_username = String::new()));
        assert!(!valid(|c| c.bootstrap.admin_username = "a".repeat(151)));
        assert!(valid(|c| c.bootstrap.admin_username = "é".repeat(150)));
        assert!(valid(
            |c| c.bootstrap.admin_username = "ops+admin@example.org".into()
        ));
    }

    #[test]
    fn keys_rules() {
        assert_eq!(
            message(|c| c.keys.pin_min_length = 3),
            "keys.pin_min_length must be between 4 and 16 digits, got 3"
        );
        assert!(!valid(|c| c.keys.pin_max_length = 3));
        assert!(!valid(|c| c.keys.max_failures = 0));
        assert!(!valid(|c| c.keys.totp_skew_steps = 3));
        assert!(!valid(
            |c| c.keys.resync_totp_window = Duration::from_secs(60)
        ));
        assert_eq!(
            message(|c| c.keys.temporary_password_max_validity = Duration::from_secs(8 * 86400)),
            "keys.temporary_password_max_validity must be between 1h and 7d, got 8d"
        );
        for bad in ["1", "+1:00", "+15:00", "01:00", "+01:60", "+01-00"] {
            assert!(!valid(|c| c.keys.utc_offset = bad.into()), "{bad}");
        }
        for (good, secs) in [
            ("+00:00", 0),
            ("+01:00", 3600),
            ("-05:30", -19800),
            ("+14:00", 50400),
        ] {
            let k = crate::Keys {
                utc_offset: good.into(),
                ..Default::default()
            };
            assert_eq!(k.utc_offset_seconds(), Some(secs), "{good}");
        }
    }

    #[test]
    fn updates_rules() {
        assert!(valid(
            |c| c.updates.timestamp_expiry = Duration::from_secs(3600)
        ));
        assert!(!valid(
            |c| c.updates.timestamp_expiry = Duration::from_secs(60)
        ));
        assert!(!valid(
            |c| c.updates.metadata_expiry = Duration::from_secs(3600)
        ));
        assert_eq!(
            message(|c| c.updates.timestamp_expiry = Duration::from_secs(100 * 86_400)),
            "updates.timestamp_expiry must be between 1h and 90d, got 100d"
        );
    }

    #[test]
    fn backups_rules() {
        assert!(valid(|c| c.backups.snapshot_every = Duration::ZERO));
        assert!(!valid(
            |c| c.backups.snapshot_every = Duration::from_secs(60)
        ));
        assert!(!valid(|c| c.backups.snapshots_kept = 0));
        assert!(!valid(|c| c.backups.archives_kept = 0));
        assert_eq!(
            message(|c| c.backups.snapshots_kept = 0),
            "backups.snapshots_kept must be between 1 and 1000, got 0"
        );
    }

    #[test]
    fn relay_rules() {
        assert!(!valid(|c| c.relay.key_digits = 5));
        assert!(valid(|c| c.relay.key_digits = 12));
        assert!(!valid(|c| c.relay.recheck_every = Duration::ZERO));
        assert!(!valid(|c| c.relay.smtp_starttls = "yes".into()));
        assert!(!valid(|c| c.relay.metrics_listen = "localhost".into()));
        assert!(valid(|c| c.relay.metrics_listen = "127.0.0.1:9444".into()));
        assert!(!valid(|c| c.relay.authd_address = "authd".into()));
        assert!(!valid(|c| c.relay.smtp_port = 70000));
        assert_eq!(
            message(|c| c.relay.key_digits = 3),
            "relay.key_digits must be between 6 and 12, got 3"
        );
    }

    #[test]
    fn guard_rules() {
        assert!(valid(
            |c| c.guard.trusted_proxies = "10.0.0.0/8, ::1/128".into()
        ));
        assert_eq!(
            message(|c| c.guard.trusted_proxies = "10.0.0.0/8, proxy.local".into()),
            "guard.trusted_proxies must be comma-separated CIDR ranges such as 10.0.0.0/8, got \"proxy.local\""
        );
        assert!(!valid(|c| c.guard.trusted_proxies = "10.0.0.0/33".into()));
        assert!(!valid(|c| c.guard.account_lock_after = 101));
        assert!(valid(|c| c.guard.suspend_flood = Duration::ZERO));
        assert!(!valid(|c| c.guard.failed_logins_window = Duration::ZERO));
        assert!(!valid(|c| c.guard.rate_per_second = 0));
    }
}
