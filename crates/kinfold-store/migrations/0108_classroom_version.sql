-- Issue 14: a classroom's version, a counter each change of its settings moves on by one. A
-- settings form or API call made from an older version is refused rather than saved over a
-- change it never saw. A counter, not a time: it says nothing about when the room changed.
ALTER TABLE classrooms ADD COLUMN version {int} NOT NULL DEFAULT 1;
