-- Issue 14: the version of a center's details (legal name, postal address, time zone), a
-- counter each change moves on by one. A change is written only over the version it was made
-- from: two administrators saving the settings at once cannot undo each other's change.
ALTER TABLE tenants ADD COLUMN details_version {int} NOT NULL DEFAULT 1;
