-- E3, E4: a recipient's unsubscribes, one row per category. An unsubscribed address is never
-- sent that category again; the row is kept as the proof of the request.
CREATE TABLE email_opt_outs (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    recipient_id    TEXT NOT NULL,
    category        TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, recipient_id, category)
);
ALTER TABLE email_opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_opt_outs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON email_opt_outs USING (tenant_id = kinfold_scope());
