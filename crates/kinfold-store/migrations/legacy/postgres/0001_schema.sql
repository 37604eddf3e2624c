-- Kinfold on PostgreSQL: the same tables as the SQLite schema after its migration 0004.
--
-- Row-level security (A5) is enabled and forced on every table that holds tenant data. The
-- server sets the scope inside each transaction with set_config(..., true), never per session:
--   app.tenant_id    the tenant the transaction works in;
--   app.tenant_slug  sign-in: find a tenant by its slug;
--   app.token        a token's SHA-256 (hex): find the session, enrollment or MFA challenge
--                    it opens, before the tenant is known;
--   app.platform     'on' for operator work across tenants (listing tenants, the system
--                    audit chain, audit verification).
-- With none set, every tenant table reads as empty and refuses writes. The slug and token
-- settings only read; every write needs the tenant's own scope. Tables without tenant data
-- (signing keys, CSP reports) have no policy; the server's role may only read and add to them,
-- and to the audit tables (see the grants in crates/kinfold-store/src/postgres/setup.rs).

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    legal_name      TEXT,
    postal_address  TEXT,
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    region          TEXT NOT NULL DEFAULT 'default'
);

CREATE TABLE data_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    version     BIGINT NOT NULL,
    wrapped     BYTEA NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    wrapped     BYTEA NOT NULL,
    public_key  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE users (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    id              TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('administrator','teacher','front_desk','parent')),
    password_hash   TEXT,
    totp_sealed     BYTEA,
    totp_last_step  BIGINT,
    pending_totp    BYTEA,
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE recovery_codes (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_hash   BYTEA NOT NULL,
    used_ms     BIGINT,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE enrollments (
    token_hash      BYTEA PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    used_ms         BIGINT,
    pending_totp    BYTEA,
    created_ms      BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_challenges (
    token_hash  BYTEA PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    used_ms     BIGINT,
    ip          TEXT,
    user_agent  TEXT,
    device      TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    token_hash      BYTEA NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    device          TEXT,
    ended_ms        BIGINT,
    end_reason      TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, ended_ms, created_ms);

-- `chain` is the tenant's ID for a tenant chain, or 'system'. `pos` is the insertion order, so a
-- reordered chain shows as reordered when read back.
CREATE TABLE audit_log (
    pos         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
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
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE csp_reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    report      TEXT NOT NULL
);

CREATE TABLE classrooms (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE staff_assignments (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    classroom_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, classroom_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, classroom_id) REFERENCES classrooms(tenant_id, id) ON DELETE CASCADE
);

-- allergies, medical_notes and emergency_contacts are sealed (AES-256-GCM, AAD bound to
-- tenant, table, column, row and key version).
CREATE TABLE children (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL UNIQUE,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    preferred_name      TEXT,
    date_of_birth       TEXT NOT NULL,
    classroom_id        TEXT,
    status              TEXT NOT NULL CHECK (status IN ('enrolled', 'waitlisted', 'withdrawn', 'archived')),
    enrolled_on         TEXT,
    left_on             TEXT,
    allergies           BYTEA,
    medical_notes       BYTEA,
    emergency_contacts  BYTEA,
    created_ms          BIGINT NOT NULL,
    updated_ms          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, classroom_id) REFERENCES classrooms(tenant_id, id)
);
CREATE INDEX children_classroom ON children (tenant_id, classroom_id, id);

CREATE TABLE guardians (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT,
    name        TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX guardians_user ON guardians (tenant_id, user_id);

CREATE TABLE child_guardians (
    tenant_id       TEXT NOT NULL,
    child_id        TEXT NOT NULL,
    guardian_id     TEXT NOT NULL,
    relationship    TEXT NOT NULL,
    custody         TEXT NOT NULL CHECK (custody IN ('full', 'shared', 'court_restricted')),
    may_pick_up     BOOLEAN NOT NULL,
    primary_contact BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, child_id, guardian_id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, guardian_id) REFERENCES guardians(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX child_guardians_guardian ON child_guardians (tenant_id, guardian_id);

CREATE TABLE authorized_pickups (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    relation        TEXT NOT NULL,
    passphrase_hash TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE attendance (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    day             TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    recorded_by     TEXT NOT NULL,
    person_kind     TEXT NOT NULL CHECK (person_kind IN ('guardian', 'authorized_pickup')),
    person_id       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id)
);
CREATE INDEX attendance_day ON attendance (tenant_id, day, child_id, at_ms);

CREATE TABLE access_grants (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    operator    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE api_access_segments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    first_ms    BIGINT NOT NULL,
    last_ms     BIGINT NOT NULL,
    entries     TEXT NOT NULL
);
CREATE INDEX api_access_segments_tenant ON api_access_segments (tenant_id, id);

-- The app role's password, sealed with the master key, for nodes that start with their own
-- data directory. Readable by the owner only.
CREATE TABLE role_secrets (
    role    TEXT PRIMARY KEY,
    sealed  BYTEA NOT NULL
);

-- The wall (A5). The functions read only pg_catalog, whatever the caller's search path.
CREATE FUNCTION kinfold_scope() RETURNS TEXT LANGUAGE sql STABLE
    SET search_path = pg_catalog AS
    $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$;
CREATE FUNCTION kinfold_slug() RETURNS TEXT LANGUAGE sql STABLE
    SET search_path = pg_catalog AS
    $$ SELECT NULLIF(current_setting('app.tenant_slug', true), '') $$;
CREATE FUNCTION kinfold_platform() RETURNS BOOLEAN LANGUAGE sql STABLE
    SET search_path = pg_catalog AS
    $$ SELECT COALESCE(current_setting('app.platform', true), '') = 'on' $$;
CREATE FUNCTION kinfold_token() RETURNS BYTEA LANGUAGE sql STABLE
    SET search_path = pg_catalog AS
    $$ SELECT decode(NULLIF(current_setting('app.token', true), ''), 'hex') $$;

-- Tenants: read by ID, by slug (sign-in) or on the platform; written only in their own scope;
-- never deleted by the server.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON tenants FOR SELECT
    USING (id = kinfold_scope() OR slug = kinfold_slug() OR kinfold_platform());
CREATE POLICY tenant_insert ON tenants FOR INSERT WITH CHECK (id = kinfold_scope());
CREATE POLICY tenant_update ON tenants FOR UPDATE
    USING (id = kinfold_scope()) WITH CHECK (id = kinfold_scope());

DO $$
DECLARE t TEXT;
BEGIN
    -- Tenant tables: every command, in the tenant's own scope only.
    FOREACH t IN ARRAY ARRAY['data_keys', 'users', 'recovery_codes', 'classrooms',
        'staff_assignments', 'children', 'guardians', 'child_guardians', 'authorized_pickups',
        'attendance', 'access_grants', 'api_access_segments',
        'sessions', 'enrollments', 'mfa_challenges']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_wall ON %I USING (tenant_id = kinfold_scope())', t);
    END LOOP;
    -- A token may read the one row it opens, before its tenant is known; writing to that row
    -- takes the tenant's scope.
    FOREACH t IN ARRAY ARRAY['sessions', 'enrollments', 'mfa_challenges']
    LOOP
        EXECUTE format('CREATE POLICY token_read ON %I FOR SELECT USING (token_hash = kinfold_token())', t);
    END LOOP;
    -- The audit chains: read in the chain's tenant scope (or on the platform), appended in the
    -- tenant's scope (the system chain on the platform), never changed: there is no UPDATE or
    -- DELETE policy, and the server's role has no such privilege either.
    FOREACH t IN ARRAY ARRAY['audit_log', 'audit_checkpoints']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY chain_read ON %I FOR SELECT USING (chain = kinfold_scope() OR kinfold_platform())', t);
        EXECUTE format('CREATE POLICY chain_append ON %I FOR INSERT WITH CHECK (chain = kinfold_scope() OR (kinfold_platform() AND chain = ''system''))', t);
    END LOOP;
END
$$;
