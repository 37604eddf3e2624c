-- E5: replay keys of signed webhooks (Mailgun tokens and event IDs, generic signatures), kept as
-- SHA-256 hashes until the signature's freshness window has passed, so that every node, and a
-- node after a restart, refuses a replayed request. Platform data: a report belongs to no tenant
-- until its signature is checked, so only the platform wall reads or writes these rows.
CREATE TABLE webhook_replays (
    provider    TEXT NOT NULL,
    key_hash    BYTEA NOT NULL,
    expires_ms  BIGINT NOT NULL,
    PRIMARY KEY (provider, key_hash)
);
CREATE INDEX webhook_replays_expiry ON webhook_replays (expires_ms);

ALTER TABLE webhook_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON webhook_replays
    USING (kinfold_platform()) WITH CHECK (kinfold_platform());
