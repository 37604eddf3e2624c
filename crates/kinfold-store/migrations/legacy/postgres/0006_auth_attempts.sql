-- Attempt counters of the throttles (A2): sign-in, second factor, pickup passphrases, password
-- reset requests. Kept in the store so that every node and every restart sees the same counts.
-- `key` is an HMAC of the throttle's key (account, account and address) under a key derived
-- from the master key: no email address or IP is stored here in the clear. Not tenant data:
-- an attempt may name no tenant at all, so the table has no wall, like csp_reports.
CREATE TABLE auth_attempts (
    key         BYTEA PRIMARY KEY,
    failures    BIGINT NOT NULL,
    last_ms     BIGINT NOT NULL,
    refused     BIGINT NOT NULL DEFAULT 0,
    logged_ms   BIGINT NOT NULL DEFAULT 0,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX auth_attempts_expiry ON auth_attempts (expires_ms);
