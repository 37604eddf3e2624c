-- Issue 14: a center's own session policy (A4), within the operator's. NULL follows the
-- operator's setting; a value may only make sessions stricter (the service holds it to the
-- operator's ceiling), and these checks are the last wall against a value no service allows.
ALTER TABLE tenants ADD COLUMN session_idle_secs {int} CHECK (session_idle_secs IS NULL OR session_idle_secs >= 300);
ALTER TABLE tenants ADD COLUMN max_sessions {int} CHECK (max_sessions IS NULL OR max_sessions >= 1);
