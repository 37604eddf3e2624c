-- E1, O2: the outbox. A message (its subject and bodies sealed with the tenant's data key) and
-- one delivery per recipient. The worker leases a delivery (`sending`, `lease_until_ms`), marks
-- it `handed_ms` as it gives it to the transport, and writes the outcome; `header_id` is the
-- Message-ID it is sent with.
CREATE TABLE email_messages (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_by  TEXT,
    body        BYTEA NOT NULL,
    created_ms  BIGINT NOT NULL,
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
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_ms         BIGINT NOT NULL,
    lease_until_ms  BIGINT,
    -- Set just before the transport gets it: a lease that runs out without it was never sent.
    handed_ms       BIGINT,
    -- Names the claim: only the worker holding this lease may hand over or finish.
    lease_token     TEXT,
    response        TEXT,
    updated_ms      BIGINT NOT NULL,
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
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, address)
);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['email_messages', 'email_deliveries', 'email_suppressions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_wall ON %I USING (tenant_id = kinfold_scope())', t);
    END LOOP;
END
$$;

-- The delivery worker finds the tenants with work due on the platform (read only), then claims
-- and writes each tenant's deliveries behind that tenant's wall.
CREATE POLICY outbox_due ON email_deliveries FOR SELECT USING (kinfold_platform());
