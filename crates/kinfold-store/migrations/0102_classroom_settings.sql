-- Issue 14: a classroom's age group and licensed capacity, which the ratio board and the
-- roster read, and archiving: an archived room keeps its history (attendance, audit) but takes
-- no new children, staff or check-ins.
ALTER TABLE classrooms ADD COLUMN age_group TEXT
    CHECK (age_group IN ('infant', 'toddler', 'preschool', 'school_age'));
ALTER TABLE classrooms ADD COLUMN capacity {int} CHECK (capacity > 0);
ALTER TABLE classrooms ADD COLUMN archived_ms {int};
