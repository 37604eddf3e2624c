-- Issue 14: what the desk checks before an authorized pickup takes a child, beside the
-- passphrase: which photo ID to ask for ("Driver's licence; photo on file"). Empty when the
-- center has not said. Not an ID number: the console asks for none.
ALTER TABLE authorized_pickups ADD COLUMN photo_id TEXT NOT NULL DEFAULT '';
