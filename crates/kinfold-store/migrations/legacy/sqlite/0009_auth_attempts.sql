-- Attempt counters of the throttles (A2): sign-in, second factor, pickup passphrases, password
-- reset requests. Kept in the store so that every node and every restart sees the same counts.
-- `key` is an HMAC of the throttle's key (account, account and address) under a key derived
-- from the master key: no email address or IP is stored here in the clear.
CREATE TABLE auth_attempts (
    key         BLOB PRIMARY KEY,
    failures    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    -- Refused attempts not yet summarised in a `throttled` audit entry, and when the last
    -- summary was written.
    refused     INTEGER NOT NULL DEFAULT 0,
    logged_ms   INTEGER NOT NULL DEFAULT 0,
    expires_ms  INTEGER NOT NULL
);
CREATE INDEX auth_attempts_expiry ON auth_attempts (expires_ms);
