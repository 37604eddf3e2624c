-- Foundation: tenants, keys, users, MFA, sessions, audit chain, CSP reports.
-- Every tenant table leads with tenant_id, so the PostgreSQL backend can distribute by it.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

-- Per-tenant data keys, wrapped by the master key.
CREATE TABLE data_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    version     INTEGER NOT NULL,
    wrapped     BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Audit checkpoint signing keys, wrapped by the master key. Public halves stay listed after
-- rotation so old checkpoints still verify.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    public_key  TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE users (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    id              TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('administrator','teacher','front_desk','parent')),
    password_hash   TEXT,
    totp_sealed     BLOB,
    totp_last_step  INTEGER,
    pending_totp    BLOB,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE recovery_codes (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_hash   BLOB NOT NULL,
    used_ms     INTEGER,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE enrollments (
    token_hash      BLOB PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    expires_ms      INTEGER NOT NULL,
    used_ms         INTEGER,
    pending_totp    BLOB,
    created_ms      INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_challenges (
    token_hash  BLOB PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_ms     INTEGER,
    ip          TEXT,
    user_agent  TEXT,
    device      TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    token_hash      BLOB NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    device          TEXT,
    ended_ms        INTEGER,
    end_reason      TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, ended_ms, created_ms);

CREATE TABLE audit_log (
    chain       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    category    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT,
    ip          TEXT,
    user_agent  TEXT,
    device      TEXT,
    event       TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_log_category ON audit_log (chain, category, seq);

CREATE TABLE audit_checkpoints (
    chain       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE csp_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    report      TEXT NOT NULL
);
