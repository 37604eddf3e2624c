-- Kinfold's schema, written once for SQLite and PostgreSQL.
--
-- Layout. The files in this directory, `NNNN_name.sql`, are the one migration set of both
-- stores, applied in version order under the same numbers; each is listed in `UNIFIED` in
-- crates/kinfold-store/src/migrations.rs (a test fails if a file here is not). This baseline
-- is the whole schema as it stood when the two stores' separate sets were merged. Those sets
-- are kept, byte for byte, in `legacy/sqlite/` (0001-0010) and `legacy/postgres/` (0001-0007):
-- an existing database is first brought to the end of its legacy set, then this baseline is
-- recorded as applied without running it, since the legacy end schema is this one (the
-- conformance test `migrations` compares the two, catalog by catalog). Legacy files never
-- change: deployed databases hold their checksums. New changes go in a new file here, numbered
-- after the last one.
--
-- Dialect syntax. A file is rendered for each store before it runs (and its checksum is that
-- of the rendered text, which is stable):
--   -- @postgres          the lines up to `-- @end` are PostgreSQL's only: row-level security,
--   -- @sqlite            or SQLite's only; the marker lines themselves are dropped.
--   -- @end
--   {int}     64-bit integer        SQLite INTEGER    PostgreSQL BIGINT
--   {bytes}   bytes                 SQLite BLOB       PostgreSQL BYTEA
--   {bool}    boolean               SQLite INTEGER    PostgreSQL BOOLEAN (0/1 on SQLite)
--   {true}    boolean literal       SQLite 1          PostgreSQL TRUE
--   {false}   boolean literal       SQLite 0          PostgreSQL FALSE
--   {serial}  generated row key     SQLite INTEGER PRIMARY KEY AUTOINCREMENT
--                                   PostgreSQL BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
-- Everything else is written in the SQL both accept. Keep the differences to these.
--
-- Every tenant table leads with tenant_id, so PostgreSQL can distribute by it. On PostgreSQL,
-- row-level security (A5) is enabled and forced on every table that holds tenant data (see
-- "The wall" at the end); on SQLite each statement's `WHERE tenant_id` is the wall.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    created_ms      {int} NOT NULL,
    legal_name      TEXT,
    postal_address  TEXT,
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    region          TEXT NOT NULL DEFAULT 'default'
);

-- Per-tenant data keys, wrapped by the master key.
CREATE TABLE data_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    version     {int} NOT NULL,
    wrapped     {bytes} NOT NULL,
    created_ms  {int} NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Audit checkpoint signing keys, wrapped by the master key. Public halves stay listed after
-- rotation so old checkpoints still verify.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    wrapped     {bytes} NOT NULL,
    public_key  TEXT NOT NULL,
    created_ms  {int} NOT NULL,
    active      {bool} NOT NULL DEFAULT {true}
);

CREATE TABLE users (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    id              TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('administrator','teacher','front_desk','parent')),
    password_hash   TEXT,
    totp_sealed     {bytes},
    totp_last_step  {int},
    pending_totp    {bytes},
    created_ms      {int} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE recovery_codes (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_hash   {bytes} NOT NULL,
    used_ms     {int},
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE enrollments (
    token_hash      {bytes} PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    expires_ms      {int} NOT NULL,
    used_ms         {int},
    pending_totp    {bytes},
    created_ms      {int} NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_challenges (
    token_hash  {bytes} PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  {int} NOT NULL,
    attempts    {int} NOT NULL DEFAULT 0,
    used_ms     {int},
    ip          TEXT,
    user_agent  TEXT,
    device      TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    token_hash      {bytes} NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    created_ms      {int} NOT NULL,
    last_seen_ms    {int} NOT NULL,
    expires_ms      {int} NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    device          TEXT,
    ended_ms        {int},
    end_reason      TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, ended_ms, created_ms);

-- `chain` is the tenant's ID for a tenant chain, or 'system'. The insertion order, which shows
-- a reordered chain as reordered when read back, is SQLite's implicit rowid and PostgreSQL's
-- `pos`.
CREATE TABLE audit_log (
-- @postgres
    pos         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
-- @end
    chain       TEXT NOT NULL,
    seq         {int} NOT NULL,
    at_ms       {int} NOT NULL,
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
    seq         {int} NOT NULL,
    hash        TEXT NOT NULL,
    at_ms       {int} NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE csp_reports (
    id          {serial},
    at_ms       {int} NOT NULL,
    report      TEXT NOT NULL
);

CREATE TABLE classrooms (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_ms  {int} NOT NULL,
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
    allergies           {bytes},
    medical_notes       {bytes},
    emergency_contacts  {bytes},
    created_ms          {int} NOT NULL,
    updated_ms          {int} NOT NULL,
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
    created_ms  {int} NOT NULL,
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
    may_pick_up     {bool} NOT NULL,
    primary_contact {bool} NOT NULL,
    PRIMARY KEY (tenant_id, child_id, guardian_id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, guardian_id) REFERENCES guardians(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX child_guardians_guardian ON child_guardians (tenant_id, guardian_id);

-- The passphrase is verify-only: an argon2id hash.
CREATE TABLE authorized_pickups (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    relation        TEXT NOT NULL,
    passphrase_hash TEXT NOT NULL,
    created_ms      {int} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE attendance (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    day             TEXT NOT NULL,
    at_ms           {int} NOT NULL,
    recorded_by     TEXT NOT NULL,
    person_kind     TEXT NOT NULL CHECK (person_kind IN ('guardian', 'authorized_pickup')),
    person_id       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id)
);
CREATE INDEX attendance_day ON attendance (tenant_id, day, child_id, at_ms);

-- Break-glass grants (A3): time-boxed, justified operator access to one tenant's data.
CREATE TABLE access_grants (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    operator    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_ms  {int} NOT NULL,
    expires_ms  {int} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- L4: every authenticated API request, under the category of its route. Requests arrive by the
-- thousand per second, so each group commit stores one segment per tenant: a JSON array of the
-- batch's entries. Not hash-chained (the chain holds the security events); retention removes
-- whole segments by age.
CREATE TABLE api_access_segments (
    id          {serial},
    tenant_id   TEXT NOT NULL,
    first_ms    {int} NOT NULL,
    last_ms     {int} NOT NULL,
    entries     TEXT NOT NULL
);
CREATE INDEX api_access_segments_tenant ON api_access_segments (tenant_id, id);

-- @postgres
-- The app role's password, sealed with the master key, for nodes that start with their own
-- data directory. Readable by the owner only (SQLite has no roles).
CREATE TABLE role_secrets (
    role    TEXT PRIMARY KEY,
    sealed  BYTEA NOT NULL
);
-- @end

-- E2: the platform's sending domains, with their DKIM keys (RSA-2048 and Ed25519), each sealed
-- with a key derived from the master key. Platform data: no tenant, no row policy; on
-- PostgreSQL the server's role may read and add, never change or remove (see GRANTS in
-- src/postgres/setup.rs).
CREATE TABLE mail_domains (
    domain              TEXT PRIMARY KEY,
    rsa_selector        TEXT NOT NULL,
    rsa_key             {bytes} NOT NULL,
    ed25519_selector    TEXT NOT NULL,
    ed25519_key         {bytes} NOT NULL,
    created_ms          {int} NOT NULL
);

-- E3, E4: a recipient's unsubscribes, one row per category. An unsubscribed address is never
-- sent that category again; the row is kept as the proof of the request.
CREATE TABLE email_opt_outs (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    recipient_id    TEXT NOT NULL,
    category        TEXT NOT NULL,
    at_ms           {int} NOT NULL,
    PRIMARY KEY (tenant_id, recipient_id, category)
);

-- E1, O2: the outbox. A message (its subject and bodies sealed with the tenant's data key) and
-- one delivery per recipient. The worker leases a delivery (`sending`, `lease_until_ms`), marks
-- it `handed_ms` as it gives it to the transport, and writes the outcome; `header_id` is the
-- Message-ID it is sent with.
CREATE TABLE email_messages (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_by  TEXT,
    body        {bytes} NOT NULL,
    created_ms  {int} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE email_deliveries (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    recipient_id    TEXT NOT NULL,
    recipient_name  TEXT NOT NULL,
    address         TEXT NOT NULL,
    header_id       TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'deferred',
                        'bounced', 'failed', 'suppressed', 'held')),
    attempts        {int} NOT NULL DEFAULT 0,
    next_ms         {int} NOT NULL,
    lease_until_ms  {int},
    -- Set just before the transport gets it: a lease that runs out without it was never sent.
    handed_ms       {int},
    -- Names the claim: only the worker holding this lease may hand over or finish.
    lease_token     TEXT,
    response        TEXT,
    updated_ms      {int} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES email_messages(tenant_id, id)
);
CREATE INDEX email_deliveries_due ON email_deliveries (state, next_ms);
CREATE INDEX email_deliveries_message ON email_deliveries (tenant_id, message_id);
-- A tenant's recent deliveries, for its bounce and complaint rates (O5).
CREATE INDEX email_deliveries_recent ON email_deliveries (tenant_id, updated_ms);
-- Reports without a Message-ID are matched by address.
CREATE INDEX email_deliveries_address ON email_deliveries (lower(address), updated_ms);

-- E5: addresses that hard-bounced or complained. Never written to again.
CREATE TABLE email_suppressions (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    address     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at_ms       {int} NOT NULL,
    PRIMARY KEY (tenant_id, address)
);

-- Password reset links (account email, E1): single use, short-lived, kept only as a hash of the
-- token. A new link for a user supersedes any earlier unused one.
CREATE TABLE password_resets (
    token_hash  {bytes} PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  {int} NOT NULL,
    used_ms     {int},
    created_ms  {int} NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id, used_ms);

-- Attempt counters of the throttles (A2): sign-in, second factor, pickup passphrases, password
-- reset requests. Kept in the store so that every node and every restart sees the same counts.
-- `key` is an HMAC of the throttle's key (account, account and address) under a key derived
-- from the master key: no email address or IP is stored here in the clear. Not tenant data:
-- an attempt may name no tenant at all, so the table has no wall, like csp_reports.
CREATE TABLE auth_attempts (
    key         {bytes} PRIMARY KEY,
    failures    {int} NOT NULL,
    last_ms     {int} NOT NULL,
    -- Refused attempts not yet summarised in a `throttled` audit entry, and when the last
    -- summary was written.
    refused     {int} NOT NULL DEFAULT 0,
    logged_ms   {int} NOT NULL DEFAULT 0,
    expires_ms  {int} NOT NULL
);
CREATE INDEX auth_attempts_expiry ON auth_attempts (expires_ms);

-- E5: replay keys of signed webhooks (Mailgun tokens and event IDs, generic signatures), kept as
-- SHA-256 hashes until the signature's freshness window has passed, so that every node, and a
-- node after a restart, refuses a replayed request. Platform data: a report belongs to no tenant
-- until its signature is checked, so on PostgreSQL only the platform wall reads or writes these
-- rows.
CREATE TABLE webhook_replays (
    provider    TEXT NOT NULL,
    key_hash    {bytes} NOT NULL,
    expires_ms  {int} NOT NULL,
    PRIMARY KEY (provider, key_hash)
);
CREATE INDEX webhook_replays_expiry ON webhook_replays (expires_ms);

-- @postgres
-- The wall (A5). The server sets the scope inside each transaction with set_config(..., true),
-- never per session:
--   app.tenant_id    the tenant the transaction works in;
--   app.tenant_slug  sign-in: find a tenant by its slug;
--   app.token        a token's SHA-256 (hex): find the session, enrollment, MFA challenge or
--                    password reset it opens, before the tenant is known;
--   app.platform     'on' for operator work across tenants (listing tenants, the system
--                    audit chain, audit verification, the outbox worker's due list, webhook
--                    replay keys).
-- With none set, every tenant table reads as empty and refuses writes. The slug and token
-- settings only read; every write needs the tenant's own scope. Tables without tenant data
-- (signing keys, CSP reports, mail domains, attempt counters) have no policy; the server's role
-- may only read and add to them, and to the audit tables (see the grants in
-- crates/kinfold-store/src/postgres/setup.rs).
--
-- The functions read only pg_catalog, whatever the caller's search path.
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
        'sessions', 'enrollments', 'mfa_challenges', 'password_resets',
        'email_opt_outs', 'email_messages', 'email_deliveries', 'email_suppressions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_wall ON %I USING (tenant_id = kinfold_scope())', t);
    END LOOP;
    -- A token may read the one row it opens, before its tenant is known; writing to that row
    -- takes the tenant's scope.
    FOREACH t IN ARRAY ARRAY['sessions', 'enrollments', 'mfa_challenges', 'password_resets']
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

-- The delivery worker finds the tenants with work due on the platform (read only), then claims
-- and writes each tenant's deliveries behind that tenant's wall.
CREATE POLICY outbox_due ON email_deliveries FOR SELECT USING (kinfold_platform());

-- Webhook replay keys: the platform wall only.
ALTER TABLE webhook_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON webhook_replays
    USING (kinfold_platform()) WITH CHECK (kinfold_platform());
-- @end
