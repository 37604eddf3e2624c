-- Break-glass grants (A3): time-boxed, justified operator access to one tenant's data.
CREATE TABLE access_grants (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    operator    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
