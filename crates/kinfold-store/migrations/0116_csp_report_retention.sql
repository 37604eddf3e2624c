-- W7: CSP reports, which anyone may send, are kept 30 days and at most the newest 10,000; the
-- server prunes the rest every minute (`kinfold_core::csp`). On PostgreSQL the app role may
-- delete only those, and change none: a compromised server cannot erase the reports of the
-- last 30 days among the newest 10,000, the evidence of an attack on the pages. (SQLite has no
-- roles; its pruning keeps the same rule.)
-- @postgres
ALTER TABLE csp_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY csp_read ON csp_reports FOR SELECT USING (true);
CREATE POLICY csp_insert ON csp_reports FOR INSERT WITH CHECK (true);
CREATE POLICY csp_prune ON csp_reports FOR DELETE USING (
    at_ms < (extract(epoch FROM now()) * 1000)::bigint - 30::bigint * 86400000
    OR id <= (SELECT r.id FROM csp_reports r ORDER BY r.id DESC LIMIT 1 OFFSET 10000)
);
-- @end
