-- Issue 14: who dropped off or picked up, as the record named them at that moment (their name
-- and relationship), so the day's history and the sign-in sheet keep saying who it was after
-- the person is renamed or removed from the child's record. Empty on entries written before
-- this migration, which fall back to the person's current name.
ALTER TABLE attendance ADD COLUMN person_name TEXT NOT NULL DEFAULT '';
ALTER TABLE attendance ADD COLUMN person_relation TEXT NOT NULL DEFAULT '';
