-- Password reset links (account email, E1): single use, short-lived, kept only as a hash of the
-- token. A new link for a user supersedes any earlier unused one.
CREATE TABLE password_resets (
    token_hash  BLOB PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_ms     INTEGER,
    created_ms  INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id, used_ms);
