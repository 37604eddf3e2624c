-- Issue 14: the version of a center's ratio table, a counter each change of the table moves on
-- by one. A change made from an older version is refused rather than saved over one it never
-- saw (a stricter ratio another administrator set, put back by a stale settings page).
ALTER TABLE tenants ADD COLUMN ratios_version {int} NOT NULL DEFAULT 1;
