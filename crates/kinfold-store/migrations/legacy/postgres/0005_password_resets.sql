-- Password reset links (account email, E1): single use, short-lived, kept only as a hash of the
-- token. A new link for a user supersedes any earlier unused one. Walled like enrollment links:
-- the token reads its own row; writing takes the tenant's scope.
CREATE TABLE password_resets (
    token_hash  BYTEA PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    used_ms     BIGINT,
    created_ms  BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id, used_ms);

ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON password_resets USING (tenant_id = kinfold_scope());
CREATE POLICY token_read ON password_resets FOR SELECT USING (token_hash = kinfold_token());
