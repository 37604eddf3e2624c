-- Issue 13: a child is checked in at most once at a time. Attendance is a list of events, not
-- of stays, so "checked in" (the day's last event is a check-in) cannot be a unique index on
-- its own. The smallest change that lets one be: a check-in row is marked `is_open` until the
-- check-out that ends it, which clears the mark in the same transaction. Two desks checking
-- one child in at once then cannot both write an open check-in: the index refuses the second.
ALTER TABLE attendance ADD COLUMN is_open {bool} NOT NULL DEFAULT {false};

-- The rows written before: a check-in is open when it is its child's last event of the day
-- (in the order the day is read, time then ID), which marks at most one per child and day.
-- @postgres
-- Migrations run as the table's owner, whom forced row-level security would show no tenant's
-- rows; the wall is lifted for this one statement, inside the migration's transaction, so no
-- other session ever sees the table without it.
ALTER TABLE attendance NO FORCE ROW LEVEL SECURITY;
-- @end
UPDATE attendance AS a SET is_open = {true}
WHERE a.kind = 'check_in' AND NOT EXISTS (
    SELECT 1 FROM attendance AS later
    WHERE later.tenant_id = a.tenant_id AND later.child_id = a.child_id AND later.day = a.day
      AND (later.at_ms, later.id) > (a.at_ms, a.id));
-- @postgres
ALTER TABLE attendance FORCE ROW LEVEL SECURITY;
-- @end

CREATE UNIQUE INDEX attendance_open ON attendance (tenant_id, child_id, day) WHERE is_open;
