-- E5: replay keys of signed webhooks (Mailgun tokens and event IDs, generic signatures), kept as
-- SHA-256 hashes until the signature's freshness window has passed, so that every node, and a
-- node after a restart, refuses a replayed request.
CREATE TABLE webhook_replays (
    provider    TEXT NOT NULL,
    key_hash    BLOB NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (provider, key_hash)
);
CREATE INDEX webhook_replays_expiry ON webhook_replays (expires_ms);
