-- Issue 14: staff attendance and live ratios.
--
-- Staff clock in to a classroom and out of it. Like children's attendance this is a list of
-- events; a clock-in row is `is_open` until the clock-out that ends it clears the mark in the
-- same transaction, and the partial unique index lets a person be clocked in once at a time
-- (one room, one day), however many tablets race. A correction by an administrator is a new
-- row with its reason, never an edit.
CREATE TABLE staff_attendance (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    id              TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    classroom_id    TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('clock_in', 'clock_out')),
    day             TEXT NOT NULL,
    at_ms           {int} NOT NULL,
    recorded_by     TEXT NOT NULL,
    reason          TEXT,
    is_open         {bool} NOT NULL DEFAULT {false},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id),
    FOREIGN KEY (tenant_id, classroom_id) REFERENCES classrooms(tenant_id, id)
);
CREATE UNIQUE INDEX staff_attendance_open ON staff_attendance (tenant_id, user_id, day)
    WHERE is_open;
CREATE INDEX staff_attendance_day ON staff_attendance (tenant_id, day, at_ms);

-- A center's own ratio table, one row per age band; a band without a row follows the default
-- (CFOC 1.1.1.2), which lives in the code, not here.
CREATE TABLE ratio_rules (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    band                TEXT NOT NULL
        CHECK (band IN ('infant', 'toddler', 'three', 'four_five', 'school_age')),
    children_per_staff  {int} NOT NULL CHECK (children_per_staff BETWEEN 1 AND 50),
    max_group           {int} NOT NULL CHECK (max_group BETWEEN 1 AND 200),
    PRIMARY KEY (tenant_id, band)
);

-- @postgres
ALTER TABLE staff_attendance ENABLE ROW LEVEL SECURITY;
ALTER TABLE staff_attendance FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON staff_attendance USING (tenant_id = kinfold_scope());
ALTER TABLE ratio_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE ratio_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON ratio_rules USING (tenant_id = kinfold_scope());
-- @end
