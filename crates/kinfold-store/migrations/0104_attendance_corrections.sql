-- Issue 14: a wrong check-in or check-out time is corrected by a new entry with a reason, never
-- by an edit. A correction row names the entry it corrects and carries the right time in
-- `at_ms`; it is never open, so the one-open-check-in index is not touched by it.
ALTER TABLE attendance ADD COLUMN corrects TEXT;
ALTER TABLE attendance ADD COLUMN reason TEXT;
