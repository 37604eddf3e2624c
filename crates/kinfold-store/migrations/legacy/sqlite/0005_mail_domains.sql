-- E2: the platform's sending domains, with their DKIM keys (RSA-2048 and Ed25519), each sealed
-- with a key derived from the master key.
CREATE TABLE mail_domains (
    domain              TEXT PRIMARY KEY,
    rsa_selector        TEXT NOT NULL,
    rsa_key             BLOB NOT NULL,
    ed25519_selector    TEXT NOT NULL,
    ed25519_key         BLOB NOT NULL,
    created_ms          INTEGER NOT NULL
);
