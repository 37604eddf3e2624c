-- E1, O2: the outbox. A message (its subject and bodies sealed with the tenant's data key) and
-- one delivery per recipient. The worker leases a delivery (`sending`, `lease_until_ms`), marks
-- it `handed_ms` as it gives it to the transport, and writes the outcome; `header_id` is the
-- Message-ID it is sent with.
CREATE TABLE email_messages (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_by  TEXT,
    body        BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
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
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_ms         INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    -- Set just before the transport gets it: a lease that runs out without it was never sent.
    handed_ms       INTEGER,
    -- Names the claim: only the worker holding this lease may hand over or finish.
    lease_token     TEXT,
    response        TEXT,
    updated_ms      INTEGER NOT NULL,
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
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, address)
);
