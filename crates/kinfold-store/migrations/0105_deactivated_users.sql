-- Issue 14: an administrator deactivates an account. The row and its history stay; the
-- account cannot sign in, reset its password or enroll, and its sessions end. A session is
-- never created for a deactivated account: the check is made under the user's row lock.
ALTER TABLE users ADD COLUMN deactivated_ms {int};
