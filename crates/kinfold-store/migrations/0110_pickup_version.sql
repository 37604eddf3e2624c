-- Issue 14: an authorized pickup's version, a counter each edit moves on by one. An edit made
-- from an older version is refused rather than saved over a change it never saw (a passphrase
-- replaced, a name corrected).
ALTER TABLE authorized_pickups ADD COLUMN version {int} NOT NULL DEFAULT 1;
