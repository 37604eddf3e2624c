-- L4: every authenticated API request, under the category of its route. Requests arrive by the
-- thousand per second, so each group commit stores one segment per tenant: a JSON array of the
-- batch's entries. Not hash-chained (the chain holds the security events); retention removes
-- whole segments by age.
CREATE TABLE api_access_segments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    entries     TEXT NOT NULL
);
CREATE INDEX api_access_segments_tenant ON api_access_segments (tenant_id, id);
