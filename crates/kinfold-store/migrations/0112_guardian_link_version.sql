-- Issue 14: a guardian link's version, a counter each change of custody or pickup permission
-- moves on by one. A change made from an older version is refused rather than saved over one
-- it never saw (a court restriction set by another administrator, put back by a stale form).
ALTER TABLE child_guardians ADD COLUMN version {int} NOT NULL DEFAULT 1;
