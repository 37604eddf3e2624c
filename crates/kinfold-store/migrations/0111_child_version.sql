-- Issue 14: a child record's version, a counter each edit moves on by one. It replaces the
-- edit time (`updated_ms`) as the version editors send back, which told any reader of the
-- record when it, sealed medical fields included, was last changed.
ALTER TABLE children ADD COLUMN version {int} NOT NULL DEFAULT 1;
