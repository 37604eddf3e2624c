-- E2: the platform's sending domains, with their DKIM keys (RSA-2048 and Ed25519), each sealed
-- with a key derived from the master key. Platform data: no tenant, no row policy; the server's
-- role may read and add, never change or remove (see GRANTS in setup.rs).
CREATE TABLE mail_domains (
    domain              TEXT PRIMARY KEY,
    rsa_selector        TEXT NOT NULL,
    rsa_key             BYTEA NOT NULL,
    ed25519_selector    TEXT NOT NULL,
    ed25519_key         BYTEA NOT NULL,
    created_ms          BIGINT NOT NULL
);
