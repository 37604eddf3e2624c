-- L1: a mark of each audit batch written on PostgreSQL, a random ID in the batch's own
-- transaction. When a batch's COMMIT answer is lost (the connection cut by a failover or a
-- network fault), the writer looks for its mark to know whether the batch is in: a mark is
-- there only if the batch committed, on whatever server answers now. A transaction's ID could
-- not say so: a promoted standby, or a server recovered after a crash, may give the same ID to
-- another transaction. Marks older than a day are removed by later batches. (SQLite, whose
-- commit outcome is never unknown, writes none.) Platform data, behind the platform wall.
CREATE TABLE audit_batch_marks (
    id      TEXT PRIMARY KEY,
    at_ms   {int} NOT NULL
);
CREATE INDEX audit_batch_marks_age ON audit_batch_marks (at_ms);

-- @postgres
ALTER TABLE audit_batch_marks ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_batch_marks FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON audit_batch_marks
    USING (kinfold_platform()) WITH CHECK (kinfold_platform());
-- @end
