//! Schema migrations, versioned in the code. `PRAGMA user_version` holds the number of
//! migrations applied; each runs in its own transaction at open. Never edit a released
//! migration: append a new one.

/// Migrations in order; index + 1 is the schema version after applying it.
pub const MIGRATIONS: &[&str] = &[
    // 1: accounts, TOTP devices, backup codes, login challenges, sessions, audit.
    r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        must_change_password INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        password_changed_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE totp_credentials (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        secret BLOB NOT NULL,
        algorithm TEXT NOT NULL,
        digits INTEGER NOT NULL,
        period INTEGER NOT NULL,
        confirmed INTEGER NOT NULL DEFAULT 0,
        last_step INTEGER NOT NULL DEFAULT -1,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
    ) STRICT;
    CREATE INDEX totp_by_user ON totp_credentials(user_id);

    CREATE TABLE backup_codes (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at INTEGER
    ) STRICT;
    CREATE INDEX backup_by_user ON backup_codes(user_id, tag);

    CREATE TABLE challenges (
        id INTEGER PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        stage TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        method TEXT NOT NULL,
        address TEXT NOT NULL,
        user_agent TEXT NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        address TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        method TEXT NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX sessions_by_user ON sessions(user_id);

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        address TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        detail TEXT NOT NULL,
        hash BLOB NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_actor ON audit(actor);
    CREATE INDEX audit_by_target ON audit(target);
    "#,
    // 2: hardware OTP keys, temporary passwords; sessions and challenges remember their key.
    r#"
    ALTER TABLE sessions ADD COLUMN otp_key_id INTEGER;
    ALTER TABLE challenges ADD COLUMN otp_key_id INTEGER;
    CREATE INDEX sessions_by_key ON sessions(otp_key_id);

    CREATE TABLE otp_keys (
        id INTEGER PRIMARY KEY,
        serial TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        period INTEGER NOT NULL DEFAULT 0,
        algorithm TEXT NOT NULL,
        digits INTEGER NOT NULL,
        secret BLOB NOT NULL,
        state TEXT NOT NULL,
        disabled_reason TEXT,
        disabled_note TEXT,
        owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        pin_hash TEXT,
        fail_count INTEGER NOT NULL DEFAULT 0,
        counter INTEGER NOT NULL DEFAULT 0,
        last_step INTEGER NOT NULL DEFAULT -1,
        drift INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        assigned_at INTEGER,
        disabled_at INTEGER,
        last_used_at INTEGER,
        manufacturer TEXT,
        model TEXT
    ) STRICT;
    CREATE INDEX keys_by_owner ON otp_keys(owner_id);
    CREATE INDEX keys_by_state ON otp_keys(state);

    CREATE TABLE temp_passwords (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX temp_by_user ON temp_passwords(user_id);
    "#,
    // 3: the guard: IP rules, suspensions, per-account failure counting.
    r#"
    CREATE TABLE ip_rules (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        action TEXT NOT NULL,
        cidr TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT
    ) STRICT;

    CREATE TABLE suspensions (
        address TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        expires_at INTEGER,
        created_by TEXT,
        lifted_at INTEGER
    ) STRICT;

    ALTER TABLE users ADD COLUMN fail_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN throttled_until INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: groups, the MFA policy, self-service profile and photo, step-up, admin MFA resets.
    r#"
    CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE user_groups (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_name)
    ) STRICT;
    CREATE INDEX user_groups_by_group ON user_groups(group_name);

    CREATE TABLE mfa_policy (
        scope TEXT PRIMARY KEY,
        requirement TEXT NOT NULL
    ) STRICT;
    INSERT INTO mfa_policy (scope, requirement) VALUES
        ('role:user', 'optional'),
        ('role:helpdesk', 'required'),
        ('role:technician', 'required'),
        ('role:admin', 'required');

    CREATE TABLE profiles (
        user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        email TEXT,
        language TEXT,
        display_name_private TEXT,
        display_name_public TEXT,
        photo BLOB,
        photo_type TEXT,
        photo_width INTEGER,
        photo_height INTEGER,
        updated_at INTEGER NOT NULL
    ) STRICT;

    ALTER TABLE sessions ADD COLUMN reauth_at INTEGER;

    CREATE TABLE mfa_resets (
        id INTEGER PRIMARY KEY,
        target_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        requested_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        approved_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        done_at INTEGER,
        state TEXT NOT NULL
    ) STRICT;
    CREATE INDEX mfa_resets_by_target ON mfa_resets(target_id);
    "#,
    // 5: support-console installations (update tokens) and deploy tokens.
    r#"
    CREATE TABLE deploy_tokens (
        id INTEGER PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        max_installs INTEGER NOT NULL,
        installs INTEGER NOT NULL DEFAULT 0,
        revoked_at INTEGER
    ) STRICT;

    CREATE TABLE console_installs (
        id INTEGER PRIMARY KEY,
        install_id TEXT NOT NULL UNIQUE,
        user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        deploy_token_id INTEGER REFERENCES deploy_tokens(id) ON DELETE SET NULL,
        platform TEXT NOT NULL,
        version TEXT NOT NULL,
        token_hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    "#,
    // 6: WebAuthn: security keys and passkeys, and their ceremonies (single-use, expiring; a used
    // one keeps its row without its state until it would have expired).
    r#"
    CREATE TABLE webauthn_credentials (
        id INTEGER PRIMARY KEY,
        cred_id BLOB NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        user_handle BLOB NOT NULL,
        label TEXT NOT NULL,
        credential TEXT NOT NULL,
        counter INTEGER NOT NULL,
        backup_eligible INTEGER NOT NULL,
        backup_state INTEGER NOT NULL,
        aaguid TEXT,
        possibly_cloned INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER
    ) STRICT;
    CREATE INDEX webauthn_by_user ON webauthn_credentials(user_id);

    CREATE TABLE webauthn_ceremonies (
        id INTEGER PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        challenge_id INTEGER,
        label TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    ) STRICT;
    CREATE INDEX webauthn_ceremony_by_challenge ON webauthn_ceremonies(challenge_id);
    CREATE INDEX webauthn_ceremony_by_expiry ON webauthn_ceremonies(expires_at);
    "#,
];
