-- L4: one row per authenticated API request, under the category of its route. Not hash-chained
-- (the chain holds the security events); retention is per category.
CREATE TABLE api_access_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    category    TEXT NOT NULL CHECK (category IN ('api-data', 'api-other')),
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    ip          TEXT
);
CREATE INDEX api_access_log_tenant ON api_access_log (tenant_id, category, id);
