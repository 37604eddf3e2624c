-- Records: the center's details, classrooms, staff assignments, children (with sealed fields),
-- guardians and their links, authorized pickups, attendance.

ALTER TABLE tenants ADD COLUMN legal_name TEXT;
ALTER TABLE tenants ADD COLUMN postal_address TEXT;
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE tenants ADD COLUMN region TEXT NOT NULL DEFAULT 'default';

CREATE TABLE classrooms (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE staff_assignments (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    classroom_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, classroom_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, classroom_id) REFERENCES classrooms(tenant_id, id) ON DELETE CASCADE
);

-- allergies, medical_notes and emergency_contacts are sealed (AES-256-GCM, AAD bound to
-- tenant, table, column, row and key version); the rest is plain, on an encrypted file.
CREATE TABLE children (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL UNIQUE,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    preferred_name      TEXT,
    date_of_birth       TEXT NOT NULL,
    classroom_id        TEXT,
    status              TEXT NOT NULL CHECK (status IN ('enrolled', 'waitlisted', 'withdrawn', 'archived')),
    enrolled_on         TEXT,
    left_on             TEXT,
    allergies           BLOB,
    medical_notes       BLOB,
    emergency_contacts  BLOB,
    created_ms          INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, classroom_id) REFERENCES classrooms(tenant_id, id)
);
CREATE INDEX children_classroom ON children (tenant_id, classroom_id, id);

CREATE TABLE guardians (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT,
    name        TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX guardians_user ON guardians (tenant_id, user_id);

CREATE TABLE child_guardians (
    tenant_id       TEXT NOT NULL,
    child_id        TEXT NOT NULL,
    guardian_id     TEXT NOT NULL,
    relationship    TEXT NOT NULL,
    custody         TEXT NOT NULL CHECK (custody IN ('full', 'shared', 'court_restricted')),
    may_pick_up     INTEGER NOT NULL,
    primary_contact INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, child_id, guardian_id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, guardian_id) REFERENCES guardians(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX child_guardians_guardian ON child_guardians (tenant_id, guardian_id);

-- The passphrase is verify-only: an argon2id hash.
CREATE TABLE authorized_pickups (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    relation        TEXT NOT NULL,
    passphrase_hash TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE attendance (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    child_id        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    day             TEXT NOT NULL,
    at_ms           INTEGER NOT NULL,
    recorded_by     TEXT NOT NULL,
    person_kind     TEXT NOT NULL CHECK (person_kind IN ('guardian', 'authorized_pickup')),
    person_id       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, child_id) REFERENCES children(tenant_id, id)
);
CREATE INDEX attendance_day ON attendance (tenant_id, day, child_id, at_ms);
